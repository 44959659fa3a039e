"""Request bodies of the admin API (sans-I/O): every bad body is a BadRequest with a 4xx status."""

from __future__ import annotations

import json
import math

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from receiver_core.admin.bodies import MAX_BODY, BadRequest, dumps, finite_number, parse_json_object

JSON = "application/json"


def test_good_bodies() -> None:
    assert parse_json_object(b"", None) == {}
    assert parse_json_object(b'{"name": "R\\u00f6om 4"}', JSON) == {"name": "Röom 4"}
    assert parse_json_object('{"name": "Röom"}'.encode(), "application/json; charset=UTF-8") == {"name": "Röom"}
    assert parse_json_object(b'{"a": "[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[["}', JSON)  # brackets in strings


@pytest.mark.parametrize(("body", "content_type", "status"), [
    (b'{"name": "\\ud800"}', JSON, 400),
    (b'{"\\udfff": 1}', JSON, 400),
    (b"{}", "application/json; charset=nope", 415),
    (b"{}", "application/json; charset=latin-1", 415),
    (b"{}", "text/plain", 415),
    (b"{}", "application/x-www-form-urlencoded", 415),
    (b"{}", None, 415),
    (b'{"a": NaN}', JSON, 400),
    (b'{"a": -Infinity}', JSON, 400),
    (b"[]", JSON, 400),
    (b'"x"', JSON, 400),
    (b"{", JSON, 400),
    (b"\xff\xfe{", JSON, 400),
    (b'{"a": ' + b"[" * 17 + b"]" * 17 + b"}", JSON, 400),
    (b"[" * 100000, JSON, 413),
    (b'{"a": "' + b"x" * MAX_BODY + b'"}', JSON, 413),
])
def test_bad_bodies(body: bytes, content_type: str | None, status: int) -> None:
    with pytest.raises(BadRequest) as caught:
        parse_json_object(body, content_type)
    assert caught.value.status == status


@pytest.mark.parametrize("value", [math.inf, -math.inf, math.nan, 10**400, -1, 0, True, "5", None, [], 1e10])
def test_finite_number_refuses(value: object) -> None:
    with pytest.raises(BadRequest):
        finite_number(value, name="duration_s", low=1, high=1e9)


def test_finite_number_accepts() -> None:
    assert finite_number(60, name="d", low=1, high=100) == 60.0
    assert finite_number(1.5, name="d", low=1, high=100) == 1.5


def test_answers_never_carry_nan() -> None:
    with pytest.raises(ValueError):
        dumps({"until": math.inf})


@settings(max_examples=300, deadline=None)
@given(st.binary(max_size=400) | st.text(max_size=200).map(str.encode),
       st.sampled_from([JSON, "application/json; charset=utf-8", "text/plain", None]))
def test_any_bytes_give_an_object_or_a_bad_request(body: bytes, content_type: str | None) -> None:
    try:
        data = parse_json_object(body, content_type)
    except BadRequest as exc:
        assert 400 <= exc.status < 500
        return
    assert isinstance(data, dict)
    json.loads(dumps(data))  # what we accepted can always be answered as strict JSON


@settings(max_examples=200, deadline=None)
@given(st.recursive(st.none() | st.booleans() | st.floats() | st.integers() | st.text(),
                    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(), inner, max_size=4),
                    max_leaves=30))
def test_any_json_value_inside_an_object(value: object) -> None:
    body = json.dumps({"v": value}).encode("utf-8", "surrogatepass")
    try:
        data = parse_json_object(body, JSON)
    except BadRequest as exc:
        assert exc.status == 400
        return
    json.loads(dumps(data))
