//! `infra/aws-operations.json` is the export of `snooze::aws_calls::OPERATIONS` (the IAM
//! contract test reads it): this test fails when the committed file is stale. Regenerate with
//! `UPDATE_GENERATED=1 cargo test -p snooze --test aws_operations`.

use std::path::Path;

use snooze::aws_calls::{OPERATIONS, Principal, operations_json};

#[test]
fn the_committed_export_is_current() {
    let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("../infra/aws-operations.json");
    let generated = operations_json();
    if std::env::var_os("UPDATE_GENERATED").is_some() {
        std::fs::write(&path, &generated).unwrap();
    }
    let committed = std::fs::read_to_string(&path).unwrap_or_default();
    assert!(
        committed == generated,
        "infra/aws-operations.json is stale; regenerate it with\n    \
         UPDATE_GENERATED=1 cargo test -p snooze --test aws_operations"
    );
}

#[test]
fn every_principal_declares_something_and_nothing_twice() {
    for p in Principal::ALL {
        assert!(OPERATIONS.iter().any(|o| o.principal == p), "{p:?}");
    }
    let mut seen = std::collections::BTreeSet::new();
    for o in OPERATIONS {
        assert!(seen.insert((o.principal, o.service, o.name)), "{o:?} twice");
        assert!(
            ["dynamodb", "ecs", "ec2", "elasticloadbalancing", "events"].contains(&o.service),
            "{o:?}"
        );
    }
}
