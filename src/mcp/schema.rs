//! JSON Schemas of the tools' arguments and results, derived from the API's own descriptors,
//! so that they can never drift from the messages they describe.
//!
//! Arguments are a request message's fields in the JSON the generated types read (see
//! `build.rs`), with two conveniences of upstream's MCP server: an amount that may be
//! "everything" (a oneof with `all_funds`) is one field taking an integer or `"all"`, and a
//! bytes field (a message to sign) is text. Results are the response message as the
//! generated types write it: enums by name, bytes as hex, unset optional fields as null.

use std::collections::HashMap;
use std::sync::OnceLock;

use prost::Message;
use prost_types::field_descriptor_proto::{Label, Type};
use prost_types::{DescriptorProto, EnumDescriptorProto, FieldDescriptorProto, FileDescriptorSet};
use serde_json::{json, Map, Value};

use crate::proto::FILE_DESCRIPTOR_SET;

/// The message type a oneof member has when the oneof means "everything".
pub const ALL_FUNDS_TYPE: &str = ".api.AllFunds";
/// Nested messages deeper than this are described as plain objects.
const MAX_DEPTH: usize = 8;

/// The API's messages and enums by full name (without the leading dot).
pub struct Descriptors {
    messages: HashMap<String, DescriptorProto>,
    enums: HashMap<String, EnumDescriptorProto>,
}

/// The descriptors of the API, decoded once.
pub fn descriptors() -> &'static Descriptors {
    static DESCRIPTORS: OnceLock<Descriptors> = OnceLock::new();
    DESCRIPTORS.get_or_init(|| {
        let set = FileDescriptorSet::decode(FILE_DESCRIPTOR_SET)
            .expect("the build's own descriptor set decodes");
        Descriptors::new(&set)
    })
}

impl Descriptors {
    fn new(set: &FileDescriptorSet) -> Self {
        let mut index = Self {
            messages: HashMap::new(),
            enums: HashMap::new(),
        };
        for file in &set.file {
            for message in &file.message_type {
                index.add_message(file.package(), message);
            }
            for enumeration in &file.enum_type {
                index.enums.insert(
                    format!("{}.{}", file.package(), enumeration.name()),
                    enumeration.clone(),
                );
            }
        }
        index
    }

    fn add_message(&mut self, scope: &str, message: &DescriptorProto) {
        let name = format!("{scope}.{}", message.name());
        for nested in &message.nested_type {
            self.add_message(&name, nested);
        }
        for enumeration in &message.enum_type {
            self.enums.insert(
                format!("{name}.{}", enumeration.name()),
                enumeration.clone(),
            );
        }
        self.messages.insert(name, message.clone());
    }

    /// The message `full_name` (`api.OnchainSendRequest` or `.api.OnchainSendRequest`).
    pub fn message(&self, full_name: &str) -> Option<&DescriptorProto> {
        self.messages.get(full_name.trim_start_matches('.'))
    }

    fn enum_names(&self, full_name: &str) -> Vec<String> {
        self.enums
            .get(full_name.trim_start_matches('.'))
            .map(|e| e.value.iter().map(|v| v.name().to_owned()).collect())
            .unwrap_or_default()
    }

    /// Whether `field` is a map (its type is a synthesized `…Entry` message).
    fn map_entry(&self, field: &FieldDescriptorProto) -> Option<&DescriptorProto> {
        if field.label() != Label::Repeated || field.r#type() != Type::Message {
            return None;
        }
        self.message(field.type_name())
            .filter(|entry| entry.options.as_ref().is_some_and(|o| o.map_entry()))
    }
}

/// A oneof of `message` that holds `all_funds`: its name and the field that carries an amount.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AmountOrAll {
    /// The oneof's name (`amount`).
    pub oneof: String,
    /// The amount member (`amount_sats`).
    pub amount_field: String,
}

/// The "integer or all" oneofs of `message`.
pub fn amount_or_all(message: &DescriptorProto) -> Vec<AmountOrAll> {
    let mut found = Vec::new();
    for (index, oneof) in message.oneof_decl.iter().enumerate() {
        let members: Vec<&FieldDescriptorProto> = real_oneof_members(message, index).collect();
        let has_all = members.iter().any(|f| f.type_name() == ALL_FUNDS_TYPE);
        let amounts: Vec<&&FieldDescriptorProto> = members
            .iter()
            .filter(|f| f.r#type() == Type::Uint64)
            .collect();
        if has_all && amounts.len() == 1 {
            found.push(AmountOrAll {
                oneof: oneof.name().to_owned(),
                amount_field: amounts[0].name().to_owned(),
            });
        }
    }
    found
}

/// The members of the oneof at `index` (not proto3 `optional`'s synthetic oneofs).
fn real_oneof_members(
    message: &DescriptorProto,
    index: usize,
) -> impl Iterator<Item = &FieldDescriptorProto> {
    message.field.iter().filter(move |field| {
        !field.proto3_optional() && field.oneof_index.is_some_and(|i| i as usize == index)
    })
}

/// Whether `field` belongs to a real oneof.
fn in_real_oneof(field: &FieldDescriptorProto) -> bool {
    field.oneof_index.is_some() && !field.proto3_optional()
}

/// Which side of the call a schema describes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Side {
    /// Tool arguments.
    Input,
    /// Tool results.
    Output,
}

/// The schema of a tool's arguments: the fields of the request message `full_name`.
pub fn input_schema(full_name: &str) -> Value {
    let index = descriptors();
    let message = index
        .message(full_name)
        .unwrap_or_else(|| panic!("{full_name} is in the API's descriptors"));
    let mut schema = object_schema(index, message, Side::Input, 0);
    let properties = schema["properties"]
        .as_object_mut()
        .expect("an object schema");
    for amount in amount_or_all(message) {
        properties.remove(&amount.oneof);
        properties.insert(
            amount.amount_field.clone(),
            json!({
                "description": format!(
                    "{} as an integer, or \"all\" for everything available",
                    describe(&amount.amount_field).unwrap_or("The amount")
                ),
                "oneOf": [
                    {"type": "integer", "minimum": 0, "maximum": u64::MAX},
                    {"const": "all"},
                ],
            }),
        );
    }
    schema
}

/// The schema of a tool's result: the response message `full_name` as JSON.
pub fn output_schema(full_name: &str) -> Value {
    let index = descriptors();
    let message = index
        .message(full_name)
        .unwrap_or_else(|| panic!("{full_name} is in the API's descriptors"));
    object_schema(index, message, Side::Output, 0)
}

fn object_schema(
    index: &Descriptors,
    message: &DescriptorProto,
    side: Side,
    depth: usize,
) -> Value {
    let mut properties = Map::new();
    for field in message.field.iter().filter(|f| !in_real_oneof(f)) {
        properties.insert(
            field.name().to_owned(),
            field_schema(index, field, side, depth),
        );
    }
    for (oneof_index, oneof) in message.oneof_decl.iter().enumerate() {
        let members: Vec<&FieldDescriptorProto> =
            real_oneof_members(message, oneof_index).collect();
        if members.is_empty() {
            continue;
        }
        let variants: Vec<Value> = members
            .iter()
            .map(|member| {
                json!({
                    "type": "object",
                    "properties": {member.name(): single_schema(index, member, side, depth)},
                    "required": [member.name()],
                    "additionalProperties": false,
                })
            })
            .collect();
        let names: Vec<&str> = members.iter().map(|m| m.name()).collect();
        let description = format!("Exactly one of: {}", names.join(", "));
        let schema = json!({"type": "object", "description": description, "oneOf": variants});
        properties.insert(oneof.name().to_owned(), nullable(schema, side));
    }
    json!({
        "type": "object",
        "properties": properties,
        "additionalProperties": false,
    })
}

fn field_schema(
    index: &Descriptors,
    field: &FieldDescriptorProto,
    side: Side,
    depth: usize,
) -> Value {
    if let Some(entry) = index.map_entry(field) {
        let value = entry
            .field
            .iter()
            .find(|f| f.number() == 2)
            .map(|value| single_schema(index, value, side, depth))
            .unwrap_or_else(|| json!({}));
        return with_description(
            json!({"type": "object", "additionalProperties": value}),
            field,
        );
    }
    if field.label() == Label::Repeated {
        let items = single_schema(index, field, side, depth);
        return with_description(json!({"type": "array", "items": items}), field);
    }
    let schema = single_schema(index, field, side, depth);
    let optional = field.proto3_optional() || field.r#type() == Type::Message;
    if optional {
        nullable(schema, side)
    } else {
        schema
    }
}

/// The schema of one value of `field` (an element, for a repeated field).
fn single_schema(
    index: &Descriptors,
    field: &FieldDescriptorProto,
    side: Side,
    depth: usize,
) -> Value {
    let schema = match field.r#type() {
        Type::String => json!({"type": "string"}),
        Type::Bool => json!({"type": "boolean"}),
        Type::Double | Type::Float => json!({"type": "number"}),
        Type::Int32 | Type::Sint32 | Type::Sfixed32 => {
            json!({"type": "integer", "minimum": i32::MIN, "maximum": i32::MAX})
        }
        Type::Uint32 | Type::Fixed32 => {
            json!({"type": "integer", "minimum": 0, "maximum": u32::MAX})
        }
        Type::Int64 | Type::Sint64 | Type::Sfixed64 => {
            json!({"type": "integer", "minimum": i64::MIN, "maximum": i64::MAX})
        }
        Type::Uint64 | Type::Fixed64 => {
            json!({"type": "integer", "minimum": 0, "maximum": u64::MAX})
        }
        Type::Bytes => match side {
            Side::Input => {
                json!({"type": "string", "description": "Text (sent as its UTF-8 bytes)"})
            }
            Side::Output => {
                json!({"type": "string", "description": "Hex", "pattern": "^([0-9a-f]{2})*$"})
            }
        },
        Type::Enum => {
            let names = index.enum_names(field.type_name());
            match side {
                Side::Input => json!({"type": "string", "enum": names}),
                // An unknown value (a newer server) is written as its number.
                Side::Output => {
                    json!({"anyOf": [{"type": "string", "enum": names}, {"type": "integer"}]})
                }
            }
        }
        Type::Message | Type::Group => match index.message(field.type_name()) {
            Some(message) if depth < MAX_DEPTH => object_schema(index, message, side, depth + 1),
            _ => json!({"type": "object"}),
        },
    };
    with_description(schema, field)
}

/// `schema` or null: results write unset optional fields as null; arguments omit them.
fn nullable(schema: Value, side: Side) -> Value {
    match side {
        Side::Input => schema,
        Side::Output => json!({"anyOf": [schema, {"type": "null"}]}),
    }
}

fn with_description(mut schema: Value, field: &FieldDescriptorProto) -> Value {
    if let (Some(text), Some(object)) = (describe(field.name()), schema.as_object_mut()) {
        object.entry("description").or_insert_with(|| text.into());
    }
    schema
}

/// What a field's name says about its unit or format, for the schemas' descriptions.
fn describe(name: &str) -> Option<&'static str> {
    let text = match name {
        "node_id" | "node_pubkey" | "counterparty_node_id" | "public_key" | "destination" => {
            "A node id: 33-byte compressed public key, hex"
        }
        "user_channel_id" => "The channel's id as this node numbers it (decimal string)",
        "channel_id" => "The channel id, hex",
        "payment_hash" | "hash" => "Payment hash, 32 bytes hex",
        "preimage" => "Payment preimage, 32 bytes hex",
        "payment_id" => "Payment id, hex (the payment hash for BOLT 11)",
        "address" => "An address: on-chain, or host:port for a peer",
        "invoice" => "A BOLT 11 invoice (lnbc…)",
        "offer" => "A BOLT 12 offer (lno…)",
        "expiry_secs" => "Seconds the invoice stays payable",
        "page_token" | "next_page_token" => {
            "Where a page starts: the previous page's next_page_token"
        }
        _ if name.ends_with("_msat") => "Millisatoshis",
        _ if name.ends_with("_sats") || name.ends_with("_satoshis") => "Satoshis",
        _ if name.ends_with("_secs") => "Seconds",
        _ if name.ends_with("timestamp") || name.ends_with("_at") => "Unix seconds",
        _ => return None,
    };
    Some(text)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_amount_that_may_be_all_is_one_field() {
        let schema = input_schema("api.OnchainSendRequest");
        let properties = schema["properties"].as_object().unwrap();
        assert!(properties.contains_key("amount_sats"), "{schema:#}");
        assert!(!properties.contains_key("amount"));
        assert!(!properties.contains_key("all_funds"));
        assert_eq!(properties["amount_sats"]["oneOf"][1]["const"], "all");
        assert_eq!(schema["additionalProperties"], false);
    }

    #[test]
    fn oneofs_enums_and_maps_follow_the_serializer() {
        let schema = input_schema("api.Bolt11ReceiveRequest");
        let kinds = &schema["properties"]["description"]["properties"]["kind"]["oneOf"];
        assert_eq!(kinds.as_array().unwrap().len(), 2, "{schema:#}");
        let output = output_schema("api.DecodeInvoiceResponse");
        assert_eq!(
            output["properties"]["features"]["type"], "object",
            "{output:#}"
        );
        let payments = output_schema("api.ListPaymentsResponse");
        let status = &payments["properties"]["payments"]["items"]["properties"]["status"];
        assert!(
            status["anyOf"][0]["enum"]
                .as_array()
                .unwrap()
                .contains(&json!("SUCCEEDED")),
            "{status:#}"
        );
    }
}
