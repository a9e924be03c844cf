//! Secrets kept out of the configuration file: `*_file` keys and systemd credentials.
//!
//! Order of preference for each secret: the systemd credential (a file named after the secret
//! in `$CREDENTIALS_DIRECTORY`), then the `*_file` key, then the inline value.

use std::path::{Path, PathBuf};

use super::error::ConfigError;

/// Credential name of the Bitcoin Core RPC password.
pub const CREDENTIAL_BITCOIND_RPC_PASSWORD: &str = "bitcoind-rpc-password";
/// Credential name of the `/metrics` Basic-auth password.
pub const CREDENTIAL_METRICS_PASSWORD: &str = "metrics-password";
/// Credential name of the API key.
pub const CREDENTIAL_API_KEY: &str = "api_key";

/// The systemd credential `name`, if `$CREDENTIALS_DIRECTORY` is set and holds it.
pub(crate) fn credential(env: &dyn Fn(&str) -> Option<String>, name: &str) -> Option<PathBuf> {
    let directory = env("CREDENTIALS_DIRECTORY").filter(|dir| !dir.is_empty())?;
    let path = Path::new(&directory).join(name);
    path.is_file().then_some(path)
}

/// Reads a secret file; trailing line breaks are dropped. `key` names it in errors.
pub(crate) fn read_secret(key: &str, path: &Path) -> Result<String, ConfigError> {
    let text = std::fs::read_to_string(path).map_err(|error| {
        ConfigError::new(key, format!("cannot read {}: {error}", path.display()))
    })?;
    let secret = text.trim_end_matches(['\n', '\r']);
    if secret.is_empty() {
        return Err(ConfigError::new(
            key,
            format!("{} is empty", path.display()),
        ));
    }
    Ok(secret.to_owned())
}

/// Resolves one secret: credential `credential_name`, else the file at `file` (named by
/// `file_key`), else `inline`.
pub(crate) fn resolve_secret(
    env: &dyn Fn(&str) -> Option<String>,
    credential_name: &str,
    file_key: &str,
    file: Option<&Path>,
    inline: Option<String>,
) -> Result<Option<String>, ConfigError> {
    if let Some(path) = credential(env, credential_name) {
        return read_secret(&format!("credential {credential_name}"), &path).map(Some);
    }
    if let Some(path) = file {
        return read_secret(file_key, path).map(Some);
    }
    Ok(inline)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn files_are_trimmed_and_credentials_win() {
        let dir = tempfile::tempdir().unwrap();
        let file = dir.path().join("password");
        std::fs::write(&file, "from-file\r\n").unwrap();
        let credentials = dir.path().join("creds");
        std::fs::create_dir(&credentials).unwrap();
        let no_env = |_: &str| None;

        let from_file = resolve_secret(
            &no_env,
            "pw",
            "x.password_file",
            Some(&file),
            Some("inline".into()),
        );
        assert_eq!(from_file.unwrap().as_deref(), Some("from-file"));
        let inline = resolve_secret(
            &no_env,
            "pw",
            "x.password_file",
            None,
            Some("inline".into()),
        );
        assert_eq!(inline.unwrap().as_deref(), Some("inline"));

        std::fs::write(credentials.join("pw"), "from-credential\n").unwrap();
        let creds_dir = credentials.to_string_lossy().into_owned();
        let env = move |name: &str| (name == "CREDENTIALS_DIRECTORY").then(|| creds_dir.clone());
        let from_credential = resolve_secret(&env, "pw", "k", Some(&file), Some("inline".into()));
        assert_eq!(from_credential.unwrap().as_deref(), Some("from-credential"));
    }

    #[test]
    fn missing_or_empty_files_are_errors_naming_the_key() {
        let dir = tempfile::tempdir().unwrap();
        let missing = read_secret("metrics.password_file", &dir.path().join("nope")).unwrap_err();
        assert_eq!(missing.key, "metrics.password_file");
        let empty = dir.path().join("empty");
        std::fs::write(&empty, "\n").unwrap();
        let error = read_secret("metrics.password_file", &empty).unwrap_err();
        assert!(error.problem.ends_with("is empty"), "{error}");
    }
}
