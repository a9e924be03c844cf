# services.ldk-server: a socket-activated, sandboxed Lightning node serving the LDK Server
# gRPC API. The units come from the package (systemd/ of the repository, installed by
# nix/package.nix), ldk-server-init.service and its sandbox included; this module only adds
# what differs on NixOS, as drop-ins: the ExecStart with the generated configuration,
# credentials from files, the socket addresses, and the confinement of the service to its own
# closure. It never loosens a sandbox setting of the packaged units.
{
  config,
  lib,
  pkgs,
  ...
}:

let
  cfg = config.services.ldk-server;
  format = pkgs.formats.toml { };
  inherit (lib) mkOption types;

  stateDir = "/var/lib/ldk-server";
  operatorDir = "/run/ldk-server";

  # Bitcoin Core's default RPC port of each network.
  defaultRpcPorts = {
    bitcoin = 8332;
    testnet = 18332;
    testnet4 = 48332;
    signet = 38332;
    regtest = 18443;
  };

  localBitcoind = config.services.bitcoind.${cfg.bitcoind.local.instance} or null;
  localRpcPort =
    if localBitcoind != null && localBitcoind.rpc.port != null then
      localBitcoind.rpc.port
    else
      defaultRpcPorts.${cfg.network};

  configFile = format.generate "ldk-server.toml" cfg.settings;

  # The same configuration for the CLI of operators, pointing at the copies of the certificate
  # and API key that `publishForOperators` makes. It holds no secret.
  cliConfigFile = format.generate "ldk-server-cli.toml" (
    lib.recursiveUpdate cfg.settings {
      auth.api_key_file = "${operatorDir}/api_key";
      tls.cert_path = "${operatorDir}/tls.crt";
    }
  );

  # Installed with a higher priority than the package's own `ldk-server-cli`: system-path is a
  # buildEnv with `ignoreCollisions`, where the first of two equal-priority files would win
  # silently, so a host that also installs the package could get the unconfigured binary.
  cliWrapper = lib.hiPrio (
    pkgs.writeShellScriptBin "ldk-server-cli" ''
      exec ${lib.getExe' cfg.package "ldk-server-cli"} --config ${cliConfigFile} "$@"
    ''
  );

  # Where the server keeps what `publishForOperators` copies: its own rules (src/config:
  # `[tls] cert_path`, default `<storage>/tls.crt`; the `api_key` credential, else
  # `[auth] api_key_file`, else `<storage>/<network>/api_key`).
  storageDir = cfg.settings.storage.disk.dir_path;
  networkDirName =
    let
      network = cfg.settings.node.network;
    in
    if network == "mainnet" then "bitcoin" else network;
  certSource = cfg.settings.tls.cert_path or "${storageDir}/tls.crt";
  apiKeySource =
    if cfg.apiKeyFile != null then
      cfg.apiKeyFile
    else
      cfg.settings.auth.api_key_file or "${storageDir}/${networkDirName}/api_key";

  # Who may read the copies: the operator group, else root alone.
  publishGroup = if cfg.operatorGroup != null then cfg.operatorGroup else "root";

  # Runs as root ("+", outside the sandbox), once the files exist: copies the certificate and API
  # key where the CLI wrapper reads them, readable by `publishGroup`.
  publishForOperators = pkgs.writeShellScript "ldk-server-publish-for-operators" ''
    set -eu
    ${lib.getExe' pkgs.coreutils "install"} -d -m 0750 -o root -g ${publishGroup} ${operatorDir}
    ${lib.getExe' pkgs.coreutils "install"} -m 0444 -o root -g ${publishGroup} \
      ${lib.escapeShellArg certSource} ${operatorDir}/tls.crt
    ${lib.getExe' pkgs.coreutils "install"} -m 0440 -o root -g ${publishGroup} \
      ${lib.escapeShellArg apiKeySource} ${operatorDir}/api_key
  '';

  # What the module provisions into Grafana: one dashboard provider for the package's boards and,
  # with Prometheus, a data source for this host's Prometheus.
  grafanaCfg = config.services.grafana;
  dashboardProvider = {
    name = "ldk-server";
    type = "file";
    folder = "ldk-server";
    options.path = "${cfg.package}/share/grafana/dashboards";
  };
  prometheusDatasource = {
    name = "Prometheus (ldk-server)";
    type = "prometheus";
    access = "proxy";
    uid = "ldk-server-prometheus";
    url = "http://127.0.0.1:${toString config.services.prometheus.port}";
  };
  yaml = pkgs.formats.yaml { };
  grafanaProvisioning = pkgs.linkFarm "ldk-server-grafana-provisioning" [
    {
      name = "dashboards/ldk-server.yaml";
      path = yaml.generate "ldk-server-dashboards.yaml" {
        apiVersion = 1;
        providers = [ dashboardProvider ];
      };
    }
    {
      name = "datasources/ldk-server.yaml";
      path = yaml.generate "ldk-server-datasources.yaml" {
        apiVersion = 1;
        datasources = [ prometheusDatasource ];
      };
    }
  ];
  # nixpkgs' grafana module asserts "Cannot set both dashboards settings and dashboards path"
  # (likewise for data sources): where the host set a path, the module sets no settings.
  hostDashboardsPath = grafanaCfg.provision.dashboards.path != null;
  hostDatasourcesPath = grafanaCfg.provision.datasources.path != null;

  isLoopback = address: lib.elem address [
    "127.0.0.1"
    "[::1]"
    "::1"
    "localhost"
  ];

  # Further API keys (services.ldk-server.apiKeys): each key's definition, without its secret,
  # is a file in the store; the secret comes from `keyFile` as the credential `api-key-<name>`,
  # which the definition names (`secret_credential`). The init unit installs the definitions
  # into the server's key directory, which the server re-reads within a second.
  keysDir = cfg.settings.auth.keys_dir or "${storageDir}/${networkDirName}/api_keys";
  keyCredential = name: "api-key-${name}";
  keyDefinition =
    name: key:
    format.generate "ldk-server-key-${name}.toml" (
      {
        inherit name;
        inherit (key) scopes methods;
        secret_credential = keyCredential name;
      }
      // lib.optionalAttrs (key.budget != null) { inherit (key) budget; }
    );
  # Runs as root ("+") after `--init` made the key directory: installs every declared key's
  # definition (mode 0600, owned by the service user) and removes the definitions it installed
  # before that are no longer declared (listed in .nixos-managed); keys made with the API are
  # left alone.
  installApiKeys = pkgs.writeShellScript "ldk-server-install-api-keys" ''
    set -eu
    dir=${lib.escapeShellArg keysDir}
    manifest="$dir/.nixos-managed"
    ${lib.getExe' pkgs.coreutils "install"} -d -m 0700 -o ldk-server -g ldk-server "$dir"
    : > "$manifest.new"
    ${lib.concatStringsSep "
" (
      lib.mapAttrsToList (name: key: ''
        ${lib.getExe' pkgs.coreutils "install"} -m 0600 -o ldk-server -g ldk-server           ${keyDefinition name key} "$dir/${name}.toml.nixos"
        ${lib.getExe' pkgs.coreutils "mv"} -f "$dir/${name}.toml.nixos" "$dir/${name}.toml"
        echo ${lib.escapeShellArg "${name}.toml"} >> "$manifest.new"
      '') cfg.apiKeys
    )}
    if [ -f "$manifest" ]; then
      while IFS= read -r old; do
        if ! ${lib.getExe' pkgs.gnugrep "grep"} -qxF -- "$old" "$manifest.new"; then
          ${lib.getExe' pkgs.coreutils "rm"} -f -- "$dir/$old"
        fi
      done < "$manifest"
    fi
    ${lib.getExe' pkgs.coreutils "mv"} -f "$manifest.new" "$manifest"
  '';

  credentials =
    lib.optional (cfg.apiKeyFile != null) "api_key:${cfg.apiKeyFile}"
    ++ lib.mapAttrsToList (name: key: "${keyCredential name}:${key.keyFile}") cfg.apiKeys
    ++ lib.optional (
      cfg.bitcoindRpcPasswordFile != null
    ) "bitcoind-rpc-password:${cfg.bitcoindRpcPasswordFile}"
    ++ lib.optional (cfg.metricsPasswordFile != null) "metrics-password:${cfg.metricsPasswordFile}"
    ++ lib.mapAttrsToList (name: hook: "webhook-${name}:${hook.secretFile}") cfg.webhooks;

  # [[webhooks]] tables; each secret comes from the credential webhook-<name>.
  webhookTables = lib.mapAttrsToList (
    name: hook:
    {
      inherit name;
      inherit (hook) url kinds;
      timeout_secs = hook.timeoutSecs;
    }
    // lib.optionalAttrs hook.allowInsecureHttp { allow_insecure_http = true; }
    // lib.optionalAttrs (hook.caFile != null) { ca_file = "${hook.caFile}"; }
  ) cfg.webhooks;

  secretFileOption =
    what:
    mkOption {
      type = types.nullOr types.str;
      default = null;
      example = "/run/keys/ldk-server-${what}";
      description = ''
        File holding the ${what}, outside the Nix store (e.g. provisioned by agenix or
        sops-nix). It is passed to the service with `LoadCredential=` and never copied into the
        store or the configuration file.
      '';
    };

  chainSources = lib.filter (source: source) [
    (cfg.bitcoind.rpcAddress != null)
    (cfg.esploraUrl != null)
    (cfg.electrumUrl != null)
  ];

  notInStore = path: path == null || !(lib.hasPrefix builtins.storeDir (toString path));
in
{
  options.services.ldk-server = {
    enable = lib.mkEnableOption "ldk-server, a Lightning node serving the LDK Server gRPC API";

    package = lib.mkPackageOption pkgs "ldk-server" { };

    network = mkOption {
      type = types.enum [
        "bitcoin"
        "testnet"
        "testnet4"
        "signet"
        "regtest"
      ];
      default = "bitcoin";
      description = "The Bitcoin network the node runs on.";
    };

    port = mkOption {
      type = types.port;
      default = 9735;
      description = "The Lightning peer-to-peer port (opened by `openFirewall`).";
    };

    listenAddresses = mkOption {
      type = types.listOf types.str;
      default = [ "0.0.0.0:${toString cfg.port}" ];
      defaultText = lib.literalExpression ''[ "0.0.0.0:''${toString config.services.ldk-server.port}" ]'';
      description = "Addresses (`host:port`) to accept Lightning peer connections on.";
    };

    alias = mkOption {
      type = types.nullOr (types.strMatching ".{1,32}");
      default = null;
      description = "The node alias announced to the network (at most 32 bytes).";
    };

    openFirewall = mkOption {
      type = types.bool;
      default = false;
      description = "Whether to open `port` in the firewall for Lightning peers.";
    };

    grpc = {
      address = mkOption {
        type = types.str;
        default = "127.0.0.1";
        example = "[::]";
        description = ''
          Address the gRPC API socket listens on (IPv6 in brackets). To serve other hosts, also
          widen `grpc.allowedIPs` and add the host name to `settings.tls.hosts`.
        '';
      };
      port = mkOption {
        type = types.port;
        default = 3536;
        description = "Port of the gRPC API socket.";
      };
      allowedIPs = mkOption {
        type = types.listOf types.str;
        default = [ "localhost" ];
        example = [
          "localhost"
          "192.0.2.0/24"
        ];
        description = ''
          `IPAddressAllow=` of the gRPC socket; everything else is denied. A socket passed to the
          service keeps its own IP rules, so this is where remote access is fenced in.
        '';
      };
      openFirewall = mkOption {
        type = types.bool;
        default = false;
        description = ''
          Whether to open `grpc.port` in the firewall, for API clients on other hosts (with
          `grpc.address` and `grpc.allowedIPs` widened too: the socket's own rules still apply).
        '';
      };
    };

    metrics = {
      enable = mkOption {
        type = types.bool;
        default = true;
        description = "Whether to serve `/metrics` and `/healthz` on a plain-HTTP socket.";
      };
      address = mkOption {
        type = types.str;
        default = "127.0.0.1";
        description = "Address of the metrics socket.";
      };
      port = mkOption {
        type = types.port;
        default = 3537;
        description = "Port of the metrics socket.";
      };
      allowedIPs = mkOption {
        type = types.listOf types.str;
        default = [ "localhost" ];
        description = "`IPAddressAllow=` of the metrics socket; everything else is denied.";
      };
      username = mkOption {
        type = types.nullOr types.str;
        default = null;
        description = "Basic-auth user name for `/metrics` (with `metricsPasswordFile`).";
      };
    };

    bitcoind = {
      rpcAddress = mkOption {
        type = types.nullOr types.str;
        default = null;
        example = "127.0.0.1:8332";
        description = "Bitcoin Core JSON-RPC address (`host:port`) used as chain source.";
      };
      rpcUser = mkOption {
        type = types.str;
        default = "ldk-server";
        description = "Bitcoin Core JSON-RPC user; its password comes from `bitcoindRpcPasswordFile`.";
      };
      local = {
        enable = lib.mkEnableOption "the chain source `services.bitcoind.<instance>` of this host";
        instance = mkOption {
          type = types.str;
          default = "main";
          description = ''
            Name of the `services.bitcoind` instance: its RPC port becomes `bitcoind.rpcAddress`
            on 127.0.0.1 and the node starts after it. Give it an `rpc.users` entry for
            `bitcoind.rpcUser` whose password is in `bitcoindRpcPasswordFile`.
          '';
        };
      };
    };

    esploraUrl = mkOption {
      type = types.nullOr types.str;
      default = null;
      example = "https://mempool.space/api";
      description = "Esplora server used as chain source.";
    };

    electrumUrl = mkOption {
      type = types.nullOr types.str;
      default = null;
      example = "ssl://electrum.blockstream.info:50002";
      description = "Electrum server used as chain source.";
    };

    apiKeyFile = secretFileOption "API key (its raw bytes; their hex is the key)";

    apiKeys = mkOption {
      type = types.attrsOf (
        types.submodule {
          options = {
            scopes = mkOption {
              type = types.listOf (
                types.enum [
                  "read"
                  "receive"
                  "send"
                  "channels"
                  "sign"
                  "admin"
                ]
              );
              default = [ ];
              example = [
                "read"
                "receive"
              ];
              description = "What the key may call (see the scope table in the README).";
            };
            methods = mkOption {
              type = types.listOf types.str;
              default = [ ];
              example = [ "GetNodeInfo" ];
              description = "Single methods of api.LightningNode the key may call besides its scopes.";
            };
            keyFile = mkOption {
              type = types.str;
              example = "/run/keys/ldk-server-shop";
              description = ''
                File holding the key's secret: at least 32 hex digits (e.g. from
                `openssl rand -hex 32`), outside the Nix store. It is passed to the service with
                `LoadCredential=` and never copied into the store or a configuration file; clients
                use its text as the API key.
              '';
            };
            budget = mkOption {
              type = types.nullOr types.str;
              default = null;
              example = "100000sat/24h";
              description = "Most the key may send (amounts plus routing fee limits) per rolling window.";
            };
          };
        }
      );
      default = { };
      example = lib.literalExpression ''
        {
          shop = {
            scopes = [ "read" "receive" ];
            keyFile = "/run/keys/ldk-server-shop";
          };
          agent = {
            scopes = [ "send" ];
            keyFile = "/run/keys/ldk-server-agent";
            budget = "100000sat/24h";
          };
        }
      '';
      description = ''
        API keys besides the admin key, each with its scopes and optional budget. A key is
        revoked by removing it here (a RevokeKey lasts until the next activation re-installs
        it); keys made with `ldk-server-cli keys create` live beside these.
      '';
    };
    webhooks = mkOption {
      type = types.attrsOf (
        types.submodule {
          options = {
            url = mkOption {
              type = types.str;
              example = "https://shop.example/ldk-events";
              description = "Where events are POSTed (https; plain http only to loopback unless allowInsecureHttp).";
            };
            secretFile = mkOption {
              type = types.str;
              example = "/run/keys/ldk-server-webhook-shop";
              description = ''
                File holding the signing secret (at least 16 bytes, e.g. from
                `openssl rand -hex 32`), outside the Nix store. It is passed to the service with
                `LoadCredential=` as `webhook-<name>`; the receiver verifies signatures with it.
              '';
            };
            kinds = mkOption {
              type = types.listOf types.str;
              default = [ ];
              example = [ "payments" ];
              description = "Event kinds delivered: groups (payments, forwards, channels) or event names; empty for all.";
            };
            timeoutSecs = mkOption {
              type = types.ints.between 1 300;
              default = 10;
              description = "How long one delivery attempt may take.";
            };
            allowInsecureHttp = mkOption {
              type = types.bool;
              default = false;
              description = "Allow plain http to a host other than loopback (events would cross the network unencrypted).";
            };
            caFile = mkOption {
              type = types.nullOr types.path;
              default = null;
              example = "/etc/ssl/shop-ca.pem";
              description = ''
                PEM certificates of the only CAs trusted for this receiver (a receiver behind a
                private CA); null trusts the public web PKI. Certificates are public: a store
                path is fine.
              '';
            };
          };
        }
      );
      default = { };
      example = lib.literalExpression ''
        {
          shop = {
            url = "https://shop.example/ldk-events";
            secretFile = "/run/keys/ldk-server-webhook-shop";
            kinds = [ "payments" ];
          };
        }
      '';
      description = ''
        Webhooks: the event log delivered in order, at least once, signed with HMAC-SHA256 (see
        the README's Webhooks section). Names are 1 to 32 of a-z, 0-9, `-` and `_`.
      '';
    };

    bitcoindRpcPasswordFile = secretFileOption "Bitcoin Core RPC password";
    metricsPasswordFile = secretFileOption "/metrics Basic-auth password";

    settings = mkOption {
      type = types.submodule { freeformType = format.type; };
      default = { };
      example = lib.literalExpression ''
        {
          node.announcement_addresses = [ "203.0.113.7:9735" ];
          liquidity.lsps2_client = {
            node_pubkey = "02…";
            address = "lsp.example.org:9735";
          };
        }
      '';
      description = ''
        The configuration file (TOML, upstream LDK Server's keys), merged over what the typed
        options set. Secrets do not belong here: use the `*File` options.
      '';
    };

    operatorGroup = mkOption {
      type = types.nullOr types.str;
      default = null;
      example = "ldk-operators";
      description = ''
        Members of this group may use `ldk-server-cli` (installed by this module, preconfigured):
        the certificate and API key are copied to ${operatorDir}, readable by the group (by root
        alone when this is null). The group is created if needed.
      '';
    };

    prometheus.enable = mkOption {
      type = types.bool;
      default = false;
      description = "Whether to add a scrape job and the alert rules to `services.prometheus`.";
    };

    grafana = {
      enable = mkOption {
        type = types.bool;
        default = false;
        description = ''
          Whether to provision the dashboards (and, with `prometheus.enable`, the Prometheus data
          source) through `services.grafana.provision.{dashboards,datasources}.settings`. Where the
          host provisions one of them from a `path` instead (nixpkgs takes either, not both), the
          module leaves that one alone and warns: add the files of `grafana.provisioning` to the
          host's path.
        '';
      };
      provisioning = mkOption {
        type = types.package;
        readOnly = true;
        default = grafanaProvisioning;
        defaultText = lib.literalMD "a directory with `dashboards/ldk-server.yaml` and `datasources/ldk-server.yaml`";
        description = ''
          Grafana provisioning files of this node (a dashboard provider for the package's boards,
          and a data source for this host's Prometheus), for hosts that provision Grafana from a
          `path`: e.g. `services.grafana.provision.dashboards.path = pkgs.symlinkJoin { name =
          "dashboards"; paths = [ ./dashboards "''${config.services.ldk-server.grafana.provisioning}/dashboards" ]; }`.
        '';
      };
    };

    publishedFiles = mkOption {
      type = types.attrsOf types.str;
      internal = true;
      readOnly = true;
      default = {
        certificate = certSource;
        apiKey = apiKeySource;
      };
      description = "The files ldk-server-init.service copies to ${operatorDir} (read by nix/module-eval.nix).";
    };

    confinement = mkOption {
      type = types.bool;
      default = true;
      description = ''
        Whether the service sees only its own closure of the Nix store (nixpkgs'
        systemd-confinement) instead of the host's file system, read-only.
      '';
    };
  };

  config = lib.mkIf cfg.enable {
    assertions = [
      {
        assertion = lib.length chainSources == 1 || (chainSources == [ ] && cfg.network == "signet");
        message = ''
          services.ldk-server: set exactly one chain source: bitcoind.rpcAddress (or
          bitcoind.local.enable), esploraUrl or electrumUrl (only signet has a default).
        '';
      }
      {
        assertion = cfg.bitcoind.rpcAddress != null -> cfg.bitcoindRpcPasswordFile != null;
        message = "services.ldk-server: bitcoind.rpcAddress needs bitcoindRpcPasswordFile (the password of bitcoind.rpcUser).";
      }
      {
        assertion = cfg.bitcoind.local.enable -> (localBitcoind != null && localBitcoind.enable);
        message = "services.ldk-server: bitcoind.local.enable needs services.bitcoind.${cfg.bitcoind.local.instance}.enable = true (or set bitcoind.local.instance).";
      }
      {
        assertion = (cfg.metrics.username != null) == (cfg.metricsPasswordFile != null);
        message = "services.ldk-server: metrics.username and metricsPasswordFile go together.";
      }
      {
        assertion = cfg.prometheus.enable -> cfg.metrics.enable;
        message = "services.ldk-server: prometheus.enable scrapes the metrics socket: set metrics.enable = true.";
      }
      {
        assertion = cfg.prometheus.enable -> config.services.prometheus.enable;
        message = "services.ldk-server: prometheus.enable adds a scrape job and alert rules to services.prometheus, which is off: set services.prometheus.enable = true (or prometheus.enable = false).";
      }
      {
        assertion = cfg.grafana.enable -> config.services.grafana.enable;
        message = "services.ldk-server: grafana.enable provisions dashboards into services.grafana: set services.grafana.enable = true.";
      }
      {
        assertion = lib.all notInStore (
          [
            cfg.apiKeyFile
            cfg.bitcoindRpcPasswordFile
            cfg.metricsPasswordFile
          ]
          ++ lib.mapAttrsToList (_: key: key.keyFile) cfg.apiKeys
          ++ lib.mapAttrsToList (_: hook: hook.secretFile) cfg.webhooks
        );
        message = "services.ldk-server: secret files must not be in the Nix store (it is world-readable); use a path string such as \"/run/keys/…\".";
      }
      {
        assertion = lib.all (
          name: builtins.match "[a-z0-9_-]{1,32}" name != null && name != "admin"
        ) (lib.attrNames cfg.apiKeys);
        message = "services.ldk-server.apiKeys: names are 1 to 32 of a-z, 0-9, `-` and `_`, and not `admin` (the api_key file's).";
      }
      {
        assertion = lib.all (name: builtins.match "[a-z0-9_-]{1,32}" name != null) (
          lib.attrNames cfg.webhooks
        );
        message = "services.ldk-server.webhooks: names are 1 to 32 of a-z, 0-9, `-` and `_`.";
      }
      {
        assertion = lib.all (key: key.scopes != [ ] || key.methods != [ ]) (lib.attrValues cfg.apiKeys);
        message = "services.ldk-server.apiKeys: every key needs at least one scope or method.";
      }
      {
        assertion =
          !(cfg.settings ? bitcoind && cfg.settings.bitcoind ? rpc_password)
          && !(cfg.settings ? metrics && cfg.settings.metrics ? password);
        message = "services.ldk-server: passwords in `settings` would land in the Nix store; use bitcoindRpcPasswordFile and metricsPasswordFile.";
      }
    ];

    warnings =
      lib.optional (cfg.grpc.openFirewall && (isLoopback cfg.grpc.address || lib.all isLoopback cfg.grpc.allowedIPs)) ''
        services.ldk-server: grpc.openFirewall opens port ${toString cfg.grpc.port}, but the gRPC socket
        listens on ${cfg.grpc.address} and admits only ${lib.concatStringsSep ", " cfg.grpc.allowedIPs}: also widen
        grpc.address (e.g. "0.0.0.0") and grpc.allowedIPs, or remote clients still cannot connect.
      ''
      ++ lib.optional (cfg.grafana.enable && hostDashboardsPath) ''
        services.ldk-server: services.grafana.provision.dashboards.path is set, and nixpkgs takes
        either a path or settings, so the ldk-server dashboards are not provisioned. Add
        "''${config.services.ldk-server.grafana.provisioning}/dashboards" to that path (and set
        services.ldk-server.grafana.enable = false to silence this).
      ''
      ++ lib.optional (cfg.grafana.enable && cfg.prometheus.enable && hostDatasourcesPath) ''
        services.ldk-server: services.grafana.provision.datasources.path is set, and nixpkgs takes
        either a path or settings, so the Prometheus data source of the ldk-server dashboards is
        not provisioned. Add "''${config.services.ldk-server.grafana.provisioning}/datasources" to
        that path (and set services.ldk-server.grafana.enable = false to silence this).
      '';

    services.ldk-server = {
      bitcoind.rpcAddress = lib.mkIf cfg.bitcoind.local.enable (
        lib.mkDefault "127.0.0.1:${toString localRpcPort}"
      );
      settings = lib.mkMerge [
        {
          node = {
            network = lib.mkDefault cfg.network;
            listening_addresses = lib.mkDefault cfg.listenAddresses;
            grpc_service_address = lib.mkDefault "${cfg.grpc.address}:${toString cfg.grpc.port}";
          };
          storage.disk.dir_path = stateDir;
          log = {
            journald = lib.mkDefault "auto";
            log_to_file = lib.mkDefault false;
          };
        }
        (lib.mkIf (cfg.alias != null) { node.alias = lib.mkDefault cfg.alias; })
        (lib.mkIf cfg.metrics.enable {
          metrics = {
            enabled = true;
            listen_address = lib.mkDefault "${cfg.metrics.address}:${toString cfg.metrics.port}";
          };
        })
        (lib.mkIf (cfg.metrics.username != null) { metrics.username = cfg.metrics.username; })
        (lib.mkIf (cfg.bitcoind.rpcAddress != null) {
          bitcoind = {
            rpc_address = cfg.bitcoind.rpcAddress;
            rpc_user = cfg.bitcoind.rpcUser;
          };
        })
        (lib.mkIf (cfg.esploraUrl != null) { esplora.server_url = cfg.esploraUrl; })
        (lib.mkIf (cfg.electrumUrl != null) { electrum.server_url = cfg.electrumUrl; })
        (lib.mkIf (cfg.webhooks != { }) { webhooks = webhookTables; })
      ];
    };

    users.users.ldk-server = {
      isSystemUser = true;
      group = "ldk-server";
      home = stateDir;
      description = "LDK Server Lightning node";
    };
    users.groups = lib.mkMerge [
      { ldk-server = { }; }
      (lib.mkIf (cfg.operatorGroup != null) { ${cfg.operatorGroup} = { }; })
    ];

    # The CLI, preconfigured: address, certificate and API key of this node.
    environment.systemPackages = [ cliWrapper ];

    networking.firewall.allowedTCPPorts =
      lib.optional cfg.openFirewall cfg.port ++ lib.optional cfg.grpc.openFirewall cfg.grpc.port;

    # ldk-server.service, ldk-server-init.service, ldk-server.socket and ldk-server-metrics.socket
    # with their hardening.
    systemd.packages = [ cfg.package ];

    # Creates the seed, certificate and API key before the first connection, so that the first
    # CLI call can be the one that starts the node; publishes them to the operators. The sandbox
    # is the packaged unit's (systemd/ldk-server-init.service: no network, no capabilities, the
    # service's system call filter); this drop-in sets only the command, the credentials and the
    # publishing step (which runs as root, outside the sandbox: "+").
    systemd.services.ldk-server-init = {
      wantedBy = [ "multi-user.target" ];
      before = [ "ldk-server.service" ];
      restartTriggers = [ configFile ];
      serviceConfig = {
        ExecStart = [
          ""
          "${lib.getExe cfg.package} --init ${configFile}"
        ];
        ExecStartPost = [
          "+${publishForOperators}"
          "+${installApiKeys}"
        ];
        # The API key alone: creating the files needs no password.
        LoadCredential = [ "" ] ++ lib.optional (cfg.apiKeyFile != null) "api_key:${cfg.apiKeyFile}";
      };
    };

    systemd.services.ldk-server = {
      # A changed key definition reaches the running server through the key directory (re-read
      # within a second); a new or changed keyFile needs the new credential, hence a restart.
      # Started by its sockets; `systemctl start ldk-server` works too.
      requires = [ "ldk-server-init.service" ];
      after = [
        "ldk-server-init.service"
      ]
      ++ lib.optional cfg.bitcoind.local.enable "bitcoind-${cfg.bitcoind.local.instance}.service";
      wants = lib.optional cfg.bitcoind.local.enable "bitcoind-${cfg.bitcoind.local.instance}.service";
      restartTriggers = [ configFile ];
      serviceConfig = {
        # Empty entries reset what the packaged unit sets.
        ExecStart = [
          ""
          "${lib.getExe cfg.package} ${configFile}"
        ];
        ExecReload = [
          ""
          "${lib.getExe' pkgs.coreutils "kill"} -HUP $MAINPID"
        ];
        LoadCredential = [ "" ] ++ credentials;
        # The configuration comes from the store: no /etc/ldk-server, which systemd would
        # otherwise create (and cannot, where /etc is read-only: system.etc.overlay.mutable = false).
        ConfigurationDirectory = "";
        # Name resolution for peers and chain sources given by host name (absent files are
        # skipped); the confined service sees nothing else of /etc.
        BindReadOnlyPaths = lib.mkIf cfg.confinement [
          "-/etc/resolv.conf"
          "-/etc/hosts"
          "-/etc/nsswitch.conf"
          "-/run/nscd"
          # journald's native socket (structured fields) and sd_notify, which recent systemd
          # binds into a RootDirectory= by itself.
          "-/run/systemd/journal/socket"
          "-/run/systemd/notify"
        ];
      };
      confinement = lib.mkIf cfg.confinement {
        enable = true;
        binSh = null;
      };
    };

    systemd.sockets.ldk-server = {
      wantedBy = [ "sockets.target" ];
      listenStreams = [
        ""
        "${cfg.grpc.address}:${toString cfg.grpc.port}"
      ];
      socketConfig.IPAddressAllow = [ "" ] ++ cfg.grpc.allowedIPs;
    };

    # Without metrics the packaged socket is masked: the service's `Wants=` would still start
    # it, and the server serves /metrics on a passed metrics socket.
    systemd.sockets.ldk-server-metrics =
      if cfg.metrics.enable then
        {
          wantedBy = [ "sockets.target" ];
          listenStreams = [
            ""
            "${cfg.metrics.address}:${toString cfg.metrics.port}"
          ];
          socketConfig.IPAddressAllow = [ "" ] ++ cfg.metrics.allowedIPs;
        }
      else
        { enable = false; };

    services.prometheus = lib.mkIf cfg.prometheus.enable {
      scrapeConfigs = [
        (
          {
            job_name = "ldk-server";
            scrape_interval = "15s";
            static_configs = [ { targets = [ "${cfg.metrics.address}:${toString cfg.metrics.port}" ]; } ];
          }
          // lib.optionalAttrs (cfg.metrics.username != null) {
            basic_auth = {
              inherit (cfg.metrics) username;
              password_file = "/run/credentials/prometheus.service/ldk-server-metrics-password";
            };
          }
        )
      ];
      ruleFiles = [ "${cfg.package}/share/prometheus/rules/ldk-server.rules.yml" ];
    };
    # The condition on the whole service, and on services.prometheus.enable: a drop-in for a
    # prometheus.service that nixpkgs does not define would be a unit without ExecStart=.
    systemd.services.prometheus =
      lib.mkIf
        (cfg.prometheus.enable && config.services.prometheus.enable && cfg.metricsPasswordFile != null)
        {
          serviceConfig.LoadCredential = [ "ldk-server-metrics-password:${cfg.metricsPasswordFile}" ];
        };

    # Only what the module provides, and never beside a path the host provisions from (the
    # conditions are inside the submodules, where reading the host's `path` does not depend on
    # this definition).
    services.grafana.provision = lib.mkIf cfg.grafana.enable {
      enable = true;
      dashboards.settings = lib.mkIf (!hostDashboardsPath) {
        providers = [ dashboardProvider ];
      };
      datasources.settings = lib.mkIf (cfg.prometheus.enable && !hostDatasourcesPath) {
        datasources = [ prometheusDatasource ];
      };
    };
  };

  meta.maintainers = [ ];
}
