//! A container booted with `systemd-nspawn --boot` in a private mount namespace, and commands
//! run inside it with `nsenter`. Dropping it powers it off (or kills it).

use std::path::{Path, PathBuf};
use std::process::{Child, Command, Output, Stdio};
use std::time::Duration;

use super::{output, poll};

/// Paths of the host tools the container needs.
pub struct Tools {
    pub unshare: PathBuf,
    pub nspawn: PathBuf,
    pub nsenter: PathBuf,
}

/// A booted container.
pub struct Container {
    nspawn: Child,
    nsenter: PathBuf,
    /// PID (on the host) of the container's systemd.
    pub init_pid: u32,
    /// The console log (systemd-nspawn's stdout and stderr).
    pub console_log: PathBuf,
    /// Units whose journal is printed if the test fails.
    pub diagnose_units: Vec<String>,
}

impl Container {
    /// Starts systemd-nspawn on `root` and waits for the container's systemd to appear.
    ///
    /// `/run` of the private mount namespace is a fresh tmpfs: systemd-nspawn keeps its
    /// runtime files there and must not meet the host's.
    pub fn boot(tools: &Tools, root: &Path, console_log: &Path) -> Self {
        let log = std::fs::File::create(console_log).expect("console log");
        let script = r#"mount -t tmpfs -o mode=0755 tmpfs /run && exec "$0" "$@""#;
        let nspawn = Command::new(&tools.unshare)
            .args(["--mount", "--propagation", "private", "sh", "-c", script])
            .arg(&tools.nspawn)
            .args([
                "--boot",
                "--register=no",
                "--keep-unit",
                "--private-network",
                "--console=pipe",
                "--quiet",
            ])
            .arg("--directory")
            .arg(root)
            .env_remove("NOTIFY_SOCKET")
            .env_remove("LISTEN_FDS")
            .env_remove("LISTEN_PID")
            .env_remove("LISTEN_FDNAMES")
            .stdin(Stdio::null())
            .stdout(log.try_clone().expect("log"))
            .stderr(log)
            .spawn()
            .expect("spawn systemd-nspawn");
        let mut container = Self {
            init_pid: 0,
            nspawn,
            nsenter: tools.nsenter.clone(),
            console_log: console_log.to_owned(),
            diagnose_units: Vec::new(),
        };
        // unshare and sh exec, so the child is systemd-nspawn; the container's init is its child.
        let nspawn_pid = container.nspawn.id();
        let found = poll(Duration::from_secs(20), || {
            if let Ok(Some(status)) = container.nspawn.try_wait() {
                panic!(
                    "systemd-nspawn exited ({status}) before the container started:\n{}",
                    container.console()
                );
            }
            child_named(nspawn_pid, "systemd")
        });
        container.init_pid = found.unwrap_or_else(|| {
            panic!(
                "no systemd in the container after 20 s; console:\n{}",
                container.console()
            )
        });
        container
    }

    /// The console output so far.
    pub fn console(&self) -> String {
        std::fs::read_to_string(&self.console_log).unwrap_or_default()
    }

    /// A command that runs `program` in all the container's namespaces, with a clean
    /// environment.
    pub fn command(&self, program: &str) -> Command {
        let mut command = Command::new(&self.nsenter);
        command
            .arg("--target")
            .arg(self.init_pid.to_string())
            .args(["--mount", "--uts", "--ipc", "--net", "--pid", "--cgroup"])
            .arg(program)
            .env_clear()
            .env(
                "PATH",
                "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin",
            )
            .env("LANG", "C.UTF-8")
            .env("SYSTEMD_COLORS", "0")
            .env("SYSTEMD_PAGER", "")
            .env("TERM", "dumb")
            .stdin(Stdio::null());
        command
    }

    /// Runs `args` in the container.
    pub fn run(&self, args: &[&str]) -> Output {
        output(self.command(args[0]).args(&args[1..]))
    }

    /// Runs `args` in the container and returns stdout, trimmed; panics if it fails.
    pub fn ok(&self, args: &[&str]) -> String {
        let out = self.run(args);
        assert!(
            out.status.success(),
            "{args:?} in the container failed ({}):\n{}{}",
            out.status,
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        );
        String::from_utf8_lossy(&out.stdout).trim().to_owned()
    }

    /// Runs a shell script in the container; returns (success, stdout + stderr).
    pub fn sh(&self, script: &str) -> (bool, String) {
        let out = self.run(&["/bin/sh", "-c", script]);
        let mut text = String::from_utf8_lossy(&out.stdout).into_owned();
        text.push_str(&String::from_utf8_lossy(&out.stderr));
        (out.status.success(), text)
    }

    /// The first line `systemctl is-active` (or similar) prints, success or not.
    pub fn first_line(&self, args: &[&str]) -> String {
        let out = self.run(args);
        String::from_utf8_lossy(&out.stdout)
            .lines()
            .next()
            .unwrap_or_default()
            .trim()
            .to_owned()
    }

    /// `systemctl show -p <each of properties>` of `unit`, as pairs.
    pub fn show(&self, unit: &str, properties: &[&str]) -> Vec<(String, String)> {
        let mut args = vec!["systemctl", "show", unit];
        for p in properties {
            args.push("-p");
            args.push(p);
        }
        self.ok(&args)
            .lines()
            .filter_map(|l| l.split_once('='))
            .map(|(k, v)| (k.to_owned(), v.to_owned()))
            .collect()
    }

    /// One property of `unit`.
    pub fn property(&self, unit: &str, property: &str) -> String {
        self.show(unit, &[property])
            .into_iter()
            .find(|(k, _)| k == property)
            .map(|(_, v)| v)
            .unwrap_or_default()
    }

    /// Waits until the boot finishes: `systemctl is-system-running` says running or degraded.
    pub fn wait_until_booted(&self, timeout: Duration) -> String {
        let state = poll(timeout, || {
            let state = self.first_line(&["systemctl", "is-system-running"]);
            matches!(state.as_str(), "running" | "degraded").then_some(state)
        });
        state.unwrap_or_else(|| {
            panic!(
                "the container did not finish booting in {timeout:?} (is-system-running: {}); \
                 jobs:\n{}\nconsole:\n{}",
                self.first_line(&["systemctl", "is-system-running"]),
                self.sh("systemctl list-jobs --no-pager").1,
                self.console()
            )
        })
    }

    /// What to print when the test fails: state, failed units and journals.
    fn diagnose(&self) {
        println!("[nspawn] ===== diagnostics (the test failed) =====");
        let mut script = String::from(
            "systemctl is-system-running; systemctl --failed --no-pager; \
             systemctl list-jobs --no-pager; ",
        );
        for unit in &self.diagnose_units {
            script.push_str(&format!(
                "echo '----- {unit}'; systemctl status --no-pager --full --lines=0 {unit}; \
                 journalctl --no-pager -o short-precise -n 150 -u {unit}; "
            ));
        }
        println!("{}", self.sh(&script).1);
        println!(
            "[nspawn] ===== end of diagnostics; the root file system stays in {} =====",
            self.console_log
                .parent()
                .map(Path::display)
                .unwrap_or(Path::new("?").display())
        );
    }
}

impl Drop for Container {
    fn drop(&mut self) {
        if std::thread::panicking() {
            self.diagnose();
        }
        if let Ok(None) = self.nspawn.try_wait() {
            // Ask systemd to power off; systemd-nspawn exits when it has.
            let _ = self
                .command("systemctl")
                .args(["poweroff", "--no-block"])
                .output();
            let exited = poll(Duration::from_secs(20), || {
                matches!(self.nspawn.try_wait(), Ok(Some(_))).then_some(())
            });
            if exited.is_none() {
                println!("[nspawn] the container did not power off in 20 s: killing it");
                // SIGKILL to the init of a PID namespace kills every process in it.
                let _ = Command::new("sh")
                    .args(["-c", "kill -s KILL \"$0\"", &self.init_pid.to_string()])
                    .status();
                let _ = self.nspawn.kill();
                let _ = self.nspawn.wait();
            }
        }
    }
}

/// The PID of a child of `parent` whose command name is `name`.
fn child_named(parent: u32, name: &str) -> Option<u32> {
    std::fs::read_dir("/proc").ok()?.find_map(|entry| {
        let pid: u32 = entry.ok()?.file_name().to_str()?.parse().ok()?;
        let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
        // pid (comm) state ppid ...; comm may contain spaces and parentheses.
        let (head, tail) = stat.rsplit_once(')')?;
        let comm = head.split_once('(')?.1;
        let ppid: u32 = tail.split_whitespace().nth(1)?.parse().ok()?;
        (ppid == parent && comm == name).then_some(pid)
    })
}
