"""The Terraform is laid out the way `terraform fmt` writes it (cd.yml runs `terraform fmt
-check`, and no terraform binary can be installed here). Checked: two-space indentation by
bracket depth, no tabs or trailing spaces, one space around `=` unless aligned, `=` of
consecutive single-line attributes aligned, trailing comments of consecutive lines aligned.

These are hclwrite's rules (format.go: a line's `= value` is an alignment cell only when the
value closes all its brackets on that line; consecutive lines with such cells align).
"""

from __future__ import annotations

import re

import pytest

import tf

OPEN, CLOSE = "{[(", "}])"


def scan(line: str):
    """Yields (index, char) of the characters outside string literals."""
    i, n, in_str = 0, len(line), False
    while i < n:
        c = line[i]
        if in_str:
            if c == "\\":
                i += 2
                continue
            if c == '"':
                in_str = False
        elif c == '"':
            in_str = True
        else:
            yield i, c
        i += 1


def net_brackets(text: str) -> int:
    return sum((c in OPEN) - (c in CLOSE) for _, c in scan(text))


def split_line(line: str) -> tuple[str, str | None, str | None, int]:
    """(lead, assign, comment, net brackets) of one line; strings are opaque."""
    eq = comment = None
    for i, c in scan(line):
        if c == "#" or line.startswith("//", i):
            comment = i
            break
        if c == "=" and eq is None and line[i + 1 : i + 2] not in ("=", ">") and line[i - 1 : i] not in ("=", "!", "<", ">"):
            eq = i
    code = line[:comment] if comment is not None else line
    com = line[comment:] if comment is not None and code.strip() else None
    change = net_brackets(code)
    if eq is not None and net_brackets(code[eq:]) == 0:
        return code[:eq], code[eq:], com, change
    return code, None, com, change


def problems(text: str) -> list[str]:
    out = []
    lines = text.split("\n")
    indents: list[int] = []  # hclwrite's indent stack: one level per line that opens brackets
    cells = []
    for no, line in enumerate(lines, 1):
        if "\t" in line:
            out.append(f"{no}: tab")
        if line != line.rstrip():
            out.append(f"{no}: trailing whitespace")
        stripped = line.strip()
        lead, assign, comment, change = split_line(line)
        if stripped:
            if change > 0:
                want = 2 * len(indents)
                indents.append(change)
            else:
                closed = -change
                while closed > 0 and indents:
                    if closed >= indents[-1]:
                        closed -= indents.pop()
                    else:
                        indents[-1] -= closed
                        closed = 0
                want = 2 * len(indents)
            have = len(line) - len(line.lstrip(" "))
            if have != want:
                out.append(f"{no}: indented {have}, terraform fmt indents {want}")
        cells.append((no, lead, assign, comment))
    # `=` alignment over consecutive lines with an assign cell.
    chain: list = []
    for cell in cells + [(0, "", None, None)]:
        if cell[2] is not None:
            chain.append(cell)
            continue
        if chain:
            col = max(len(c[1].rstrip()) for c in chain) + 1
            for no, lead, _, _ in chain:
                if len(lead) != col:
                    out.append(f"{no}: `=` at column {len(lead) + 1}, aligned column is {col + 1}")
        chain = []
    # trailing comment alignment over consecutive lines with a trailing comment.
    chain = []
    for cell in cells + [(0, "", None, None)]:
        if cell[3] is not None:
            chain.append(cell)
            continue
        if chain:
            width = max(len((c[1] + (c[2] or "")).rstrip()) for c in chain) + 1
            for no, lead, assign, _ in chain:
                if len(lead + (assign or "")) != width:
                    out.append(f"{no}: trailing comment at column {len(lead + (assign or '')) + 1}, aligned column is {width + 1}")
        chain = []
    return out


def test_checker_catches_misalignment():
    bad = 'a = {\n  x = 1\n  yy = 2\n}\n'
    good = 'a = {\n  x  = 1\n  yy = 2\n  z = {\n    k = "v"\n  }\n}\n'
    assert problems(bad) and not problems(good), (problems(bad), problems(good))


@pytest.mark.parametrize("path", tf.tf_files(), ids=lambda p: str(p.relative_to(tf.INFRA)))
def test_terraform_fmt_layout(path):
    found = problems(path.read_text())
    assert not found, f"{path.relative_to(tf.ROOT)}:\n  " + "\n  ".join(found)
