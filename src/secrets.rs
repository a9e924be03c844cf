//! Files that hold secrets: created owner-read-only, refused when others can read them.

use std::fs::{self, OpenOptions};
use std::io::Write;
use std::os::unix::fs::{OpenOptionsExt, PermissionsExt};
use std::path::Path;

/// Creates `path` (which must not exist yet) with mode 0400 and writes `contents` durably.
pub fn write_secret_file(path: &Path, contents: &[u8]) -> std::io::Result<()> {
    write_new_file_with_mode(path, contents, 0o400)
}

/// Creates `path` (which must not exist yet) with `mode` and writes `contents` durably.
pub fn write_new_file_with_mode(path: &Path, contents: &[u8], mode: u32) -> std::io::Result<()> {
    if let Some(parent) = path.parent() {
        fs::create_dir_all(parent)?;
    }
    let mut file = OpenOptions::new()
        .write(true)
        .create_new(true)
        .mode(mode)
        .open(path)?;
    file.write_all(contents)?;
    file.sync_all()
}

/// Fails with an actionable message if the group or others may read or write `path`.
///
/// A systemd credential (a file under `$CREDENTIALS_DIRECTORY`) is exempt: systemd makes it
/// readable by the service's user only, with ACLs where it cannot use ramfs, so its mode bits
/// (0440 on tmpfs) do not tell who may read it.
pub fn check_secret_permissions(path: &Path) -> Result<(), String> {
    let credentials = std::env::var_os("CREDENTIALS_DIRECTORY");
    if credentials.is_some_and(|dir| is_within(path, Path::new(&dir))) {
        return Ok(());
    }
    let metadata = fs::metadata(path).map_err(|error| format!("{}: {error}", path.display()))?;
    let mode = metadata.permissions().mode() & 0o777;
    if mode & 0o077 != 0 {
        return Err(format!(
            "{} holds a secret but has mode {mode:04o}, readable by others; run `chmod 400 {}`",
            path.display(),
            path.display()
        ));
    }
    Ok(())
}

/// Whether `path` lies inside `dir` (both made absolute and free of `..` first, so that a
/// crafted path cannot claim to be a credential).
fn is_within(path: &Path, dir: &Path) -> bool {
    match (fs::canonicalize(path), fs::canonicalize(dir)) {
        (Ok(path), Ok(dir)) => path.starts_with(dir),
        _ => false,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_files_really_inside_the_credentials_directory_count_as_credentials() {
        let root = tempfile::tempdir().unwrap();
        let credentials = root.path().join("credentials");
        fs::create_dir(&credentials).unwrap();
        let inside = credentials.join("api_key");
        let outside = root.path().join("api_key");
        fs::write(&inside, b"k").unwrap();
        fs::write(&outside, b"k").unwrap();
        assert!(is_within(&inside, &credentials));
        assert!(!is_within(&outside, &credentials));
        // `..` does not escape into the exemption.
        assert!(!is_within(&credentials.join("../api_key"), &credentials));
        assert!(!is_within(&credentials.join("missing"), &credentials));
    }
}
