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
pub fn check_secret_permissions(path: &Path) -> Result<(), String> {
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
