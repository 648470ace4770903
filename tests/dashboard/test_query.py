"""Query-string parsing: bad values are ignored with a reason, never an exception."""

from dashboards.query import QueryParam, read_query

ACCEPTED = [
    QueryParam("clip", "int"),
    QueryParam("order", "choice", ("asc", "desc")),
    QueryParam("q", max_length=10),
]


def test_valid_values_are_parsed():
    values, problems = read_query({"clip": [b"12"], "order": [b"asc"], "q": [b" cat "]}, ACCEPTED)
    assert values == {"clip": 12, "order": "asc", "q": "cat"} and problems == []


def test_bad_values_are_ignored_with_a_reason():
    values, problems = read_query(
        {"clip": [b"-3"], "order": [b"sideways"], "q": [b"x" * 11], "other": [b"1"]}, ACCEPTED
    )
    assert values == {}
    assert problems == [
        "ignored ?clip=-3: not a whole number of at least 1",
        "ignored ?order=sideways: use one of asc, desc",
        "ignored ?q: longer than 10 characters",
    ]


def test_undecodable_and_control_characters_are_refused():
    values, problems = read_query({"q": [b"\xff\xfe"], "clip": [b"1\n2"]}, ACCEPTED)
    assert values == {} and len(problems) == 2
    assert all("not readable text" in p or "whole number" in p for p in problems)


def test_the_last_repeat_wins_and_strings_work_too():
    values, _ = read_query({"clip": ["3", "4"]}, ACCEPTED)
    assert values == {"clip": 4}
