"""Contract: every env var a binary reads is set by Terraform, and every env var Terraform sets
is read by the binary it is set for.

Read side: `std::env::var("X")`, clap `env = "X"`, and RUST_LOG where tracing's EnvFilter reads it,
in the binary's sources (principals.py: its own sources + the library modules it reaches) and in
the shared code that builds its store/SDK configuration. Set side: the Lambda's `environment`
block, or the container's `environment` list in the task definition.
"""

from __future__ import annotations

import re

import pytest

import principals as pr
import rust_src
import tf

# Read by the code but deliberately not set by Terraform, each with the reason.
NOT_SET_ON_PURPOSE = {
    "SNOOZE_ENDPOINT_URL": "points the SDK at a local emulator (moto); never set in AWS",
    "SNOOZE_STORE": "snoozectl's store URL (default sqlite://); the agent's SNOOZE_TABLE replaces it",
}
# AWS_* variables come from the runtime (Lambda, ECS) and the SDK's own chain.
RUNTIME_PREFIXES = ("AWS_", "ECS_CONTAINER_METADATA_URI")

P = pr.principals()

SHARED = ["controller/src/store/mod.rs"]  # store::connect / the SDK configuration


def cli_global_env() -> set[str]:
    """Env vars of the options every snoozectl verb reads (`GlobalArgs`-like structs with `global = true`)."""
    src = rust_src.code("controller/src/cli")
    names = set()
    for m in re.finditer(r"#\[arg\(([^]]*global\s*=\s*true[^]]*)\)\]", src):
        names |= set(re.findall(r'\benv\s*=\s*"([A-Za-z_][A-Za-z0-9_]*)"', m.group(1)))
    return names


def agent_env() -> set[str]:
    """What `snoozectl agent` reads: the agent verb's own arguments, the global options, and
    what the activity module and the store configuration read."""
    code = rust_src.code(*P["agent"].sources, *SHARED)
    return rust_src.env_reads(code) | cli_global_env() | tracing_env()


def tracing_env() -> set[str]:
    """snoozectl initialises tracing from RUST_LOG when its CLI does."""
    return {"RUST_LOG"} & rust_src.env_reads(rust_src.code("controller/src/cli"))


def required(names: set[str]) -> set[str]:
    return {n for n in names if not n.startswith(RUNTIME_PREFIXES) and n not in NOT_SET_ON_PURPOSE}


def lambda_env(name: str) -> set[str]:
    fn = tf.module("modules/snooze").resource("aws_lambda_function", name)
    return set(tf.env_vars(fn))


def container_env(container: str) -> set[str]:
    td = tf.module("modules/demo-service").resource("aws_ecs_task_definition", "demo")
    for c in tf.container_definitions(td):
        if c["name"] == container:
            return {e["name"] for e in c.get("environment", [])}
    raise AssertionError(f"no container {container!r} in the demo task definition")


def read_by(binary: str) -> set[str]:
    if binary == "agent":
        return agent_env()
    return rust_src.env_reads(rust_src.code(*P[binary].sources, *SHARED))


@pytest.mark.parametrize("binary,set_by", [
    ("wake", lambda: lambda_env("wake")),
    ("reconciler", lambda: lambda_env("reconciler")),
    ("agent", lambda: container_env("activity-agent")),
])
def test_env_vars_match(binary, set_by):
    reads = read_by(binary)
    unresolved = {n for n in reads if n.startswith("<")}
    assert not unresolved, f"{binary}: env var names the test cannot resolve: {unresolved}"
    sets = set_by()
    missing = sorted(required(reads) - sets)
    unused = sorted(sets - reads)
    assert not missing and not unused, (
        f"{binary}: read by the code but not set by Terraform: {missing}; "
        f"set by Terraform but never read: {unused} (sources: {P[binary].sources})"
    )


def test_expected_names_are_found():
    """Anchors: if these disappear from what the derivation finds, the derivation broke."""
    assert "SNOOZE_TABLE" in read_by("wake") and "SNOOZE_TABLE" in read_by("reconciler")
    assert {"SNOOZE_SERVICE", "SNOOZE_PORT"} <= read_by("agent")


def test_demo_app_container_env_is_read_by_the_app():
    reads = rust_src.env_reads(rust_src.code("app/src"))
    assert {"PORT", "HOST"} <= reads, reads
    sets = container_env("app")
    assert not sets - reads, f"the app never reads {sorted(sets - reads)}"


def test_pass_budget_value_is_what_the_reconciler_parses():
    """SNOOZE_PASS_BUDGET is a duration: Terraform writes `<n>s`; the reconciler must accept
    that form (humantime or a seconds suffix)."""
    fn = tf.module("modules/snooze").resource("aws_lambda_function", "reconciler")
    value = tf.env_vars(fn).get("SNOOZE_PASS_BUDGET")
    if value is None:
        pytest.fail("the reconciler Lambda sets no SNOOZE_PASS_BUDGET")
    assert value == "${var.pass_budget_seconds}s", value
    code = rust_src.code(*P["reconciler"].sources)
    assert re.search(r"humantime|parse_duration|HumanDuration|trim_end_matches\('s'\)|strip_suffix\(\"s\"\)", code), (
        "the reconciler reads SNOOZE_PASS_BUDGET but does not parse a duration like `60s`"
    )
