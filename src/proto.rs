//! Generated code for the LDK Server wire contract (`proto/*.proto`).
//!
//! The four packages keep upstream's names (`api`, `types`, `events`, `error`) so that the
//! generated paths read the same as in any other client of the API.

#![allow(missing_docs, clippy::all, clippy::pedantic)]

/// Requests, responses and the `LightningNode` service (package `api`).
pub mod api {
    tonic::include_proto!("api");
}

/// Shared value types: payments, channels, balances, graph entries (package `types`).
pub mod types {
    tonic::include_proto!("types");
}

/// Event envelopes streamed by `SubscribeEvents` (package `events`).
pub mod events {
    tonic::include_proto!("events");
}

/// Legacy error enumeration; not used on the wire, kept for completeness (package `error`).
pub mod error {
    tonic::include_proto!("error");
}

/// Our key management service (package `ldk_server.admin`, `proto/admin.proto`); not part of
/// upstream's contract.
pub mod admin {
    tonic::include_proto!("ldk_server.admin");
}

/// Our event log service (package `ldk_server.events`, `proto/event_log.proto`); not part of
/// upstream's contract.
pub mod event_log {
    tonic::include_proto!("ldk_server.events");
}

/// The serialized `FileDescriptorSet` of `proto/event_log.proto` (with the files it imports).
pub const EVENT_LOG_FILE_DESCRIPTOR_SET: &[u8] = include_bytes!(concat!(
    env!("OUT_DIR"),
    "/ldk_server_event_log_descriptor.bin"
));

/// The serialized `FileDescriptorSet` of `proto/admin.proto`.
pub const ADMIN_FILE_DESCRIPTOR_SET: &[u8] =
    include_bytes!(concat!(env!("OUT_DIR"), "/ldk_server_admin_descriptor.bin"));

/// The serialized `FileDescriptorSet` of all four proto files, as compiled by the build.
pub const FILE_DESCRIPTOR_SET: &[u8] =
    include_bytes!(concat!(env!("OUT_DIR"), "/ldk_server_descriptor.bin"));

/// Serializers the generated types use for JSON (see `build.rs`).
pub mod json {
    use serde::de::Error as _;
    use serde::{Deserialize, Deserializer, Serializer};

    /// A proto enum whose values have names.
    pub trait NamedEnum: TryFrom<i32> {
        /// The value's name as written in the proto file.
        fn proto_name(&self) -> &'static str;

        /// The number of the value named `name`, if there is one.
        fn number_of(name: &str) -> Option<i32>;
    }

    macro_rules! named_enums {
        ($($enum:path),* $(,)?) => {
            $(impl NamedEnum for $enum {
                fn proto_name(&self) -> &'static str {
                    self.as_str_name()
                }

                fn number_of(name: &str) -> Option<i32> {
                    <$enum>::from_str_name(name).map(|value| value as i32)
                }
            })*
        };
    }

    named_enums!(
        super::types::PaymentDirection,
        super::types::PaymentStatus,
        super::types::Network,
        super::types::BalanceSource,
        super::types::ChannelDirection,
        super::events::ChannelState,
        super::events::ChannelClosureInitiator,
        super::events::ChannelStateChangeReasonKind,
        super::error::ErrorCode,
    );

    /// Writes an enum field as its name; an unknown value stays a number.
    pub fn enum_name<E: NamedEnum, S: Serializer>(
        value: &i32,
        serializer: S,
    ) -> Result<S::Ok, S::Error> {
        match E::try_from(*value) {
            Ok(known) => serializer.serialize_str(known.proto_name()),
            Err(_) => serializer.serialize_i32(*value),
        }
    }

    /// Writes bytes as lowercase hex.
    pub fn hex<S: Serializer>(bytes: &[u8], serializer: S) -> Result<S::Ok, S::Error> {
        serializer.serialize_str(&::hex::encode(bytes))
    }

    /// Writes optional bytes as lowercase hex, or null.
    pub fn optional_hex<S: Serializer>(
        bytes: &Option<Vec<u8>>,
        serializer: S,
    ) -> Result<S::Ok, S::Error> {
        match bytes {
            Some(bytes) => hex(bytes, serializer),
            None => serializer.serialize_none(),
        }
    }

    /// An enum field as written by [`enum_name`]: a JSON string naming a value, or the
    /// number of a known value.
    pub fn enum_from_name<'de, E: NamedEnum, D: Deserializer<'de>>(
        deserializer: D,
    ) -> Result<i32, D::Error> {
        #[derive(Deserialize)]
        #[serde(untagged)]
        enum NameOrNumber {
            Name(String),
            Number(i32),
        }
        match NameOrNumber::deserialize(deserializer)
            .map_err(|_| D::Error::custom("expected an enum value's name (a string) or number"))?
        {
            NameOrNumber::Name(name) => E::number_of(&name)
                .ok_or_else(|| D::Error::custom(format!("unknown enum value {name:?}"))),
            NameOrNumber::Number(number) if E::try_from(number).is_ok() => Ok(number),
            NameOrNumber::Number(number) => {
                Err(D::Error::custom(format!("unknown enum value {number}")))
            }
        }
    }

    /// Bytes written as hex by [`hex`].
    pub fn from_hex<'de, D: Deserializer<'de>>(deserializer: D) -> Result<Vec<u8>, D::Error> {
        let text = String::deserialize(deserializer)?;
        ::hex::decode(&text).map_err(|e| D::Error::custom(format!("expected hex: {e}")))
    }

    /// Optional bytes written by [`optional_hex`]: hex, or null.
    pub fn optional_from_hex<'de, D: Deserializer<'de>>(
        deserializer: D,
    ) -> Result<Option<Vec<u8>>, D::Error> {
        match Option::<String>::deserialize(deserializer)? {
            Some(text) => ::hex::decode(&text)
                .map(Some)
                .map_err(|e| D::Error::custom(format!("expected hex: {e}"))),
            None => Ok(None),
        }
    }
}
