//! Why loading the configuration failed, and how the process should exit because of it.

/// The exit code for an invalid configuration (`EX_CONFIG` from `sysexits.h`).
pub const EX_CONFIG: i32 = 78;

/// A configuration value that is missing, malformed or impossible to honour.
///
/// Displays as one line, `invalid configuration: <key>: <problem>`, where `key` is the TOML key
/// (`node.network`), the command-line flag (`--rescan-from-height`) or the file concerned.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("invalid configuration: {key}: {problem}")]
pub struct ConfigError {
    /// The setting at fault, named as an operator would look for it.
    pub key: String,
    /// What is wrong with it, on one line.
    pub problem: String,
}

impl ConfigError {
    /// An error about `key`; line breaks in `problem` are folded and those in `key` (a quoted
    /// TOML key may hold them) are escaped, so the message stays one line.
    pub fn new(key: impl Into<String>, problem: impl Into<String>) -> Self {
        let problem: String = problem.into();
        let one_line = problem
            .split(['\n', '\r'])
            .map(str::trim)
            .filter(|l| !l.is_empty());
        Self {
            key: key.into().replace('\n', "\\n").replace('\r', "\\r"),
            problem: one_line.collect::<Vec<_>>().join("; "),
        }
    }
}

/// Why [`load`](super::load) did not produce a configuration.
#[derive(Debug, thiserror::Error)]
pub enum LoadError {
    /// The command line asked for `--help` or `--version`, or could not be parsed at all.
    /// clap renders it; [`LoadError::exit`] prints it and exits 0 (help, version) or 2 (usage).
    #[error(transparent)]
    Cli(#[from] clap::Error),
    /// The settings were read but are invalid: print the line and exit with [`EX_CONFIG`].
    #[error(transparent)]
    Config(#[from] ConfigError),
}

impl LoadError {
    /// Prints the error (or the help/version text) and ends the process with its exit code.
    pub fn exit(self) -> ! {
        match self {
            Self::Cli(error) => error.exit(),
            Self::Config(error) => {
                eprintln!("{error}");
                std::process::exit(EX_CONFIG)
            }
        }
    }

    /// The configuration error, if that is what this is.
    pub fn as_config(&self) -> Option<&ConfigError> {
        match self {
            Self::Config(error) => Some(error),
            Self::Cli(_) => None,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn line_breaks_in_key_and_problem_never_split_the_message() {
        let error = ConfigError::new("node.a\nb\rc", "first\r\nsecond\rthird\n");
        assert_eq!(error.key, "node.a\\nb\\rc");
        assert_eq!(error.problem, "first; second; third");
        assert!(!error.to_string().contains(['\n', '\r']), "{error}");
    }
}
