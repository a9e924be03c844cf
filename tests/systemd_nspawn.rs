//! A real systemd boots our units: a minimal Debian, debootstrapped from the mirror apt uses
//! (cached under `target/nspawn/`), runs in `systemd-nspawn --boot` with the repository's
//! `systemd/` units, the built binaries and a regtest bitcoind, and the test proves from the
//! outside (with `nsenter`) that
//!
//! a. the sockets listen while the service is not running,
//! b. the first connection starts the service, which then answers the CLI,
//! c. READY=1 and STATUS= reach systemd,
//! d. the journal holds the per-call fields (`RPC_METHOD`, `STATUS_CODE`, `DURATION_MS`),
//! e. the sandbox denies writes outside the state directory and filtered system calls (probed
//!    by an `ExecStartPre=` of a test-only drop-in, so under the very same sandbox), and the
//!    running server holds no capabilities, has no-new-privs and a seccomp filter,
//! f. `systemd-analyze security` rates the installed unit as it rates the file offline.
//!
//! It needs root, `systemd-nspawn`, `debootstrap`, `unshare`, `nsenter` and the mirror; without
//! any of them it prints SKIPPED and passes. Without bitcoind (`BITCOIND_EXE` or `PATH`) the
//! parts that need a running node print SKIPPED. `scripts/test` runs it with `--ignored`.

mod nspawn;

use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use nspawn::container::{Container, Tools};
use nspawn::host::{self, skipped};
use nspawn::rootfs::{self, Bootstrap, Rootfs};
use nspawn::units::{self, UnitFile};
use nspawn::{poll, Timings};

const TEST: &str = "systemd_nspawn";
const SERVER_BIN: &str = env!("CARGO_BIN_EXE_ldk-server");
const CLI_BIN: &str = env!("CARGO_BIN_EXE_ldk-server-cli");

/// The bitcoind the test runs inside the container.
const BITCOIND_UNIT: &str = "bitcoind-regtest.service";
const RPC_PORT: u16 = 18443;
const RPC_USER: &str = "ldk-nspawn";
const RPC_CLIENT: &str = "/usr/local/bin/regtest-rpc";

/// The sandbox probe, run as `ExecStartPre=` of ldk-server.service.
const PROBE: &str = "/usr/local/libexec/ldk-server-sandbox-probe";
const PROBE_RESULTS: &str = "sandbox-probe.txt";
const PROBE_TMP_FILE: &str = "/tmp/ldk-server-sandbox-probe";
/// A directory everyone may write to, outside the state directory: only the sandbox's
/// read-only file system keeps the service out.
const OPEN_DIR: &str = "/srv/ldk-server-sandbox-probe";

/// Everything the host must offer.
struct Host {
    tools: Tools,
    debootstrap: PathBuf,
    suite: String,
    mirror: String,
    bitcoind: Option<PathBuf>,
    analyze: Option<PathBuf>,
}

/// The host's tools and mirror, or `None` after a SKIPPED line.
fn preflight() -> Option<Host> {
    if !host::is_root() {
        skipped(TEST, "not root (systemd-nspawn needs root)");
        return None;
    }
    let mut missing = Vec::new();
    let mut tool = |name: &str| {
        let found = host::find_tool(name);
        if found.is_none() {
            missing.push(name.to_owned());
        }
        found.unwrap_or_default()
    };
    let tools = Tools {
        unshare: tool("unshare"),
        nspawn: tool("systemd-nspawn"),
        nsenter: tool("nsenter"),
    };
    let debootstrap = tool("debootstrap");
    if !missing.is_empty() {
        skipped(
            TEST,
            &format!(
                "missing {} (apt-get install debootstrap systemd-container)",
                missing.join(", ")
            ),
        );
        return None;
    }
    let Some(suite) = host::os_codename() else {
        skipped(TEST, "no VERSION_CODENAME in /etc/os-release");
        return None;
    };
    let Some(mirror) = host::apt_mirror(&suite) else {
        skipped(TEST, &format!("no apt source for {suite} in /etc/apt"));
        return None;
    };
    if let Err(why) = host::mirror_reachable(&mirror) {
        skipped(TEST, &format!("the mirror {mirror} is unreachable: {why}"));
        return None;
    }
    Some(Host {
        tools,
        debootstrap,
        suite,
        mirror,
        bitcoind: host::bitcoind(),
        analyze: host::find_tool("systemd-analyze"),
    })
}

/// The repository's units and what the test reads from them.
struct Units {
    dir: PathBuf,
    service: UnitFile,
    /// ldk-server-init.service: `--init` in its own, network-less sandbox at boot.
    init: UnitFile,
    grpc_socket: UnitFile,
    metrics_socket: UnitFile,
    /// `ExecStart=`'s binary: where the server is installed (the CLI goes next to it).
    server_path: String,
    cli_path: String,
    config_path: String,
    state_dir: String,
    credential_path: String,
    grpc: (String, u16),
    metrics: (String, u16),
}

impl Units {
    fn read() -> Self {
        let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("systemd");
        let service = UnitFile::read(&dir.join("ldk-server.service"));
        let init = UnitFile::read(&dir.join("ldk-server-init.service"));
        let grpc_socket = UnitFile::read(&dir.join("ldk-server.socket"));
        let metrics_socket = UnitFile::read(&dir.join("ldk-server-metrics.socket"));
        let exec = units::exec_start(&service);
        let server_path = exec[0].clone();
        assert!(
            server_path.starts_with('/'),
            "ExecStart= of ldk-server.service names no absolute path: {server_path}"
        );
        let cli_path = Path::new(&server_path)
            .with_file_name("ldk-server-cli")
            .display()
            .to_string();
        let config_path = exec
            .iter()
            .find(|arg| arg.ends_with(".toml"))
            .cloned()
            .unwrap_or_else(|| "/etc/ldk-server/config.toml".to_owned());
        let state_dir = format!(
            "/var/lib/{}",
            service
                .words("Service", "StateDirectory")
                .first()
                .expect("ldk-server.service has a StateDirectory=")
        );
        let source = units::credential_source(&service, "bitcoind-rpc-password").expect(
            "ldk-server.service loads the credential bitcoind-rpc-password (LoadCredential=)",
        );
        // A source that is not a path is looked up in the credential stores, /etc first.
        let credential_path = if source.starts_with('/') {
            source
        } else {
            format!("/etc/credstore/{source}")
        };
        let listen = |socket: &UnitFile| {
            let value = socket
                .value("Socket", "ListenStream")
                .unwrap_or_else(|| panic!("{} has no ListenStream=", socket.name));
            units::connect_address(&value)
        };
        let grpc = listen(&grpc_socket);
        let metrics = listen(&metrics_socket);
        Self {
            dir,
            service,
            init,
            grpc_socket,
            metrics_socket,
            server_path,
            cli_path,
            config_path,
            state_dir,
            credential_path,
            grpc,
            metrics,
        }
    }

    fn grpc_address(&self) -> String {
        socket_address(&self.grpc)
    }

    fn metrics_address(&self) -> String {
        socket_address(&self.metrics)
    }
}

fn socket_address((host, port): &(String, u16)) -> String {
    if host.contains(':') {
        format!("[{host}]:{port}")
    } else {
        format!("{host}:{port}")
    }
}

#[test]
#[ignore = "boots a Debian container with systemd-nspawn; scripts/test runs it"]
fn systemd_boots_and_sandboxes_the_units() {
    let Some(host) = preflight() else {
        return;
    };
    let mut timings = Timings::start();
    let units = Units::read();
    let target_dir = Path::new(SERVER_BIN)
        .ancestors()
        .nth(2)
        .expect("target directory")
        .to_owned();
    let cache_dir = target_dir.join("nspawn");

    // 1. The root file system: the cached tarball, extracted afresh.
    let (tarball, made) = Bootstrap {
        debootstrap: &host.debootstrap,
        mirror: &host.mirror,
        suite: &host.suite,
    }
    .tarball(&cache_dir);
    timings.phase(if made {
        "debootstrap (cold: no cached root file system)"
    } else {
        "debootstrap (cached)"
    });
    remove_old_runs(&cache_dir);
    let run_dir = cache_dir.join(format!("run-{}", std::process::id()));
    let rootfs = Rootfs {
        root: run_dir.join("root"),
    };
    rootfs::extract(&tarball, &rootfs.root);
    timings.phase("extract the root file system");

    // 2. What the test installs.
    let rpc_password = random_hex();
    install(&rootfs, &units, &host, &rpc_password);
    timings.phase("install binaries, units and configuration");

    // 3. Boot.
    let mut container = Container::boot(&host.tools, &rootfs.root, &run_dir.join("console.log"));
    container.diagnose_units = vec![
        "ldk-server.socket".into(),
        "ldk-server-metrics.socket".into(),
        "ldk-server.service".into(),
        "ldk-server-init.service".into(),
        BITCOIND_UNIT.into(),
    ];
    let state = container.wait_until_booted(Duration::from_secs(30));
    if state == "degraded" {
        println!(
            "[nspawn] the container booted degraded:\n{}",
            container.sh("systemctl --failed --no-pager").1
        );
    }
    timings.phase(&format!("boot the container ({state})"));

    if host.bitcoind.is_some() {
        mine_blocks(&container);
        timings.phase("bitcoind inside: RPC up, 101 blocks mined");
    } else {
        skipped(
            "systemd_nspawn READY, GetNodeInfo OK",
            "no bitcoind (set BITCOIND_EXE or put bitcoind on PATH): the node cannot start, \
             so only the sockets, the start on demand, the journal fields and the sandbox are \
             checked",
        );
    }

    check_init_unit(&container, &units);
    timings.phase("init unit: --init ran in its sandbox at boot; storage private");

    check_sockets_listen(&container, &units);
    timings.phase("a. sockets listen, service inactive");

    check_first_connection_starts_it(&container, &units, &rootfs, host.bitcoind.is_some());
    timings.phase("b. first connection starts the service; the CLI gets an answer");

    if host.bitcoind.is_some() {
        check_ready(&container);
        timings.phase("c. READY=1 reached systemd");
    }

    check_journal(&container, host.bitcoind.is_some());
    timings.phase("d. journal fields");

    if host.bitcoind.is_some() {
        check_metrics_socket(&container, &units);
        timings.phase("metrics socket serves /metrics");
    }

    check_sandbox(&container, &units, &rootfs);
    timings.phase("e. sandbox denials and process credentials");

    check_security_score(&container, &units, host.analyze.as_deref());
    timings.phase("f. systemd-analyze security, inside and offline");

    // Not asserted: what the container's journal says at warning level or worse, for the log.
    println!(
        "[nspawn] warnings and errors in the container's journal:\n{}",
        container
            .sh("journalctl --no-pager -o short-precise -p warning --no-hostname")
            .1
    );

    drop(container);
    timings.phase("power off");
    rootfs::remove_tree(&run_dir);
    timings.phase("remove the root file system");
    timings.summary();
}

/// Removes the root file systems of earlier runs (kept when they failed, for a post-mortem).
fn remove_old_runs(cache_dir: &Path) {
    let Ok(entries) = std::fs::read_dir(cache_dir) else {
        return;
    };
    for entry in entries.flatten() {
        if entry.file_name().to_string_lossy().starts_with("run-") {
            rootfs::remove_tree(&entry.path());
        }
    }
}

/// 32 random hex digits.
fn random_hex() -> String {
    let uuid = std::fs::read_to_string("/proc/sys/kernel/random/uuid").expect("random uuid");
    uuid.trim().replace('-', "")
}

fn install(rootfs: &Rootfs, units: &Units, host: &Host, rpc_password: &str) {
    rootfs.new_machine_id();
    rootfs.write("/etc/hostname", "ldk-nspawn\n", 0o644);

    println!(
        "[nspawn] installing {} and {}",
        units.server_path, units.cli_path
    );
    rootfs.install_executable(Path::new(SERVER_BIN), &units.server_path);
    rootfs.install_executable(Path::new(CLI_BIN), &units.cli_path);

    for unit in [
        &units.service,
        &units.init,
        &units.grpc_socket,
        &units.metrics_socket,
    ] {
        rootfs.write(
            &format!("/etc/systemd/system/{}", unit.name),
            &unit.text,
            0o644,
        );
    }
    for unit in [&units.init, &units.grpc_socket, &units.metrics_socket] {
        rootfs.enable(&unit.name, &unit.words("Install", "WantedBy"));
    }
    rootfs.copy(
        &units.dir.join("ldk-server.sysusers"),
        "/etc/sysusers.d/ldk-server.conf",
        0o644,
    );
    let tmpfiles = units.dir.join("ldk-server.tmpfiles");
    if tmpfiles.is_file() {
        rootfs.copy(&tmpfiles, "/etc/tmpfiles.d/ldk-server.conf", 0o644);
    }

    rootfs.write(&units.config_path, server_config(units), 0o644);
    // The credential store is root's alone (as ldk-server.tmpfiles makes it).
    let credential = rootfs.path(&units.credential_path);
    std::fs::set_permissions(
        credential.parent().expect("credential directory"),
        std::os::unix::fs::PermissionsExt::from_mode(0o700),
    )
    .expect("chmod the credential directory");
    rootfs.write(&units.credential_path, rpc_password, 0o600);

    // The sandbox probe, in a drop-in the repository does not have.
    rootfs.write(PROBE, probe_script(), 0o755);
    let open_dir = rootfs.path(&format!("{OPEN_DIR}/"));
    std::fs::create_dir_all(&open_dir).expect("create the open directory");
    std::fs::set_permissions(
        &open_dir,
        std::os::unix::fs::PermissionsExt::from_mode(0o1777),
    )
    .expect("chmod the open directory");
    // ExecStartPre=, not ExecStartPost=: with Type=notify the latter waits for READY=1, which
    // never comes without a chain source. Either runs with the service's full sandbox; `-`
    // keeps a broken probe from blocking the start (the missing results fail the test).
    rootfs.write(
        "/etc/systemd/system/ldk-server.service.d/sandbox-probe.conf",
        format!(
            "# Test only: probes the sandbox with the service's own settings.\n\
             [Service]\nExecStartPre=-{PROBE}\n"
        ),
        0o644,
    );

    if let Some(bitcoind) = &host.bitcoind {
        rootfs.install_executable(bitcoind, "/usr/local/bin/bitcoind");
        rootfs.write(
            &format!("/etc/systemd/system/{BITCOIND_UNIT}"),
            format!(
                "[Unit]\nDescription=Bitcoin Core on regtest, the chain of the ldk-server test\n\
                 [Service]\nExecStart=/usr/local/bin/bitcoind -regtest -server -listen=0 \
                 -rpcbind=127.0.0.1 -rpcallowip=127.0.0.1 -rpcport={RPC_PORT} \
                 -rpcuser={RPC_USER} -rpcpassword={rpc_password} -fallbackfee=0.0001 \
                 -datadir=/var/lib/bitcoind-regtest -printtoconsole=0\n\
                 StateDirectory=bitcoind-regtest\n\
                 [Install]\nWantedBy=multi-user.target\n"
            ),
            0o644,
        );
        rootfs.enable(BITCOIND_UNIT, &["multi-user.target".to_owned()]);
        rootfs.write(RPC_CLIENT, rpc_client_script(rpc_password), 0o700);
    }
    rootfs.ldconfig();
}

/// The server configuration: regtest on the bitcoind inside, the state directory of the unit,
/// the sockets' addresses, debug logging (so successful calls are logged too). No password:
/// it comes as the credential.
fn server_config(units: &Units) -> String {
    format!(
        r#"# Written by tests/systemd_nspawn.rs
[node]
network = "regtest"
grpc_service_address = "{grpc}"

[storage.disk]
dir_path = "{state}"

[bitcoind]
rpc_address = "127.0.0.1:{RPC_PORT}"
rpc_user = "{RPC_USER}"

[log]
level = "Debug"

[metrics]
enabled = true
listen_address = "{metrics}"
"#,
        grpc = units.grpc_address(),
        state = units.state_dir,
        metrics = units.metrics_address(),
    )
}

/// A JSON-RPC client for the bitcoind inside (minbase has Perl, not curl):
/// `regtest-rpc METHOD 'JSON params'` prints the response body.
fn rpc_client_script(rpc_password: &str) -> String {
    use base64::Engine;
    let auth =
        base64::engine::general_purpose::STANDARD.encode(format!("{RPC_USER}:{rpc_password}"));
    format!(
        r#"#!/usr/bin/perl
use strict;
use warnings;
use IO::Socket::INET;
my ($method, $params) = @ARGV;
my $body = qq({{"jsonrpc":"1.0","id":"t","method":"$method","params":$params}});
my $socket = IO::Socket::INET->new(PeerAddr => "127.0.0.1:{RPC_PORT}", Timeout => 10)
    or die "connect: $@\n";
print $socket "POST / HTTP/1.0\r\nHost: 127.0.0.1\r\nAuthorization: Basic {auth}\r\n"
    . "Content-Type: application/json\r\nContent-Length: " . length($body) . "\r\n\r\n" . $body;
local $/;
my $response = <$socket> // '';
my (undef, $content) = split /\r\n\r\n/, $response, 2;
print $content // '';
"#
    )
}

/// Calls bitcoind inside the container; `Err` with the reason if the call failed.
fn rpc(container: &Container, method: &str, params: &str) -> Result<serde_json::Value, String> {
    let out = container.run(&[RPC_CLIENT, method, params]);
    let text = String::from_utf8_lossy(&out.stdout);
    if !out.status.success() {
        return Err(format!(
            "{method}: {}{}",
            text,
            String::from_utf8_lossy(&out.stderr)
        ));
    }
    let reply: serde_json::Value =
        serde_json::from_str(&text).map_err(|e| format!("{method}: {e}: {text:?}"))?;
    match &reply["error"] {
        serde_json::Value::Null => Ok(reply["result"].clone()),
        error => Err(format!("{method}: {error}")),
    }
}

/// Waits for bitcoind's RPC and mines 101 blocks to an anyone-can-spend output (no wallet
/// needed).
fn mine_blocks(container: &Container) {
    let mut last_error = String::new();
    let up = poll(Duration::from_secs(60), || {
        rpc(container, "getblockchaininfo", "[]")
            .map_err(|e| last_error = e)
            .ok()
    });
    assert!(
        up.is_some(),
        "bitcoind's RPC inside the container did not answer in 60 s: {last_error}"
    );
    let info = rpc(container, "getdescriptorinfo", r#"["raw(51)"]"#).expect("getdescriptorinfo");
    let descriptor = info["descriptor"].as_str().expect("descriptor").to_owned();
    let blocks = rpc(
        container,
        "generatetodescriptor",
        &format!(r#"[101, "{descriptor}"]"#),
    )
    .expect("generatetodescriptor");
    assert_eq!(blocks.as_array().map(Vec::len), Some(101), "mined {blocks}");
    let height = rpc(container, "getblockcount", "[]").expect("getblockcount");
    println!("[nspawn] bitcoind inside the container: height {height}");
}

/// TCP ports in state LISTEN in the container's network namespace.
fn listening_ports(container: &Container) -> Vec<u16> {
    let tables = container.ok(&["cat", "/proc/net/tcp", "/proc/net/tcp6"]);
    let mut ports: Vec<u16> = tables
        .lines()
        .filter_map(|line| {
            let fields: Vec<&str> = line.split_whitespace().collect();
            let port = fields.get(1)?.rsplit_once(':')?.1;
            (fields.get(3) == Some(&"0A")).then(|| u16::from_str_radix(port, 16).ok())?
        })
        .collect();
    ports.sort_unstable();
    ports.dedup();
    ports
}

/// a. systemd holds both sockets; the service has not run.
/// ldk-server-init.service ran `--init` at boot under its sandbox (no network, the service's
/// system call filter, a user namespace) and left the storage owner-only: directories 0700, the
/// seed and API key 0400, the history database 0600, the certificate alone public.
fn check_init_unit(container: &Container, units: &Units) {
    let deadline = Instant::now() + Duration::from_secs(60);
    let mut state = String::new();
    while Instant::now() < deadline {
        state = container.first_line(&["systemctl", "is-active", &units.init.name]);
        if state == "active" || state == "failed" {
            break;
        }
        std::thread::sleep(Duration::from_millis(250));
    }
    let journal = container
        .sh(&format!(
            "journalctl --no-pager -o cat -u {}",
            units.init.name
        ))
        .1;
    assert_eq!(
        state, "active",
        "{} should have run and exited successfully; journal:\n{journal}",
        units.init.name
    );
    assert_eq!(container.property(&units.init.name, "Result"), "success");
    assert!(
        journal.contains("initialised"),
        "journal of the init unit:\n{journal}"
    );
    let dir = &units.state_dir;
    let expected = [
        (dir.clone(), "700"),
        (format!("{dir}/regtest"), "700"),
        (format!("{dir}/regtest/api_key"), "400"),
        (format!("{dir}/regtest/ldk_server_data.sqlite"), "600"),
        (format!("{dir}/keys_mnemonic"), "400"),
        (format!("{dir}/tls.key"), "400"),
        (format!("{dir}/tls.crt"), "644"),
    ];
    for (path, mode) in expected {
        let found = container.first_line(&["stat", "-c", "%a %U", &path]);
        assert_eq!(
            found,
            format!("{mode} ldk-server"),
            "{path} after {}",
            units.init.name
        );
    }
    println!(
        "[nspawn]    {} ran --init at boot (PrivateNetwork=yes); storage modes as expected",
        units.init.name
    );
}

fn check_sockets_listen(container: &Container, units: &Units) {
    println!("[nspawn] a. sockets listen while the service is inactive");
    for socket in ["ldk-server.socket", "ldk-server-metrics.socket"] {
        let state = container.first_line(&["systemctl", "is-active", socket]);
        assert_eq!(
            state, "active",
            "{socket} should be active (listening) after boot, is {state}"
        );
    }
    let service = container.first_line(&["systemctl", "is-active", "ldk-server.service"]);
    assert_eq!(
        service, "inactive",
        "ldk-server.service should not run before the first connection, is {service}"
    );
    let ports = listening_ports(container);
    for (what, (_, port)) in [("gRPC", &units.grpc), ("metrics", &units.metrics)] {
        assert!(
            ports.contains(port),
            "the {what} port {port} should be listening (held by systemd) before the service \
             runs; listening: {ports:?}"
        );
    }
    println!(
        "[nspawn]    sockets active, ports {} and {} listening, ldk-server.service inactive",
        units.grpc.1, units.metrics.1
    );
}

/// b. A connection to the gRPC socket starts the service; the CLI then gets an answer from it.
fn check_first_connection_starts_it(
    container: &Container,
    units: &Units,
    rootfs: &Rootfs,
    node_can_run: bool,
) {
    println!("[nspawn] b. the first connection starts the service");
    // The first connection cannot be the CLI's: it needs the certificate and API key that the
    // server creates when it first starts. Any TCP connection starts it; a bare one will do.
    let (host, port) = &units.grpc;
    let (connected, output) = container.sh(&format!(
        "exec bash -c 'exec 3<>/dev/tcp/{host}/{port} && sleep 0.2'"
    ));
    assert!(connected, "cannot connect to {host}:{port}: {output}");
    let state = poll(Duration::from_secs(15), || {
        let state = container.first_line(&["systemctl", "is-active", "ldk-server.service"]);
        matches!(state.as_str(), "activating" | "active").then_some(state)
    });
    assert!(
        state.is_some(),
        "a connection to {host}:{port} should start ldk-server.service; it is {}",
        container.first_line(&["systemctl", "is-active", "ldk-server.service"])
    );
    println!(
        "[nspawn]    ldk-server.service is {} after the first connection",
        state.unwrap_or_default()
    );

    // The server creates its certificate and API key on start.
    let cert = format!("{}/tls.crt", units.state_dir);
    let key = format!("{}/regtest/api_key", units.state_dir);
    let files = poll(Duration::from_secs(30), || {
        let (cert_path, key_path) = (rootfs.root.join(&cert[1..]), rootfs.root.join(&key[1..]));
        // The key file holds 32 raw bytes; a shorter one is still being written.
        let key = std::fs::read(key_path).ok().filter(|k| k.len() == 32)?;
        cert_path.is_file().then_some(key)
    });
    files
        .unwrap_or_else(|| panic!("the started server should create {cert} and {key} within 30 s"));

    // As an operator would: the CLI finds address, certificate and key through the server's
    // configuration, whose bitcoind password exists only as the service's credential.
    let cli = |args: &[&str]| {
        let out = container
            .command(&units.cli_path)
            .args(["--config", &units.config_path])
            .args(args)
            .output()
            .expect("run the CLI in the container");
        (
            out.status.code(),
            String::from_utf8_lossy(&out.stdout).into_owned(),
            String::from_utf8_lossy(&out.stderr).into_owned(),
        )
    };
    if node_can_run {
        // UNAVAILABLE (exit 6) while the node starts; then the node's info.
        let mut last = (None, String::new(), String::new());
        let answered = poll(Duration::from_secs(90), || {
            last = cli(&["get-node-info"]);
            (last.0 == Some(0)).then(|| last.1.clone())
        });
        let info = answered.unwrap_or_else(|| {
            panic!(
                "ldk-server-cli get-node-info inside the container should succeed within 90 s; \
                 last exit {:?}:\n{}{}",
                last.0, last.1, last.2
            )
        });
        let info: serde_json::Value = serde_json::from_str(&info).expect("get-node-info JSON");
        println!(
            "[nspawn]    ldk-server-cli get-node-info: node_id {} at height {}",
            info["node_id"], info["current_best_block"]["height"]
        );
    } else {
        let (code, stdout, stderr) = cli(&["get-node-info"]);
        assert_eq!(
            code,
            Some(6),
            "without a chain source the started server should answer get-node-info with \
             UNAVAILABLE (CLI exit 6):\n{stdout}{stderr}"
        );
        println!(
            "[nspawn]    ldk-server-cli get-node-info: {}",
            stderr.trim()
        );
    }
}

/// c. READY=1 reached systemd: active (running), with the server's STATUS= text.
fn check_ready(container: &Container) {
    println!("[nspawn] c. READY=1 reaches systemd");
    let mut last_status = String::new();
    let mut last = Vec::new();
    let ready = poll(Duration::from_secs(120), || {
        last = container.show(
            "ldk-server.service",
            &["ActiveState", "SubState", "StatusText"],
        );
        let get = |key: &str| {
            last.iter()
                .find(|(k, _)| k == key)
                .map(|(_, v)| v.clone())
                .unwrap_or_default()
        };
        let status = get("StatusText");
        if status != last_status {
            println!("[nspawn]    StatusText={status}");
            last_status = status.clone();
        }
        (get("ActiveState") == "active" && get("SubState") == "running").then_some(status)
    });
    let status = ready.unwrap_or_else(|| {
        panic!("ldk-server.service should become active (running) after READY=1; it is {last:?}")
    });
    assert!(
        !status.is_empty(),
        "the server should report a STATUS= text"
    );
    println!("[nspawn]    active (running): {status}");
}

/// d. The per-call record of GetNodeInfo, with its journal fields.
fn check_journal(container: &Container, node_can_run: bool) {
    println!("[nspawn] d. the journal holds the per-call fields");
    // With the node running the call succeeded (logged at debug, which the config enables);
    // without, it failed with UNAVAILABLE (logged at info).
    let expected_code = if node_can_run { "0" } else { "14" };
    let field = |entry: &serde_json::Value, name: &str| entry[name].as_str().map(str::to_owned);
    let mut seen = Vec::new();
    let found = poll(Duration::from_secs(15), || {
        let out = container.ok(&[
            "journalctl",
            "--no-pager",
            "-o",
            "json",
            "-u",
            "ldk-server.service",
            "RPC_METHOD=GetNodeInfo",
        ]);
        seen = out
            .lines()
            .filter_map(|line| serde_json::from_str::<serde_json::Value>(line).ok())
            .collect();
        seen.iter()
            .find(|e| field(e, "STATUS_CODE").as_deref() == Some(expected_code))
            .cloned()
    });
    let entry = found.unwrap_or_else(|| {
        panic!(
            "the journal of ldk-server.service should hold RPC_METHOD=GetNodeInfo with \
             STATUS_CODE={expected_code}; it has {} GetNodeInfo entries: {seen:?}",
            seen.len()
        )
    });
    assert!(
        field(&entry, "DURATION_MS").is_some(),
        "the GetNodeInfo entry should have DURATION_MS: {entry}"
    );
    assert_eq!(
        field(&entry, "SYSLOG_IDENTIFIER").as_deref(),
        Some("ldk-server"),
        "SYSLOG_IDENTIFIER of the GetNodeInfo entry: {entry}"
    );
    println!(
        "[nspawn]    RPC_METHOD=GetNodeInfo STATUS_CODE={} DURATION_MS={} PRIORITY={} \
         SYSLOG_IDENTIFIER=ldk-server",
        expected_code,
        field(&entry, "DURATION_MS").unwrap_or_default(),
        field(&entry, "PRIORITY").unwrap_or_default()
    );
}

/// The plain-HTTP metrics listener, passed by ldk-server-metrics.socket, serves /metrics.
fn check_metrics_socket(container: &Container, units: &Units) {
    println!("[nspawn] the metrics socket serves plain-HTTP /metrics");
    let (host, port) = &units.metrics;
    let (ok, response) = container.sh(&format!(
        "exec bash -c 'exec 3<>/dev/tcp/{host}/{port} && \
         printf \"GET /metrics HTTP/1.0\\r\\nHost: {host}\\r\\n\\r\\n\" >&3 && cat <&3'"
    ));
    assert!(
        ok && response.starts_with("HTTP/1.") && response.contains("ldk_server_"),
        "GET /metrics on {host}:{port} should answer Prometheus text with ldk_server_ series:\n\
         {response}"
    );
    let status = response.lines().next().unwrap_or_default();
    let series = response
        .lines()
        .filter(|l| l.starts_with("ldk_server_"))
        .count();
    println!("[nspawn]    {status}, {series} ldk_server_ samples");
}

/// The probe: run by systemd as `ExecStartPre=` of ldk-server.service, so with its user, mount
/// namespace, capabilities and system call filter. Writes one line per probe to the state
/// directory: `<name> ok`, `<name> errno=<n> <text>` or `<name> signal=<n>`.
fn probe_script() -> String {
    // System call numbers of getpid and ptrace (PTRACE_TRACEME needs no privilege).
    let (getpid, ptrace) = match std::env::consts::ARCH {
        "x86_64" => (39, 101),
        "aarch64" => (172, 117),
        _ => (-1, -1),
    };
    format!(
        r#"#!/usr/bin/perl
use strict;
use warnings;
my $dir = (split /:/, $ENV{{STATE_DIRECTORY}} // "")[0] or die "no STATE_DIRECTORY\n";
my @results = ("uid $<");
sub create {{
    my ($name, $path) = @_;
    if (open(my $fh, '>', $path)) {{ close $fh; push @results, "$name ok"; }}
    else {{ push @results, sprintf("%s errno=%d %s", $name, $! + 0, $!); }}
}}
sub call {{
    my ($name, @args) = @_;
    return push @results, "$name unknown-architecture" if $args[0] < 0;
    my $pid = fork // die "fork: $!\n";
    if ($pid == 0) {{ my $r = syscall($args[0], @args[1 .. $#args]); exit($r == -1 ? $! + 0 : 0); }}
    waitpid($pid, 0);
    if ($? & 127) {{ push @results, "$name signal=" . ($? & 127); }}
    elsif ($? >> 8) {{ local $! = $? >> 8; push @results, sprintf("%s errno=%d %s", $name, $! + 0, $!); }}
    else {{ push @results, "$name ok"; }}
}}
create("etc", "/etc/ldk-server-sandbox-probe");
create("open", "{OPEN_DIR}/probe");
create("state", "$dir/probe-ok");
create("tmp", "{PROBE_TMP_FILE}");
call("getpid", {getpid});
call("ptrace", {ptrace}, 0, 0, 0, 0);
open(my $out, '>', "$dir/{PROBE_RESULTS}") or die "$dir/{PROBE_RESULTS}: $!\n";
print $out "$_\n" for @results;
close $out or die "$!\n";
"#
    )
}

/// e. The sandbox denies what it should, and the running server holds no privileges.
fn check_sandbox(container: &Container, units: &Units, rootfs: &Rootfs) {
    println!("[nspawn] e. the service's sandbox");
    let results_path = rootfs
        .root
        .join(units.state_dir.trim_start_matches('/'))
        .join(PROBE_RESULTS);
    let results = std::fs::read_to_string(&results_path).unwrap_or_else(|e| {
        panic!(
            "the sandbox probe (ExecStartPre={PROBE}) should have written {}: {e}",
            results_path.display()
        )
    });
    for line in results.lines() {
        println!("[nspawn]    probe: {line}");
    }
    let result = |name: &str| {
        results
            .lines()
            .find_map(|l| l.strip_prefix(name)?.strip_prefix(' '))
            .unwrap_or_else(|| panic!("the probe reported nothing for {name}:\n{results}"))
            .to_owned()
    };
    assert_ne!(result("uid"), "0", "the probe should not run as root");
    assert!(
        result("etc").starts_with("errno=30 "),
        "creating a file in /etc should fail with EROFS (ProtectSystem=strict), got {}",
        result("etc")
    );
    assert!(
        result("open").starts_with("errno=30 "),
        "creating a file in {OPEN_DIR} (mode 1777) should fail with EROFS (ProtectSystem=strict), \
         got {}",
        result("open")
    );
    assert_eq!(
        result("state"),
        "ok",
        "creating a file in the state directory should work"
    );
    assert_eq!(
        result("tmp"),
        "ok",
        "creating a file in /tmp should work (PrivateTmp=)"
    );
    let (visible, _) = container.sh(&format!("test -e {PROBE_TMP_FILE}"));
    assert!(
        !visible,
        "{PROBE_TMP_FILE}, created by the service, should not be visible outside it \
         (PrivateTmp=)"
    );
    match result("ptrace").as_str() {
        "unknown-architecture" => skipped(
            "systemd_nspawn filtered system call probe",
            &format!("no system call numbers for {}", std::env::consts::ARCH),
        ),
        ptrace => {
            assert_eq!(result("getpid"), "ok", "the probe's allowed call (getpid)");
            check_ptrace_is_filtered(container);
            assert!(
                ptrace.starts_with("errno=1 "),
                "ptrace(PTRACE_TRACEME), not in the unit's SystemCallFilter=, should fail with \
                 EPERM (SystemCallErrorNumber=EPERM), got {ptrace}"
            );
        }
    }

    // The running server itself.
    let main_pid = container.property("ldk-server.service", "MainPID");
    assert!(
        main_pid != "0" && !main_pid.is_empty(),
        "ldk-server.service should have a main process"
    );
    let status = container.ok(&["cat", &format!("/proc/{main_pid}/status")]);
    let field = |name: &str| {
        status
            .lines()
            .find_map(|l| l.strip_prefix(name)?.strip_prefix(':'))
            .map(|v| v.trim().to_owned())
            .unwrap_or_else(|| panic!("no {name} in /proc/{main_pid}/status:\n{status}"))
    };
    assert_eq!(
        field("Seccomp"),
        "2",
        "the server runs under a seccomp filter"
    );
    assert_eq!(field("NoNewPrivs"), "1", "the server has no-new-privs");
    for set in ["CapInh", "CapPrm", "CapEff", "CapBnd", "CapAmb"] {
        assert_eq!(
            field(set),
            "0000000000000000",
            "{set} of the server (pid {main_pid} in the container) should be empty"
        );
    }
    println!(
        "[nspawn]    main pid {main_pid}: Seccomp 2, NoNewPrivs 1, all capability sets empty, \
         uid {}",
        field("Uid")
    );
}

/// ptrace is outside the unit's filter: `systemctl show -p SystemCallFilter` lists the
/// resolved set (an allow list, or `~` and a deny list).
fn check_ptrace_is_filtered(container: &Container) {
    let groups = container.ok(&["systemd-analyze", "syscall-filter", "--no-pager"]);
    let mut group = String::new();
    let mut in_groups = Vec::new();
    for line in groups.lines() {
        // A group's name starts a line; its members (calls and nested groups) are indented.
        if line.starts_with('@') {
            group = line.trim().to_owned();
        } else if line.trim() == "ptrace" && group != "@known" {
            in_groups.push(group.clone());
        }
    }
    let filter = container.property("ldk-server.service", "SystemCallFilter");
    let (deny, list) = match filter.strip_prefix('~') {
        Some(list) => (true, list),
        None => (false, filter.as_str()),
    };
    let listed = list.split_whitespace().any(|s| s == "ptrace");
    assert!(
        !filter.is_empty() && listed == deny,
        "ldk-server.service's SystemCallFilter= should not allow ptrace (in {in_groups:?}): \
         {filter}"
    );
    println!(
        "[nspawn]    ptrace is in {} and not allowed by the unit's filter",
        in_groups.join(" ")
    );
}

/// The "Overall exposure level for <unit>: X.Y" number of `systemd-analyze security`.
fn exposure(output: &str) -> Option<String> {
    output.lines().find_map(|line| {
        let rest = line.split("Overall exposure level for ").nth(1)?;
        let (_, score) = rest.split_once(": ")?;
        score.split_whitespace().next().map(str::to_owned)
    })
}

/// f. The installed, running unit scores as the repository's file does offline.
fn check_security_score(container: &Container, units: &Units, analyze: Option<&Path>) {
    println!("[nspawn] f. systemd-analyze security, inside and offline");
    let inside = container.ok(&[
        "systemd-analyze",
        "security",
        "--no-pager",
        "ldk-server.service",
    ]);
    let inside_score =
        exposure(&inside).unwrap_or_else(|| panic!("no overall exposure level in:\n{inside}"));
    let Some(analyze) = analyze else {
        skipped(
            "systemd_nspawn offline security score",
            "no systemd-analyze on the host",
        );
        println!("[nspawn]    inside the container: {inside_score}");
        return;
    };
    let unit = units.dir.join("ldk-server.service");
    let offline = nspawn::checked(
        std::process::Command::new(analyze)
            .args(["security", "--offline=true", "--no-pager"])
            .arg(&unit)
            .env("SYSTEMD_COLORS", "0"),
    );
    let offline_score =
        exposure(&offline).unwrap_or_else(|| panic!("no overall exposure level in:\n{offline}"));
    assert_eq!(
        inside_score, offline_score,
        "systemd-analyze security: the unit running under systemd scores {inside_score}, the \
         file offline {offline_score}"
    );
    println!("[nspawn]    exposure {inside_score} inside the container and offline");
}
