//! The real `ldk-server` binary under the parts of systemd a service meets, without systemd as
//! PID 1: sockets passed as by socket activation (by the test itself with `LISTEN_FDS`, and by
//! `systemd-socket-activate`), a notify socket the test binds (`STATUS=`, `READY=1`,
//! `WATCHDOG=1`, `RELOADING=1`, `STOPPING=1`), a real `systemd-journald` in a private mount
//! namespace, and the capability sets of a server started as root.

mod common;

use std::collections::BTreeSet;
use std::io::{Read, Write};
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::os::fd::{AsRawFd, RawFd};
use std::os::unix::net::UnixDatagram;
use std::os::unix::process::CommandExt;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use common::chain::Chain;
use common::{free_port, unreachable_chain_config, ServerProcess};
use ldk_server::proto::api::GetNodeInfoRequest;
use tonic::Code;

/// How often the watchdog must be fed in the notify tests: every 0.5 s.
const WATCHDOG_USEC: u64 = 1_000_000;

fn loopback(port: u16) -> SocketAddr {
    SocketAddr::from(([127, 0, 0, 1], port))
}

fn is_root() -> bool {
    // SAFETY: geteuid has no preconditions.
    unsafe { libc::geteuid() == 0 }
}

/// The TCP ports the process `pid` listens on: its socket fds matched against its network
/// namespace's socket tables.
fn listening_ports(pid: u32) -> BTreeSet<u16> {
    let inodes: BTreeSet<String> = std::fs::read_dir(format!("/proc/{pid}/fd"))
        .expect("fd table")
        .filter_map(|entry| std::fs::read_link(entry.ok()?.path()).ok())
        .filter_map(|target| {
            let target = target.to_string_lossy().into_owned();
            Some(
                target
                    .strip_prefix("socket:[")?
                    .strip_suffix(']')?
                    .to_owned(),
            )
        })
        .collect();
    let mut ports = BTreeSet::new();
    for table in ["tcp", "tcp6"] {
        let text = std::fs::read_to_string(format!("/proc/{pid}/net/{table}")).unwrap_or_default();
        for line in text.lines().skip(1) {
            let fields: Vec<&str> = line.split_whitespace().collect();
            let (Some(local), Some(state), Some(inode)) =
                (fields.get(1), fields.get(3), fields.get(9))
            else {
                continue;
            };
            const LISTEN: &str = "0A";
            if *state == LISTEN && inodes.contains(*inode) {
                let port = local.rsplit(':').next().expect("port");
                ports.insert(u16::from_str_radix(port, 16).expect("hex port"));
            }
        }
    }
    ports
}

/// Makes the child inherit `fds` as fds 3, 4, … (what systemd does for a socket-activated
/// service). Duplicates go through high, close-on-exec numbers first, so that a source that
/// already is 3 or 4 is neither clobbered nor left close-on-exec.
fn pass_fds(command: &mut Command, fds: Vec<RawFd>) {
    // SAFETY: only async-signal-safe calls (fcntl, dup2) run between fork and exec.
    unsafe {
        command.pre_exec(move || {
            let mut high = Vec::with_capacity(fds.len());
            for fd in &fds {
                let copy = libc::fcntl(*fd, libc::F_DUPFD_CLOEXEC, 100);
                if copy < 0 {
                    return Err(std::io::Error::last_os_error());
                }
                high.push(copy);
            }
            for (index, copy) in high.iter().enumerate() {
                if libc::dup2(*copy, 3 + index as RawFd) < 0 {
                    return Err(std::io::Error::last_os_error());
                }
            }
            Ok(())
        });
    }
}

/// `sh` sets `LISTEN_PID` (or another `*_PID` variable) to its own pid, then becomes the server.
const AS_OWN_PID: &str = "export ${PID_VARIABLE}=$$; exec \"$@\"";

/// A plain HTTP/1.1 GET; returns the status code and body.
fn http_get(address: SocketAddr, path: &str) -> (u16, String) {
    let mut stream = TcpStream::connect(address).expect("connect");
    stream
        .set_read_timeout(Some(Duration::from_secs(10)))
        .unwrap();
    write!(
        stream,
        "GET {path} HTTP/1.1\r\nHost: {address}\r\nConnection: close\r\n\r\n"
    )
    .unwrap();
    let mut response = String::new();
    stream.read_to_string(&mut response).expect("response");
    let status = response
        .split_whitespace()
        .nth(1)
        .and_then(|code| code.parse().ok())
        .unwrap_or_else(|| panic!("not an HTTP response: {response:?}"));
    let body = response
        .split_once("\r\n\r\n")
        .map(|(_, body)| body.to_owned())
        .unwrap_or_default();
    (status, body)
}

/// GetNodeInfo while the chain source is down: UNAVAILABLE "node starting", which proves the
/// gRPC API (TLS, HMAC) is served.
async fn expect_node_starting(server: &ServerProcess) {
    let mut client = server.client().await;
    let status = client
        .get_node_info(GetNodeInfoRequest {})
        .await
        .expect_err("the node cannot run without its chain source");
    assert_eq!(status.code(), Code::Unavailable, "{status:?}");
    assert!(
        status.message().starts_with("node starting"),
        "{}",
        status.message()
    );
}

#[tokio::test]
async fn named_sockets_are_served_and_nothing_else_is_bound() {
    let grpc = TcpListener::bind("127.0.0.1:0").unwrap();
    let metrics = TcpListener::bind("127.0.0.1:0").unwrap();
    let grpc_address = grpc.local_addr().unwrap();
    let metrics_address = metrics.local_addr().unwrap();
    // The configured addresses, which the server must not bind when it is handed sockets.
    let configured_grpc = loopback(free_port());
    let configured_metrics = loopback(free_port());
    let config = unreachable_chain_config(&format!(
        "[metrics]\nenabled = true\nlisten_address = \"{configured_metrics}\"\n"
    ))
    .replace("{grpc}", &configured_grpc.to_string());

    // Metrics first: the names, not the order, decide.
    let fds = vec![metrics.as_raw_fd(), grpc.as_raw_fd()];
    let mut server = ServerProcess::spawn_wrapped(
        tempfile::tempdir().unwrap(),
        grpc_address,
        &config,
        &["sh", "-c", AS_OWN_PID, "sh"],
        |command| {
            command
                .env("PID_VARIABLE", "LISTEN_PID")
                .env("LISTEN_FDS", "2")
                .env("LISTEN_FDNAMES", "metrics:grpc");
            pass_fds(command, fds);
        },
    );
    server.wait_for_files();
    expect_node_starting(&server).await;

    let (status, body) = http_get(metrics_address, "/metrics");
    assert_eq!(status, 200, "{body}");
    assert!(body.contains("ldk_server_"), "{body}");
    assert_eq!(
        http_get(metrics_address, "/healthz"),
        (503, "starting\n".to_owned())
    );
    assert_eq!(http_get(metrics_address, "/other").0, 404);

    let ports = listening_ports(server.pid());
    assert_eq!(
        ports,
        BTreeSet::from([grpc_address.port(), metrics_address.port()]),
        "the server must listen on exactly the passed sockets"
    );
    for address in [configured_grpc, configured_metrics] {
        assert!(
            TcpStream::connect(address).is_err(),
            "{address} from the configuration was bound"
        );
    }
    assert!(
        server.log().contains("SocketActivation"),
        "the log should say where the listeners came from:\n{}",
        server.log()
    );
    let exit = server.stop().expect("exit status");
    assert!(exit.success(), "{exit:?}\n{}", server.log());
}

#[tokio::test]
async fn without_passed_sockets_the_configured_addresses_are_bound() {
    let grpc_address = loopback(free_port());
    let metrics_address = loopback(free_port());
    let config = unreachable_chain_config(&format!(
        "[metrics]\nenabled = true\nlisten_address = \"{metrics_address}\"\n"
    ));
    let mut server = ServerProcess::start_in(tempfile::tempdir().unwrap(), grpc_address, &config);
    expect_node_starting(&server).await;
    let (status, body) = http_get(metrics_address, "/metrics");
    assert_eq!(status, 200, "{body}");
    assert_eq!(
        listening_ports(server.pid()),
        BTreeSet::from([grpc_address.port(), metrics_address.port()])
    );
    assert!(server.stop().expect("exit").success());
}

#[tokio::test]
async fn a_single_socket_from_systemd_socket_activate_is_grpc() {
    let Some(activate) = find_program("systemd-socket-activate") else {
        println!("SKIPPED: systemd-socket-activate is not installed (apt install systemd)");
        return;
    };
    let grpc_address = loopback(free_port());
    let config = unreachable_chain_config("").replace("{grpc}", &loopback(free_port()).to_string());
    let listen = format!("--listen={grpc_address}");
    let mut server = ServerProcess::spawn_wrapped(
        tempfile::tempdir().unwrap(),
        grpc_address,
        &config,
        &[activate.to_str().unwrap(), &listen],
        |_| {},
    );
    // systemd-socket-activate listens, and starts the server at the first connection.
    server.wait_for("listen", || TcpStream::connect(grpc_address).is_ok());
    server.wait_for_files();
    expect_node_starting(&server).await;
    assert_eq!(
        listening_ports(server.pid()),
        BTreeSet::from([grpc_address.port()])
    );
    assert!(server.stop().expect("exit").success(), "{}", server.log());
}

fn find_program(name: &str) -> Option<PathBuf> {
    let path = std::env::var_os("PATH")?;
    std::env::split_paths(&path)
        .chain([
            PathBuf::from("/lib/systemd"),
            PathBuf::from("/usr/lib/systemd"),
        ])
        .map(|dir| dir.join(name))
        .find(|candidate| candidate.is_file())
}

/// The datagrams a notify socket received, with their arrival times.
struct NotifySocket {
    path: PathBuf,
    received: Arc<Mutex<Vec<(Instant, String)>>>,
}

impl NotifySocket {
    fn bind(dir: &Path) -> Self {
        let path = dir.join("notify.sock");
        let socket = UnixDatagram::bind(&path).expect("bind the notify socket");
        let received = Arc::new(Mutex::new(Vec::new()));
        let sink = Arc::clone(&received);
        std::thread::spawn(move || {
            let mut buffer = vec![0u8; 4096];
            while let Ok(length) = socket.recv(&mut buffer) {
                let message = String::from_utf8_lossy(&buffer[..length]).into_owned();
                sink.lock().unwrap().push((Instant::now(), message));
            }
        });
        Self { path, received }
    }

    /// Every `KEY=value` line received so far, with its arrival time.
    fn lines(&self) -> Vec<(Instant, String)> {
        self.received
            .lock()
            .unwrap()
            .iter()
            .flat_map(|(at, message)| {
                message
                    .lines()
                    .map(|line| (*at, line.to_owned()))
                    .collect::<Vec<_>>()
            })
            .collect()
    }

    fn wait_for(&self, what: &str, timeout: Duration, found: impl Fn(&str) -> bool) -> Instant {
        let deadline = Instant::now() + timeout;
        loop {
            if let Some((at, _)) = self.lines().into_iter().find(|(_, line)| found(line)) {
                return at;
            }
            assert!(
                Instant::now() < deadline,
                "no {what} within {timeout:?}; received: {:#?}",
                self.lines().iter().map(|(_, l)| l).collect::<Vec<_>>()
            );
            std::thread::sleep(Duration::from_millis(20));
        }
    }
}

/// Starts a server that notifies `socket`, with the watchdog enabled for its own pid.
fn start_notifying(config: &str, socket: &NotifySocket, dir: tempfile::TempDir) -> ServerProcess {
    let notify_path = socket.path.clone();
    let mut server = ServerProcess::spawn_wrapped(
        dir,
        loopback(free_port()),
        config,
        &["sh", "-c", AS_OWN_PID, "sh"],
        |command| {
            command
                .env("PID_VARIABLE", "WATCHDOG_PID")
                .env("NOTIFY_SOCKET", notify_path)
                .env("WATCHDOG_USEC", WATCHDOG_USEC.to_string());
        },
    );
    server.wait_for_files();
    server
}

/// The longest gap between two consecutive `WATCHDOG=1` after `since`, and how many came.
fn watchdog_pings(socket: &NotifySocket, since: Instant) -> (Duration, usize) {
    let pings: Vec<Instant> = socket
        .lines()
        .into_iter()
        .filter(|(at, line)| *at >= since && line == "WATCHDOG=1")
        .map(|(at, _)| at)
        .collect();
    let longest = pings
        .windows(2)
        .map(|pair| pair[1] - pair[0])
        .max()
        .unwrap_or(Duration::MAX);
    (longest, pings.len())
}

#[tokio::test]
async fn notify_status_ready_watchdog_reload_and_stopping() {
    let Some(chain) = Chain::start("notify_status_ready_watchdog_reload_and_stopping") else {
        return;
    };
    let dir = tempfile::tempdir().unwrap();
    let socket = NotifySocket::bind(dir.path());
    let config = chain.node_config("notify", free_port(), "");
    let mut server = start_notifying(&config, &socket, tempfile::tempdir().unwrap());

    let preparing = socket.wait_for("startup STATUS", Duration::from_secs(10), |line| {
        line == "STATUS=preparing storage, keys and TLS"
    });
    let ready = socket.wait_for("READY=1", Duration::from_secs(60), |line| line == "READY=1");
    assert!(preparing <= ready);
    let lines = socket.lines();
    assert!(
        lines
            .iter()
            .any(|(at, line)| *at == ready && line.starts_with("STATUS=running: node ")),
        "READY=1 comes with a running status: {lines:#?}"
    );
    assert!(
        lines
            .iter()
            .any(|(at, line)| *at < ready && line.starts_with("STATUS=node starting: ")),
        "the start phase is reported: {lines:#?}"
    );

    // Fed at half the watchdog timeout while the node runs: never a gap systemd would punish.
    tokio::time::sleep(Duration::from_secs(3)).await;
    let (longest, count) = watchdog_pings(&socket, ready);
    assert!(count >= 4, "only {count} WATCHDOG=1 in 3 s");
    assert!(
        longest < Duration::from_micros(WATCHDOG_USEC),
        "a {longest:?} gap between WATCHDOG=1 exceeds WATCHDOG_USEC"
    );

    // SIGHUP: RELOADING=1 with MONOTONIC_USEC, then READY=1 again.
    let before_reload = Instant::now();
    Command::new("kill")
        .args(["-HUP", &server.pid().to_string()])
        .status()
        .unwrap();
    let reloading = socket.wait_for("RELOADING=1", Duration::from_secs(10), |line| {
        line == "RELOADING=1"
    });
    assert!(reloading >= before_reload);
    assert!(socket
        .lines()
        .iter()
        .any(|(at, line)| *at == reloading && line.starts_with("MONOTONIC_USEC=")));
    let ready_again = socket
        .lines()
        .into_iter()
        .filter(|(at, line)| *at >= reloading && line == "READY=1")
        .count();
    assert!(ready_again >= 1, "no READY=1 after RELOADING=1");

    let exit = server.stop().expect("exit");
    assert!(exit.success(), "{}", server.log());
    socket.wait_for("STOPPING=1", Duration::from_secs(1), |line| {
        line == "STOPPING=1"
    });
}

#[tokio::test]
async fn with_the_chain_source_down_status_says_why_and_ready_never_comes() {
    let dir = tempfile::tempdir().unwrap();
    let socket = NotifySocket::bind(dir.path());
    let mut server = start_notifying(
        &unreachable_chain_config(""),
        &socket,
        tempfile::tempdir().unwrap(),
    );
    let waiting = socket.wait_for(
        "STATUS about the chain source",
        Duration::from_secs(20),
        |line| line.starts_with("STATUS=node starting: waiting for chain source: "),
    );
    tokio::time::sleep(Duration::from_secs(2)).await;
    let lines = socket.lines();
    assert!(
        !lines.iter().any(|(_, line)| line == "READY=1"),
        "READY=1 without a running node: {lines:#?}"
    );
    // Waiting for the chain source is healthy: the start loop and the API are alive, so
    // systemd must not kill the service for it.
    let (longest, count) = watchdog_pings(&socket, waiting);
    assert!(count >= 3, "only {count} WATCHDOG=1 in 2 s while starting");
    assert!(
        longest < Duration::from_micros(WATCHDOG_USEC),
        "{longest:?}"
    );

    let exit = server.stop().expect("exit");
    assert!(exit.success(), "{}", server.log());
    socket.wait_for("STOPPING=1", Duration::from_secs(1), |line| {
        line == "STOPPING=1"
    });
}

#[tokio::test]
async fn started_as_root_it_serves_with_no_capabilities_and_no_new_privs() {
    if !is_root() {
        println!("SKIPPED: capabilities test needs root (the server drops what root holds)");
        return;
    }
    let mut server = ServerProcess::start(&unreachable_chain_config(""));
    expect_node_starting(&server).await;
    let tasks = std::fs::read_dir(format!("/proc/{}/task", server.pid())).unwrap();
    let mut threads = 0;
    for task in tasks {
        let status = std::fs::read_to_string(task.unwrap().path().join("status")).unwrap();
        let field = |name: &str| {
            status
                .lines()
                .find_map(|line| line.strip_prefix(name))
                .map(str::trim)
                .unwrap_or_else(|| panic!("{name} missing in {status}"))
                .to_owned()
        };
        for set in ["CapInh:", "CapPrm:", "CapEff:", "CapBnd:", "CapAmb:"] {
            assert_eq!(
                field(set),
                "0000000000000000",
                "{set} of thread {} ({})",
                field("Pid:"),
                field("Name:")
            );
        }
        assert_eq!(field("NoNewPrivs:"), "1", "thread {}", field("Name:"));
        threads += 1;
    }
    assert!(threads > 1, "expected the runtime's worker threads too");
    assert!(server.stop().expect("exit").success(), "{}", server.log());
}

/// Runs inside `unshare -m`: a tmpfs on /run hides the host's, then (1) the server with
/// `journald = always` and no journal socket, then (2) a real systemd-journald and the server
/// again; the journal is exported as JSON once the server has exited.
const JOURNALD_SCRIPT: &str = r#"
set -eu
mount --make-rprivate /
mount -t tmpfs -o mode=0755 tmpfs /run
wait_for() { i=0; until eval "$1"; do i=$((i+1)); [ $i -lt 400 ] || { echo "timeout: $1" >&2; exit 1; }; sleep 0.05; done; }

"$SERVER" "$CONFIG" 2>"$OUT/fallback.log" &
pid=$!
wait_for 'grep -q "serving the gRPC API" "$OUT/fallback.log"'
kill -TERM $pid
wait $pid || true

mkdir -p /run/systemd/journal /run/log/journal
"$JOURNALD" &
journald=$!
wait_for '[ -S /run/systemd/journal/socket ]'
"$SERVER" "$CONFIG" 2>"$OUT/server.stderr" &
pid=$!
echo $pid > "$OUT/server.pid"
status=0
wait $pid || status=$?
echo $status > "$OUT/server.exit"
wait_for 'journalctl -D /run/log/journal -o json --no-pager 2>/dev/null | grep -q "\"MESSAGE\":\"shutting down\""'
journalctl -D /run/log/journal -o json --no-pager > "$OUT/journal.json"
kill $journald
"#;

#[tokio::test]
async fn journald_gets_structured_fields_and_a_missing_journal_falls_back_to_stderr() {
    if !is_root() {
        println!("SKIPPED: the journald test needs root (unshare -m, mount)");
        return;
    }
    let Some(journald) = find_program("systemd-journald") else {
        println!("SKIPPED: systemd-journald is not installed (apt install systemd)");
        return;
    };
    if find_program("journalctl").is_none() || find_program("unshare").is_none() {
        println!("SKIPPED: journalctl or unshare is missing");
        return;
    }
    let chain = Chain::start("journald_gets_structured_fields");
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("out");
    std::fs::create_dir(&out).unwrap();
    let grpc_address = loopback(free_port());
    let base = match &chain {
        Some(chain) => chain.node_config("journal", free_port(), ""),
        None => unreachable_chain_config(""),
    };
    let config = base
        .replace("{grpc}", &grpc_address.to_string())
        .replace("{storage}", &dir.path().join("data").display().to_string())
        .replace("[log]\n", "[log]\njournald = \"always\"\n");
    let config_path = dir.path().join("config.toml");
    std::fs::write(&config_path, &config).unwrap();

    let mut namespace = Command::new("unshare")
        .args(["-m", "sh", "-c", JOURNALD_SCRIPT])
        .env("SERVER", common::SERVER_BIN)
        .env("CONFIG", &config_path)
        .env("OUT", &out)
        .env("JOURNALD", &journald)
        .env_remove("JOURNAL_STREAM")
        .spawn()
        .expect("unshare");

    let pid_file = out.join("server.pid");
    let deadline = Instant::now() + Duration::from_secs(60);
    while !pid_file.exists() {
        assert!(
            Instant::now() < deadline,
            "the journald phase did not start"
        );
        assert!(
            namespace.try_wait().unwrap().is_none(),
            "the namespace script failed"
        );
        std::thread::sleep(Duration::from_millis(50));
    }
    let pid = std::fs::read_to_string(&pid_file)
        .unwrap()
        .trim()
        .to_owned();

    // The fallback: no journal socket, so stderr with a warning, and the server still ran.
    let fallback = std::fs::read_to_string(out.join("fallback.log")).unwrap();
    assert!(
        fallback.contains("the journal socket is not available")
            && fallback.contains("logging to stderr instead"),
        "{fallback}"
    );
    assert!(fallback.contains("serving the gRPC API"), "{fallback}");

    // One call that fails (logged at info) and, with a chain, one that succeeds.
    let server = AttachedServer::new(dir.path().join("data"), grpc_address);
    let mut client = server.client().await;
    let _ = client.get_node_info(GetNodeInfoRequest {}).await;
    let failing = client
        .get_payment_details(ldk_server::proto::api::GetPaymentDetailsRequest {
            payment_id: "not hex".to_owned(),
        })
        .await
        .unwrap_err();
    assert_eq!(failing.code(), Code::InvalidArgument);
    if chain.is_some() {
        common::chain::wait_until("the node to run", Duration::from_secs(60), || {
            let mut client = client.clone();
            async move { client.get_node_info(GetNodeInfoRequest {}).await.ok() }
        })
        .await;
    }
    Command::new("kill").args(["-TERM", &pid]).status().unwrap();
    let status = namespace.wait().unwrap();
    assert!(status.success(), "namespace script: {status:?}");
    assert_eq!(
        std::fs::read_to_string(out.join("server.exit"))
            .unwrap()
            .trim(),
        "0"
    );
    let stderr = std::fs::read_to_string(out.join("server.stderr")).unwrap();
    assert!(
        !stderr.contains("serving the gRPC API"),
        "logs went to stderr too:\n{stderr}"
    );

    let entries: Vec<serde_json::Value> = std::fs::read_to_string(out.join("journal.json"))
        .unwrap()
        .lines()
        .map(|line| serde_json::from_str(line).expect("journal JSON"))
        .collect();
    let field = |entry: &serde_json::Value, name: &str| entry[name].as_str().map(str::to_owned);
    let ours: Vec<&serde_json::Value> = entries
        .iter()
        .filter(|e| field(e, "SYSLOG_IDENTIFIER").as_deref() == Some("ldk-server"))
        .collect();
    assert!(
        !ours.is_empty(),
        "no entry with SYSLOG_IDENTIFIER=ldk-server"
    );

    let call = ours
        .iter()
        .find(|e| field(e, "RPC_METHOD").as_deref() == Some("GetPaymentDetails"))
        .unwrap_or_else(|| panic!("no RPC_METHOD=GetPaymentDetails entry in {ours:#?}"));
    assert_eq!(field(call, "STATUS_CODE").as_deref(), Some("3"));
    assert_eq!(field(call, "GRPC_CODE").as_deref(), Some("InvalidArgument"));
    assert_eq!(field(call, "PRIORITY").as_deref(), Some("6"), "info level");
    assert!(field(call, "DURATION_MS").is_some_and(|d| d.parse::<f64>().is_ok()));
    assert!(field(call, "GRPC_MESSAGE").is_some_and(|m| !m.is_empty()));
    assert_eq!(field(call, "MESSAGE").as_deref(), Some("rpc failed"));
    assert_eq!(
        field(call, "TARGET").as_deref(),
        Some("ldk_server::server::gateway")
    );
    let serving = ours
        .iter()
        .find(|e| field(e, "MESSAGE").as_deref() == Some("serving the gRPC API"))
        .expect("startup entry");
    assert_eq!(
        field(serving, "ADDRESS"),
        Some(format!("Some({grpc_address})"))
    );
    assert_eq!(field(serving, "NETWORK").as_deref(), Some("regtest"));

    if chain.is_some() {
        let ok_call = ours.iter().find(|e| {
            field(e, "RPC_METHOD").as_deref() == Some("GetNodeInfo")
                && field(e, "STATUS_CODE").as_deref() == Some("0")
        });
        assert!(ok_call.is_some_and(|e| field(e, "PRIORITY").as_deref() == Some("7")));
        // ldk-node's own records, at their levels, with their module.
        let node_record = ours
            .iter()
            .find(|e| {
                field(e, "LOG_TARGET")
                    .is_some_and(|t| t.starts_with("ldk_node") || t.starts_with("lightning"))
            })
            .unwrap_or_else(|| panic!("no ldk-node record in the journal"));
        assert!(field(node_record, "PRIORITY").is_some());
    } else {
        println!(
            "SKIPPED (part): no bitcoind, so no ldk-node records or successful calls to check"
        );
    }
}

/// A server started by someone else (here: inside a namespace), reached through its files.
struct AttachedServer {
    storage: PathBuf,
    grpc_address: SocketAddr,
}

impl AttachedServer {
    fn new(storage: PathBuf, grpc_address: SocketAddr) -> Self {
        Self {
            storage,
            grpc_address,
        }
    }

    async fn client(&self) -> ldk_server::client::LdkServerClient {
        let key = self.storage.join("regtest").join("api_key");
        let cert = self.storage.join("tls.crt");
        let deadline = Instant::now() + Duration::from_secs(30);
        loop {
            if key.exists() && cert.exists() {
                let options = ldk_server::client::ClientOptions {
                    base_url: self.grpc_address.to_string(),
                    api_key: ldk_server::auth::ApiKey::from_file_bytes(
                        &std::fs::read(&key).unwrap(),
                    ),
                    tls_cert_pem: std::fs::read(&cert).unwrap(),
                    signing: ldk_server::client::Signing::V2,
                };
                if let Ok(client) = ldk_server::client::connect(options).await {
                    return client;
                }
            }
            assert!(
                Instant::now() < deadline,
                "cannot reach the server in the namespace"
            );
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    }
}
