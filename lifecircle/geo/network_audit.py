"""What the walk rules kept and dropped, where, and how well the network hangs together.

:func:`audit_network` turns the ways a loader decided on (:func:`lifecircle.geo.ways.ways_frame`)
and the built :class:`~lifecircle.geo.network.WalkNetwork` into a plain dict for ``run.json``
(schema in docs/walk-model.md): kilometres kept and dropped per highway class, per zone (township)
and per rule, and the network's disconnected parts. Nothing here knows of facilities: the
pipeline adds the points far from any road from the snapping it did anyway.

Examples
--------
>>> import geopandas as gpd
>>> from shapely.geometry import LineString, box
>>> from lifecircle.geo.ways import ways_frame
>>> ways = ways_frame([1, 2], ["residential", "motorway"], ["", ""], ["", "highway_class"],
...                   [LineString([(118.0, 32.0), (118.01, 32.0)]),
...                    LineString([(118.0, 32.001), (118.01, 32.001)])])
>>> zones = gpd.GeoDataFrame({"code": ["1"], "name": ["A"]},
...                          geometry=[box(117.9, 31.9, 118.1, 32.1)], crs="EPSG:4326")
>>> audit = audit_ways(ways, zones)
>>> audit["by_class"][0]["highway"], round(audit["by_class"][0]["dropped_km"], 2)
('motorway', 0.94)
"""

from __future__ import annotations

from typing import Any

import geopandas as gpd
import numpy as np
import pandas as pd
import shapely

from lifecircle.geo.crs import metric_crs_for
from lifecircle.geo.network import WalkNetwork
from lifecircle.geo.walk_rules import RULES_EN, RULES_ZH

__all__ = ["audit_network", "audit_ways", "dropped_ways"]


def _km(values: pd.Series) -> float:
    return round(float(values.sum()) / 1000.0, 3)


def _by_rule(frame: pd.DataFrame) -> dict[str, float]:
    dropped = frame[~frame["kept"]]
    return {str(rule): _km(group["length_m"]) for rule, group in dropped.groupby("rule", sort=True)}


def _zone_lengths(ways: gpd.GeoDataFrame, zones: gpd.GeoDataFrame) -> pd.DataFrame:
    """Length (m) of each way inside each zone: ``way, zone, length_m`` (metric, planar)."""
    if ways.empty or zones.empty:
        return pd.DataFrame({"way": [], "zone": [], "length_m": []})
    bounds = zones.to_crs("EPSG:4326").total_bounds
    metric = metric_crs_for([(bounds[0] + bounds[2]) / 2], [(bounds[1] + bounds[3]) / 2])
    lines = ways.to_crs(metric).geometry.to_numpy()
    polys = zones.to_crs(metric).geometry.to_numpy()
    way_pos, zone_pos = shapely.STRtree(polys).query(lines, predicate="intersects")
    inside = shapely.length(lines[way_pos])
    # Only ways across a zone's boundary are cut (intersecting every pair was most of the cost).
    shapely.prepare(polys)
    across = ~shapely.contains_properly(polys[zone_pos], lines[way_pos])
    inside[across] = shapely.length(
        shapely.intersection(lines[way_pos[across]], polys[zone_pos[across]])
    )
    return pd.DataFrame({"way": way_pos, "zone": zone_pos, "length_m": inside})


def audit_ways(ways: gpd.GeoDataFrame, zones: gpd.GeoDataFrame) -> dict[str, Any]:
    """Kilometres kept and dropped per highway class, per zone and per rule.

    Parameters
    ----------
    ways
        :func:`lifecircle.geo.ways.ways_frame` (every way considered, with ``rule``, ``kept``,
        geodesic ``length_m``).
    zones
        Polygons with ``code`` and ``name`` (townships), any CRS.

    Returns
    -------
    dict
        ``kept_km``, ``dropped_km``, ``by_rule`` (rule -> ``{km, ways, zh, en}``), ``by_class``
        (list of ``{highway, kept_km, dropped_km, dropped_by}``, most dropped first) and
        ``by_township`` (list of ``{code, name, kept_km, dropped_km, dropped_by}`` in zone
        order; lengths inside the zone's polygon). Plain floats and strs: JSON as is.
    """
    ways = ways.reset_index(drop=True)
    by_rule = {}
    for rule, group in ways[~ways["kept"]].groupby("rule", sort=True):
        by_rule[str(rule)] = {
            "km": _km(group["length_m"]),
            "ways": len(group),
            "zh": RULES_ZH.get(str(rule), str(rule)),
            "en": RULES_EN.get(str(rule), str(rule)),
        }
    by_class = []
    for highway, group in ways.groupby("highway", sort=True):
        by_class.append(
            {
                "highway": str(highway) or "(none)",
                "kept_km": _km(group.loc[group["kept"], "length_m"]),
                "dropped_km": _km(group.loc[~group["kept"], "length_m"]),
                "dropped_by": _by_rule(group),
            }
        )
    by_class.sort(key=lambda row: (-row["dropped_km"], -row["kept_km"]))

    pieces = _zone_lengths(ways, zones)
    pieces["kept"] = ways["kept"].to_numpy()[pieces["way"].to_numpy(dtype=int)]
    pieces["rule"] = ways["rule"].to_numpy()[pieces["way"].to_numpy(dtype=int)]
    by_township = []
    for pos, zone in enumerate(zones.itertuples()):
        own = pieces[pieces["zone"] == pos]
        by_township.append(
            {
                "code": str(zone.code),
                "name": str(zone.name),
                "kept_km": _km(own.loc[own["kept"], "length_m"]),
                "dropped_km": _km(own.loc[~own["kept"], "length_m"]),
                "dropped_by": _by_rule(own),
            }
        )
    return {
        "kept_km": _km(ways.loc[ways["kept"], "length_m"]),
        "dropped_km": _km(ways.loc[~ways["kept"], "length_m"]),
        "by_rule": by_rule,
        "by_class": by_class,
        "by_township": by_township,
    }


def audit_components(network: WalkNetwork) -> dict[str, Any]:
    """The network's connected parts: count, the main part's share, edges cut off from it.

    Returns ``components``, ``main_component_nodes``, ``main_component_share`` (of nodes),
    ``other_components_km`` (edge length outside the main part) and ``other_component_sizes``
    (node counts, largest first, at most 20).
    """
    if network.n_nodes == 0:
        return {
            "components": 0,
            "main_component_nodes": 0,
            "main_component_share": 0.0,
            "other_components_km": 0.0,
            "other_component_sizes": [],
        }
    sizes = np.bincount(network.component)
    main = int(np.argmax(sizes))
    off_main = network.component[network.edge_u] != main
    others = np.sort(np.delete(sizes, main))[::-1]
    return {
        "components": int(sizes.size),
        "main_component_nodes": int(sizes[main]),
        "main_component_share": round(float(sizes[main] / network.n_nodes), 4),
        "other_components_km": round(float(network.edge_length_m[off_main].sum()) / 1000, 3),
        "other_component_sizes": [int(s) for s in others[:20]],
    }


def audit_network(
    ways: gpd.GeoDataFrame, zones: gpd.GeoDataFrame, network: WalkNetwork, *, rule_set: str
) -> dict[str, Any]:
    """:func:`audit_ways` and :func:`audit_components` together, with the rule set named."""
    return {
        "walk_rules": rule_set,
        **audit_ways(ways, zones),
        "connectivity": audit_components(network),
    }


def dropped_ways(ways: gpd.GeoDataFrame) -> gpd.GeoDataFrame:
    """The dropped ways with their rule and its meaning, for the ``dropped_ways`` GeoPackage layer
    and the maps: ``way_id, highway, name, rule, rule_zh, rule_en, length_m, geometry``."""
    dropped = ways[~ways["kept"]].copy()
    dropped["rule_zh"] = dropped["rule"].map(lambda r: RULES_ZH.get(r, r))
    dropped["rule_en"] = dropped["rule"].map(lambda r: RULES_EN.get(r, r))
    columns = ["way_id", "highway", "name", "rule", "rule_zh", "rule_en", "length_m", "geometry"]
    return gpd.GeoDataFrame(
        dropped[columns].reset_index(drop=True), geometry="geometry", crs="EPSG:4326"
    )
