"""The checkov skips: Terraform checks are skipped inline on the one resource each applies to
(`#checkov:skip=CKV_...:reason` inside the resource block), the rest (GitHub Actions) in
infra/.checkov.yaml. Every skip carries a reason, and every skip is still needed: checkov with
no skips at all fails exactly the skipped (check, resource) pairs, so a fixed finding cannot
hide behind a stale skip and a new resource failing a skipped check is not hidden by it."""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess

import pytest
import yaml

from rust_src import ROOT

CONFIG = ROOT / "infra" / ".checkov.yaml"
INFRA = ROOT / "infra"
INLINE = re.compile(r"^\s*#\s*checkov:skip=([A-Z0-9_]+)(?::(.*))?$")
RESOURCE = re.compile(r'^resource\s+"(\w+)"\s+"(\w+)"\s*\{')


def skips_with_reasons() -> dict[str, str]:
    """The config file's skips: check id -> the comment on its line."""
    lines = CONFIG.read_text().splitlines()
    start = lines.index("skip-check:")
    found = {}
    for line in lines[start + 1 :]:
        m = re.match(r"^\s+-\s+(\S+)\s*(?:#\s*(.*))?$", line)
        if not m:
            break
        assert m.group(1) not in found, f"{m.group(1)} skipped twice"
        found[m.group(1)] = (m.group(2) or "").strip()
    return found


def inline_skips() -> dict[tuple[str, str, str], str]:
    """Inline skips: (module folder relative to infra/, `type.name` of the enclosing resource,
    check id) -> reason. A skip comment outside a resource block is an error."""
    found = {}
    for path in sorted(INFRA.rglob("*.tf")):
        if ".terraform" in path.parts:
            continue
        resource = None
        for n, line in enumerate(path.read_text().splitlines(), 1):
            if m := RESOURCE.match(line):
                resource = f"{m.group(1)}.{m.group(2)}"
            elif re.match(r"^\S", line) and not line.startswith("}"):
                resource = None  # another top-level block
            if m := INLINE.match(line):
                where = f"{path.relative_to(INFRA)}:{n}"
                assert resource, f"{where}: checkov skip outside a resource block"
                key = (str(path.parent.relative_to(INFRA)), resource, m.group(1))
                assert key not in found, f"{where}: {m.group(1)} skipped twice on {resource}"
                found[key] = (m.group(2) or "").strip()
    return found


def test_every_skip_has_a_reason():
    skips = skips_with_reasons()
    parsed = yaml.safe_load(CONFIG.read_text())
    assert set(parsed.get("skip-check") or []) == set(skips), "the comment parser and YAML disagree on the skip list"
    inline = inline_skips()
    assert inline, "no inline skip found: has the comment format changed?"
    reasons = list(skips.items()) + [(f"{check} on {module}/{res}", r) for (module, res, check), r in inline.items()]
    for check, reason in reasons:
        assert re.match(r"CKV2?_(AWS|GHA|GIT|SECRET)_\d+\b", check), check
        assert len(reason) >= 20, f"{check}: the reason {reason!r} is missing or too short"
    # Terraform checks are skipped inline, per resource; a global skip would hide new resources.
    assert not [c for c in skips if re.match(r"CKV2?_AWS_", c)], f"AWS checks skipped globally: {sorted(skips)}"
    assert parsed.get("skip-download") is True


def checkov() -> str:
    venv = os.environ.get("CHECKOV_VENV", str(ROOT / ".venv-checkov"))
    exe = os.path.join(venv, "bin", "checkov")
    if not os.path.exists(exe):
        pytest.fail(f"checkov is not installed at {exe}: run tests/infra/checkov.sh once (or scripts/test 50)")
    return exe


def failed_without_skips(directory, framework) -> set[tuple[str, str, str]]:
    """(module folder, `type.name`, check id) of every failed check of a scan with no config."""
    out = subprocess.run(
        [checkov(), "-d", str(directory), "--framework", framework, "--skip-download", "-o", "json", "--quiet"],
        capture_output=True, text=True, cwd=ROOT, timeout=600,
        env={**os.environ, "BC_SKIP_MAPPING": "TRUE", "PYTHONWARNINGS": "ignore"},
    )
    assert out.returncode in (0, 1), out.stderr[-2000:]
    reports = json.loads(out.stdout)
    failed = set()
    for report in reports if isinstance(reports, list) else [reports]:
        for f in report.get("results", {}).get("failed_checks", []):
            module = os.path.dirname(f["file_path"]).lstrip("/")
            resource = ".".join(f["resource"].split(".")[-2:])
            failed.add((module, resource, f["check_id"]))
    return failed


def test_every_skip_is_still_needed(tmp_path):
    """checkov with no skips fails exactly the skipped checks, inline ones on exactly their
    resources. (checkov reads a `.checkov.yaml` in the scanned folder by itself, so it scans a
    copy without it, and without the inline skip comments.)"""
    copy = tmp_path / "infra"
    shutil.copytree(INFRA, copy, ignore=shutil.ignore_patterns(".checkov.yaml", ".terraform"))
    for path in copy.rglob("*.tf"):
        text = path.read_text()
        path.write_text("\n".join(line for line in text.splitlines() if not INLINE.match(line)) + "\n")
    terraform = failed_without_skips(copy, "terraform")
    assert terraform == set(inline_skips()), (
        f"failing without skips: {sorted(terraform)}; skipped inline: {sorted(inline_skips())}"
    )
    workflows = {check for _, _, check in failed_without_skips(".github/workflows", "github_actions")}
    assert workflows == set(skips_with_reasons()), (
        f"workflow checks failing without skips: {sorted(workflows)}; skipped: {sorted(skips_with_reasons())}"
    )
