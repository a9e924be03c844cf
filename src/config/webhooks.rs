//! `[[webhooks]]` (ours): HTTP endpoints the event log is delivered to, signed.
//!
//! ```toml
//! [[webhooks]]
//! name = "shop"                       # a-z 0-9 - _, 1-32 characters, unique
//! url = "https://shop.example/ldk"    # http only to loopback unless allow_insecure_http
//! secret_file = "/run/keys/shop-hook" # or the systemd credential `webhook-shop`
//! kinds = ["payments"]                # groups or event names; empty or absent: every event
//! timeout_secs = 10                   # per delivery attempt
//! ca_file = "/etc/ssl/shop-ca.pem"    # optional: trust only these CAs (a private receiver)
//! ```
//!
//! The secret (at least 16 bytes) signs every delivery; it is read once at startup from the
//! credential `webhook-<name>` if present, else from `secret_file`. It is never logged.

use std::fmt;
use std::net::IpAddr;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use serde::Deserialize;

use super::error::ConfigError;
use super::secrets::{credential, read_secret};
use crate::events::kinds::KindFilter;

/// The shortest secret accepted, in bytes.
pub const MIN_SECRET_BYTES: usize = 16;
/// At most this many webhooks.
pub const MAX_WEBHOOKS: usize = 32;
/// The longest name accepted.
const MAX_NAME_CHARS: usize = 32;
/// The delivery timeout when none is set.
const DEFAULT_TIMEOUT_SECS: u64 = 10;
/// The longest delivery timeout accepted.
const MAX_TIMEOUT_SECS: u64 = 300;

/// One `[[webhooks]]` table as written in the file.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct WebhookSection {
    pub name: Option<String>,
    pub url: Option<String>,
    pub secret_file: Option<PathBuf>,
    pub kinds: Option<Vec<String>>,
    pub timeout_secs: Option<u64>,
    pub allow_insecure_http: Option<bool>,
    pub ca_file: Option<PathBuf>,
}

/// A webhook's signing secret; its `Debug` never shows it.
#[derive(Clone, PartialEq, Eq)]
pub struct WebhookSecret(Arc<[u8]>);

impl WebhookSecret {
    /// The secret's bytes, to key the HMAC with.
    pub fn expose(&self) -> &[u8] {
        &self.0
    }
}

impl fmt::Debug for WebhookSecret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "WebhookSecret(<{} bytes, redacted>)", self.0.len())
    }
}

/// A webhook, resolved.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct WebhookConfig {
    /// Its name: in headers, metrics, logs and the cursor table.
    pub name: String,
    /// Where events are POSTed.
    pub url: reqwest::Url,
    /// The HMAC-SHA256 key of the signature header.
    pub secret: WebhookSecret,
    /// The kinds delivered, as configured (already checked); empty delivers every event.
    pub kinds: Vec<String>,
    /// How long one delivery attempt may take, connection included.
    pub timeout: Duration,
    /// PEM certificates of the only CAs trusted for this receiver (`ca_file`); `None` trusts
    /// the public web PKI.
    pub ca_certificates: Option<Arc<[u8]>>,
}

impl WebhookConfig {
    /// The credential the secret is read from under systemd.
    pub fn credential_name(name: &str) -> String {
        format!("webhook-{name}")
    }

    /// The configured kinds as a filter.
    pub fn filter(&self) -> KindFilter {
        // Checked when the configuration was resolved.
        KindFilter::parse(&self.kinds).unwrap_or_default()
    }
}

/// Checks every `[[webhooks]]` table and reads its secret.
pub(crate) fn resolve(
    sections: &[WebhookSection],
    env: &dyn Fn(&str) -> Option<String>,
) -> Result<Vec<WebhookConfig>, ConfigError> {
    if sections.len() > MAX_WEBHOOKS {
        return Err(ConfigError::new(
            "webhooks",
            format!("{} webhooks; at most {MAX_WEBHOOKS}", sections.len()),
        ));
    }
    let mut webhooks: Vec<WebhookConfig> = Vec::with_capacity(sections.len());
    for (index, section) in sections.iter().enumerate() {
        let webhook = resolve_one(index, section, env)?;
        if webhooks.iter().any(|other| other.name == webhook.name) {
            return Err(ConfigError::new(
                format!("webhooks[{index}].name"),
                format!("{:?} is used by another webhook", webhook.name),
            ));
        }
        webhooks.push(webhook);
    }
    Ok(webhooks)
}

fn resolve_one(
    index: usize,
    section: &WebhookSection,
    env: &dyn Fn(&str) -> Option<String>,
) -> Result<WebhookConfig, ConfigError> {
    let key = |field: &str| format!("webhooks[{index}].{field}");
    let name = section
        .name
        .as_deref()
        .ok_or_else(|| ConfigError::new(key("name"), "is required"))?;
    check_name(name).map_err(|problem| ConfigError::new(key("name"), problem))?;
    let url = section
        .url
        .as_deref()
        .ok_or_else(|| ConfigError::new(key("url"), "is required"))?;
    let url = check_url(url, section.allow_insecure_http.unwrap_or(false))
        .map_err(|problem| ConfigError::new(key("url"), problem))?;
    let kinds = section.kinds.clone().unwrap_or_default();
    KindFilter::parse(&kinds).map_err(|problem| ConfigError::new(key("kinds"), problem))?;
    let timeout_secs = section.timeout_secs.unwrap_or(DEFAULT_TIMEOUT_SECS);
    if timeout_secs == 0 || timeout_secs > MAX_TIMEOUT_SECS {
        return Err(ConfigError::new(
            key("timeout_secs"),
            format!("{timeout_secs} is outside 1..={MAX_TIMEOUT_SECS}"),
        ));
    }
    let secret = read_webhook_secret(name, section, env, &key("secret_file"))?;
    let ca_certificates = match &section.ca_file {
        None => None,
        Some(_) if url.scheme() != "https" => {
            return Err(ConfigError::new(
                key("ca_file"),
                "is for https receivers; this URL is plain http",
            ))
        }
        Some(path) => {
            Some(read_ca_file(path).map_err(|problem| ConfigError::new(key("ca_file"), problem))?)
        }
    };
    Ok(WebhookConfig {
        name: name.to_owned(),
        url,
        secret,
        kinds,
        timeout: Duration::from_secs(timeout_secs),
        ca_certificates,
    })
}

/// The PEM file's bytes, once it is known to hold at least one certificate.
fn read_ca_file(path: &std::path::Path) -> Result<Arc<[u8]>, String> {
    let pem = std::fs::read(path).map_err(|error| format!("{}: {error}", path.display()))?;
    let certificates = reqwest::Certificate::from_pem_bundle(&pem)
        .map_err(|error| format!("{}: not PEM certificates: {error}", path.display()))?;
    if certificates.is_empty() {
        return Err(format!("{}: holds no PEM certificate", path.display()));
    }
    Ok(Arc::from(pem))
}

/// A name is 1 to 32 of a-z, 0-9, `-` and `_`: it goes into headers, label values and a
/// credential's file name.
fn check_name(name: &str) -> Result<(), String> {
    let allowed = |c: char| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '-' || c == '_';
    if name.is_empty() || name.chars().count() > MAX_NAME_CHARS || !name.chars().all(allowed) {
        return Err(format!(
            "{:?}: expected 1 to {MAX_NAME_CHARS} of a-z, 0-9, '-' and '_'",
            name.chars().take(40).collect::<String>()
        ));
    }
    Ok(())
}

/// An `https` URL, or `http` to a loopback address (or anywhere with `allow_insecure_http`);
/// no credentials in it (they would end up in logs; the signature authenticates us).
fn check_url(text: &str, allow_insecure_http: bool) -> Result<reqwest::Url, String> {
    let url = reqwest::Url::parse(text.trim()).map_err(|error| format!("not a URL: {error}"))?;
    if !url.username().is_empty() || url.password().is_some() {
        return Err(
            "must not hold a user name or password: receivers authenticate deliveries by \
             their signature"
                .to_owned(),
        );
    }
    let Some(host) = url.host() else {
        return Err("has no host".to_owned());
    };
    let loopback = is_loopback(&host);
    let host = host.to_string();
    let scheme = url.scheme().to_owned();
    match scheme.as_str() {
        "https" => Ok(url),
        "http" if allow_insecure_http || loopback => Ok(url),
        "http" => Err(format!(
            "plain http to {host} would send events in the clear: use https, or set \
             allow_insecure_http = true for a trusted network"
        )),
        other => Err(format!("scheme {other:?}: expected https (or http)")),
    }
}

fn is_loopback(host: &url::Host<&str>) -> bool {
    match host {
        url::Host::Domain(domain) => domain.eq_ignore_ascii_case("localhost"),
        url::Host::Ipv4(address) => IpAddr::V4(*address).is_loopback(),
        url::Host::Ipv6(address) => IpAddr::V6(*address).is_loopback(),
    }
}

/// The secret from the credential `webhook-<name>`, else from `secret_file`.
fn read_webhook_secret(
    name: &str,
    section: &WebhookSection,
    env: &dyn Fn(&str) -> Option<String>,
    file_key: &str,
) -> Result<WebhookSecret, ConfigError> {
    let credential_name = WebhookConfig::credential_name(name);
    let (key, secret) = if let Some(path) = credential(env, &credential_name) {
        let key = format!("credential {credential_name}");
        let secret = read_secret(&key, &path)?;
        (key, secret)
    } else if let Some(path) = &section.secret_file {
        crate::secrets::check_secret_permissions(path)
            .map_err(|problem| ConfigError::new(file_key, problem))?;
        (file_key.to_owned(), read_secret(file_key, path)?)
    } else {
        return Err(ConfigError::new(
            file_key,
            format!("is required (or provide the systemd credential {credential_name})"),
        ));
    };
    if secret.len() < MIN_SECRET_BYTES {
        return Err(ConfigError::new(
            key,
            format!(
                "the secret has {} bytes; at least {MIN_SECRET_BYTES} are needed",
                secret.len()
            ),
        ));
    }
    Ok(WebhookSecret(Arc::from(secret.into_bytes())))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn section(name: &str, url: &str, secret_file: &std::path::Path) -> WebhookSection {
        WebhookSection {
            name: Some(name.into()),
            url: Some(url.into()),
            secret_file: Some(secret_file.into()),
            ..Default::default()
        }
    }

    fn no_env(_: &str) -> Option<String> {
        None
    }

    /// Writes a secret file only its owner may read.
    fn write_private(path: &std::path::Path, text: &str) {
        use std::os::unix::fs::PermissionsExt;
        std::fs::write(path, text).unwrap();
        std::fs::set_permissions(path, std::fs::Permissions::from_mode(0o600)).unwrap();
    }

    #[test]
    fn a_webhook_resolves_with_defaults_and_a_redacted_secret() {
        let dir = tempfile::tempdir().unwrap();
        let secret = dir.path().join("secret");
        write_private(&secret, "0123456789abcdef-secret\n");
        let hooks = resolve(
            &[section("shop", "https://shop.example/hook", &secret)],
            &no_env,
        )
        .unwrap();
        assert_eq!(hooks[0].name, "shop");
        assert_eq!(hooks[0].timeout, Duration::from_secs(10));
        assert_eq!(hooks[0].secret.expose(), b"0123456789abcdef-secret");
        assert!(hooks[0].filter().is_all());
        let shown = format!("{:?}", hooks[0]);
        assert!(!shown.contains("0123456789abcdef"), "{shown}");
    }

    #[test]
    fn the_credential_wins_over_the_file() {
        let dir = tempfile::tempdir().unwrap();
        let secret = dir.path().join("secret");
        write_private(&secret, "from-the-file-0123456789");
        std::fs::write(dir.path().join("webhook-shop"), "from-the-credential-0123").unwrap();
        let creds = dir.path().to_string_lossy().into_owned();
        let env = move |name: &str| (name == "CREDENTIALS_DIRECTORY").then(|| creds.clone());
        let hooks = resolve(&[section("shop", "https://a.example/", &secret)], &env).unwrap();
        assert_eq!(hooks[0].secret.expose(), b"from-the-credential-0123");
    }

    #[test]
    fn bad_tables_are_refused_naming_the_key() {
        let dir = tempfile::tempdir().unwrap();
        let secret = dir.path().join("secret");
        write_private(&secret, "0123456789abcdef");
        let short = dir.path().join("short");
        write_private(&short, "too-short");
        let shared = dir.path().join("shared");
        std::fs::write(&shared, "0123456789abcdef-shared").unwrap();
        std::fs::set_permissions(&shared, std::os::unix::fs::PermissionsExt::from_mode(0o644))
            .unwrap();
        let cases: Vec<(WebhookSection, &str)> = vec![
            (
                section("Shop!", "https://a.example/", &secret),
                "webhooks[0].name",
            ),
            (
                section(&"x".repeat(33), "https://a.example/", &secret),
                "webhooks[0].name",
            ),
            (
                section("shop", "http://shop.example/", &secret),
                "webhooks[0].url",
            ),
            (
                section("shop", "ftp://shop.example/", &secret),
                "webhooks[0].url",
            ),
            (
                section("shop", "https://user:pw@shop.example/", &secret),
                "webhooks[0].url",
            ),
            (section("shop", "not a url", &secret), "webhooks[0].url"),
            (
                section("shop", "https://a.example/", &short),
                "webhooks[0].secret_file",
            ),
            (
                section("shop", "https://a.example/", &shared),
                "webhooks[0].secret_file",
            ),
            (
                WebhookSection {
                    kinds: Some(vec!["paymnts".into()]),
                    ..section("shop", "https://a.example/", &secret)
                },
                "webhooks[0].kinds",
            ),
            (
                WebhookSection {
                    timeout_secs: Some(0),
                    ..section("shop", "https://a.example/", &secret)
                },
                "webhooks[0].timeout_secs",
            ),
            (
                WebhookSection {
                    secret_file: None,
                    ..section("shop", "https://a.example/", &secret)
                },
                "webhooks[0].secret_file",
            ),
            (
                WebhookSection {
                    ca_file: Some(secret.clone()),
                    ..section("shop", "https://a.example/", &secret)
                },
                "webhooks[0].ca_file",
            ),
            (
                WebhookSection {
                    ca_file: Some(dir.path().join("absent.pem")),
                    ..section("shop", "https://a.example/", &secret)
                },
                "webhooks[0].ca_file",
            ),
            (
                WebhookSection {
                    ca_file: Some(secret.clone()),
                    ..section("shop", "http://127.0.0.1:9/", &secret)
                },
                "webhooks[0].ca_file",
            ),
        ];
        for (table, key) in cases {
            let error = resolve(&[table], &no_env).unwrap_err();
            assert_eq!(error.key, key, "{error}");
        }
        let duplicate = resolve(
            &[
                section("shop", "https://a.example/", &secret),
                section("shop", "https://b.example/", &secret),
            ],
            &no_env,
        )
        .unwrap_err();
        assert_eq!(duplicate.key, "webhooks[1].name");
    }

    #[test]
    fn plain_http_is_for_loopback_unless_allowed() {
        for url in [
            "http://127.0.0.1:8080/",
            "http://[::1]/hook",
            "http://localhost/",
        ] {
            assert!(check_url(url, false).is_ok(), "{url}");
        }
        assert!(check_url("http://10.0.0.2/", false).is_err());
        assert!(check_url("http://10.0.0.2/", true).is_ok());
    }
}
