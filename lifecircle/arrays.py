"""Array idioms shared by the network and coverage code."""

from __future__ import annotations

import numpy as np
from numpy.typing import ArrayLike, NDArray

__all__ = ["ranges"]


def ranges(start: ArrayLike, count: ArrayLike) -> NDArray[np.int64]:
    """The runs ``start[i], start[i] + 1, ..., start[i] + count[i] - 1``, one after another.

    The loop-free ``concatenate([arange(s, s + c) for s, c in zip(start, count)])``: expanding
    CSR rows, vertex runs of edges or rings, and (with ``start`` zero) each item's rank in its run.

    >>> ranges([5, 0, 9], [2, 3, 0]).tolist()
    [5, 6, 0, 1, 2]
    """
    start = np.asarray(start, dtype=np.int64)
    count = np.asarray(count, dtype=np.int64)
    offset = np.cumsum(count) - count
    return np.arange(int(count.sum()), dtype=np.int64) + np.repeat(start - offset, count)
