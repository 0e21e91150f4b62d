"""The checkov configuration: every skipped check carries a one-line reason, and every skip is
still needed (checkov without the skips fails exactly those checks, so a fixed finding cannot
hide behind a stale skip)."""

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


def skips_with_reasons() -> dict[str, str]:
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


def test_every_skip_has_a_reason():
    skips = skips_with_reasons()
    assert skips == {k: v for k, v in skips.items()}
    parsed = yaml.safe_load(CONFIG.read_text())
    assert set(parsed["skip-check"]) == set(skips), "the comment parser and YAML disagree on the skip list"
    for check, reason in skips.items():
        assert re.fullmatch(r"CKV2?_(AWS|GHA|GIT|SECRET)_\d+", check), check
        assert len(reason) >= 20, f"{check}: the reason {reason!r} is missing or too short"
    assert parsed.get("skip-download") is True


def checkov() -> str:
    venv = os.environ.get("CHECKOV_VENV", str(ROOT / ".venv-checkov"))
    exe = os.path.join(venv, "bin", "checkov")
    if not os.path.exists(exe):
        pytest.fail(f"checkov is not installed at {exe}: run tests/infra/checkov.sh once (or scripts/test 50)")
    return exe


def test_every_skip_is_still_needed(tmp_path):
    """checkov with no skips fails exactly the skipped checks. (checkov reads a `.checkov.yaml`
    in the scanned folder by itself, so it scans a copy without it.)"""
    parsed = yaml.safe_load(CONFIG.read_text())
    copy = tmp_path / "infra"
    shutil.copytree(ROOT / "infra", copy, ignore=shutil.ignore_patterns(".checkov.yaml", ".terraform"))
    failed = set()
    for directory, framework in ((str(copy), "terraform"), (".github/workflows", "github_actions")):
        out = subprocess.run(
            [checkov(), "-d", directory, "--framework", framework, "--skip-download", "-o", "json", "--quiet"],
            capture_output=True, text=True, cwd=ROOT, timeout=600,
            env={**os.environ, "BC_SKIP_MAPPING": "TRUE", "PYTHONWARNINGS": "ignore"},
        )
        assert out.returncode in (0, 1), out.stderr[-2000:]
        reports = json.loads(out.stdout)
        for report in reports if isinstance(reports, list) else [reports]:
            for f in report.get("results", {}).get("failed_checks", []):
                failed.add(f["check_id"])
    assert failed == set(parsed["skip-check"]), (
        f"failing without skips: {sorted(failed)}; skipped: {sorted(parsed['skip-check'])}"
    )
