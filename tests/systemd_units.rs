//! The bare-metal systemd files in `systemd/`, checked without booting anything: systemd's own
//! `systemd-analyze verify` and `systemd-analyze security --offline=true` on the units (the
//! init unit exposed no more than the service), `systemd-sysusers` and `systemd-tmpfiles` on
//! the sysusers and tmpfiles files (into temporary roots), the settings the server relies on
//! read from the unit files, and the example `config.toml` run through the real binary. And the
//! NixOS side as far as it is text: the module's drop-in for the init unit sets nothing of its
//! sandbox, and README.md quotes `nixos-module/example.nix` verbatim.
//!
//! Run with `cargo test --test systemd_units -- --nocapture` to see the full security table.
//! Without `systemd-analyze` (Debian: `apt install systemd`) the tests that need it print
//! SKIPPED and pass.

use std::fs;
use std::io::ErrorKind;
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};
use std::time::{Duration, Instant};

#[path = "common/unit_file.rs"]
mod unit_file;

use ldk_server::config::EX_CONFIG;
use ldk_server::systemd::listeners::{GRPC_FD_NAME, METRICS_FD_NAME};
use unit_file::UnitFile;

const SERVICE: &str = "ldk-server.service";
const INIT_SERVICE: &str = "ldk-server-init.service";
const GRPC_SOCKET: &str = "ldk-server.socket";
const METRICS_SOCKET: &str = "ldk-server-metrics.socket";
/// Where the service expects the binary; the verify test points a copy at the built one.
const INSTALLED_BINARY: &str = "/usr/local/bin/ldk-server";
const INSTALLED_CONFIG: &str = "/etc/ldk-server/config.toml";
/// The highest overall exposure `systemd-analyze security` may report.
const MAX_EXPOSURE: f64 = 1.1;
/// The credentials the server reads from `$CREDENTIALS_DIRECTORY`.
const CREDENTIALS: [&str; 3] = ["api_key", "bitcoind-rpc-password", "metrics-password"];

/// Every check `systemd-analyze security` may still fail for the service, and why it stays.
const ACCEPTED_EXPOSURES: &[(&str, &str)] = &[
    (
        "PrivateNetwork=",
        "a Lightning node needs the host's network for its peers and its chain source",
    ),
    (
        "IPAddressDeny=",
        "peers and chain sources may be anywhere; the API sockets are limited to localhost in \
         their .socket units instead",
    ),
    (
        "RestrictAddressFamilies=~AF_(INET|INET6)",
        "TCP to peers, the chain source and the passed API sockets",
    ),
    (
        "RestrictAddressFamilies=~AF_UNIX",
        "journald's native protocol and sd_notify",
    ),
    (
        "RootDirectory=/RootImage=",
        "a bare-metal install runs the binary and libraries of the host",
    ),
    (
        "DeviceAllow=",
        "ProtectClock=yes itself adds char-rtc:r to the device list (PrivateDevices=yes hides \
         /dev/rtc anyway); without ProtectClock= the exposure would be higher",
    ),
];

/// Every check `systemd-analyze security` may still fail for the init unit, and why it stays.
const INIT_ACCEPTED_EXPOSURES: &[(&str, &str)] = &[
    (
        "RestrictAddressFamilies=~AF_UNIX",
        "journald's native protocol (a socket in the file system, so PrivateNetwork= keeps it)",
    ),
    (
        "RootDirectory=/RootImage=",
        "a bare-metal install runs the binary and libraries of the host",
    ),
    (
        "DeviceAllow=",
        "ProtectClock=yes itself adds char-rtc:r (PrivateDevices=yes hides /dev/rtc anyway)",
    ),
];

/// The sandbox directives of the service that the init unit must carry with the same value.
const SHARED_SANDBOX: &[&str] = &[
    "User",
    "Group",
    "StateDirectory",
    "StateDirectoryMode",
    "UMask",
    "CapabilityBoundingSet",
    "AmbientCapabilities",
    "NoNewPrivileges",
    "RestrictSUIDSGID",
    "PrivateUsers",
    "ProtectSystem",
    "ProtectHome",
    "PrivateTmp",
    "PrivateDevices",
    "DevicePolicy",
    "PrivateMounts",
    "NoExecPaths",
    "ExecPaths",
    "ProtectKernelTunables",
    "ProtectKernelModules",
    "ProtectKernelLogs",
    "ProtectClock",
    "ProtectHostname",
    "ProtectControlGroups",
    "ProtectProc",
    "ProcSubset",
    "PrivateIPC",
    "RemoveIPC",
    "KeyringMode",
    "RestrictNamespaces",
    "RestrictRealtime",
    "LockPersonality",
    "MemoryDenyWriteExecute",
    "SystemCallFilter",
    "SystemCallErrorNumber",
    "SystemCallArchitectures",
];

/// What the NixOS module's drop-in for the init unit may set: the command (the generated
/// configuration), its publishing step for the CLI, and the credential from a file.
const INIT_DROPIN_ALLOWED: &[&str] = &["ExecStart", "ExecStartPost", "LoadCredential"];

fn units_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("systemd")
}

/// Reads a unit of `systemd/`.
fn read_unit(name: &str) -> UnitFile {
    UnitFile::read(&units_dir().join(name))
}

/// The `systemd` version that `systemd-analyze` belongs to, or `None` (after a loud message)
/// when it is not installed.
fn systemd_analyze_version() -> Option<u32> {
    match Command::new("systemd-analyze").arg("--version").output() {
        Ok(out) => {
            let text = String::from_utf8_lossy(&out.stdout);
            let version = text
                .split_whitespace()
                .nth(1)
                .and_then(|v| v.parse().ok())
                .unwrap_or_else(|| panic!("unexpected `systemd-analyze --version`: {text}"));
            Some(version)
        }
        Err(e) if e.kind() == ErrorKind::NotFound => {
            skipped("systemd-analyze not installed (apt install systemd)");
            None
        }
        Err(e) => panic!("cannot run systemd-analyze: {e}"),
    }
}

fn skipped(why: &str) {
    println!("\n*** SKIPPED: {why} ***\n");
    eprintln!("\n*** SKIPPED: {why} ***\n");
}

fn run(command: &mut Command) -> Output {
    command
        .env("SYSTEMD_COLORS", "0")
        .env("SYSTEMD_PAGER", "")
        .output()
        .unwrap_or_else(|e| panic!("cannot run {command:?}: {e}"))
}

fn text(bytes: &[u8]) -> String {
    String::from_utf8_lossy(bytes).into_owned()
}

#[test]
fn systemd_analyze_verify_finds_nothing_to_report() {
    if systemd_analyze_version().is_none() {
        return;
    }
    // `verify` checks that ExecStart= is an executable file. The installed path does not exist
    // here, so a copy of the units runs the binary this test was built with; nothing else
    // changes.
    let dir = tempfile::tempdir().unwrap();
    let service = fs::read_to_string(units_dir().join(SERVICE)).unwrap();
    let exec_start = format!("ExecStart={INSTALLED_BINARY} {INSTALLED_CONFIG}\n");
    assert_eq!(
        service.matches(&exec_start).count(),
        1,
        "{SERVICE} must have exactly one `{}`",
        exec_start.trim_end()
    );
    let built = env!("CARGO_BIN_EXE_ldk-server");
    let copy = service.replace(
        &exec_start,
        &format!("ExecStart={built} {INSTALLED_CONFIG}\n"),
    );
    fs::write(dir.path().join(SERVICE), copy).unwrap();
    let init = fs::read_to_string(units_dir().join(INIT_SERVICE)).unwrap();
    let init_exec_start = format!("ExecStart={INSTALLED_BINARY} --init {INSTALLED_CONFIG}\n");
    assert_eq!(
        init.matches(&init_exec_start).count(),
        1,
        "{INIT_SERVICE} must have exactly one `{}`",
        init_exec_start.trim_end()
    );
    let copy = init.replace(
        &init_exec_start,
        &format!("ExecStart={built} --init {INSTALLED_CONFIG}\n"),
    );
    fs::write(dir.path().join(INIT_SERVICE), copy).unwrap();
    for socket in [GRPC_SOCKET, METRICS_SOCKET] {
        fs::copy(units_dir().join(socket), dir.path().join(socket)).unwrap();
    }

    let out = run(Command::new("systemd-analyze")
        .arg("verify")
        .args([SERVICE, INIT_SERVICE, GRPC_SOCKET, METRICS_SOCKET].map(|u| dir.path().join(u))));
    let (stdout, stderr) = (text(&out.stdout), text(&out.stderr));
    println!("systemd-analyze verify: {}\n{stdout}{stderr}", out.status);
    assert!(
        out.status.success() && stdout.is_empty() && stderr.is_empty(),
        "systemd-analyze verify must print nothing and succeed, got {}:\n{stdout}{stderr}",
        out.status
    );
}

/// `systemd-analyze security --offline=true` on a unit of `systemd/`: the checks it fails and
/// the overall exposure, after printing the table; `None` (after a loud message) where
/// `systemd-analyze` is missing or too old for `--offline`.
fn offline_security(unit: &str) -> Option<(Vec<String>, f64)> {
    let version = systemd_analyze_version()?;
    if version < 250 {
        skipped(&format!(
            "systemd-analyze security --offline needs systemd 250 or newer, this is {version}"
        ));
        return None;
    }
    let out = run(Command::new("systemd-analyze")
        .args(["security", "--offline=true", "--no-pager"])
        .arg(units_dir().join(unit)));
    let (stdout, stderr) = (text(&out.stdout), text(&out.stderr));
    println!("systemd-analyze security --offline=true {unit}:\n{stdout}{stderr}");
    assert!(
        out.status.success(),
        "systemd-analyze security failed ({}):\n{stdout}{stderr}",
        out.status
    );
    let failed = stdout
        .lines()
        .filter_map(|line| line.strip_prefix("✗ "))
        .map(|rest| rest.split_whitespace().next().unwrap_or(rest).to_owned())
        .collect();
    let marker = format!("Overall exposure level for {unit}:");
    let overall = stdout
        .lines()
        .find_map(|line| line.split_once(&marker).map(|(_, rest)| rest))
        .unwrap_or_else(|| panic!("no `{marker}` line in:\n{stdout}"));
    let exposure: f64 = overall
        .split_whitespace()
        .next()
        .and_then(|n| n.parse().ok())
        .unwrap_or_else(|| panic!("cannot read the exposure in `{overall}`"));
    Some((failed, exposure))
}

/// Asserts that `unit` fails no check beyond `accepted`, printing why each accepted one stays.
fn assert_only_accepted(unit: &str, failed: &[String], accepted: &[(&str, &str)]) {
    println!("checks {unit} fails, and why:");
    let mut unexplained = Vec::new();
    for name in failed {
        match accepted.iter().find(|(accepted, _)| accepted == name) {
            Some((_, why)) => println!("  ✗ {name}: {why}"),
            None => unexplained.push(name.as_str()),
        }
    }
    assert!(
        unexplained.is_empty(),
        "{unit} newly fails these checks: {unexplained:?} (fix the unit, or explain them in the \
         accepted list)"
    );
}

#[test]
fn systemd_analyze_security_exposure_is_at_most_1_1() {
    let Some((failed, exposure)) = offline_security(SERVICE) else {
        return;
    };
    assert_only_accepted(SERVICE, &failed, ACCEPTED_EXPOSURES);
    println!("overall exposure: {exposure} (at most {MAX_EXPOSURE})");
    assert!(
        exposure <= MAX_EXPOSURE,
        "overall exposure {exposure} is above {MAX_EXPOSURE}"
    );
}

#[test]
fn the_init_unit_is_exposed_no_more_than_the_service() {
    let Some((failed, init)) = offline_security(INIT_SERVICE) else {
        return;
    };
    let Some((_, service)) = offline_security(SERVICE) else {
        return;
    };
    assert_only_accepted(INIT_SERVICE, &failed, INIT_ACCEPTED_EXPOSURES);
    println!("overall exposure: {INIT_SERVICE} {init}, {SERVICE} {service}");
    assert!(
        init <= service,
        "{INIT_SERVICE} is exposed more ({init}) than {SERVICE} ({service})"
    );
}

#[test]
fn the_init_unit_has_the_service_sandbox_and_no_network() {
    let init = read_unit(INIT_SERVICE);
    let service = read_unit(SERVICE);
    let s = "Service";
    for key in SHARED_SANDBOX {
        assert!(
            !service.assignments(s, key).is_empty(),
            "{SERVICE} has no {key}=: SHARED_SANDBOX is out of date"
        );
        assert_eq!(
            init.assignments(s, key),
            service.assignments(s, key),
            "{INIT_SERVICE}: {key}= as in {SERVICE}"
        );
    }
    // Tighter than the service: no network at all, Unix sockets only (journald).
    assert_eq!(init.expect(s, "PrivateNetwork"), "yes");
    assert_eq!(init.words(s, "IPAddressDeny"), ["any"]);
    assert_eq!(init.words(s, "RestrictAddressFamilies"), ["AF_UNIX"]);
    // Only the API key: creating the files needs no password.
    assert_eq!(
        init.values(s, "LoadCredential"),
        ["api_key:ldk-server.api_key"]
    );

    assert_eq!(init.expect(s, "Type"), "oneshot");
    assert_eq!(init.expect(s, "RemainAfterExit"), "yes");
    assert_eq!(
        init.expect(s, "ExecStart"),
        format!("{INSTALLED_BINARY} --init {INSTALLED_CONFIG}")
    );
    assert!(init.words("Unit", "Before").contains(&SERVICE.into()));
    assert_eq!(init.words("Install", "WantedBy"), ["multi-user.target"]);
}

/// The text between the `{` that ends `opening` and its matching `}` in `text`.
fn nix_block<'a>(text: &'a str, opening: &str) -> &'a str {
    let start = text
        .find(opening)
        .unwrap_or_else(|| panic!("no `{opening}` in the module"))
        + opening.len();
    assert!(
        opening.ends_with('{'),
        "`{opening}` must end with the block's {{"
    );
    let mut depth = 1;
    for (i, c) in text[start..].char_indices() {
        match c {
            '{' => depth += 1,
            '}' => {
                depth -= 1;
                if depth == 0 {
                    return &text[start..start + i];
                }
            }
            _ => {}
        }
    }
    panic!("`{opening}` is not closed");
}

/// The attribute names a Nix attribute set body assigns at its top level (`name = ...;`).
fn nix_top_level_keys(body: &str) -> Vec<String> {
    let mut keys = Vec::new();
    let mut depth = 0i32;
    for line in body.lines() {
        let trimmed = line.trim();
        if depth == 0 && !trimmed.starts_with('#') {
            if let Some((key, _)) = trimmed.split_once(" = ") {
                if key
                    .chars()
                    .all(|c| c.is_ascii_alphanumeric() || c == '.' || c == '-')
                {
                    keys.push(key.to_owned());
                }
            }
        }
        depth += line.matches(['{', '[', '(']).count() as i32;
        depth -= line.matches(['}', ']', ')']).count() as i32;
    }
    keys
}

#[test]
fn the_nixos_module_sets_nothing_of_the_init_unit_sandbox() {
    let module =
        fs::read_to_string(Path::new(env!("CARGO_MANIFEST_DIR")).join("nixos-module/default.nix"))
            .unwrap();
    let dropin = nix_block(&module, "systemd.services.ldk-server-init = {");
    let service_config = nix_block(dropin, "serviceConfig = {");
    let keys = nix_top_level_keys(service_config);
    println!("the module's drop-in for {INIT_SERVICE} sets: {keys:?}");
    assert!(!keys.is_empty(), "no serviceConfig keys found");
    for key in &keys {
        assert!(
            INIT_DROPIN_ALLOWED.contains(&key.as_str()),
            "nixos-module/default.nix sets {key}= on {INIT_SERVICE}: the sandbox belongs in \
             systemd/{INIT_SERVICE}, where it is analysed"
        );
    }
    // The command and the credentials are replaced, not added to: both start with a reset.
    let compact: String = service_config.split_whitespace().collect();
    assert!(
        compact.contains("ExecStart=[\"\""),
        "ExecStart= is not reset"
    );
    assert!(
        compact.contains("LoadCredential=[\"\"]"),
        "LoadCredential= is not reset"
    );
    // The root steps (publishing the certificate and key, installing declared API keys) are
    // the only commands that run outside the sandbox: each is "+" and nothing else is added.
    let post = compact
        .split_once("ExecStartPost=[")
        .and_then(|(_, rest)| rest.split_once("];"))
        .map(|(list, _)| list)
        .expect("ExecStartPost= is a list");
    let steps: Vec<&str> = post.split('"').filter(|s| !s.is_empty()).collect();
    assert!(
        steps.contains(&"+${publishForOperators}"),
        "ExecStartPost= lacks the root (+) publishing step: {steps:?}"
    );
    assert!(
        steps.iter().all(|step| step.starts_with("+${")),
        "every ExecStartPost= step must be a root (+) script of the module: {steps:?}"
    );
    // The unit itself comes from the package, sandbox and all.
    assert!(module.contains("systemd.packages = [ cfg.package ];"));
    let package =
        fs::read_to_string(Path::new(env!("CARGO_MANIFEST_DIR")).join("nix/package.nix")).unwrap();
    assert!(
        package.contains("for service in ldk-server.service ldk-server-init.service; do"),
        "nix/package.nix must install {INIT_SERVICE}"
    );

    // The service's drop-in resets ConfigurationDirectory=: the configuration is in the store.
    let service_dropin = nix_block(&module, "systemd.services.ldk-server = {");
    let compact: String = service_dropin.split_whitespace().collect();
    assert!(
        compact.contains("ConfigurationDirectory=\"\";"),
        "the module must reset ConfigurationDirectory= of {SERVICE}"
    );
}

#[test]
fn the_readme_quotes_the_nixos_example_verbatim() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    let example = fs::read_to_string(root.join("nixos-module/example.nix")).unwrap();
    let readme = fs::read_to_string(root.join("README.md")).unwrap();
    // The file without its leading comment, as the README's `nix` block after the marker.
    let body: String = example
        .lines()
        .skip_while(|line| line.starts_with('#'))
        .map(|line| format!("{line}\n"))
        .collect();
    let marker = "`nixos-module/example.nix`:";
    let after = readme
        .split_once(marker)
        .unwrap_or_else(|| panic!("README.md has no `{marker}`"))
        .1;
    let block = after
        .split_once("```nix\n")
        .and_then(|(_, rest)| rest.split_once("```\n"))
        .map(|(block, _)| block)
        .unwrap_or_else(|| panic!("no ```nix block after `{marker}` in README.md"));
    assert_eq!(
        block, body,
        "README.md must quote nixos-module/example.nix (after its comment) verbatim"
    );
}

#[test]
fn the_service_is_sandboxed_and_notifies() {
    let unit = read_unit(SERVICE);
    let s = "Service";
    let is = |key: &str, expected: &str| {
        assert_eq!(unit.expect(s, key), expected, "{SERVICE}: {key}=");
    };

    // Lifecycle: readiness, status and watchdog over sd_notify; a start may wait for the chain
    // source indefinitely, with the watchdog guarding against a wedged one.
    is("Type", "notify");
    is("NotifyAccess", "main");
    is("TimeoutStartSec", "infinity");
    assert!(
        unit.value(s, "WatchdogSec").is_some_and(|v| v != "0"),
        "{SERVICE}: WatchdogSec= must be set"
    );
    is("Restart", "on-failure");
    assert!(
        unit.words(s, "RestartPreventExitStatus")
            .contains(&EX_CONFIG.to_string()),
        "{SERVICE}: an invalid configuration (exit {EX_CONFIG}) must not be restarted"
    );
    is("ExecReload", "kill -HUP $MAINPID");
    is(
        "ExecStart",
        &format!("{INSTALLED_BINARY} {INSTALLED_CONFIG}"),
    );

    // Sockets: the gRPC one is required, the metrics one optional.
    assert!(unit.words("Unit", "Requires").contains(&GRPC_SOCKET.into()));
    assert!(unit.words("Unit", "Wants").contains(&METRICS_SOCKET.into()));
    for after in [GRPC_SOCKET, METRICS_SOCKET, "network-online.target"] {
        assert!(
            unit.words("Unit", "After").contains(&after.into()),
            "{SERVICE}: After={after}"
        );
    }

    // Identity and directories.
    is("User", "ldk-server");
    is("Group", "ldk-server");
    is("StateDirectory", "ldk-server");
    is("StateDirectoryMode", "0700");
    is("ConfigurationDirectory", "ldk-server");
    is("UMask", "0077");

    // Credentials: exactly the server's names, each loaded by name from the credential stores
    // (a relative source), which systemd skips when absent; an absolute path that is missing
    // would fail the start.
    let mut loaded = Vec::new();
    for value in unit.assignments(s, "LoadCredential") {
        let (name, source) = value.split_once(':').unwrap_or((value, value));
        assert!(
            !source.starts_with('/'),
            "{SERVICE}: LoadCredential={value} names a path, which fails the start when missing"
        );
        assert_eq!(
            source,
            format!("ldk-server.{name}"),
            "{SERVICE}: LoadCredential={value}: the store name must be ldk-server.<name>"
        );
        loaded.push(name);
    }
    loaded.sort_unstable();
    assert_eq!(loaded, CREDENTIALS, "{SERVICE}: LoadCredential= names");

    // Privileges: none held, none to gain.
    for key in ["CapabilityBoundingSet", "AmbientCapabilities"] {
        assert_eq!(
            unit.assignments(s, key),
            [""],
            "{SERVICE}: {key}= must be set, and empty"
        );
    }
    for key in [
        "NoNewPrivileges",
        "PrivateUsers",
        "ProtectHome",
        "PrivateTmp",
        "PrivateDevices",
        "PrivateMounts",
        "PrivateIPC",
        "ProtectKernelTunables",
        "ProtectKernelModules",
        "ProtectKernelLogs",
        "ProtectClock",
        "ProtectHostname",
        "ProtectControlGroups",
        "RestrictNamespaces",
        "RestrictRealtime",
        "RestrictSUIDSGID",
        "LockPersonality",
        "MemoryDenyWriteExecute",
        "RemoveIPC",
    ] {
        is(key, "yes");
    }
    is("ProtectSystem", "strict");
    is("ProtectProc", "invisible");
    is("ProcSubset", "pid");
    is("DevicePolicy", "closed");
    is("KeyringMode", "private");
    is("SystemCallArchitectures", "native");
    is("NoExecPaths", "/");
    assert!(
        unit.words(s, "ExecPaths")
            .iter()
            .any(|path| INSTALLED_BINARY
                .strip_prefix(path.as_str())
                .is_some_and(|rest| rest.starts_with('/'))),
        "{SERVICE}: ExecPaths= must cover {INSTALLED_BINARY}"
    );
    assert_eq!(
        unit.words(s, "RestrictAddressFamilies"),
        ["AF_INET", "AF_INET6", "AF_UNIX"]
    );

    // System calls: the service set minus privileged and resource calls, failing with EPERM
    // (the server's own capability drop must see an error, not be killed).
    let filters = unit.assignments(s, "SystemCallFilter");
    assert_eq!(filters.first().copied(), Some("@system-service"));
    let denied = filters
        .iter()
        .filter_map(|f| f.strip_prefix('~'))
        .flat_map(str::split_whitespace)
        .collect::<Vec<_>>();
    for group in ["@privileged", "@resources"] {
        assert!(
            denied.contains(&group),
            "{SERVICE}: SystemCallFilter=~{group}"
        );
    }
    is("SystemCallErrorNumber", "EPERM");

    // The node must reach peers anywhere: no IP allow list on the service, and none of the
    // `IPAddressAllow=any` kind that would only move the score.
    for key in ["IPAddressAllow", "IPAddressDeny"] {
        assert_eq!(
            unit.assignments(s, key),
            Vec::<&str>::new(),
            "{SERVICE}: {key}= belongs on the .socket units"
        );
    }
}

#[test]
fn sockets_pass_named_localhost_listeners_to_the_service() {
    let config = fs::read_to_string(units_dir().join("config.toml")).unwrap();
    for (name, fd_name, config_key) in [
        (GRPC_SOCKET, GRPC_FD_NAME, "grpc_service_address"),
        (METRICS_SOCKET, METRICS_FD_NAME, "listen_address"),
    ] {
        let unit = read_unit(name);
        let s = "Socket";
        let listen = unit.expect(s, "ListenStream");
        assert_eq!(unit.expect(s, "FileDescriptorName"), fd_name, "{name}");
        assert_eq!(unit.expect(s, "Service"), SERVICE, "{name}");
        assert_eq!(unit.words(s, "IPAddressDeny"), ["any"], "{name}");
        assert_eq!(unit.words(s, "IPAddressAllow"), ["localhost"], "{name}");
        assert_eq!(
            unit.words("Install", "WantedBy"),
            ["sockets.target"],
            "{name}"
        );
        assert!(
            listen.starts_with("127.0.0.1:"),
            "{name}: ListenStream={listen}"
        );
        // The example configuration names the same address: it is where the CLI connects and
        // what the server binds when it is started by hand.
        let line = format!("{config_key} = \"{listen}\"");
        assert!(
            config.lines().any(|l| l.trim() == line),
            "config.toml must set `{line}` to match {name}"
        );
    }
    assert_eq!(read_unit(GRPC_SOCKET).expect("Socket", "NoDelay"), "true");
}

#[test]
fn sysusers_and_tmpfiles_create_the_user_and_the_credential_store() {
    let service = read_unit(SERVICE);
    let root = tempfile::tempdir().unwrap();
    fs::create_dir(root.path().join("etc")).unwrap();

    let sysusers = Command::new("systemd-sysusers")
        .arg(format!("--root={}", root.path().display()))
        .arg(units_dir().join("ldk-server.sysusers"))
        .output();
    match sysusers {
        Err(e) if e.kind() == ErrorKind::NotFound => {
            skipped("systemd-sysusers not installed (apt install systemd)");
            return;
        }
        Err(e) => panic!("cannot run systemd-sysusers: {e}"),
        Ok(out) => assert!(
            out.status.success(),
            "systemd-sysusers failed ({}): {}",
            out.status,
            text(&out.stderr)
        ),
    }
    let passwd = fs::read_to_string(root.path().join("etc/passwd")).unwrap();
    let user = passwd
        .lines()
        .find(|l| l.starts_with("ldk-server:"))
        .unwrap_or_else(|| panic!("no ldk-server in /etc/passwd:\n{passwd}"));
    let fields: Vec<&str> = user.split(':').collect();
    let uid: u32 = fields[2].parse().unwrap();
    assert!(uid > 0 && uid < 1000, "not a system user: {user}");
    assert_eq!(
        fields[5],
        format!("/var/lib/{}", service.expect("Service", "StateDirectory")),
        "home directory: {user}"
    );
    assert!(fields[6].ends_with("/nologin"), "login shell: {user}");
    let group = fs::read_to_string(root.path().join("etc/group")).unwrap();
    assert!(
        group.lines().any(|l| l.starts_with("ldk-server:")),
        "no ldk-server group:\n{group}"
    );

    let tmpfiles = run(Command::new("systemd-tmpfiles")
        .arg("--create")
        .arg(format!("--root={}", root.path().display()))
        .arg(units_dir().join("ldk-server.tmpfiles")));
    assert!(
        tmpfiles.status.success(),
        "systemd-tmpfiles failed ({}): {}",
        tmpfiles.status,
        text(&tmpfiles.stderr)
    );
    let store = fs::metadata(root.path().join("etc/credstore")).unwrap();
    assert!(store.is_dir());
    assert_eq!(store.permissions().mode() & 0o7777, 0o700, "/etc/credstore");
}

/// Runs the built server on the example configuration (storage and gRPC address overridden,
/// credentials in a temporary `$CREDENTIALS_DIRECTORY`) and returns its exit code, or `None`
/// when it got past reading its configuration and serves the API, with its stderr.
fn run_example_config(credentials: &[(&str, &[u8])]) -> (Option<i32>, String) {
    let dir = tempfile::tempdir().unwrap();
    let storage = dir.path().join("storage");
    let creds = dir.path().join("credentials");
    fs::create_dir(&creds).unwrap();
    for (name, content) in credentials {
        let path = creds.join(name);
        fs::write(&path, content).unwrap();
        fs::set_permissions(&path, fs::Permissions::from_mode(0o400)).unwrap();
    }
    let log = dir.path().join("stderr");
    let mut child = Command::new(env!("CARGO_BIN_EXE_ldk-server"))
        .arg(units_dir().join("config.toml"))
        .arg("--storage-dir-path")
        .arg(&storage)
        .args(["--node-grpc-service-address", "127.0.0.1:0"])
        .env_clear()
        .env("CREDENTIALS_DIRECTORY", &creds)
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(fs::File::create(&log).unwrap())
        .spawn()
        .expect("starting ldk-server");
    let deadline = Instant::now() + Duration::from_secs(30);
    let code = loop {
        if let Some(status) = child.try_wait().unwrap() {
            break Some(status.code().unwrap_or(-1));
        }
        if fs::read_to_string(&log)
            .unwrap()
            .contains("serving the gRPC API")
        {
            break None;
        }
        if Instant::now() > deadline {
            let _ = child.kill();
            panic!(
                "ldk-server neither served nor exited in 30 s:\n{}",
                fs::read_to_string(&log).unwrap()
            );
        }
        std::thread::sleep(Duration::from_millis(100));
    };
    let _ = child.kill();
    let _ = child.wait();
    let stderr = fs::read_to_string(&log).unwrap();
    if code.is_none() {
        // The API key credential was used: no key was generated in the storage directory.
        let generated = storage.join("signet").join("api_key");
        let has_key = credentials.iter().any(|(name, _)| *name == "api_key");
        assert_eq!(
            generated.exists(),
            !has_key,
            "api_key credential given: {has_key}, {} generated: {}",
            generated.display(),
            generated.exists()
        );
    }
    (code, stderr)
}

#[test]
fn the_example_config_is_accepted_with_its_credentials() {
    let (code, stderr) = run_example_config(&[
        ("bitcoind-rpc-password", b"rpc-secret\n"),
        ("api_key", &[7u8; 32]),
    ]);
    println!("with credentials: exit {code:?}\n{stderr}");
    match code {
        None => {}
        // Another process holds the metrics port of the example; the configuration was read.
        Some(code) if code != EX_CONFIG && stderr.contains("cannot listen on 127.0.0.1:3537") => {
            skipped("127.0.0.1:3537 is in use; the configuration itself was accepted");
        }
        Some(code) => panic!("ldk-server exited {code} on systemd/config.toml:\n{stderr}"),
    }

    // Without the credential the password is missing: the file really holds no secret.
    let (code, stderr) = run_example_config(&[]);
    println!("without credentials: exit {code:?}\n{stderr}");
    assert_eq!(code, Some(EX_CONFIG), "{stderr}");
    assert!(stderr.contains("bitcoind.rpc_password"), "{stderr}");
}
