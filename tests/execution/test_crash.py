"""Runs killed with SIGKILL at random moments and resumed: each side effect happens once,
each model call already answered is not made again (through the real CLI)."""

from __future__ import annotations

import random
from pathlib import Path

import pytest

from tests.crash import trial

pytestmark = pytest.mark.e2e


def test_killed_runs_resume_to_the_end_with_each_side_effect_once(tmp_path: Path) -> None:
    rng = random.Random(7)
    home, effects = tmp_path / "home", tmp_path / "effects"
    effects.mkdir()
    trials = [trial(home, effects, rng, max_delay_s=0.7) for _ in range(6)]
    for t in trials:
        assert t.finished, t
        assert t.effects == (1, 1), t  # one charge, one email: none lost, none doubled
        assert t.executed_twice == 0, t
    assert sum(t.interrupted for t in trials) >= 3  # most kills stopped a run midway
