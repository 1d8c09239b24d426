"""Zones of points: which township (and which unit) each point lies in, and population per zone.

Points are facilities or demand cells; zones are the township layer and the unit layers below it
(``layers.townships``, ``layers.units``). Frames come in any CRS and are compared in WGS-84.
"""

from __future__ import annotations

from collections.abc import Mapping

import geopandas as gpd
import pandas as pd

from lifecircle.geo.crs import frame_to_wgs84

__all__ = ["assign_zones", "join_zones", "with_population"]


def join_zones(
    points: gpd.GeoDataFrame, zones: gpd.GeoDataFrame, columns: Mapping[str, str]
) -> pd.DataFrame:
    """For each point, the listed columns of the zone containing it (missing where none does).

    Parameters
    ----------
    points, zones
        Points and polygons in the same CRS.
    columns
        Zone column -> output column name.

    Returns
    -------
    pandas.DataFrame
        On ``points.index``; a point in two overlapping zones takes the first zone listed.
    """
    joined = gpd.sjoin(
        points[["geometry"]], zones[[*columns, "geometry"]], how="left", predicate="within"
    )
    joined = joined[~joined.index.duplicated(keep="first")]
    return joined[list(columns)].rename(columns=dict(columns)).reindex(points.index)


def assign_zones(
    points: gpd.GeoDataFrame,
    townships: gpd.GeoDataFrame,
    *,
    units: Mapping[str, gpd.GeoDataFrame] | None = None,
) -> pd.DataFrame:
    """The township (code and kind) and the unit of every level that each point lies in.

    Parameters
    ----------
    points
        Point geometries in any CRS (reprojected to WGS-84).
    townships
        Township polygons with ``code`` and ``kind`` columns
        (:func:`lifecircle.layers.townships.read_townships`), any CRS.
    units
        Unit layers by level, each with a ``code`` column (e.g. ``{"village": villages}``).

    Returns
    -------
    pandas.DataFrame
        On ``points.index``: ``township_code``, ``kind`` and one ``unit_code__<level>`` per unit
        level; empty strings for points outside every zone.
    """
    points = frame_to_wgs84(points, "the points")
    townships = frame_to_wgs84(townships, "the township layer")
    columns = {"code": "township_code", "kind": "kind"}
    if "kind" not in townships:
        columns.pop("kind")
    out = join_zones(points, townships, columns).fillna("")
    if "kind" not in out:
        out["kind"] = ""
    for level, frame in (units or {}).items():
        key = f"unit_code__{level}"
        out[key] = join_zones(points, frame_to_wgs84(frame, f"the {level} layer"), {"code": key})[
            key
        ].fillna("")
    return out


def with_population(zones: gpd.GeoDataFrame, demand: pd.DataFrame, key: str) -> gpd.GeoDataFrame:
    """A copy of ``zones`` with ``pop`` and ``pop60`` summed from the demand cells.

    ``key`` is the demand column holding each cell's zone code (``township_code`` or
    ``unit_code__<level>``); zones without cells get 0.
    """
    totals = demand.groupby(key)[["pop", "pop60"]].sum()
    zones = zones.copy()
    zones["pop"] = zones["code"].map(totals["pop"]).fillna(0.0)
    zones["pop60"] = zones["code"].map(totals["pop60"]).fillna(0.0)
    return zones
