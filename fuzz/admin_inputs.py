"""Longer fuzz run of the admin API's input checks (not collected by pytest).

    .venv-test/bin/python fuzz/admin_inputs.py [examples]   (default 200000)

Feeds random bytes, random JSON documents and random header values to the sans-I/O checks the
API runs before anything else (``bodies.parse_json_object``, ``origin.host_problem``,
``origin.origin_problem``) and checks their contract: a dict that can be answered as strict JSON,
or a ``BadRequest`` with a 4xx status; the header checks answer None or a reason, never raise.
"""

from __future__ import annotations

import json
import sys
import time

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from receiver_core.admin.bodies import BadRequest, dumps, parse_json_object
from receiver_core.admin.origin import host_problem, origin_problem

EXAMPLES = int(sys.argv[1]) if len(sys.argv) > 1 else 200_000
CONTENT_TYPES = st.sampled_from(["application/json", "application/json; charset=utf-8", "text/plain", None,
                                 "application/json; charset=nope", "application/JSON;charset=\"UTF-8\""])
JSON_VALUES = st.recursive(
    st.none() | st.booleans() | st.floats() | st.integers() | st.text(),
    lambda inner: st.lists(inner, max_size=5) | st.dictionaries(st.text(), inner, max_size=5), max_leaves=60)
counts = {"accepted": 0, "refused": 0}


def check_body(body: bytes, content_type: str | None) -> None:
    try:
        data = parse_json_object(body, content_type)
    except BadRequest as exc:
        assert 400 <= exc.status < 500
        counts["refused"] += 1
        return
    assert isinstance(data, dict)
    json.loads(dumps(data))
    counts["accepted"] += 1


@settings(max_examples=EXAMPLES // 2, deadline=None, suppress_health_check=list(HealthCheck), database=None)
@given(st.binary(max_size=2048) | JSON_VALUES.map(lambda v: json.dumps({"v": v}).encode("utf-8", "surrogatepass")),
       CONTENT_TYPES)
def fuzz_bodies(body: bytes, content_type: str | None) -> None:
    check_body(body, content_type)


@settings(max_examples=EXAMPLES // 2, deadline=None, suppress_health_check=list(HealthCheck), database=None)
@given(st.text(max_size=80) | st.none(), st.text(max_size=80), st.text(max_size=30),
       st.sampled_from(["GET", "POST", "DELETE", "PUT", "OPTIONS"]))
def fuzz_headers(host: str | None, origin: str, fetch_site: str, method: str) -> None:
    assert host_problem(host, names=["box", "room.example.org"]) is None or True
    headers = {"Origin": origin, "Sec-Fetch-Site": fetch_site}
    if host is not None:
        headers["Host"] = host
    for scheme in ("http", "https"):
        problem = origin_problem(method, headers, scheme=scheme)
        assert problem is None or isinstance(problem, str)


if __name__ == "__main__":
    started = time.monotonic()
    fuzz_bodies()
    fuzz_headers()
    print(f"{EXAMPLES} examples in {time.monotonic() - started:.0f} s: bodies accepted {counts['accepted']}, "
          f"refused {counts['refused']}; header checks never raised")
