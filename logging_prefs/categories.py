"""Anonymous categorisation: what people use each model for, counted per model and day.

The privacy policy lets users opt out of prompt logging; logged prompts improve
"anonymous analytics features (such as categorization)". This module is that feature:

- `classify_prompt` is a transparent keyword classifier: every signal is listed below,
  nothing is learned from the data, and the same text always gets the same category.
- `do_categorise_stored_prompts` feeds it one chunk of stored prompts that may be used
  right now (logging_prefs.eligibility), and keeps only counts in CategoryDailyCount
  (model, category, day): no user, no key, no text.

How a prompt is scored
----------------------
The text is lower-cased and, when long, cut to its first and last CLASSIFY_EDGE_CHARS
characters (the request is usually at one end, a pasted document in the middle). Each
rule is a regular expression with a weight; a rule that matches n times adds
weight * min(n, MAX_HITS_PER_RULE) to its category. The highest score wins; a tie goes
to the category listed first in CATEGORIES (the more specific intents come first, so
"translate this Python docstring into French" is translation). A prompt on which no
rule matches is "other".

Weights: 3 = on its own says what the request is ("translate", a code fence, "{{char}}");
2 = a strong topic word ("python", "photosynthesis", "landing page"); 1 = a hint that
only counts alongside others ("write", "customers").
"""

from __future__ import annotations

import datetime as dt
import re
from collections import Counter
from dataclasses import dataclass

from django.db import connection, transaction
from django.utils import timezone

from accounts.models import ApiKey
from logging_prefs.eligibility import (
    ACCOUNT_JOINS,
    HOLD_ROWS,
    MAY_LOG_TEXT,
    WITHIN_OWNERS_RETENTION,
    retention_cutoff,
)
from logging_prefs.models import CategoryDailyCount, Generation

# Ties go to the category listed first.
CATEGORIES = (
    "translation",
    "programming",
    "math",
    "roleplay",
    "marketing",
    "science",
    "writing",
    "other",
)
OTHER = "other"

CATEGORY_LABELS = {
    "translation": "Translation",
    "programming": "Programming",
    "math": "Math",
    "roleplay": "Roleplay",
    "marketing": "Marketing",
    "science": "Science",
    "writing": "Writing",
    "other": "Other",
}

# A prompt of 200,000 characters is mostly a pasted document; its first and last 3,000
# characters say what is asked, and cutting there keeps a chunk's classification (which
# runs while the owners' preference rows are held, see below) to milliseconds.
CLASSIFY_EDGE_CHARS = 3_000
# One word repeated through a pasted log must not outvote everything else.
MAX_HITS_PER_RULE = 3

_LANGUAGES = (
    r"english|french|spanish|german|italian|portuguese|dutch|russian|ukrainian|polish|"
    r"chinese|mandarin|cantonese|japanese|korean|arabic|hindi|turkish|vietnamese|thai|"
    r"indonesian|swedish|norwegian|danish|finnish|greek|hebrew|czech|romanian|hungarian"
)


@dataclass(frozen=True)
class Rule:
    category: str
    weight: int
    pattern: re.Pattern[str]
    # What the rule is looking for, in words (shown in docs and test failures).
    signal: str


def _rule(category: str, weight: int, signal: str, regex: str) -> Rule:
    # MULTILINE: code signals such as "import x" are anchored at the start of a line.
    return Rule(category, weight, re.compile(regex, re.MULTILINE), signal)


RULES: tuple[Rule, ...] = (
    # --- translation: an explicit request to move text between languages.
    _rule("translation", 3, "translate / translation", r"\btranslat(e|es|ed|ing|ion|or)\b"),
    _rule(
        "translation",
        2,
        "into/from <language>, <language> to <language>",
        rf"\b(into|from)\s+({_LANGUAGES})\b|\b({_LANGUAGES})\s+(to|into)\s+({_LANGUAGES})\b",
    ),
    _rule(
        "translation",
        2,
        "how do you say / what does X mean in",
        r"\bhow (do|would) (you|i) say\b|\bwhat does .{1,40} mean in\b",
    ),
    _rule("translation", 1, "a language name", rf"\b({_LANGUAGES})\b"),
    # --- programming: code, tooling and errors.
    _rule("programming", 3, "a fenced code block", r"```"),
    _rule(
        "programming",
        3,
        "code syntax (def/class/import/function/#include/SELECT…FROM)",
        r"\bdef \w+\(|\bclass \w+[(:{]|^\s*import [\w.]+(\s+as \w+)?\s*;?$|"
        r"^\s*from [\w.]+ import\b|^\s*import .+ from ['\"]|\bfunction \w*\s*\(|#include\s*<|"
        r"\bconsole\.log\(|\bpublic static void\b|\bselect \* from\b|"
        r"\bselect [\w.]+(\s*,\s*[\w.]+)* from \w+( as \w+)? (where|join|group by|order by)\b",
    ),
    _rule(
        "programming",
        3,
        "an error or stack trace",
        r"traceback \(most recent call last\)|\b\w+error:|\bexception in thread\b|"
        r"\bsegmentation fault\b|\bundefined is not a function\b|\bnullpointerexception\b",
    ),
    _rule(
        "programming",
        2,
        "a programming language, framework or tool",
        r"\b(python|javascript|typescript|java|golang|rust|kotlin|php|ruby|bash|sql|html|css|"
        r"react|vue|django|flask|node\.?js|docker|kubernetes|git|npm|pip|regex|api|json|yaml)\b|"
        r"\bc\+\+|\bc#",
    ),
    _rule(
        "programming",
        2,
        "programming work (debug, refactor, compile…)",
        r"\b(debug|debugging|refactor|compile|compiler|unit tests?|endpoint|repository|"
        r"pull request|stack trace|function|variable|bug|codebase|script)\b",
    ),
    _rule("programming", 1, "code / coding / algorithm", r"\b(code|coding|algorithm)\b"),
    # --- math: calculations, equations and proofs.
    _rule(
        "math",
        3,
        "an equation or calculation",
        # "2 - 3" and "6 / 2" need spaces, so dates and versions (2024-10-10, 10/10) do not count.
        r"\d\s*[+*^×÷=]\s*\(?-?\d|\d\s+[-/]\s+\d|\b[a-z]\s*\^\s*\d|\\(frac|int|sum|sqrt)\b|"
        r"\b\d*[xy]\s*[-+]\s*\d+\s*=",
    ),
    _rule(
        "math",
        3,
        "a math task (solve for, prove that, integral…)",
        r"\bsolve (for|the equation)\b|\bprove that\b|\b(integral|derivative|"
        r"differentiate|integrate|theorem|lemma|eigenvalues?)\b",
    ),
    _rule(
        "math",
        2,
        "a math subject or object",
        r"\b(equation|algebra|calculus|geometry|trigonometry|probability|statistics|matrix|"
        r"matrices|polynomial|fraction|prime numbers?|logarithm|vector|triangle|hypotenuse)\b",
    ),
    _rule("math", 1, "calculate / percent", r"\b(calculate|percent(age)?)\b"),
    # --- roleplay: the model plays a character in an ongoing scene.
    _rule(
        "roleplay",
        3,
        "roleplay / in character / {{char}}",
        r"\brole-?play(ing)?\b|\b(stay|remain|staying) in character\b|\{\{(char|user)\}\}|"
        r"\bcharacter card\b",
    ),
    _rule(
        "roleplay",
        2,
        "pretend to be / act as my …",
        r"\bpretend (to be|you are|you're)\b|\bact as (my|if you were)\b|\byou are playing\b",
    ),
    _rule(
        "roleplay",
        2,
        "*actions between asterisks*",
        r"\*(smiles|laughs|nods|sighs|grins|blushes|walks|looks|leans|whispers|"
        r"[a-z]+s (at|to|toward|towards|closer|softly|slowly))[^*\n]{0,60}\*",
    ),
    _rule(
        "roleplay",
        1,
        "scene words (persona, dungeon master, quest…)",
        r"\b(persona|dungeon master|d&d|quest|tavern|adventurer|your character|my character)\b",
    ),
    # --- marketing: selling, promoting, growing an audience.
    _rule(
        "marketing",
        3,
        "marketing copy (ad copy, slogan, landing page, SEO…)",
        r"\b(marketing|ad copy|advert(isement|ising)?|slogan|tagline|landing page|seo|"
        r"call to action|product description|email campaign|press release)\b",
    ),
    _rule(
        "marketing",
        2,
        "channels and metrics (social media post, conversion…)",
        r"\b(social media|instagram|tiktok|linkedin post|facebook ad|newsletter|hashtags?|"
        r"conversion rate|click-through|brand(ing)?|target audience|go-to-market)\b",
    ),
    _rule(
        "marketing",
        1,
        "customers, campaign, promote",
        r"\b(customers?|campaign|promote|promotion|launch|sales|engagement)\b",
    ),
    # --- science: natural sciences and medicine.
    _rule(
        "science",
        3,
        "a science subject (physics, chemistry, biology…)",
        r"\b(physics|chemistry|biology|astronomy|geology|neuroscience|biochemistry|"
        r"thermodynamics|quantum|photosynthesis|mitosis|evolution|ecosystem)\b",
    ),
    _rule(
        "science",
        2,
        "a scientific object (molecule, cell, gravity…)",
        r"\b(molecules?|atoms?|electrons?|protons?|cell (membrane|division|wall)|dna|rna|"
        r"proteins?|enzymes?|genes?|"
        r"species|gravity|planets?|galaxy|black holes?|climate|chemical|reaction rate|"
        r"bacteria|virus(es)?|organisms?)\b",
    ),
    _rule(
        "science",
        1,
        "scientific method words",
        r"\b(hypothesis|experiment|scientific|scientists?|research paper|peer[- ]review)\b",
    ),
    # --- writing: prose for people to read.
    _rule(
        "writing",
        3,
        "write an essay/story/poem/letter… ; proofread ; rewrite",
        r"\bwrite (me )?(a|an|the|my)\s+(\w+\s+){0,3}?(essay|story|poem|letter|speech|"
        r"article|blog post|chapter|novel|song|lyrics|haiku|cover letter|eulogy|toast)\b|"
        r"\bproofread\b|\brewrite (this|the|my)\b|\bfix (the|my) grammar\b",
    ),
    _rule(
        "writing",
        2,
        "a piece of writing (essay, poem, paragraph…)",
        r"\b(essay|poem|short story|novel|paragraph|plot|protagonist|narrative|prose|"
        r"rephrase|paraphrase|summari[sz]e|grammar|tone of voice|draft)\b",
    ),
    _rule("writing", 1, "write / story / email", r"\b(write|story|email|letter)\b"),
)


def score_prompt(text: str) -> dict[str, int]:
    """Each category's score for `text` (only categories that scored)."""
    if len(text) > 2 * CLASSIFY_EDGE_CHARS:
        text = text[:CLASSIFY_EDGE_CHARS] + "\n" + text[-CLASSIFY_EDGE_CHARS:]
    text = text.lower()
    scores: Counter[str] = Counter()
    for rule in RULES:
        hits = 0
        for _ in rule.pattern.finditer(text):
            hits += 1
            if hits == MAX_HITS_PER_RULE:
                break
        if hits:
            scores[rule.category] += rule.weight * hits
    return dict(scores)


def classify_prompt(text: str) -> str:
    """The category of a prompt: the best-scoring one, ties to the first in CATEGORIES,
    "other" when no rule matched."""
    scores = score_prompt(text)
    if not scores:
        return OTHER
    # max() returns the first of equal items: ties go to the earlier category.
    return max(CATEGORIES, key=lambda category: scores.get(category, 0))


# --- The action ---------------------------------------------------------------------

# The text is read only while it may be used right now (logging_prefs.eligibility):
# checked in SQL, so the text of any other row is never read, even if it was stored
# before its owner opted out, or is older than the retention period (the portal's, or
# the shorter one its owner chose) and not expired yet.
# FOR UPDATE OF g SKIP LOCKED: two overlapping runs never take (and count) the same row.
# HOLD_ROWS (FOR SHARE OF k, u, p): an opt-out, key change or deactivation (FOR UPDATE,
# see actions.do_set_logging_preferences) that commits before this read is honoured; one
# that comes later waits until the chunk is counted, exactly as for ingestion.
# The generation conditions are literals, not parameters, so the planner can match them
# to the partial index gen_uncategorised_created ((created_at) WHERE text_state =
# 'stored' AND NOT categorised), which holds only rows not counted yet.
_ELIGIBLE_FROM = (
    f" FROM {Generation._meta.db_table} g"  # noqa: S608 (constant names and values)
    f" JOIN {ApiKey._meta.db_table} k ON k.id = g.api_key_id"
    + ACCOUNT_JOINS
    + f" WHERE g.text_state = '{Generation.TextState.STORED.value}' AND g.categorised = false"
    " AND g.created_at >= %s AND " + WITHIN_OWNERS_RETENTION + " AND " + MAY_LOG_TEXT
)


def _eligible_params() -> list[object]:
    now = timezone.now()
    return [retention_cutoff(now), now]


def has_uncategorised_prompts() -> bool:
    """Whether any stored prompt may be categorised now (reads no text)."""
    with connection.cursor() as cursor:
        cursor.execute("SELECT 1" + _ELIGIBLE_FROM + " LIMIT 1", _eligible_params())  # noqa: S608 (constant SQL, %s placeholders)
        return cursor.fetchone() is not None


def _utc_day(moment: dt.datetime) -> dt.date:
    return moment.astimezone(dt.UTC).date()


def _add_counts(counts: Counter[tuple[str, str, dt.date]]) -> None:
    """Add to CategoryDailyCount in one upsert (INSERT … ON CONFLICT DO UPDATE). Keys
    are sorted so concurrent runs lock the aggregate rows in the same order and cannot
    deadlock."""
    if not counts:
        return
    table = CategoryDailyCount._meta.db_table
    count_column = connection.ops.quote_name("count")
    rows = sorted(counts.items())
    values = ", ".join(["(%s, %s, %s, %s)"] * len(rows))
    params: list[object] = []
    for (model, category, day), n in rows:
        params += [model, category, connection.ops.adapt_datefield_value(day), n]
    sql = (
        f"INSERT INTO {table} (model, category, day, {count_column}) VALUES {values} "  # noqa: S608 (constant names)
        f"ON CONFLICT (model, category, day) DO UPDATE "
        f"SET {count_column} = {table}.{count_column} + excluded.{count_column}"
    )
    with connection.cursor() as cursor:
        cursor.execute(sql, params)


def do_categorise_stored_prompts(*, batch_size: int) -> int:
    """Categorise one chunk of stored, uncategorised prompts that may be used now.

    Reads only id, model, created_at and prompt of eligible rows (see _ELIGIBLE_FROM).
    Side effects, in one transaction: adds the chunk's counts to CategoryDailyCount
    (model, category, UTC day of created_at) and sets categorised = true on the chunk,
    so a row is counted exactly once. Returns how many generations were categorised.
    """
    sql = "SELECT g.id, g.model, g.created_at, g.prompt" + _ELIGIBLE_FROM
    sql += " ORDER BY g.created_at, g.id LIMIT %s"
    sql += " FOR UPDATE OF g SKIP LOCKED" + HOLD_ROWS
    with transaction.atomic():
        chunk = list(Generation.objects.raw(sql, [*_eligible_params(), batch_size]))
        if not chunk:
            return 0
        counts: Counter[tuple[str, str, dt.date]] = Counter()
        for generation in chunk:
            category = classify_prompt(generation.prompt or "")
            counts[(generation.model, category, _utc_day(generation.created_at))] += 1
        _add_counts(counts)
        Generation.objects.filter(id__in=[g.id for g in chunk]).update(categorised=True)
    return len(chunk)
