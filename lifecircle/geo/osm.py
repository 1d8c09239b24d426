"""Load a walking network as an osmnx-style ``networkx.MultiDiGraph`` in WGS-84.

Sources, chosen from :class:`NetworkSpec`:

* local OSM XML (``.osm``, ``.osm.bz2``, ``.osm.gz``, ``.xml``), read by
  :mod:`lifecircle.geo.osm_xml` (the walkable ways only, see :func:`is_walkable`; as osmnx's
  ``graph_from_xml`` and ``simplify_graph`` would give them); :func:`load_walk_arrays_and_ways`
  gives it as arrays without building a graph;
* ``.osm.pbf`` read with pyrosm's ``walking`` network;
* GraphML written by osmnx (:func:`osmnx.load_graphml`);
* road centre lines in any vector format (GeoJSON, GeoPackage, Shapefile, …): topology is built
  here (lines split where they share a vertex, where one ends on another, and where two cross on the
  ground; bridges, tunnels and ``layer`` ways are not noded where they merely cross);
* online through osmnx (``place``, ``polygon`` or ``bbox``), cached as GraphML under
  ``cache_dir`` so the second run needs no internet.

Every graph returned has node ``x``/``y`` in longitude/latitude, edge ``length`` in metres and
``geometry`` where osmnx gives it (simplified edges), both directions of every walkable way.

Examples
--------
>>> from lifecircle.geo.osm import NetworkSpec, load_walk_graph
>>> G = load_walk_graph(NetworkSpec(path="tests/fixtures/osm/shu_shanghai_baoshan.osm"))
>>> len(G) > 100
True
"""

from __future__ import annotations

import hashlib
import json
import logging
import os
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import geopandas as gpd
import networkx as nx
import numpy as np
import pandas as pd
import shapely
from numpy.typing import ArrayLike
from scipy.sparse import coo_matrix
from scipy.sparse.csgraph import connected_components
from shapely.geometry.base import BaseGeometry

from lifecircle.errors import NetworkError
from lifecircle.geo.crs import metric_crs_for
from lifecircle.geo.network import LonLatNetwork
from lifecircle.geo.osm_xml import read_xml, xml_graph, xml_network
from lifecircle.geo.walk_rules import RULE_SETS, RULE_TAGS, WalkRules, read_overrides
from lifecircle.geo.ways import as_way_id, ways_frame

logger = logging.getLogger(__name__)

XML_SUFFIXES = (".osm", ".osm.bz2", ".osm.gz", ".xml")
PBF_SUFFIXES = (".osm.pbf", ".pbf")
GRAPHML_SUFFIXES = (".graphml",)
VECTOR_SUFFIXES = (".geojson", ".json", ".gpkg", ".shp", ".fgb", ".gml", ".kml", ".zip")
SUPPORTED_SUFFIXES = XML_SUFFIXES + PBF_SUFFIXES + GRAPHML_SUFFIXES + VECTOR_SUFFIXES

_FILTER_TAGS = RULE_TAGS
# The Overpass filter of online downloads under the "china" rules: osmnx's walk filter without its
# cycleway exclusion (the rules decide the rest once the tags are in).
CHINA_DOWNLOAD_FILTER = (
    '["highway"]["area"!~"yes"]["access"!~"private"]'
    '["highway"!~"abandoned|bus_guideway|construction|motor|no|planned|platform|proposed|raceway|'
    'razed|rest_area|services"]["foot"!~"no"]["service"!~"private"]'
)

# Endpoints closer than this (metres) are the same node when building topology from lines.
NODE_TOLERANCE_M = 0.1


@dataclass(frozen=True)
class NetworkSpec:
    """Where the walking network comes from (``[inputs.network]`` in the plan file).

    Attributes
    ----------
    path
        A local file: OSM XML (``.osm``, ``.osm.bz2``), ``.osm.pbf``, ``.graphml`` or road lines in
        a vector format. With ``polygon`` or ``bbox`` too, the graph is clipped to that area.
    place
        A place name for osmnx's geocoder, e.g. ``"海陵区, 泰州市, 江苏省"`` (needs internet once).
    bbox
        ``(west, south, east, north)`` in degrees, for an online download (or clipping).
    polygon
        A vector file path or a shapely (Multi)Polygon in WGS-84, for an online download (or
        clipping).
    cache_dir
        Folder for the downloaded graphs (GraphML) and osmnx's HTTP cache; default
        ``$XDG_CACHE_HOME/lifecircle`` (``~/.cache/lifecircle``).
    layer
        Layer name inside a multi-layer vector file (GeoPackage).
    network_type
        osmnx network type for online downloads; ``"walk"`` for walking.
    walk_rules
        ``"china"`` (default) or ``"osmnx"``: which ways are walkable
        (:mod:`lifecircle.geo.walk_rules`, docs/walk-model.md).
    include_highways, exclude_highways
        Highway values kept or dropped whatever the rule set says.
    overrides
        CSV of OSM way ids to include or exclude (``way_id, action, note``).
    buffer_m
        How far beyond the study area an online download reaches (metres); ``None``: the
        pipeline uses the longest threshold's walking distance.
    """

    path: Path | str | None = None
    place: str | None = None
    bbox: tuple[float, float, float, float] | None = None
    polygon: Path | str | BaseGeometry | None = None
    cache_dir: Path | str | None = None
    layer: str | None = None
    network_type: str = "walk"
    walk_rules: str = "china"
    include_highways: tuple[str, ...] = ()
    exclude_highways: tuple[str, ...] = ()
    overrides: Path | str | None = None
    buffer_m: float | None = None

    def __post_init__(self) -> None:
        if self.walk_rules not in RULE_SETS:
            raise NetworkError(
                f"[inputs.network].walk_rules must be one of {', '.join(RULE_SETS)}, got "
                f"{self.walk_rules!r}"
            )
        for key in ("include_highways", "exclude_highways"):
            value = getattr(self, key)
            if isinstance(value, str) or not all(isinstance(v, str) for v in value):
                raise NetworkError(
                    f"[inputs.network].{key} must be a list of highway values, "
                    f'e.g. ["trunk", "cycleway"]; got {value!r}'
                )
            object.__setattr__(self, key, tuple(v.strip().lower() for v in value))

    def rules(self) -> WalkRules:
        """The walk rules this spec names, with its override file read."""
        return WalkRules(
            rule_set=self.walk_rules,
            include_highways=self.include_highways,
            exclude_highways=self.exclude_highways,
            overrides=read_overrides(self.overrides) if self.overrides else {},
        )


# ---------------------------------------------------------------------------------------------
# walking filter


def is_walkable(tags: Mapping[str, Any], rules: WalkRules | None = None) -> bool:
    """Whether a way with these OSM tags belongs in the walking network.

    ``rules`` defaults to the ``"china"`` rule set (see :mod:`lifecircle.geo.walk_rules`).

    >>> is_walkable({"highway": "residential"}), is_walkable({"highway": "motorway"})
    (True, False)
    >>> is_walkable({"highway": "path", "foot": "no"})
    False
    """
    return not (rules or WalkRules()).decide(None, tags)


def _walk_rule_codes(
    frame: pd.DataFrame,
    rules: WalkRules,
    way_ids: Iterable[Any] | None = None,
) -> np.ndarray:
    """Rule code per row of a table of tags ('' where walkable; absent columns are untagged)."""
    present = [c for c in _FILTER_TAGS if c in frame.columns]
    records = frame[present].to_dict("records")
    ids = [as_way_id(w) for w in way_ids] if way_ids is not None else [None] * len(records)
    return rules.decide_all(ids, records)


# ---------------------------------------------------------------------------------------------
# graph summaries


def _component_labels(G: nx.MultiDiGraph) -> tuple[np.ndarray, int]:
    nodes = pd.Index(list(G.nodes))
    if len(G.edges):
        u, v = np.array([(a, b) for a, b, _ in G.edges(keys=True)], dtype=object).T
        rows = nodes.get_indexer(u)
        cols = nodes.get_indexer(v)
    else:
        rows = cols = np.empty(0, dtype=np.int64)
    adjacency = coo_matrix((np.ones(len(rows)), (rows, cols)), shape=(len(nodes), len(nodes)))
    count, labels = connected_components(adjacency, directed=True, connection="weak")
    return labels, int(count)


def describe_components(G: nx.MultiDiGraph) -> dict[str, Any]:
    """Sizes of the network's weakly connected parts, for the run report.

    Returns
    -------
    dict
        ``components`` (number of parts), ``main_component_nodes`` (nodes in the largest part)
        and ``other_components`` (node counts of the other parts, largest first). All plain ints,
        so the dict goes into ``run.json`` as is.

    >>> G = nx.MultiDiGraph()
    >>> G.add_edges_from([(1, 2), (2, 3), (7, 8)])
    [0, 0, 0]
    >>> describe_components(G)
    {'components': 2, 'main_component_nodes': 3, 'other_components': [2]}
    """
    if len(G) == 0:
        return {"components": 0, "main_component_nodes": 0, "other_components": []}
    labels, count = _component_labels(G)
    sizes = np.sort(np.bincount(labels, minlength=count))[::-1]
    return {
        "components": count,
        "main_component_nodes": int(sizes[0]),
        "other_components": [int(s) for s in sizes[1:]],
    }


def townships_without_roads(
    polygons: gpd.GeoSeries | Iterable[BaseGeometry], node_lon: ArrayLike, node_lat: ArrayLike
) -> list[int]:
    """Positions of the polygons that contain no network node (boundary counts as inside).

    Parameters
    ----------
    polygons
        Polygons in WGS-84 (e.g. township boundaries); missing or empty ones count as roadless.
    node_lon, node_lat
        Network node coordinates in degrees.

    Returns
    -------
    list of int
        0-based positions (not index labels) of the polygons without any node, in order.

    >>> from shapely.geometry import box
    >>> townships_without_roads([box(0, 0, 1, 1), box(5, 5, 6, 6)], [0.5], [0.5])
    [1]
    """
    geoms = np.asarray(list(polygons), dtype=object)
    if len(geoms) == 0:
        return []
    points = shapely.points(np.asarray(node_lon, dtype=float), np.asarray(node_lat, dtype=float))
    has_node = np.zeros(len(geoms), dtype=bool)
    valid = np.array([g is not None and not shapely.is_empty(g) for g in geoms], dtype=bool)
    if points.size and valid.any():
        tree = shapely.STRtree(points)
        poly_pos, _ = tree.query(geoms[valid], predicate="intersects")
        has_node[np.flatnonzero(valid)[np.unique(poly_pos)]] = True
    return [int(i) for i in np.flatnonzero(~has_node)]


def _log_summary(source: str, n_nodes: int, n_edges: int) -> None:
    # Connected parts are counted once, on the compact network (WalkNetwork.describe_components).
    logger.info("walk network from %s: %d nodes, %d edges", source, n_nodes, n_edges)


# ---------------------------------------------------------------------------------------------
# local files


def _suffix(path: Path) -> str:
    name = path.name.lower()
    for suffix in sorted(SUPPORTED_SUFFIXES, key=len, reverse=True):
        if name.endswith(suffix):
            return suffix
    return path.suffix.lower()


def _load_pbf(path: Path, rules: WalkRules) -> tuple[nx.MultiDiGraph, gpd.GeoDataFrame]:
    from pyrosm import OSM

    try:
        osm = OSM(str(path))
        nodes, edges = osm.get_network(network_type="walking", nodes=True)
    except Exception as exc:  # pyrosm raises plain exceptions for corrupt files
        raise NetworkError(
            f"{path}: cannot read as OSM PBF ({type(exc).__name__}: {exc}); check the download, "
            "or give an .osm XML or .graphml file"
        ) from exc
    if edges is None or len(edges) == 0:
        return nx.MultiDiGraph(crs="EPSG:4326"), ways_frame([], [], [], [], [])
    # pyrosm's "walking" filter keeps trunk roads and sidewalk=separate roads: apply ours too
    codes = _walk_rule_codes(_pyrosm_tags(edges), rules, edges["id"] if "id" in edges else None)
    audit = ways_frame(
        edges["id"] if "id" in edges else edges.index,
        edges["highway"],
        edges["name"] if "name" in edges else [None] * len(edges),
        codes,
        edges.geometry,
    )
    keep = codes == ""
    if (~keep).any():
        logger.info(
            "%s: dropped %d of %d way segments not open to walking",
            path.name,
            int((~keep).sum()),
            len(edges),
        )
        edges = edges[keep]
    if len(edges) == 0:
        return nx.MultiDiGraph(crs="EPSG:4326"), audit
    G = osm.to_graph(nodes, edges, graph_type="networkx", retain_all=True, force_bidirectional=True)
    # pyrosm adds node Point geometries and raw tag dicts that osmnx's GraphML writer cannot keep.
    for _, data in G.nodes(data=True):
        data.pop("geometry", None)
        data.pop("tags", None)
    for _, _, data in G.edges(data=True):
        data.pop("tags", None)
        # osmnx's GraphML reader parses these as booleans; walking ignores one-way rules
        data["oneway"] = False
        data["reversed"] = bool(data.get("reversed", False) in (True, "True", "true", 1))
    G.remove_nodes_from([n for n, degree in G.degree() if degree == 0])
    G.graph["crs"] = "EPSG:4326"
    return G, audit


def _pyrosm_tags(edges: pd.DataFrame) -> pd.DataFrame:
    """The filter's tags of pyrosm edges: its columns, completed from its JSON ``tags`` column."""
    table = pd.DataFrame(index=edges.index)
    extra = edges["tags"] if "tags" in edges.columns else pd.Series(None, index=edges.index)
    parsed = [
        json.loads(t) if isinstance(t, str) and t else (t if isinstance(t, dict) else {})
        for t in extra
    ]
    for key in _FILTER_TAGS:
        from_json = pd.Series([d.get(key) for d in parsed], index=edges.index, dtype=object)
        table[key] = (
            edges[key].where(edges[key].notna(), from_json) if key in edges.columns else from_json
        )
    return table


def _load_graphml(path: Path) -> nx.MultiDiGraph:
    import osmnx as ox

    try:
        G = ox.load_graphml(path)
    except Exception as exc:  # malformed XML or missing osmnx attributes
        raise NetworkError(
            f"{path}: cannot read as an osmnx GraphML ({type(exc).__name__}: {exc}); save it with "
            "osmnx.save_graphml"
        ) from exc
    crs = G.graph.get("crs")
    if crs is not None and len(G):
        import pyproj

        if not pyproj.CRS.from_user_input(crs).equals(pyproj.CRS.from_epsg(4326)):
            logger.info("%s: projecting the graph from %s to EPSG:4326", path.name, crs)
            G = ox.project_graph(G, to_latlong=True)
    if G.number_of_edges() and any("length" not in d for _, _, d in G.edges(data=True)):
        G = ox.distance.add_edge_lengths(G)
    return G


def _filter_graph(G: nx.MultiDiGraph, rules: WalkRules) -> tuple[nx.MultiDiGraph, gpd.GeoDataFrame]:
    """Apply the walk rules to a loaded graph's edges (GraphML, downloads) and list its ways.

    Only the tags the graph carries can be read (osmnx keeps ``highway``, ``access``, ``bridge``,
    ``tunnel``, ``name``, ``service``, ``area``, and ``foot``/``sidewalk``/``motorroad`` when
    downloaded by lifecircle); edges without a ``highway`` attribute are kept.
    """
    seen: set[tuple[Any, Any, Any]] = set()
    keys, records, ids = [], [], []
    for u, v, k, data in G.edges(keys=True, data=True):
        keys.append((u, v, k))
        records.append({t: data.get(t) for t in _FILTER_TAGS if t in data})
        osmid = data.get("osmid")
        ids.append(osmid[0] if isinstance(osmid, list) and len(osmid) == 1 else osmid)
    codes = np.array(
        [
            rules.decide(as_way_id(w), r) if "highway" in r else ""
            for w, r in zip(ids, records, strict=True)
        ],
        dtype=object,
    )
    lines, picked = [], []
    for i, (u, v, k) in enumerate(keys):
        pair = (min(u, v, key=str), max(u, v, key=str), k)
        if pair in seen:
            continue
        seen.add(pair)
        data = G.edges[u, v, k]
        geom = data.get("geometry") or shapely.LineString(
            [(G.nodes[u]["x"], G.nodes[u]["y"]), (G.nodes[v]["x"], G.nodes[v]["y"])]
        )
        lines.append(geom)
        picked.append(i)
    audit = ways_frame(
        [ids[i] for i in picked],
        [records[i].get("highway") for i in picked],
        [records[i].get("name") for i in picked],
        codes[picked],
        lines,
    )
    drop = [keys[i] for i in np.flatnonzero(codes != "")]
    if drop:
        G = G.copy()
        G.remove_edges_from(drop)
        G.remove_nodes_from([n for n, degree in G.degree() if degree == 0])
        logger.info("walk rules (%s) dropped %d of %d edges", rules.rule_set, len(drop), len(keys))
    return G, audit


def _is_flagged(values: pd.Series) -> np.ndarray:
    """True where a bridge/tunnel style tag says yes (anything but no/false/0/empty)."""
    text = values.astype("string").str.strip().str.lower().fillna("")
    return ~text.isin(["", "no", "false", "0", "none", "nan"]).to_numpy()


def _grade_separated(frame: pd.DataFrame) -> np.ndarray:
    flag = np.zeros(len(frame), dtype=bool)
    for column in ("bridge", "tunnel"):
        if column in frame.columns:
            flag |= _is_flagged(frame[column])
    if "layer" in frame.columns:
        layer = pd.to_numeric(frame["layer"], errors="coerce").fillna(0).to_numpy()
        flag |= layer != 0
    return flag


def _node_keys(coords: np.ndarray) -> np.ndarray:
    """Integer grid keys of metric coordinates, at :data:`NODE_TOLERANCE_M`."""
    grid = np.round(coords / NODE_TOLERANCE_M).astype(np.int64)
    return grid[:, 0] * np.int64(1 << 31) + grid[:, 1]


def _split_points(lines: np.ndarray, grade_separated: np.ndarray) -> np.ndarray:
    """Coordinates (metric, rounded) where lines must be split: ends, shared vertices, crossings."""
    coords, owner = shapely.get_coordinates(lines, return_index=True)
    keys = _node_keys(coords)
    # a vertex used by two different lines is a junction
    pairs = np.unique(np.stack([keys, owner]), axis=1)
    key_values, line_counts = np.unique(pairs[0], return_counts=True)
    shared = np.isin(keys, key_values[line_counts >= 2])
    ends = np.zeros(len(coords), dtype=bool)
    starts = np.r_[0, np.flatnonzero(np.diff(owner)) + 1]
    ends[starts] = True
    ends[np.r_[starts[1:] - 1, len(coords) - 1]] = True
    points = [coords[shared | ends]]
    # crossings between lines on the ground (bridges and tunnels only meet at shared vertices)
    ground = np.flatnonzero(~grade_separated)
    if len(ground) > 1:
        tree = shapely.STRtree(lines[ground])
        left, right = tree.query(lines[ground], predicate="intersects")
        keep = left < right
        hits = shapely.intersection(lines[ground][left[keep]], lines[ground][right[keep]])
        parts = shapely.get_parts(hits)
        parts = parts[~shapely.is_empty(parts)]
        # overlapping stretches come back as lines: their ends are junctions too
        points.append(shapely.get_coordinates(parts))
    split = np.concatenate(points)
    split = np.round(split / NODE_TOLERANCE_M) * NODE_TOLERANCE_M
    return np.unique(split, axis=0)


def _cut_line(coords: np.ndarray, cut_at: np.ndarray, cut_xy: np.ndarray) -> list[np.ndarray]:
    """Cut one line (vertex array) at distances ``cut_at`` along it, ending pieces on ``cut_xy``."""
    seg = np.hypot(*np.diff(coords, axis=0).T)
    along = np.r_[0.0, np.cumsum(seg)]
    # the line's own ends always cut (a ring's end projects to 0, so add it explicitly)
    cut_at = np.r_[0.0, cut_at, along[-1]]
    cut_xy = np.vstack(
        [
            np.round(coords[:1] / NODE_TOLERANCE_M) * NODE_TOLERANCE_M,
            cut_xy,
            np.round(coords[-1:] / NODE_TOLERANCE_M) * NODE_TOLERANCE_M,
        ]
    )
    order = np.argsort(cut_at, kind="stable")
    cut_at, cut_xy = cut_at[order], cut_xy[order]
    pieces = []
    for i in range(len(cut_at) - 1):
        a, b = cut_at[i], cut_at[i + 1]
        if b - a < NODE_TOLERANCE_M:
            continue
        inner = coords[(along > a + 1e-9) & (along < b - 1e-9)]
        pieces.append(np.vstack([cut_xy[i], inner, cut_xy[i + 1]]))
    return pieces


def _graph_from_lines(
    frame: gpd.GeoDataFrame,
    source: str,
    rules: WalkRules | None = None,
) -> tuple[nx.MultiDiGraph, gpd.GeoDataFrame]:
    """Node road lines into a MultiDiGraph (both directions), in WGS-84, and the audit's ways."""
    frame = frame[frame.geometry.notna() & ~frame.geometry.is_empty]
    frame = frame.explode(index_parts=False, ignore_index=True)
    is_line = frame.geom_type.isin(["LineString", "LinearRing"]).to_numpy()
    if (~is_line).any():
        logger.warning("%s: ignored %d non-line feature(s)", source, int((~is_line).sum()))
    frame = frame[is_line].reset_index(drop=True)
    id_column = next((c for c in ("osmid", "osm_id", "way_id", "id") if c in frame.columns), None)
    ids = frame[id_column] if id_column else pd.Series(frame.index, index=frame.index)
    codes = np.full(len(frame), "", dtype=object)
    if "highway" in frame.columns:
        codes = _walk_rule_codes(frame, rules or WalkRules(), ids)
        if (codes != "").any():
            logger.info(
                "%s: dropped %d line(s) not open to walking (highway/foot/access tags)",
                source,
                int((codes != "").sum()),
            )
    audit = ways_frame(
        ids,
        frame["highway"] if "highway" in frame else [None] * len(frame),
        frame["name"] if "name" in frame else [None] * len(frame),
        codes,
        frame.geometry.to_crs("EPSG:4326"),
    )
    frame = frame[codes == ""].reset_index(drop=True)
    if len(frame) == 0:
        return nx.MultiDiGraph(crs="EPSG:4326"), audit

    wgs = frame.to_crs("EPSG:4326")
    bounds = wgs.total_bounds
    metric = metric_crs_for([(bounds[0] + bounds[2]) / 2], [(bounds[1] + bounds[3]) / 2])
    lines = shapely.set_precision(wgs.to_crs(metric).geometry.to_numpy(), NODE_TOLERANCE_M)
    lines = lines.astype(object)
    keep = ~shapely.is_empty(lines) & (shapely.length(lines) > 0)
    lines, frame = lines[keep], frame[keep].reset_index(drop=True)
    grade_separated = _grade_separated(frame)

    split_xy = _split_points(lines, grade_separated)
    split_pts = shapely.points(split_xy)
    tree = shapely.STRtree(split_pts)
    line_pos, point_pos = tree.query(lines, predicate="dwithin", distance=NODE_TOLERANCE_M)
    # A bridge or tunnel is cut only at its own vertices (ends, shared nodes): a point merely
    # under it, such as the crossing of two streets beneath an overpass, does not connect to it.
    elevated = grade_separated[line_pos]
    if elevated.any():
        coords, owner = shapely.get_coordinates(lines[grade_separated], return_index=True)
        own = set(
            zip(
                np.flatnonzero(grade_separated)[owner].tolist(),
                _node_keys(coords).tolist(),
                strict=True,
            )
        )
        split_keys = _node_keys(split_xy)
        on_vertex = np.array(
            [
                (line, key) in own
                for line, key in zip(
                    line_pos[elevated].tolist(),
                    split_keys[point_pos[elevated]].tolist(),
                    strict=True,
                )
            ],
            dtype=bool,
        )
        keep_pair = np.ones(len(line_pos), dtype=bool)
        keep_pair[np.flatnonzero(elevated)[~on_vertex]] = False
        line_pos, point_pos = line_pos[keep_pair], point_pos[keep_pair]
    along = shapely.line_locate_point(lines[line_pos], split_pts[point_pos])
    order = np.argsort(line_pos, kind="stable")
    line_pos, point_pos, along = line_pos[order], point_pos[order], along[order]
    bounds_idx = np.searchsorted(line_pos, np.arange(len(lines) + 1))

    attr_columns = [
        c
        for c in ("osmid", "id", "name", "highway", "bridge", "tunnel", "layer")
        if c in frame.columns
    ]
    attrs = frame[attr_columns].to_dict("records")
    pieces: list[np.ndarray] = []
    piece_line: list[int] = []
    for i, line in enumerate(lines):
        lo, hi = bounds_idx[i], bounds_idx[i + 1]
        coords = shapely.get_coordinates(line)
        cut = _cut_line(coords, along[lo:hi], split_xy[point_pos[lo:hi]])
        pieces.extend(cut)
        piece_line.extend([i] * len(cut))
    if not pieces:
        return nx.MultiDiGraph(crs="EPSG:4326"), audit

    first = np.array([p[0] for p in pieces])
    last = np.array([p[-1] for p in pieces])
    keys, node_of = np.unique(_node_keys(np.vstack([first, last])), return_inverse=True)
    node_xy = np.zeros((len(keys), 2))
    node_xy[node_of] = np.vstack([first, last])
    u, v = node_of[: len(pieces)], node_of[len(pieces) :]
    piece_index = np.repeat(np.arange(len(pieces)), [len(p) for p in pieces])
    geoms_m = shapely.linestrings(np.concatenate(pieces), indices=piece_index)
    length_m = shapely.length(geoms_m)
    geoms = gpd.GeoSeries(geoms_m, crs=metric).to_crs("EPSG:4326").to_numpy()
    node_ll = gpd.GeoSeries(shapely.points(node_xy), crs=metric).to_crs("EPSG:4326")

    G = nx.MultiDiGraph(crs="EPSG:4326", created_with=f"lifecircle from {source}")
    G.add_nodes_from(
        (i, {"x": float(x), "y": float(y)})
        for i, (x, y) in enumerate(zip(node_ll.x, node_ll.y, strict=True))
    )
    reversed_geoms = shapely.reverse(geoms)
    G.add_edges_from(
        (int(a), int(b), {**attrs[piece_line[j]], "length": float(length_m[j]), "geometry": g})
        for j, (a, b, g) in enumerate(zip(u, v, geoms, strict=True))
    )
    G.add_edges_from(
        (int(b), int(a), {**attrs[piece_line[j]], "length": float(length_m[j]), "geometry": g})
        for j, (a, b, g) in enumerate(zip(u, v, reversed_geoms, strict=True))
    )
    return G, audit


def _load_vector(
    path: Path,
    layer: str | None,
    rules: WalkRules,
) -> tuple[nx.MultiDiGraph, gpd.GeoDataFrame]:
    try:
        frame = gpd.read_file(path, layer=layer)
    except Exception as exc:  # pyogrio raises DataSourceError and friends
        raise NetworkError(
            f"{path}: cannot read as a vector file ({type(exc).__name__}: {exc})"
            + (
                "; for a GeoPackage with several layers give [inputs.network].layer"
                if layer is None
                else f"; check that layer {layer!r} exists"
            )
        ) from exc
    if frame.crs is None:
        bounds = frame.total_bounds if len(frame) else np.zeros(4)
        if np.all(np.abs(bounds[[0, 2]]) <= 180) and np.all(np.abs(bounds[[1, 3]]) <= 90):
            logger.warning(
                "%s has no coordinate system; assuming WGS-84 longitude/latitude", path.name
            )
            frame = frame.set_crs("EPSG:4326")
        else:
            raise NetworkError(
                f"{path}: the road lines have no coordinate system and are not longitude/latitude "
                "— save the file with its CRS (e.g. a .prj next to the .shp)"
            )
    return _graph_from_lines(frame, path.name, rules)


def _load_file(
    path: Path,
    layer: str | None,
    rules: WalkRules,
) -> tuple[nx.MultiDiGraph, gpd.GeoDataFrame]:
    if not path.exists():
        raise NetworkError(
            f"network file {path} does not exist — check [inputs.network].path (relative paths are "
            "read from the plan file's folder)"
        )
    suffix = _suffix(path)
    if suffix in XML_SUFFIXES:
        walk, ways = read_xml(path, rules)
        return xml_graph(walk, path.name), ways
    if suffix in PBF_SUFFIXES:
        return _load_pbf(path, rules)
    if suffix in GRAPHML_SUFFIXES:
        return _filter_graph(_load_graphml(path), rules)
    if suffix in VECTOR_SUFFIXES:
        return _load_vector(path, layer, rules)
    raise NetworkError(
        f"network file {path}: unknown file type {suffix!r}; supported: "
        f"{', '.join(SUPPORTED_SUFFIXES)} (OSM XML, OSM PBF, osmnx GraphML, road lines)"
    )


# ---------------------------------------------------------------------------------------------
# online with cache


def default_cache_dir() -> Path:
    """``$XDG_CACHE_HOME/lifecircle``, or ``~/.cache/lifecircle``."""
    base = os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache"
    return Path(base) / "lifecircle"


def _polygon_of(polygon: Path | str | BaseGeometry) -> BaseGeometry:
    if isinstance(polygon, BaseGeometry):
        return polygon
    path = Path(polygon)
    if not path.exists():
        raise NetworkError(f"[inputs.network].polygon names {path}, which does not exist")
    frame = gpd.read_file(path)
    if frame.crs is None:
        frame = frame.set_crs("EPSG:4326")
    shape = frame.to_crs("EPSG:4326").geometry.union_all()
    if shape.is_empty or shape.geom_type not in ("Polygon", "MultiPolygon"):
        raise NetworkError(
            f"{path}: needs polygon features to fetch the network inside, found {shape.geom_type}"
        )
    return shape


def _query(spec: NetworkSpec) -> dict[str, Any]:
    """The online query as plain data (its hash keys the cache)."""
    extra: dict[str, Any] = {}
    if spec.buffer_m:
        extra["buffer_m"] = round(float(spec.buffer_m), 1)
    if spec.walk_rules != "osmnx":
        extra["download_filter"] = CHINA_DOWNLOAD_FILTER
    if spec.place:
        return {"place": spec.place, "network_type": spec.network_type, **extra}
    if spec.polygon is not None:
        wkt = shapely.to_wkt(_polygon_of(spec.polygon), rounding_precision=7)
        return {"polygon": wkt, "network_type": spec.network_type, **extra}
    if spec.bbox is not None:
        bbox = [round(float(b), 7) for b in spec.bbox]
        return {"bbox": bbox, "network_type": spec.network_type, **extra}
    raise NetworkError(
        "[inputs.network] names no source: give path (a .osm/.osm.pbf/.graphml/road-line file), "
        "place, polygon or bbox"
    )


def buffered(shape: BaseGeometry, buffer_m: float | None) -> BaseGeometry:
    """A WGS-84 shape grown by ``buffer_m`` metres (in a local metric CRS); as is when 0/None."""
    if not buffer_m or shape.is_empty:
        return shape
    centre = shape.centroid
    metric = metric_crs_for([centre.x], [centre.y])
    grown = gpd.GeoSeries([shape], crs="EPSG:4326").to_crs(metric).buffer(float(buffer_m))
    return grown.to_crs("EPSG:4326").iloc[0]


def cache_path_for(spec: NetworkSpec) -> Path:
    """Where the graph downloaded for ``spec`` is (or will be) cached as GraphML."""
    query = _query(spec)
    digest = hashlib.sha256(json.dumps(query, sort_keys=True).encode()).hexdigest()[:16]
    folder = Path(spec.cache_dir) if spec.cache_dir else default_cache_dir()
    return folder / f"{spec.network_type}-{digest}.graphml"


def _download(spec: NetworkSpec) -> nx.MultiDiGraph:
    """Download with osmnx (the only function here that needs internet).

    The area is grown by ``spec.buffer_m``, so residents near the boundary may walk across it.
    With the ``"china"`` rules the download keeps cycleways and the tags the rules read
    (:data:`CHINA_DOWNLOAD_FILTER`); the rules are applied afterwards (:func:`_filter_graph`).
    """
    import osmnx as ox

    query = _query(spec)
    options: dict[str, Any] = {
        "network_type": spec.network_type,
        "retain_all": True,
        "truncate_by_edge": True,
    }
    if spec.walk_rules != "osmnx":
        options["custom_filter"] = CHINA_DOWNLOAD_FILTER
    saved = list(ox.settings.useful_tags_way)
    ox.settings.useful_tags_way = list(dict.fromkeys([*saved, *_FILTER_TAGS]))
    try:
        if spec.buffer_m and "polygon" not in query:
            # osmnx 2 has no buffer for places and boxes: grow their outline here
            area = (
                ox.geocode_to_gdf(spec.place).geometry.union_all()
                if "place" in query
                else shapely.box(*_checked_bbox(spec.bbox))
            )
            return ox.graph_from_polygon(buffered(area, spec.buffer_m), **options)
        if "place" in query:
            return ox.graph_from_place(spec.place, **options)
        if "polygon" in query:
            return ox.graph_from_polygon(
                buffered(_polygon_of(spec.polygon), spec.buffer_m), **options
            )
        return ox.graph_from_bbox(_checked_bbox(spec.bbox), **options)
    finally:
        ox.settings.useful_tags_way = saved


def _checked_bbox(bbox: tuple[float, float, float, float]) -> tuple[float, float, float, float]:
    west, south, east, north = (float(b) for b in bbox)
    if not (west < east and south < north):
        raise NetworkError(
            f"[inputs.network].bbox {bbox} must be (west, south, east, north) "
            "with west < east and south < north, in degrees"
        )
    return west, south, east, north


def _load_online(spec: NetworkSpec) -> nx.MultiDiGraph:
    """The downloaded graph (from the cache when there), before the walk rules."""
    import osmnx as ox

    cache = cache_path_for(spec)
    if cache.exists():
        logger.info("walk network: using the cached download %s", cache)
        return _load_graphml(cache)
    cache.parent.mkdir(parents=True, exist_ok=True)
    ox.settings.use_cache = True
    ox.settings.cache_folder = str(cache.parent / "osmnx_http")
    what = spec.place or (f"bbox {spec.bbox}" if spec.bbox is not None else "the polygon")
    logger.info("walk network: downloading %s from OpenStreetMap with osmnx", what)
    try:
        G = _download(spec)
    except NetworkError:
        raise
    except Exception as exc:  # geocoder, HTTP and empty-response errors from osmnx
        raise NetworkError(
            f"could not download the walk network for {what} ({type(exc).__name__}: {exc}); "
            "check the internet connection and the place name (try it on "
            "nominatim.openstreetmap.org), or give a local file as [inputs.network].path"
        ) from exc
    ox.save_graphml(G, cache)
    logger.info("walk network cached at %s (later runs read it offline)", cache)
    # read back from the cache so the first and later runs see identical graphs
    return _load_graphml(cache)


# ---------------------------------------------------------------------------------------------
# entry point


def load_walk_graph(spec: NetworkSpec) -> nx.MultiDiGraph:
    """Load the walking network described by ``spec`` (see :func:`load_walk_graph_and_ways`)."""
    return load_walk_graph_and_ways(spec)[0]


def load_walk_graph_and_ways(spec: NetworkSpec) -> tuple[nx.MultiDiGraph, gpd.GeoDataFrame]:
    """Load the walking network described by ``spec``, with every way the rules decided on.

    Parameters
    ----------
    spec
        A :class:`NetworkSpec`; ``path`` wins over ``place``/``polygon``/``bbox`` (which then clip
        the local graph, grown by ``buffer_m``). ``walk_rules``, ``include_highways``,
        ``exclude_highways`` and ``overrides`` decide which ways are walkable.

    Returns
    -------
    graph : networkx.MultiDiGraph
        osmnx-style graph in EPSG:4326: node ``x``/``y`` longitude/latitude, edge ``length`` in
        metres, ``geometry`` (LineString) on simplified edges, both directions of each way. All
        connected parts are kept (see :func:`describe_components`).
    ways : geopandas.GeoDataFrame
        :func:`ways_frame`: every way considered, kept or dropped, with the rule that dropped it.

    Raises
    ------
    NetworkError
        Missing file, unknown file type (the message lists the supported ones), unreadable file,
        failed download, bad override file, or no walkable way at all.
    """
    rules = spec.rules()
    if spec.path is not None:
        path = Path(spec.path)
        source = str(path)
        G, ways = _load_file(path, spec.layer, rules)
        clip = None
        if spec.polygon is not None:
            clip = _polygon_of(spec.polygon)
        elif spec.bbox is not None:
            clip = shapely.box(*(float(b) for b in spec.bbox))
        if clip is not None:
            clip = buffered(clip, spec.buffer_m)
            ways = ways[ways.intersects(clip)].reset_index(drop=True)
        if clip is not None and len(G):
            import osmnx as ox

            try:
                G = ox.truncate.truncate_graph_polygon(G, clip, truncate_by_edge=True)
            except ValueError:  # osmnx raises when nothing is left inside the polygon
                G = nx.MultiDiGraph(crs="EPSG:4326")
    else:
        source = spec.place or "an online download"
        G, ways = _filter_graph(_load_online(spec), rules)
    _check_not_empty(G.number_of_edges(), source, spec)
    G.graph.setdefault("crs", "EPSG:4326")
    _log_summary(source, len(G), G.number_of_edges())
    return G, ways


def load_walk_arrays_and_ways(spec: NetworkSpec) -> tuple[LonLatNetwork, gpd.GeoDataFrame]:
    """Load the walking network described by ``spec`` as arrays, with every way the rules
    decided on: the input of :meth:`WalkNetwork.from_lonlat`.

    The same network as :func:`load_walk_graph_and_ways` (read out of its graph by
    :meth:`LonLatNetwork.from_graph`), but an unclipped OSM XML file never becomes a graph: on a
    county, building and reading back a million networkx edges took longer than parsing the file.
    Raises :class:`NetworkError` as :func:`load_walk_graph_and_ways` does.
    """
    path = Path(spec.path) if spec.path is not None else None
    if (
        path is None
        or spec.polygon is not None
        or spec.bbox is not None
        or _suffix(path) not in XML_SUFFIXES
        or not path.exists()
    ):
        G, ways = load_walk_graph_and_ways(spec)
        return LonLatNetwork.from_graph(G), ways
    walk, ways = read_xml(path, spec.rules())
    _check_not_empty(len(walk.chains), str(path), spec)
    # counted as the graph would have them: both directions of every chain
    _log_summary(
        str(path), np.unique(np.r_[walk.chains.first, walk.chains.last]).size, 2 * len(walk.chains)
    )
    return xml_network(walk), ways


def _check_not_empty(n_edges: int, source: str, spec: NetworkSpec) -> None:
    if n_edges == 0:
        raise NetworkError(
            f"the walk network from {source} is empty: no walkable way was found — check that it "
            "covers the study area and has highway=* ways open to pedestrians"
            + (
                " (and that the polygon/bbox overlaps it)"
                if spec.path is not None and (spec.polygon is not None or spec.bbox is not None)
                else ""
            )
        )


def node_lonlat(G: nx.MultiDiGraph) -> tuple[np.ndarray, np.ndarray]:
    """Node longitudes and latitudes as float arrays, in ``G.nodes`` order."""
    lon = np.fromiter((d["x"] for _, d in G.nodes(data=True)), dtype=float, count=len(G))
    lat = np.fromiter((d["y"] for _, d in G.nodes(data=True)), dtype=float, count=len(G))
    return lon, lat
