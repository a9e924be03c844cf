//! `config_file`: the configuration loader, fed an arbitrary configuration file.
//!
//! The input is the file's content. It is written to a temporary file that the loader is
//! pointed at (`ldk-server <file>`), with only `HOME` (a temporary directory) in its
//! environment, so the whole path runs: TOML parsing, the checks of settings ldk-node cannot
//! honour, and the resolution and validation of every value.
//!
//! Invariants: the loader never panics, and refuses a bad file with a configuration error
//! (exit 78) on a single line; the command line, being fixed, is never what it refuses.
//!
//! Inputs that mention `/dev/`, `/proc/` or `/sys/` are skipped: the loader reads the files a
//! configuration names (`*_file` keys), and a read of `/dev/stdin` or `/dev/zero` would stall
//! the run instead of testing anything.

use std::ffi::OsString;
use std::path::PathBuf;
use std::sync::OnceLock;

use ldk_server::config::{load_from, LoadError};
use tempfile::TempDir;

const SPECIAL_FILE_TREES: [&[u8]; 3] = [b"/dev/", b"/proc/", b"/sys/"];

struct Scratch {
    home: TempDir,
    config_file: PathBuf,
}

fn scratch() -> &'static Scratch {
    static SCRATCH: OnceLock<Scratch> = OnceLock::new();
    SCRATCH.get_or_init(|| {
        let home = tempfile::tempdir().expect("a temporary HOME");
        let config_file = home.path().join("config.toml");
        Scratch { home, config_file }
    })
}

fn names_special_files(data: &[u8]) -> bool {
    SPECIAL_FILE_TREES
        .iter()
        .any(|tree| data.windows(tree.len()).any(|window| window == *tree))
}

/// Runs the check on one fuzz input.
pub fn check(data: &[u8]) {
    if names_special_files(data) {
        return;
    }
    let scratch = scratch();
    std::fs::write(&scratch.config_file, data).expect("writing the configuration file");
    let home = scratch.home.path().to_string_lossy().into_owned();
    let env = move |name: &str| (name == "HOME").then(|| home.clone());
    let args = [
        OsString::from("ldk-server"),
        scratch.config_file.clone().into(),
    ];
    match load_from(args, &env) {
        Ok(_) => {}
        Err(LoadError::Config(error)) => {
            let line = error.to_string();
            assert!(
                !line.contains(['\n', '\r']),
                "configuration error is not one line: {line:?}"
            );
        }
        Err(LoadError::Cli(error)) => panic!("the fixed command line was refused: {error}"),
    }
}
