"""Shared array idioms."""

from __future__ import annotations

import numpy as np
from hypothesis import given
from hypothesis import strategies as st

from lifecircle.arrays import ranges


@given(st.lists(st.tuples(st.integers(0, 1000), st.integers(0, 6)), max_size=30))
def test_ranges_equal_the_loop(runs):
    start = [s for s, _ in runs]
    count = [c for _, c in runs]
    expected = [i for s, c in runs for i in range(s, s + c)]
    got = ranges(np.array(start, dtype=np.int64), np.array(count, dtype=np.int64))
    assert got.tolist() == expected
    assert got.dtype == np.int64
