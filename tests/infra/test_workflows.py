"""The delivery workflows: OIDC only, artifacts by commit SHA, and every file, script, verb and
artifact name they use exists on the other side (actionlint checks their syntax separately)."""

from __future__ import annotations

import re
import subprocess

import pytest
import yaml

import rust_src
import tf
from rust_src import ROOT

WF = ROOT / ".github" / "workflows"


def load(name: str) -> dict:
    doc = yaml.safe_load((WF / name).read_text())
    doc["on"] = doc.pop(True, doc.get("on"))  # YAML 1.1 reads the key `on` as True
    return doc


def steps(doc: dict):
    for job_name, job in doc["jobs"].items():
        for st in job.get("steps", []):
            yield job_name, job, st


def runs(doc: dict) -> str:
    return "\n".join(st.get("run", "") for _, _, st in steps(doc))


@pytest.mark.parametrize("name", ["ci.yml", "release.yml", "cd.yml", "ops.yml"])
def test_least_privilege_and_oidc_only(name):
    text = (WF / name).read_text()
    doc = load(name)
    assert doc.get("permissions") == {"contents": "read"}, f"{name}: top-level permissions must be read-only"
    assert not re.search(r"aws-access-key-id|aws-secret-access-key|AWS_SECRET_ACCESS_KEY|AWS_ACCESS_KEY_ID", text), (
        f"{name}: static AWS keys"
    )
    for job_name, job, st in steps(doc):
        if str(st.get("uses", "")).startswith("aws-actions/configure-aws-credentials@"):
            assert job.get("permissions", {}).get("id-token") == "write", f"{name}/{job_name}: OIDC needs id-token: write"
            assert st["with"]["role-to-assume"].startswith("${{ vars.AWS_"), st
            assert set(st["with"]) <= {"role-to-assume", "role-session-name", "aws-region"}, st
    for job_name, job in doc["jobs"].items():
        if job.get("permissions", {}).get("id-token") == "write":
            assert any(str(s.get("uses", "")).startswith("aws-actions/configure-aws-credentials@") for s in job["steps"]), (
                f"{name}/{job_name} asks for an OIDC token it never uses"
            )


def test_ci_runs_fmt_clippy_the_test_command_and_checkov():
    doc = load("ci.yml")
    assert set(doc["on"]) == {"push", "pull_request"}
    text = runs(doc)
    assert "cargo fmt --all --check" in text
    assert re.search(r"cargo clippy .*-- -D warnings", text)
    assert re.search(r"^scripts/test$", text, re.M), "ci must run the README's test command"
    assert "tests/infra/checkov.sh" in text
    assert "scripts/test" in (ROOT / "README.md").read_text()


def package_zips() -> list[str]:
    out = subprocess.run([str(ROOT / "scripts/package"), "--list"], capture_output=True, text=True, check=True).stdout
    return [line.split()[2] for line in out.splitlines()]


def test_release_builds_the_zips_and_the_image_by_commit_sha():
    doc = load("release.yml")
    assert doc["on"]["push"]["branches"] == ["main"]
    text = runs(doc)
    assert re.search(r"^scripts/package$", text, re.M)
    upload = next(st for _, _, st in steps(doc) if str(st.get("uses", "")).startswith("actions/upload-artifact@"))
    uploaded = upload["with"]["path"].split()
    assert set(package_zips()) <= set(uploaded), (package_zips(), uploaded)
    assert upload["with"]["if-no-files-found"] == "error"
    m = re.search(r"-f (\S+)", text)
    assert m and (ROOT / m.group(1)).is_file(), "release builds the image from a Dockerfile that exists"
    assert re.search(r'\$ECR_REPOSITORY:\$TAG', text) and "TAG: ${{ github.sha }}" in (WF / "release.yml").read_text()
    assert "linux/arm64" in text, "the demo task definition runs ARM64"
    assert tf.module("modules/demo-service").variables["cpu_architecture"]["default"] == "ARM64"
    default_repo = re.search(r"vars\.ECR_REPOSITORY \|\| '([^']+)'", (WF / "release.yml").read_text()).group(1)
    env_demo = tf.module("envs/demo").modules["demo_service"]
    assert default_repo == env_demo["name"], "the default ECR repository is the demo-service module's"


def test_the_image_has_the_binaries_the_task_definition_runs():
    dockerfile = (ROOT / "app" / "Dockerfile").read_text()
    m = re.search(r"^COPY --from=\S+ (.+) (/usr/local/bin/)\s*$", dockerfile, re.M)
    assert m, "app/Dockerfile copies no binaries to /usr/local/bin/"
    shipped = {p.rsplit("/", 1)[1] for p in m.group(1).split()}
    td = tf.module("modules/demo-service").resource("aws_ecs_task_definition", "demo")
    needed = set()
    for c in tf.container_definitions(td):
        for part in c.get("entryPoint", []) + c.get("healthCheck", {}).get("command", []):
            if part.startswith("/usr/local/bin/"):
                needed.add(part.rsplit("/", 1)[1])
    assert needed == {"snooze-demo-app", "snoozectl"} and needed <= shipped, (needed, shipped)
    port = re.search(r"^\s*PORT=(\d+)", dockerfile, re.M)
    assert port and int(port.group(1)) == tf.module("modules/demo-service").variables["app_port"]["default"]


def test_cd_plans_pull_requests_and_applies_what_release_built():
    doc = load("cd.yml")
    assert "pull_request" in doc["on"]
    assert doc["on"]["workflow_run"]["workflows"] == [load("release.yml")["name"]]
    plan, apply = doc["jobs"]["plan"], doc["jobs"]["apply"]
    assert "pull_request" in plan["if"] and "workflow_run" in apply["if"] and "success" in apply["if"]
    for job in (plan, apply):
        wd = job["defaults"]["run"]["working-directory"]
        assert (ROOT / wd).is_dir() and wd == "infra/envs/demo"
    text = (WF / "cd.yml").read_text()
    assert "terraform plan" in text and "terraform apply" in text
    checkout = next(st for st in apply["steps"] if str(st.get("uses", "")).startswith("actions/checkout@"))
    assert checkout["with"]["ref"] == "${{ github.event.workflow_run.head_sha }}"
    download = next(st for st in apply["steps"] if str(st.get("uses", "")).startswith("actions/download-artifact@"))
    upload = next(st for _, _, st in steps(load("release.yml")) if str(st.get("uses", "")).startswith("actions/upload-artifact@"))
    assert download["with"]["name"] == upload["with"]["name"]
    assert download["with"]["run-id"] == "${{ github.event.workflow_run.id }}"
    assert download["with"]["path"] == "build"
    tags = [st.get("env", {}).get("TF_VAR_image_tag") for st in apply["steps"] if "TF_VAR_image_tag" in st.get("env", {})]
    assert tags == ["${{ github.event.workflow_run.head_sha }}"], "apply deploys the image of the commit release built"
    assert "image_tag" in tf.module("envs/demo").variables


def cli_verbs() -> set[str]:
    """snoozectl's verbs: variants of the clap Subcommand enum `Command`, in kebab-case."""
    src = rust_src.code("controller/src/cli")
    m = re.search(r"\benum\s+Command\s*\{", src)
    assert m, "controller/src/cli has no `enum Command`"
    body = src[m.end() - 1 : rust_src.matching_brace(src, m.end() - 1)]
    body = re.sub(r"#\[[^\]]*\]", "", body)
    depth, variants, token = 0, [], ""
    for name in re.findall(r"(?:^|[,{])\s*([A-Z][A-Za-z0-9]*)", body):
        variants.append(name)
    return {re.sub(r"(?<!^)([A-Z])", r"-\1", v).lower() for v in variants}


def test_ops_uses_verbs_snoozectl_has():
    doc = load("ops.yml")
    options = doc["on"]["workflow_dispatch"]["inputs"]["action"]["options"]
    assert set(options) == {"status", "wake", "sleep"}
    used = set(re.findall(r"target/release/snoozectl (\S+)", runs(doc)))
    verbs = cli_verbs()
    assert used <= verbs, f"ops.yml runs snoozectl {sorted(used - verbs)}, which snoozectl does not have ({sorted(verbs)})"
    text = (WF / "ops.yml").read_text()
    assert "SERVICE: ${{ inputs.service }}" in text and '"$SERVICE"' in text, "inputs reach the shell only through env"
