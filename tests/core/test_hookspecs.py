"""Meta-tests on the hook contract: documented, prefixed, tested, firstresult hooks answered synchronously."""

from __future__ import annotations

import inspect
import re
from pathlib import Path

import pytest

from receiver_core import hookspecs
from receiver_core.app import load_plugins_and_config

TESTS = Path(__file__).resolve().parents[1]


def hook_specs() -> list[tuple[str, object]]:
    return [(name, fn) for name, fn in vars(hookspecs).items()
            if callable(fn) and hasattr(fn, "receiver_spec")]


def test_every_hook_is_prefixed_and_there_are_hooks() -> None:
    names = [name for name, _ in hook_specs()]
    assert len(names) >= 20
    assert all(name.startswith("receiver_") for name in names)


@pytest.mark.parametrize(("name", "spec"), hook_specs())
def test_hook_is_documented_with_its_signature(name: str, spec: object) -> None:
    doc = inspect.getdoc(spec) or ""
    params = list(inspect.signature(spec).parameters)
    assert doc, f"{name} has no docstring"
    for param in params:
        assert f":param {param}:" in doc, f"{name}: parameter {param} is not documented"
    assert ":return:" in doc, f"{name}: return value is not documented"
    assert re.search(r"rais|fail", doc), f"{name}: does not say what happens if it raises"
    firstresult = spec.receiver_spec.get("firstresult")  # type: ignore[attr-defined]
    if firstresult:
        assert "Stops at first non-None result" in doc, name
        assert "synchronously" in doc, f"{name}: must say it is answered synchronously"


@pytest.mark.parametrize(("name", "spec"), hook_specs())
def test_every_hook_has_a_test(name: str, spec: object) -> None:
    pattern = re.compile(rf"def test_hook_{name}\b")
    found = [p for p in TESTS.rglob("test_*.py") if pattern.search(p.read_text())]
    assert found, f"no test named test_hook_{name}"


def test_no_firstresult_impl_is_a_coroutine_function() -> None:
    """Every installed plugin (autoload) and built-in: firstresult impls must be plain functions."""
    _config, pm = load_plugins_and_config({"plugins": {"autoload": True}}, environ={})
    checked = 0
    for name, spec in hook_specs():
        if not spec.receiver_spec.get("firstresult"):  # type: ignore[attr-defined]
            continue
        for impl in getattr(pm.hook, name).get_hookimpls():
            checked += 1
            assert not inspect.iscoroutinefunction(impl.function), f"{impl.plugin_name}.{name} is async"
    assert checked >= 3  # pin_auth, layouts and the example plugin at least


def test_builtins_pass_check_pending() -> None:
    _config, pm = load_plugins_and_config({"plugins": {"autoload": False}}, environ={})
    pm.check_pending()
    assert {"core_admin", "pin_auth", "layouts", "pyav_decoders", "display_backends",
            "idle_screen"} <= set(pm.active_names())


@pytest.mark.parametrize(("name", "spec"), hook_specs())
def test_every_hook_declares_its_result_and_offers_the_context(name: str, spec: object) -> None:
    assert name in hookspecs.RESULTS, f"{name} has no entry in hookspecs.RESULTS"
    params = inspect.signature(spec).parameters
    assert "ctx" in params, f"{name} does not offer ctx"
    assert "receiver" not in params, f"{name} still hands plugins the whole receiver"
    may_await = "May await" in (inspect.getdoc(spec) or "")
    assert hookspecs.RESULTS[name].may_await == may_await, f"{name}: 'May await' in the doc and RESULTS disagree"
