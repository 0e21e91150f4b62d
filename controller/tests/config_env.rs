//! `snooze::config`: settings declared as clap arguments, read from a lookup instead of the
//! process environment. (Here rather than in the module: the declarations below are test
//! data, not variables any binary reads.)

use snooze::config::{duration_at_most, from_lookup};

/// A test declaration: one required, one defaulted, one where empty means something.
#[derive(Debug, PartialEq, clap::Args)]
struct Settings {
    /// The table.
    #[arg(long, env = "T_TABLE")]
    table: String,
    /// A wait.
    #[arg(long, env = "T_WAIT", default_value = "5s", value_parser = |v: &str| duration_at_most(v, std::time::Duration::from_secs(60)))]
    wait: std::time::Duration,
    /// A prefix; empty is a value.
    #[arg(long, env = "T_PREFIX", num_args = 0..=1, default_missing_value = "")]
    prefix: Option<String>,
}

fn lookup(pairs: &'static [(&'static str, &'static str)]) -> impl Fn(&str) -> Option<String> {
    move |k| {
        pairs
            .iter()
            .find(|(n, _)| *n == k)
            .map(|(_, v)| v.to_string())
    }
}

#[test]
fn values_defaults_empties_and_errors_name_the_variable() {
    let s: Settings = from_lookup(lookup(&[("T_TABLE", " t "), ("T_WAIT", "")])).unwrap();
    assert_eq!(
        (s.table.as_str(), s.wait, s.prefix),
        ("t", std::time::Duration::from_secs(5), None)
    );
    // A value that starts with '-' is a value, not a flag.
    let e = from_lookup::<Settings>(lookup(&[("T_TABLE", "t"), ("T_WAIT", "-1")])).unwrap_err();
    assert_eq!(
        e.to_string(),
        "invalid T_WAIT=\"-1\": not a duration; try 10s"
    );
    let s: Settings = from_lookup(lookup(&[("T_TABLE", "t"), ("T_PREFIX", "")])).unwrap();
    assert_eq!(s.prefix.as_deref(), Some(""));
    let e = from_lookup::<Settings>(lookup(&[("T_TABLE", "  ")])).unwrap_err();
    assert_eq!(e.to_string(), "T_TABLE is not set: The table");
    let e = from_lookup::<Settings>(lookup(&[("T_TABLE", "t"), ("T_WAIT", "2m")])).unwrap_err();
    assert_eq!(e.to_string(), "invalid T_WAIT=\"2m\": at most 1m");
}
