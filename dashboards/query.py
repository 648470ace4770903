"""Query-string parameters of the pages, read defensively.

A malformed value never breaks a page: it is ignored and the page says which parameter
it ignored and why.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any


@dataclass(frozen=True)
class QueryParam:
    """One accepted parameter: ``int`` (at least ``minimum``), ``str``, or ``choice``."""

    name: str
    kind: str = "str"
    choices: tuple[str, ...] = ()
    minimum: int = 1
    max_length: int = 200


def read_query(
    args: Mapping[str, Sequence[bytes | str]], accepted: Sequence[QueryParam]
) -> tuple[dict[str, Any], list[str]]:
    """Parse the parameters in ``accepted`` from ``args`` (Tornado's raw query arguments).

    Returns:
        ``(values, problems)``: the valid values by name (absent when missing or bad) and
        one sentence per ignored value.
    """
    values: dict[str, Any] = {}
    problems: list[str] = []
    for p in accepted:
        raw = args.get(p.name)
        if not raw:
            continue
        first = raw[-1]
        text = (first.decode("utf-8", "replace") if isinstance(first, bytes) else first).strip()
        shown = text[:40]
        if "\ufffd" in text or not text.isprintable():
            problems.append(f"ignored ?{p.name}: it is not readable text")
            continue
        if len(text) > p.max_length:
            problems.append(f"ignored ?{p.name}: longer than {p.max_length} characters")
            continue
        if p.kind == "int":
            if not text.isdigit() or int(text) < p.minimum:
                problems.append(
                    f"ignored ?{p.name}={shown}: not a whole number of at least {p.minimum}"
                )
                continue
            values[p.name] = int(text)
        elif p.kind == "choice":
            if text not in p.choices:
                problems.append(f"ignored ?{p.name}={shown}: use one of {', '.join(p.choices)}")
                continue
            values[p.name] = text
        elif text:
            values[p.name] = text
    return values, problems
