"""Hypothesis fuzzing of the core's parsers of outside input: the config file and the auth header."""

from __future__ import annotations

from typing import Any

from hypothesis import given, settings
from hypothesis import strategies as st

from receiver_core.admin.api import _basic_password
from receiver_core.admin.auth import verify_password
from receiver_core.config import build_config
from receiver_core.config.schema import CORE_SECTIONS, SectionRegistry
from receiver_core.errors import ConfigError

scalars = st.one_of(st.none(), st.booleans(), st.integers(-10**6, 10**6), st.floats(allow_nan=True),
                    st.text(max_size=20))
values = st.recursive(scalars, lambda inner: st.one_of(st.lists(inner, max_size=4),
                                                       st.dictionaries(st.text(max_size=10), inner, max_size=4)),
                      max_leaves=12)
keys = st.sampled_from(["name", "pin", "pin_mode", "max_presenters", "bind", "port", "backend", "roles",
                        "advertise_on", "rank", "autoload", "disabled", "width", "x"])
sections = st.dictionaries(st.sampled_from([*CORE_SECTIONS, "plugin", "bogus"]),
                           st.one_of(values, st.dictionaries(keys, values, max_size=5)), max_size=4)


@settings(max_examples=400, deadline=None)
@given(sections)
def test_config_only_ever_raises_config_error(raw: dict[str, Any]) -> None:
    try:
        config = build_config(raw, SectionRegistry(), {})
    except ConfigError as exc:
        assert "\n" not in str(exc) and str(exc)
    else:
        assert config.session.max_presenters in range(1, 5)


@given(st.text(max_size=200))
def test_basic_auth_header_parser_never_raises(header: str) -> None:
    password = _basic_password(header)
    assert password is None or isinstance(password, str)


@settings(max_examples=50, deadline=None)
@given(st.text(max_size=80))
def test_malformed_stored_hashes_never_match(stored: str) -> None:
    assert verify_password("anything", stored) is False
