"""Contract: the alarms on snooze's own metrics watch metrics the reconciler really emits.

Emitted: names passed to `.metric("Name", ...)` of the EMF builder and dimension keys passed
to `Emf::new(ts, &[("Key", ...)])` in the reconciler's sources (tests excluded); namespace: the
`NAMESPACE` constant. Alarmed: `aws_cloudwatch_metric_alarm` in modules/snooze whose namespace
is the module's metric namespace. The metric list in modules/snooze/README.md must match too.
"""

from __future__ import annotations

import re

import principals as pr
import rust_src
import tf

MODULE = tf.module("modules/snooze")


def own_alarms() -> dict[str, dict]:
    ns = MODULE.locals["metric_namespace"]
    return {
        name: a
        for name, a in MODULE.resources["aws_cloudwatch_metric_alarm"].items()
        if a["namespace"] in ("${local.metric_namespace}", ns)
    }


def emitted() -> tuple[str | None, set[str], set[str]]:
    code = pr.principals()["reconciler"].code()
    ns = rust_src.string_constants(code).get("NAMESPACE")
    names = set(re.findall(r'\.\s*metric\s*\(\s*"([A-Za-z][A-Za-z0-9]*)"', code))
    consts = rust_src.string_constants(code)
    for ident in re.findall(r"\.\s*metric\s*\(\s*([A-Z][A-Z0-9_]*)\s*,", code):
        names.add(consts.get(ident, f"<unresolved {ident}>"))
    return ns, names, emf_dimensions(code)


def emf_dimensions(code: str) -> set[str]:
    """Dimension keys passed to `Emf::new(ts, &[("Key", value), ...])`, inline or through a
    `let dims = [("Key", value)];` binding."""
    dims = set()
    for m in re.finditer(r"Emf\s*::\s*new\s*\(\s*[^,]+,\s*&\s*(\[|[a-z_][a-z0-9_]*)", code):
        if m.group(1) == "[":
            end = code.index("]", m.end())
            array = code[m.end() : end]
        else:
            binding = re.search(rf"\blet\s+{m.group(1)}\s*(?::[^=]*)?=\s*\[([^\]]*)\]", code[: m.start()])
            assert binding, f"cannot find the dimensions bound to `{m.group(1)}`"
            array = binding.group(1)
        dims |= set(re.findall(r'\(\s*"([A-Za-z][A-Za-z0-9]*)"\s*,', array))
    return dims


def test_namespace_matches():
    ns, _, _ = emitted()
    assert ns == MODULE.locals["metric_namespace"], f"reconciler NAMESPACE {ns!r} vs Terraform {MODULE.locals['metric_namespace']!r}"


def test_alarmed_metrics_are_emitted():
    _, names, dims = emitted()
    alarms = own_alarms()
    assert alarms, "no alarm on the snooze namespace"
    for name, a in alarms.items():
        assert a["metric_name"] in names, f"alarm {name} watches {a['metric_name']}, the reconciler emits {sorted(names)}"
        for d in tf.one(a.get("dimensions", {})) or {}:
            assert d in dims, f"alarm {name} uses dimension {d}, the reconciler's EMF dimensions are {sorted(dims)}"


def test_readme_lists_the_alarmed_metrics():
    readme = (MODULE.path / "README.md").read_text()
    table = readme.split("## Metrics", 1)[1].split("\n## ", 1)[0]
    listed = set(re.findall(r"^\|\s*`([A-Za-z]+)`", table, re.M))
    assert listed == {a["metric_name"] for a in own_alarms().values()}
