//! `snoozectl` end to end: the real binary against temporary SQLite stores (and one run against
//! DynamoDB on moto), checking output, exit codes (0 ok, 1 error, 2 usage) and what is stored.
//!
//! moto comes from `MOTO_ENDPOINT` (set by `scripts/test`); when unset, this binary starts one
//! from `.venv-moto` ([`snooze_test_support::moto_endpoint`]) and fails (never skips) when that
//! is missing.

use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use snooze::model::{Record, parse_manifests};
use snooze_test_support::moto_endpoint;

const BIN: &str = env!("CARGO_BIN_EXE_snoozectl");

fn root() -> &'static Path {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .expect("workspace root")
}

/// What one `snoozectl` run did.
#[derive(Debug)]
struct Out {
    code: i32,
    stdout: String,
    stderr: String,
}

impl Out {
    #[track_caller]
    fn ok(self) -> Self {
        assert_eq!(self.code, 0, "expected success: {self:#?}");
        self
    }
    #[track_caller]
    fn fails(self, code: i32) -> Self {
        assert_eq!(self.code, code, "expected exit {code}: {self:#?}");
        assert!(!self.stderr.contains("panicked"), "{self:#?}");
        self
    }
}

/// A temporary directory with a SQLite store in it; runs `snoozectl --store sqlite://...`.
struct Ctl {
    dir: tempfile::TempDir,
    store: String,
    extra: Vec<String>,
}

impl Ctl {
    fn new() -> Self {
        let dir = tempfile::tempdir().expect("temp dir");
        let store = format!("sqlite://{}", dir.path().join("store/snooze.db").display());
        Self {
            dir,
            store,
            extra: Vec::new(),
        }
    }

    fn path(&self, name: &str) -> PathBuf {
        self.dir.path().join(name)
    }

    /// Writes `text` to `name` inside the temp dir (creating directories) and returns its path.
    fn write(&self, name: &str, text: &str) -> String {
        let path = self.path(name);
        std::fs::create_dir_all(path.parent().unwrap()).unwrap();
        std::fs::write(&path, text).unwrap();
        path.display().to_string()
    }

    fn command(&self, args: &[&str]) -> Command {
        let mut cmd = Command::new(BIN);
        cmd.arg("--store")
            .arg(&self.store)
            .args(&self.extra)
            .args(args)
            .current_dir(self.dir.path())
            .env_remove("SNOOZE_STORE")
            .env_remove("VISUAL")
            .env_remove("RUST_BACKTRACE")
            .env("EDITOR", "false");
        cmd
    }

    fn run(&self, args: &[&str]) -> Out {
        self.run_with(self.command(args), None)
    }

    fn run_stdin(&self, args: &[&str], stdin: &str) -> Out {
        self.run_with(self.command(args), Some(stdin))
    }

    fn run_with(&self, mut cmd: Command, stdin: Option<&str>) -> Out {
        cmd.stdin(if stdin.is_some() {
            Stdio::piped()
        } else {
            Stdio::null()
        })
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());
        let mut child = cmd.spawn().expect("run snoozectl");
        if let Some(text) = stdin {
            use std::io::Write as _;
            child
                .stdin
                .take()
                .unwrap()
                .write_all(text.as_bytes())
                .unwrap();
        }
        let out = child.wait_with_output().expect("wait for snoozectl");
        Out {
            code: out.status.code().unwrap_or(-1),
            stdout: String::from_utf8_lossy(&out.stdout).into_owned(),
            stderr: String::from_utf8_lossy(&out.stderr).into_owned(),
        }
    }

    /// `get NAME -o yaml` parsed as a record.
    fn record(&self, name: &str) -> Record {
        let out = self.run(&["get", name, "-o", "yaml"]).ok();
        serde_yaml_ng::from_str(&out.stdout).unwrap_or_else(|e| panic!("{e}: {}", out.stdout))
    }

    /// Names of all stored records (`get -o json`); none when no store was created at all.
    fn names(&self) -> Vec<String> {
        if self
            .store
            .strip_prefix("sqlite://")
            .is_some_and(|p| !Path::new(p).exists())
        {
            return Vec::new();
        }
        let out = self.run(&["get", "-o", "json"]).ok();
        let v: serde_json::Value = serde_json::from_str(&out.stdout).unwrap();
        v.as_array()
            .unwrap()
            .iter()
            .map(|r| r["metadata"]["name"].as_str().unwrap().to_string())
            .collect()
    }

    fn sqlite_path(&self) -> PathBuf {
        PathBuf::from(self.store.strip_prefix("sqlite://").unwrap())
    }
}

fn manifest(name: &str) -> String {
    format!(
        "apiVersion: snooze/v1\nkind: Service\nmetadata:\n  name: {name}\n  labels:\n    team: web\n\
         spec:\n  target:\n    ecs: {{cluster: demo-cluster, service: {name}-svc}}\n  replicas: 1\n  idleTimeout: 15m\n"
    )
}

#[test]
fn apply_creates_then_is_unchanged_then_configures() {
    let ctl = Ctl::new();
    let file = ctl.write("demo.yaml", &manifest("demo"));
    let out = ctl.run(&["apply", "-f", &file]).ok();
    assert_eq!(out.stdout, "service/demo created\n");
    let out = ctl.run(&["apply", "-f", &file]).ok();
    assert_eq!(out.stdout, "service/demo unchanged\n");
    let first = ctl.record("demo");
    assert_eq!(
        (first.metadata.generation, first.metadata.resource_version),
        (1, 1)
    );

    ctl.write(
        "demo.yaml",
        &manifest("demo").replace("replicas: 1", "replicas: 2"),
    );
    let out = ctl.run(&["apply", "-f", &file]).ok();
    assert_eq!(out.stdout, "service/demo configured\n");
    let r = ctl.record("demo");
    assert_eq!(r.spec.replicas, 2);
    assert_eq!(r.metadata.generation, 2);
    assert_eq!(
        r.metadata.creation_timestamp,
        first.metadata.creation_timestamp
    );

    // Labels alone are a change too; the same input again is not.
    ctl.write(
        "demo.yaml",
        &manifest("demo")
            .replace("replicas: 1", "replicas: 2")
            .replace("team: web", "team: ops"),
    );
    assert_eq!(
        ctl.run(&["apply", "-f", &file]).ok().stdout,
        "service/demo configured\n"
    );
    assert_eq!(
        ctl.run(&["apply", "-f", &file]).ok().stdout,
        "service/demo unchanged\n"
    );
    assert_eq!(ctl.record("demo").metadata.labels["team"], "ops");
}

#[test]
fn a_second_record_for_the_same_service_is_refused() {
    let ctl = Ctl::new();
    let web = ctl.write("web.yaml", &manifest("web"));
    ctl.run(&["apply", "-f", &web]).ok();
    // A copy under another name, naming the cluster by ARN: the same ECS service.
    let copy = manifest("copy").replace(
        "{cluster: demo-cluster, service: copy-svc}",
        "{cluster: 'arn:aws:ecs:eu-west-1:123456789012:cluster/demo-cluster', service: web-svc}",
    );
    let copy = ctl.write("copy.yaml", &copy);
    let out = ctl.run(&["apply", "-f", &copy]).fails(1);
    assert!(
        out.stderr.contains(
            "service/copy: spec.target: ecs:demo-cluster/web-svc is already managed by service/web"
        ),
        "{out:#?}"
    );
    assert!(ctl.run(&["get", "copy"]).code != 0, "nothing was applied");
    // Moving the first record elsewhere in the same apply frees the service.
    let moved = ctl.write(
        "web.yaml",
        &manifest("web").replace("service: web-svc", "service: web2-svc"),
    );
    let out = ctl.run(&["apply", "-f", &moved, "-f", &copy]).ok();
    assert_eq!(out.stdout, "service/web configured\nservice/copy created\n");
}

#[test]
fn wake_and_sleep_say_when_the_mode_overrides_them() {
    let ctl = Ctl::new();
    let on = manifest("demo").replace("  replicas: 1\n", "  replicas: 1\n  mode: on\n");
    ctl.run(&["apply", "-f", &ctl.write("on.yaml", &on)]).ok();
    let out = ctl.run(&["sleep", "demo"]).ok();
    assert_eq!(out.stdout, "service/demo sleep requested\n");
    assert!(
        out.stderr
            .contains("note: service/demo has spec.mode on, so it stays awake"),
        "{out:?}"
    );
    let out = ctl.run(&["wake", "demo"]).ok();
    assert_eq!(out.stderr, "", "no note when the mode does not override");
}

#[test]
fn apply_reads_stdin_and_ignores_desired_and_status() {
    let ctl = Ctl::new();
    let text = format!(
        "{}desired:\n  wakeRequestedAt: 2026-11-29T10:00:00.000Z\nstatus:\n  phase: Ready\n",
        manifest("demo")
    );
    assert_eq!(
        ctl.run_stdin(&["apply", "-f", "-"], &text).ok().stdout,
        "service/demo created\n"
    );
    let r = ctl.record("demo");
    assert!(r.desired.is_empty(), "{r:?}");
    assert_eq!(r.status, None);
}

/// Every example under `manifests/` applies and comes back from `get -o yaml` and `get -o json`
/// with the same metadata and spec (the issue's "round-trips losslessly").
#[test]
fn example_manifests_round_trip_through_get() {
    let manifests = root().join("manifests");
    let mut examples = 0;
    for dir in [manifests.clone(), manifests.join("local")] {
        let ctl = Ctl::new();
        let mut inputs: Vec<Record> = Vec::new();
        for entry in std::fs::read_dir(&dir).unwrap() {
            let path = entry.unwrap().path();
            if path.extension().is_some_and(|e| e == "yaml" || e == "yml") {
                let text = std::fs::read_to_string(&path).unwrap();
                inputs.extend(
                    parse_manifests(&text, &path.display().to_string()).expect("example is valid"),
                );
                examples += 1;
            }
        }
        assert!(!inputs.is_empty(), "no examples in {}", dir.display());
        inputs.sort_by(|a, b| a.metadata.name.cmp(&b.metadata.name));

        let dir_arg = dir.display().to_string();
        let out = ctl.run(&["apply", "-f", &dir_arg]).ok();
        assert_eq!(
            out.stdout
                .lines()
                .filter(|l| l.ends_with(" created"))
                .count(),
            inputs.len(),
            "{out:?}"
        );
        assert_eq!(
            ctl.run(&["apply", "-f", &dir_arg])
                .ok()
                .stdout
                .matches(" unchanged")
                .count(),
            inputs.len()
        );

        let yaml = ctl.run(&["get", "-o", "yaml"]).ok().stdout;
        let from_yaml: Vec<Record> = serde_yaml_ng::Deserializer::from_str(&yaml)
            .map(|doc| serde::Deserialize::deserialize(doc).expect("get -o yaml parses as records"))
            .collect();
        let json = ctl.run(&["get", "-o", "json"]).ok().stdout;
        let from_json: Vec<Record> =
            serde_json::from_str(&json).expect("get -o json parses as records");
        for output in [from_yaml, from_json] {
            assert_eq!(output.len(), inputs.len());
            for (got, want) in output.iter().zip(&inputs) {
                assert_eq!(got.api_version, want.api_version);
                assert_eq!(got.kind, want.kind);
                assert_eq!(got.metadata.name, want.metadata.name);
                assert_eq!(got.metadata.labels, want.metadata.labels);
                assert_eq!(got.spec, want.spec);
            }
        }
        // And the printed YAML applies back as "unchanged" (it is valid input).
        let back = ctl.write("back.yaml", &yaml);
        assert_eq!(
            ctl.run(&["apply", "-f", &back])
                .ok()
                .stdout
                .matches(" unchanged")
                .count(),
            inputs.len()
        );
    }
    assert!(
        examples >= 2,
        "expected the ECS and the local example, found {examples}"
    );
}

/// One bad-input case: the file's content, and what stderr must contain.
struct Bad {
    what: &'static str,
    text: String,
    expect: &'static [&'static str],
}

#[test]
fn bad_manifests_are_rejected_with_path_and_location() {
    let good = manifest("demo");
    let long = "a".repeat(64);
    let cases = [
        Bad {
            what: "invalid YAML",
            text: "apiVersion: snooze/v1\nkind: [Service\n".into(),
            expect: &["bad.yaml:3:1: did not find expected"],
        },
        Bad {
            what: "unknown field",
            text: good.replace("  replicas: 1", "  idleTimout: 15m"),
            expect: &[
                "bad.yaml:10:3: spec.idleTimout: unknown field `idleTimout`, expected one of",
            ],
        },
        Bad {
            what: "wrong type",
            text: good.replace("replicas: 1", "replicas: many"),
            expect: &["bad.yaml:10:13: spec.replicas: invalid type: string \"many\""],
        },
        Bad {
            what: "out of range",
            text: good
                .replace("replicas: 1", "replicas: 11")
                .replace("idleTimeout: 15m", "idleTimeout: 10s"),
            expect: &[
                "bad.yaml:10:13: spec.replicas: 11 is above the maximum of 10",
                "bad.yaml:11:16: spec.idleTimeout: 10s is below the minimum of 1m",
            ],
        },
        Bad {
            what: "bad duration",
            text: good.replace("idleTimeout: 15m", "idleTimeout: 15 minutes please"),
            expect: &["spec.idleTimeout: \"15 minutes please\" is not a duration"],
        },
        Bad {
            what: "negative budget",
            text: format!("{good}  budget: -5\n"),
            expect: &[
                "bad.yaml:12:11: spec.budget: -5 is negative; give the monthly budget in dollars, \
                 0 or more",
            ],
        },
        Bad {
            what: "non-numeric budget",
            text: format!("{good}  budget: lots\n"),
            expect: &[
                "bad.yaml:12:11: spec.budget: \"lots\" is not an amount of dollars; give a number \
                 such as 25 or 12.50",
            ],
        },
        Bad {
            what: "maxAwake under a minute",
            text: format!("{good}  maxAwake: 30s\n"),
            expect: &["bad.yaml:12:13: spec.maxAwake: 30s is below the minimum of 1m"],
        },
        Bad {
            what: "maxAwake over 31 days",
            text: format!("{good}  maxAwake: 32d\n"),
            expect: &["bad.yaml:12:13: spec.maxAwake: 32d is above the maximum of 31d"],
        },
        Bad {
            what: "name with a slash",
            text: manifest("team/demo"),
            expect: &["bad.yaml:4:9: metadata.name: \"team/demo\" contains '/'"],
        },
        Bad {
            what: "uppercase name",
            text: manifest("Demo"),
            expect: &["bad.yaml:4:9: metadata.name: \"Demo\" contains 'D'"],
        },
        Bad {
            what: "64-character name",
            text: manifest(&long),
            expect: &["metadata.name:", "is 64 characters; at most 63 allowed"],
        },
        Bad {
            what: "empty file",
            text: String::new(),
            expect: &["bad.yaml (document 1): no records found (the file is empty)"],
        },
        Bad {
            what: "wrong apiVersion",
            text: good.replace("snooze/v1", "snooze/v2"),
            expect: &["bad.yaml:1:13: apiVersion: \"snooze/v2\" is not supported; use snooze/v1"],
        },
    ];
    for case in cases {
        let ctl = Ctl::new();
        let file = ctl.write("bad.yaml", &case.text);
        let out = ctl.run(&["apply", "-f", &file]).fails(1);
        assert!(out.stdout.is_empty(), "{}: {out:#?}", case.what);
        assert!(out.stderr.starts_with("error: "), "{}: {out:#?}", case.what);
        assert!(
            out.stderr.contains("nothing was applied"),
            "{}: {out:#?}",
            case.what
        );
        for want in case.expect {
            let want = want.replace("bad.yaml", &file);
            assert!(
                out.stderr.contains(&want),
                "{}: want {want:?} in\n{}",
                case.what,
                out.stderr
            );
        }
        assert!(
            ctl.names().is_empty(),
            "{}: something was applied",
            case.what
        );
    }
}

#[test]
fn a_directory_with_one_bad_file_applies_nothing_and_lists_every_error() {
    let ctl = Ctl::new();
    ctl.write("dir/a.yaml", &manifest("alpha"));
    ctl.write(
        "dir/b.yaml",
        &format!(
            "{}---\n{}",
            manifest("beta").replace("replicas: 1", "replicas: -1"),
            manifest("gamma").replace("idleTimeout: 15m", "idleTimeout: 48h")
        ),
    );
    ctl.write("dir/c.yml", &manifest("delta"));
    ctl.write("dir/notes.txt", "not a manifest");
    ctl.write("dir/sub/e.yaml", "this: [is broken");
    let dir = ctl.path("dir").display().to_string();
    let out = ctl.run(&["apply", "-f", &dir]).fails(1);
    assert!(
        out.stderr
            .starts_with("error: 2 problems in the manifests; nothing was applied\n"),
        "{}",
        out.stderr
    );
    assert!(
        out.stderr
            .contains("b.yaml:10:13: spec.replicas: -1 is not a task count; use 0 or more"),
        "{}",
        out.stderr
    );
    assert!(
        out.stderr
            .contains("b.yaml:23:16: spec.idleTimeout: 2d is above the maximum of 1d"),
        "{}",
        out.stderr
    );
    assert!(ctl.names().is_empty());

    // Subdirectories are read only with -R; `schema/` never.
    std::fs::remove_file(ctl.path("dir/b.yaml")).unwrap();
    ctl.write("dir/schema/service.schema.json", "{\"not\": \"a record\"}");
    let out = ctl.run(&["apply", "-f", &dir]).ok();
    assert_eq!(out.stdout, "service/alpha created\nservice/delta created\n");
    let out = ctl.run(&["apply", "-R", "-f", &dir]).fails(1);
    assert!(out.stderr.contains("sub/e.yaml:1:"), "{}", out.stderr);
    assert!(!out.stderr.contains("schema"), "{}", out.stderr);

    // The same name twice is an error, not a silent overwrite.
    let twice = ctl.write(
        "twice.yaml",
        &format!("{}---\n{}", manifest("alpha"), manifest("alpha")),
    );
    let out = ctl.run(&["apply", "-f", &twice]).fails(1);
    assert!(
        out.stderr.contains("service \"alpha\" is also defined in"),
        "{}",
        out.stderr
    );
}

#[test]
fn exit_codes_and_error_lines() {
    let ctl = Ctl::new();
    // No store yet: said so, and none is created by looking.
    let out = ctl.run(&["get"]).fails(1);
    assert!(out.stderr.starts_with("error: no store at "), "{out:?}");
    assert!(out.stderr.contains("snoozectl init"), "{out:?}");
    assert!(!ctl.sqlite_path().exists());
    ctl.run(&["init"]).ok();
    let out = ctl.run(&["get"]).ok();
    assert!(out.stderr.starts_with("No services found"), "{out:?}");
    let out = ctl.run(&["get", "nope"]).fails(1);
    assert_eq!(out.stderr, "error: service \"nope\" not found\n");
    ctl.run(&["describe", "nope"]).fails(1);
    ctl.run(&["delete", "nope"]).fails(1);
    ctl.run(&["delete"]).fails(2);
    let out = ctl.run(&["wake", "nope"]).fails(1);
    assert!(
        out.stderr.starts_with("error: service \"nope\" not found"),
        "{out:?}"
    );
    ctl.run(&["sleep", "nope"]).fails(1);
    // Usage errors: exit 2.
    ctl.run(&["get", "--bogus"]).fails(2);
    ctl.run(&["apply"]).fails(2);
    ctl.run(&["frobnicate"]).fails(2);
    ctl.run(&["get", "-o", "xml"]).fails(2);
    ctl.run(&[]).fails(2);
    ctl.run(&["--help"]).ok();
    // A bad store URL is an error (1) with the reason.
    let mut bad = Ctl::new();
    bad.store = "postgres://x".into();
    let out = bad.run(&["get"]).fails(1);
    assert!(
        out.stderr
            .starts_with("error: cannot open store postgres://x\n  caused by: "),
        "{out:?}"
    );
    assert!(out.stderr.contains("sqlite://PATH"), "{out:?}");
    // A missing file.
    let out = ctl.run(&["apply", "-f", "does-not-exist.yaml"]).fails(1);
    assert!(
        out.stderr.contains("does-not-exist.yaml: cannot read"),
        "{out:?}"
    );
}

#[test]
fn get_describe_wake_sleep_delete() {
    let ctl = Ctl::new();
    let file = ctl.write(
        "m.yaml",
        &format!("{}---\n{}", manifest("demo"), manifest("api")),
    );
    ctl.run(&["apply", "-f", &file]).ok();

    let out = ctl.run(&["get"]).ok();
    let lines: Vec<Vec<&str>> = out
        .stdout
        .lines()
        .map(|l| l.split_whitespace().collect())
        .collect();
    assert_eq!(
        lines[0],
        [
            "NAME",
            "PHASE",
            "DESIRED/RUNNING",
            "ENDPOINT",
            "SLEEPS-IN",
            "AGE"
        ]
    );
    assert_eq!(lines[1][..5], ["api", "-", "-", "-", "-"]);
    assert_eq!(lines[2][0], "demo");
    let out = ctl.run(&["get", "-o", "wide"]).ok();
    let header: Vec<&str> = out
        .stdout
        .lines()
        .next()
        .unwrap()
        .split_whitespace()
        .collect();
    assert_eq!(
        header[6..],
        ["MODE", "TARGET", "GROUP", "SAVED", "MESSAGE"],
        "{}",
        out.stdout
    );
    assert!(
        out.stdout.contains("auto   ecs demo-cluster/demo-svc"),
        "{}",
        out.stdout
    );

    // One NAME is one object in JSON, one document in YAML.
    let out = ctl.run(&["get", "demo", "-o", "json"]).ok();
    let v: serde_json::Value = serde_json::from_str(&out.stdout).unwrap();
    assert_eq!(v["metadata"]["name"], "demo");
    assert!(
        !ctl.run(&["get", "demo", "-o", "yaml"])
            .ok()
            .stdout
            .contains("---")
    );
    assert_eq!(
        ctl.run(&["get", "-o", "yaml"])
            .ok()
            .stdout
            .matches("---\n")
            .count(),
        1
    );

    let out = ctl.run(&["wake", "demo"]).ok();
    assert_eq!(out.stdout, "service/demo wake requested\n");
    let woken = ctl
        .record("demo")
        .desired
        .wake_requested_at
        .expect("wakeRequestedAt set");
    let yaml = ctl.run(&["get", "demo", "-o", "yaml"]).ok().stdout;
    assert!(
        yaml.contains(&format!("wakeRequestedAt: {woken}")),
        "RFC 3339 in yaml: {yaml}"
    );
    assert_eq!(
        ctl.run(&["sleep", "demo"]).ok().stdout,
        "service/demo sleep requested\n"
    );
    assert!(ctl.record("demo").desired.sleep_requested_at.is_some());

    let out = ctl.run(&["describe", "demo"]).ok();
    for want in [
        "Name:               demo",
        "Labels:             team=web",
        "Target:             ECS service demo-svc in cluster demo-cluster",
        "Idle timeout:       15m",
        "Wake requested:     ",
        "Last activity:      <none>",
        "Status:               <none> (not reconciled yet)",
    ] {
        assert!(out.stdout.contains(want), "{want:?} in\n{}", out.stdout);
    }
    assert!(
        out.stdout.contains(" ago)") || out.stdout.contains("(now)"),
        "{}",
        out.stdout
    );

    assert_eq!(
        ctl.run(&["delete", "demo"]).ok().stdout,
        "service \"demo\" deleted\n"
    );
    assert_eq!(ctl.names(), ["api"]);

    // Several names: every one that exists is deleted, the others are listed, exit 1.
    let out = ctl.run(&["delete", "ghost", "api"]).fails(1);
    assert_eq!(out.stdout, "service \"api\" deleted\n");
    assert!(
        out.stderr.starts_with("error: 1 of 2 services not deleted")
            && out.stderr.contains("ghost"),
        "{out:?}"
    );
    assert!(ctl.names().is_empty());
}

/// A manifest of record `name` in `groups` depending on `depends_on`, with `extra` spec lines.
fn group_manifest(name: &str, groups: &[&str], depends_on: &[&str], extra: &str) -> String {
    let mut m = manifest(name);
    m.push_str(&format!("  groups: [{}]\n", groups.join(", ")));
    if !depends_on.is_empty() {
        m.push_str(&format!("  dependsOn: [{}]\n", depends_on.join(", ")));
    }
    m.push_str(extra);
    m
}

/// The preview-1 group of the operator guide (db; api and an optional worker on db; web on
/// api, also in group front) and `solo`, in no group.
fn group_ctl() -> Ctl {
    let ctl = Ctl::new();
    let docs = [
        group_manifest("db", &["preview-1"], &[], ""),
        group_manifest("api", &["preview-1"], &["db"], ""),
        group_manifest("worker", &["preview-1"], &["db"], "  optional: true\n"),
        group_manifest("web", &["preview-1", "front"], &["api"], ""),
        manifest("solo"),
    ];
    let file = ctl.write("group.yaml", &docs.join("---\n"));
    ctl.run(&["apply", "-f", &file]).ok();
    ctl
}

/// Table rows of `get` output, cells split on whitespace (header included).
fn rows(stdout: &str) -> Vec<Vec<String>> {
    stdout
        .lines()
        .map(|l| l.split_whitespace().map(String::from).collect())
        .collect()
}

#[test]
fn wake_and_sleep_of_a_group_reach_every_member_in_start_order() {
    let ctl = group_ctl();
    let out = ctl.run(&["wake", "group/preview-1"]).ok();
    assert_eq!(
        out.stdout,
        "service/db wake requested\nservice/api wake requested\n\
         service/worker wake requested\nservice/web wake requested\n"
    );
    for name in ["db", "api", "worker", "web"] {
        assert!(
            ctl.record(name).desired.wake_requested_at.is_some(),
            "{name}"
        );
    }
    assert!(ctl.record("solo").desired.wake_requested_at.is_none());

    let out = ctl.run(&["wake", "--force", "group/front"]).ok();
    assert_eq!(out.stdout, "service/web wake requested (forced)\n");
    assert!(ctl.record("web").desired.wake_forced_at.is_some());
    assert!(ctl.record("api").desired.wake_forced_at.is_none());

    let out = ctl.run(&["sleep", "group/preview-1"]).ok();
    assert_eq!(
        out.stdout,
        "service/db sleep requested\nservice/api sleep requested\n\
         service/worker sleep requested\nservice/web sleep requested\n"
    );
    assert!(ctl.record("worker").desired.sleep_requested_at.is_some());
    assert!(ctl.record("solo").desired.sleep_requested_at.is_none());

    // A plain NAME and service/NAME still name one record.
    assert_eq!(
        ctl.run(&["wake", "solo"]).ok().stdout,
        "service/solo wake requested\n"
    );
    assert_eq!(
        ctl.run(&["sleep", "service/solo"]).ok().stdout,
        "service/solo sleep requested\n"
    );
    assert_eq!(
        ctl.run(&["wake", "--force", "service/solo"]).ok().stdout,
        "service/solo wake requested (forced)\n"
    );

    // An unknown group is an error like an unknown record (exit 1); another kind is a usage
    // error (exit 2).
    for verb in ["wake", "sleep", "get", "describe"] {
        let out = ctl.run(&[verb, "group/nope"]).fails(1);
        assert_eq!(
            out.stderr, "error: group \"nope\" not found: no record has it in spec.groups\n",
            "{verb}"
        );
    }
    let out = ctl.run(&["wake", "pod/solo"]).fails(2);
    assert!(out.stderr.contains("unknown kind \"pod\""), "{out:?}");
    ctl.run(&["get", "group/"]).fails(2);
}

/// Publishes `status` on record `name` of `ctl`'s SQLite store, as the reconciler would.
fn publish(ctl: &Ctl, name: &str, status: &snooze::model::Status) {
    let rt = tokio::runtime::Runtime::new().unwrap();
    rt.block_on(async {
        let store = snooze::store::connect(&ctl.store, &snooze::store::ConnectOptions::default())
            .await
            .unwrap();
        store
            .publish_status(name, status, snooze::store::StatusGuard::exists())
            .await
            .unwrap();
    });
}

#[test]
fn wake_notes_a_dependency_that_will_not_wake_over_its_budget() {
    let ctl = Ctl::new();
    // db in group d only, so `wake group/g` reaches it as web's dependency, not as a member.
    let docs = [
        group_manifest("web", &["g", "d"], &["db"], ""),
        group_manifest("db", &["d"], &[], "  budget: 0\n"),
        group_manifest("page", &["g"], &[], ""),
    ];
    ctl.run(&["apply", "-f", &ctl.write("g.yaml", &docs.join("---\n"))])
        .ok();
    let note = "note: service/web waits for service/db, which will not wake: service/db reached \
                its monthly budget of $0.00 (this month: $0.00); it can be woken again on ";
    let hint = " UTC (snoozectl wake --force db wakes it anyway)\n";
    let out = ctl.run(&["wake", "web"]).ok();
    assert_eq!(out.stdout, "service/web wake requested\n");
    assert!(
        out.stderr.starts_with(note) && out.stderr.ends_with(hint),
        "{out:?}"
    );
    let out = ctl.run(&["wake", "group/g"]).ok();
    assert!(
        out.stderr.starts_with(note) && out.stderr.ends_with(hint),
        "{out:?}"
    );
    // Nothing to say when the dependency can wake.
    let out = ctl.run(&["wake", "page"]).ok();
    assert_eq!(out.stderr, "", "{out:?}");
}

#[test]
fn wake_refuses_a_service_over_its_budget_unless_forced_and_describe_shows_it() {
    use snooze::model::ledger::{LedgerMonth, month_key};
    let ctl = Ctl::new();
    let docs = [
        format!("{}  budget: 10\n", group_manifest("web", &["g"], &[], "")),
        group_manifest("db", &["g"], &[], ""),
    ];
    ctl.run(&["apply", "-f", &ctl.write("g.yaml", &docs.join("---\n"))])
        .ok();
    // $12.50 this month (and next, should the month turn during the test).
    let now = snooze::model::Timestamp::now();
    let mut status = snooze::model::Status::default();
    for at in [now, now.add(Duration::from_secs(40 * 24 * 3600))] {
        status.ledger.months.push(LedgerMonth {
            month: month_key(at),
            cost: Some(12.5),
            ..LedgerMonth::default()
        });
    }
    publish(&ctl, "web", &status);
    let out = ctl.run(&["wake", "web"]).fails(1);
    assert!(
        out.stderr.starts_with(
            "error: service/web reached its monthly budget of $10.00 (this month: $12.50); it \
             can be woken again on "
        ) && out
            .stderr
            .contains(" UTC: not woken (snoozectl wake --force web wakes it anyway)"),
        "{out:?}"
    );
    assert!(ctl.record("web").desired.wake_requested_at.is_none());
    // A group wake skips it and says so; the other member is woken.
    let out = ctl.run(&["wake", "group/g"]).ok();
    assert_eq!(out.stdout, "service/db wake requested\n");
    assert!(
        out.stderr
            .contains("note: service/web reached its monthly budget"),
        "{out:?}"
    );
    assert!(ctl.record("web").desired.wake_requested_at.is_none());
    // describe shows the budget and this month's cost.
    let text = ctl.run(&["describe", "web"]).ok().stdout;
    assert!(
        text.contains("Budget:")
            && text.contains("$10.00 a month; this month (")
            && text.contains("): $12.50, reached: wake requests refused until"),
        "{text}"
    );
    // --force wakes it, recorded as forced.
    let out = ctl.run(&["wake", "--force", "web"]).ok();
    assert_eq!(out.stdout, "service/web wake requested (forced)\n");
    let r = ctl.record("web");
    assert!(r.desired.wake_forced_at.is_some());
    assert!(r.desired.wake_requested_at.is_some());
}

#[test]
fn a_group_wake_skips_members_in_their_quiet_hours_and_says_so() {
    let ctl = Ctl::new();
    let quiet = "  schedule:\n    timeZone: UTC\n    asleep: [\"Mon-Sun 00:00-24:00\"]\n";
    let docs = [
        group_manifest("db", &["g"], &[], ""),
        group_manifest("web", &["g"], &["db"], quiet),
        group_manifest("night", &["n"], &[], quiet),
    ];
    ctl.run(&["apply", "-f", &ctl.write("g.yaml", &docs.join("---\n"))])
        .ok();
    let out = ctl.run(&["wake", "group/g"]).ok();
    assert_eq!(out.stdout, "service/db wake requested\n");
    assert!(
        out.stderr
            .starts_with("note: service/web is in its quiet hours until Mon 00:00: not woken")
            || out
                .stderr
                .contains("service/web is in its quiet hours until"),
        "{out:?}"
    );
    assert!(out.stderr.contains("wake --force group/g"), "{out:?}");
    assert!(ctl.record("web").desired.wake_requested_at.is_none());
    assert!(ctl.record("db").desired.wake_requested_at.is_some());

    // Every member quiet: nothing woken, exit 1 with the reason per member.
    let out = ctl.run(&["wake", "group/n"]).fails(1);
    assert_eq!(out.stdout, "");
    assert!(
        out.stderr
            .starts_with("error: no member of group/n was woken")
            && out
                .stderr
                .contains("  service/night is in its quiet hours until"),
        "{out:?}"
    );
    // --force wakes every member anyway.
    let out = ctl.run(&["wake", "--force", "group/g"]).ok();
    assert_eq!(
        out.stdout,
        "service/db wake requested (forced)\nservice/web wake requested (forced)\n"
    );
    assert_eq!(out.stderr, "");
    assert!(ctl.record("web").desired.wake_forced_at.is_some());
}

#[test]
fn get_shows_groups_and_lists_a_group_in_start_order() {
    let ctl = group_ctl();
    let out = ctl.run(&["get", "-o", "wide"]).ok();
    let table = rows(&out.stdout);
    assert_eq!(table[0][8], "GROUP", "{}", out.stdout);
    let group_of = |name: &str| {
        table
            .iter()
            .find(|r| r[0] == name)
            // The cell before the last: MESSAGE is empty, SAVED `-` (nothing counted yet)
            // and TARGET is two words.
            .and_then(|r| {
                assert_eq!(r.last().map(String::as_str), Some("-"), "SAVED of {name}");
                r.get(r.len() - 2).cloned()
            })
            .unwrap()
    };
    assert_eq!(group_of("web"), "preview-1,front", "{}", out.stdout);
    assert_eq!(group_of("db"), "preview-1", "{}", out.stdout);
    assert_eq!(group_of("solo"), "-", "{}", out.stdout);
    // Only in wide output.
    assert!(!ctl.run(&["get"]).ok().stdout.contains("GROUP"));

    let out = ctl.run(&["get", "group/preview-1"]).ok();
    let names: Vec<String> = rows(&out.stdout).iter().map(|r| r[0].clone()).collect();
    assert_eq!(
        names,
        ["NAME", "db", "api", "worker", "web"],
        "{}",
        out.stdout
    );

    let out = ctl.run(&["get", "group/front", "-o", "wide"]).ok();
    let table = rows(&out.stdout);
    assert_eq!(table.len(), 2, "{}", out.stdout);
    assert_eq!(
        (table[1][0].as_str(), table[1][table[1].len() - 2].as_str()),
        ("web", "preview-1,front")
    );

    // JSON: an array of the member records; YAML: a stream of them.
    let out = ctl.run(&["get", "group/preview-1", "-o", "json"]).ok();
    let v: serde_json::Value = serde_json::from_str(&out.stdout).unwrap();
    let names: Vec<&str> = v
        .as_array()
        .unwrap()
        .iter()
        .map(|r| r["metadata"]["name"].as_str().unwrap())
        .collect();
    assert_eq!(names, ["db", "api", "worker", "web"]);
    let out = ctl.run(&["get", "group/front", "-o", "json"]).ok();
    let v: serde_json::Value = serde_json::from_str(&out.stdout).unwrap();
    assert_eq!(v.as_array().map(Vec::len), Some(1), "an array even for one");
    let out = ctl.run(&["get", "group/preview-1", "-o", "yaml"]).ok();
    assert_eq!(out.stdout.matches("---\n").count(), 3, "{}", out.stdout);
}

#[test]
fn describe_shows_a_group_and_a_members_groups() {
    let ctl = group_ctl();
    ctl.run(&["wake", "web"]).ok();
    ctl.run(&["reconcile", "--once", "--platform", "sim"]).ok();

    let out = ctl.run(&["describe", "group/preview-1"]).ok();
    let text = &out.stdout;
    for want in [
        "Group:              preview-1",
        "Members:            4 (1 optional)",
        "Start order:        1. db  2. api, worker  3. web",
        "Ready by:           unknown (no measured wake yet: api, db, web)",
        "Problems:           <none>",
    ] {
        assert!(text.contains(want), "{want:?} in\n{text}");
    }
    let members: Vec<Vec<String>> = rows(text)
        .into_iter()
        .skip_while(|r| r.first().map(String::as_str) != Some("WAVE"))
        .collect();
    assert_eq!(
        members[0],
        [
            "WAVE",
            "NAME",
            "PHASE",
            "STEP",
            "DEPENDS-ON",
            "OPTIONAL",
            "MESSAGE"
        ],
        "{text}"
    );
    assert_eq!(
        members[1][..6],
        ["1", "db", "Waking", "scaling", "-", "no"],
        "{text}"
    );
    assert_eq!(
        members[3][..6],
        ["2", "worker", "Waking", "scaling", "db", "yes"],
        "{text}"
    );
    assert_eq!(
        members[4][..6],
        ["3", "web", "Waking", "scaling", "api", "no"],
        "{text}"
    );
    assert!(
        text.contains("waiting for api and db to be Ready"),
        "{text}"
    );

    let out = ctl.run(&["describe", "web"]).ok();
    let text = &out.stdout;
    for want in [
        "Groups:\n  Groups:             preview-1, front\n  Depends on:         api\n",
        "  Start order:\n    preview-1: 1. db  2. api, worker  3. web\n    front: 1. web\n",
        "  Waiting for:        api, db\n",
        "  Held by:            <none>\n",
    ] {
        assert!(text.contains(want), "{want:?} in\n{text}");
    }
    let members: Vec<Vec<String>> = rows(text)
        .into_iter()
        .skip_while(|r| r.first().map(String::as_str) != Some("WAVE"))
        .take(5)
        .collect();
    let names: Vec<&str> = members.iter().map(|r| r[1].as_str()).collect();
    assert_eq!(names, ["NAME", "db", "api", "worker", "web"], "{text}");
    assert_eq!(members[1][2..4], ["Waking", "scaling"], "{text}");
    // A record without groups has no Groups section.
    assert!(
        !ctl.run(&["describe", "solo"])
            .ok()
            .stdout
            .contains("Groups:")
    );
    // db is held by what runs on it once it is asked to sleep: who holds it is shown.
    let db = ctl.run(&["describe", "service/db"]).ok().stdout;
    assert!(db.contains("  Held by:            "), "{db}");
}

#[test]
fn describe_of_a_group_lists_its_problems() {
    let ctl = Ctl::new();
    // A dependency on a record not there yet is accepted by apply; the group shows it.
    let docs = [
        group_manifest("api", &["g"], &["db"], ""),
        group_manifest("web", &["g"], &["api"], ""),
    ];
    ctl.run(&["apply", "-f", &ctl.write("g.yaml", &docs.join("---\n"))])
        .ok();
    let out = ctl.run(&["describe", "group/g"]).ok();
    assert!(
        out.stdout.contains(
            "Problems:\n  service/api: spec.dependsOn: there is no record \"db\"; api waits for it\n"
        ),
        "{}",
        out.stdout
    );
}

/// Makes record `name`'s stored `spec.dependsOn` `deps`, behind apply's back (as a store
/// written by an older release, or by hand, may hold).
fn store_depends_on(ctl: &Ctl, name: &str, deps: &[&str]) {
    let db = rusqlite::Connection::open(ctl.sqlite_path()).unwrap();
    let list = serde_json::to_string(deps).unwrap();
    db.execute(
        "UPDATE records SET spec = json_set(spec, '$.dependsOn', json(?1)) WHERE name = ?2",
        rusqlite::params![list, name],
    )
    .unwrap();
}

#[test]
fn apply_refuses_a_change_that_breaks_another_record_and_tolerates_old_problems() {
    let ctl = Ctl::new();
    let docs = [
        group_manifest("xa", &["xg"], &["xb"], ""),
        group_manifest("xb", &["xg"], &[], ""),
    ];
    ctl.run(&["apply", "-f", &ctl.write("x.yaml", &docs.join("---\n"))])
        .ok();
    // Moving xb to another group leaves xa (not applied) depending on a record it shares no
    // group with: refused, naming xa.
    let moved = ctl.write("xb.yaml", &group_manifest("xb", &["yg"], &[], ""));
    let out = ctl.run(&["apply", "-f", &moved]).fails(1);
    assert_eq!(out.stdout, "");
    assert_eq!(
        out.stderr,
        "error: 1 problem with groups; nothing was applied\n  service/xa: spec.dependsOn[0]: \
         \"xb\" shares no group with this record (it is in: yg; this record is in: xg) (caused \
         by this apply)\n"
    );
    assert_eq!(ctl.record("xb").spec.groups, ["xg"]);

    // A cycle already stored is not the fault of an apply that does not touch it: a record
    // depending on it is created, with a note.
    store_depends_on(&ctl, "xb", &["xa"]);
    let xc = ctl.write("xc.yaml", &group_manifest("xc", &["xg"], &["xa"], ""));
    let out = ctl.run(&["apply", "-f", &xc]).ok();
    assert_eq!(out.stdout, "service/xc created\n");
    assert_eq!(
        out.stderr,
        "note: service/xc: depends on xa, xb, on a dependency cycle: it will wait until the cycle \
         is broken\n"
    );
}

#[test]
fn edit_refuses_what_apply_refuses_across_records() {
    let ctl = Ctl::new();
    let docs = [
        group_manifest("xa", &["xg"], &["xb"], ""),
        group_manifest("xb", &["xg"], &[], ""),
    ];
    ctl.run(&["apply", "-f", &ctl.write("x.yaml", &docs.join("---\n"))])
        .ok();
    // xb depends on xa: a cycle. The file is reopened with the problems; closing
    // it unchanged fails as for any other validation error.
    let script = editor(
        &ctl,
        "if grep -q 'was not saved' \"$1\"; then cp \"$1\" \"$STATE/reopened.yaml\"; exit 0; fi\n\
         sed -i 's/^spec:/spec:\\n  dependsOn: [xa]/' \"$1\"",
    );
    let out = edit(&ctl, "xb", &script).fails(1);
    assert_eq!(out.stdout, "");
    assert!(
        out.stderr
            .starts_with("error: edit cancelled, no valid changes were saved to service \"xb\"\n")
            && out.stderr.contains(
                "  service/xa: spec.dependsOn: dependency cycle xa → xb → xa; nothing on it is \
                 scaled up (caused by this edit)\n"
            )
            && out
                .stderr
                .contains("  service/xb: spec.dependsOn: dependency cycle xb → xa → xb"),
        "{out:?}"
    );
    let reopened = std::fs::read_to_string(ctl.path("reopened.yaml")).unwrap();
    assert!(reopened.contains("(caused by this edit)"), "{reopened}");
    assert!(ctl.record("xb").spec.depends_on.is_empty());

    // group/NAME is a usage error for edit and delete.
    for verb in ["edit", "delete"] {
        let out = ctl.run(&[verb, "group/xg"]).fails(2);
        assert!(
            out.stderr
                .contains("group/NAME is not supported by this verb"),
            "{verb}: {out:?}"
        );
    }
    assert_eq!(ctl.names().len(), 2);
}

#[test]
fn delete_names_the_records_that_still_depend_on_it() {
    let ctl = Ctl::new();
    let docs = [
        group_manifest("pa", &["p"], &[], ""),
        group_manifest("pz", &["p"], &["pa"], ""),
        group_manifest("pw", &["p"], &["pa"], ""),
    ];
    ctl.run(&["apply", "-f", &ctl.write("p.yaml", &docs.join("---\n"))])
        .ok();
    let out = ctl.run(&["delete", "service/pa"]).ok();
    assert_eq!(out.stdout, "service \"pa\" deleted\n");
    assert_eq!(
        out.stderr,
        "note: service/pw depends on pa (spec.dependsOn); it will wait for pa until pa exists \
         again or its dependsOn is edited\n\
         note: service/pz depends on pa (spec.dependsOn); it will wait for pa until pa exists \
         again or its dependsOn is edited\n"
    );
    // Nothing depends on pw: no note.
    assert_eq!(ctl.run(&["delete", "pw"]).ok().stderr, "");
}

#[test]
fn a_group_wake_skips_invalid_members_and_fails_when_all_are() {
    let ctl = Ctl::new();
    let docs = [
        group_manifest("xa", &["xg"], &["xb"], ""),
        group_manifest("xb", &["xg"], &[], ""),
    ];
    ctl.run(&["apply", "-f", &ctl.write("x.yaml", &docs.join("---\n"))])
        .ok();
    store_depends_on(&ctl, "xb", &["xa"]);
    let out = ctl.run(&["wake", "group/xg"]).fails(1);
    assert_eq!(out.stdout, "");
    assert!(
        out.stderr
            .starts_with("error: no member of group/xg was woken: every member is Invalid\n")
            && out
                .stderr
                .contains("  service/xa is Invalid: spec.dependsOn: dependency cycle"),
        "{out:?}"
    );
    assert!(ctl.record("xa").desired.wake_requested_at.is_none());

    // One valid member: it is woken, the others are named (exit 0).
    let xc = ctl.write("xc.yaml", &group_manifest("xc", &["xg"], &[], ""));
    ctl.run(&["apply", "-f", &xc]).ok();
    let out = ctl.run(&["wake", "group/xg"]).ok();
    assert_eq!(out.stdout, "service/xc wake requested\n");
    assert!(
        out.stderr.contains("note: service/xa is Invalid: ")
            && out.stderr.contains("note: service/xb is Invalid: "),
        "{out:?}"
    );
}

#[test]
fn reconcile_once_on_the_sim_platform_wakes_named_records_without_false_drift() {
    let ctl = Ctl::new();
    let file = ctl.write(
        "m.yaml",
        &format!("{}---\n{}", manifest("a"), manifest("b")),
    );
    ctl.run(&["apply", "-f", &file]).ok();
    ctl.run(&["wake", "a"]).ok();
    ctl.run(&["wake", "b"]).ok();

    // Only the named record is reconciled: one line for it, and the summary.
    let out = ctl
        .run(&["reconcile", "--once", "--platform", "sim", "a"])
        .ok();
    assert!(
        out.stdout.contains("a  ") && out.stdout.contains("Waking"),
        "{out:?}"
    );
    assert!(!out.stdout.lines().any(|l| l.starts_with("b ")), "{out:?}");
    assert!(
        out.stdout.contains("1 records, 1 changed, 0 errors"),
        "{out:?}"
    );
    assert_eq!(ctl.record("a").status.unwrap().replicas.desired, 1);
    assert!(ctl.record("b").status.is_none());

    // A second run starts a fresh simulation: the service is at the desiredCount the record
    // last published (as ECS keeps it), so nothing is taken for drift.
    let out = ctl
        .run(&["reconcile", "--once", "--platform", "sim", "a"])
        .ok();
    let a = ctl.record("a");
    let status = a.status.unwrap();
    assert_eq!(status.replicas.desired, 1, "{out:?}");
    assert!(
        status
            .conditions
            .iter()
            .all(|c| c.type_ != "Drift" || c.status != snooze::model::ConditionStatus::True),
        "{:#?}\n{out:?}",
        status.conditions
    );

    // Every record without names; an unknown --platform is a usage error.
    let out = ctl.run(&["reconcile", "--platform", "sim"]).ok();
    assert!(out.stdout.contains("2 records"), "{out:?}");
    ctl.run(&["reconcile", "--platform", "nope"]).fails(2);
}

#[test]
fn schema_verb_prints_the_committed_schema() {
    let ctl = Ctl::new();
    let out = ctl.run(&["schema"]).ok();
    let committed =
        std::fs::read_to_string(root().join("manifests/schema/service.schema.json")).unwrap();
    assert!(
        out.stdout == committed,
        "manifests/schema/service.schema.json is stale; regenerate it with\n    \
         cargo run -p snooze --bin snoozectl -- schema > manifests/schema/service.schema.json"
    );
}

#[test]
fn init_creates_the_sqlite_file_and_is_idempotent() {
    let ctl = Ctl::new();
    let out = ctl.run(&["init"]).ok();
    assert!(out.stdout.ends_with("created\n"), "{out:?}");
    assert!(ctl.sqlite_path().exists());
    let out = ctl.run(&["init"]).ok();
    assert!(out.stdout.ends_with("already exists\n"), "{out:?}");
}

// ---------------------------------------------------------------------------------------------
// edit, with scripted editors

/// Writes an executable editor script and returns the `EDITOR` value that runs it.
fn editor(ctl: &Ctl, body: &str) -> String {
    let path = ctl.write("editor.sh", &format!("#!/bin/sh\nset -e\n{body}\n"));
    let status = Command::new("chmod").arg("+x").arg(&path).status().unwrap();
    assert!(status.success());
    path
}

fn edit(ctl: &Ctl, name: &str, editor: &str) -> Out {
    let mut cmd = ctl.command(&["edit", name]);
    cmd.env("EDITOR", editor)
        .env("STATE", ctl.dir.path())
        .env("SNOOZECTL", BIN)
        .env("SNOOZE_STORE", &ctl.store);
    ctl.run_with(cmd, None)
}

#[test]
fn edit_saves_a_valid_change() {
    let ctl = Ctl::new();
    ctl.run(&["apply", "-f", &ctl.write("m.yaml", &manifest("demo"))])
        .ok();
    ctl.run(&["wake", "demo"]).ok();
    let script = editor(
        &ctl,
        "cp \"$1\" \"$STATE/seen.yaml\"\nsed -i 's/replicas: 1/replicas: 3/' \"$1\"",
    );
    let out = edit(&ctl, "demo", &script).ok();
    assert_eq!(out.stdout, "service/demo edited\n");
    let seen = std::fs::read_to_string(ctl.path("seen.yaml")).unwrap();
    assert!(seen.starts_with("# "), "help header: {seen}");
    assert!(seen.contains("\napiVersion: snooze/v1\nkind: Service\nmetadata:\n  name: demo\n  labels:\n    team: web\nspec:\n"), "{seen}");
    let body: String = seen
        .lines()
        .filter(|l| !l.starts_with('#'))
        .collect::<Vec<_>>()
        .join("\n");
    for not in [
        "status",
        "desired",
        "wakeRequestedAt",
        "resourceVersion",
        "generation",
        "creationTimestamp",
    ] {
        assert!(!body.contains(not), "operator view shows {not}: {seen}");
    }
    let r = ctl.record("demo");
    assert_eq!(r.spec.replicas, 3);
    assert_eq!(r.metadata.generation, 2);
    assert!(
        r.desired.wake_requested_at.is_some(),
        "edit must keep the desired facts"
    );

    // Leaving the file as it is cancels.
    let out = edit(&ctl, "demo", "true").ok();
    assert_eq!(out.stderr, "Edit cancelled, no changes made.\n");
    assert_eq!(ctl.record("demo").metadata.generation, 2);
}

#[test]
fn edit_reopens_with_the_errors_until_fixed() {
    let ctl = Ctl::new();
    ctl.run(&["apply", "-f", &ctl.write("m.yaml", &manifest("demo"))])
        .ok();
    let script = editor(
        &ctl,
        r#"n=$(cat "$STATE/count" 2>/dev/null || echo 0); n=$((n+1)); echo $n > "$STATE/count"
cp "$1" "$STATE/seen-$n.yaml"
case $n in
  1) sed -i 's/replicas: 1/replicas: 99/; s/idleTimeout: 15m/idleTimout: 15m/' "$1" ;;
  2) sed -i 's/idleTimout: 15m/idleTimeout: 15m/' "$1" ;;
  3) sed -i 's/replicas: 99/replicas: 4/' "$1" ;;
esac"#,
    );
    let out = edit(&ctl, "demo", &script).ok();
    assert_eq!(out.stdout, "service/demo edited\n");
    assert_eq!(
        std::fs::read_to_string(ctl.path("count")).unwrap().trim(),
        "3"
    );
    let second = std::fs::read_to_string(ctl.path("seen-2.yaml")).unwrap();
    assert!(
        second.contains("# service \"demo\" was not saved:\n# * line "),
        "{second}"
    );
    assert!(second.contains("unknown field `idleTimout`"), "{second}");
    // Every problem's line number points at its line in the reopened file itself.
    for (problem, field) in [
        ("idleTimout", "idleTimout:"),
        ("spec.replicas", "replicas:"),
    ] {
        let line = second
            .lines()
            .find(|l| l.starts_with("# * line ") && l.contains(problem))
            .unwrap_or_else(|| panic!("no problem about {problem}: {second}"));
        let n: usize = line["# * line ".len()..]
            .split(':')
            .next()
            .unwrap()
            .parse()
            .unwrap();
        assert!(
            second
                .lines()
                .nth(n - 1)
                .unwrap()
                .trim_start()
                .starts_with(field),
            "line {n} of the reopened file is not the {field} line: {second}"
        );
    }
    let third = std::fs::read_to_string(ctl.path("seen-3.yaml")).unwrap();
    assert!(
        third.contains("spec.replicas: 99 is above the maximum of 10"),
        "{third}"
    );
    assert!(
        !third.contains("idleTimout"),
        "old errors are replaced: {third}"
    );
    assert_eq!(ctl.record("demo").spec.replicas, 4);
}

#[test]
fn edit_to_another_records_service_is_reopened_with_the_conflict() {
    let ctl = Ctl::new();
    ctl.run(&["apply", "-f", &ctl.write("web.yaml", &manifest("web"))])
        .ok();
    ctl.run(&["apply", "-f", &ctl.write("api.yaml", &manifest("api"))])
        .ok();
    let script = editor(
        &ctl,
        r#"n=$(cat "$STATE/count" 2>/dev/null || echo 0); n=$((n+1)); echo $n > "$STATE/count"
cp "$1" "$STATE/seen-$n.yaml"
[ $n = 1 ] && sed -i 's/service: api-svc/service: web-svc/' "$1"
true"#,
    );
    let out = edit(&ctl, "api", &script).fails(1);
    assert!(
        out.stderr.contains("is already managed by service/web"),
        "{out:?}"
    );
    let second = std::fs::read_to_string(ctl.path("seen-2.yaml")).unwrap();
    assert!(
        second.contains(
            "service/api: spec.target: ecs:demo-cluster/web-svc is already managed by service/web"
        ),
        "{second}"
    );
    assert_eq!(ctl.record("api").metadata.resource_version, 1);
}

#[test]
fn edit_left_invalid_and_unchanged_saves_nothing() {
    let ctl = Ctl::new();
    ctl.run(&["apply", "-f", &ctl.write("m.yaml", &manifest("demo"))])
        .ok();
    let script = editor(
        &ctl,
        r#"n=$(cat "$STATE/count" 2>/dev/null || echo 0); n=$((n+1)); echo $n > "$STATE/count"
[ $n = 1 ] && sed -i 's/name: demo/name: renamed/' "$1"
true"#,
    );
    // Closing the reopened file with its problems unchanged is a failure (as in kubectl).
    let out = edit(&ctl, "demo", &script).fails(1);
    assert!(
        out.stderr
            .starts_with("error: edit cancelled, no valid changes were saved to service \"demo\""),
        "{out:?}"
    );
    assert!(
        out.stderr.contains("metadata.name: cannot be changed"),
        "{out:?}"
    );
    assert_eq!(ctl.names(), ["demo"]);
    assert_eq!(ctl.record("demo").metadata.resource_version, 1);
}

/// An editor whose change also rewrites the reopened file's problem comments (a `sed` over the
/// whole file) changes nothing the second time: the edit ends instead of reopening for ever.
#[test]
fn edit_changing_only_the_problem_comments_ends() {
    let ctl = Ctl::new();
    ctl.run(&["apply", "-f", &ctl.write("m.yaml", &manifest("demo"))])
        .ok();
    let script = editor(
        &ctl,
        r#"n=$(cat "$STATE/count" 2>/dev/null || echo 0); n=$((n+1)); echo $n > "$STATE/count"
[ $n -gt 5 ] && exit 3
sed -i 's/idleTimeout:.*/idleTimeout: 10s/' "$1""#,
    );
    let out = edit(&ctl, "demo", &script).fails(1);
    assert!(
        out.stderr
            .starts_with("error: edit cancelled, no valid changes were saved to service \"demo\""),
        "{out:?}"
    );
    let runs = std::fs::read_to_string(ctl.dir.path().join("count")).unwrap();
    assert_eq!(runs.trim(), "2", "opened once, reopened once: {out:?}");
    assert_eq!(ctl.record("demo").metadata.resource_version, 1);
}

#[test]
fn edit_conflict_is_reported_and_nothing_is_overwritten() {
    let ctl = Ctl::new();
    let file = ctl.write("m.yaml", &manifest("demo"));
    ctl.run(&["apply", "-f", &file]).ok();
    // While the operator edits, someone else applies a label change.
    ctl.write(
        "other.yaml",
        &manifest("demo").replace("team: web", "team: other"),
    );
    let script = editor(
        &ctl,
        r#""$SNOOZECTL" apply -f "$STATE/other.yaml" > "$STATE/other.out"
sed -i 's/replicas: 1/replicas: 5/' "$1""#,
    );
    let out = edit(&ctl, "demo", &script).fails(1);
    assert_eq!(
        std::fs::read_to_string(ctl.path("other.out")).unwrap(),
        "service/demo configured\n"
    );
    assert!(
        out.stderr
            .starts_with("error: service \"demo\" was not saved: it changed since it was read\n"),
        "{}",
        out.stderr
    );
    let kept = out
        .stderr
        .lines()
        .find_map(|l| l.trim().strip_prefix("your version is saved in "))
        .unwrap_or_else(|| panic!("no kept path in {}", out.stderr));
    let kept_text = std::fs::read_to_string(kept).expect("kept file exists");
    assert!(kept_text.contains("replicas: 5"), "{kept_text}");
    std::fs::remove_file(kept).unwrap();
    let r = ctl.record("demo");
    assert_eq!(
        r.metadata.labels["team"], "other",
        "the concurrent change survives"
    );
    assert_eq!(r.spec.replicas, 1, "the stale edit was not written");
}

// ---------------------------------------------------------------------------------------------
// records broken in the store

#[test]
fn malformed_records_are_listed_never_dropped() {
    let ctl = Ctl::new();
    let file = ctl.write(
        "m.yaml",
        &format!(
            "{}---\n{}---\n{}",
            manifest("good"),
            manifest("typo"),
            manifest("wreck")
        ),
    );
    ctl.run(&["apply", "-f", &file]).ok();
    let db = rusqlite::Connection::open(ctl.sqlite_path()).unwrap();
    // A mistyped attribute, and a column that is not JSON at all.
    db.execute(
        "UPDATE records SET spec = json_set(spec, '$.replicas', 'many') WHERE name = 'typo'",
        [],
    )
    .unwrap();
    db.execute(
        "UPDATE records SET metadata = 'not json' WHERE name = 'wreck'",
        [],
    )
    .unwrap();
    drop(db);

    let out = ctl.run(&["get"]).ok();
    let rows: Vec<Vec<&str>> = out
        .stdout
        .lines()
        .skip(1)
        .map(|l| l.split_whitespace().collect())
        .collect();
    assert_eq!(
        rows.iter().map(|r| (r[0], r[1])).collect::<Vec<_>>(),
        [("good", "-"), ("typo", "Invalid"), ("wreck", "Invalid")]
    );
    let wide = ctl.run(&["get", "-o", "wide"]).ok().stdout;
    assert!(
        wide.contains("spec.replicas: invalid type: string \"many\""),
        "{wide}"
    );
    assert!(
        wide.contains("metadata: stored column is not JSON"),
        "{wide}"
    );

    let json = ctl.run(&["get", "-o", "json"]).ok().stdout;
    let items: Vec<serde_json::Value> = serde_json::from_str(&json).unwrap();
    assert_eq!(items.len(), 3);
    assert_eq!(items[1]["status"]["phase"], "Invalid");
    assert!(
        items[1]["malformed"]["error"]
            .as_str()
            .unwrap()
            .contains("spec.replicas")
    );
    assert!(
        items[1]["malformed"]["raw"]["spec"]
            .to_string()
            .contains("many"),
        "{}",
        items[1]
    );
    assert_eq!(items[2]["malformed"]["raw"]["metadata"], "not json");
    let yaml = ctl.run(&["get", "typo", "-o", "yaml"]).ok().stdout;
    assert!(yaml.contains("malformed:\n  error: "), "{yaml}");

    let out = ctl.run(&["describe", "typo"]).ok();
    assert!(
        out.stdout
            .contains("Error:              spec.replicas: invalid type"),
        "{}",
        out.stdout
    );

    // An operator can repair it with edit, or remove it with delete.
    let out = edit(
        &ctl,
        "typo",
        &editor(&ctl, "sed -i 's/replicas: many/replicas: 2/' \"$1\""),
    )
    .ok();
    assert_eq!(out.stdout, "service/typo edited\n");
    assert_eq!(ctl.record("typo").spec.replicas, 2);
    assert_eq!(
        ctl.run(&["delete", "wreck"]).ok().stdout,
        "service \"wreck\" deleted\n"
    );
    assert_eq!(ctl.names(), ["good", "typo"]);
}

// ---------------------------------------------------------------------------------------------
// DynamoDB on moto

#[test]
fn dynamodb_store_honours_region_and_the_env_vars() {
    let ctl = Ctl::new();
    let table = format!("snooze-region-{}", std::process::id());
    // SNOOZE_STORE and SNOOZE_ENDPOINT_URL instead of the flags; --region over AWS_REGION.
    let run = |args: &[&str]| {
        let mut cmd = Command::new(BIN);
        cmd.args(args)
            .current_dir(ctl.dir.path())
            .env("SNOOZE_STORE", format!("dynamodb://{table}"))
            .env("SNOOZE_ENDPOINT_URL", moto_endpoint())
            .env("AWS_REGION", "us-east-1")
            .env_remove("RUST_BACKTRACE");
        ctl.run_with(cmd, None)
    };
    assert_eq!(
        run(&["--region", "eu-west-1", "init"]).ok().stdout,
        format!("dynamodb table {table} created\n")
    );
    run(&["--region", "eu-west-1", "get"]).ok();
    // The table exists in eu-west-1 only: us-east-1 (AWS_REGION) does not have it.
    let out = run(&["get"]).fails(1);
    assert!(out.stderr.contains(&table), "{out:?}");
    run(&["--region", "us-east-1", "get"]).fails(1);
}

#[test]
fn agent_records_a_real_connection_and_exits_0_on_sigterm() {
    let mut ctl = Ctl::new();
    let table = format!("snooze-agent-{}", std::process::id());
    ctl.store = format!("dynamodb://{table}");
    ctl.extra = vec!["--endpoint-url".into(), moto_endpoint().into()];
    ctl.run(&["init"]).ok();
    ctl.run_stdin(&["apply", "-f", "-"], &manifest("demo")).ok();
    assert!(ctl.record("demo").desired.last_activity_at.is_none());

    // A real established connection to the "app" port.
    let app = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let port = app.local_addr().unwrap().port();
    let _client = std::net::TcpStream::connect(("127.0.0.1", port)).unwrap();
    let _server = app.accept().unwrap();

    // Configured from the environment only, as in the task definition.
    let mut agent = Command::new(BIN)
        .arg("agent")
        .current_dir(ctl.dir.path())
        .env("SNOOZE_TABLE", &table)
        .env("SNOOZE_SERVICE", "demo")
        .env("SNOOZE_PORT", port.to_string())
        .env("SNOOZE_AGENT_INTERVAL", "200ms")
        .env("SNOOZE_ENDPOINT_URL", moto_endpoint())
        .env("AWS_REGION", "us-east-1")
        .env_remove("SNOOZE_STORE")
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let deadline = Instant::now() + Duration::from_secs(15);
    while ctl.record("demo").desired.last_activity_at.is_none() {
        if let Some(status) = agent.try_wait().unwrap() {
            panic!("the agent exited early: {status}");
        }
        assert!(
            Instant::now() < deadline,
            "no activity recorded within 15 s"
        );
        std::thread::sleep(Duration::from_millis(100));
    }

    let term = Command::new("kill")
        .args(["-s", "TERM", &agent.id().to_string()])
        .status()
        .unwrap();
    assert!(term.success());
    let deadline = Instant::now() + Duration::from_secs(5);
    let status = loop {
        if let Some(status) = agent.try_wait().unwrap() {
            break status;
        }
        assert!(Instant::now() < deadline, "the agent ignored SIGTERM");
        std::thread::sleep(Duration::from_millis(50));
    };
    assert_eq!(status.code(), Some(0), "exit status on SIGTERM");
}

#[test]
fn dynamodb_store_on_moto_init_apply_get_wake() {
    let mut ctl = Ctl::new();
    let nanos = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .subsec_nanos();
    let table = format!("snooze-cli-{}-{nanos:x}", std::process::id());
    ctl.store = format!("dynamodb://{table}");
    ctl.extra = vec![
        "--endpoint-url".into(),
        moto_endpoint().into(),
        "--region".into(),
        "us-east-1".into(),
    ];

    // Before init the table is missing: a readable error, exit 1.
    let out = ctl.run(&["get"]).fails(1);
    assert!(out.stderr.starts_with("error: "), "{out:?}");
    assert!(
        !out.stderr.contains("service error\n"),
        "AWS errors carry code and message: {out:?}"
    );

    assert_eq!(
        ctl.run(&["init"]).ok().stdout,
        format!("dynamodb table {table} created\n")
    );
    assert_eq!(
        ctl.run(&["init"]).ok().stdout,
        format!("dynamodb table {table} already exists\n")
    );

    let example = root().join("manifests/demo-ecs.yaml").display().to_string();
    assert_eq!(
        ctl.run(&["apply", "-f", &example]).ok().stdout,
        "service/demo created\n"
    );
    assert_eq!(
        ctl.run(&["apply", "-f", &example]).ok().stdout,
        "service/demo unchanged\n"
    );
    let want = parse_manifests(&std::fs::read_to_string(&example).unwrap(), "x")
        .unwrap()
        .remove(0);
    let got = ctl.record("demo");
    assert_eq!(
        (&got.metadata.name, &got.metadata.labels, &got.spec),
        (&want.metadata.name, &want.metadata.labels, &want.spec)
    );

    let out = ctl.run(&["get"]).ok();
    assert!(
        out.stdout.lines().nth(1).unwrap().starts_with("demo "),
        "{}",
        out.stdout
    );
    assert_eq!(
        ctl.run(&["wake", "demo"]).ok().stdout,
        "service/demo wake requested\n"
    );
    assert!(ctl.record("demo").desired.wake_requested_at.is_some());
    ctl.run(&["wake", "nope"]).fails(1);

    // An item broken in the console (replicas as a string, no kind) is listed as Invalid.
    let rt = tokio::runtime::Runtime::new().unwrap();
    rt.block_on(async {
        use aws_sdk_dynamodb::types::AttributeValue as A;
        let opts = snooze::store::ConnectOptions {
            region: Some("us-east-1".into()),
            endpoint_url: Some(moto_endpoint().into()),
        };
        let client = snooze::store::dynamo_client(&opts).await;
        client
            .put_item()
            .table_name(&table)
            .item("name", A::S("broken".into()))
            .item("apiVersion", A::S("snooze/v1".into()))
            .item(
                "spec",
                A::M([("replicas".to_string(), A::S("two".into()))].into()),
            )
            .item("resourceVersion", A::N("1".into()))
            .send()
            .await
            .expect("put a broken item");
    });
    let out = ctl.run(&["get", "-o", "wide"]).ok();
    let broken = out
        .stdout
        .lines()
        .find(|l| l.starts_with("broken "))
        .unwrap_or_else(|| panic!("{}", out.stdout));
    assert!(broken.contains(" Invalid "), "{broken}");
    let v: serde_json::Value =
        serde_json::from_str(&ctl.run(&["get", "broken", "-o", "json"]).ok().stdout).unwrap();
    assert_eq!(v["status"]["phase"], "Invalid");
    assert_eq!(v["malformed"]["raw"]["spec"]["replicas"], "two");
    assert_eq!(
        ctl.run(&["delete", "broken"]).ok().stdout,
        "service \"broken\" deleted\n"
    );

    assert_eq!(
        ctl.run(&["delete", "demo"]).ok().stdout,
        "service \"demo\" deleted\n"
    );
    assert!(ctl.names().is_empty());
}

/// `snoozectl --store dynamodb://TABLE` with every credential source switched off (issue 13,
/// class 9): one line that says no AWS credentials were found and how to provide them, exit 1,
/// no SDK warnings with debug structs, no colour codes in a pipe (also with `RUST_LOG` set).
///
/// Not `--endpoint-url`: with it and no `AWS_ACCESS_KEY_ID`, snoozectl gives the emulator
/// `test`/`test` credentials by design. The SDK's own `AWS_ENDPOINT_URL` points at a closed
/// port instead, so nothing could reach AWS even if credentials were found; with instance
/// metadata off nothing waits on a network either.
/// Operators mostly sign in through IAM Identity Center (SSO) profiles or a
/// `credential_process`: snoozectl is built with both (aws-config's `sso` and
/// `credentials-process` features), so such a profile is used, never refused with "this
/// behavior requires cargo feature(s)".
#[test]
fn sso_and_credential_process_profiles_are_supported() {
    let home = tempfile::tempdir().expect("temp dir");
    let config = home.path().join("config");
    std::fs::write(
        &config,
        "[profile proc]\n\
         credential_process = echo '{\"Version\": 1, \"AccessKeyId\": \"AKIDPROC\", \"SecretAccessKey\": \"secret\"}'\n\
         [profile sso]\n\
         sso_start_url = https://example.awsapps.com/start\n\
         sso_region = us-east-1\n\
         sso_account_id = 123456789012\n\
         sso_role_name = Dev\n",
    )
    .unwrap();
    let closed = std::net::TcpListener::bind("127.0.0.1:0").expect("bind");
    let port = closed.local_addr().unwrap().port();
    drop(closed);
    let run = |profile: &str| {
        let mut cmd = Command::new(BIN);
        cmd.args(["--store", "dynamodb://snooze-profiles", "get"]);
        for (key, _) in std::env::vars() {
            if key.starts_with("AWS_") || key.starts_with("SNOOZE_") || key == "RUST_LOG" {
                cmd.env_remove(key);
            }
        }
        cmd.env("HOME", home.path())
            .env("AWS_CONFIG_FILE", &config)
            .env("AWS_SHARED_CREDENTIALS_FILE", home.path().join("none"))
            .env("AWS_PROFILE", profile)
            .env("AWS_EC2_METADATA_DISABLED", "true")
            .env("AWS_REGION", "us-east-1")
            .env("AWS_ENDPOINT_URL", format!("http://127.0.0.1:{port}"))
            .current_dir(home.path())
            .stdin(Stdio::null());
        let out = cmd.output().expect("run snoozectl");
        String::from_utf8_lossy(&out.stderr).into_owned()
    };
    // The process's credentials are used: the request goes out (to a closed port).
    let err = run("proc");
    assert!(!err.contains("cargo feature"), "{err}");
    assert!(
        !err.contains("credentials"),
        "credentials were loaded: {err}"
    );
    // The SSO profile is understood; without a cached sign-in it says so in one line.
    let err = run("sso");
    assert!(!err.contains("cargo feature"), "{err}");
    assert!(
        err.contains("AWS credentials could not be loaded"),
        "one line about the SSO sign-in: {err}"
    );
}

#[test]
fn missing_aws_credentials_are_one_clear_line_without_colour() {
    let home = tempfile::tempdir().expect("temp dir");
    let closed = std::net::TcpListener::bind("127.0.0.1:0").expect("bind");
    let port = closed.local_addr().unwrap().port();
    drop(closed);
    let run = |rust_log: Option<&str>| {
        let mut cmd = Command::new(BIN);
        cmd.args(["--store", "dynamodb://snooze-no-credentials", "get"]);
        for (key, _) in std::env::vars() {
            if key.starts_with("AWS_") || key.starts_with("SNOOZE_") || key == "RUST_LOG" {
                cmd.env_remove(key);
            }
        }
        let missing = home.path().join("missing");
        cmd.env("HOME", home.path())
            .env("AWS_CONFIG_FILE", missing.join("config"))
            .env("AWS_SHARED_CREDENTIALS_FILE", missing.join("credentials"))
            .env("AWS_EC2_METADATA_DISABLED", "true")
            .env("AWS_REGION", "us-east-1")
            .env("AWS_ENDPOINT_URL", format!("http://127.0.0.1:{port}"))
            .current_dir(home.path())
            .stdin(Stdio::null());
        if let Some(filter) = rust_log {
            cmd.env("RUST_LOG", filter);
        }
        let started = Instant::now();
        let out = cmd.output().expect("run snoozectl");
        assert!(started.elapsed() < Duration::from_secs(20), "too slow");
        Out {
            code: out.status.code().unwrap_or(-1),
            stdout: String::from_utf8_lossy(&out.stdout).into_owned(),
            stderr: String::from_utf8_lossy(&out.stderr).into_owned(),
        }
    };

    let out = run(None).fails(1);
    let err = &out.stderr;
    assert!(
        !err.contains('\x1b'),
        "no colour codes into a pipe: {err:?}"
    );
    assert!(!err.contains("WARN"), "no SDK warnings by default: {err}");
    assert!(!err.contains('{'), "no debug structs: {err}");
    let lines: Vec<&str> = err.lines().filter(|l| l.contains("credentials")).collect();
    assert_eq!(lines.len(), 1, "one line about credentials: {err}");
    assert!(
        lines[0].contains(
            "no AWS credentials were found; set AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY, \
             or AWS_PROFILE (run `aws sso login` first for an SSO profile); for an emulator \
             such as moto, pass --endpoint-url"
        ),
        "{err}"
    );
    assert!(
        !err.contains("IMDS") && !err.contains("metadata"),
        "nothing about instance metadata: {err}"
    );

    // RUST_LOG still turns the SDK's logs on; they are plain text in a pipe as well.
    let out = run(Some("debug")).fails(1);
    assert!(
        out.stderr.contains("DEBUG"),
        "RUST_LOG is honoured: {out:#?}"
    );
    assert!(
        !out.stderr.contains('\x1b'),
        "no colour codes into a pipe: {:?}",
        out.stderr
    );
}

/// `snoozectl reconcile --alb-listener-arn … --wake-target-group-arn …` runs the passes with
/// the alb router (here against moto, on a listener that does not exist: the route-mode
/// record's status names ELBv2's answer, not "needs a router"); one flag without the other is
/// a usage error, and so is the router with the simulated platform.
#[test]
fn reconcile_with_the_alb_router_flags() {
    let mut ctl = Ctl::new();
    let table = format!("snooze-alb-{}", std::process::id());
    ctl.store = format!("dynamodb://{table}");
    ctl.extra = vec!["--endpoint-url".into(), moto_endpoint().into()];
    ctl.run(&["init"]).ok();
    let routed = format!(
        "{}  routing: {{mode: route, host: demo.example.com}}\n",
        manifest("demo")
    );
    ctl.run_stdin(&["apply", "-f", "-"], &routed).ok();
    let listener = "arn:aws:elasticloadbalancing:us-east-1:123456789012:listener/app/nope/50dc6c495c0c9188/f2f7dc8efc522ab2";
    let group =
        "arn:aws:elasticloadbalancing:us-east-1:123456789012:targetgroup/wake/6d0ecf831eec9f09";
    ctl.run(&[
        "reconcile",
        "--once",
        "--alb-listener-arn",
        listener,
        "--wake-target-group-arn",
        group,
    ]);
    let status = ctl.record("demo").status.expect("a published status");
    let routed = status
        .conditions
        .iter()
        .find(|c| c.type_ == "Routed")
        .expect("a Routed condition");
    assert_eq!(routed.reason, "RouteFailed", "{routed:?}");
    assert!(
        !routed.message.contains("needs a router") && routed.message.contains("ListenerNotFound"),
        "the alb router answered: {routed:?}"
    );
    let out = ctl
        .run(&["reconcile", "--once", "--alb-listener-arn", listener])
        .fails(2);
    assert!(out.stderr.contains("--wake-target-group-arn"), "{out:?}");
    ctl.run(&[
        "reconcile",
        "--once",
        "--platform",
        "sim",
        "--alb-listener-arn",
        listener,
        "--wake-target-group-arn",
        group,
    ])
    .fails(1);
}

#[test]
fn reconcile_refuses_a_bad_price_table_or_one_without_its_region() {
    let ctl = Ctl::new();
    let file = ctl.write("m.yaml", &manifest("a"));
    ctl.run(&["apply", "-f", &file]).ok();
    // A negative price, on line 2: the file and the line are named, nothing is reconciled.
    let bad = ctl.write(
        "prices.yaml",
        "publicIpv4: {perHour: 0.005, source: s, date: d}\nregions:\n  - {region: us-east-1, x86_64: {vcpuHour: -1, gbHour: 0.1}, arm64: {vcpuHour: 0.1, gbHour: 0.1}, source: s, date: d}\n",
    );
    let out = ctl.run(&[
        "reconcile",
        "--once",
        "--platform",
        "sim",
        "--price-table",
        &bad,
    ]);
    assert_ne!(out.code, 0, "{out:#?}");
    assert!(!out.stderr.contains("panicked"), "{out:#?}");
    assert!(
        out.stderr.contains("prices.yaml") && out.stderr.contains("line 3"),
        "{out:#?}"
    );
    assert!(ctl.record("a").status.is_none());
    // The shipped table has no row for this region: a warning naming the table and the region,
    // and the pass runs (the ledger counts seconds only).
    let out = ctl
        .run(&[
            "--region",
            "xx-nowhere-1",
            "reconcile",
            "--once",
            "--platform",
            "sim",
        ])
        .ok();
    assert!(
        out.stderr.contains("WARN")
            && out.stderr.contains("fargate.yaml")
            && out.stderr.contains("xx-nowhere-1"),
        "{out:#?}"
    );
    assert!(ctl.record("a").status.is_some(), "{out:#?}");
    // An operator's table without the region is an error naming the file.
    let other = ctl.write(
        "other.yaml",
        "publicIpv4: {perHour: 0.005, source: s, date: d}\nregions:\n  - {region: us-east-1, x86_64: {vcpuHour: 0.1, gbHour: 0.1}, arm64: {vcpuHour: 0.1, gbHour: 0.1}, source: s, date: d}\n",
    );
    let out = ctl.run(&[
        "--region",
        "xx-nowhere-1",
        "reconcile",
        "--once",
        "--platform",
        "sim",
        "--price-table",
        &other,
    ]);
    assert_ne!(out.code, 0, "{out:#?}");
    assert!(
        out.stderr.contains("other.yaml") && out.stderr.contains("xx-nowhere-1"),
        "{out:#?}"
    );
    // Through the environment too, and a good table prices the pass.
    let good = ctl.write(
        "good.yaml",
        "publicIpv4: {perHour: 0.005, source: s, date: d}\nregions:\n  - {region: xx-nowhere-1, x86_64: {vcpuHour: 0.1, gbHour: 0.1}, arm64: {vcpuHour: 0.1, gbHour: 0.1}, source: s, date: d}\n",
    );
    let mut cmd = ctl.command(&[
        "--region",
        "xx-nowhere-1",
        "reconcile",
        "--once",
        "--platform",
        "sim",
    ]);
    cmd.env("SNOOZE_PRICE_TABLE", &good);
    ctl.run_with(cmd, None).ok();
    assert!(
        ctl.record("a")
            .status
            .unwrap()
            .ledger
            .counted_until
            .is_some()
    );
}
