//! The compiled protos must match the LDK Server wire contract exactly.
//!
//! `tests/fixtures/wire-contract.tsv` lists every message, field (name, number, type, label),
//! enum value and RPC of upstream's API. This test decodes the descriptor set that the build
//! compiled from `proto/` and compares both ways, so any drift fails the build.

use std::collections::BTreeSet;

use prost::Message;
use prost_types::field_descriptor_proto::{Label, Type};
use prost_types::{DescriptorProto, FieldDescriptorProto, FileDescriptorSet};

const CONTRACT: &str = include_str!("fixtures/wire-contract.tsv");

/// One row: (file, package, message or enum, field or value, number, type, label).
type Row = (String, String, String, String, String, String, String);

fn contract_rows() -> BTreeSet<Row> {
    let mut rows = BTreeSet::new();
    for line in CONTRACT.lines() {
        if line.starts_with("###") {
            break;
        }
        if line.starts_with('#') || line.starts_with("proto_file\t") || line.is_empty() {
            continue;
        }
        let cols: Vec<&str> = line.split('\t').collect();
        assert_eq!(cols.len(), 7, "malformed contract row: {line}");
        rows.insert((
            cols[0].into(),
            cols[1].into(),
            cols[2].into(),
            cols[3].into(),
            cols[4].into(),
            cols[5].into(),
            cols[6].into(),
        ));
    }
    rows
}

fn contract_rpcs() -> BTreeSet<(String, String, String, String, String)> {
    let services = CONTRACT
        .split("### services")
        .nth(1)
        .expect("services section");
    let services = services.split("### counts").next().expect("services end");
    services
        .lines()
        .filter(|line| !line.is_empty() && !line.starts_with("service\t"))
        .map(|line| {
            let c: Vec<&str> = line.split('\t').collect();
            (
                c[0].into(),
                c[1].into(),
                c[2].into(),
                c[3].into(),
                c[4].into(),
            )
        })
        .collect()
}

fn descriptor_set() -> FileDescriptorSet {
    FileDescriptorSet::decode(ldk_server::proto::FILE_DESCRIPTOR_SET)
        .expect("descriptor set decodes")
}

fn scalar_name(kind: Type) -> &'static str {
    match kind {
        Type::Double => "double",
        Type::Float => "float",
        Type::Int64 => "int64",
        Type::Uint64 => "uint64",
        Type::Int32 => "int32",
        Type::Fixed64 => "fixed64",
        Type::Fixed32 => "fixed32",
        Type::Bool => "bool",
        Type::String => "string",
        Type::Bytes => "bytes",
        Type::Uint32 => "uint32",
        Type::Sfixed32 => "sfixed32",
        Type::Sfixed64 => "sfixed64",
        Type::Sint32 => "sint32",
        Type::Sint64 => "sint64",
        Type::Group | Type::Message | Type::Enum => "",
    }
}

fn type_name(field: &FieldDescriptorProto) -> String {
    match field.r#type() {
        Type::Message | Type::Enum => field.type_name().trim_start_matches('.').to_owned(),
        other => scalar_name(other).to_owned(),
    }
}

fn map_entry<'a>(
    message: &'a DescriptorProto,
    field: &FieldDescriptorProto,
) -> Option<&'a DescriptorProto> {
    let entry_name = field.type_name().rsplit('.').next()?;
    message.nested_type.iter().find(|nested| {
        nested.name() == entry_name && nested.options.as_ref().is_some_and(|o| o.map_entry())
    })
}

fn field_row(
    file: &str,
    package: &str,
    message: &DescriptorProto,
    field: &FieldDescriptorProto,
) -> Row {
    let (kind, label) = if let Some(entry) = map_entry(message, field) {
        let key = type_name(&entry.field[0]);
        let value = type_name(&entry.field[1]);
        (format!("map<{key},{value}>"), "map".to_owned())
    } else {
        let label = if field.proto3_optional() {
            "optional".to_owned()
        } else if let Some(index) = field.oneof_index {
            format!("oneof:{}", message.oneof_decl[index as usize].name())
        } else if field.label() == Label::Repeated {
            "repeated".to_owned()
        } else {
            "plain".to_owned()
        };
        (type_name(field), label)
    };
    (
        file.into(),
        package.into(),
        message.name().into(),
        field.name().into(),
        field.number().to_string(),
        kind,
        label,
    )
}

/// Field numbers from here on are ldk-server extensions inside upstream's messages (upstream
/// never uses them); they are checked against [`EXTENSIONS`], not the contract.
const FIRST_EXTENSION_NUMBER: i32 = 1000;

/// Every extension field: (message, field, number, type, label).
const EXTENSIONS: [(&str, &str, &str, &str, &str); 4] = [
    (
        "SubscribeEventsRequest",
        "after_sequence",
        "1000",
        "uint64",
        "optional",
    ),
    (
        "SubscribeEventsRequest",
        "kinds",
        "1001",
        "string",
        "repeated",
    ),
    ("EventEnvelope", "sequence", "1000", "uint64", "plain"),
    ("EventEnvelope", "recorded_at", "1001", "int64", "plain"),
];

fn is_extension(field: &FieldDescriptorProto) -> bool {
    field.number() >= FIRST_EXTENSION_NUMBER
}

fn compiled_rows() -> BTreeSet<Row> {
    let mut rows = BTreeSet::new();
    for file in descriptor_set().file {
        let (name, package) = (file.name().to_owned(), file.package().to_owned());
        for message in &file.message_type {
            if message.field.iter().all(is_extension) {
                rows.insert((
                    name.clone(),
                    package.clone(),
                    message.name().into(),
                    "(none)".into(),
                    "-".into(),
                    "empty_message".into(),
                    "plain".into(),
                ));
            }
            for field in message.field.iter().filter(|f| !is_extension(f)) {
                rows.insert(field_row(&name, &package, message, field));
            }
        }
        for enumeration in &file.enum_type {
            for value in &enumeration.value {
                rows.insert((
                    name.clone(),
                    package.clone(),
                    enumeration.name().into(),
                    value.name().into(),
                    value.number().to_string(),
                    "enum_value".into(),
                    "plain".into(),
                ));
            }
        }
    }
    rows
}

#[test]
fn every_message_field_and_enum_value_matches_the_contract() {
    let expected = contract_rows();
    let actual = compiled_rows();
    let missing: Vec<_> = expected.difference(&actual).collect();
    let extra: Vec<_> = actual.difference(&expected).collect();
    assert!(
        missing.is_empty() && extra.is_empty(),
        "missing from proto/: {missing:#?}\nnot in the contract: {extra:#?}"
    );
    assert_eq!(
        expected.len(),
        456,
        "the contract has 391 fields, 46 enum values, 19 empty messages"
    );
}

#[test]
fn our_extensions_in_upstream_messages_are_exactly_the_documented_ones() {
    let mut actual = BTreeSet::new();
    for file in descriptor_set().file {
        for message in &file.message_type {
            for field in message.field.iter().filter(|f| is_extension(f)) {
                let row = field_row(file.name(), file.package(), message, field);
                actual.insert((row.2, row.3, row.4, row.5, row.6));
            }
        }
    }
    let expected: BTreeSet<_> = EXTENSIONS
        .iter()
        .map(|(m, f, n, t, l)| {
            (
                m.to_string(),
                f.to_string(),
                n.to_string(),
                t.to_string(),
                l.to_string(),
            )
        })
        .collect();
    assert_eq!(actual, expected);
    let contract_numbers: Vec<i64> = contract_rows()
        .iter()
        .filter_map(|row| row.4.parse().ok())
        .collect();
    assert!(
        contract_numbers
            .iter()
            .all(|n| *n < i64::from(FIRST_EXTENSION_NUMBER)),
        "upstream uses a number in our extension range: the rule must change"
    );
}

#[test]
fn message_and_enum_counts_match_the_contract() {
    let set = descriptor_set();
    let messages: usize = set.file.iter().map(|f| f.message_type.len()).sum();
    let enums: usize = set.file.iter().map(|f| f.enum_type.len()).sum();
    let oneofs: usize = set
        .file
        .iter()
        .flat_map(|f| &f.message_type)
        .map(|m| {
            m.oneof_decl
                .iter()
                .filter(|o| !o.name().starts_with('_'))
                .count()
        })
        .sum();
    assert_eq!((messages, enums, oneofs), (138, 9, 15));
}

#[test]
fn every_rpc_matches_the_contract() {
    let mut actual = BTreeSet::new();
    for file in descriptor_set().file {
        for service in &file.service {
            for method in &service.method {
                let streaming = match (method.client_streaming(), method.server_streaming()) {
                    (false, false) => "unary",
                    (false, true) => "server-streaming",
                    (true, false) => "client-streaming",
                    (true, true) => "bidi-streaming",
                };
                actual.insert((
                    format!("{}.{}", file.package(), service.name()),
                    method.name().to_owned(),
                    method.input_type().trim_start_matches('.').to_owned(),
                    method.output_type().trim_start_matches('.').to_owned(),
                    streaming.to_owned(),
                ));
            }
        }
    }
    let expected = contract_rpcs();
    assert_eq!(expected.len(), 39);
    assert_eq!(actual, expected);
}
