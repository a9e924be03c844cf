//! Compiles `proto/*.proto` with protox (pure Rust, no `protoc`) and generates the prost
//! messages plus the tonic client and server for `api.LightningNode`.
//!
//! Every generated type also derives `serde::Serialize` for the CLI's JSON output: enum fields
//! are written as their names, bytes as lowercase hex, a oneof as an object naming the member
//! that is set (by its proto name), and maps (feature bits) in key order. They derive
//! `serde::Deserialize` for the same shape (`ldk-server-mcp` reads tool arguments with it):
//! a missing field takes its default, an unknown one is refused, an enum is read by name or
//! number.

use std::path::PathBuf;

use prost_types::field_descriptor_proto::{Label, Type};
use prost_types::FileDescriptorSet;

const PROTO_FILES: [&str; 4] = ["api.proto", "types.proto", "events.proto", "error.proto"];
/// Our own key management service, compiled into a descriptor set of its own so that the
/// upstream contract's set stays exactly upstream's.
const ADMIN_PROTO_FILES: [&str; 1] = ["admin.proto"];
/// Our event log service; it reuses upstream's `events` and `types` messages, which are
/// generated once, with the upstream set.
const EVENT_LOG_PROTO_FILES: [&str; 1] = ["event_log.proto"];
/// Packages generated with the upstream set, referred to (not generated again) by ours.
const UPSTREAM_PACKAGES: [(&str, &str); 2] = [
    (".events", "crate::proto::events"),
    (".types", "crate::proto::types"),
];

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let out_dir = PathBuf::from(std::env::var("OUT_DIR")?);
    for (files, descriptor) in [
        (&PROTO_FILES[..], "ldk_server_descriptor.bin"),
        (&ADMIN_PROTO_FILES[..], "ldk_server_admin_descriptor.bin"),
        (
            &EVENT_LOG_PROTO_FILES[..],
            "ldk_server_event_log_descriptor.bin",
        ),
    ] {
        for file in files {
            println!("cargo:rerun-if-changed=proto/{file}");
        }
        let descriptor_set = protox::compile(files, ["proto"])?;
        std::fs::write(
            out_dir.join(descriptor),
            prost::Message::encode_to_vec(&descriptor_set),
        )?;
        let upstream = files == &PROTO_FILES[..];
        generate(descriptor_set, upstream)?;
    }
    Ok(())
}

/// Generates the messages, client and server of one descriptor set; a set of ours refers to
/// upstream's packages instead of generating them again.
fn generate(
    mut descriptor_set: FileDescriptorSet,
    upstream: bool,
) -> Result<(), Box<dyn std::error::Error>> {
    let mut builder = tonic_prost_build::configure()
        .build_client(true)
        .build_server(true)
        .codec_path("crate::codec::ApiCodec")
        .btree_map(".")
        .type_attribute(".", "#[derive(serde::Serialize, serde::Deserialize)]")
        // A oneof member is named as in the proto (`payment_received`), not as its Rust
        // variant (`PaymentReceived`); on structs the rule leaves the field names as they are.
        .type_attribute(".", "#[serde(rename_all = \"snake_case\")]")
        .message_attribute(".", "#[serde(default, deny_unknown_fields)]");
    if !upstream {
        for (proto_path, rust_path) in UPSTREAM_PACKAGES {
            builder = builder.extern_path(proto_path, rust_path);
        }
        let upstream_packages: Vec<&str> = UPSTREAM_PACKAGES
            .iter()
            .map(|(path, _)| path.trim_start_matches('.'))
            .collect();
        descriptor_set
            .file
            .retain(|file| !upstream_packages.contains(&file.package()));
    }
    for (path, attribute) in serde_field_attributes(&descriptor_set) {
        builder = builder.field_attribute(path, attribute);
    }
    builder.compile_fds(descriptor_set)?;
    Ok(())
}

/// `(field path, attribute)` pairs that shape the JSON of enum and bytes fields, both ways.
fn serde_field_attributes(set: &FileDescriptorSet) -> Vec<(String, String)> {
    let mut attributes = Vec::new();
    for file in &set.file {
        let package = file.package();
        for message in &file.message_type {
            let message_path = format!(".{package}.{}", message.name());
            for field in &message.field {
                let path = format!("{message_path}.{}", field.name());
                let optional = field.proto3_optional();
                let repeated = field.label() == Label::Repeated;
                let functions = match field.r#type() {
                    Type::Enum => {
                        let enum_path =
                            field.type_name().trim_start_matches('.').replace('.', "::");
                        let enum_path = format!("crate::proto::{enum_path}");
                        Some((
                            format!("crate::proto::json::enum_name::<{enum_path}, _>"),
                            format!("crate::proto::json::enum_from_name::<{enum_path}, _>"),
                        ))
                    }
                    Type::Bytes if optional => Some((
                        "crate::proto::json::optional_hex".to_owned(),
                        "crate::proto::json::optional_from_hex".to_owned(),
                    )),
                    Type::Bytes if !repeated => Some((
                        "crate::proto::json::hex".to_owned(),
                        "crate::proto::json::from_hex".to_owned(),
                    )),
                    _ => None,
                };
                if let Some((serializer, deserializer)) = functions {
                    attributes.push((
                        path,
                        format!(
                            "#[serde(serialize_with = \"{serializer}\", deserialize_with = \"{deserializer}\")]"
                        ),
                    ));
                }
            }
        }
    }
    attributes
}
