//! Settings read from environment variables, declared once as clap arguments (STYLE.md §15).
//!
//! A setting is a field of a `#[derive(clap::Args)]` struct with `#[arg(long, env = ...)]`,
//! its doc comment, its default and its value parser: the flag, the variable, the default and
//! the help come from that one declaration (tests: `controller/tests/config_env.rs`), so `--help` and the generated reference
//! (`docs/reference/cli.md`) list it. Programs with a command line (`snoozectl`) let clap
//! parse it as usual; programs without one (the Lambdas) read the same declaration from the
//! environment only with [`from_env`], and tests inject values with [`from_lookup`] without
//! touching the process environment.
//!
//! Rules of [`from_lookup`] (and so [`from_env`]): values are trimmed; an empty variable is
//! unset (the default applies), except for an argument whose value is optional
//! (`num_args = 0..=1`): it is given without a value, so its `default_missing_value` says what
//! an empty variable means; errors name the variable, not the flag.

use clap::error::{ContextKind, ContextValue, ErrorKind};
use clap::{Args, Command, FromArgMatches};

/// A setting that cannot be used. Messages name the environment variable.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// A required variable is unset or empty.
    #[error("{var} is not set: {help}")]
    Missing {
        /// The variable, e.g. `SNOOZE_TABLE`.
        var: String,
        /// The setting's help text (what to set it to).
        help: String,
    },
    /// A variable has a value that cannot be used.
    #[error("invalid {var}={value:?}: {message}")]
    Invalid {
        /// The variable, e.g. `SNOOZE_WAKE_DEBOUNCE`.
        var: String,
        /// Its value (trimmed).
        value: String,
        /// What is wrong and what would be accepted.
        message: String,
    },
    /// Any other problem clap reports (a declaration error in the code, not in the values).
    #[error("{0}")]
    Other(String),
}

/// Reads `T` from the process environment only (no command line): every argument of `T`
/// declared with `long` and `env` is set from its variable. See the module docs for the rules.
///
/// Errors: [`Error::Missing`] for a required variable that is unset or empty,
/// [`Error::Invalid`] for a value the argument's parser refuses.
pub fn from_env<T: Args + FromArgMatches>() -> Result<T, Error> {
    from_lookup(|k| std::env::var(k).ok())
}

/// Like [`from_env`], with the variables looked up through `get` (tests, other sources); the
/// process environment is not read.
pub fn from_lookup<T: Args + FromArgMatches>(
    get: impl Fn(&str) -> Option<String>,
) -> Result<T, Error> {
    // The variables are passed to clap as `--long=value` with clap's own env reading turned
    // off, so `get` is the only source and the empty-means-unset rule is applied once, here.
    let cmd = T::augment_args(Command::new("env")).mut_args(|a| a.env(None::<&'static str>));
    let declared = T::augment_args(Command::new("env"));
    let mut argv = vec!["env".to_string()];
    for arg in declared.get_arguments() {
        let (Some(var), Some(long)) = (arg.get_env(), arg.get_long()) else {
            continue;
        };
        let Some(value) = get(&var.to_string_lossy()) else {
            continue;
        };
        let value = value.trim();
        if !value.is_empty() {
            argv.push(format!("--{long}={value}"));
        } else if arg.get_num_args().is_some_and(|n| n.min_values() == 0) {
            argv.push(format!("--{long}"));
        }
    }
    let matches = cmd
        .try_get_matches_from(&argv)
        .map_err(|e| env_error(&declared, e))?;
    T::from_arg_matches(&matches).map_err(|e| env_error(&declared, e))
}

/// The clap error `e` restated in terms of environment variables.
fn env_error(cmd: &Command, e: clap::Error) -> Error {
    let arg = match e.get(ContextKind::InvalidArg) {
        Some(ContextValue::String(s)) => Some(s.clone()),
        Some(ContextValue::Strings(v)) => v.first().cloned(),
        _ => None,
    }
    .and_then(|flag| {
        // "--wake-debounce <DURATION>" → the argument whose long is wake-debounce
        let long = flag
            .trim_start_matches('-')
            .split([' ', '='])
            .next()
            .unwrap_or_default()
            .to_string();
        cmd.get_arguments().find(|a| a.get_long() == Some(&long))
    });
    let Some(arg) = arg else {
        return Error::Other(e.to_string());
    };
    let var = arg
        .get_env()
        .map(|v| v.to_string_lossy().into_owned())
        .unwrap_or_default();
    match e.kind() {
        ErrorKind::MissingRequiredArgument => Error::Missing {
            var,
            help: arg.get_help().map(|h| h.to_string()).unwrap_or_default(),
        },
        _ => {
            let value = match e.get(ContextKind::InvalidValue) {
                Some(ContextValue::String(s)) => s.clone(),
                _ => String::new(),
            };
            let message = std::error::Error::source(&e)
                .map(|s| s.to_string())
                .unwrap_or_else(|| e.kind().to_string());
            Error::Invalid {
                var,
                value,
                message,
            }
        }
    }
}

/// A humantime duration (`250ms`, `10s`, `1m`) of at most `max`; the value parser of duration
/// settings. Errors: "not a duration; try 10s", "at most 5m".
pub fn duration_at_most(
    value: &str,
    max: std::time::Duration,
) -> Result<std::time::Duration, String> {
    let d = humantime::parse_duration(value.trim())
        .map_err(|_| "not a duration; try 10s".to_string())?;
    if d > max {
        return Err(format!("at most {}", humantime::format_duration(max)));
    }
    Ok(d)
}

/// `true`/`1`/`yes` or `false`/`0`/`no`; the value parser of boolean settings. Error:
/// "use true or false".
pub fn boolean(value: &str) -> Result<bool, String> {
    match value.trim() {
        "true" | "1" | "yes" => Ok(true),
        "false" | "0" | "no" => Ok(false),
        _ => Err("use true or false".to_string()),
    }
}
