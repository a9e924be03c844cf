//! Tests of the whole loader: flags, variables, file and defaults together.

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::time::Duration;

use ldk_node::bitcoin::Network;
use ldk_node::config::AsyncPaymentsRole;
use tracing::level_filters::LevelFilter;

use super::*;

const FIXTURE: &str = concat!(
    env!("CARGO_MANIFEST_DIR"),
    "/tests/fixtures/upstream-config.toml"
);
const UNSUPPORTED: &str = "ldk-node 0.7 cannot honour";

/// A hermetic environment: only the given variables exist.
#[derive(Default, Clone)]
struct Env(HashMap<String, String>);

impl Env {
    fn with(mut self, name: &str, value: impl Into<String>) -> Self {
        self.0.insert(name.to_owned(), value.into());
        self
    }

    fn lookup(&self) -> impl Fn(&str) -> Option<String> + '_ {
        |name| self.0.get(name).cloned()
    }
}

fn argv(list: &[&str]) -> Vec<OsString> {
    std::iter::once("ldk-server")
        .chain(list.iter().copied())
        .map(OsString::from)
        .collect()
}

fn load_with(list: &[&str], env: &Env) -> Result<Config, LoadError> {
    load_from(argv(list), &env.lookup())
}

fn config_error(result: Result<Config, LoadError>) -> ConfigError {
    match result {
        Ok(config) => panic!("expected a configuration error, got {config:?}"),
        Err(LoadError::Cli(error)) => panic!("expected a configuration error, got {error}"),
        Err(LoadError::Config(error)) => error,
    }
}

/// A configuration file with `text` in a fresh directory.
struct TempConfig {
    dir: tempfile::TempDir,
    path: PathBuf,
}

impl TempConfig {
    fn new(text: &str) -> Self {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("config.toml");
        std::fs::write(&path, text).unwrap();
        Self { dir, path }
    }

    fn arg(&self) -> &str {
        self.path.to_str().unwrap()
    }

    /// Loads this file with `flags`; `HOME` is the file's directory unless `env` sets it.
    fn load(&self, flags: &[&str], env: &Env) -> Result<Config, LoadError> {
        let mut list = vec![self.arg()];
        list.extend_from_slice(flags);
        let mut env = env.clone();
        if !env.0.contains_key("HOME") {
            env = env.with("HOME", self.dir.path().to_str().unwrap());
        }
        load_with(&list, &env)
    }
}

const REGTEST_ESPLORA: &str =
    "[node]\nnetwork = \"regtest\"\n[esplora]\nserver_url = \"http://127.0.0.1:3002\"\n";

fn fixture_text() -> String {
    std::fs::read_to_string(FIXTURE).unwrap()
}

/// The fixture with its `[bitcoind]` table replaced by `replacement`.
fn fixture_with_chain_source(replacement: &str) -> String {
    fixture_text().replace(
        "[bitcoind]\nrpc_address = \"bitcoind.internal:18443\"\nrpc_user = \"polaruser\"\nrpc_password = \"polarpass\"\n",
        replacement,
    )
}

#[test]
fn an_upstream_config_file_with_every_key_is_accepted() {
    let config = load_with(&[FIXTURE], &Env::default()).unwrap();
    assert_eq!(config.config_file.as_deref(), Some(Path::new(FIXTURE)));
    assert_eq!(config.network, Network::Regtest);
    assert_eq!(config.storage_dir, PathBuf::from("/var/lib/ldk-server"));
    assert_eq!(
        config.network_dir,
        PathBuf::from("/var/lib/ldk-server/regtest")
    );
    let listening: Vec<String> = config
        .listening_addresses
        .iter()
        .map(ToString::to_string)
        .collect();
    assert_eq!(listening, ["localhost:9735", "127.0.0.1:9736"]);
    assert_eq!(config.announcement_addresses.len(), 1);
    assert_eq!(config.grpc_service_address.to_string(), "127.0.0.1:3536");
    assert_eq!(config.alias.as_deref(), Some("ldk_server"));
    assert_eq!(
        config.pathfinding_scores_source_url.as_deref(),
        Some("https://scores.example.org/scorer.bin")
    );
    assert_eq!(
        config.rgs_server_url.as_deref(),
        Some("https://rapidsync.lightningdevkit.org/snapshot/v2/")
    );
    assert!(matches!(
        config.async_payments_role,
        Some(AsyncPaymentsRole::Client)
    ));
    assert_eq!(
        config.chain_source,
        ChainSource::Bitcoind {
            host: "bitcoind.internal".into(),
            port: 18443,
            user: "polaruser".into(),
            password: "polarpass".into(),
        }
    );
    assert!(!format!("{:?}", config.chain_source).contains("polarpass"));

    assert_eq!(config.log.level, LevelFilter::INFO);
    let log_file = config.log.file.as_ref().unwrap();
    assert_eq!(
        log_file.path,
        PathBuf::from("/var/log/ldk-server/ldk-server.log")
    );
    assert_eq!(log_file.max_size_bytes, Some(10 * 1024 * 1024));
    assert_eq!(
        log_file.rotation_interval,
        Some(Duration::from_secs(12 * 3600))
    );
    assert_eq!(log_file.max_files, 3);
    assert_eq!(config.log.format, LogFormat::Text);
    assert_eq!(config.log.journald, JournaldMode::Auto);

    assert_eq!(
        config.tls.cert_path,
        PathBuf::from("/etc/ldk-server/tls.crt")
    );
    assert_eq!(
        config.tls.key_path,
        PathBuf::from("/etc/ldk-server/tls.key")
    );
    assert_eq!(config.tls.hosts, ["node.example.org", "192.0.2.10"]);

    let client = config.lsps2_client.as_ref().unwrap();
    assert_eq!(client.address.to_string(), "lsp.example.org:9735");
    assert_eq!(client.token.as_deref(), Some("lsp-token"));
    let service = config.lsps2_service.as_ref().unwrap();
    assert_eq!(service.channel_opening_fee_ppm, 1000);
    assert_eq!(service.max_payment_size_msat, 25_000_000_000);
    assert_eq!(service.require_token.as_deref(), Some("service-token"));

    assert!(config.metrics.enabled);
    assert_eq!(config.metrics.poll_interval, Duration::from_secs(30));
    let auth = config.metrics.basic_auth.as_ref().unwrap();
    assert_eq!(
        (auth.username.as_str(), auth.password.as_str()),
        ("prometheus", "scrape-secret")
    );
    assert!(config.metrics.upstream_names);
    assert!(!format!("{:?}", config.metrics).contains("scrape-secret"));

    assert_eq!(
        config.auth.api_key,
        ApiKeySource::Generated(PathBuf::from("/var/lib/ldk-server/regtest/api_key"))
    );
    assert!(!config.auth.require_body_signature);
}

#[test]
fn the_fixture_works_with_electrum_or_esplora_instead_of_bitcoind() {
    let electrum = TempConfig::new(&fixture_with_chain_source(
        "[electrum]\nserver_url = \"ssl://electrum.blockstream.info:50002\"\n",
    ));
    let config = electrum.load(&[], &Env::default()).unwrap();
    assert_eq!(
        config.chain_source,
        ChainSource::Electrum {
            url: "ssl://electrum.blockstream.info:50002".into()
        }
    );
    let esplora = TempConfig::new(&fixture_with_chain_source(
        "[esplora]\nserver_url = \"https://mempool.space/api\"\n",
    ));
    let config = esplora.load(&[], &Env::default()).unwrap();
    assert_eq!(
        config.chain_source,
        ChainSource::Esplora {
            url: "https://mempool.space/api".into()
        }
    );
}

#[test]
fn our_own_keys_are_accepted() {
    let file = TempConfig::new(&format!(
        "{REGTEST_ESPLORA}\
         [log]\nformat = \"json\"\njournald = \"always\"\nlog_to_file = false\n\
         [metrics]\nenabled = true\nlisten_address = \"[::1]:9100\"\nupstream_names = false\n\
         [auth]\napi_key_file = \"/etc/ldk-server/api_key\"\nrequire_body_signature = true\n"
    ));
    let config = file.load(&[], &Env::default()).unwrap();
    assert_eq!(config.log.format, LogFormat::Json);
    assert_eq!(config.log.journald, JournaldMode::Always);
    assert_eq!(config.log.file, None);
    assert_eq!(
        config
            .metrics
            .listen_address
            .map(|a| a.to_string())
            .as_deref(),
        Some("[::1]:9100")
    );
    assert!(!config.metrics.upstream_names);
    assert_eq!(
        config.auth.api_key,
        ApiKeySource::File("/etc/ldk-server/api_key".into())
    );
    assert!(config.auth.require_body_signature);
}

#[test]
fn unknown_keys_are_rejected_by_name() {
    let file = TempConfig::new(
        "[node]\nnetwork = \"regtest\"\nlisten_addresses = [\"0.0.0.0:9735\"]\n\
         [esplora]\nserver_url = \"http://127.0.0.1:3002\"\n",
    );
    let error = config_error(file.load(&[], &Env::default()));
    assert_eq!(error.key, "node.listen_addresses");
    assert!(
        error
            .problem
            .starts_with("unknown key `listen_addresses` in [node]"),
        "{error}"
    );
    let line = error.to_string();
    assert!(line.starts_with("invalid configuration: node.listen_addresses: unknown key"));
    assert!(!line.contains('\n'));

    let section = TempConfig::new(&format!("{REGTEST_ESPLORA}[lightning]\nfoo = 1\n"));
    assert_eq!(
        config_error(section.load(&[], &Env::default())).key,
        "lightning"
    );

    let our_section = TempConfig::new(&format!("{REGTEST_ESPLORA}[auth]\napi_key = \"abc\"\n"));
    assert_eq!(
        config_error(our_section.load(&[], &Env::default())).key,
        "auth.api_key"
    );
}

/// Unsupported settings: (TOML table and key = non-neutral value, neutral value, key named).
const UNSUPPORTED_FILE_KEYS: &[(&str, &str, &str)] = &[
    (
        "[node]\nenable_zero_fee_commitments = true",
        "[node]\nenable_zero_fee_commitments = false",
        "node.enable_zero_fee_commitments",
    ),
    (
        "[tor]\nproxy_address = \"127.0.0.1:9050\"",
        "[tor]\nproxy_address = \"\"",
        "tor.proxy_address",
    ),
    (
        "[probing]\nstrategy = \"high_degree\"",
        "[probing]\nstrategy = \"\"",
        "probing.strategy",
    ),
    (
        "[probing]\ntop_node_count = 100",
        "[probing]\ntop_node_count = 0",
        "probing.top_node_count",
    ),
    (
        "[probing]\nmax_hops = 5",
        "[probing]\nmax_hops = 0",
        "probing.max_hops",
    ),
    (
        "[probing]\ninterval_secs = 10",
        "[probing]\ninterval_secs = 0",
        "probing.interval_secs",
    ),
    (
        "[probing]\nmax_locked_msat = 1000",
        "[probing]\nmax_locked_msat = 0",
        "probing.max_locked_msat",
    ),
    (
        "[probing]\ndiversity_penalty_msat = 250",
        "[probing]\ndiversity_penalty_msat = 0",
        "probing.diversity_penalty_msat",
    ),
    (
        "[probing]\ncooldown_secs = 3600",
        "[probing]\ncooldown_secs = 0",
        "probing.cooldown_secs",
    ),
    ("[hrn]\nmode = \"dns\"", "[hrn]\nmode = \"\"", "hrn.mode"),
    (
        "[hrn]\ndns_server_address = \"1.1.1.1\"",
        "[hrn]\ndns_server_address = \"\"",
        "hrn.dns_server_address",
    ),
    (
        "[hrn]\nenable_resolution_service = true",
        "[hrn]\nenable_resolution_service = false",
        "hrn.enable_resolution_service",
    ),
];

/// `[node]` must not be written twice, so those snippets replace the base file's `[node]`.
fn with_snippet(snippet: &str) -> String {
    match snippet.strip_prefix("[node]\n") {
        Some(node_keys) => format!(
            "[node]\nnetwork = \"regtest\"\n{node_keys}\n[esplora]\nserver_url = \"http://127.0.0.1:3002\"\n"
        ),
        None => format!("{REGTEST_ESPLORA}{snippet}\n"),
    }
}

#[test]
fn unsupported_file_keys_are_rejected_unless_neutral() {
    for (set, neutral, key) in UNSUPPORTED_FILE_KEYS {
        let error = config_error(TempConfig::new(&with_snippet(set)).load(&[], &Env::default()));
        assert_eq!(&error.key, key, "{error}");
        assert!(error.problem.contains(UNSUPPORTED), "{error}");
        let accepted = TempConfig::new(&with_snippet(neutral)).load(&[], &Env::default());
        assert!(
            accepted.is_ok(),
            "{key} at its neutral value: {:?}",
            accepted.err()
        );
    }
    let empty_tables = TempConfig::new(&format!("{REGTEST_ESPLORA}[tor]\n[probing]\n[hrn]\n"));
    assert!(empty_tables.load(&[], &Env::default()).is_ok());
}

#[test]
fn lsps2_disable_client_reserve_is_rejected_unless_false() {
    let service = fixture_text();
    let set = TempConfig::new(&service.replace(
        "disable_client_reserve = false",
        "disable_client_reserve = true",
    ));
    let error = config_error(set.load(&[], &Env::default()));
    assert_eq!(error.key, "liquidity.lsps2_service.disable_client_reserve");
    assert!(error.problem.contains(UNSUPPORTED), "{error}");
    let absent = TempConfig::new(&service.replace("disable_client_reserve = false\n", ""));
    assert!(absent
        .load(&[], &Env::default())
        .unwrap()
        .lsps2_service
        .is_some());
}

#[test]
fn unsupported_flags_and_variables_are_rejected_unless_neutral() {
    let file = TempConfig::new(REGTEST_ESPLORA);
    let none = Env::default();
    let cases: &[(&[&str], &str)] = &[
        (&["--rescan-from-height", "800000"], "--rescan-from-height"),
        (&["--force-wallet-full-scan"], "--force-wallet-full-scan"),
        (
            &["--node-enable-zero-fee-commitments", "true"],
            "node.enable_zero_fee_commitments",
        ),
        (
            &["--tor-proxy-address", "127.0.0.1:9050"],
            "tor.proxy_address",
        ),
        (&["--probing-strategy", "random_walk"], "probing.strategy"),
        (&["--probing-max-hops", "3"], "probing.max_hops"),
    ];
    for (flags, key) in cases {
        let error = config_error(file.load(flags, &none));
        assert_eq!(&error.key, key, "{error}");
        assert!(error.problem.contains(UNSUPPORTED), "{error}");
    }
    let neutral: &[&[&str]] = &[
        &["--node-enable-zero-fee-commitments", "false"],
        &["--tor-proxy-address", ""],
        &["--probing-top-node-count", "0"],
        &["--rescan-from-height", ""],
    ];
    for flags in neutral {
        assert!(file.load(flags, &none).is_ok(), "{flags:?}");
    }

    let env = Env::default().with("LDK_SERVER_FORCE_WALLET_FULL_SCAN", "true");
    let error = config_error(file.load(&[], &env));
    assert!(
        error.problem.contains("LDK_SERVER_FORCE_WALLET_FULL_SCAN"),
        "{error}"
    );
    let env = Env::default().with("LDK_SERVER_FORCE_WALLET_FULL_SCAN", "false");
    assert!(file.load(&[], &env).is_ok());
    let env = Env::default().with("LDK_SERVER_TOR_PROXY_ADDRESS", "127.0.0.1:9050");
    let error = config_error(file.load(&[], &env));
    assert_eq!(error.key, "tor.proxy_address");
    assert!(
        error.problem.contains("from LDK_SERVER_TOR_PROXY_ADDRESS"),
        "{error}"
    );
}

#[test]
fn flags_beat_variables_beat_the_file_beats_defaults() {
    let file = TempConfig::new(
        "[node]\nnetwork = \"regtest\"\nalias = \"from-file\"\n\
         [esplora]\nserver_url = \"http://127.0.0.1:3002\"\n[log]\nmax_files = 7\n",
    );
    let env = Env::default()
        .with("LDK_SERVER_NODE_ALIAS", "from-env")
        .with("LDK_SERVER_LOG_MAX_FILES", "8");

    let config = file
        .load(&["--node-alias", "from-flag", "--log-max-files", "9"], &env)
        .unwrap();
    assert_eq!(config.alias.as_deref(), Some("from-flag"));
    assert_eq!(config.log.file.unwrap().max_files, 9);

    let config = file.load(&[], &env).unwrap();
    assert_eq!(config.alias.as_deref(), Some("from-env"));
    assert_eq!(config.log.file.unwrap().max_files, 8);

    let config = file.load(&[], &Env::default()).unwrap();
    assert_eq!(config.alias.as_deref(), Some("from-file"));
    assert_eq!(config.log.file.unwrap().max_files, 7);

    let bare = TempConfig::new(REGTEST_ESPLORA);
    let config = bare.load(&[], &Env::default()).unwrap();
    assert_eq!(config.alias, None);
    assert_eq!(config.log.file.unwrap().max_files, 5);

    // The network too: a variable overrides the file, a flag overrides the variable.
    let env = Env::default().with("LDK_SERVER_NODE_NETWORK", "testnet");
    assert_eq!(file.load(&[], &env).unwrap().network, Network::Testnet);
    let config = file.load(&["--node-network", "mainnet"], &env).unwrap();
    assert_eq!(config.network, Network::Bitcoin);
    assert_eq!(config.network_dir.file_name().unwrap(), "bitcoin");
}

#[test]
fn a_bad_value_names_its_key_and_origin() {
    let file = TempConfig::new(REGTEST_ESPLORA);
    let env = Env::default().with("LDK_SERVER_NODE_NETWORK", "foo");
    let error = config_error(file.load(&[], &env));
    assert_eq!(
        error.to_string(),
        "invalid configuration: node.network: expected one of bitcoin, mainnet, testnet, \
         testnet4, signet, regtest (got \"foo\" from LDK_SERVER_NODE_NETWORK)"
    );
    let error = config_error(file.load(&["--log-max-files", "many"], &Env::default()));
    assert_eq!(error.key, "log.max_files");
    assert!(error.problem.contains("from --log-max-files"), "{error}");
    let from_file = TempConfig::new("[node]\nnetwork = \"foo\"\n");
    let error = config_error(from_file.load(&[], &Env::default()));
    assert!(error.problem.ends_with("(got \"foo\")"), "{error}");
}

#[test]
fn chain_source_rules() {
    let none = Env::default();
    let no_source = TempConfig::new("[node]\nnetwork = \"regtest\"\n");
    let error = config_error(no_source.load(&[], &none));
    assert_eq!(error.key, "chain source");
    assert!(error
        .problem
        .starts_with("Must set a single chain source, multiple were configured"));

    let two = TempConfig::new(&format!(
        "{REGTEST_ESPLORA}[electrum]\nserver_url = \"tcp://127.0.0.1:50001\"\n"
    ));
    let error = config_error(two.load(&[], &none));
    assert!(
        error
            .problem
            .contains("multiple were configured ([electrum], [esplora])"),
        "{error}"
    );

    // A bitcoind flag makes a second source next to the file's esplora.
    let error =
        config_error(TempConfig::new(REGTEST_ESPLORA).load(&["--bitcoind-rpc-user", "u"], &none));
    assert!(error.problem.contains("[bitcoind], [esplora]"), "{error}");

    // bitcoind needs all three of address, user and password.
    let partial = TempConfig::new("[node]\nnetwork = \"regtest\"\n[bitcoind]\nrpc_user = \"u\"\n");
    assert_eq!(
        config_error(partial.load(&[], &none)).key,
        "bitcoind.rpc_address"
    );
    let flags = ["--bitcoind-rpc-address", "127.0.0.1:18443"];
    assert_eq!(
        config_error(partial.load(&flags, &none)).key,
        "bitcoind.rpc_password"
    );
    let env = Env::default().with("LDK_SERVER_BITCOIND_RPC_PASSWORD", "pw");
    let config = partial.load(&flags, &env).unwrap();
    assert_eq!(
        config.chain_source,
        ChainSource::Bitcoind {
            host: "127.0.0.1".into(),
            port: 18443,
            user: "u".into(),
            password: "pw".into()
        }
    );
    let bad_address = ["--bitcoind-rpc-address", "127.0.0.1"];
    assert_eq!(
        config_error(partial.load(&bad_address, &env)).key,
        "bitcoind.rpc_address"
    );

    // Only bitcoind via flags and variables, no file at all: network still required to be set
    // explicitly for non-signet chains, and defaults to signet otherwise.
    let dir = tempfile::tempdir().unwrap();
    let home = Env::default().with("HOME", dir.path().to_str().unwrap());
    let only_flags = [
        "--node-network",
        "regtest",
        "--bitcoind-rpc-address",
        "localhost:18443",
        "--bitcoind-rpc-user",
        "u",
        "--bitcoind-rpc-password",
        "p",
    ];
    let config = load_with(&only_flags, &home).unwrap();
    assert_eq!(config.network, Network::Regtest);
    assert_eq!(config.config_file, None);

    // An explicit signet without a chain source gets the public Esplora; mainnet does not.
    let signet = TempConfig::new("[node]\nnetwork = \"signet\"\n");
    let config = signet.load(&[], &none).unwrap();
    assert_eq!(
        config.chain_source,
        ChainSource::Esplora {
            url: DEFAULT_SIGNET_ESPLORA_URL.into()
        }
    );
    let mainnet = TempConfig::new("[node]\nnetwork = \"mainnet\"\n");
    assert_eq!(config_error(mainnet.load(&[], &none)).key, "chain source");

    let empty_url =
        TempConfig::new("[node]\nnetwork = \"regtest\"\n[esplora]\nserver_url = \"\"\n");
    assert_eq!(
        config_error(empty_url.load(&[], &none)).key,
        "esplora.server_url"
    );
}

#[test]
fn password_files_and_credentials_win_over_inline_values() {
    let dir = tempfile::tempdir().unwrap();
    let rpc_file = dir.path().join("rpc-password");
    std::fs::write(&rpc_file, "rpc-from-file\n").unwrap();
    let metrics_file = dir.path().join("metrics-password");
    std::fs::write(&metrics_file, "metrics-from-file\n").unwrap();
    let file = TempConfig::new(&format!(
        "[node]\nnetwork = \"regtest\"\n\
         [bitcoind]\nrpc_address = \"127.0.0.1:18443\"\nrpc_user = \"u\"\n\
         rpc_password = \"inline\"\nrpc_password_file = {rpc:?}\n\
         [metrics]\nenabled = true\nusername = \"prom\"\npassword = \"inline\"\n\
         password_file = {metrics:?}\n\
         [auth]\napi_key_file = \"/etc/ldk-server/api_key\"\n",
        rpc = rpc_file.to_str().unwrap(),
        metrics = metrics_file.to_str().unwrap(),
    ));

    let config = file
        .load(&["--bitcoind-rpc-password", "flag"], &Env::default())
        .unwrap();
    let ChainSource::Bitcoind { password, .. } = &config.chain_source else {
        panic!()
    };
    assert_eq!(password, "rpc-from-file");
    assert_eq!(
        config.metrics.basic_auth.unwrap().password,
        "metrics-from-file"
    );
    assert_eq!(
        config.auth.api_key,
        ApiKeySource::File("/etc/ldk-server/api_key".into())
    );

    let credentials = dir.path().join("credentials");
    std::fs::create_dir(&credentials).unwrap();
    std::fs::write(
        credentials.join(CREDENTIAL_BITCOIND_RPC_PASSWORD),
        "rpc-credential\n",
    )
    .unwrap();
    std::fs::write(
        credentials.join(CREDENTIAL_METRICS_PASSWORD),
        "metrics-credential",
    )
    .unwrap();
    std::fs::write(credentials.join(CREDENTIAL_API_KEY), [1u8; 32]).unwrap();
    let env = Env::default().with("CREDENTIALS_DIRECTORY", credentials.to_str().unwrap());
    let config = file.load(&[], &env).unwrap();
    let ChainSource::Bitcoind { password, .. } = &config.chain_source else {
        panic!()
    };
    assert_eq!(password, "rpc-credential");
    assert_eq!(
        config.metrics.basic_auth.unwrap().password,
        "metrics-credential"
    );
    assert_eq!(
        config.auth.api_key,
        ApiKeySource::File(credentials.join(CREDENTIAL_API_KEY))
    );

    let missing = TempConfig::new(
        "[node]\nnetwork = \"regtest\"\n[bitcoind]\nrpc_address = \"h:1\"\nrpc_user = \"u\"\n\
         rpc_password_file = \"/nonexistent/rpc-password\"\n",
    );
    assert_eq!(
        config_error(missing.load(&[], &Env::default())).key,
        "bitcoind.rpc_password_file"
    );
}

#[test]
fn first_run_with_nothing_configured_is_signet_on_public_esplora() {
    let home = tempfile::tempdir().unwrap();
    let env = Env::default().with("HOME", home.path().to_str().unwrap());
    let config = load_with(&[], &env).unwrap();
    let storage = home.path().join(".ldk-server");
    assert_eq!(config.config_file, None);
    assert_eq!(config.network, Network::Signet);
    assert_eq!(
        config.chain_source,
        ChainSource::Esplora {
            url: "https://mempool.space/signet/api".into()
        }
    );
    assert_eq!(config.storage_dir, storage);
    assert_eq!(config.network_dir, storage.join("signet"));
    assert_eq!(
        config.grpc_service_address.to_string(),
        DEFAULT_GRPC_SERVICE_ADDRESS
    );
    assert_eq!(config.log.level, LevelFilter::DEBUG);
    let log_file = config.log.file.unwrap();
    assert_eq!(log_file.path, storage.join("signet/ldk-server.log"));
    assert_eq!(log_file.max_size_bytes, Some(50 * 1024 * 1024));
    assert_eq!(
        log_file.rotation_interval,
        Some(Duration::from_secs(24 * 3600))
    );
    assert_eq!(log_file.max_files, 5);
    assert_eq!(config.tls.cert_path, storage.join("tls.crt"));
    assert_eq!(config.tls.key_path, storage.join("tls.key"));
    assert!(config.tls.hosts.is_empty());
    assert_eq!(
        config.auth.api_key,
        ApiKeySource::Generated(storage.join("signet/api_key"))
    );
    assert!(config.listening_addresses.is_empty());
    assert_eq!(config.pathfinding_scores_source_url, None);
    assert!(!config.metrics.enabled);
    assert_eq!(config.metrics.poll_interval, Duration::from_secs(60));
    assert!(config.lsps2_client.is_none() && config.lsps2_service.is_none());

    let no_home = config_error(load_with(&[], &Env::default()));
    assert_eq!(no_home.key, "storage.disk.dir_path");
}

#[test]
fn the_default_config_file_is_read_when_it_exists() {
    let home = tempfile::tempdir().unwrap();
    let storage = home.path().join(".ldk-server");
    std::fs::create_dir(&storage).unwrap();
    std::fs::write(
        storage.join("config.toml"),
        "[node]\nnetwork = \"signet\"\nalias = \"home\"\n",
    )
    .unwrap();
    let env = Env::default().with("HOME", home.path().to_str().unwrap());
    let config = load_with(&[], &env).unwrap();
    assert_eq!(config.config_file, Some(storage.join("config.toml")));
    assert_eq!(config.alias.as_deref(), Some("home"));

    let other = TempConfig::new("[node]\nnetwork = \"signet\"\nalias = \"flag\"\n");
    let config = load_with(&["--config", other.arg()], &env).unwrap();
    assert_eq!(config.alias.as_deref(), Some("flag"));
    let missing = config_error(load_with(&["/nonexistent/config.toml"], &env));
    assert_eq!(missing.key, "config file");
}

#[test]
fn mainnet_is_normalised_and_gets_the_default_scorer() {
    let file = TempConfig::new(
        "[node]\nnetwork = \"mainnet\"\n[esplora]\nserver_url = \"https://mempool.space/api\"\n",
    );
    let config = file.load(&[], &Env::default()).unwrap();
    assert_eq!(config.network, Network::Bitcoin);
    assert_eq!(
        config.pathfinding_scores_source_url.as_deref(),
        Some(DEFAULT_PATHFINDING_SCORES_SOURCE_URL)
    );
    let disabled = file
        .load(&["--pathfinding-scores-source-url", ""], &Env::default())
        .unwrap();
    assert_eq!(disabled.pathfinding_scores_source_url, None);
}

#[test]
fn node_values_are_validated() {
    let file = TempConfig::new(REGTEST_ESPLORA);
    let none = Env::default();
    let long_alias = "a".repeat(33);
    assert_eq!(
        config_error(file.load(&["--node-alias", &long_alias], &none)).key,
        "node.alias"
    );
    assert!(file.load(&["--node-alias", &"a".repeat(32)], &none).is_ok());
    let bad_listen = [
        "--node-listening-addresses",
        "127.0.0.1:9735,not an address",
    ];
    assert_eq!(
        config_error(file.load(&bad_listen, &none)).key,
        "node.listening_addresses"
    );
    let grpc = ["--node-grpc-service-address", "localhost:3536"];
    assert_eq!(
        config_error(file.load(&grpc, &none)).key,
        "node.grpc_service_address"
    );
    let role = ["--node-async-payments-role", "broker"];
    assert_eq!(
        config_error(file.load(&role, &none)).key,
        "node.async_payments_role"
    );
    let bad_pubkey = TempConfig::new(&format!(
        "{REGTEST_ESPLORA}[liquidity.lsps2_client]\nnode_pubkey = \"02ab\"\naddress = \"127.0.0.1:9735\"\n"
    ));
    assert_eq!(
        config_error(bad_pubkey.load(&[], &none)).key,
        "liquidity.lsps2_client.node_pubkey"
    );
}

#[test]
fn metrics_and_log_values_are_validated() {
    let none = Env::default();
    let base = TempConfig::new(REGTEST_ESPLORA);
    let zero = ["--poll-metrics-interval", "0"];
    assert_eq!(
        config_error(base.load(&zero, &none)).key,
        "metrics.poll_metrics_interval"
    );
    let user_only = ["--metrics-enabled", "--metrics-username", "prom"];
    assert_eq!(
        config_error(base.load(&user_only, &none)).key,
        "metrics.username"
    );
    // Upstream only insists on both when metrics are enabled.
    assert!(base.load(&["--metrics-username", "prom"], &none).is_ok());

    let listener = TempConfig::new(&format!(
        "{REGTEST_ESPLORA}[metrics]\nlisten_address = \"127.0.0.1:9100\"\n"
    ));
    assert_eq!(
        config_error(listener.load(&[], &none)).key,
        "metrics.listen_address"
    );
    let env = Env::default().with("LDK_SERVER_METRICS_ENABLED", "true");
    assert!(listener.load(&[], &env).unwrap().metrics.enabled);

    for log_path in ["/srv/ldk", "/srv/ldk/regtest", "/srv/ldk/regtest/"] {
        let file = TempConfig::new(&format!(
            "{REGTEST_ESPLORA}[storage.disk]\ndir_path = \"/srv/ldk\"\n[log]\nfile = {log_path:?}\n"
        ));
        assert_eq!(
            config_error(file.load(&[], &none)).key,
            "log.file",
            "{log_path}"
        );
        // Without a log file the path does not matter.
        assert!(file
            .load(&["--log-to-file", "false"], &none)
            .unwrap()
            .log
            .file
            .is_none());
    }
    let no_rotation = base.load(
        &[
            "--log-max-size-mb",
            "0",
            "--log-rotation-interval-hours",
            "0",
        ],
        &none,
    );
    let log_file = no_rotation.unwrap().log.file.unwrap();
    assert_eq!(
        (log_file.max_size_bytes, log_file.rotation_interval),
        (None, None)
    );
}

#[test]
fn a_client_reads_the_server_config_without_its_secrets() {
    // As under systemd: the passwords are credentials of the service, absent for the CLI.
    let file = TempConfig::new(
        "[node]\nnetwork = \"regtest\"\ngrpc_service_address = \"127.0.0.1:4000\"\n\
         [bitcoind]\nrpc_address = \"h:1\"\nrpc_user = \"u\"\n\
         rpc_password_file = \"/nonexistent/rpc-password\"\n\
         [metrics]\nenabled = true\nusername = \"prom\"\n",
    );
    let env = Env::default().with("HOME", file.dir.path().to_str().unwrap());
    assert_eq!(
        config_error(file.load(&[], &env)).key,
        "bitcoind.rpc_password_file"
    );
    let config = crate::config::load_for_client(argv(&[file.arg()]), &env.lookup())
        .expect("a client needs no secrets");
    assert_eq!(config.grpc_service_address.to_string(), "127.0.0.1:4000");
    assert!(matches!(
        config.chain_source,
        ChainSource::Bitcoind { ref password, .. } if password.is_empty()
    ));
    assert!(config.metrics.basic_auth.is_none());
}
