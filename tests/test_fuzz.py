"""A short run of the fuzz soak (tests/fuzzing.py): every target, a few cases each."""

from __future__ import annotations

import warnings

from tests.fuzzing import soak


def test_a_short_fuzz_soak_raises_nothing_undocumented() -> None:
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        counted = soak(160, progress=lambda _: None)
    assert set(counted) == {"pipeline definitions", "queries", "skill calls", "model replies"}
    assert all(n >= 20 for n in counted.values()), counted
