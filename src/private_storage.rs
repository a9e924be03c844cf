//! The node's storage is private to the user it runs as, whatever umask it was started with.
//!
//! - The process umask becomes `0077` before anything is created, so every directory and file
//!   the server or ldk-node makes (databases with their `-wal`/`-shm` companions, log files,
//!   keys) is created `0700` / `0600`.
//! - Storage that already exists with looser modes (a data directory moved here from upstream
//!   LDK Server, or made by an earlier version started by hand) is tightened, not refused: the
//!   storage and network directories become `0700`, and every file in the network directory
//!   (recursively) and directly in the storage directory loses its group and other bits. Each
//!   change is reported so that it can be logged once logging runs.
//!
//! Public files (the TLS certificate, which clients pin) are left as they are. Symbolic links are
//! never followed or changed. The storage directory is expected to belong to
//! the node alone; directories beside the network directory are left as they are.

use std::fs;
use std::io;
use std::os::unix::fs::{DirBuilderExt, PermissionsExt};
use std::path::{Path, PathBuf};

/// The umask the server runs with: nothing it creates is readable by group or others.
pub const PRIVATE_UMASK: u32 = 0o077;
/// Mode of every storage directory.
pub const DIRECTORY_MODE: u32 = 0o700;
/// The permission bits that make a file or directory reachable by group or others.
const SHARED_BITS: u32 = 0o077;

/// One permission change made to existing storage.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Tightened {
    /// The file or directory changed.
    pub path: PathBuf,
    /// Its permission bits before.
    pub was: u32,
    /// Its permission bits now.
    pub now: u32,
}

/// What [`secure`] did, for the log.
#[derive(Debug, Default)]
pub struct Report {
    /// Modes tightened.
    pub tightened: Vec<Tightened>,
    /// Entries that are too open but could not be changed (e.g. owned by another user), with
    /// the reason.
    pub untouched: Vec<(PathBuf, String)>,
    /// Files left as they are.
    public: Vec<PathBuf>,
}

impl Report {
    /// Logs each change (warning) and each entry left too open (error).
    pub fn log(&self) {
        for change in &self.tightened {
            tracing::warn!(
                path = %change.path.display(),
                was = %format!("{:04o}", change.was),
                now = %format!("{:04o}", change.now),
                "storage was readable by other users: tightened its mode"
            );
        }
        for (path, reason) in &self.untouched {
            tracing::error!(
                path = %path.display(),
                %reason,
                "storage is readable by other users and its mode cannot be changed"
            );
        }
    }
}

/// Sets the process umask to [`PRIVATE_UMASK`]. Call first thing in `main`, before any thread
/// exists (the umask is process-wide).
pub fn restrict_umask() {
    // SAFETY: umask only swaps the process's file-creation mask; it cannot fail.
    unsafe {
        libc::umask(PRIVATE_UMASK as libc::mode_t);
    }
}

/// Creates the storage and network directories `0700` (and any missing parents of them, also
/// `0700`), the parent of a log file outside them, then tightens what already exists.
///
/// `public` files are skipped. Fails only if a directory cannot be created; a mode that cannot
/// be changed is reported in [`Report::untouched`] instead.
pub fn secure(
    storage_dir: &Path,
    network_dir: &Path,
    log_file: Option<&Path>,
    public: &[&Path],
) -> io::Result<Report> {
    let mut report = Report {
        public: public.iter().map(|path| path.to_path_buf()).collect(),
        ..Report::default()
    };
    for dir in [storage_dir, network_dir] {
        create_private_dir(dir)?;
        tighten(dir, &mut report);
    }
    tighten_files_in(storage_dir, &mut report);
    tighten_tree(network_dir, &mut report);
    if let Some(log_file) = log_file {
        if let Some(parent) = log_file.parent().filter(|p| !p.as_os_str().is_empty()) {
            create_private_dir(parent)?;
        }
        tighten(log_file, &mut report);
    }
    Ok(report)
}

/// Creates `dir` and its missing parents with mode `0700`; an existing one is left to
/// [`tighten`].
fn create_private_dir(dir: &Path) -> io::Result<()> {
    fs::DirBuilder::new()
        .recursive(true)
        .mode(DIRECTORY_MODE)
        .create(dir)
        .map_err(|error| {
            io::Error::new(
                error.kind(),
                format!("cannot create {}: {error}", dir.display()),
            )
        })
}

/// Clears the group and other bits of `path` (a directory also gets owner `rwx`), if it exists
/// and is not a symbolic link.
fn tighten(path: &Path, report: &mut Report) {
    let Ok(metadata) = fs::symlink_metadata(path) else {
        return;
    };
    if metadata.file_type().is_symlink() || report.public.iter().any(|public| public == path) {
        return;
    }
    let was = metadata.permissions().mode() & 0o7777;
    let now = if metadata.is_dir() {
        DIRECTORY_MODE
    } else {
        was & !SHARED_BITS
    };
    if was & SHARED_BITS == 0 && (!metadata.is_dir() || was & DIRECTORY_MODE == DIRECTORY_MODE) {
        return;
    }
    match fs::set_permissions(path, fs::Permissions::from_mode(now)) {
        Ok(()) => report.tightened.push(Tightened {
            path: path.to_path_buf(),
            was,
            now,
        }),
        Err(error) => report
            .untouched
            .push((path.to_path_buf(), error.to_string())),
    }
}

/// Tightens the regular files directly in `dir`.
fn tighten_files_in(dir: &Path, report: &mut Report) {
    for entry in entries(dir) {
        if entry.file_type().is_ok_and(|kind| kind.is_file()) {
            tighten(&entry.path(), report);
        }
    }
}

/// Tightens every file and directory below `dir`, without following symbolic links.
fn tighten_tree(dir: &Path, report: &mut Report) {
    for entry in entries(dir) {
        let Ok(kind) = entry.file_type() else {
            continue;
        };
        if kind.is_dir() {
            tighten(&entry.path(), report);
            tighten_tree(&entry.path(), report);
        } else if kind.is_file() {
            tighten(&entry.path(), report);
        }
    }
}

fn entries(dir: &Path) -> impl Iterator<Item = fs::DirEntry> {
    fs::read_dir(dir)
        .into_iter()
        .flatten()
        .filter_map(Result::ok)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn mode(path: &Path) -> u32 {
        fs::symlink_metadata(path).unwrap().permissions().mode() & 0o7777
    }

    fn set_mode(path: &Path, mode: u32) {
        fs::set_permissions(path, fs::Permissions::from_mode(mode)).unwrap();
    }

    #[test]
    fn creates_missing_directories_private() {
        let root = tempfile::tempdir().unwrap();
        let storage = root.path().join("a/b/storage");
        let network = storage.join("regtest");
        let log = root.path().join("logs/ldk-server.log");
        let report = secure(&storage, &network, Some(&log), &[]).unwrap();
        assert!(report.tightened.is_empty(), "{report:?}");
        for dir in [
            root.path().join("a"),
            storage.clone(),
            network,
            root.path().join("logs"),
        ] {
            assert_eq!(mode(&dir), 0o700, "{}", dir.display());
        }
    }

    #[test]
    fn tightens_an_open_data_directory_and_reports_each_change() {
        let root = tempfile::tempdir().unwrap();
        let storage = root.path().join("storage");
        let network = storage.join("bitcoin");
        fs::create_dir_all(network.join("logs")).unwrap();
        for (path, bits) in [
            (storage.clone(), 0o755),
            (network.clone(), 0o775),
            (network.join("logs"), 0o755),
        ] {
            set_mode(&path, bits);
        }
        let files = [
            (storage.join("keys_seed"), 0o644, 0o600),
            (network.join("ldk_node_data.sqlite"), 0o664, 0o600),
            (network.join("logs/ldk_node.log"), 0o644, 0o600),
            (network.join("api_key"), 0o400, 0o400),
        ];
        for (path, bits, _) in &files {
            fs::write(path, b"x").unwrap();
            set_mode(path, *bits);
        }

        let certificate = storage.join("tls.crt");
        fs::write(&certificate, b"x").unwrap();
        set_mode(&certificate, 0o644);
        let log = network.join("ldk-server.log");
        let report = secure(&storage, &network, Some(&log), &[&certificate]).unwrap();
        assert_eq!(mode(&certificate), 0o644, "the certificate is public");

        for dir in [&storage, &network, &network.join("logs")] {
            assert_eq!(mode(dir), 0o700, "{}", dir.display());
        }
        for (path, _, expected) in &files {
            assert_eq!(mode(path), *expected, "{}", path.display());
        }
        let changed: Vec<_> = report
            .tightened
            .iter()
            .map(|t| (t.path.clone(), t.was, t.now))
            .collect();
        assert!(
            changed.contains(&(storage.clone(), 0o755, 0o700)),
            "{changed:?}"
        );
        assert!(
            changed.contains(&(network.join("ldk_node_data.sqlite"), 0o664, 0o600)),
            "{changed:?}"
        );
        assert_eq!(changed.len(), 6, "api_key was already private: {changed:?}");
        assert!(report.untouched.is_empty());

        let again = secure(&storage, &network, None, &[&certificate]).unwrap();
        assert!(
            again.tightened.is_empty(),
            "a second pass changes nothing: {again:?}"
        );
    }

    #[test]
    fn never_follows_symbolic_links() {
        let root = tempfile::tempdir().unwrap();
        let outside = root.path().join("shared.txt");
        fs::write(&outside, b"x").unwrap();
        set_mode(&outside, 0o644);
        let storage = root.path().join("storage");
        let network = storage.join("regtest");
        fs::create_dir_all(&network).unwrap();
        std::os::unix::fs::symlink(&outside, network.join("link")).unwrap();
        std::os::unix::fs::symlink(&outside, storage.join("link")).unwrap();

        secure(&storage, &network, Some(&network.join("link")), &[]).unwrap();

        assert_eq!(mode(&outside), 0o644);
    }
}
