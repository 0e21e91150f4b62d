"""The three AWS principals snooze runs as, and where their code and their IAM policy live.

| principal  | runs                                   | IAM policy (Terraform)                                        |
|------------|----------------------------------------|---------------------------------------------------------------|
| reconciler | `lambdas/reconciler` + library modules | modules/snooze `data.aws_iam_policy_document.reconciler`      |
| wake       | `lambdas/wake` + library modules       | modules/snooze `data.aws_iam_policy_document.wake`            |
| agent      | `snoozectl agent` (activity sidecar)   | modules/demo-service `data.aws_iam_policy_document.task`      |
| ops        | the snoozectl verbs ops.yml runs       | modules/github-oidc `data.aws_iam_policy_document.ops`        |
| operator   | `snoozectl discover`, a person's own credentials | none: the policy is documented (`DOCUMENTED` below) |

The AWS operations a principal calls are the code's own declaration, `snooze::aws_calls::OPERATIONS`
(exported to infra/aws-operations.json, checked against the calls the moto tests made). Its
sources (its own, plus every library module `crate::x` / `snooze::x` they reach, transitively)
are still read for the env vars it reads and the Store methods it calls.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from pathlib import Path

import rust_src
from rust_src import ROOT

LIB = "controller/src"

# Store trait methods (read from controller/src/store/mod.rs at run time; this list only
# tells which names are distinctive enough to match on any receiver).
DISTINCT_STORE_METHODS = {"record_wake", "record_activity", "request_sleep", "publish_status", "change_token"}

# Library modules that are adapters or wiring: reached through the rules above, not by
# following `crate::x` references (the CLI and dev stack are other programs).
NOT_FOLLOWED = {"store", "platform", "cli", "dev", "model"}


@dataclass
class Principal:
    name: str
    roots: list[str]
    tf_module: str
    policy: str
    sources: list[str] = field(default_factory=list)

    def __post_init__(self):
        self.sources = module_closure(self.roots)

    def code(self) -> str:
        return rust_src.code(*self.sources)


def agent_roots() -> list[str]:
    """`snoozectl agent`: the activity module plus the CLI file that defines the agent verb."""
    roots = [f"{LIB}/activity.rs"]
    cli = ROOT / LIB / "cli"
    for f in sorted(cli.glob("*.rs")) if cli.is_dir() else []:
        if f.stem == "agent" or re.search(r"\bfn\s+\w*agent\w*\s*\(|run_agent\s*\(", f.read_text()):
            roots.append(str(f.relative_to(ROOT)))
    return roots


def ops_verbs() -> set[str]:
    """The snoozectl verbs `.github/workflows/ops.yml` runs (`target/release/snoozectl VERB`)."""
    text = (ROOT / ".github/workflows/ops.yml").read_text()
    return set(re.findall(r"target/release/snoozectl\s+([a-z][a-z-]*)", text))


def verb_roots(verbs: set[str]) -> list[str]:
    """The CLI files that implement `verbs`: the module each `Command::Verb(..) => module::...`
    arm of controller/src/cli/mod.rs dispatches to."""
    src = rust_src.strip_comments((ROOT / LIB / "cli/mod.rs").read_text())
    roots = []
    for verb in sorted(verbs):
        variant = "".join(p.capitalize() for p in verb.split("-"))
        m = re.search(rf"Command::{variant}\b[^=]*=>\s*(?:\{{\s*)?([a-z_][a-z0-9_]*)::", src)
        if not m:
            roots.append(f"<no dispatch arm for snoozectl {verb}>")
            continue
        for cand in (f"{LIB}/cli/{m.group(1)}.rs", f"{LIB}/cli/{m.group(1)}"):
            if (ROOT / cand).exists():
                roots.append(cand)
    return roots


def module_closure(roots: list[str]) -> list[str]:
    """`roots` plus the library modules they reference (`crate::m`, `snooze::m`), transitively."""
    seen: list[str] = []
    todo = list(roots)
    while todo:
        p = todo.pop(0)
        if p in seen or not (ROOT / p).exists():
            continue
        seen.append(p)
        for f in rust_src.rust_files(p):
            text = rust_src.strip_comments(f.read_text())
            for mod in set(re.findall(r"\b(?:crate|snooze)::([a-z_][a-z0-9_]*)", text)):
                if mod in NOT_FOLLOWED:
                    continue
                for cand in (f"{LIB}/{mod}.rs", f"{LIB}/{mod}"):
                    if (ROOT / cand).exists() and cand not in seen:
                        todo.append(cand)
    return seen


# Principals without a Terraform role (a person running snoozectl with their own credentials):
# name → (file, marker). The file documents the IAM policy they need as the ```json block right
# after the marker line; test_contract_iam checks it allows exactly the declared operations.
DOCUMENTED = {"operator": ("docs/operator-guide.md", "<!-- iam-policy: operator -->")}


def documented_policy(name: str) -> dict:
    """The IAM policy document the docs give for principal `name` (see DOCUMENTED)."""
    import json  # noqa: PLC0415

    path, marker = DOCUMENTED[name]
    text = (ROOT / path).read_text()
    assert marker in text, f"{path} has no {marker} (the IAM policy of {name})"
    m = re.search(r"```json\n(.*?)\n```", text[text.index(marker):], re.S)
    assert m, f"{path}: no ```json block after {marker}"
    return json.loads(m.group(1))


def principals() -> dict[str, Principal]:
    return {
        "reconciler": Principal("reconciler", ["lambdas/reconciler/src", f"{LIB}/reconcile.rs", f"{LIB}/reconcile"], "modules/snooze", "reconciler"),
        "wake": Principal("wake", ["lambdas/wake/src", f"{LIB}/wake.rs", f"{LIB}/wake"], "modules/snooze", "wake"),
        "agent": Principal("agent", agent_roots(), "modules/demo-service", "task"),
        "ops": Principal("ops", verb_roots(ops_verbs()), "modules/github-oidc", "ops"),
    }


# --- the store ---------------------------------------------------------------------------------


def store_trait_methods() -> set[str]:
    src = rust_src.strip_comments((ROOT / LIB / "store/mod.rs").read_text())
    m = re.search(r"pub\s+trait\s+Store\b[^{]*\{", src)
    assert m, "controller/src/store/mod.rs defines no `pub trait Store`"
    body = src[m.end() - 1 : rust_src.matching_brace(src, m.end() - 1) + 1]
    return set(re.findall(r"\bfn\s+([a-z_][a-z0-9_]*)", body))


def store_receivers(code: str) -> set[str]:
    """Names bound to a store: parameters/fields typed `Store` (`&dyn Store`, `Arc<dyn Store>`,
    `impl Store`, `S` where `S: Store`) and anything named `store`/`*_store`."""
    names = {"store"}
    names |= set(re.findall(r"\b([a-z_][a-z0-9_]*)\s*:\s*&?\s*(?:Arc\s*<\s*)?(?:dyn|impl)\s+(?:store::)?Store\b", code))
    generics = set(re.findall(r"\b([A-Z]\w*)\s*:\s*(?:store::)?Store\b", code))
    for g in generics:
        names |= set(re.findall(rf"\b([a-z_][a-z0-9_]*)\s*:\s*&?\s*(?:Arc\s*<\s*)?{g}\b", code))
    return names


def store_methods_called(code: str) -> set[str]:
    """`Store` methods called in `code`."""
    methods = store_trait_methods()
    receivers = store_receivers(code)
    called = set()
    for m in methods:
        if m in DISTINCT_STORE_METHODS:
            if re.search(rf"\.\s*{m}\s*\(", code):
                called.add(m)
            continue
        recv = "|".join(sorted(re.escape(r) for r in receivers))
        if re.search(rf"\b(?:\w+_)?(?:{recv})(?:\s*\(\s*\))?(?:\s*\.\s*(?:as_ref|clone|deref)\s*\(\s*\))?\s*\.\s*{m}\s*\(", code):
            called.add(m)
    return called


def dynamodb_store_code() -> str:
    return rust_src.code(f"{LIB}/store/dynamodb.rs", f"{LIB}/store/dynamodb")


# The AWS operations each principal calls: the code's own declaration
# (`snooze::aws_calls::OPERATIONS`), exported by `controller/tests/aws_operations.rs` and checked
# there against the calls the moto tests made.
OPERATIONS_JSON = ROOT / "infra" / "aws-operations.json"


def declared_operations() -> dict[str, dict[str, str]]:
    """principal → {IAM action: which code calls it}, from infra/aws-operations.json."""
    import json  # noqa: PLC0415

    return json.loads(OPERATIONS_JSON.read_text())


def code_actions(p: Principal) -> tuple[set[str], dict[str, str]]:
    """IAM actions the principal's code calls (its declaration), with why each one is needed."""
    why = dict(declared_operations().get(p.name, {}))
    return set(why), why


def rel(path: Path) -> str:
    return str(path.relative_to(ROOT))
