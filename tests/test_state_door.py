"""One door for state changes: no module but ``mediaml/db/transitions.py`` writes ``state``.

The scan reads every SQL string in the package (string literals, implicit
concatenations, f-strings and ``+`` chains) and looks for an ``UPDATE ... SET`` whose SET
clause assigns ``state``. Rows are created in their first state by the modules that own
their table; nothing else may insert into ``source_videos`` or ``clips`` with a state.
Likewise ``review_actions`` rows are written only by ``mediaml/db/audit.py``.
"""

from __future__ import annotations

import ast
import re
from collections.abc import Iterator
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
PACKAGES = ("mediaml", "dashboards", "runners")

STATE_DOOR = "mediaml/db/transitions.py"
# Creating a row in its first state is not a state change; only the table's own module does.
CREATORS = {"source_videos": "mediaml/db/videos.py", "clips": "mediaml/db/clips.py"}
AUDIT_DOOR = "mediaml/db/audit.py"

_UPDATE = re.compile(
    r"\bUPDATE\s+(?P<table>\S+)(?:\s+AS\s+\w+)?\s+SET\b(?P<set>.*?)(?:\bWHERE\b|\bRETURNING\b|\bFROM\b|$)",
    re.IGNORECASE | re.DOTALL,
)
_SETS_STATE = re.compile(r"(?:^|,)\s*(?:\w+\.)?state\s*=", re.IGNORECASE)
_INSERT = re.compile(r"\bINSERT\s+INTO\s+(?P<table>\w+)\s*\((?P<cols>[^)]*)\)", re.IGNORECASE)


def _text(node: ast.AST) -> str | None:
    """The SQL text a string expression builds (``{}`` where values are interpolated)."""
    if isinstance(node, ast.Constant) and isinstance(node.value, str):
        return node.value
    if isinstance(node, ast.JoinedStr):
        return "".join(
            v.value if isinstance(v, ast.Constant) else "{}"
            for v in node.values  # type: ignore[misc]
        )
    if isinstance(node, ast.BinOp) and isinstance(node.op, ast.Add):
        left, right = _text(node.left), _text(node.right)
        if left is not None or right is not None:
            return (left or "{}") + (right or "{}")
    return None


def sql_strings(source: str) -> Iterator[str]:
    """Every string expression in ``source`` that is not part of a larger one."""
    tree = ast.parse(source)
    inner: set[int] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.JoinedStr | ast.BinOp):
            inner.update(id(child) for child in ast.walk(node) if child is not node)
    for node in ast.walk(tree):
        if id(node) in inner:
            continue
        text = _text(node)
        if text is not None:
            yield text


def state_writes(text: str) -> list[str]:
    """The tables ``text`` writes ``state`` of (UPDATE ... SET state = ...)."""
    return [
        m.group("table")
        for m in _UPDATE.finditer(text)
        if _SETS_STATE.search(m.group("set").strip())
    ]


def inserts(text: str) -> list[tuple[str, list[str]]]:
    """``(table, columns)`` of each ``INSERT INTO table (columns)`` in ``text``."""
    return [
        (m.group("table").lower(), [c.strip().lower() for c in m.group("cols").split(",")])
        for m in _INSERT.finditer(text)
    ]


def package_files() -> list[Path]:
    return sorted(p for pkg in PACKAGES for p in (ROOT / pkg).rglob("*.py"))


@pytest.mark.parametrize(
    "sql_text",
    [
        "UPDATE clips SET state = 'archived' WHERE id = %s",
        "UPDATE {} SET lease_owner = NULL, state = %s WHERE id = %s",
        "update {} as t set state = %(in_flight)s, lease_owner = %(node)s where t.id = 1",
        "UPDATE source_videos SET t.state = %s",
    ],
)
def test_the_scan_sees_state_writes(sql_text):
    assert state_writes(sql_text)


@pytest.mark.parametrize(
    "sql_text",
    [
        "UPDATE clips SET lease_owner = NULL WHERE state = %s",
        "UPDATE clips SET enqueued_at = now() WHERE id = ANY(%s) AND state = %s",
        "SELECT state FROM clips WHERE state = %s",
        "UPDATE clips SET grouped_with = %s WHERE id = %s RETURNING state",
        "UPDATE clips SET last_state = %s WHERE id = 1",
    ],
)
def test_the_scan_ignores_reads_and_other_columns(sql_text):
    assert not state_writes(sql_text)


def test_the_scan_reads_fstrings_and_concatenations():
    source = (
        'q = f"UPDATE {table} SET state = %s, lease_owner = NULL"\n'
        'r = "UPDATE clips SET " + "state = %s" + f" WHERE id = {x}"\n'
    )
    found = [t for s in sql_strings(source) for t in state_writes(s)]
    assert found == ["{}", "clips"]


def test_only_the_transitions_module_writes_state():
    offenders = []
    for path in package_files():
        rel = path.relative_to(ROOT).as_posix()
        for text in sql_strings(path.read_text()):
            for table in state_writes(text):
                if rel != STATE_DOOR:
                    offenders.append(f"{rel}: UPDATE {table} SET state ... ({text[:80]!r})")
            for table, cols in inserts(text):
                if "state" in cols and CREATORS.get(table) != rel:
                    offenders.append(f"{rel}: INSERT INTO {table} with a state")
    assert not offenders, "state changes must go through mediaml.db.transitions:\n" + "\n".join(
        offenders
    )


def test_only_the_audit_module_writes_review_actions():
    writers = {
        path.relative_to(ROOT).as_posix()
        for path in package_files()
        for text in sql_strings(path.read_text())
        if re.search(r"\bINSERT\s+INTO\s+review_actions\b", text, re.IGNORECASE)
    }
    assert writers == {AUDIT_DOOR}


def test_no_module_but_leases_knows_the_review_claim_prefix():
    holders = {
        path.relative_to(ROOT).as_posix()
        for path in package_files()
        if "'review:" in path.read_text() or '"review:' in path.read_text()
    }
    assert holders == {"mediaml/db/leases.py"}, holders
