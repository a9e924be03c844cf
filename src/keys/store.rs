//! The key directory: one TOML file per key (mode 0600), re-read within a second of any change.
//!
//! A file `<name>.toml` holds the key's name, its secret (inline as `secret`, or from
//! `secret_file`, or from the systemd credential `secret_credential`), its `scopes` and
//! `methods`, `created_at`, and optionally `expires_at`, `revoked_at` (Unix seconds) and a
//! `budget` (`100000sat/24h`). The server writes these files itself for CreateKey and
//! RevokeKey; an operator or the NixOS module may drop files in as well. The directory is
//! polled: a changed, added or removed file takes effect within [`POLL_INTERVAL`], with no
//! restart. A file that cannot be used (bad syntax, readable by others, a duplicate name or
//! key id) is skipped with a warning, so one bad file never locks out the others.

use std::collections::{BTreeMap, HashMap};
use std::fs;
use std::io::Write;
use std::os::unix::fs::{MetadataExt, OpenOptionsExt, PermissionsExt};
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex, RwLock};
use std::time::Duration;

use serde::{Deserialize, Serialize};

use super::budget::BudgetSpec;
use super::scope::Grants;
use super::KeyEntry;
use crate::auth::{ApiKey, KeyId};
use crate::secrets::check_secret_permissions;

/// How often the directory is checked for changes.
pub const POLL_INTERVAL: Duration = Duration::from_millis(200);
/// Most keys the directory may hold (bounds memory and the `key` metric label).
pub const MAX_KEYS: usize = 256;
/// The name reserved for the key in `api_key`.
pub const ADMIN_KEY_NAME: &str = "admin";
/// Longest key name.
const MAX_NAME_LEN: usize = 32;
/// Largest key file read.
const MAX_FILE_BYTES: u64 = 64 * 1024;

/// The on-disk form of a key.
#[derive(Debug, Default, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
struct KeyFile {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    name: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    secret: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    secret_file: Option<PathBuf>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    secret_credential: Option<String>,
    #[serde(default)]
    scopes: Vec<String>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    methods: Vec<String>,
    #[serde(default)]
    created_at: u64,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    expires_at: Option<u64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    revoked_at: Option<u64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    budget: Option<String>,
}

/// Why a key could not be created, found or revoked.
#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    /// The request itself is wrong (a bad name, scope, budget).
    #[error("{0}")]
    Invalid(String),
    /// No key has that name or id.
    #[error("no key named or with id {0:?}")]
    NotFound(String),
    /// The name is taken.
    #[error("a key named {0:?} already exists")]
    Exists(String),
    /// The directory holds [`MAX_KEYS`] keys.
    #[error("the key directory holds {MAX_KEYS} keys already: revoke and delete some first")]
    Full,
    /// The file system failed.
    #[error("key directory: {0}")]
    Io(String),
}

/// Creates the key directory (mode 0700) if it does not exist, and tightens its mode.
pub fn create_dir(dir: &Path) -> Result<(), String> {
    fs::create_dir_all(dir)
        .map_err(|e| format!("creating the key directory {}: {e}", dir.display()))?;
    if let Err(error) = fs::set_permissions(dir, fs::Permissions::from_mode(0o700)) {
        tracing::warn!(dir = %dir.display(), %error, "cannot make the key directory owner-only");
    }
    Ok(())
}

/// Checks a key name: 1 to 32 of `a-z 0-9 - _`, not `admin`.
pub fn check_name(name: &str) -> Result<(), String> {
    if name.is_empty()
        || name.len() > MAX_NAME_LEN
        || !name
            .bytes()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-' || b == b'_')
    {
        return Err(format!(
            "invalid key name {:?}: 1 to {MAX_NAME_LEN} characters of a-z, 0-9, `-` and `_`",
            name.chars().take(40).collect::<String>()
        ));
    }
    if name == ADMIN_KEY_NAME {
        return Err(format!("the name {ADMIN_KEY_NAME:?} is the admin key's"));
    }
    Ok(())
}

/// What a new key should be.
#[derive(Debug, Clone)]
pub struct NewKey {
    /// Its name.
    pub name: String,
    /// What it may call.
    pub grants: Grants,
    /// When it expires (Unix seconds).
    pub expires_at: Option<u64>,
    /// Its spending budget.
    pub budget: Option<BudgetSpec>,
}

/// What identifies one file's state: `(file name, mtime s, mtime ns, size, inode)`.
type FileStamp = (String, i64, i64, u64, u64);

/// The loaded keys and the directory state they were loaded from.
#[derive(Default)]
struct Snapshot {
    fingerprint: Vec<FileStamp>,
    by_id: HashMap<KeyId, Arc<KeyEntry>>,
    by_name: BTreeMap<String, Arc<KeyEntry>>,
}

/// The key directory, loaded.
pub struct KeyStore {
    dir: PathBuf,
    credentials_dir: Option<PathBuf>,
    /// The admin key's id, which no file may take.
    reserved: KeyId,
    snapshot: RwLock<Snapshot>,
    /// Serialises the server's own writes.
    writing: Mutex<()>,
}

impl KeyStore {
    /// Opens (creating it mode 0700) the directory `dir` and loads its keys.
    /// `credentials_dir` is `$CREDENTIALS_DIRECTORY`, for `secret_credential`.
    pub fn open(
        dir: &Path,
        credentials_dir: Option<PathBuf>,
        reserved: KeyId,
    ) -> Result<Self, String> {
        create_dir(dir)?;
        let store = Self {
            dir: dir.to_path_buf(),
            credentials_dir,
            reserved,
            snapshot: RwLock::new(Snapshot::default()),
            writing: Mutex::new(()),
        };
        store.refresh();
        Ok(store)
    }

    /// The directory.
    pub fn dir(&self) -> &Path {
        &self.dir
    }

    /// The key with `id`, if a file holds it.
    pub fn lookup(&self, id: &KeyId) -> Option<Arc<KeyEntry>> {
        self.read().by_id.get(id).cloned()
    }

    /// The key named `name_or_id` (a name or 16 hex digits of key id).
    pub fn find(&self, name_or_id: &str) -> Option<Arc<KeyEntry>> {
        let snapshot = self.read();
        if let Some(entry) = snapshot.by_name.get(name_or_id) {
            return Some(Arc::clone(entry));
        }
        KeyId::parse(name_or_id).and_then(|id| snapshot.by_id.get(&id).cloned())
    }

    /// Every key, by name.
    pub fn list(&self) -> Vec<Arc<KeyEntry>> {
        self.read().by_name.values().cloned().collect()
    }

    /// Writes a new key's file and loads it; returns it with its secret.
    pub fn create(&self, new: NewKey, now: u64) -> Result<Arc<KeyEntry>, StoreError> {
        check_name(&new.name).map_err(StoreError::Invalid)?;
        let _writing = self.lock_writes();
        self.refresh();
        if self.read().by_name.contains_key(&new.name) {
            return Err(StoreError::Exists(new.name));
        }
        if self.read().by_name.len() >= MAX_KEYS {
            return Err(StoreError::Full);
        }
        let secret = crate::auth::generate_key().map_err(StoreError::Io)?;
        let file = KeyFile {
            name: Some(new.name.clone()),
            secret: Some(secret.as_hex().to_owned()),
            scopes: new.grants.scope_names(),
            methods: new.grants.methods.iter().cloned().collect(),
            created_at: now,
            expires_at: new.expires_at,
            budget: new.budget.map(|budget| budget.to_string()),
            ..KeyFile::default()
        };
        let path = self.dir.join(format!("{}.toml", new.name));
        write_key_file(&path, &file, true)?;
        self.refresh();
        self.read()
            .by_name
            .get(&new.name)
            .cloned()
            .ok_or_else(|| StoreError::Io(format!("{} was written but not loaded", path.display())))
    }

    /// Marks a key revoked (its file keeps the record); effective at once.
    pub fn revoke(&self, name_or_id: &str, now: u64) -> Result<Arc<KeyEntry>, StoreError> {
        let _writing = self.lock_writes();
        self.refresh();
        let entry = self
            .find(name_or_id)
            .ok_or_else(|| StoreError::NotFound(name_or_id.chars().take(64).collect()))?;
        if entry.revoked_at.is_some() {
            return Ok(entry);
        }
        let path = entry
            .file
            .clone()
            .ok_or_else(|| StoreError::Invalid("the admin key cannot be revoked".to_owned()))?;
        let text = fs::read_to_string(&path).map_err(|e| StoreError::Io(e.to_string()))?;
        let mut file: KeyFile = toml::from_str(&text)
            .map_err(|e| StoreError::Io(format!("{}: {e}", path.display())))?;
        file.revoked_at = Some(now);
        write_key_file(&path, &file, false)?;
        self.refresh();
        self.find(&entry.id.to_hex())
            .ok_or_else(|| StoreError::NotFound(entry.name.clone()))
    }

    /// Re-reads the directory if anything in it changed since the last read.
    pub fn refresh(&self) {
        let fingerprint = match self.fingerprint() {
            Ok(fingerprint) => fingerprint,
            Err(error) => {
                tracing::warn!(dir = %self.dir.display(), %error, "cannot list the key directory");
                return;
            }
        };
        if self.read().fingerprint == fingerprint {
            return;
        }
        let loaded = self.load(fingerprint);
        *self
            .snapshot
            .write()
            .unwrap_or_else(std::sync::PoisonError::into_inner) = loaded;
    }

    /// Refreshes every [`POLL_INTERVAL`] until `shutdown` turns true.
    pub async fn watch(self: Arc<Self>, mut shutdown: tokio::sync::watch::Receiver<bool>) {
        let mut interval = tokio::time::interval(POLL_INTERVAL);
        interval.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        loop {
            tokio::select! {
                _ = interval.tick() => {
                    let store = Arc::clone(&self);
                    let _ = tokio::task::spawn_blocking(move || store.refresh()).await;
                }
                _ = crate::shutdown::requested(&mut shutdown) => return,
            }
        }
    }

    fn read(&self) -> std::sync::RwLockReadGuard<'_, Snapshot> {
        self.snapshot
            .read()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    fn lock_writes(&self) -> std::sync::MutexGuard<'_, ()> {
        self.writing
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    /// `(file name, mtime s, mtime ns, size, inode)` of every `*.toml` file, sorted.
    fn fingerprint(&self) -> std::io::Result<Vec<FileStamp>> {
        let mut entries = Vec::new();
        for entry in fs::read_dir(&self.dir)? {
            let entry = entry?;
            let name = entry.file_name().to_string_lossy().into_owned();
            if !name.ends_with(".toml") {
                continue;
            }
            if let Ok(metadata) = entry.metadata() {
                entries.push((
                    name,
                    metadata.mtime(),
                    metadata.mtime_nsec(),
                    metadata.size(),
                    metadata.ino(),
                ));
            }
        }
        entries.sort();
        Ok(entries)
    }

    fn load(&self, fingerprint: Vec<FileStamp>) -> Snapshot {
        let mut snapshot = Snapshot::default();
        for (file_name, ..) in &fingerprint {
            if snapshot.by_name.len() >= MAX_KEYS {
                tracing::warn!(
                    max = MAX_KEYS,
                    "the key directory holds too many keys; ignoring the rest"
                );
                break;
            }
            let path = self.dir.join(file_name);
            match self.load_file(&path, file_name) {
                Ok(entry) => {
                    if entry.id == self.reserved || snapshot.by_id.contains_key(&entry.id) {
                        tracing::warn!(path = %path.display(), "key file skipped: its key is already in use");
                        continue;
                    }
                    if snapshot.by_name.contains_key(&entry.name) {
                        tracing::warn!(path = %path.display(), "key file skipped: duplicate name");
                        continue;
                    }
                    let entry = Arc::new(entry);
                    snapshot.by_id.insert(entry.id, Arc::clone(&entry));
                    snapshot.by_name.insert(entry.name.clone(), entry);
                }
                Err(error) => {
                    tracing::warn!(path = %path.display(), %error, "key file skipped");
                }
            }
        }
        snapshot.fingerprint = fingerprint;
        snapshot
    }

    fn load_file(&self, path: &Path, file_name: &str) -> Result<KeyEntry, String> {
        check_secret_permissions(path)?;
        let metadata = fs::metadata(path).map_err(|e| e.to_string())?;
        if metadata.len() > MAX_FILE_BYTES {
            return Err(format!("larger than {MAX_FILE_BYTES} bytes"));
        }
        let text = fs::read_to_string(path).map_err(|e| e.to_string())?;
        let file: KeyFile = toml::from_str(&text).map_err(|e| e.message().to_owned())?;
        let stem = file_name.trim_end_matches(".toml");
        let name = file.name.clone().unwrap_or_else(|| stem.to_owned());
        check_name(&name)?;
        let secret = self.secret_of(&file)?;
        let grants = Grants::new(&file.scopes, &file.methods)?;
        let budget = file
            .budget
            .as_deref()
            .map(str::parse::<BudgetSpec>)
            .transpose()?;
        Ok(KeyEntry {
            id: KeyId::of(&secret),
            name,
            secret,
            grants,
            created_at: file.created_at,
            expires_at: file.expires_at,
            revoked_at: file.revoked_at,
            budget,
            file: Some(path.to_path_buf()),
        })
    }

    fn secret_of(&self, file: &KeyFile) -> Result<ApiKey, String> {
        let text = match (&file.secret, &file.secret_file, &file.secret_credential) {
            (Some(secret), None, None) => secret.clone(),
            (None, Some(path), None) => read_secret(path)?,
            (None, None, Some(name)) => {
                let dir = self.credentials_dir.as_ref().ok_or(
                    "secret_credential needs $CREDENTIALS_DIRECTORY (a systemd credential)",
                )?;
                if name.contains('/') || name.is_empty() {
                    return Err(format!("invalid credential name {name:?}"));
                }
                read_secret(&dir.join(name))?
            }
            _ => {
                return Err(
                    "exactly one of secret, secret_file and secret_credential is needed".to_owned(),
                )
            }
        };
        let text = text.trim();
        if text.len() < 32 || !text.bytes().all(|b| b.is_ascii_hexdigit()) {
            return Err("a secret is at least 32 hex digits (16 bytes)".to_owned());
        }
        Ok(ApiKey::from_hex(text))
    }
}

/// Reads a secret file (refused if others may read it).
fn read_secret(path: &Path) -> Result<String, String> {
    check_secret_permissions(path)?;
    fs::read_to_string(path).map_err(|e| format!("{}: {e}", path.display()))
}

/// Writes `file` to `path` (mode 0600) through a temporary file and a rename, so a reader never
/// sees half a key; `new` refuses to replace an existing file.
fn write_key_file(path: &Path, file: &KeyFile, new: bool) -> Result<(), StoreError> {
    let io = |error: std::io::Error| StoreError::Io(format!("{}: {error}", path.display()));
    if new && path.exists() {
        return Err(StoreError::Exists(
            path.file_stem()
                .map(|s| s.to_string_lossy().into_owned())
                .unwrap_or_default(),
        ));
    }
    let text = toml::to_string(file).map_err(|e| StoreError::Io(e.to_string()))?;
    let temporary = path.with_extension("toml.tmp");
    let _ = fs::remove_file(&temporary);
    let mut out = fs::OpenOptions::new()
        .write(true)
        .create_new(true)
        .mode(0o600)
        .open(&temporary)
        .map_err(io)?;
    out.write_all(text.as_bytes()).map_err(io)?;
    out.sync_all().map_err(io)?;
    fs::rename(&temporary, path).map_err(io)?;
    if let Some(dir) = path.parent() {
        if let Ok(dir) = fs::File::open(dir) {
            let _ = dir.sync_all();
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn grants(scopes: &[&str]) -> Grants {
        let scopes: Vec<String> = scopes.iter().map(|s| s.to_string()).collect();
        Grants::new(&scopes, &[]).unwrap()
    }

    #[test]
    fn create_revoke_and_reload() {
        let dir = tempfile::tempdir().unwrap();
        let store = KeyStore::open(dir.path(), None, KeyId([0; 8])).unwrap();
        let created = store
            .create(
                NewKey {
                    name: "shop".into(),
                    grants: grants(&["read", "receive"]),
                    expires_at: Some(2_000),
                    budget: Some("100000sat/24h".parse().unwrap()),
                },
                1_000,
            )
            .unwrap();
        let path = dir.path().join("shop.toml");
        assert_eq!(
            fs::metadata(&path).unwrap().permissions().mode() & 0o777,
            0o600
        );
        assert_eq!(store.lookup(&created.id).unwrap().name, "shop");
        assert!(matches!(
            store.create(
                NewKey {
                    name: "shop".into(),
                    grants: grants(&["read"]),
                    expires_at: None,
                    budget: None
                },
                1_000
            ),
            Err(StoreError::Exists(_))
        ));
        let revoked = store.revoke(&created.id.to_hex(), 1_500).unwrap();
        assert_eq!(revoked.revoked_at, Some(1_500));
        // A second store sees the same state from the files alone.
        let again = KeyStore::open(dir.path(), None, KeyId([0; 8])).unwrap();
        let reloaded = again.find("shop").unwrap();
        assert_eq!(reloaded.revoked_at, Some(1_500));
        assert_eq!(reloaded.budget, Some("100000sat/24h".parse().unwrap()));
        // Removing the file removes the key at the next refresh.
        fs::remove_file(&path).unwrap();
        again.refresh();
        assert!(again.find("shop").is_none());
    }

    #[test]
    fn bad_files_are_skipped_and_others_still_load() {
        let dir = tempfile::tempdir().unwrap();
        let write = |name: &str, text: &str, mode: u32| {
            let path = dir.path().join(name);
            fs::write(&path, text).unwrap();
            fs::set_permissions(&path, fs::Permissions::from_mode(mode)).unwrap();
        };
        let secret = "11".repeat(32);
        write(
            "good.toml",
            &format!("secret = \"{secret}\"\nscopes = [\"read\"]\n"),
            0o600,
        );
        write(
            "open.toml",
            &format!("secret = \"{}\"\nscopes = [\"read\"]\n", "22".repeat(32)),
            0o644,
        );
        write("junk.toml", "secret = 5", 0o600);
        write(
            "noscope.toml",
            &format!("secret = \"{}\"\n", "33".repeat(32)),
            0o600,
        );
        let store = KeyStore::open(dir.path(), None, KeyId([0; 8])).unwrap();
        let names: Vec<String> = store.list().iter().map(|k| k.name.clone()).collect();
        assert_eq!(names, ["good"]);
    }

    #[test]
    fn names_are_checked() {
        assert!(check_name("shop-1_a").is_ok());
        for bad in ["", "Shop", "a/b", "admin", &"x".repeat(33), "..", "a b"] {
            assert!(check_name(bad).is_err(), "{bad}");
        }
    }
}
