//! The layering of the `snooze` crate, checked from its source: no top-level module imports
//! one above it, and the top-level modules import each other without a cycle.
//!
//! How: every `.rs` file under `controller/src` belongs to a top-level module (`src/clock.rs`
//! → `clock`, `src/platform/sim/mod.rs` → `platform`; `lib.rs` and `main.rs` are the root).
//! Its text, without `//` comments, is searched for `crate::` paths, including grouped ones
//! (`use crate::{model::Record, store};`, over several lines); each names a module it
//! depends on. That gives a graph of top-level modules, which must
//!
//! - have no edge from a module of a lower layer to one of a higher ([`FORBIDDEN`]): `model`,
//!   `clock`, `store`, `platform` and `manifest` never use `reconcile`, `wake`, `cli` or `dev`;
//!   `dev` never uses `cli`;
//! - have no cycle.
//!
//! Only `crate::` paths are seen: a `super::super::` path out of a top-level module would slip
//! through (there is none; write `crate::` for those).

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};

/// (module, modules it must not use).
const FORBIDDEN: &[(&str, &[&str])] = &[
    ("model", &["reconcile", "wake", "cli", "dev"]),
    (
        "pages",
        &["reconcile", "wake", "cli", "dev", "store", "platform"],
    ),
    ("clock", &["reconcile", "wake", "cli", "dev"]),
    ("store", &["reconcile", "wake", "cli", "dev"]),
    ("platform", &["reconcile", "wake", "cli", "dev"]),
    ("manifest", &["reconcile", "wake", "cli", "dev"]),
    ("dev", &["cli"]),
];

/// module → module it uses → the files where it does.
type Graph = BTreeMap<String, BTreeMap<String, BTreeSet<String>>>;

fn rust_files(dir: &Path, out: &mut Vec<PathBuf>) {
    for entry in std::fs::read_dir(dir).unwrap_or_else(|e| panic!("{}: {e}", dir.display())) {
        let path = entry.expect("dir entry").path();
        if path.is_dir() {
            rust_files(&path, out);
        } else if path.extension().is_some_and(|e| e == "rs") {
            out.push(path);
        }
    }
}

/// The text without `//` comments (line and doc comments; good enough for this source, which
/// has no `//` inside a string on a line that also uses `crate::`).
fn without_comments(text: &str) -> String {
    text.lines()
        .map(|l| l.find("//").map_or(l, |i| &l[..i]))
        .collect::<Vec<_>>()
        .join("\n")
}

/// The top-level modules named by the `crate::` paths in `code`.
fn crate_paths(code: &str) -> BTreeSet<String> {
    let ident = |s: &str| -> String {
        s.trim_start()
            .chars()
            .take_while(|c| c.is_alphanumeric() || *c == '_')
            .collect()
    };
    let mut out = BTreeSet::new();
    for (i, _) in code.match_indices("crate::") {
        let rest = &code[i + "crate::".len()..];
        if let Some(group) = rest.strip_prefix('{') {
            // `crate::{a::b, c, d::{e, f}}`: the first segment of each top-level item.
            let mut depth = 0;
            let mut item = String::new();
            for c in group.chars() {
                match c {
                    '{' => depth += 1,
                    '}' if depth == 0 => break,
                    '}' => depth -= 1,
                    ',' if depth == 0 => {
                        out.insert(ident(&item));
                        item.clear();
                        continue;
                    }
                    _ => {}
                }
                item.push(c);
            }
            out.insert(ident(&item));
        } else {
            out.insert(ident(rest));
        }
    }
    out.remove("");
    out
}

/// The graph of the crate's top-level modules, from the source under `src`.
fn graph(src: &Path) -> Graph {
    let mut files = Vec::new();
    rust_files(src, &mut files);
    let mut graph = Graph::new();
    for file in files {
        let rel = file.strip_prefix(src).expect("under src");
        let first = rel.components().next().expect("a component");
        let first = first.as_os_str().to_string_lossy();
        let module = first.strip_suffix(".rs").unwrap_or(&first).to_string();
        if module == "lib" || module == "main" {
            continue;
        }
        let text = std::fs::read_to_string(&file).expect("read source");
        for used in crate_paths(&without_comments(&text)) {
            if used != module {
                graph
                    .entry(module.clone())
                    .or_default()
                    .entry(used)
                    .or_default()
                    .insert(rel.display().to_string());
            }
        }
    }
    graph
}

/// A cycle of `graph` as a path `a → b → … → a`, if there is one.
fn cycle(graph: &Graph) -> Option<Vec<String>> {
    fn visit(
        node: &str,
        graph: &Graph,
        stack: &mut Vec<String>,
        done: &mut BTreeSet<String>,
    ) -> Option<Vec<String>> {
        if let Some(i) = stack.iter().position(|n| n == node) {
            let mut found = stack[i..].to_vec();
            found.push(node.to_string());
            return Some(found);
        }
        if done.contains(node) {
            return None;
        }
        stack.push(node.to_string());
        for next in graph.get(node).into_iter().flat_map(|uses| uses.keys()) {
            if let Some(found) = visit(next, graph, stack, done) {
                return Some(found);
            }
        }
        stack.pop();
        done.insert(node.to_string());
        None
    }
    let mut done = BTreeSet::new();
    graph
        .keys()
        .find_map(|node| visit(node, graph, &mut Vec::new(), &mut done))
}

fn src() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("src")
}

#[test]
fn no_module_imports_a_higher_layer() {
    let graph = graph(&src());
    // The reader sees the imports at all (a wrong path would make every check pass).
    for (from, to) in [("reconcile", "store"), ("dev", "manifest"), ("cli", "dev")] {
        assert!(
            graph.get(from).is_some_and(|uses| uses.contains_key(to)),
            "expected {from} to use {to}; the graph read is {graph:#?}"
        );
    }
    let mut upward = Vec::new();
    for (module, banned) in FORBIDDEN {
        for (used, files) in graph.get(*module).into_iter().flatten() {
            if banned.contains(&used.as_str()) {
                upward.push(format!("{module} uses crate::{used} in {files:?}"));
            }
        }
    }
    assert!(
        upward.is_empty(),
        "imports that run up the layers:\n  {}",
        upward.join("\n  ")
    );
}

#[test]
fn top_level_modules_import_each_other_without_a_cycle() {
    let graph = graph(&src());
    if let Some(cycle) = cycle(&graph) {
        let edges: Vec<String> = cycle
            .windows(2)
            .map(|w| format!("{} → {} in {:?}", w[0], w[1], graph[&w[0]][&w[1]]))
            .collect();
        panic!(
            "the top-level modules form a cycle: {}\n  {}",
            cycle.join(" → "),
            edges.join("\n  ")
        );
    }
}

#[test]
fn grouped_and_nested_paths_are_read() {
    let code = "use crate::{\n    model::{Record, Status},\n    store,\n};\nlet x = crate::clock::SimClock::default_start();";
    assert_eq!(
        crate_paths(code),
        BTreeSet::from(["clock".into(), "model".into(), "store".into()])
    );
    assert_eq!(
        crate_paths(&without_comments("// see crate::cli::run\nuse crate::dev;")),
        BTreeSet::from(["dev".into()])
    );
}
