"""Reading the Terraform under infra/ with python-hcl2 (no terraform binary is needed).

`Module(path)` merges the `.tf` files of one folder: `resources[type][name]`,
`data[type][name]`, `locals`, `variables`, `outputs`, `modules`. Strings keep Terraform's
interpolation syntax (`"${aws_dynamodb_table.records.arn}"`) with the outer quotes stripped.
"""

from __future__ import annotations

import functools
import re
from pathlib import Path
from typing import Any, Iterator

import hcl2
from hcl2 import SerializationOptions

from rust_src import ROOT

INFRA = ROOT / "infra"
OPTIONS = SerializationOptions(strip_string_quotes=True, with_comments=False)


def parse_file(path: Path) -> dict[str, Any]:
    """One `.tf` file as python-hcl2 sees it (raises on a syntax error)."""
    with path.open() as f:
        return hcl2.load(f, serialization_options=OPTIONS)


def tf_files() -> list[Path]:
    """Every `.tf` file under infra/ (sorted; `.terraform/` caches excluded)."""
    return sorted(p for p in INFRA.rglob("*.tf") if ".terraform" not in p.parts)


def clean(value: Any) -> Any:
    """Drops python-hcl2's bookkeeping keys (`__is_block__`, ...)."""
    if isinstance(value, dict):
        return {k: clean(v) for k, v in value.items() if not (k.startswith("__") and k.endswith("__"))}
    if isinstance(value, list):
        return [clean(v) for v in value]
    return value


class Module:
    """The merged `.tf` files of one folder."""

    def __init__(self, rel: str):
        self.path = INFRA / rel
        self.resources: dict[str, dict[str, dict]] = {}
        self.data: dict[str, dict[str, dict]] = {}
        self.locals: dict[str, Any] = {}
        self.variables: dict[str, dict] = {}
        self.outputs: dict[str, dict] = {}
        self.modules: dict[str, dict] = {}
        files = sorted(self.path.glob("*.tf"))
        assert files, f"no .tf files in {self.path}"
        for f in files:
            doc = clean(parse_file(f))
            for block in doc.get("resource", []):
                for rtype, named in block.items():
                    self.resources.setdefault(rtype, {}).update(named)
            for block in doc.get("data", []):
                for dtype, named in block.items():
                    self.data.setdefault(dtype, {}).update(named)
            for block in doc.get("locals", []):
                self.locals.update(block)
            for block in doc.get("variable", []):
                self.variables.update(block)
            for block in doc.get("output", []):
                self.outputs.update(block)
            for block in doc.get("module", []):
                self.modules.update(block)

    def resource(self, rtype: str, name: str) -> dict:
        try:
            return self.resources[rtype][name]
        except KeyError:
            raise AssertionError(f"{self.path.relative_to(ROOT)} has no {rtype}.{name}") from None

    def policy_document(self, name: str) -> dict:
        try:
            return self.data["aws_iam_policy_document"][name]
        except KeyError:
            raise AssertionError(f"{self.path.relative_to(ROOT)} has no data.aws_iam_policy_document.{name}") from None


@functools.cache
def module(rel: str) -> Module:
    return Module(rel)


def one(block: Any) -> dict:
    """A nested block that appears once (python-hcl2 gives blocks as lists)."""
    if isinstance(block, list):
        assert len(block) == 1, f"expected one block, got {len(block)}"
        return block[0]
    return block


def statements(doc: dict, include_dynamic: bool = True) -> Iterator[dict]:
    """The statements of an `aws_iam_policy_document`, including `dynamic "statement"` contents."""
    yield from doc.get("statement", [])
    if include_dynamic:
        for dyn in doc.get("dynamic", []):
            if "statement" in dyn:
                yield from one(dyn["statement"]).get("content", [])


def actions(doc: dict, include_dynamic: bool = True) -> set[str]:
    return {a for st in statements(doc, include_dynamic) for a in st.get("actions", [])}


def all_strings(value: Any) -> Iterator[str]:
    if isinstance(value, str):
        yield value
    elif isinstance(value, dict):
        for k, v in value.items():
            yield k
            yield from all_strings(v)
    elif isinstance(value, list):
        for v in value:
            yield from all_strings(v)


def env_vars(resource: dict) -> dict[str, Any]:
    """`environment { variables = {...} }` of an `aws_lambda_function`."""
    return one(one(resource["environment"])["variables"])


def container_definitions(task_definition: dict) -> list[dict]:
    """The containers of an `aws_ecs_task_definition` written as `jsonencode([...])`."""
    raw = task_definition["container_definitions"]
    m = re.fullmatch(r"\$\{jsonencode\((.*)\)\}", raw, re.S)
    assert m, f"container_definitions is not jsonencode([...]): {raw[:80]}"
    parsed = hcl2.loads(f"x = {m.group(1)}\n", serialization_options=OPTIONS)
    return clean(parsed["x"])


def hcl_expr(text: str) -> Any:
    """Parses one HCL expression (e.g. the argument of a `jsonencode(...)`)."""
    return clean(hcl2.loads(f"x = {text}\n", serialization_options=OPTIONS)["x"])


def jsonencode_arg(value: str) -> Any:
    m = re.fullmatch(r"\$\{jsonencode\((.*)\)\}", value, re.S)
    assert m, f"not jsonencode(...): {value[:80]}"
    return hcl_expr(m.group(1))
