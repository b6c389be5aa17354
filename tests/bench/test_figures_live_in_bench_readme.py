"""Dated benchmark runs live in bench/README.md, where the next run updates them; the code
keeps one sentence of why and a pointer (issue 14, item 6)."""

from __future__ import annotations

import io
import re
import tokenize
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
# The packages whose comments have moved their figures out; the others join as theirs do.
PACKAGES = ("accounts", "bench", "catalog", "gateway", "portal", "privacy")
DATE = re.compile(r"\b20\d\d-[01]\d-[0-3]\d\b")
MEASUREMENT = re.compile(r"\d\s?(ms|s|%|MB|req/s|rows/s)(?!\w)")


def _comments_and_docstrings(source: str) -> list[tuple[int, str]]:
    """(first line, text) of each block of consecutive comment lines and of each string
    that stands alone as a statement (a docstring)."""
    blocks: list[list] = []  # [first line, text, last line, is a comment]
    statement_starts = True
    for token in tokenize.generate_tokens(io.StringIO(source).readline):
        line = token.start[0]
        if token.type == tokenize.COMMENT:
            if blocks and blocks[-1][3] and blocks[-1][2] == line - 1:
                blocks[-1][1] += " " + token.string
                blocks[-1][2] = line
            else:
                blocks.append([line, token.string, line, True])
        elif token.type == tokenize.STRING and statement_starts:
            blocks.append([line, token.string, token.end[0], False])
        if token.type not in (tokenize.COMMENT, tokenize.NL):
            statement_starts = token.type in (tokenize.NEWLINE, tokenize.INDENT, tokenize.DEDENT)
    return [(first, text) for first, text, _, _ in blocks]


def test_no_comment_or_docstring_carries_a_dated_benchmark_run():
    found = []
    for package in PACKAGES:
        for path in sorted((ROOT / package).rglob("*.py")):
            if "migrations" in path.parts:
                continue
            for line, text in _comments_and_docstrings(path.read_text()):
                if DATE.search(text) and MEASUREMENT.search(text):
                    found.append(f"{path.relative_to(ROOT)}:{line}")
    assert not found, "move the figures to bench/README.md, keep a pointer: " + ", ".join(found)


def test_the_guard_finds_a_dated_run_in_a_comment_block_and_in_a_docstring():
    source = (
        '"""A module.\n\nIt took 12.66 s (2026-11-28)."""\n'
        "# Four workers: in two paired runs\n# (2026-11-29) 2-3% more requests a second.\n"
        "workers = 4\n"
        "# 2024-10-10 is a policy version, no measurement.\n"
    )
    dated = [
        line
        for line, text in _comments_and_docstrings(source)
        if DATE.search(text) and MEASUREMENT.search(text)
    ]
    assert dated == [1, 4]
