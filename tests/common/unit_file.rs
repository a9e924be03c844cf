//! Just enough of the unit file syntax to read the settings tests check or follow: sections,
//! `Key=value` (repeatable), comments and backslash continuations. Shared by
//! tests/systemd_units.rs and tests/systemd_nspawn.rs.

#![allow(dead_code)]

use std::path::Path;

/// A parsed unit file.
pub struct UnitFile {
    pub name: String,
    pub text: String,
    entries: Vec<(String, String, String)>,
}

impl UnitFile {
    /// Reads and parses `path`.
    pub fn read(path: &Path) -> Self {
        let text = std::fs::read_to_string(path)
            .unwrap_or_else(|e| panic!("cannot read {}: {e}", path.display()));
        let name = path
            .file_name()
            .and_then(|n| n.to_str())
            .expect("unit name")
            .to_owned();
        Self::parse(name, text)
    }

    /// Parses unit file text.
    pub fn parse(name: String, text: String) -> Self {
        let mut entries = Vec::new();
        let mut section = String::new();
        let mut pending = String::new();
        for raw in text.lines() {
            let line = raw.trim();
            if pending.is_empty() && (line.starts_with('#') || line.starts_with(';')) {
                continue;
            }
            if let Some(continued) = line.strip_suffix('\\') {
                pending.push_str(continued);
                pending.push(' ');
                continue;
            }
            let full = std::mem::take(&mut pending) + line;
            if let Some(name) = full.strip_prefix('[').and_then(|s| s.strip_suffix(']')) {
                section = name.to_owned();
            } else if let Some((key, value)) = full.split_once('=') {
                entries.push((
                    section.clone(),
                    key.trim().to_owned(),
                    value.trim().to_owned(),
                ));
            }
        }
        Self {
            name,
            text,
            entries,
        }
    }

    /// Every assignment of `key` in `section` as written, empty ones included.
    pub fn assignments(&self, section: &str, key: &str) -> Vec<&str> {
        self.entries
            .iter()
            .filter(|(s, k, _)| s == section && k == key)
            .map(|(_, _, v)| v.as_str())
            .collect()
    }

    /// The value of a single-valued `key`, or a panic naming the unit and the key.
    pub fn expect(&self, section: &str, key: &str) -> String {
        self.value(section, key)
            .unwrap_or_else(|| panic!("{}: [{section}] {key}= is not set", self.name))
    }

    /// Every value of `key` in `section`, in order; an empty assignment resets the list.
    pub fn values(&self, section: &str, key: &str) -> Vec<String> {
        let mut values = Vec::new();
        for (s, k, v) in &self.entries {
            if s == section && k == key {
                if v.is_empty() {
                    values.clear();
                } else {
                    values.push(v.clone());
                }
            }
        }
        values
    }

    /// The last value of `key` in `section`.
    pub fn value(&self, section: &str, key: &str) -> Option<String> {
        self.values(section, key).pop()
    }

    /// Space-separated words of every value of `key` in `section`.
    pub fn words(&self, section: &str, key: &str) -> Vec<String> {
        self.values(section, key)
            .iter()
            .flat_map(|v| v.split_whitespace().map(str::to_owned).collect::<Vec<_>>())
            .collect()
    }
}

/// `ExecStart=` split into words, without the `@-:+!` prefixes of the first.
pub fn exec_start(service: &UnitFile) -> Vec<String> {
    let line = service
        .value("Service", "ExecStart")
        .unwrap_or_else(|| panic!("{} has no ExecStart=", service.name));
    let line = line.trim_start_matches(['@', '-', ':', '+', '!']);
    line.split_whitespace().map(str::to_owned).collect()
}

/// `LoadCredential=` sources by credential name.
pub fn credential_source(service: &UnitFile, name: &str) -> Option<String> {
    service
        .values("Service", "LoadCredential")
        .iter()
        .find_map(|v| {
            let (id, source) = v.split_once(':')?;
            (id == name).then(|| source.to_owned())
        })
}

/// The address a client inside the container connects to for a `ListenStream=` value
/// (`3536`, `127.0.0.1:3536`, `[::1]:3536`, `0.0.0.0:3536`).
pub fn connect_address(listen: &str) -> (String, u16) {
    let (host, port) = match listen.rsplit_once(':') {
        Some((host, port)) => (host.trim_matches(['[', ']']), port),
        None => ("", listen),
    };
    let port: u16 = port
        .parse()
        .unwrap_or_else(|_| panic!("ListenStream={listen}: not a TCP port"));
    let host = match host {
        "" | "0.0.0.0" | "::" => "127.0.0.1",
        other => other,
    };
    (host.to_owned(), port)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_repeated_keys_continuations_and_resets() {
        let unit = UnitFile::parse(
            "x.service".into(),
            "[Service]\n# ExecStart=/nope\nExecStart=-/usr/bin/ldk-server \\\n  --config /etc/x.toml\n\
             SystemCallFilter=@system-service\nSystemCallFilter=~@privileged\n\
             ReadWritePaths=/a\nReadWritePaths=\nReadWritePaths=/b\n\
             LoadCredential=bitcoind-rpc-password:/etc/c/p\n[Install]\nWantedBy=sockets.target\n"
                .into(),
        );
        assert_eq!(
            exec_start(&unit),
            ["/usr/bin/ldk-server", "--config", "/etc/x.toml"]
        );
        assert_eq!(unit.values("Service", "SystemCallFilter").len(), 2);
        assert_eq!(unit.values("Service", "ReadWritePaths"), ["/b"]);
        assert_eq!(
            credential_source(&unit, "bitcoind-rpc-password").as_deref(),
            Some("/etc/c/p")
        );
        assert_eq!(unit.words("Install", "WantedBy"), ["sockets.target"]);
        assert_eq!(connect_address("3536"), ("127.0.0.1".into(), 3536));
        assert_eq!(connect_address("[::1]:3537"), ("::1".into(), 3537));
    }
}
