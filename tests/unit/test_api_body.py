"""What a JSON body may be before it is parsed: its media type and its nesting."""

from __future__ import annotations

import json

import pytest

from api.body import MAX_DEPTH, is_json_media_type, too_deep


@pytest.mark.parametrize(
    ("content_type", "json_"),
    [
        ("application/json", True),
        ("Application/JSON; charset=utf-8", True),
        (" application/json ;charset=UTF-8", True),
        ("text/plain", False),
        ("application/x-www-form-urlencoded", False),
        ("multipart/form-data; boundary=x", False),
        ("application/json-patch+json", False),
        ("application/jsonx", False),
        ("", False),
    ],
)
def test_only_application_json_is_json(content_type: str, json_: bool) -> None:
    assert is_json_media_type(content_type) is json_


def nested(depth: int) -> str:
    return "[" * depth + "]" * depth


def test_nesting_up_to_the_limit_passes_and_one_more_does_not() -> None:
    assert not too_deep(nested(MAX_DEPTH), MAX_DEPTH)
    assert too_deep(nested(MAX_DEPTH + 1), MAX_DEPTH)
    assert too_deep('{"a":' * (MAX_DEPTH + 1), MAX_DEPTH)  # unclosed counts as well


def test_a_body_that_makes_the_parser_recurse_too_deep_is_caught_first() -> None:
    body = nested(100_000)
    with pytest.raises(RecursionError):
        json.loads(body)
    assert too_deep(body, MAX_DEPTH)


@pytest.mark.parametrize(
    "text",
    [
        json.dumps({"a": "[" * 100}),
        json.dumps({"a": '"[[[[' * 50}),  # escaped quotes do not end the string
        json.dumps({"a": "\\" * 40 + "[" * 100}),  # escaped backslashes do not escape the quote
        json.dumps(["[{" * 100, "]}" * 100]),
    ],
)
def test_brackets_inside_strings_do_not_count(text: str) -> None:
    assert not too_deep(text, 3)
