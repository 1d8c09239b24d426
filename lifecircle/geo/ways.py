"""The audit's table of the ways a network loader decided on, and great-circle lengths.

Every loader of :mod:`lifecircle.geo.osm` (and the OSM XML reader, :mod:`lifecircle.geo.osm_xml`)
reports each way it considered, kept or dropped by the walk rules, as a :func:`ways_frame`;
:mod:`lifecircle.geo.network_audit` sums it per highway class, township and rule.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

import geopandas as gpd
import numpy as np
import shapely
from shapely.geometry.base import BaseGeometry

from lifecircle.geo.walk_rules import tag_text

__all__ = ["WAYS_COLUMNS", "as_way_id", "geodesic_length_m", "great_circle_m", "ways_frame"]


def as_way_id(value: Any) -> int | None:
    try:
        return int(value)
    except (TypeError, ValueError):
        return None


WAYS_COLUMNS = ["way_id", "highway", "name", "rule", "kept", "length_m", "geometry"]


def ways_frame(
    way_id: Iterable[Any],
    highway: Iterable[Any],
    name: Iterable[Any],
    rule: Iterable[str],
    geometry: Iterable[BaseGeometry],
) -> gpd.GeoDataFrame:
    """The audit's table of ways: one row per way (or line) considered, kept or dropped.

    Columns ``way_id`` (str), ``highway``, ``name``, ``rule`` ('' when kept), ``kept``,
    ``length_m`` (geodesic) and ``geometry`` (WGS-84 lines).
    """
    geoms = np.asarray(list(geometry), dtype=object)
    rules = np.asarray(list(rule), dtype=object)
    frame = gpd.GeoDataFrame(
        {
            "way_id": [str(w) for w in way_id],
            "highway": [tag_text({"h": h}, "h") for h in highway],
            "name": [
                ""
                if n is None or (isinstance(n, float) and np.isnan(n))
                else (";".join(map(str, n)) if isinstance(n, list) else str(n))
                for n in name
            ],
            "rule": rules,
            "kept": rules == "",
        },
        geometry=gpd.GeoSeries(geoms, crs="EPSG:4326"),
        crs="EPSG:4326",
    )
    frame["length_m"] = geodesic_length_m(geoms)
    return frame[WAYS_COLUMNS]


def geodesic_length_m(geoms: np.ndarray) -> np.ndarray:
    """Great-circle length in metres of WGS-84 lines (0 for missing ones)."""
    length = np.zeros(len(geoms))
    if len(geoms) == 0:
        return length
    coords, owner = shapely.get_coordinates(geoms, return_index=True)
    if len(coords) < 2:
        return length
    same = owner[1:] == owner[:-1]
    step = great_circle_m(coords[:-1, 1], coords[:-1, 0], coords[1:, 1], coords[1:, 0])
    np.add.at(length, owner[1:][same], step[same])
    return length


_EARTH_RADIUS_M = 6_371_009.0  # as osmnx.distance.great_circle


def great_circle_m(
    lat1: np.ndarray, lon1: np.ndarray, lat2: np.ndarray, lon2: np.ndarray
) -> np.ndarray:
    """Haversine distance in metres, the formula of ``osmnx.distance.great_circle``."""
    y1, y2 = np.deg2rad(lat1), np.deg2rad(lat2)
    dx = np.deg2rad(lon2 - lon1)
    h = np.sin((y2 - y1) / 2) ** 2 + np.cos(y1) * np.cos(y2) * np.sin(dx / 2) ** 2
    return 2 * np.arcsin(np.sqrt(np.minimum(1.0, h))) * _EARTH_RADIUS_M
