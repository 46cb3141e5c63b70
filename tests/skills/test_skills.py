"""@skill schemas, contracts, the registry and plugin discovery through entry points."""

from __future__ import annotations

import sys
from pathlib import Path

import pytest

from skills import (
    PluginWarning,
    PostconditionFailed,
    PreconditionFailed,
    Skill,
    SkillDefinitionError,
    SkillRegistry,
    default_registry,
    discover_plugins,
    skill,
)
from skills.builtin import calculate
from tests.plugin_fixture import install_plugin, install_troubled_plugins


def test_bare_decorator_builds_schema_from_hints_and_docstring() -> None:
    @skill
    def lookup(order_id: str, verbose: bool = False) -> dict:
        """Look up an order.

        Args:
            order_id: the order number.
        """
        return {"id": order_id, "verbose": verbose}

    assert isinstance(lookup, Skill)
    assert lookup.params == ("order_id", "verbose")
    assert lookup.description == "Look up an order."
    schema = lookup.schema["parameters"]
    assert schema["required"] == ["order_id"]
    assert schema["properties"]["order_id"]["type"] == "string"
    assert schema["properties"]["order_id"]["description"] == "the order number."
    assert lookup("7") == {"id": "7", "verbose": False}  # still a plain function
    assert lookup.invoke({"order_id": "7", "unrelated": 1})["id"] == "7"


def test_missing_hints_or_docstring_fail_at_decoration() -> None:
    with pytest.raises(SkillDefinitionError, match="parameter 'x' has no type hint"):

        @skill
        def no_hint(x) -> str:  # type: ignore[no-untyped-def]
            """Doc."""
            return x  # type: ignore[no-any-return]

    with pytest.raises(SkillDefinitionError, match="no return type hint"):

        @skill
        def no_return(x: int):  # type: ignore[no-untyped-def]
            """Doc."""
            return x

    with pytest.raises(SkillDefinitionError, match="has no docstring"):

        @skill
        def no_doc(x: int) -> int:
            return x


def test_contracts_block_bad_calls_and_bad_results() -> None:
    @skill(requires=lambda amount: amount > 0, ensures=lambda result, amount: result <= amount)
    def pay(amount: float) -> float:
        """Pay an amount; buggy above 100."""
        return amount * 2 if amount > 100 else amount

    assert pay.invoke({"amount": 5}) == 5
    with pytest.raises(PreconditionFailed, match="precondition rejected"):
        pay.invoke({"amount": -1})
    with pytest.raises(PostconditionFailed, match="postcondition rejected"):
        pay.invoke({"amount": 150})
    with pytest.raises(PreconditionFailed, match="invalid arguments"):
        pay.invoke({"amount": "lots"})
    with pytest.raises(PreconditionFailed, match="amount"):
        pay.invoke({})


def test_builtin_calculate_refuses_code() -> None:
    assert calculate.invoke({"expression": "(3 + 4) * 2"}) == 14.0
    with pytest.raises(PreconditionFailed):
        calculate.invoke({"expression": "__import__('os').system('true')"})


def test_registry_refuses_duplicate_names() -> None:
    @skill(name="dup")
    def one() -> int:
        """One."""
        return 1

    @skill(name="dup")
    def two() -> int:
        """Two."""
        return 2

    reg = SkillRegistry()
    reg.add(one, source="a.py")
    reg.add(one, source="a.py")  # same object: fine
    with pytest.raises(
        SkillDefinitionError, match=r"two skills are named 'dup' \(from a.py and b.py\)"
    ):
        reg.add(two, source="b.py")
    with pytest.raises(SkillDefinitionError, match="no skill named 'nope'"):
        reg.get("nope")


def test_entry_point_plugins_are_discovered(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    root = install_plugin(tmp_path / "site")
    monkeypatch.syspath_prepend(str(root))
    discover_plugins.cache_clear()
    try:
        # only this plugin's skills: whatever else is installed must not matter here
        mine = "plugin:orch-weather-skills"
        found = {e.skill.name for e in discover_plugins() if e.source == mine}
        assert found == {"weather", "shout"}
        registry = default_registry()
        assert registry.get("weather").params == ("city", "days")
        assert "calculate" in registry
    finally:
        discover_plugins.cache_clear()
        sys.modules.pop("orch_weather", None)


def test_a_broken_or_clashing_plugin_is_skipped_with_a_warning_and_the_rest_work(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    root = install_troubled_plugins(tmp_path / "site")
    monkeypatch.syspath_prepend(str(root))
    discover_plugins.cache_clear()
    try:
        with pytest.warns(PluginWarning) as caught:
            registry = default_registry()
        said = [str(w.message) for w in caught]
        assert any("zz-broken-skills" in s and "failed to load (ImportError" in s for s in said)
        assert any(
            "skipped skill 'weather'" in s and "plugin:orch-weather-skills already has" in s
            for s in said
        )
        assert any("skipped skill 'calculate'" in s and "a built-in" in s for s in said)
        # the rest keep working: the first weather, the built-in calculate, shout
        assert registry.get("weather").params == ("city", "days")
        assert registry.get("calculate").fn.__module__ == "skills.builtin"
        assert "shout" in registry
    finally:
        discover_plugins.cache_clear()
        for name in ("orch_weather", "zz_broken", "zz_clash"):
            sys.modules.pop(name, None)


def test_a_mistyped_option_names_the_function_its_place_and_the_fix() -> None:
    with pytest.raises(SkillDefinitionError) as err:

        @skill(produce="order")  # type: ignore[call-overload]
        def find(query: str) -> str:
            """Find it."""
            return query

    text = str(err.value)
    assert "skill 'find' (" in text and "test_skills.py:" in text
    assert "@skill has no option 'produce'; did you mean 'produces'?" in text
