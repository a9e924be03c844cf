//! The monitoring kit in `grafana/`: dashboards, alert rules and their provisioning, checked
//! against the real server and the real tools.
//!
//! - `dashboards_are_well_formed`: JSON lint of the four boards (uids, variables, data source of
//!   every panel and target, unit and description of every panel, instance filter in every
//!   query, no legacy metric name, only the `$__rate_interval`/`$__range` windows).
//! - `alert_rules_pass_promtool`: `promtool check rules` and `promtool test rules`.
//! - `dashboards_match_grafana_schema`: `npm ci` and `tsc` in `grafana/typecheck`
//!   (`@grafana/schema`'s `Dashboard` type).
//! - `promtool_accepts_live_scrape`: `promtool check metrics` on a live scrape, with and without
//!   upstream's legacy names.
//! - `prometheus_evaluates_boards_and_rules`: a real Prometheus scrapes running servers (two
//!   nodes with a channel and a payment when bitcoind is there, else a server whose chain is
//!   down), loads the rules, and every board and rule expression is evaluated; the names they
//!   use are compared with what the server exports.
//!
//! A missing tool (prometheus, promtool, npm, bitcoind) skips its part with a loud line.
//! `MONITORING_DEBUG=1` prints what every board query returned.

mod common;

use std::collections::{BTreeMap, BTreeSet};
use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use common::chain::{open_channel, wait_until, Chain, TestNode};
use common::webhook_receiver::Receiver;
use common::{free_port, unreachable_chain_config, ServerProcess};
use ldk_server::auth::ApiKey;
use ldk_server::client::{connect, connect_key_management, ClientOptions};
use ldk_server::metrics::UpstreamMetric;
use ldk_server::proto::admin::CreateKeyRequest;
use ldk_server::proto::api::{Bolt11SendRequest, GetNodeInfoRequest, ListChannelsRequest};
use serde_json::Value;

const BOARDS: [&str; 4] = [
    "ldk-server-overview.json",
    "ldk-server-payments.json",
    "ldk-server-channels.json",
    "ldk-server-api.json",
];
const RULES: &str = "grafana/alerts/ldk-server.rules.yml";
const RULE_TESTS: &str = "grafana/alerts/ldk-server.rules.test.yml";
const TYPECHECK: &str = "grafana/typecheck";
/// The schemaVersion of the boards (Grafana 12's dashboard JSON model).
const SCHEMA_VERSION: u64 = 41;
/// What the boards filter every selector with.
const INSTANCE_MATCHER: &str = r#"instance=~"$instance""#;
/// The units the boards use: counts, amounts in sats (msat series are divided by 1000), rates.
const UNITS: [&str; 11] = [
    "none",
    "short",
    "locale",
    "s",
    "percentunit",
    "reqps",
    "cps",
    "bytes",
    "dateTimeFromNow",
    "count:sat",
    "count:sat/h",
];
const PANEL_TYPES: [&str; 4] = ["timeseries", "stat", "gauge", "table"];
/// Basic auth of the metrics listeners in the Prometheus scenario.
const SCRAPE_USER: &str = "prometheus";
const SCRAPE_PASSWORD: &str = "scrape-secret-for-tests";

fn repo(path: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join(path)
}

fn skipped(what: &str) {
    eprintln!("\n*** SKIPPED (part) monitoring: {what} ***\n");
}

/// `program` if it is on PATH.
fn tool(program: &str) -> Option<PathBuf> {
    let path = std::env::var_os("PATH")?;
    std::env::split_paths(&path)
        .map(|dir| dir.join(program))
        .find(|candidate| candidate.is_file())
}

fn legacy_names() -> BTreeSet<&'static str> {
    UpstreamMetric::ALL.iter().map(|m| m.name()).collect()
}

// ------------------------------------------------------------------------------ dashboards

struct Board {
    file: &'static str,
    json: Value,
}

fn boards() -> Vec<Board> {
    BOARDS
        .iter()
        .map(|file| {
            let path = repo("grafana/dashboards").join(file);
            let text = std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{file}: {e}"));
            let json = serde_json::from_str(&text).unwrap_or_else(|e| panic!("{file}: {e}"));
            Board { file, json }
        })
        .collect()
}

/// Every panel of a board, including those inside rows.
fn panels(board: &Value) -> Vec<&Value> {
    fn walk<'a>(list: &'a Value, out: &mut Vec<&'a Value>) {
        for panel in list.as_array().into_iter().flatten() {
            out.push(panel);
            if let Some(inner) = panel.get("panels") {
                walk(inner, out);
            }
        }
    }
    let mut out = Vec::new();
    walk(&board["panels"], &mut out);
    out
}

/// (board file, panel title, expression) of every query of every board.
fn board_queries(boards: &[Board]) -> Vec<(&'static str, String, String)> {
    let mut out = Vec::new();
    for board in boards {
        for panel in panels(&board.json) {
            let title = panel["title"].as_str().unwrap_or_default().to_owned();
            for target in panel["targets"].as_array().into_iter().flatten() {
                if let Some(expr) = target["expr"].as_str() {
                    out.push((board.file, title.clone(), expr.to_owned()));
                }
            }
        }
        // The instance variable's query is a query too.
        for variable in board.json["templating"]["list"]
            .as_array()
            .into_iter()
            .flatten()
        {
            if variable["type"] == "query" {
                let query = variable["query"].as_str().unwrap_or_default();
                if let Some(inner) = query
                    .strip_prefix("label_values(")
                    .and_then(|q| q.rsplit_once(','))
                {
                    out.push((
                        board.file,
                        format!("variable {}", variable["name"]),
                        inner.0.trim().to_owned(),
                    ));
                }
            }
        }
    }
    out
}

/// The Prometheus expression of a board query, with Grafana's variables as the test sets them.
fn substitute(expr: &str) -> String {
    let out = expr
        .replace("$__rate_interval", "1m")
        .replace("$__range", "1h")
        .replace("$__interval", "15s")
        .replace("${instance}", ".*")
        .replace("$instance", ".*");
    assert!(!out.contains('$'), "unknown Grafana variable in {expr}");
    out
}

// ------------------------------------------------------------------------------ PromQL names

/// A vector selector: metric name and the text between its braces.
#[derive(Debug)]
struct Selector {
    name: String,
    matchers: Vec<String>,
}

/// Words that are PromQL operators, aggregations or literals, never metric names.
const PROMQL_WORDS: [&str; 26] = [
    "by",
    "without",
    "on",
    "ignoring",
    "group_left",
    "group_right",
    "bool",
    "and",
    "or",
    "unless",
    "offset",
    "atan2",
    "sum",
    "min",
    "max",
    "avg",
    "group",
    "stddev",
    "stdvar",
    "count",
    "count_values",
    "bottomk",
    "topk",
    "quantile",
    "inf",
    "nan",
];
/// Keywords followed by a parenthesised list of label names.
const GROUPING: [&str; 6] = [
    "by",
    "without",
    "on",
    "ignoring",
    "group_left",
    "group_right",
];

fn closing(chars: &[char], open: usize, close: char) -> usize {
    let opening = chars[open];
    let mut depth = 0;
    let mut i = open;
    while i < chars.len() {
        match chars[i] {
            '"' | '\'' | '`' => {
                i = skip_string(chars, i);
                continue;
            }
            c if c == opening => depth += 1,
            c if c == close => {
                depth -= 1;
                if depth == 0 {
                    return i;
                }
            }
            _ => {}
        }
        i += 1;
    }
    panic!(
        "unbalanced {opening} in {}",
        chars.iter().collect::<String>()
    )
}

fn skip_string(chars: &[char], start: usize) -> usize {
    let quote = chars[start];
    let mut i = start + 1;
    while i < chars.len() && chars[i] != quote {
        if chars[i] == '\\' && quote != '`' {
            i += 1;
        }
        i += 1;
    }
    i + 1
}

/// Splits `a="x",b=~"y,z"` at the commas outside quotes.
fn split_matchers(text: &str) -> Vec<String> {
    let chars: Vec<char> = text.chars().collect();
    let mut parts = Vec::new();
    let mut start = 0;
    let mut i = 0;
    while i < chars.len() {
        match chars[i] {
            '"' | '\'' | '`' => {
                i = skip_string(&chars, i);
                continue;
            }
            ',' => {
                parts.push(chars[start..i].iter().collect::<String>());
                start = i + 1;
            }
            _ => {}
        }
        i += 1;
    }
    parts.push(chars[start..].iter().collect::<String>());
    parts
        .into_iter()
        .map(|p| p.trim().to_owned())
        .filter(|p| !p.is_empty())
        .collect()
}

/// The vector selectors of a PromQL expression.
fn selectors(expr: &str) -> Vec<Selector> {
    let chars: Vec<char> = expr.chars().collect();
    let mut out = Vec::new();
    let mut i = 0;
    let next_non_space = |mut j: usize| {
        while j < chars.len() && chars[j].is_whitespace() {
            j += 1;
        }
        j
    };
    while i < chars.len() {
        let c = chars[i];
        if matches!(c, '"' | '\'' | '`') {
            i = skip_string(&chars, i);
        } else if c == '[' {
            i = closing(&chars, i, ']') + 1;
        } else if c == '{' {
            let end = closing(&chars, i, '}');
            out.push(Selector {
                name: String::new(),
                matchers: split_matchers(&chars[i + 1..end].iter().collect::<String>()),
            });
            i = end + 1;
        } else if c.is_ascii_digit()
            || (c == '.' && chars.get(i + 1).is_some_and(|d| d.is_ascii_digit()))
        {
            while i < chars.len() && (chars[i].is_ascii_alphanumeric() || chars[i] == '.') {
                i += 1;
            }
        } else if c.is_ascii_alphabetic() || c == '_' || c == ':' {
            let start = i;
            while i < chars.len()
                && (chars[i].is_ascii_alphanumeric() || chars[i] == '_' || chars[i] == ':')
            {
                i += 1;
            }
            let word: String = chars[start..i].iter().collect();
            let j = next_non_space(i);
            let lower = word.to_ascii_lowercase();
            if GROUPING.contains(&lower.as_str()) && chars.get(j) == Some(&'(') {
                i = closing(&chars, j, ')') + 1;
            } else if PROMQL_WORDS.contains(&lower.as_str()) || chars.get(j) == Some(&'(') {
                // An operator, an aggregation or a function call.
            } else {
                let mut matchers = Vec::new();
                if chars.get(j) == Some(&'{') {
                    let end = closing(&chars, j, '}');
                    matchers = split_matchers(&chars[j + 1..end].iter().collect::<String>());
                    i = end + 1;
                }
                out.push(Selector {
                    name: word,
                    matchers,
                });
            }
        } else {
            i += 1;
        }
    }
    out
}

/// The `[...]` windows of an expression.
fn windows(expr: &str) -> Vec<String> {
    let chars: Vec<char> = expr.chars().collect();
    let mut out = Vec::new();
    let mut i = 0;
    while i < chars.len() {
        match chars[i] {
            '"' | '\'' | '`' => {
                i = skip_string(&chars, i);
                continue;
            }
            '[' => {
                let end = closing(&chars, i, ']');
                out.push(chars[i + 1..end].iter().collect());
                i = end;
            }
            _ => {}
        }
        i += 1;
    }
    out
}

#[test]
fn promql_selector_parser() {
    let found = selectors(
        r#"histogram_quantile(0.9, sum by (instance, le) (rate(a_bucket{x="1,}",y=~"b"}[$__rate_interval]))) / on(job) group_left() b:rec or vector(1) * c offset 5m > bool 1e3 and max without(z) (d)"#,
    );
    let names: Vec<&str> = found.iter().map(|s| s.name.as_str()).collect();
    assert_eq!(names, ["a_bucket", "b:rec", "c", "d"]);
    assert_eq!(found[0].matchers, [r#"x="1,}""#, r#"y=~"b""#]);
    assert_eq!(
        windows(r#"rate(x[5m]) + y{a="[no]"}[$__range]"#),
        ["5m", "$__range"]
    );
}

#[test]
fn dashboards_are_well_formed() {
    let boards = boards();
    let legacy = legacy_names();
    let datasource = serde_json::json!({"type": "prometheus", "uid": "${datasource}"});
    let mut uids = BTreeSet::new();
    let mut titles = BTreeSet::new();
    let mut panel_count = 0;
    for board in &boards {
        let (file, json) = (board.file, &board.json);
        let uid = json["uid"]
            .as_str()
            .unwrap_or_else(|| panic!("{file}: no uid"));
        assert!(
            (1..=40).contains(&uid.len())
                && uid
                    .chars()
                    .all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '_'),
            "{file}: uid {uid:?} is not a valid Grafana uid"
        );
        assert!(
            uids.insert(uid.to_owned()),
            "{file}: uid {uid} is not unique"
        );
        let title = json["title"].as_str().unwrap_or_default();
        assert!(!title.is_empty(), "{file}: no title");
        assert!(
            titles.insert(title.to_owned()),
            "{file}: title {title} is not unique"
        );
        for key in ["__inputs", "__requires", "__elements"] {
            assert!(
                json.get(key).is_none(),
                "{file}: has {key} (an export for sharing, not for provisioning)"
            );
        }
        assert!(
            json["id"].is_null(),
            "{file}: id must be null (Grafana assigns it)"
        );
        assert_eq!(
            json["schemaVersion"], SCHEMA_VERSION,
            "{file}: schemaVersion"
        );
        assert!(
            json["description"].as_str().is_some_and(|d| !d.is_empty()),
            "{file}: no description"
        );
        assert!(
            matches!(json["graphTooltip"].as_u64(), Some(0..=2)),
            "{file}: graphTooltip"
        );
        for link in json["links"].as_array().into_iter().flatten() {
            assert!(
                matches!(link["type"].as_str(), Some("link" | "dashboards")),
                "{file}: link type {}",
                link["type"]
            );
        }

        // Variables: the data source, and the instances of that data source.
        let variables = json["templating"]["list"]
            .as_array()
            .expect("templating.list");
        let variable = |name: &str| {
            variables
                .iter()
                .find(|v| v["name"] == name)
                .unwrap_or_else(|| panic!("{file}: no {name} variable"))
        };
        let ds = variable("datasource");
        assert_eq!(ds["type"], "datasource", "{file}: datasource variable type");
        assert_eq!(
            ds["query"], "prometheus",
            "{file}: datasource variable query"
        );
        let instance = variable("instance");
        assert_eq!(instance["type"], "query", "{file}: instance variable type");
        assert_eq!(
            instance["query"], "label_values(ldk_server_build_info, instance)",
            "{file}: instance variable query"
        );
        assert_eq!(
            instance["datasource"], datasource,
            "{file}: instance variable datasource"
        );
        for variable in variables {
            let types = [
                "query",
                "adhoc",
                "groupby",
                "constant",
                "datasource",
                "interval",
                "textbox",
                "custom",
                "system",
                "snapshot",
                "switch",
            ];
            let kind = variable["type"].as_str().unwrap_or_default();
            assert!(types.contains(&kind), "{file}: variable type {kind}");
            assert!(matches!(variable["refresh"].as_u64(), None | Some(0..=2)));
            assert!(matches!(variable["hide"].as_u64(), None | Some(0..=3)));
            assert!(matches!(variable["sort"].as_u64(), None | Some(0..=8)));
        }

        // Panels.
        let mut ids = BTreeSet::new();
        let mut cells: BTreeMap<(u64, u64), String> = BTreeMap::new();
        for panel in panels(json) {
            panel_count += 1;
            let title = panel["title"].as_str().unwrap_or_default();
            let at = format!("{file}: panel {title:?}");
            assert!(!title.is_empty(), "{file}: a panel without a title");
            let id = panel["id"]
                .as_u64()
                .unwrap_or_else(|| panic!("{at}: no id"));
            assert!(ids.insert(id), "{at}: id {id} is not unique");
            let kind = panel["type"].as_str().unwrap_or_default();
            assert!(PANEL_TYPES.contains(&kind), "{at}: panel type {kind}");
            assert_eq!(panel["datasource"], datasource, "{at}: datasource");
            assert!(
                panel["description"].as_str().is_some_and(|d| d.len() > 20),
                "{at}: no description"
            );
            let defaults = &panel["fieldConfig"]["defaults"];
            let unit = defaults["unit"].as_str().unwrap_or_default();
            assert!(
                UNITS.contains(&unit),
                "{at}: unit {unit:?} is not one of {UNITS:?}"
            );
            assert!(
                panel["fieldConfig"]["overrides"].is_array(),
                "{at}: fieldConfig.overrides"
            );
            let color_modes = [
                "thresholds",
                "palette-classic",
                "palette-classic-by-name",
                "fixed",
                "shades",
            ];
            let color = defaults["color"]["mode"].as_str().unwrap_or_default();
            assert!(
                color_modes.contains(&color) || color.starts_with("continuous-"),
                "{at}: color mode {color}"
            );
            let thresholds = &defaults["thresholds"];
            assert!(
                matches!(thresholds["mode"].as_str(), Some("absolute" | "percentage")),
                "{at}: thresholds mode"
            );
            assert!(
                thresholds["steps"][0]["value"].is_null(),
                "{at}: the first threshold step is the base (value null)"
            );
            for mapping in defaults["mappings"].as_array().into_iter().flatten() {
                assert!(
                    matches!(
                        mapping["type"].as_str(),
                        Some("value" | "range" | "regex" | "special")
                    ),
                    "{at}: mapping type"
                );
            }
            // Grid: inside the 24 columns, no two panels on one cell.
            let grid = &panel["gridPos"];
            let (x, y, w, h) = (
                grid["x"].as_u64().expect("gridPos.x"),
                grid["y"].as_u64().expect("gridPos.y"),
                grid["w"].as_u64().expect("gridPos.w"),
                grid["h"].as_u64().expect("gridPos.h"),
            );
            assert!(w > 0 && h > 0 && x + w <= 24, "{at}: gridPos {grid}");
            for cx in x..x + w {
                for cy in y..y + h {
                    if let Some(other) = cells.insert((cx, cy), title.to_owned()) {
                        panic!("{at} overlaps {other:?}");
                    }
                }
            }
            // Targets.
            let targets = panel["targets"].as_array().expect("targets");
            assert!(!targets.is_empty(), "{at}: no query");
            let mut refs = BTreeSet::new();
            for target in targets {
                assert_eq!(target["datasource"], datasource, "{at}: target datasource");
                let ref_id = target["refId"].as_str().unwrap_or_default();
                assert!(
                    refs.insert(ref_id.to_owned()),
                    "{at}: refId {ref_id:?} repeats"
                );
                let expr = target["expr"].as_str().unwrap_or_default();
                assert!(!expr.is_empty(), "{at}: empty query");
                let found = selectors(expr);
                assert!(!found.is_empty(), "{at}: no selector in {expr}");
                for selector in found {
                    assert!(
                        selector.matchers.iter().any(|m| m == INSTANCE_MATCHER),
                        "{at}: selector {} lacks {INSTANCE_MATCHER} in {expr}",
                        selector.name
                    );
                    assert!(
                        !legacy.contains(selector.name.as_str()),
                        "{at}: uses upstream's legacy name {}",
                        selector.name
                    );
                }
                for window in windows(expr) {
                    assert!(
                        window == "$__rate_interval" || window == "$__range",
                        "{at}: window [{window}] (use $__rate_interval or $__range) in {expr}"
                    );
                }
            }
        }
    }
    println!(
        "monitoring: {} boards, {panel_count} panels, {} queries: well formed",
        boards.len(),
        board_queries(&boards).len()
    );
}

#[test]
fn provisioning_files_point_at_the_boards() {
    let dashboards =
        std::fs::read_to_string(repo("grafana/provisioning/dashboards/ldk-server.yaml"))
            .expect("dashboard provider");
    assert!(dashboards.contains("apiVersion: 1") && dashboards.contains("type: file"));
    assert!(dashboards
        .lines()
        .any(|l| l.trim_start().starts_with("path: /")));
    let datasources =
        std::fs::read_to_string(repo("grafana/provisioning/datasources/ldk-server.yaml"))
            .expect("data source");
    assert!(datasources.contains("apiVersion: 1") && datasources.contains("type: prometheus"));
    // No board pins a data source uid: they follow the `datasource` variable.
    for board in boards() {
        let text = board.json.to_string();
        assert!(!text.contains(r#""uid":"prometheus""#), "{}", board.file);
    }
}

// ------------------------------------------------------------------------------ promtool

fn run(command: &mut Command) -> (bool, String) {
    let output = command
        .output()
        .unwrap_or_else(|e| panic!("{command:?}: {e}"));
    let mut text = String::from_utf8_lossy(&output.stdout).into_owned();
    text.push_str(&String::from_utf8_lossy(&output.stderr));
    (output.status.success(), text)
}

#[test]
fn alert_rules_pass_promtool() {
    // The rules use only correctly named series.
    let rules = std::fs::read_to_string(repo(RULES)).expect("rules file");
    for name in legacy_names() {
        assert!(
            !rules.contains(name),
            "the rules use upstream's legacy name {name}"
        );
    }
    let Some(promtool) = tool("promtool") else {
        return skipped("no promtool (Debian package prometheus): promtool check/test rules");
    };
    let started = Instant::now();
    let (ok, output) = run(Command::new(&promtool)
        .args(["check", "rules"])
        .arg(repo(RULES)));
    assert!(ok, "promtool check rules:\n{output}");
    println!("{}", output.trim());
    let (ok, output) = run(Command::new(&promtool)
        .args(["test", "rules"])
        .arg(repo(RULE_TESTS)));
    assert!(ok, "promtool test rules:\n{output}");
    assert!(output.contains("SUCCESS"), "{output}");
    // Every alert has a unit test.
    let tests = std::fs::read_to_string(repo(RULE_TESTS)).expect("rule tests");
    for alert in rules
        .lines()
        .filter_map(|l| l.trim().strip_prefix("- alert: "))
    {
        assert!(
            tests.contains(&format!("alertname: {alert}")),
            "{alert} has no promtool test"
        );
    }
    println!(
        "monitoring: promtool check/test rules passed in {:.1}s",
        started.elapsed().as_secs_f64()
    );
}

// ------------------------------------------------------------------------------ @grafana/schema

#[test]
fn dashboards_match_grafana_schema() {
    let Some(npm) = tool("npm") else {
        return skipped("no npm: the @grafana/schema type check of the boards");
    };
    let npx = tool("npx").expect("npx next to npm");
    let started = Instant::now();
    let dir = repo(TYPECHECK);
    let (ok, output) = run(Command::new(&npm)
        .args(["ci", "--no-audit", "--no-fund"])
        .current_dir(&dir));
    assert!(ok, "npm ci in {TYPECHECK}:\n{output}");
    // npm ci installed the pinned TypeScript: npx runs that one, it downloads nothing.
    assert!(
        dir.join("node_modules/.bin/tsc").is_file(),
        "npm ci installed no tsc"
    );
    let (ok, output) = run(Command::new(&npx)
        .args(["tsc", "--noEmit", "-p", "."])
        .current_dir(&dir));
    assert!(
        ok,
        "tsc found boards that do not fit @grafana/schema:\n{output}"
    );
    println!(
        "monitoring: the boards type-check against @grafana/schema ({:.1}s)",
        started.elapsed().as_secs_f64()
    );
}

// ------------------------------------------------------------------------------ live scrape

fn metrics_config(listen: u16, extra: &str) -> String {
    unreachable_chain_config(&format!(
        "[metrics]\nenabled = true\npoll_metrics_interval = 1\nlisten_address = \"127.0.0.1:{listen}\"\n{extra}"
    ))
}

/// GETs `/metrics` from a plain-HTTP metrics listener.
async fn scrape(port: u16, auth: bool) -> String {
    let mut request = reqwest::Client::new().get(format!("http://127.0.0.1:{port}/metrics"));
    if auth {
        request = request.basic_auth(SCRAPE_USER, Some(SCRAPE_PASSWORD));
    }
    let response = request.send().await.expect("scrape");
    assert_eq!(response.status(), 200, "scrape of 127.0.0.1:{port}");
    response.text().await.expect("scrape body")
}

/// Metric families of a scrape, by name, with their type.
fn families(scrape: &str) -> BTreeMap<String, String> {
    scrape
        .lines()
        .filter_map(|l| l.strip_prefix("# TYPE "))
        .filter_map(|l| l.split_once(' '))
        .map(|(name, kind)| (name.to_owned(), kind.to_owned()))
        .collect()
}

/// Makes calls that put data in the per-call series: one the node cannot answer yet (or a
/// successful one), one with an invalid argument and one with a wrong API key.
async fn exercise_api(server: &ServerProcess) {
    let mut client = server.client().await;
    let _ = client.get_node_info(GetNodeInfoRequest {}).await;
    let _ = client.list_channels(ListChannelsRequest {}).await;
    let status = client
        .bolt11_send(Bolt11SendRequest {
            invoice: "not an invoice".into(),
            amount_msat: None,
            route_parameters: None,
        })
        .await
        .expect_err("a malformed invoice is refused");
    assert!(
        matches!(
            status.code(),
            tonic::Code::InvalidArgument | tonic::Code::Unavailable
        ),
        "{status:?}"
    );
    let mut intruder = connect(ClientOptions {
        api_key: ApiKey::from_hex(&"00".repeat(32)),
        ..server.client_options()
    })
    .await
    .expect("connect");
    let status = intruder
        .get_node_info(GetNodeInfoRequest {})
        .await
        .expect_err("a wrong key is refused");
    assert_eq!(status.code(), tonic::Code::Unauthenticated);
    // A read-only key trying to send: PERMISSION_DENIED, counted by key and method.
    let reader = read_only_key(server).await;
    let mut reader = connect(ClientOptions {
        api_key: reader,
        ..server.client_options()
    })
    .await
    .expect("connect");
    let status = reader
        .bolt11_send(Bolt11SendRequest {
            invoice: "not an invoice".into(),
            amount_msat: None,
            route_parameters: None,
        })
        .await
        .expect_err("a read-only key cannot send");
    assert_eq!(status.code(), tonic::Code::PermissionDenied, "{status:?}");
}

/// The server's key with the `read` scope, created through the key management service on first
/// use (the same key every time, so its denials form one series).
async fn read_only_key(server: &ServerProcess) -> ApiKey {
    static KEYS: std::sync::Mutex<BTreeMap<std::net::SocketAddr, String>> =
        std::sync::Mutex::new(BTreeMap::new());
    let known = KEYS.lock().unwrap().get(&server.grpc_address).cloned();
    if let Some(secret) = known {
        return ApiKey::from_hex(&secret);
    }
    let mut admin = connect_key_management(server.client_options())
        .await
        .expect("connect to key management");
    let created = admin
        .create_key(CreateKeyRequest {
            name: "monitoring-reader".into(),
            scopes: vec!["read".into()],
            ..Default::default()
        })
        .await
        .expect("create a read-only key")
        .into_inner();
    KEYS.lock()
        .unwrap()
        .insert(server.grpc_address, created.api_key.clone());
    ApiKey::from_hex(&created.api_key)
}

/// Calls [`exercise_api`] twice with scrapes between: a `(method, code)` series appears with
/// its first call (only `code="OK"` exists from the start), so Prometheus sees a rate only from
/// the second call on.
async fn exercise_twice(prometheus: &Prometheus, server: &ServerProcess) {
    exercise_api(server).await;
    prometheus
        .wait_for("count_over_time(ldk_server_auth_failures_total[1m]) >= 2")
        .await;
    exercise_api(server).await;
    prometheus
        .wait_for("count_over_time(ldk_server_auth_failures_total[1m]) >= 4")
        .await;
}

fn promtool_check_metrics(promtool: &Path, scrape: &str) -> (bool, String) {
    let mut child = Command::new(promtool)
        .args(["check", "metrics"])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("promtool");
    child
        .stdin
        .take()
        .expect("stdin")
        .write_all(scrape.as_bytes())
        .expect("write scrape");
    let output = child.wait_with_output().expect("promtool");
    let mut text = String::from_utf8_lossy(&output.stdout).into_owned();
    text.push_str(&String::from_utf8_lossy(&output.stderr));
    (output.status.success(), text)
}

/// `promtool check metrics`: silent on the correctly named series; with upstream's names on,
/// its remarks are about those names only.
fn assert_promtool_metrics(promtool: &Path, scrape: &str, upstream_names: bool) {
    let (ok, output) = promtool_check_metrics(promtool, scrape);
    if !upstream_names {
        assert!(
            ok && output.trim().is_empty(),
            "promtool check metrics with upstream_names = false:\n{output}"
        );
        return;
    }
    let legacy = legacy_names();
    let remarks: Vec<&str> = output.lines().filter(|l| !l.trim().is_empty()).collect();
    assert!(
        !remarks.is_empty(),
        "promtool found nothing to say about the legacy names"
    );
    let mut named = BTreeSet::new();
    for line in &remarks {
        let name = line.split_whitespace().next().unwrap_or_default();
        assert!(
            legacy.contains(name),
            "promtool remark about a series that is not one of upstream's names: {line}"
        );
        named.insert(name);
    }
    println!(
        "monitoring: promtool check metrics: {} remarks, all about {} of upstream's legacy names",
        remarks.len(),
        named.len()
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn promtool_accepts_live_scrape() {
    let Some(promtool) = tool("promtool") else {
        return skipped("no promtool (Debian package prometheus): promtool check metrics");
    };
    let started = Instant::now();
    for upstream_names in [false, true] {
        let port = free_port();
        let extra = if upstream_names {
            ""
        } else {
            "upstream_names = false\n"
        };
        let server = ServerProcess::start(&metrics_config(port, extra));
        exercise_api(&server).await;
        let scrape = scrape(port, false).await;
        let families = families(&scrape);
        for family in [
            "ldk_server_grpc_request_duration_seconds",
            "ldk_server_auth_failures_total",
            "process_cpu_seconds_total",
        ] {
            assert!(families.contains_key(family), "{family} missing:\n{scrape}");
        }
        let legacy_exported = families.keys().any(|f| legacy_names().contains(f.as_str()));
        assert_eq!(legacy_exported, upstream_names, "legacy names exported?");
        assert_promtool_metrics(&promtool, &scrape, upstream_names);
    }
    println!(
        "monitoring: promtool check metrics on live scrapes in {:.1}s",
        started.elapsed().as_secs_f64()
    );
}

// ------------------------------------------------------------------------------ Prometheus

/// A Prometheus process on loopback, with its data in a temporary directory.
struct Prometheus {
    child: Child,
    dir: tempfile::TempDir,
    base: String,
    http: reqwest::Client,
}

impl Prometheus {
    /// Starts Prometheus scraping `targets` every second (Basic auth) with the alert rules.
    async fn start(binary: &Path, targets: &[u16]) -> Self {
        let dir = tempfile::tempdir().expect("tempdir");
        let port = free_port();
        let targets: Vec<String> = targets
            .iter()
            .map(|p| format!("\"127.0.0.1:{p}\""))
            .collect();
        let config = format!(
            r#"global:
  scrape_interval: 1s
  scrape_timeout: 1s
  evaluation_interval: 1s
rule_files:
  - "{rules}"
scrape_configs:
  - job_name: ldk-server
    basic_auth:
      username: {SCRAPE_USER}
      password: {SCRAPE_PASSWORD}
    static_configs:
      - targets: [{targets}]
"#,
            rules = repo(RULES).display(),
            targets = targets.join(", "),
        );
        let config_path = dir.path().join("prometheus.yml");
        std::fs::write(&config_path, config).expect("prometheus.yml");
        let log = std::fs::File::create(dir.path().join("prometheus.log")).expect("log");
        let child = Command::new(binary)
            .arg(format!("--config.file={}", config_path.display()))
            .arg(format!(
                "--storage.tsdb.path={}",
                dir.path().join("data").display()
            ))
            .arg(format!("--web.listen-address=127.0.0.1:{port}"))
            .current_dir(dir.path())
            .stdout(log.try_clone().expect("log"))
            .stderr(log)
            .spawn()
            .expect("start prometheus");
        let prometheus = Self {
            child,
            dir,
            base: format!("http://127.0.0.1:{port}"),
            http: reqwest::Client::new(),
        };
        let deadline = Instant::now() + Duration::from_secs(60);
        loop {
            let ready = prometheus
                .http
                .get(format!("{}/-/ready", prometheus.base))
                .send()
                .await
                .is_ok_and(|r| r.status() == 200);
            if ready {
                return prometheus;
            }
            assert!(
                Instant::now() < deadline,
                "prometheus did not become ready:\n{}",
                prometheus.log()
            );
            tokio::time::sleep(Duration::from_millis(200)).await;
        }
    }

    fn log(&self) -> String {
        std::fs::read_to_string(self.dir.path().join("prometheus.log")).unwrap_or_default()
    }

    async fn api(&self, path: &str, query: &[(&str, &str)]) -> Value {
        self.http
            .get(format!("{}{path}", self.base))
            .query(query)
            .send()
            .await
            .unwrap_or_else(|e| panic!("{path}: {e}"))
            .json()
            .await
            .unwrap_or_else(|e| panic!("{path}: {e}"))
    }

    /// Evaluates an instant query: its result, or Prometheus's error.
    async fn query(&self, expr: &str) -> Result<Vec<Value>, String> {
        let body = self.api("/api/v1/query", &[("query", expr)]).await;
        if body["status"] != "success" {
            return Err(format!("{}: {}", body["errorType"], body["error"]));
        }
        if let Some(warnings) = body.get("warnings") {
            return Err(format!("warnings: {warnings}"));
        }
        Ok(body["data"]["result"]
            .as_array()
            .cloned()
            .unwrap_or_default())
    }

    /// Waits until `expr` returns data.
    async fn wait_for(&self, expr: &str) {
        let deadline = Instant::now() + Duration::from_secs(60);
        loop {
            if self.query(expr).await.is_ok_and(|r| !r.is_empty()) {
                return;
            }
            assert!(
                Instant::now() < deadline,
                "prometheus never returned data for {expr}:\n{}",
                self.log()
            );
            tokio::time::sleep(Duration::from_millis(250)).await;
        }
    }

    /// The rules Prometheus loaded, once each has been evaluated.
    async fn rules(&self) -> Vec<Value> {
        let deadline = Instant::now() + Duration::from_secs(30);
        loop {
            let body = self.api("/api/v1/rules", &[]).await;
            let rules: Vec<Value> = body["data"]["groups"]
                .as_array()
                .into_iter()
                .flatten()
                .flat_map(|g| g["rules"].as_array().cloned().unwrap_or_default())
                .collect();
            if !rules.is_empty() && rules.iter().all(|r| r["health"] != "unknown") {
                return rules;
            }
            assert!(Instant::now() < deadline, "rules never evaluated: {body}");
            tokio::time::sleep(Duration::from_millis(250)).await;
        }
    }

    /// What to look at when a query has no data: the targets' health and sample counts.
    async fn diagnostics(&self) -> String {
        let targets = self.api("/api/v1/targets", &[]).await;
        let mut out = String::from("prometheus targets:\n");
        for target in targets["data"]["activeTargets"]
            .as_array()
            .into_iter()
            .flatten()
        {
            out.push_str(&format!(
                "  {} health {} last error {} last scrape {}\n",
                target["labels"]["instance"],
                target["health"],
                target["lastError"],
                target["lastScrape"]
            ));
        }
        for expr in [
            "count_over_time(up[1h])",
            "count_over_time(ldk_server_build_info[1h])",
        ] {
            out.push_str(&format!("{expr}: {:?}\n", self.query(expr).await));
        }
        out
    }

    /// Active alerts: (alertname, instance, state).
    async fn alerts(&self) -> BTreeSet<(String, String, String)> {
        let body = self.api("/api/v1/alerts", &[]).await;
        body["data"]["alerts"]
            .as_array()
            .into_iter()
            .flatten()
            .map(|a| {
                let label = |k: &str| a["labels"][k].as_str().unwrap_or_default().to_owned();
                (
                    label("alertname"),
                    label("instance"),
                    a["state"].as_str().unwrap_or_default().to_owned(),
                )
            })
            .collect()
    }
}

impl Drop for Prometheus {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// A `[[webhooks]]` table delivering every event to `receiver`, its secret in `dir`: the
/// webhook series are exported only for configured webhooks.
fn webhook_table(dir: &Path, receiver: &Receiver) -> String {
    use std::os::unix::fs::PermissionsExt;
    let secret = dir.join("monitoring-webhook.secret");
    std::fs::write(&secret, "monitoring-webhook-secret-0123456789\n").unwrap();
    std::fs::set_permissions(&secret, std::fs::Permissions::from_mode(0o600)).unwrap();
    format!(
        "\n[[webhooks]]\nname = \"monitoring\"\nurl = \"{}\"\nsecret_file = \"{}\"\n",
        receiver.url("/events"),
        secret.display()
    )
}

/// Board queries that may return no data, and why, by scenario.
fn may_be_empty(with_node: bool, title: &str) -> Option<&'static str> {
    let node_only = [
        ("Seconds since last sync", "no sync happens without a chain"),
        ("Last successful sync", "no sync happens without a chain"),
        (
            "Outbound payment success",
            "no payment completes without a node",
        ),
        ("Outbound success", "no payment completes without a node"),
        ("Inbound success", "no payment completes without a node"),
        ("Effective fee rate", "nothing is sent without a node"),
    ];
    if with_node {
        return None;
    }
    node_only
        .iter()
        .find(|(t, _)| *t == title)
        .map(|(_, why)| *why)
}

/// The metric families a chain-down server does not export: the server exports what it reads
/// from the node only once it has read it (a balance of 0 or a lifetime counter at 0 before
/// that would be wrong).
const NODE_ONLY_FAMILIES: [&str; 15] = [
    "ldk_server_best_block_height",
    "ldk_server_last_sync_timestamp_seconds",
    "ldk_server_seconds_since_last_sync",
    "ldk_server_peers",
    "ldk_server_channels",
    "ldk_server_channel_outbound_capacity_msat",
    "ldk_server_channel_inbound_capacity_msat",
    "ldk_server_channel_value_sats",
    "ldk_server_onchain_balance_sats",
    "ldk_server_onchain_spendable_balance_sats",
    "ldk_server_anchor_channels_reserve_sats",
    "ldk_server_lightning_balance_sats",
    "ldk_server_payments",
    "ldk_server_payments_amount_msat_total",
    "ldk_server_payment_fees_paid_msat_total",
];

/// Whether `expr` reads a family that only a running node exports.
fn reads_node_only_family(expr: &str) -> bool {
    selectors(expr)
        .iter()
        .any(|s| NODE_ONLY_FAMILIES.contains(&s.name.as_str()))
}

/// Evaluates every board and rule expression and compares the names they use with `scrape`.
async fn check_against_prometheus(prometheus: &Prometheus, scrape: &str, with_node: bool) {
    let boards = boards();
    let queries = board_queries(&boards);

    // Every board query evaluates, and returns data where the scenario made some.
    let mut empty = Vec::new();
    let mut evaluated = 0;
    for (file, title, expr) in &queries {
        let promql = substitute(expr);
        let result = prometheus
            .query(&promql)
            .await
            .unwrap_or_else(|e| panic!("{file}: panel {title:?}: {promql}: {e}"));
        evaluated += 1;
        if std::env::var_os("MONITORING_DEBUG").is_some() {
            let values: Vec<String> = result
                .iter()
                .map(|r| format!("{}={}", r["metric"], r["value"][1]))
                .collect();
            eprintln!("DEBUG {title}: {}", values.join(" | "));
        }
        if result.is_empty() {
            let node_only = (!with_node && reads_node_only_family(expr))
                .then_some("its series are exported once the node has been read");
            match may_be_empty(with_node, title).or(node_only) {
                Some(why) => skipped(&format!(
                    "data of {file} panel {title:?}: {why} (it evaluates, without data)"
                )),
                None => empty.push(format!("{file}: panel {title:?}: {promql}")),
            }
        }
    }
    if !empty.is_empty() {
        panic!(
            "board queries without data although the scenario produced their series:\n{}\n\n{}",
            empty.join("\n"),
            prometheus.diagnostics().await
        );
    }

    // Every rule is healthy, and its expression evaluates through the query API too.
    let rules = prometheus.rules().await;
    let mut recorded = BTreeSet::new();
    for rule in &rules {
        let name = rule["name"].as_str().unwrap_or_default();
        assert_eq!(
            rule["health"],
            "ok",
            "rule {name}: {}\n{}",
            rule["lastError"],
            prometheus.log()
        );
        let query = rule["query"].as_str().expect("rule query");
        prometheus
            .query(query)
            .await
            .unwrap_or_else(|e| panic!("rule {name}: {query}: {e}"));
        if rule["type"] == "recording" {
            recorded.insert(name.to_owned());
            assert!(
                !prometheus.query(name).await.unwrap_or_default().is_empty(),
                "recording rule {name} has no data"
            );
        }
    }
    println!(
        "monitoring: prometheus evaluated {evaluated} board queries and {} rules (all healthy)",
        rules.len()
    );

    // Names: referenced ones are exported, exported ones are on a board.
    let exported = families(scrape);
    let family_of = |name: &str| -> String {
        for suffix in ["_bucket", "_sum", "_count"] {
            if let Some(base) = name.strip_suffix(suffix) {
                if exported.get(base).is_some_and(|t| t == "histogram") {
                    return base.to_owned();
                }
            }
        }
        name.to_owned()
    };
    let legacy = legacy_names();
    let on_boards: BTreeSet<String> = queries
        .iter()
        .flat_map(|(_, _, expr)| selectors(expr))
        .map(|s| family_of(&s.name))
        .collect();
    let in_rules: BTreeSet<String> = rules
        .iter()
        .flat_map(|r| selectors(r["query"].as_str().unwrap_or_default()))
        .map(|s| family_of(&s.name))
        .collect();
    for name in on_boards.union(&in_rules) {
        assert!(!legacy.contains(name.as_str()), "{name} is a legacy name");
        if name == "up" || recorded.contains(name) {
            continue;
        }
        if !with_node && NODE_ONLY_FAMILIES.contains(&name.as_str()) {
            skipped(&format!("{name} is only exported once the node syncs"));
            continue;
        }
        assert!(
            exported.contains_key(name),
            "{name} is used by a board or rule but not exported"
        );
    }
    let missing: Vec<&String> = exported
        .keys()
        .filter(|f| !legacy.contains(f.as_str()) && !on_boards.contains(*f))
        .collect();
    assert!(missing.is_empty(), "exported but on no board: {missing:?}");
    println!(
        "monitoring: {} metric families exported, {} on the boards, {} in the rules; names match",
        exported.len(),
        on_boards.len(),
        in_rules.len()
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn prometheus_evaluates_boards_and_rules() {
    let Some(binary) = tool("prometheus") else {
        return skipped(
            "no prometheus (Debian package prometheus): PromQL of the boards and rules",
        );
    };
    let started = Instant::now();
    let auth = format!("username = \"{SCRAPE_USER}\"\npassword = \"{SCRAPE_PASSWORD}\"\n");
    let receiver = Receiver::start().await;
    let hook_dir = tempfile::tempdir().unwrap();
    let webhook = webhook_table(hook_dir.path(), &receiver);
    let Some(chain) = Chain::start("monitoring: two nodes, a channel and a payment") else {
        // Without bitcoind: a server whose chain source is down.
        skipped("data assertions that need a running node (no bitcoind)");
        let port = free_port();
        let prometheus = Prometheus::start(&binary, &[port]).await;
        let server = ServerProcess::start(&metrics_config(port, &format!("{auth}{webhook}")));
        // Prometheus scrapes before the calls, so that rates see them.
        prometheus
            .wait_for("count_over_time(ldk_server_build_info[1m]) >= 2")
            .await;
        exercise_twice(&prometheus, &server).await;
        let scrape = scrape(port, true).await;
        check_against_prometheus(&prometheus, &scrape, false).await;
        // The node never runs: NodeNotRunning is pending; the balance alert stays quiet.
        let alerts = prometheus.alerts().await;
        let instance = format!("127.0.0.1:{port}");
        assert!(
            alerts.contains(&("LdkServerNodeNotRunning".into(), instance, "pending".into())),
            "{alerts:?}"
        );
        assert!(
            !alerts.iter().any(|a| a.0 == "LdkServerOnchainBalanceLow"),
            "{alerts:?}"
        );
        println!(
            "monitoring: prometheus scenario (chain down) took {:.1}s",
            started.elapsed().as_secs_f64()
        );
        return;
    };

    let (alice_port, bob_port) = (free_port(), free_port());
    let prometheus = Prometheus::start(&binary, &[alice_port, bob_port]).await;
    let listen = |port: u16| format!("listen_address = \"127.0.0.1:{port}\"\n{auth}");
    let alice_config = format!("{}{webhook}", listen(alice_port));
    let alice = TestNode::start(&chain, "alice", &alice_config).await;
    let bob = TestNode::start(&chain, "bob", &listen(bob_port)).await;
    let _subscription = alice.events().await;
    alice.fund(&chain, 1_000_000).await;
    open_channel(&chain, &alice, &bob, 500_000, 0, false).await;
    // Prometheus sees the channel before the payment, so that the payment shows as a change.
    for port in [alice_port, bob_port] {
        let expr =
            format!(r#"ldk_server_channels{{instance="127.0.0.1:{port}",state="active"}} > 0"#);
        prometheus.wait_for(&expr).await;
    }
    let invoice = bob
        .receive_invoice(Some(10_000_000), "monitoring")
        .await
        .invoice;
    let payment_id = alice.pay_invoice(&invoice, None).await;
    wait_until("payment succeeds", Duration::from_secs(60), || async {
        let payment = alice.payment(&payment_id).await;
        (payment.status() == ldk_server::proto::types::PaymentStatus::Succeeded).then_some(())
    })
    .await;
    for expr in [
        r#"ldk_server_payments{direction="outbound",status="succeeded"} > 0"#,
        r#"ldk_server_payments{direction="inbound",status="succeeded"} > 0"#,
        r#"ldk_server_webhook_delivered_sequence{webhook="monitoring"} > 0"#,
    ] {
        prometheus.wait_for(expr).await;
    }
    exercise_twice(&prometheus, &alice.server).await;
    println!(
        "monitoring: scenario ready after {:.1}s",
        started.elapsed().as_secs_f64()
    );
    let scrape = scrape(alice_port, true).await;
    if let Some(promtool) = tool("promtool") {
        assert_promtool_metrics(&promtool, &scrape, true);
    }
    check_against_prometheus(&prometheus, &scrape, true).await;
    // Bob's wallet is empty: the on-chain balance alert is pending for him only.
    let alerts = prometheus.alerts().await;
    let bob_instance = format!("127.0.0.1:{bob_port}");
    assert!(
        alerts
            .iter()
            .any(|a| a.0 == "LdkServerOnchainBalanceLow" && a.1 == bob_instance),
        "{alerts:?}"
    );
    assert!(
        !alerts
            .iter()
            .any(|a| a.0 == "LdkServerOnchainBalanceLow" && a.1 != bob_instance),
        "{alerts:?}"
    );
    assert!(
        !alerts.iter().any(|a| a.0 == "LdkServerNodeNotRunning"),
        "{alerts:?}"
    );
    println!(
        "monitoring: prometheus scenario (two nodes, channel, payment) took {:.1}s",
        started.elapsed().as_secs_f64()
    );
}
