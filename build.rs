//! Compiles `proto/*.proto` with protox (pure Rust, no `protoc`) and generates the prost
//! messages plus the tonic client and server for `api.LightningNode`.

use std::path::PathBuf;

const PROTO_FILES: [&str; 4] = ["api.proto", "types.proto", "events.proto", "error.proto"];

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let out_dir = PathBuf::from(std::env::var("OUT_DIR")?);
    for file in PROTO_FILES {
        println!("cargo:rerun-if-changed=proto/{file}");
    }
    let descriptor_set = protox::compile(PROTO_FILES, ["proto"])?;
    std::fs::write(
        out_dir.join("ldk_server_descriptor.bin"),
        prost::Message::encode_to_vec(&descriptor_set),
    )?;
    tonic_prost_build::configure()
        .build_client(true)
        .build_server(true)
        .codec_path("crate::codec::ApiCodec")
        .compile_fds(descriptor_set)?;
    Ok(())
}
