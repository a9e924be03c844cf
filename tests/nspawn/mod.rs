//! Helpers of `tests/systemd_nspawn.rs`: the host's tools and mirror, a cached debootstrapped
//! root file system, a booted `systemd-nspawn` container, and a reader for unit files.

pub mod container;
pub mod host;
pub mod rootfs;
#[path = "../common/unit_file.rs"]
pub mod units;

use std::process::{Command, Output};
use std::time::{Duration, Instant};

/// Runs `command`, panicking if it cannot be started.
pub fn output(command: &mut Command) -> Output {
    command
        .output()
        .unwrap_or_else(|e| panic!("cannot run {command:?}: {e}"))
}

/// Runs `command` and returns its stdout; panics with its output if it fails.
pub fn checked(command: &mut Command) -> String {
    let out = output(command);
    assert!(
        out.status.success(),
        "{command:?} failed ({}):\n{}{}",
        out.status,
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout).into_owned()
}

/// Wall time of each phase, printed as it ends and summed up at the end.
pub struct Timings {
    started: Instant,
    last: Instant,
    phases: Vec<(String, Duration)>,
}

impl Timings {
    /// Starts the clock.
    pub fn start() -> Self {
        let now = Instant::now();
        Self {
            started: now,
            last: now,
            phases: Vec::new(),
        }
    }

    /// Ends the phase that started at the previous call.
    pub fn phase(&mut self, name: &str) {
        let now = Instant::now();
        let took = now - self.last;
        self.last = now;
        println!("[nspawn] {name}: {:.1} s", took.as_secs_f64());
        self.phases.push((name.to_owned(), took));
    }

    /// Prints every phase and the total.
    pub fn summary(&self) {
        println!("[nspawn] timings:");
        for (name, took) in &self.phases {
            println!("[nspawn]   {:>6.1} s  {name}", took.as_secs_f64());
        }
        println!(
            "[nspawn]   {:>6.1} s  total wall time of this test",
            self.started.elapsed().as_secs_f64()
        );
    }
}

/// Polls `probe` every 200 ms until it returns `Some`, or `None` after `timeout`.
pub fn poll<T>(timeout: Duration, mut probe: impl FnMut() -> Option<T>) -> Option<T> {
    let deadline = Instant::now() + timeout;
    loop {
        if let Some(value) = probe() {
            return Some(value);
        }
        if Instant::now() >= deadline {
            return None;
        }
        std::thread::sleep(Duration::from_millis(200));
    }
}
