//! The build without the cargo feature `aws` (what `scripts/dev` builds): asked for an
//! AWS-backed part, the `snoozectl` of this build answers with one line saying how to get one
//! that has it, and exits 2; everything local still works. Compiled only without `aws` (the
//! snoozectl that cargo builds for this test then has no AWS either).
#![cfg(not(feature = "aws"))]

use std::path::Path;
use std::process::{Command, Output};

fn snoozectl(dir: &Path, args: &[&str], env: &[(&str, &str)]) -> Output {
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_snoozectl"));
    cmd.current_dir(dir)
        .args(args)
        .env_remove("SNOOZE_STORE")
        .env_remove("SNOOZE_PLATFORM")
        .env_remove("SNOOZE_ENDPOINT_URL");
    for (k, v) in env {
        cmd.env(k, v);
    }
    cmd.output().unwrap()
}

/// Exit 2, nothing on stdout, and exactly one line on stderr naming `what` and the command
/// that builds a snoozectl with AWS.
fn assert_one_line_without_aws(out: &Output, what: &str) {
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(2), "{what}: {stderr}");
    assert!(out.stdout.is_empty(), "{what}: stdout {:?}", out.stdout);
    let lines: Vec<&str> = stderr.lines().collect();
    assert_eq!(lines.len(), 1, "one line: {stderr}");
    assert!(lines[0].starts_with("error: "), "{stderr}");
    assert!(lines[0].contains(what), "names {what:?}: {stderr}");
    assert!(
        lines[0].contains("cargo build --release -p snooze --features aws --bin snoozectl"),
        "says how to get one: {stderr}"
    );
}

#[test]
fn a_dynamodb_store_is_one_line_and_exit_2() {
    let dir = tempfile::tempdir().unwrap();
    for args in [
        &["--store", "dynamodb://snooze", "get"][..],
        &["--store", "dynamodb://snooze", "init"],
        &["--store", "dynamodb://snooze", "wake", "demo"],
        &["--store", "dynamodb://snooze", "apply", "-f", "x.yaml"],
    ] {
        let out = snoozectl(dir.path(), args, &[]);
        assert_one_line_without_aws(&out, "store dynamodb://snooze");
    }
    // The same from the environment, as an operator's shell would set it.
    let out = snoozectl(
        dir.path(),
        &["get"],
        &[("SNOOZE_STORE", "dynamodb://ops-table")],
    );
    assert_one_line_without_aws(&out, "store dynamodb://ops-table");
    // Nothing was created on the way.
    assert_eq!(std::fs::read_dir(dir.path()).unwrap().count(), 0);
}

#[test]
fn the_ecs_platform_is_one_line_and_exit_2_and_sim_still_works() {
    let dir = tempfile::tempdir().unwrap();
    let init = snoozectl(dir.path(), &["init"], &[]);
    assert!(init.status.success(), "{init:?}");
    // `ecs` is reconcile's default platform.
    let out = snoozectl(dir.path(), &["reconcile", "--once"], &[]);
    assert_one_line_without_aws(&out, "reconcile --platform ecs");
    let out = snoozectl(dir.path(), &["reconcile", "--platform", "ecs"], &[]);
    assert_one_line_without_aws(&out, "reconcile --platform ecs");
    let out = snoozectl(
        dir.path(),
        &["reconcile", "--platform", "sim", "--once"],
        &[],
    );
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
}

#[test]
fn what_opens_no_store_still_works_with_a_dynamodb_store_set() {
    let dir = tempfile::tempdir().unwrap();
    let out = snoozectl(
        dir.path(),
        &["schema"],
        &[("SNOOZE_STORE", "dynamodb://ops-table")],
    );
    assert!(out.status.success(), "{out:?}");
    assert!(String::from_utf8_lossy(&out.stdout).contains("\"$schema\""));
}

#[tokio::test]
async fn the_library_answers_a_config_error_not_a_panic() {
    const { assert!(!snooze::HAS_AWS) };
    let opts = snooze::store::ConnectOptions::default();
    match snooze::store::connect("dynamodb://snooze", &opts).await {
        Err(snooze::store::Error::Config(msg)) => {
            assert_eq!(msg, snooze::without_aws("store dynamodb://snooze"));
        }
        Err(other) => panic!("{other}"),
        Ok(_) => panic!("a build without aws opened a DynamoDB store"),
    }
}

#[test]
fn discover_is_one_line_and_exit_2_but_its_help_is_there() {
    let dir = tempfile::tempdir().unwrap();
    for args in [
        &["discover"][..],
        &["discover", "--apply", "--cluster", "prod"],
    ] {
        let out = snoozectl(dir.path(), args, &[]);
        assert_one_line_without_aws(&out, "snoozectl discover");
    }
    // The verb and its help exist in this build too (docs/reference/cli.md is made from it).
    let help = snoozectl(dir.path(), &["discover", "--help"], &[]);
    assert!(help.status.success());
    assert!(String::from_utf8_lossy(&help.stdout).contains("--apply"));
    assert_eq!(std::fs::read_dir(dir.path()).unwrap().count(), 0);
}
