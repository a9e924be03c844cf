//! What the host offers: root, the tools, the Debian (or Ubuntu) mirror apt uses, bitcoind.

use std::net::{TcpStream, ToSocketAddrs};
use std::path::{Path, PathBuf};
use std::time::Duration;

/// Prints a SKIPPED line that stands out in a CI log.
pub fn skipped(what: &str, why: &str) {
    println!("\n*** SKIPPED {what}: {why} ***\n");
}

/// Whether the effective user is root.
pub fn is_root() -> bool {
    std::fs::read_to_string("/proc/self/status")
        .ok()
        .and_then(|status| {
            status
                .lines()
                .find_map(|line| line.strip_prefix("Uid:"))
                .map(|ids| ids.split_whitespace().nth(1) == Some("0"))
        })
        .unwrap_or(false)
}

/// An executable named `name` on `PATH` or in the usual system directories (a non-login
/// root shell may lack the `sbin` ones).
pub fn find_tool(name: &str) -> Option<PathBuf> {
    let path = std::env::var_os("PATH").unwrap_or_default();
    std::env::split_paths(&path)
        .chain(
            [
                "/usr/local/sbin",
                "/usr/local/bin",
                "/usr/sbin",
                "/usr/bin",
                "/sbin",
                "/bin",
            ]
            .map(PathBuf::from),
        )
        .map(|dir| dir.join(name))
        .find(|candidate| is_executable(candidate))
}

fn is_executable(path: &Path) -> bool {
    use std::os::unix::fs::PermissionsExt;
    std::fs::metadata(path)
        .map(|m| m.is_file() && m.permissions().mode() & 0o111 != 0)
        .unwrap_or(false)
}

/// bitcoind from `BITCOIND_EXE` or `PATH`, as the end-to-end tests find it.
pub fn bitcoind() -> Option<PathBuf> {
    match std::env::var_os("BITCOIND_EXE") {
        Some(exe) => Some(PathBuf::from(exe)).filter(|p| is_executable(p)),
        None => find_tool("bitcoind"),
    }
}

/// `VERSION_CODENAME` of /etc/os-release (`bookworm`).
pub fn os_codename() -> Option<String> {
    let text = std::fs::read_to_string("/etc/os-release").ok()?;
    text.lines()
        .find_map(|line| line.strip_prefix("VERSION_CODENAME="))
        .map(|v| v.trim().trim_matches('"').to_owned())
        .filter(|v| !v.is_empty())
}

/// The mirror apt uses for `suite`: the first `deb` entry naming it, in deb822 `.sources`
/// files or one-line `sources.list` files.
pub fn apt_mirror(suite: &str) -> Option<String> {
    let mut files: Vec<PathBuf> = std::fs::read_dir("/etc/apt/sources.list.d")
        .map(|dir| dir.filter_map(|e| e.ok().map(|e| e.path())).collect())
        .unwrap_or_default();
    files.sort();
    files.insert(0, PathBuf::from("/etc/apt/sources.list"));
    for file in files {
        let Ok(text) = std::fs::read_to_string(&file) else {
            continue;
        };
        let found = match file.extension().and_then(|e| e.to_str()) {
            Some("sources") => deb822_mirror(&text, suite),
            Some("list") => one_line_mirror(&text, suite),
            _ => None,
        };
        if found.is_some() {
            return found;
        }
    }
    None
}

/// `URIs:` of the first stanza with `Types: deb` whose `Suites:` names `suite`.
fn deb822_mirror(text: &str, suite: &str) -> Option<String> {
    for stanza in text.split("\n\n") {
        let field = |name: &str| {
            stanza.lines().find_map(|line| {
                let (key, value) = line.split_once(':')?;
                key.trim()
                    .eq_ignore_ascii_case(name)
                    .then(|| value.trim().to_owned())
            })
        };
        let has = |name: &str, wanted: &str| {
            field(name).is_some_and(|v| v.split_whitespace().any(|w| w == wanted))
        };
        let enabled = field("Enabled").is_none_or(|v| !v.eq_ignore_ascii_case("no"));
        if enabled && has("Types", "deb") && has("Suites", suite) {
            return field("URIs")?.split_whitespace().next().map(str::to_owned);
        }
    }
    None
}

/// The URI of the first `deb [options] URI suite components` line for `suite`.
fn one_line_mirror(text: &str, suite: &str) -> Option<String> {
    text.lines().find_map(|line| {
        let line = line.trim().strip_prefix("deb ")?;
        let line = match line.trim_start().strip_prefix('[') {
            Some(rest) => rest.split_once(']')?.1,
            None => line,
        };
        let mut words = line.split_whitespace();
        let uri = words.next()?;
        (words.next() == Some(suite)).then(|| uri.to_owned())
    })
}

/// Whether a TCP connection to the mirror's host opens within 5 seconds.
pub fn mirror_reachable(uri: &str) -> Result<(), String> {
    let (scheme, rest) = uri
        .split_once("://")
        .ok_or_else(|| format!("{uri}: not a URL"))?;
    let default_port = match scheme {
        "http" => 80,
        "https" => 443,
        "file" => return Ok(()),
        other => return Err(format!("{uri}: scheme {other} is not supported")),
    };
    let authority = rest.split('/').next().unwrap_or_default();
    let authority = authority.rsplit('@').next().unwrap_or(authority);
    let with_port = if authority
        .rsplit_once(':')
        .is_some_and(|(_, p)| p.parse::<u16>().is_ok())
    {
        authority.to_owned()
    } else {
        format!("{authority}:{default_port}")
    };
    let addresses = with_port
        .to_socket_addrs()
        .map_err(|e| format!("cannot resolve {with_port}: {e}"))?;
    let mut last_error = format!("{with_port}: no address");
    for address in addresses {
        match TcpStream::connect_timeout(&address, Duration::from_secs(5)) {
            Ok(_) => return Ok(()),
            Err(e) => last_error = format!("cannot connect to {address}: {e}"),
        }
    }
    Err(last_error)
}

/// The shared libraries `binary` loads, as `ldd` resolves them on the host.
pub fn shared_libraries(binary: &Path) -> Vec<PathBuf> {
    let out = super::checked(std::process::Command::new("ldd").arg(binary));
    out.lines()
        .filter_map(|line| {
            let path = match line.split_once("=>") {
                Some((_, target)) => target.split_whitespace().next()?,
                None => line.split_whitespace().next()?,
            };
            path.starts_with('/').then(|| PathBuf::from(path))
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn finds_the_mirror_in_both_formats() {
        let deb822 = "Types: deb-src\nURIs: http://src.example/debian\nSuites: bookworm\n\n\
                      Types: deb\nURIs: http://deb.example/debian\nSuites: bookworm bookworm-updates\n";
        assert_eq!(
            deb822_mirror(deb822, "bookworm").as_deref(),
            Some("http://deb.example/debian")
        );
        assert_eq!(deb822_mirror(deb822, "trixie"), None);
        let list =
            "# comment\ndeb [arch=amd64 signed-by=/k.gpg] http://a.example/ubuntu noble main\n";
        assert_eq!(
            one_line_mirror(list, "noble").as_deref(),
            Some("http://a.example/ubuntu")
        );
        assert!(mirror_reachable("http://127.0.0.1:1/debian").is_err());
        assert!(mirror_reachable("ftp://x.example/debian").is_err());
    }
}
