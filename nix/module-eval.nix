# checks.<system>.module-eval: services.ldk-server evaluated by nixpkgs' own NixOS module
# system (nixos/lib/eval-config.nix, with every nixpkgs module) in the configurations below,
# with assertions on what the module generates. Evaluation errors, unexpected failed
# assertions or a wrong attribute fail the check with the list of what differs. Its build then
# runs `systemd-analyze security --offline=true` on the generated init unit (the packaged file
# plus the module's drop-in, as NixOS installs them) and on the generated service, and fails
# when the init unit is exposed more than the service.
{
  nixpkgs,
  self,
  pkgs,
}:
let
  inherit (nixpkgs) lib;
  inherit (pkgs.stdenv.hostPlatform) system;

  # What every evaluated host has besides the module: enough for NixOS' own assertions (a root
  # file system, no boot loader to install).
  host = {
    fileSystems."/" = {
      device = "none";
      fsType = "tmpfs";
    };
    boot.loader.grub.enable = false;
    system.stateVersion = lib.trivial.release;
  };

  evaluate =
    modules:
    (import "${nixpkgs}/nixos/lib/eval-config.nix" {
      inherit system;
      modules = [
        host
        self.nixosModules.default
      ]
      ++ modules;
    }).config;

  failedAssertions = config: map (a: a.message) (lib.filter (a: !a.assertion) config.assertions);
  ours = lib.filter (lib.hasPrefix "services.ldk-server:");

  # A host's Grafana needs a secret key (nixpkgs asserts it); a file reference, as the README.
  grafanaHost = {
    services.grafana = {
      enable = true;
      settings.security.secret_key = "$__file{/run/keys/grafana-secret-key}";
    };
  };
  metricsAuth = {
    services.ldk-server = {
      metrics.username = "prometheus";
      metricsPasswordFile = "/run/keys/ldk-server-metrics-password";
    };
  };

  configs = {
    defaults = evaluate [
      {
        services.ldk-server = {
          enable = true;
          network = "signet";
        };
      }
    ];
    bitcoindLocal = evaluate [
      {
        services.bitcoind.main.enable = true;
        services.ldk-server = {
          enable = true;
          bitcoind.local.enable = true;
          bitcoindRpcPasswordFile = "/run/keys/ldk-server-rpc-password";
          settings.tls.cert_path = "/var/lib/ldk-server/custom.crt";
          settings.auth.api_key_file = "/var/lib/ldk-server/custom_api_key";
        };
      }
    ];
    monitoring = evaluate [
      grafanaHost
      metricsAuth
      {
        services.ldk-server = {
          enable = true;
          network = "signet";
          prometheus.enable = true;
          grafana.enable = true;
        };
        services.prometheus.enable = true;
      }
    ];
    prometheusOff = evaluate [
      metricsAuth
      {
        services.ldk-server = {
          enable = true;
          network = "signet";
          prometheus.enable = true;
        };
      }
    ];
    grafanaPath = evaluate [
      grafanaHost
      {
        services.ldk-server = {
          enable = true;
          network = "signet";
          prometheus.enable = true;
          grafana.enable = true;
        };
        services.prometheus.enable = true;
        services.grafana.provision = {
          enable = true;
          dashboards.path = "${pkgs.emptyDirectory}";
          datasources.path = "${pkgs.emptyDirectory}";
        };
      }
    ];
    noConfinement = evaluate [
      {
        services.ldk-server = {
          enable = true;
          network = "signet";
          confinement = false;
        };
      }
    ];
    readmeExample = evaluate [ ../nixos-module/example.nix ];
    webhooks = evaluate [
      {
        services.ldk-server = {
          enable = true;
          network = "signet";
          webhooks.shop = {
            url = "https://shop.example/ldk-events";
            secretFile = "/run/keys/ldk-server-webhook-shop";
            kinds = [ "payments" ];
            caFile = "/etc/ssl/shop-ca.pem";
          };
          webhooks.lan = {
            url = "http://192.0.2.10/hook";
            secretFile = "/run/keys/ldk-server-webhook-lan";
            allowInsecureHttp = true;
            timeoutSecs = 3;
          };
        };
      }
    ];
    webhookSecretInStore = evaluate [
      {
        services.ldk-server = {
          enable = true;
          network = "signet";
          webhooks."Bad Name" = {
            url = "https://shop.example/";
            secretFile = "${pkgs.emptyFile}";
          };
        };
      }
    ];
  };

  service = config: name: config.systemd.services.${name};
  unitText = config: name: config.systemd.units.${name}.text;
  # What the publishing step of ldk-server-init copies (its script is built from these).
  published = config: config.services.ldk-server.publishedFiles;
  hasLine = line: text: lib.elem line (lib.splitString "\n" text);

  # Every directive of the packaged init unit's [Service] section.
  initUnitFile = builtins.readFile ../systemd/ldk-server-init.service;
  initDirectives = lib.unique (
    map (line: lib.head (lib.splitString "=" line)) (
      lib.filter (line: builtins.match "[A-Za-z]+=.*" line != null) (lib.splitString "\n" initUnitFile)
    )
  );
  # What the module's drop-in may set of them: the command, the credentials, the publishing.
  initDropinAllowed = [
    "ExecStart"
    "ExecStartPost"
    "LoadCredential"
  ];

  checks = with configs; {
    "defaults: no failed assertion" = {
      expr = failedAssertions defaults;
      expected = [ ];
    };
    "defaults: the init drop-in sets only ExecStart, ExecStartPost and LoadCredential" = {
      expr = lib.attrNames (service defaults "ldk-server-init").serviceConfig;
      expected = initDropinAllowed;
    };
    "defaults: the init drop-in resets ExecStart and LoadCredential" = {
      expr = map (line: hasLine line (unitText defaults "ldk-server-init.service")) [
        "ExecStart="
        "LoadCredential="
      ];
      expected = [
        true
        true
      ];
    };
    "the packaged init unit has no network and no capabilities" = {
      expr = map (line: hasLine line initUnitFile) [
        "PrivateNetwork=yes"
        "RestrictAddressFamilies=AF_UNIX"
        "CapabilityBoundingSet="
        "PrivateUsers=yes"
        "MemoryDenyWriteExecute=yes"
      ];
      expected = [
        true
        true
        true
        true
        true
      ];
    };
    "the init drop-in overrides no sandbox directive of the packaged unit" = {
      expr = lib.subtractLists initDropinAllowed (
        lib.intersectLists initDirectives (lib.attrNames (service defaults "ldk-server-init").serviceConfig)
      );
      expected = [ ];
    };
    "defaults: the init unit runs at boot, before the service, which requires it" = {
      expr = {
        wantedBy = lib.elem "multi-user.target" (service defaults "ldk-server-init").wantedBy;
        before = lib.elem "ldk-server.service" (service defaults "ldk-server-init").before;
        requires = lib.elem "ldk-server-init.service" (service defaults "ldk-server").requires;
      };
      expected = {
        wantedBy = true;
        before = true;
        requires = true;
      };
    };
    "defaults: no /etc/ldk-server (ConfigurationDirectory reset)" = {
      expr = hasLine "ConfigurationDirectory=" (unitText defaults "ldk-server.service");
      expected = true;
    };
    "defaults: the service is confined" = {
      expr = (service defaults "ldk-server").serviceConfig ? RootDirectory;
      expected = true;
    };
    "defaults: no firewall port, no prometheus.service, no Grafana provisioning" = {
      expr = {
        ports = defaults.networking.firewall.allowedTCPPorts;
        prometheus = defaults.systemd.services ? prometheus;
        grafana = defaults.services.grafana.provision.enable;
      };
      expected = {
        ports = [ ];
        prometheus = false;
        grafana = false;
      };
    };
    "defaults: the preconfigured CLI outranks the package's ldk-server-cli" = {
      expr = map (p: (p.meta.priority or lib.meta.defaultPriority) < lib.meta.defaultPriority) (
        lib.filter (p: lib.getName p == "ldk-server-cli") defaults.environment.systemPackages
      );
      expected = [ true ];
    };
    "defaults: the publish step copies <storage>/tls.crt and <storage>/signet/api_key" = {
      expr = published defaults;
      expected = {
        certificate = "/var/lib/ldk-server/tls.crt";
        apiKey = "/var/lib/ldk-server/signet/api_key";
      };
    };
    "bitcoindLocal: no failed assertion" = {
      expr = failedAssertions bitcoindLocal;
      expected = [ ];
    };
    "bitcoindLocal: the chain source is the local bitcoind, started first" = {
      expr = {
        inherit (bitcoindLocal.services.ldk-server.settings.bitcoind) rpc_address;
        after = lib.elem "bitcoind-main.service" (service bitcoindLocal "ldk-server").after;
        credentials = {
          service = (service bitcoindLocal "ldk-server").serviceConfig.LoadCredential;
          init = (service bitcoindLocal "ldk-server-init").serviceConfig.LoadCredential;
        };
      };
      expected = {
        rpc_address = "127.0.0.1:8332";
        after = true;
        # The init unit gets no password.
        credentials = {
          service = [
            ""
            "bitcoind-rpc-password:/run/keys/ldk-server-rpc-password"
          ];
          init = [ "" ];
        };
      };
    };
    "bitcoindLocal: the publish step follows tls.cert_path and auth.api_key_file" = {
      expr = published bitcoindLocal;
      expected = {
        certificate = "/var/lib/ldk-server/custom.crt";
        apiKey = "/var/lib/ldk-server/custom_api_key";
      };
    };
    "readmeExample: the publish step copies the apiKeyFile" = {
      expr = (published readmeExample).apiKey;
      expected = "/run/keys/ldk-server-api-key";
    };
    "monitoring: no failed assertion" = {
      expr = failedAssertions monitoring;
      expected = [ ];
    };
    "monitoring: scrape job, rules, credential, dashboards and data source" = {
      expr = {
        jobs = map (job: job.job_name) monitoring.services.prometheus.scrapeConfigs;
        credential = lib.elem "ldk-server-metrics-password:/run/keys/ldk-server-metrics-password" (
          service monitoring "prometheus"
        ).serviceConfig.LoadCredential;
        providers = map (p: p.name) monitoring.services.grafana.provision.dashboards.settings.providers;
        datasources = map (d: d.uid) monitoring.services.grafana.provision.datasources.settings.datasources;
      };
      expected = {
        jobs = [ "ldk-server" ];
        credential = true;
        providers = [ "ldk-server" ];
        datasources = [ "ldk-server-prometheus" ];
      };
    };
    "prometheusOff: exactly the new assertion fails" = {
      expr = map (lib.hasInfix "services.prometheus, which is off") (failedAssertions prometheusOff);
      expected = [ true ];
    };
    "prometheusOff: no prometheus.service drop-in" = {
      expr = {
        service = prometheusOff.systemd.services ? prometheus;
        unit = prometheusOff.systemd.units ? "prometheus.service";
      };
      expected = {
        service = false;
        unit = false;
      };
    };
    "grafanaPath: no failed assertion (no settings beside the host's paths)" = {
      expr = {
        failed = failedAssertions grafanaPath;
        dashboards = grafanaPath.services.grafana.provision.dashboards.settings;
        datasources = grafanaPath.services.grafana.provision.datasources.settings;
      };
      expected = {
        failed = [ ];
        dashboards = null;
        datasources = null;
      };
    };
    "grafanaPath: a warning for each path, naming the files to add" = {
      expr = map (lib.hasInfix "grafana.provisioning}/") (ours grafanaPath.warnings);
      expected = [
        true
        true
      ];
    };
    "noConfinement: no failed assertion, not confined" = {
      expr = {
        failed = failedAssertions noConfinement;
        root = (service noConfinement "ldk-server").serviceConfig ? RootDirectory;
      };
      expected = {
        failed = [ ];
        root = false;
      };
    };
    "webhooks: tables in the file, secrets as credentials of the service only" = {
      expr = {
        failed = failedAssertions webhooks;
        tables = webhooks.services.ldk-server.settings.webhooks;
        service = (service webhooks "ldk-server").serviceConfig.LoadCredential;
        init = (service webhooks "ldk-server-init").serviceConfig.LoadCredential;
      };
      expected = {
        failed = [ ];
        # attrsOf: in name order.
        tables = [
          {
            name = "lan";
            url = "http://192.0.2.10/hook";
            kinds = [ ];
            timeout_secs = 3;
            allow_insecure_http = true;
          }
          {
            name = "shop";
            url = "https://shop.example/ldk-events";
            kinds = [ "payments" ];
            timeout_secs = 10;
            ca_file = "/etc/ssl/shop-ca.pem";
          }
        ];
        service = [
          ""
          "webhook-lan:/run/keys/ldk-server-webhook-lan"
          "webhook-shop:/run/keys/ldk-server-webhook-shop"
        ];
        init = [ "" ];
      };
    };
    "webhookSecretInStore: a bad name and a secret in the store are refused" = {
      expr = map (message: lib.any (lib.hasInfix message) (failedAssertions webhookSecretInStore)) [
        "secret files must not be in the Nix store"
        "services.ldk-server.webhooks: names are"
      ];
      expected = [
        true
        true
      ];
    };
    "readmeExample: no failed assertion and no warning of ours" = {
      expr = {
        failed = failedAssertions readmeExample;
        warnings = ours readmeExample.warnings;
        # Forces the type check of the rpcauth entry (strMatching).
        hmac = lib.stringLength readmeExample.services.bitcoind.main.rpc.users.ldk-server.passwordHMAC;
      };
      expected = {
        failed = [ ];
        warnings = [ ];
        hmac = 97;
      };
    };
    "readmeExample: the firewall opens the P2P and the gRPC port" = {
      expr = lib.sort lib.lessThan (
        lib.filter (
          port:
          lib.elem port [
            9735
            3536
          ]
        ) readmeExample.networking.firewall.allowedTCPPorts
      );
      expected = [
        3536
        9735
      ];
    };
    "readmeExample: remote clients of 192.0.2.0/24 on 0.0.0.0:3536" = {
      expr = {
        inherit (readmeExample.systemd.sockets.ldk-server) listenStreams;
        inherit (readmeExample.systemd.sockets.ldk-server.socketConfig) IPAddressAllow;
      };
      expected = {
        listenStreams = [
          ""
          "0.0.0.0:3536"
        ];
        IPAddressAllow = [
          ""
          "localhost"
          "192.0.2.0/24"
        ];
      };
    };
  };

  failures = lib.filterAttrs (_: check: check.expr != check.expected) checks;
  report = lib.concatStringsSep "\n" (
    lib.mapAttrsToList (
      name: check:
      "${name}:\n  expected ${lib.generators.toPretty { } check.expected}\n  got      ${lib.generators.toPretty { } check.expr}"
    ) failures
  );

  # The generated units as NixOS installs them: the packaged file with the module's drop-in.
  # (The store paths in the drop-ins are only text here: nothing is built for them.)
  dropin = config: name: pkgs.writeText "${name}-overrides.conf" (builtins.unsafeDiscardStringContext (unitText config name));
in
if failures != { } then
  throw "module-eval: ${toString (lib.length (lib.attrNames failures))} check(s) failed:\n${report}"
else
  pkgs.runCommand "ldk-server-module-eval" { nativeBuildInputs = [ pkgs.systemd ]; } ''
    root=$PWD/root
    units=$root/etc/systemd/system
    mkdir -p $units/ldk-server-init.service.d $units/ldk-server.service.d
    cp ${../systemd/ldk-server-init.service} $units/ldk-server-init.service
    cp ${../systemd/ldk-server.service} $units/ldk-server.service
    cp ${dropin configs.defaults "ldk-server-init.service"} $units/ldk-server-init.service.d/overrides.conf
    cp ${dropin configs.defaults "ldk-server.service"} $units/ldk-server.service.d/overrides.conf
    exposure() {
      SYSTEMD_COLORS=0 systemd-analyze security --offline=true --no-pager --root="$root" "$1" \
        | sed -n 's/.*Overall exposure level for [^:]*: \([0-9.]*\).*/\1/p'
    }
    init=$(exposure ldk-server-init.service)
    main=$(exposure ldk-server.service)
    echo "offline exposure: ldk-server-init.service $init, ldk-server.service $main"
    [ -n "$init" ] && [ -n "$main" ]
    awk -v init="$init" -v main="$main" 'BEGIN { exit !(init <= main) }'
    {
      echo "${toString (lib.length (lib.attrNames checks))} checks passed:"
      printf '%s\n' ${lib.escapeShellArgs (lib.attrNames checks)}
      echo "offline exposure: ldk-server-init.service $init, ldk-server.service $main"
    } > $out
  ''
