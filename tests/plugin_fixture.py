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


def install_plugin(root: Path) -> Path:
    """Write the distribution ``orch-weather-skills`` under ``root``; returns ``root``."""
    pkg = root / "orch_weather"
    pkg.mkdir(parents=True)
    (pkg / "__init__.py").write_text(PLUGIN_CODE)
    info = root / "orch_weather_skills-0.1.0.dist-info"
    info.mkdir()
    (info / "METADATA").write_text(
        "Metadata-Version: 2.1\nName: orch-weather-skills\nVersion: 0.1.0\n"
    )
    (info / "entry_points.txt").write_text(
        "[orchestrator.skills]\nweather = orch_weather:weather\nmore = orch_weather\n"
    )
    (info / "RECORD").write_text("")
    return root
