//! Event kinds: the names a subscriber, a `ListEvents` caller or a webhook filters on.
//!
//! A kind is an envelope's event name (`payment_received`, …, `channel_state_changed`) or a
//! group of them: `payments` (received, successful, failed, claimable), `forwards`
//! (`payment_forwarded`) and `channels` (`channel_state_changed`). An empty filter takes all.

use std::collections::BTreeSet;

pub use crate::convert::events::EVENT_NAMES;

/// The groups and the event names each stands for.
const GROUPS: [(&str, &[&str]); 3] = [
    (
        "payments",
        &[
            "payment_received",
            "payment_successful",
            "payment_failed",
            "payment_claimable",
        ],
    ),
    ("forwards", &["payment_forwarded"]),
    ("channels", &["channel_state_changed"]),
];

/// A set of event names to keep; empty keeps every event.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct KindFilter {
    names: BTreeSet<&'static str>,
}

impl KindFilter {
    /// Parses kinds as given by a client or the configuration (case-insensitive, surrounding
    /// spaces ignored). The error names the first unknown kind and lists the known ones.
    pub fn parse<S: AsRef<str>>(kinds: &[S]) -> Result<Self, String> {
        let mut names = BTreeSet::new();
        for kind in kinds {
            let wanted = kind.as_ref().trim().to_ascii_lowercase();
            if let Some((_, members)) = GROUPS.iter().find(|(group, _)| *group == wanted) {
                names.extend(members.iter().copied());
            } else if let Some(name) = EVENT_NAMES.iter().find(|name| **name == wanted) {
                names.insert(*name);
            } else {
                return Err(format!(
                    "unknown event kind {:?}: expected a group ({}) or an event name ({})",
                    truncated(kind.as_ref()),
                    GROUPS.map(|(group, _)| group).join(", "),
                    EVENT_NAMES.join(", ")
                ));
            }
        }
        Ok(Self { names })
    }

    /// Whether an event named `name` passes.
    pub fn allows(&self, name: &str) -> bool {
        self.names.is_empty() || self.names.contains(name)
    }

    /// Whether every event passes.
    pub fn is_all(&self) -> bool {
        self.names.is_empty()
    }
}

/// At most 64 characters of a client's text, for an error message.
fn truncated(text: &str) -> String {
    text.chars().take(64).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn groups_and_names_combine_and_an_empty_filter_takes_all() {
        let all = KindFilter::parse::<&str>(&[]).unwrap();
        assert!(all.is_all() && EVENT_NAMES.iter().all(|name| all.allows(name)));
        let filter = KindFilter::parse(&["Payments ", "channel_state_changed"]).unwrap();
        assert!(filter.allows("payment_received") && filter.allows("payment_claimable"));
        assert!(filter.allows("channel_state_changed"));
        assert!(!filter.allows("payment_forwarded"));
        let forwards = KindFilter::parse(&["forwards"]).unwrap();
        assert!(forwards.allows("payment_forwarded") && !forwards.allows("payment_received"));
    }

    #[test]
    fn every_name_is_in_exactly_one_group() {
        for name in EVENT_NAMES {
            let groups = GROUPS
                .iter()
                .filter(|(_, members)| members.contains(&name))
                .count();
            assert_eq!(groups, 1, "{name}");
        }
    }

    #[test]
    fn an_unknown_kind_is_named_and_cut_short() {
        let error = KindFilter::parse(&["payments", "refunds"]).unwrap_err();
        assert!(error.contains("\"refunds\"") && error.contains("payments, forwards, channels"));
        let long = "x".repeat(10_000);
        let error = KindFilter::parse(&[long.as_str()]).unwrap_err();
        assert!(error.len() < 400, "{error}");
    }
}
