"""Reading facts out of the Rust sources, for the code/infrastructure contract tests.

Nothing here knows what the code *should* call: it finds what the code *does* call.

- `code(paths)`: the Rust sources under `paths` with comments and `#[cfg(test)]` items removed
  (doc comments and test fakes mention calls that never run in production).
- `functions(src)`: every `fn` with its body, by name.
- (The AWS operations each program calls are not read here: the code declares them,
  `snooze::aws_calls::OPERATIONS`, exported to `infra/aws-operations.json`.)
- `env_reads(src)`: environment variables read at run time (`std::env::var("X")`,
  `var_os`, clap `env = "X"`, any `"SNOOZE_*"` literal (lookup-closure configuration), and
  `RUST_LOG` when tracing's `EnvFilter` reads it).
"""

from __future__ import annotations

import re
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]


# --- lexing: comments, strings, braces ---------------------------------------------------------


def _skip_string(src: str, i: int) -> int:
    """`src[i]` starts a string literal (`"`, `r"`, `r#"`, `b"`, `br#"`); returns the index after it."""
    j = i
    if src[j] == "b":
        j += 1
    if src[j] == "r":
        j += 1
        hashes = 0
        while src[j] == "#":
            hashes += 1
            j += 1
        assert src[j] == '"'
        end = '"' + "#" * hashes
        k = src.find(end, j + 1)
        return len(src) if k < 0 else k + len(end)
    assert src[j] == '"'
    j += 1
    while j < len(src):
        c = src[j]
        if c == "\\":
            j += 2
            continue
        if c == '"':
            return j + 1
        j += 1
    return j


_STRING_START = re.compile(r'(?<![A-Za-z0-9_])(?:br?#*"|r#*"|")')


def _string_at(src: str, i: int) -> bool:
    if src[i] == '"':
        return True
    m = _STRING_START.match(src, i)
    return bool(m) and (i == 0 or not (src[i - 1].isalnum() or src[i - 1] == "_"))


def _char_literal_end(src: str, i: int) -> int | None:
    """`src[i] == "'"`: the index after a char literal, or None for a lifetime/label."""
    if i + 1 < len(src) and src[i + 1] == "\\":
        k = src.find("'", i + 2)
        return None if k < 0 else k + 1
    if i + 2 < len(src) and src[i + 2] == "'":
        return i + 3
    return None


def strip_comments(src: str) -> str:
    """`src` with `//` and (nested) `/* */` comments replaced by spaces; strings kept."""
    out: list[str] = []
    i, n = 0, len(src)
    while i < n:
        c = src[i]
        if src.startswith("//", i):
            k = src.find("\n", i)
            k = n if k < 0 else k
            out.append(" " * (k - i))
            i = k
        elif src.startswith("/*", i):
            depth, k = 1, i + 2
            while k < n and depth:
                if src.startswith("/*", k):
                    depth, k = depth + 1, k + 2
                elif src.startswith("*/", k):
                    depth, k = depth - 1, k + 2
                else:
                    k += 1
            out.append(re.sub(r"[^\n]", " ", src[i:k]))
            i = k
        elif c in 'rb"' and _string_at(src, i):
            k = _skip_string(src, i)
            out.append(src[i:k])
            i = k
        elif c == "'":
            k = _char_literal_end(src, i)
            if k is None:
                out.append(c)
                i += 1
            else:
                out.append(src[i:k])
                i = k
        else:
            out.append(c)
            i += 1
    return "".join(out)


def _scan_to(src: str, i: int, stop: str) -> int:
    """Index of the first char in `stop` at nesting depth 0 from `i` (strings skipped), or -1."""
    depth, n = 0, len(src)
    while i < n:
        c = src[i]
        if c in 'rb"' and _string_at(src, i):
            i = _skip_string(src, i)
            continue
        if c == "'":
            k = _char_literal_end(src, i)
            if k is not None:
                i = k
                continue
        if depth == 0 and c in stop:
            return i
        if c in "([":
            depth += 1
        elif c in ")]":
            depth -= 1
        i += 1
    return -1


def matching_brace(src: str, open_at: int) -> int:
    """`src[open_at] == "{"`: the index of its matching `}` (strings and chars skipped)."""
    depth, i, n = 0, open_at, len(src)
    while i < n:
        c = src[i]
        if c in 'rb"' and _string_at(src, i):
            i = _skip_string(src, i)
            continue
        if c == "'":
            k = _char_literal_end(src, i)
            if k is not None:
                i = k
                continue
        if c == "{":
            depth += 1
        elif c == "}":
            depth -= 1
            if depth == 0:
                return i
        i += 1
    raise ValueError(f"unbalanced braces from offset {open_at}")


_CFG_TEST = re.compile(r"#\[cfg\(\s*test\s*\)\]")


def strip_cfg_test(src: str) -> str:
    """`src` (comments already stripped) without items marked `#[cfg(test)]`."""
    while True:
        m = _CFG_TEST.search(src)
        if not m:
            return src
        k = _scan_to(src, m.end(), "{;")
        if k < 0:
            return src[: m.start()]
        end = k + 1 if src[k] == ";" else matching_brace(src, k) + 1
        src = src[: m.start()] + src[end:]


def rust_files(*paths: str) -> list[Path]:
    """The `.rs` files at `paths` (files or folders, relative to the repository root), sorted."""
    files: set[Path] = set()
    for p in paths:
        full = ROOT / p
        if full.is_file() and full.suffix == ".rs":
            files.add(full)
        elif full.is_dir():
            files.update(f for f in full.rglob("*.rs"))
    return sorted(files)


def test_only_files(files: list[Path]) -> set[Path]:
    """Files that are modules declared `#[cfg(test)] mod x;` (e.g. `wake/tests.rs`)."""
    excluded: set[Path] = set()
    for f in files:
        text = strip_comments(f.read_text())
        for name in re.findall(r"#\[cfg\(\s*test\s*\)\]\s*(?:pub(?:\([^)]*\))?\s+)?mod\s+(\w+)\s*;", text):
            base = f.parent if f.name in ("mod.rs", "lib.rs", "main.rs") else f.parent / f.stem
            excluded |= {base / f"{name}.rs", *(base / name).rglob("*.rs")}
    return excluded


def code(*paths: str) -> str:
    """Production Rust code under `paths`: comments, `#[cfg(test)]` items and test-only module
    files removed."""
    files = rust_files(*paths)
    skip = test_only_files(files)
    return "\n".join(strip_cfg_test(strip_comments(f.read_text())) for f in files if f not in skip)


# --- functions --------------------------------------------------------------------------------

_FN = re.compile(r"\bfn\s+([A-Za-z_][A-Za-z0-9_]*)")


def functions(src: str) -> dict[str, list[str]]:
    """Every `fn` in `src` with a body: name -> bodies (a name may be defined more than once)."""
    found: dict[str, list[str]] = {}
    for m in _FN.finditer(src):
        k = _scan_to(src, m.end(), "{;")
        if k < 0 or src[k] == ";":
            continue  # a declaration without a body (trait item)
        body = src[k : matching_brace(src, k) + 1]
        found.setdefault(m.group(1), []).append(body)
    return found


def reachable_bodies(src: str, roots: set[str]) -> str:
    """The bodies of `roots` and of every function of `src` they call, transitively.

    A call is `name(`, `Self::name(` or `self.name(`; a method call on another receiver
    (`map.get(`) is not taken for a call of a function here.
    """
    fns = functions(src)
    seen: set[str] = set()
    todo = [r for r in roots if r in fns]
    while todo:
        name = todo.pop()
        if name in seen:
            continue
        seen.add(name)
        for body in fns[name]:
            for callee in fns:
                if callee in seen:
                    continue
                if re.search(rf"(?:(?<![.\w])|\bself\s*\.\s*|\bSelf\s*::\s*){callee}\s*(?:::<[^>]*>)?\s*\(", body):
                    todo.append(callee)
    return "\n".join(b for name in sorted(seen) for b in fns[name])


def string_constants(src: str) -> dict[str, str]:
    """`const NAME: &str = "value";` in `src`."""
    return dict(re.findall(r'\bconst\s+([A-Z][A-Z0-9_]*)\s*:\s*&(?:\'static\s+)?str\s*=\s*"([^"]*)"\s*;', src))


# --- the AWS SDK ------------------------------------------------------------------------------


def env_reads(src: str) -> set[str]:
    """Environment variables `src` reads at run time (names given as literals or `const`s)."""
    consts = string_constants(src)
    names = set(re.findall(r'\benv\s*::\s*var(?:_os)?\s*\(\s*"([A-Za-z_][A-Za-z0-9_]*)"', src))
    names |= set(re.findall(r'\benv\s*=\s*"([A-Za-z_][A-Za-z0-9_]*)"', src))
    for ident in re.findall(r"\benv\s*::\s*var(?:_os)?\s*\(\s*([A-Z][A-Z0-9_]*)\s*\)", src):
        names.add(consts.get(ident, f"<unresolved const {ident}>"))
    for ident in re.findall(r"\benv\s*=\s*([A-Z][A-Z0-9_]*)\b", src):
        names.add(consts.get(ident, f"<unresolved const {ident}>"))
    # Configuration read through a lookup closure (`from_lookup(|k| std::env::var(k).ok())`,
    # then `get("SNOOZE_X")`): every literal that is exactly a SNOOZE_* name counts as read.
    names |= set(re.findall(r'"(SNOOZE_[A-Z0-9_]+)"', src))
    if re.search(r"\bEnvFilter\s*::\s*(?:try_)?from_default_env\b|\bfrom_default_env\s*\(", src):
        names.add("RUST_LOG")
    names |= set(re.findall(r'\bEnvFilter\s*::\s*(?:try_)?from_env\s*\(\s*"([A-Za-z_][A-Za-z0-9_]*)"', src))
    return names
