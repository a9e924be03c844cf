//! A minimal Debian root file system: debootstrapped once into a cached tarball under
//! `target/nspawn/`, extracted afresh for every run, then filled with what the test installs.

use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::process::Command;

use super::{checked, output};

/// What debootstrap adds to `minbase`. `minbase` already has bash, coreutils, util-linux and
/// perl-base (the probes and the JSON-RPC client are Perl, because curl is not there).
pub const PACKAGES: &[&str] = &["systemd", "systemd-sysv", "dbus"];

/// Where the cached tarball comes from.
pub struct Bootstrap<'a> {
    pub debootstrap: &'a Path,
    pub mirror: &'a str,
    pub suite: &'a str,
}

impl Bootstrap<'_> {
    /// Cache key: suite, architecture and a hash of everything that shapes the tree.
    fn key(&self) -> String {
        let arch = std::env::consts::ARCH;
        let recipe = format!(
            "minbase|{}|{}|{}",
            self.mirror,
            self.suite,
            PACKAGES.join(",")
        );
        format!(
            "rootfs-{}-{arch}-{:016x}",
            self.suite,
            fnv1a(recipe.as_bytes())
        )
    }

    /// The cached tarball in `cache_dir`, made with debootstrap if it is not there yet.
    /// Returns the tarball and whether it was made now.
    pub fn tarball(&self, cache_dir: &Path) -> (PathBuf, bool) {
        let key = self.key();
        let tarball = cache_dir.join(format!("{key}.tar"));
        if tarball.is_file() {
            return (tarball, false);
        }
        std::fs::create_dir_all(cache_dir).expect("create the nspawn cache directory");
        let build = cache_dir.join(format!("build-{key}"));
        remove_tree(&build);
        let log_path = cache_dir.join(format!("{key}.debootstrap.log"));
        let log = std::fs::File::create(&log_path).expect("debootstrap log");
        println!(
            "[nspawn] debootstrap --variant=minbase --include={} {} {} (log: {})",
            PACKAGES.join(","),
            self.suite,
            self.mirror,
            log_path.display()
        );
        let status = Command::new(self.debootstrap)
            .arg("--variant=minbase")
            .arg(format!("--include={}", PACKAGES.join(",")))
            .arg(self.suite)
            .arg(&build)
            .arg(self.mirror)
            .stdout(log.try_clone().expect("log"))
            .stderr(log)
            .status()
            .expect("run debootstrap");
        let log_tail = || {
            let text = std::fs::read_to_string(&log_path).unwrap_or_default();
            let lines: Vec<&str> = text.lines().collect();
            lines[lines.len().saturating_sub(30)..].join("\n")
        };
        assert!(
            status.success(),
            "debootstrap failed ({status}); the end of {}:\n{}",
            log_path.display(),
            log_tail()
        );
        // Downloaded packages and package lists are not needed to boot.
        for dir in ["var/cache/apt/archives", "var/lib/apt/lists"] {
            checked(Command::new("find").arg(build.join(dir)).args([
                "-maxdepth",
                "1",
                "-type",
                "f",
                "-delete",
            ]));
        }
        let partial = cache_dir.join(format!("{key}.tar.partial"));
        checked(
            Command::new("tar")
                .arg("--numeric-owner")
                .arg("-C")
                .arg(&build)
                .arg("-cf")
                .arg(&partial)
                .arg("."),
        );
        std::fs::rename(&partial, &tarball).expect("move the tarball in place");
        remove_tree(&build);
        (tarball, true)
    }
}

/// Extracts `tarball` into the new directory `dest`.
pub fn extract(tarball: &Path, dest: &Path) {
    std::fs::create_dir_all(dest).expect("create the root directory");
    checked(
        Command::new("tar")
            .args(["--numeric-owner", "-xpf"])
            .arg(tarball)
            .arg("-C")
            .arg(dest),
    );
}

/// Removes a directory tree (a root file system: not following symlinks, not leaving this
/// file system).
pub fn remove_tree(dir: &Path) {
    if dir.exists() {
        checked(
            Command::new("rm")
                .arg("-rf")
                .arg("--one-file-system")
                .arg(dir),
        );
    }
}

/// A root file system being prepared.
pub struct Rootfs {
    pub root: PathBuf,
}

impl Rootfs {
    /// The host path of `path` inside the root, after checking that its parent directory,
    /// created if needed, does not lead out of the root through a symlink.
    pub fn path(&self, path: &str) -> PathBuf {
        let relative = path.trim_start_matches('/');
        assert!(!relative.is_empty(), "not a path inside the root: {path}");
        let host = self.root.join(relative);
        let parent = host.parent().expect("parent").to_owned();
        std::fs::create_dir_all(&parent)
            .unwrap_or_else(|e| panic!("create {}: {e}", parent.display()));
        let real_parent = parent.canonicalize().expect("canonical parent");
        let real_root = self.root.canonicalize().expect("canonical root");
        assert!(
            real_parent.starts_with(&real_root),
            "{path} leads out of the container root (to {})",
            real_parent.display()
        );
        host
    }

    /// Writes `contents` to `path` inside the root with `mode`.
    pub fn write(&self, path: &str, contents: impl AsRef<[u8]>, mode: u32) {
        let host = self.path(path);
        std::fs::write(&host, contents).unwrap_or_else(|e| panic!("write {path}: {e}"));
        std::fs::set_permissions(&host, std::fs::Permissions::from_mode(mode))
            .unwrap_or_else(|e| panic!("chmod {path}: {e}"));
    }

    /// Copies the host file `source` (following symlinks) to `path` inside the root.
    pub fn copy(&self, source: &Path, path: &str, mode: u32) {
        let contents =
            std::fs::read(source).unwrap_or_else(|e| panic!("read {}: {e}", source.display()));
        self.write(path, contents, mode);
    }

    /// Installs the executable `source` at `path` with the shared libraries it needs that the
    /// root lacks (copied from the host to the same path; the root is the host's release).
    pub fn install_executable(&self, source: &Path, path: &str) {
        self.copy(source, path, 0o755);
        for library in super::host::shared_libraries(source) {
            let inside = library.to_str().expect("UTF-8 library path");
            if !self.root.join(inside.trim_start_matches('/')).exists() {
                println!("[nspawn]   + {inside} (needed by {path})");
                self.copy(&library, inside, 0o644);
            }
        }
    }

    /// Enables `unit` (in /etc/systemd/system) for each target of its `WantedBy=`.
    pub fn enable(&self, unit: &str, wanted_by: &[String]) {
        assert!(!wanted_by.is_empty(), "{unit} has no WantedBy= to enable");
        for target in wanted_by {
            let link = self.path(&format!("/etc/systemd/system/{target}.wants/{unit}"));
            let _ = std::fs::remove_file(&link);
            std::os::unix::fs::symlink(format!("/etc/systemd/system/{unit}"), &link)
                .unwrap_or_else(|e| panic!("enable {unit} in {target}: {e}"));
        }
    }

    /// A fresh machine id, so that every run is a new machine.
    pub fn new_machine_id(&self) {
        let uuid = std::fs::read_to_string("/proc/sys/kernel/random/uuid").expect("random uuid");
        let id: String = uuid.trim().chars().filter(|c| *c != '-').collect();
        assert_eq!(id.len(), 32, "machine id from {uuid:?}");
        self.write("/etc/machine-id", format!("{id}\n"), 0o444);
    }

    /// Runs `ldconfig` in the root (for libraries copied to non-default directories).
    pub fn ldconfig(&self) {
        let out = output(Command::new("chroot").arg(&self.root).arg("/sbin/ldconfig"));
        assert!(
            out.status.success(),
            "ldconfig in the root: {}",
            String::from_utf8_lossy(&out.stderr)
        );
    }
}

/// 64-bit FNV-1a: a hash that is the same in every Rust release, for the cache key.
fn fnv1a(bytes: &[u8]) -> u64 {
    bytes.iter().fold(0xcbf2_9ce4_8422_2325, |hash, byte| {
        (hash ^ u64::from(*byte)).wrapping_mul(0x0000_0100_0000_01b3)
    })
}
