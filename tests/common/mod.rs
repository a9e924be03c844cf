//! Test harness: runs the real `ldk-server` binary on a temporary directory and talks to it
//! over TLS with the crate's signing gRPC client.

#![allow(dead_code)]

pub mod attack;
pub mod chain;
pub mod mcp;
pub mod raw_codec;
pub mod raw_h2;
pub mod webhook_receiver;

use std::net::{SocketAddr, TcpListener};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, ExitStatus, Stdio};
use std::time::{Duration, Instant};

use ldk_server::auth::ApiKey;
use ldk_server::client::{connect, ClientOptions, LdkServerClient};

/// Path of the server binary cargo built for this test run.
pub const SERVER_BIN: &str = env!("CARGO_BIN_EXE_ldk-server");

/// A port on 127.0.0.1 that was free a moment ago, and never handed out before in this test
/// process: tests running in parallel each start servers on ports picked this way, and the
/// kernel may offer a port again as soon as its probe socket is closed.
pub fn free_port() -> u16 {
    static HANDED_OUT: std::sync::Mutex<Vec<u16>> = std::sync::Mutex::new(Vec::new());
    loop {
        let port = TcpListener::bind("127.0.0.1:0")
            .and_then(|l| l.local_addr())
            .map(|a| a.port())
            .expect("free port");
        let mut handed_out = HANDED_OUT.lock().unwrap_or_else(|e| e.into_inner());
        if !handed_out.contains(&port) {
            handed_out.push(port);
            return port;
        }
    }
}

/// A regtest server whose bitcoind RPC port is closed: the node never starts.
pub fn unreachable_chain_config(extra: &str) -> String {
    format!(
        r#"
[node]
network = "regtest"
grpc_service_address = "{{grpc}}"

[storage.disk]
dir_path = "{{storage}}"

[bitcoind]
rpc_address = "127.0.0.1:{port}"
rpc_user = "user"
rpc_password = "password"

[log]
level = "debug"
log_to_file = false

{extra}
"#,
        port = free_port()
    )
}

/// A running `ldk-server` process and the files it made.
pub struct ServerProcess {
    /// The process.
    pub child: Option<Child>,
    /// Temporary storage root (kept alive as long as the process).
    pub dir: tempfile::TempDir,
    /// The gRPC listener address.
    pub grpc_address: SocketAddr,
    /// The network directory name (e.g. "regtest").
    pub network: String,
    /// The config file the process was started with.
    pub config_path: PathBuf,
}

impl ServerProcess {
    /// Starts the server with a config made from `config_body`, which may use the placeholders
    /// `{storage}` and `{grpc}`; waits until the API key and certificate exist.
    pub fn start(config_body: &str) -> Self {
        let dir = tempfile::tempdir().expect("tempdir");
        let grpc_address: SocketAddr = format!("127.0.0.1:{}", free_port()).parse().unwrap();
        Self::start_in(dir, grpc_address, config_body)
    }

    /// Like [`ServerProcess::start`] in a given directory and address (used for restarts).
    pub fn start_in(dir: tempfile::TempDir, grpc_address: SocketAddr, config_body: &str) -> Self {
        let mut server = Self::spawn(dir, grpc_address, config_body, |_| {});
        server.wait_for_files();
        server.wait_for_listener();
        server
    }

    /// Starts the server without waiting for it; `configure` adjusts the command (environment,
    /// inherited sockets, a wrapper program) before it is spawned.
    pub fn spawn(
        dir: tempfile::TempDir,
        grpc_address: SocketAddr,
        config_body: &str,
        configure: impl FnOnce(&mut Command),
    ) -> Self {
        Self::spawn_wrapped(dir, grpc_address, config_body, &[], configure)
    }

    /// Like [`ServerProcess::spawn`], run through `wrapper` (a program and its arguments, to
    /// which the server's path and config file are appended), e.g. `systemd-socket-activate`.
    pub fn spawn_wrapped(
        dir: tempfile::TempDir,
        grpc_address: SocketAddr,
        config_body: &str,
        wrapper: &[&str],
        configure: impl FnOnce(&mut Command),
    ) -> Self {
        let config = config_body
            .replace("{storage}", &dir.path().join("data").display().to_string())
            .replace("{grpc}", &grpc_address.to_string());
        let network = config
            .lines()
            .find_map(|l| l.trim().strip_prefix("network = "))
            .map(|v| v.trim_matches('"').to_owned())
            .unwrap_or_else(|| "regtest".to_owned());
        let config_path = dir.path().join("config.toml");
        std::fs::write(&config_path, config).expect("write config");
        let log = std::fs::File::create(dir.path().join("server.log")).expect("log file");
        let mut command = match wrapper.split_first() {
            Some((program, args)) => {
                let mut command = Command::new(program);
                command.args(args).arg(SERVER_BIN);
                command
            }
            None => Command::new(SERVER_BIN),
        };
        command
            .arg(&config_path)
            .env_remove("LDK_SERVER_NODE_NETWORK")
            .stdout(log.try_clone().expect("log"))
            .stderr(log);
        configure(&mut command);
        let child = command.spawn().expect("spawn ldk-server");
        Self {
            child: Some(child),
            dir,
            grpc_address,
            network,
            config_path,
        }
    }

    /// The CLI's connection flags for this server: `-b <address> -a <key hex> -t <tls.crt>`.
    pub fn cli_flags(&self) -> Vec<String> {
        vec![
            "-b".into(),
            self.grpc_address.to_string(),
            "-a".into(),
            self.api_key().as_hex().to_owned(),
            "-t".into(),
            self.storage().join("tls.crt").display().to_string(),
        ]
    }

    /// The process id.
    pub fn pid(&self) -> u32 {
        self.child.as_ref().expect("running").id()
    }

    /// Storage root.
    pub fn storage(&self) -> PathBuf {
        self.dir.path().join("data")
    }

    /// The API key file.
    pub fn api_key_path(&self) -> PathBuf {
        self.storage().join(&self.network).join("api_key")
    }

    /// The API key.
    pub fn api_key(&self) -> ApiKey {
        ApiKey::from_file_bytes(&std::fs::read(self.api_key_path()).expect("api key"))
    }

    /// The server certificate (PEM).
    pub fn cert_pem(&self) -> Vec<u8> {
        std::fs::read(self.storage().join("tls.crt")).expect("tls.crt")
    }

    /// Everything the server logged so far.
    pub fn log(&self) -> String {
        std::fs::read_to_string(self.dir.path().join("server.log")).unwrap_or_default()
    }

    /// Client options for this server.
    pub fn client_options(&self) -> ClientOptions {
        ClientOptions {
            base_url: self.grpc_address.to_string(),
            api_key: self.api_key(),
            tls_cert_pem: self.cert_pem(),
            signing: ldk_server::client::Signing::V2,
        }
    }

    /// A connected client, retrying while the listener comes up.
    pub async fn client(&self) -> LdkServerClient {
        let deadline = Instant::now() + Duration::from_secs(30);
        loop {
            match connect(self.client_options()).await {
                Ok(client) => return client,
                Err(error) if Instant::now() < deadline => {
                    let _ = error;
                    tokio::time::sleep(Duration::from_millis(100)).await;
                }
                Err(error) => panic!("cannot connect: {error}\nserver log:\n{}", self.log()),
            }
        }
    }

    /// Waits until the API key and certificate exist.
    pub fn wait_for_files(&mut self) {
        let files = [self.api_key_path(), self.storage().join("tls.crt")];
        self.wait_for("create its API key and certificate", || {
            files.iter().all(|f| f.exists())
        });
    }

    fn wait_for_listener(&mut self) {
        let address = self.grpc_address;
        self.wait_for("listen", || std::net::TcpStream::connect(address).is_ok());
    }

    /// Polls `ready` until it holds; fails if the process exits or 30 s pass.
    pub fn wait_for(&mut self, what: &str, mut ready: impl FnMut() -> bool) {
        let deadline = Instant::now() + Duration::from_secs(30);
        while !ready() {
            if let Some(status) = self
                .child
                .as_mut()
                .and_then(|c| c.try_wait().ok().flatten())
            {
                panic!("ldk-server exited early with {status}:\n{}", self.log());
            }
            assert!(
                Instant::now() < deadline,
                "server did not {what}:\n{}",
                self.log()
            );
            std::thread::sleep(Duration::from_millis(50));
        }
    }

    /// The exit status if the process has already exited (without waiting).
    pub fn exit_status(&mut self) -> Option<ExitStatus> {
        self.child.as_mut()?.try_wait().ok().flatten()
    }

    /// Sends SIGTERM and waits for the exit status.
    pub fn stop(&mut self) -> Option<ExitStatus> {
        let mut child = self.child.take()?;
        let _ = Command::new("kill")
            .arg("-TERM")
            .arg(child.id().to_string())
            .status();
        let deadline = Instant::now() + Duration::from_secs(60);
        loop {
            if let Ok(Some(status)) = child.try_wait() {
                return Some(status);
            }
            if Instant::now() > deadline {
                let _ = child.kill();
                return child.wait().ok();
            }
            std::thread::sleep(Duration::from_millis(50));
        }
    }

    /// Stops the process but keeps the directory, for a restart on the same data.
    pub fn into_parts(mut self) -> (tempfile::TempDir, SocketAddr) {
        self.stop();
        let dir = std::mem::replace(&mut self.dir, tempfile::tempdir().expect("tempdir"));
        (dir, self.grpc_address)
    }
}

impl Drop for ServerProcess {
    fn drop(&mut self) {
        if let Some(mut child) = self.child.take() {
            let _ = child.kill();
            let _ = child.wait();
        }
    }
}

/// A plain tonic channel to `server` over TLS, pinned to its certificate, with no signing.
pub async fn plain_channel(server: &ServerProcess) -> tonic::transport::Channel {
    use tonic::transport::{Certificate, ClientTlsConfig, Endpoint};
    let tls = ClientTlsConfig::new().ca_certificate(Certificate::from_pem(server.cert_pem()));
    Endpoint::from_shared(format!("https://{}", server.grpc_address))
        .unwrap()
        .tls_config(tls)
        .unwrap()
        .connect()
        .await
        .unwrap_or_else(|e| {
            panic!(
                "TLS connection with the pinned certificate: {e:?}\n{}",
                server.log()
            )
        })
}

/// Runs the server binary with `args` to completion and returns (exit code, stderr).
pub fn run_to_exit(args: &[&str], cwd: &Path) -> (i32, String) {
    let output = Command::new(SERVER_BIN)
        .args(args)
        .current_dir(cwd)
        .env("HOME", cwd)
        .stdin(Stdio::null())
        .output()
        .expect("run ldk-server");
    (
        output.status.code().unwrap_or(-1),
        String::from_utf8_lossy(&output.stderr).into_owned(),
    )
}

/// GETs `/metrics` over the gRPC listener (HTTP/2 + TLS); returns (HTTP status, body).
pub async fn scrape_metrics(server: &ServerProcess, authorization: Option<&str>) -> (u16, String) {
    use http_body_util::BodyExt;
    use tonic::transport::{Certificate, ClientTlsConfig, Endpoint};
    use tower::ServiceExt;
    let tls = ClientTlsConfig::new().ca_certificate(Certificate::from_pem(server.cert_pem()));
    let channel = Endpoint::from_shared(format!("https://{}", server.grpc_address))
        .unwrap()
        .tls_config(tls)
        .unwrap()
        .connect()
        .await
        .expect("connect for /metrics");
    let mut request = http::Request::get(format!("https://{}/metrics", server.grpc_address));
    if let Some(value) = authorization {
        request = request.header("authorization", value);
    }
    let request = request.body(tonic::body::Body::empty()).unwrap();
    let response = channel.oneshot(request).await.expect("metrics request");
    let status = response.status().as_u16();
    let body = response.into_body().collect().await.unwrap().to_bytes();
    (status, String::from_utf8_lossy(&body).into_owned())
}

/// The methods of `api.LightningNode` as the compiled descriptor has them, each with whether
/// it is a server stream.
pub fn descriptor_methods() -> Vec<(String, bool)> {
    use prost::Message;
    let set = prost_types::FileDescriptorSet::decode(ldk_server::proto::FILE_DESCRIPTOR_SET)
        .expect("descriptor");
    let mut methods = Vec::new();
    for file in &set.file {
        for service in &file.service {
            if file.package() == "api" && service.name() == "LightningNode" {
                for method in &service.method {
                    methods.push((method.name().to_owned(), method.server_streaming()));
                }
            }
        }
    }
    methods
}

/// The lines a child process writes to `stdout`, read on a thread of their own so that a test
/// can wait for one with a timeout; the channel closes when the process does.
pub fn line_receiver(stdout: std::process::ChildStdout) -> std::sync::mpsc::Receiver<String> {
    use std::io::BufRead;
    let (sender, lines) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        for line in std::io::BufReader::new(stdout).lines() {
            let Ok(line) = line else { break };
            if sender.send(line).is_err() {
                break;
            }
        }
    });
    lines
}
