"""Array idioms shared by the network, coverage and map code."""

from __future__ import annotations

import numpy as np
import shapely
from numpy.typing import ArrayLike, NDArray

__all__ = ["centres", "ranges"]


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


def centres(geoms: ArrayLike) -> tuple[NDArray[np.float64], NDArray[np.float64]]:
    """x, y of each geometry's centre: a point itself, another shape its centroid; nan for a
    missing or empty one. (GEOS's centroid of a point costs as much as of a polygon, and a
    county's cells are hundreds of thousands of points.)

    >>> x, y = centres([shapely.Point(1, 2), shapely.box(0, 0, 2, 2), None])
    >>> x.tolist(), y.tolist()
    ([1.0, 1.0, nan], [2.0, 1.0, nan])
    """
    geoms = np.asarray(geoms, dtype=object)
    x = np.full(geoms.size, np.nan)
    y = np.full(geoms.size, np.nan)
    present = np.flatnonzero(~(shapely.is_missing(geoms) | shapely.is_empty(geoms)))
    shapes = geoms[present]
    is_point = shapely.get_type_id(shapes) == shapely.GeometryType.POINT
    shapes[~is_point] = shapely.centroid(shapes[~is_point])
    xy = shapely.get_coordinates(shapes)
    x[present], y[present] = xy[:, 0], xy[:, 1]
    return x, y
