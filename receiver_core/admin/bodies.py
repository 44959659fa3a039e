"""Request bodies of the admin API, checked before use: size, charset, JSON depth, text, numbers.

Sans-I/O: ``parse_json_object(raw, content_type)`` takes the bytes and the Content-Type header and
returns a dict or raises ``BadRequest`` with the HTTP status to answer (400, 413 or 415). JSON
answers of the API are made with ``dumps`` (``allow_nan=False``), so a non-finite number can never
reach a client as invalid JSON.
"""

from __future__ import annotations

import functools
import json
import math
from typing import Any

from ..session.statefile import nesting_depth

__all__ = ["BadRequest", "MAX_BODY", "MAX_DEPTH", "dumps", "finite_number", "parse_json_object"]

MAX_BODY = 16 * 1024
MAX_DEPTH = 16

dumps = functools.partial(json.dumps, allow_nan=False, ensure_ascii=True)


class BadRequest(Exception):
    """The request is unusable: answered with ``status`` (4xx) and the message as JSON."""

    def __init__(self, message: str, status: int = 400) -> None:
        self.status = status
        super().__init__(message)


def _charset(content_type: str) -> str | None:
    """The charset parameter of a Content-Type header, lower-cased (None when absent)."""
    for param in content_type.split(";")[1:]:
        key, _, value = param.partition("=")
        if key.strip().lower() == "charset":
            return value.strip().strip('"').lower()
    return None


def _media_type(content_type: str) -> str:
    return content_type.split(";")[0].strip().lower()


def _reject_constant(name: str) -> Any:
    raise BadRequest(f"{name} is not a number JSON allows")


def _check_strings(value: Any) -> None:
    """Every string (keys too) must be valid Unicode text: no lone surrogates from ``\\ud800`` escapes."""
    stack = [value]
    while stack:
        item = stack.pop()
        if isinstance(item, str):
            try:
                item.encode("utf-8")
            except UnicodeEncodeError:
                raise BadRequest("the body contains a lone UTF-16 surrogate (invalid text)") from None
        elif isinstance(item, dict):
            stack.extend(item.keys())
            stack.extend(item.values())
        elif isinstance(item, list):
            stack.extend(item)


def parse_json_object(raw: bytes, content_type: str | None) -> dict[str, Any]:
    """The body as a JSON object; an empty body is ``{}``. Raises ``BadRequest``."""
    if len(raw) > MAX_BODY:
        raise BadRequest(f"the body is larger than {MAX_BODY} bytes", 413)
    if not raw:
        return {}
    content_type = content_type or ""
    if _media_type(content_type) != "application/json":
        raise BadRequest("send the body as Content-Type: application/json", 415)
    charset = _charset(content_type)
    if charset not in (None, "utf-8", "utf8"):
        raise BadRequest("the body must be UTF-8 JSON (charset=utf-8 or none)", 415)
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError:
        raise BadRequest("the body is not valid UTF-8") from None
    if nesting_depth(text) > MAX_DEPTH:
        raise BadRequest(f"the JSON body is nested deeper than {MAX_DEPTH} levels")
    try:
        data = json.loads(text, parse_constant=_reject_constant)
    except json.JSONDecodeError:
        raise BadRequest("the body must be a JSON object") from None
    if not isinstance(data, dict):
        raise BadRequest("the body must be a JSON object")
    _check_strings(data)
    return data


def finite_number(value: Any, *, name: str, low: float, high: float) -> float:
    """``value`` as a float in ``[low, high]``; booleans, NaN, infinities and other types are refused."""
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        raise BadRequest(f"{name} must be a number")
    number = float(value) if not isinstance(value, int) or abs(value) < 2**63 else math.inf
    if not math.isfinite(number) or not low <= number <= high:
        raise BadRequest(f"{name} must be a number from {low:g} to {high:g}")
    return number
