//! Picking one value per setting from the layers: flag or variable first, then the file.
//!
//! Values from the command line or the environment are text and are parsed here, so that an
//! error names the setting, shows the bad value and says which flag or variable it came from.

use std::str::FromStr;

use super::cli::{parse_bool, CommandLine};
use super::error::ConfigError;

/// A textual value and, when it did not come from the file, the flag or variable that gave it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Given {
    /// The value as written.
    pub text: String,
    /// `--flag` or `LDK_SERVER_…`; `None` for the configuration file.
    pub origin: Option<String>,
}

impl Given {
    /// A value read from the configuration file.
    pub fn from_file(text: impl Into<String>) -> Self {
        Self {
            text: text.into(),
            origin: None,
        }
    }

    /// The value for error messages: `"x"` or `"x" from --flag`.
    pub fn describe(&self) -> String {
        match &self.origin {
            Some(origin) => format!("{:?} from {origin}", self.text),
            None => format!("{:?}", self.text),
        }
    }

    /// An error about `key` whose problem ends with this value: `problem (got "x" from …)`.
    pub fn error(&self, key: &str, problem: &str) -> ConfigError {
        ConfigError::new(key, format!("{problem} (got {})", self.describe()))
    }
}

/// The command-line layer (flags with variables folded in), for picking values.
pub(crate) struct Layers<'a> {
    cli: &'a CommandLine,
}

impl<'a> Layers<'a> {
    /// Wraps the parsed command line.
    pub fn new(cli: &'a CommandLine) -> Self {
        Self { cli }
    }

    /// The flag `id`'s value, if the flag or its variable was given.
    pub fn flag(&self, id: &str, value: &Option<String>) -> Option<Given> {
        let text = value.clone()?;
        Some(Given {
            text,
            origin: Some(self.cli.origin(id)),
        })
    }

    /// Flag `id` if given, else the file's value.
    pub fn text(&self, id: &str, flag: &Option<String>, file: &Option<String>) -> Option<Given> {
        self.flag(id, flag)
            .or_else(|| file.clone().map(Given::from_file))
    }

    /// A list: flag `id` (empty items dropped) if given, else the file's list.
    pub fn list(
        &self,
        id: &str,
        flag: &Option<Vec<String>>,
        file: &Option<Vec<String>>,
    ) -> Vec<Given> {
        match flag {
            Some(items) => items
                .iter()
                .filter(|item| !item.trim().is_empty())
                .map(|item| Given {
                    text: item.clone(),
                    origin: Some(self.cli.origin(id)),
                })
                .collect(),
            None => file
                .iter()
                .flatten()
                .map(|item| Given::from_file(item.clone()))
                .collect(),
        }
    }

    /// A number: flag `id` parsed if given, else the file's value.
    pub fn number<T: FromStr>(
        &self,
        key: &str,
        id: &str,
        flag: &Option<String>,
        file: Option<T>,
    ) -> Result<Option<T>, ConfigError> {
        match self.flag(id, flag) {
            Some(given) => given
                .text
                .trim()
                .parse()
                .map(Some)
                .map_err(|_| given.error(key, "expected a whole number")),
            None => Ok(file),
        }
    }

    /// A boolean: flag `id` parsed if given, else the file's value.
    pub fn boolean(
        &self,
        key: &str,
        id: &str,
        flag: &Option<String>,
        file: Option<bool>,
    ) -> Result<Option<bool>, ConfigError> {
        match self.flag(id, flag) {
            Some(given) => parse_bool(&given.text)
                .map(Some)
                .map_err(|_| given.error(key, "expected true or false")),
            None => Ok(file),
        }
    }
}
