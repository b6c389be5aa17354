"""docs/policy-map.md maps every sentence of the published privacy policy to the code
that keeps it and the tests that prove it; these tests keep the map true."""

from __future__ import annotations

import ast
import html
import re
from dataclasses import dataclass, field
from pathlib import Path

from django.template.loader import render_to_string
from django.test import RequestFactory, override_settings

from privacy.policy import CURRENT

ROOT = Path(__file__).resolve().parents[2]
MAP = ROOT / "docs" / "policy-map.md"
TEST_REF = re.compile(r"`(tests/[\w/]+\.py)::(\w+(?:::\w+)?)`")
PATH_REF = re.compile(r"`((?:[\w.-]+/)+[\w.-]*)`")


@dataclass
class Entry:
    title: str
    sentence: str = ""
    tests: list[tuple[str, str]] = field(default_factory=list)
    paths: list[str] = field(default_factory=list)
    nothing_to_prove: bool = False


def parse_map(text: str) -> list[Entry]:
    entries: list[Entry] = []
    for line in text.splitlines():
        if line.startswith("### "):
            entries.append(Entry(title=line[4:].strip()))
        elif not entries:
            continue
        elif line.startswith("> "):
            entries[-1].sentence += line[2:].strip()
        elif line.startswith("Nothing to prove:"):
            entries[-1].nothing_to_prove = True
        else:
            entries[-1].tests += TEST_REF.findall(line)
            if line.startswith("Kept by:"):
                entries[-1].paths += PATH_REF.findall(line)
    return entries


def policy_sentences(rendered: str) -> list[str]:
    """The sentences of the policy page's paragraphs and list items, in order."""
    sentences = []
    for block in re.findall(r"<(?:p|li)>(.*?)</(?:p|li)>", rendered, re.S):
        text = html.unescape(re.sub(r"<[^>]+>", "", block))
        text = " ".join(text.split())
        sentences += re.split(r"(?<=[.!?])\s+(?=[A-Z])", text)
    return [s for s in sentences if s]


def defined_tests(path: Path) -> set[str]:
    """`name` and `Class::name` of every test function a test module defines."""
    names = set()
    for node in ast.parse(path.read_text()).body:
        if isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef):
            names.add(node.name)
        elif isinstance(node, ast.ClassDef):
            names |= {
                f"{node.name}::{item.name}"
                for item in node.body
                if isinstance(item, ast.FunctionDef | ast.AsyncFunctionDef)
            }
    return {name for name in names if name.split("::")[-1].startswith("test_")}


def problems(entries: list[Entry], sentences: list[str], root: Path) -> list[str]:
    found = []
    quoted = [entry.sentence for entry in entries]
    for sentence in sentences:
        if quoted.count(sentence) != 1:
            found.append(f"in the map {quoted.count(sentence)} times, not once: {sentence!r}")
    for entry in entries:
        where = f"### {entry.title}"
        if entry.sentence not in sentences:
            found.append(f"{where}: quotes a sentence the published policy does not have")
        if entry.nothing_to_prove:
            if entry.tests:
                found.append(f"{where}: says nothing to prove yet names tests")
            continue
        if not entry.tests:
            found.append(f"{where}: a promise with no test")
        for path in entry.paths:
            if not (root / path).exists():
                found.append(f"{where}: kept by {path}, which does not exist")
        for path, name in entry.tests:
            module = root / path
            if not module.is_file():
                found.append(f"{where}: {path} does not exist")
            elif name not in defined_tests(module):
                found.append(f"{where}: {path} has no test {name}")
    return found


# The policy's placeholders, as the published page fills them from the settings.
SUPPORT_EMAIL = "help@portal.example"
DISCORD_URL = "https://discord.example/invite/portal"


def published_sentences() -> list[str]:
    """The policy in force as the page shows it, with the support address put back as
    the specification writes it ("support@email")."""
    with override_settings(PORTAL_SUPPORT_EMAIL=SUPPORT_EMAIL, PORTAL_DISCORD_URL=DISCORD_URL):
        rendered = render_to_string(CURRENT.template, request=RequestFactory().get("/"))
    assert SUPPORT_EMAIL in rendered and DISCORD_URL in rendered
    return policy_sentences(rendered.replace(SUPPORT_EMAIL, "support@email"))


def test_every_sentence_of_the_policy_in_force_is_in_the_map_with_its_proof():
    entries = parse_map(MAP.read_text())
    assert problems(entries, published_sentences(), ROOT) == []


def test_the_map_reads_the_sentences_of_the_policy_as_published():
    sentences = published_sentences()
    assert sentences[0].startswith("This Privacy Policy describes")
    assert "Billing purposes" in sentences
    assert "We do not transfer your personal data internationally." in sentences
    assert len(sentences) == len(parse_map(MAP.read_text()))


def test_the_check_names_a_missing_sentence_a_promise_without_proof_and_a_lost_test(tmp_path):
    module = tmp_path / "tests" / "test_x.py"
    module.parent.mkdir()
    module.write_text("def test_real():\n    pass\n\nclass TestC:\n    def test_m(self): ...\n")
    text = "\n".join(
        [
            "### Proved",
            "> One.",
            "Kept by: `tests/test_x.py`",
            "- `tests/test_x.py::test_real`",
            "- `tests/test_x.py::TestC::test_m`",
            "### Unproved",
            "> Two.",
            "Kept by: `nowhere/at_all.py`",
            "### Lost",
            "> Three.",
            "- `tests/test_x.py::test_renamed`",
            "- `tests/test_gone.py::test_any`",
            "### Invented",
            "> Not in the policy.",
            "Nothing to prove: a sentence the policy never had.",
        ]
    )
    found = problems(parse_map(text), ["One.", "Two.", "Three.", "Four."], tmp_path)
    assert found == [
        "in the map 0 times, not once: 'Four.'",
        "### Unproved: a promise with no test",
        "### Unproved: kept by nowhere/at_all.py, which does not exist",
        "### Lost: tests/test_x.py has no test test_renamed",
        "### Lost: tests/test_gone.py does not exist",
        "### Invented: quotes a sentence the published policy does not have",
    ]
