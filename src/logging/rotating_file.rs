//! A log file that rotates by size and age, as upstream's: the current file is renamed to
//! `<file>.<YYYY-MM-DDTHH-MM-SSZ>` and a fresh one is opened; beyond `max_files` rotated files the
//! oldest are deleted.

use std::fs::{self, File, OpenOptions};
use std::io::{self, Write};
use std::os::unix::fs::OpenOptionsExt;
use std::path::{Path, PathBuf};
use std::sync::{Mutex, MutexGuard};
use std::time::{Duration, SystemTime};

use tracing_subscriber::fmt::MakeWriter;

use crate::config::LogFileConfig;

/// The log file; share it behind an `Arc` between the subscriber and the SIGHUP handler.
pub struct RotatingFile {
    path: PathBuf,
    max_size_bytes: Option<u64>,
    rotation_interval: Option<Duration>,
    max_files: usize,
    state: Mutex<OpenFile>,
}

struct OpenFile {
    file: File,
    written: u64,
    opened_at: SystemTime,
}

impl RotatingFile {
    /// Opens (appending) or creates the file and its directory.
    pub fn open(config: &LogFileConfig) -> io::Result<Self> {
        let state = open_append(&config.path)?;
        Ok(Self {
            path: config.path.clone(),
            max_size_bytes: config.max_size_bytes,
            rotation_interval: config.rotation_interval,
            max_files: config.max_files,
            state: Mutex::new(state),
        })
    }

    /// Reopens the file at its path (after an external rotation, e.g. on SIGHUP).
    pub fn reopen(&self) -> io::Result<()> {
        let mut state = self.lock();
        let _ = state.file.flush();
        *state = open_append(&self.path)?;
        Ok(())
    }

    fn lock(&self) -> MutexGuard<'_, OpenFile> {
        self.state
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
    }

    fn write_record(&self, record: &[u8]) -> io::Result<()> {
        let mut state = self.lock();
        if self.must_rotate(&state, record.len() as u64) {
            self.rotate(&mut state)?;
        }
        state.file.write_all(record)?;
        state.written += record.len() as u64;
        Ok(())
    }

    fn must_rotate(&self, state: &OpenFile, incoming: u64) -> bool {
        let too_big = self
            .max_size_bytes
            .is_some_and(|max| state.written > 0 && state.written + incoming > max);
        let too_old = self
            .rotation_interval
            .is_some_and(|interval| state.opened_at.elapsed().is_ok_and(|age| age >= interval));
        too_big || too_old
    }

    fn rotate(&self, state: &mut OpenFile) -> io::Result<()> {
        state.file.flush()?;
        let stamp = time::OffsetDateTime::now_utc();
        let suffix = format!(
            "{:04}-{:02}-{:02}T{:02}-{:02}-{:02}Z",
            stamp.year(),
            u8::from(stamp.month()),
            stamp.day(),
            stamp.hour(),
            stamp.minute(),
            stamp.second()
        );
        let mut rotated = self.path.clone().into_os_string();
        rotated.push(format!(".{suffix}"));
        fs::rename(&self.path, &rotated)?;
        *state = open_append(&self.path)?;
        self.delete_old_files();
        Ok(())
    }

    fn delete_old_files(&self) {
        let (Some(dir), Some(name)) = (self.path.parent(), self.path.file_name()) else {
            return;
        };
        let prefix = format!("{}.", name.to_string_lossy());
        let Ok(entries) = fs::read_dir(dir) else {
            return;
        };
        let mut rotated: Vec<(SystemTime, PathBuf)> = entries
            .filter_map(Result::ok)
            .filter(|entry| entry.file_name().to_string_lossy().starts_with(&prefix))
            .filter_map(|entry| Some((entry.metadata().ok()?.modified().ok()?, entry.path())))
            .collect();
        rotated.sort();
        let excess = rotated.len().saturating_sub(self.max_files);
        for (_, path) in rotated.into_iter().take(excess) {
            let _ = fs::remove_file(path);
        }
    }
}

fn open_append(path: &Path) -> io::Result<OpenFile> {
    if let Some(parent) = path.parent() {
        fs::create_dir_all(parent)?;
    }
    // Owner-only whatever the umask: the log names payments and peers.
    let file = OpenOptions::new()
        .create(true)
        .append(true)
        .mode(0o600)
        .open(path)?;
    let metadata = file.metadata()?;
    let opened_at = metadata
        .created()
        .or_else(|_| metadata.modified())
        .unwrap_or_else(|_| SystemTime::now());
    Ok(OpenFile {
        file,
        written: metadata.len(),
        opened_at,
    })
}

/// One formatted record, written to the file in one piece when dropped.
pub struct RecordWriter<'a> {
    file: &'a RotatingFile,
    buffer: Vec<u8>,
}

impl Write for RecordWriter<'_> {
    fn write(&mut self, bytes: &[u8]) -> io::Result<usize> {
        self.buffer.extend_from_slice(bytes);
        Ok(bytes.len())
    }

    fn flush(&mut self) -> io::Result<()> {
        Ok(())
    }
}

impl Drop for RecordWriter<'_> {
    fn drop(&mut self) {
        if !self.buffer.is_empty() {
            if let Err(error) = self.file.write_record(&self.buffer) {
                eprintln!(
                    "writing the log file {} failed: {error}",
                    self.file.path.display()
                );
            }
        }
    }
}

/// The `MakeWriter` handed to `tracing-subscriber` for the log file.
#[derive(Clone)]
pub struct LogFileWriter(pub std::sync::Arc<RotatingFile>);

impl<'a> MakeWriter<'a> for LogFileWriter {
    type Writer = RecordWriter<'a>;

    fn make_writer(&'a self) -> Self::Writer {
        RecordWriter {
            file: &self.0,
            buffer: Vec::with_capacity(256),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn config(dir: &Path, max_size_bytes: Option<u64>, max_files: usize) -> LogFileConfig {
        LogFileConfig {
            path: dir.join("server.log"),
            max_size_bytes,
            rotation_interval: None,
            max_files,
        }
    }

    #[test]
    fn rotates_by_size_and_keeps_max_files() {
        let dir = tempfile::tempdir().unwrap();
        let file = RotatingFile::open(&config(dir.path(), Some(100), 2)).unwrap();
        for i in 0..10 {
            file.write_record(format!("record {i:02} {}\n", "x".repeat(40)).as_bytes())
                .unwrap();
            // Rotated names have one-second resolution: space the rotations out.
            if i % 2 == 1 {
                std::thread::sleep(Duration::from_millis(1_100));
            }
        }
        let names: Vec<String> = fs::read_dir(dir.path())
            .unwrap()
            .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
            .collect();
        let rotated = names
            .iter()
            .filter(|n| n.starts_with("server.log."))
            .count();
        assert_eq!(rotated, 2, "{names:?}");
        let current = fs::read_to_string(dir.path().join("server.log")).unwrap();
        assert!(
            current.len() <= 100 && current.contains("record 09"),
            "{current}"
        );
    }

    #[test]
    fn reopen_follows_an_external_rename() {
        let dir = tempfile::tempdir().unwrap();
        let file = RotatingFile::open(&config(dir.path(), None, 5)).unwrap();
        file.write_record(b"before\n").unwrap();
        fs::rename(dir.path().join("server.log"), dir.path().join("moved.log")).unwrap();
        file.reopen().unwrap();
        file.write_record(b"after\n").unwrap();
        assert_eq!(
            fs::read_to_string(dir.path().join("server.log")).unwrap(),
            "after\n"
        );
        assert_eq!(
            fs::read_to_string(dir.path().join("moved.log")).unwrap(),
            "before\n"
        );
    }
}
