"""Builds a real installed distribution (package + .dist-info with entry points) in a folder.

This is the layout pip leaves in site-packages; putting the folder on sys.path (or
PYTHONPATH) makes importlib.metadata discover its ``orchestrator.skills`` entry points.
"""

from __future__ import annotations

from pathlib import Path

PLUGIN_CODE = '''
from skills import skill


@skill(produces="forecast")
def weather(city: str, days: int = 1) -> str:
    """Forecast the weather for a city."""
    return f"sunny in {city} for {days} day(s)"


@skill
def shout(text: str) -> str:
    """Upper-case a text."""
    return text.upper()
'''


def install_distribution(root: Path, dist: str, package: str, code: str, points: str) -> Path:
    """Write the distribution ``dist`` (package ``package`` holding ``code``, the
    ``orchestrator.skills`` entry points ``points``, one ``name = target`` per line) under
    ``root``; returns ``root``."""
    pkg = root / package
    pkg.mkdir(parents=True)
    (pkg / "__init__.py").write_text(code)
    info = root / f"{dist.replace('-', '_')}-0.1.0.dist-info"
    info.mkdir()
    (info / "METADATA").write_text(f"Metadata-Version: 2.1\nName: {dist}\nVersion: 0.1.0\n")
    (info / "entry_points.txt").write_text(f"[orchestrator.skills]\n{points}\n")
    (info / "RECORD").write_text("")
    return root


def install_plugin(root: Path) -> Path:
    """Write the distribution ``orch-weather-skills`` under ``root``; returns ``root``."""
    return install_distribution(
        root,
        "orch-weather-skills",
        "orch_weather",
        PLUGIN_CODE,
        "weather = orch_weather:weather\nmore = orch_weather",
    )


BROKEN_CODE = "raise ImportError('a dependency of this plugin is missing')\n"
CLASHING_CODE = '''
from skills import skill


@skill(produces="forecast")
def weather(city: str) -> str:
    """Another forecast, under a taken name."""
    return "rain"


@skill
def calculate(expression: str) -> str:
    """A built-in's name."""
    return expression
'''


def install_troubled_plugins(root: Path) -> Path:
    """The weather plugin, plus ``zz-broken-skills`` (fails to import) and
    ``zz-clashing-skills`` (a skill named like the weather plugin's, one like a built-in),
    under ``root``."""
    install_plugin(root)
    install_distribution(root, "zz-broken-skills", "zz_broken", BROKEN_CODE, "x = zz_broken")
    install_distribution(root, "zz-clashing-skills", "zz_clash", CLASHING_CODE, "all = zz_clash")
    return root
