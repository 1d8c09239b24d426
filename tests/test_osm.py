"""Tests for lifecircle.geo.osm: every source type, the walking filter, topology, the cache."""

from __future__ import annotations

import bz2
import functools
import gzip
import math
from pathlib import Path

import networkx as nx
import numpy as np
import osmnx as ox
import pytest
import shapely
from hypothesis import given, settings
from hypothesis import strategies as st
from shapely.geometry import LineString, box

from lifecircle.errors import NetworkError
from lifecircle.geo import osm, osm_xml
from lifecircle.geo.osm import (
    NetworkSpec,
    cache_path_for,
    describe_components,
    is_walkable,
    load_walk_graph,
    node_lonlat,
    townships_without_roads,
)
from lifecircle.geo.walk_rules import WalkRules

FIXTURES = Path(__file__).parent / "fixtures"
OSM_DIR = FIXTURES / "osm"
NET_DIR = FIXTURES / "network"


def _haversine_m(lon1, lat1, lon2, lat2):
    r = 6371009.0  # osmnx's mean earth radius
    p1, p2 = math.radians(lat1), math.radians(lat2)
    dp, dl = p2 - p1, math.radians(lon2 - lon1)
    a = math.sin(dp / 2) ** 2 + math.cos(p1) * math.cos(p2) * math.sin(dl / 2) ** 2
    return 2 * r * math.asin(math.sqrt(a))


def _osmids(G):
    ids = set()
    for _, _, d in G.edges(data=True):
        value = d["osmid"]
        ids.update(value if isinstance(value, list) else [value])
    return ids


@functools.cache
def _real(name):
    return load_walk_graph(NetworkSpec(path=OSM_DIR / name))


@pytest.fixture(scope="module")
def tiny():
    return load_walk_graph(NetworkSpec(path=NET_DIR / "tiny_walk.osm"))


# --- walking filter ---------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("tags", "walkable"),
    [
        ({"highway": "residential"}, True),
        ({"highway": "footway"}, True),
        ({"highway": "service"}, True),
        ({}, False),
        ({"building": "yes"}, False),
        ({"highway": "motorway"}, False),
        ({"highway": "motorway_link"}, False),
        ({"highway": "cycleway"}, True),  # 非机动车道 shared with pedestrians
        ({"highway": "cycleway", "foot": "no"}, False),
        ({"highway": "construction"}, False),
        ({"highway": "path", "foot": "no"}, False),
        ({"highway": "service", "access": "private"}, False),
        ({"highway": "service", "access": "no"}, False),
        ({"highway": "service", "access": "no", "foot": "yes"}, True),
        ({"highway": "service", "service": "private"}, False),
        ({"highway": "pedestrian", "area": "yes"}, False),
        ({"highway": "primary", "sidewalk": "separate"}, False),
        ({"highway": "trunk"}, True),  # an urban main avenue (主干道)
        ({"highway": "trunk_link"}, True),
        ({"highway": "trunk", "oneway": "yes"}, False),  # dual carriageway, no pavement
        ({"highway": "trunk", "bridge": "yes"}, False),
        ({"highway": "trunk", "tunnel": "yes", "name": "水西门隧道"}, False),
        ({"highway": "trunk", "name": "内环西线"}, False),
        ({"highway": "trunk", "name": "延安高架路"}, False),
        ({"highway": "trunk", "maxspeed": "80"}, False),
        ({"highway": "trunk", "maxspeed": "60"}, True),
        ({"highway": "trunk", "oneway": "yes", "sidewalk": "right"}, True),
        ({"highway": "trunk", "sidewalk": "both"}, True),
        ({"highway": "trunk", "foot": "designated"}, True),
        ({"highway": "primary", "motorroad": "yes"}, False),
        ({"highway": "primary", "foot": float("nan")}, True),
    ],
)
def test_is_walkable(tags, walkable):
    assert is_walkable(tags) is walkable


def test_xml_walk_filter_drops_what_it_should(tiny):
    # kept: 101 residential, 102 footway, 107 trunk with sidewalks; dropped: 103 motorway,
    # 104 foot=no, 105 access=private, 106 building, 108 one-way trunk (an expressway
    # carriageway under the "china" rules), 109 motorway_link
    assert _osmids(tiny) == {101, 102, 107}
    assert set(tiny.nodes) == {1, 2, 4, 11}  # node 3 joins two kept ways only: simplified away
    for dropped in (5, 6, 7, 8, 12, 13):
        assert dropped not in tiny
    # three undirected edges, both directions (the oneway tag does not bind pedestrians)
    assert tiny.number_of_edges() == 6
    assert tiny.has_edge(2, 1) and tiny.has_edge(1, 2)


def _raw_way_tags(path):
    from xml.etree.ElementTree import parse

    return {
        int(w.get("id")): {t.get("k"): t.get("v") for t in w.iter("tag")}
        for w in parse(path).getroot().iter("way")
    }


def _osmnx_reference(path):
    """The slow route the fast XML reader replaces: osmnx's own reader, filter, simplifier."""
    saved = list(ox.settings.useful_tags_way)
    ox.settings.useful_tags_way = [
        *saved,
        "foot",
        "motorroad",
        "layer",
        "sidewalk",
        "sidewalk:both",
        "sidewalk:left",
        "sidewalk:right",
    ]
    try:
        G = ox.graph_from_xml(path, bidirectional=True, simplify=False, retain_all=True)
    finally:
        ox.settings.useful_tags_way = saved
    tags = _raw_way_tags(path)  # osmnx turns the oneway tag into a boolean: decide on the raw
    G.remove_edges_from(
        [
            (u, v, k)
            for u, v, k, d in G.edges(keys=True, data=True)
            if not is_walkable(tags[d["osmid"]])
        ]
    )
    G.remove_nodes_from([n for n, degree in G.degree() if degree == 0])
    return ox.simplify_graph(G)


def _edge_summary(G):
    summary = {}
    for u, v, d in G.edges(data=True):
        ids = d["osmid"] if isinstance(d["osmid"], list) else [d["osmid"]]
        shape = len(d["geometry"].coords) if "geometry" in d else 2
        summary.setdefault((u, v), []).append((tuple(sorted(ids)), shape, float(d["length"])))
    return {k: sorted(v) for k, v in summary.items()}


@pytest.mark.parametrize(
    "path", [NET_DIR / "tiny_walk.osm", OSM_DIR / "shu_shanghai_baoshan.osm"], ids=lambda p: p.name
)
def test_fast_xml_reader_matches_osmnx(path):
    fast = load_walk_graph(NetworkSpec(path=path))
    reference = _osmnx_reference(path)
    assert set(fast.nodes) == set(reference.nodes)
    assert fast.number_of_edges() == reference.number_of_edges()
    fast_edges, reference_edges = _edge_summary(fast), _edge_summary(reference)
    assert fast_edges.keys() == reference_edges.keys()
    for key, edges in reference_edges.items():
        assert [e[:2] for e in fast_edges[key]] == [e[:2] for e in edges]
        assert [e[2] for e in fast_edges[key]] == pytest.approx([e[2] for e in edges], abs=1e-6)
    for n, d in reference.nodes(data=True):
        assert (fast.nodes[n]["x"], fast.nodes[n]["y"]) == (d["x"], d["y"])


def test_xml_lengths_are_great_circle_metres(tiny):
    lengths = {(u, v): d["length"] for u, v, d in tiny.edges(data=True)}
    # 1 -> 2 is 0.001 degrees of longitude at 32.04 N
    assert lengths[(1, 2)] == pytest.approx(_haversine_m(118.78, 32.04, 118.781, 32.04), rel=1e-6)
    assert lengths[(1, 2)] == pytest.approx(94.3, abs=0.5)
    # 2 -> 11 runs through node 3: two legs summed, geometry kept
    expected = _haversine_m(118.781, 32.04, 118.782, 32.04) + _haversine_m(
        118.782, 32.04, 118.782, 32.039
    )
    assert lengths[(2, 11)] == pytest.approx(expected, rel=1e-6)
    data = tiny.get_edge_data(2, 11)[0]
    assert len(data["geometry"].coords) == 3
    lon, lat = node_lonlat(tiny)
    assert np.all((lon > 118) & (lon < 119)) and np.all((lat > 32) & (lat < 33))


@pytest.mark.parametrize(
    ("name", "min_nodes", "max_nodes"),
    [
        ("cau_beijing_haidian.osm", 200, 2000),
        ("nanjing_xuanwu.osm", 300, 3000),
        ("shu_shanghai_baoshan.osm", 150, 1500),
    ],
)
def test_real_osm_extracts(name, min_nodes, max_nodes):
    G = _real(name)
    assert min_nodes <= len(G) <= max_nodes
    assert len(G) < G.number_of_edges() < 4 * len(G)
    lengths = np.array([d["length"] for _, _, d in G.edges(data=True)])
    assert np.all(lengths > 0) and np.all(np.isfinite(lengths))
    assert np.median(lengths) < 500  # city blocks, not kilometres
    highways = {
        h
        for _, _, d in G.edges(data=True)
        for h in (d["highway"] if isinstance(d["highway"], list) else [d["highway"]])
    }
    assert not highways & {"motorway", "motorway_link", "construction"}
    # every way is walkable both ways
    assert all(G.has_edge(v, u) for u, v in G.edges())
    parts = describe_components(G)
    assert parts["main_component_nodes"] + sum(parts["other_components"]) == len(G)
    assert parts["main_component_nodes"] > 0.7 * len(G)


def test_beijing_drops_the_motorway():
    # 京藏高速 crosses the Haidian extract: none of its edges may survive
    G = _real("cau_beijing_haidian.osm")
    names = {
        n
        for _, _, d in G.edges(data=True)
        if "name" in d
        for n in (d["name"] if isinstance(d["name"], list) else [d["name"]])
    }
    assert "京藏高速" not in names


def test_bz2_reads_like_plain_xml(tmp_path):
    import bz2

    packed = tmp_path / "tiny.osm.bz2"
    packed.write_bytes(bz2.compress((NET_DIR / "tiny_walk.osm").read_bytes()))
    G = load_walk_graph(NetworkSpec(path=packed))
    assert set(G.nodes) == {1, 2, 4, 11} and G.number_of_edges() == 6


def test_pbf_via_pyrosm():
    G = load_walk_graph(NetworkSpec(path=OSM_DIR / "pyrosm_test.osm.pbf"))
    assert 100 < len(G) < 2000
    lengths = np.array([d["length"] for _, _, d in G.edges(data=True)])
    assert np.all(lengths > 0)
    lon, lat = node_lonlat(G)
    # the pyrosm test file is in Finland
    assert 20 < np.median(lon) < 32 and 59 < np.median(lat) < 62
    assert describe_components(G)["main_component_nodes"] > 100


def test_pbf_edges_get_the_same_walk_filter():
    import pandas as pd

    edges = pd.DataFrame(
        {
            "highway": ["trunk", "trunk", "residential", "path", "footway"],
            "foot": [None, None, "no", None, None],
            "tags": [None, '{"sidewalk":"both"}', None, '{"access":"private"}', '{"name:fi":"x"}'],
        }
    )
    edges["highway"] = ["trunk", "trunk", "residential", "path", "footway"]
    edges["oneway"] = ["yes", "yes", None, None, None]  # dual carriageways of an expressway
    keep = osm._walk_rule_codes(osm._pyrosm_tags(edges), WalkRules()) == ""
    assert keep.tolist() == [False, True, False, False, True]


def test_graphml_round_trip(tmp_path, tiny):
    path = tmp_path / "tiny.graphml"
    ox.save_graphml(tiny, path)
    G = load_walk_graph(NetworkSpec(path=path))
    assert set(G.nodes) == set(tiny.nodes)
    assert G.number_of_edges() == tiny.number_of_edges()
    total = sum(d["length"] for _, _, d in tiny.edges(data=True))
    assert sum(d["length"] for _, _, d in G.edges(data=True)) == pytest.approx(total)


def test_projected_graphml_comes_back_in_degrees(tmp_path, tiny):
    path = tmp_path / "projected.graphml"
    ox.save_graphml(ox.project_graph(tiny), path)
    G = load_walk_graph(NetworkSpec(path=path))
    assert G.nodes[1]["x"] == pytest.approx(118.78, abs=1e-7)
    assert G.nodes[1]["y"] == pytest.approx(32.04, abs=1e-7)


def test_clip_local_file_to_bbox(tiny):
    # a box around node 1 only: its edge to 2 is kept whole (truncate_by_edge), 4 and 11 go
    G = load_walk_graph(
        NetworkSpec(path=NET_DIR / "tiny_walk.osm", bbox=(118.7795, 32.0395, 118.7805, 32.0405))
    )
    assert set(G.nodes) == {1, 2}
    with pytest.raises(NetworkError, match="overlaps"):
        load_walk_graph(NetworkSpec(path=NET_DIR / "tiny_walk.osm", bbox=(0, 0, 1, 1)))


# --- road lines -------------------------------------------------------------------------------


def test_vector_lines_topology():
    G = load_walk_graph(NetworkSpec(path=NET_DIR / "lines_t_cross_bridge.geojson"))
    # A is cut at the T (B's end, no vertex of A there) and at C's crossing, not at the bridge D;
    # the motorway E is dropped. Nodes: A 0,100,150,200; B top; C both ends; D both ends.
    assert len(G) == 9
    assert G.number_of_edges() == 14  # 7 pieces, both directions
    lengths = sorted(d["length"] for u, v, d in G.edges(data=True) if u < v)
    assert lengths == pytest.approx([50, 50, 50, 50, 100, 100, 100], abs=0.05)
    # the bridge is its own part: it crosses A without meeting it
    parts = describe_components(G)
    assert parts == {"components": 2, "main_component_nodes": 7, "other_components": [2]}
    bridge = [d for _, _, d in G.edges(data=True) if d.get("bridge") == "yes"]
    assert len(bridge) == 2 and bridge[0]["length"] == pytest.approx(100, abs=0.05)
    # geometries run from u to v
    for u, v, d in G.edges(data=True):
        start, end = d["geometry"].coords[0], d["geometry"].coords[-1]
        assert start == pytest.approx((G.nodes[u]["x"], G.nodes[u]["y"]), abs=1e-6)
        assert end == pytest.approx((G.nodes[v]["x"], G.nodes[v]["y"]), abs=1e-6)


def test_bridge_over_a_crossroads_stays_apart():
    import geopandas as gpd

    x0, y0 = 680000.0, 3545000.0

    def line(*pts):
        return LineString([(x0 + x, y0 + y) for x, y in pts])

    frame = gpd.GeoDataFrame(
        {
            "bridge": [None, None, "yes", "yes"],
            "geometry": [
                line((0, 0), (200, 0)),
                line((100, -100), (100, 100)),  # crossroads
                line((0, -100), (200, 100)),  # an overpass right over the crossing
                line((200, 100), (300, 100)),
            ],
        },  # a second bridge span, shared end
        crs="EPSG:32650",
    ).to_crs("EPSG:4326")
    G, _ = osm._graph_from_lines(frame, "overpass")
    # crossroads: 4 arms around one node; the overpass: 3 nodes, 2 spans
    assert len(G) == 5 + 3
    assert G.number_of_edges() == 2 * (4 + 2)
    assert describe_components(G)["other_components"] == [3]


def test_vector_lines_shared_vertex_and_near_miss(tmp_path):
    import geopandas as gpd

    x0, y0 = 680000.0, 3545000.0

    def line(*pts):
        return LineString([(x0 + x, y0 + y) for x, y in pts])

    frame = gpd.GeoDataFrame(
        {
            "geometry": [
                line((0, 0), (50, 0), (100, 0)),
                line((50, 0.04), (50, 80)),  # ends 4 cm from A's vertex: the same node
                line((100, 0), (100, 60), (0, 60), (0, 0)),  # closes a loop through A's ends
                line((300, 0), (400, 0)),  # isolated
            ]
        },
        crs="EPSG:32650",
    ).to_crs("EPSG:4326")
    path = tmp_path / "lines.gpkg"
    frame.to_file(path, layer="roads")
    G = load_walk_graph(NetworkSpec(path=path, layer="roads"))
    # (0,0) (50,0) (100,0) (50,80) (300,0) (400,0), and (50,60) where B crosses the loop's top
    assert len(G) == 7
    assert G.number_of_edges() == 2 * 7
    total = sum(d["length"] for u, v, d in G.edges(data=True) if u < v)
    assert total == pytest.approx(100 + 80 + 220 + 100, abs=0.2)
    assert describe_components(G)["other_components"] == [2]


# --- errors -----------------------------------------------------------------------------------


def test_missing_file():
    with pytest.raises(NetworkError, match="does not exist"):
        load_walk_graph(NetworkSpec(path=NET_DIR / "nope.osm"))


def test_unknown_extension_lists_supported(tmp_path):
    path = tmp_path / "roads.dwg"
    path.write_text("x")
    with pytest.raises(NetworkError, match=r"unknown file type '\.dwg'.*\.osm\.pbf.*\.graphml"):
        load_walk_graph(NetworkSpec(path=path))


def test_empty_network():
    with pytest.raises(NetworkError, match="empty: no walkable way"):
        load_walk_graph(NetworkSpec(path=NET_DIR / "only_buildings.osm"))


def test_no_source():
    with pytest.raises(NetworkError, match="names no source"):
        load_walk_graph(NetworkSpec())


# --- online with cache ------------------------------------------------------------------------


def test_online_place_is_cached_and_second_run_is_offline(tmp_path, monkeypatch, tiny):
    calls = []

    def fake_place(query, **kwargs):
        calls.append((query, kwargs))
        return tiny.copy()

    monkeypatch.setattr(ox, "graph_from_place", fake_place)
    spec = NetworkSpec(place="示范区, 示范市", cache_dir=tmp_path / "cache")
    first = load_walk_graph(spec)
    assert calls == [
        (
            "示范区, 示范市",
            {
                "network_type": "walk",
                "retain_all": True,
                "truncate_by_edge": True,
                "custom_filter": osm.CHINA_DOWNLOAD_FILTER,
            },
        )
    ]
    assert cache_path_for(spec).exists()
    assert ox.settings.use_cache is True
    assert Path(ox.settings.cache_folder).parent == tmp_path / "cache"

    def offline(*args, **kwargs):
        raise ConnectionError("no internet")

    monkeypatch.setattr(ox, "graph_from_place", offline)
    second = load_walk_graph(spec)
    assert set(second.nodes) == set(first.nodes) == set(tiny.nodes)
    assert second.number_of_edges() == first.number_of_edges() == tiny.number_of_edges()


def test_online_failure_is_a_network_error(tmp_path, monkeypatch):
    def offline(*args, **kwargs):
        raise ConnectionError("no internet")

    monkeypatch.setattr(ox, "graph_from_place", offline)
    with pytest.raises(NetworkError, match=r"could not download.*local file"):
        load_walk_graph(NetworkSpec(place="某地", cache_dir=tmp_path))


def test_online_bbox_and_polygon(tmp_path, monkeypatch, tiny):
    seen = {}

    def fake_bbox(bbox, **kwargs):
        seen["bbox"] = bbox
        return tiny.copy()

    def fake_polygon(polygon, **kwargs):
        seen["polygon"] = polygon
        return tiny.copy()

    monkeypatch.setattr(ox, "graph_from_bbox", fake_bbox)
    monkeypatch.setattr(ox, "graph_from_polygon", fake_polygon)
    bbox_spec = NetworkSpec(bbox=(118.77, 32.03, 118.79, 32.05), cache_dir=tmp_path)
    load_walk_graph(bbox_spec)
    assert seen["bbox"] == (118.77, 32.03, 118.79, 32.05)  # (west, south, east, north)
    poly_spec = NetworkSpec(polygon=box(118.77, 32.03, 118.79, 32.05), cache_dir=tmp_path)
    load_walk_graph(poly_spec)
    assert seen["polygon"].equals(box(118.77, 32.03, 118.79, 32.05))
    # different queries, different cache files
    assert cache_path_for(bbox_spec) != cache_path_for(poly_spec)
    assert cache_path_for(bbox_spec) != cache_path_for(
        NetworkSpec(bbox=(118.77, 32.03, 118.79, 32.06), cache_dir=tmp_path)
    )


def test_online_polygon_from_a_file_and_clip_by_polygon(tmp_path, monkeypatch, tiny):
    import geopandas as gpd

    area = box(118.7795, 32.0395, 118.7805, 32.0405)  # around node 1 only
    path = tmp_path / "area.geojson"
    gpd.GeoDataFrame(geometry=[area], crs="EPSG:4326").to_file(path)
    seen = []
    monkeypatch.setattr(
        ox, "graph_from_polygon", lambda polygon, **kwargs: seen.append(polygon) or tiny.copy()
    )
    load_walk_graph(NetworkSpec(polygon=path, cache_dir=tmp_path / "cache"))
    assert seen[0].equals(area)
    clipped = load_walk_graph(NetworkSpec(path=NET_DIR / "tiny_walk.osm", polygon=path))
    assert set(clipped.nodes) == {1, 2}
    with pytest.raises(NetworkError, match="does not exist"):
        load_walk_graph(NetworkSpec(polygon=tmp_path / "nope.geojson", cache_dir=tmp_path))


def test_pbf_graph_survives_graphml(tmp_path):
    G = load_walk_graph(NetworkSpec(path=OSM_DIR / "pyrosm_test.osm.pbf"))
    path = tmp_path / "pbf.graphml"
    ox.save_graphml(G, path)
    H = load_walk_graph(NetworkSpec(path=path))
    assert len(H) == len(G) and H.number_of_edges() == G.number_of_edges()


def test_bad_bbox(tmp_path):
    with pytest.raises(NetworkError, match="west < east"):
        load_walk_graph(NetworkSpec(bbox=(118.79, 32.03, 118.77, 32.05), cache_dir=tmp_path))


# --- summaries --------------------------------------------------------------------------------


def test_describe_components_hand_case():
    G = nx.MultiDiGraph()
    G.add_edges_from([(1, 2), (2, 1), (2, 3), (10, 11), (20, 21), (21, 22), (22, 23)])
    G.add_node(99)
    assert describe_components(G) == {
        "components": 4,
        "main_component_nodes": 4,
        "other_components": [3, 2, 1],
    }
    assert describe_components(nx.MultiDiGraph())["components"] == 0


def test_townships_without_roads():
    import geopandas as gpd

    polygons = gpd.GeoSeries(
        [box(0, 0, 1, 1), box(2, 0, 3, 1), None, box(4, 0, 5, 1), box(6, 0, 7, 1)],
        index=[10, 20, 30, 40, 50],
        crs="EPSG:4326",
    )
    lon = [0.5, 0.2, 4.0, 8.0]  # two in the first, one on the fourth's edge, one outside all
    lat = [0.5, 0.7, 0.5, 0.5]
    assert townships_without_roads(polygons, lon, lat) == [1, 2, 4]
    assert townships_without_roads(polygons, [], []) == [0, 1, 2, 3, 4]
    assert townships_without_roads(gpd.GeoSeries([], crs="EPSG:4326"), lon, lat) == []


def test_module_logs_counts(caplog, tiny):
    import logging

    with caplog.at_level(logging.INFO, logger=osm.__name__):
        load_walk_graph(NetworkSpec(path=NET_DIR / "tiny_walk.osm"))
    assert "4 nodes, 6 edges" in caplog.text  # parts are counted on the WalkNetwork


# --- property: noding a street grid ------------------------------------------------------------


@st.composite
def _street_grid(draw):
    """Horizontal lines at distinct y and vertical lines at distinct x, on a 10 m lattice."""

    def spans(n):
        out = []
        for _ in range(n):
            a = draw(st.integers(0, 20))
            b = draw(st.integers(a + 1, 21))
            out.append((a * 10, b * 10))
        return out

    ys = draw(st.lists(st.integers(0, 20), min_size=1, max_size=5, unique=True))
    xs = draw(st.lists(st.integers(0, 20), min_size=0, max_size=5, unique=True))
    horizontal = [(y * 10, a, b) for y, (a, b) in zip(ys, spans(len(ys)), strict=True)]
    vertical = [(x * 10, a, b) for x, (a, b) in zip(xs, spans(len(xs)), strict=True)]
    return horizontal, vertical


@settings(max_examples=25, deadline=None)
@given(_street_grid())
def test_street_grid_noding(grid):
    import geopandas as gpd

    horizontal, vertical = grid
    x0, y0 = 680000.0, 3545000.0
    lines = [LineString([(x0 + a, y0 + y), (x0 + b, y0 + y)]) for y, a, b in horizontal]
    lines += [LineString([(x0 + x, y0 + a), (x0 + x, y0 + b)]) for x, a, b in vertical]
    # independent count: every end, and every place a horizontal and a vertical line meet
    points = {(a, y) for y, a, _ in horizontal} | {(b, y) for y, _, b in horizontal}
    points |= {(x, a) for x, a, _ in vertical} | {(x, b) for x, _, b in vertical}
    points |= {
        (x, y)
        for y, ha, hb in horizontal
        for x, va, vb in vertical
        if ha <= x <= hb and va <= y <= vb
    }
    pieces = sum(
        len({px for px, py in points if py == y and a <= px <= b}) - 1 for y, a, b in horizontal
    )
    pieces += sum(
        len({py for px, py in points if px == x and a <= py <= b}) - 1 for x, a, b in vertical
    )
    frame = gpd.GeoDataFrame(geometry=lines, crs="EPSG:32650").to_crs("EPSG:4326")
    G, _ = osm._graph_from_lines(frame, "grid")
    assert len(G) == len(points)
    assert G.number_of_edges() == 2 * pieces
    total = sum(d["length"] for u, v, d in G.edges(data=True)) / 2
    expected = sum(b - a for _, a, b in horizontal) + sum(b - a for _, a, b in vertical)
    assert total == pytest.approx(expected, abs=0.01 * len(lines))


# --- property: the fast XML reader against osmnx on random little maps -------------------------


@st.composite
def _random_osm(draw):
    n_nodes = draw(st.integers(2, 10))
    ways = draw(
        st.lists(
            st.tuples(
                st.lists(st.integers(0, n_nodes - 1), min_size=2, max_size=6),
                st.sampled_from(["residential", "footway", "motorway", "service", "trunk"]),
            ),
            min_size=1,
            max_size=7,
        )
    )
    lines = ['<?xml version="1.0" encoding="UTF-8"?>', '<osm version="0.6" generator="test">']
    for i in range(n_nodes):
        lines.append(
            f'<node id="{i + 1}" lat="{32.04 + 0.001 * (i % 4)}" '
            f'lon="{118.78 + 0.001 * (i // 4) + 0.0003 * i}"/>'
        )
    for w, (refs, highway) in enumerate(ways):
        nds = "".join(f'<nd ref="{r + 1}"/>' for r in refs)
        lines.append(f'<way id="{100 + w}">{nds}<tag k="highway" v="{highway}"/></way>')
    lines.append("</osm>")
    return "\n".join(lines)


@settings(max_examples=30, deadline=None)
@given(_random_osm())
def test_fast_xml_reader_matches_osmnx_on_random_maps(tmp_path_factory, text):
    path = tmp_path_factory.mktemp("osm") / "random.osm"
    path.write_text(text, encoding="utf-8")
    reference = _osmnx_reference(path)
    if reference.number_of_edges() == 0:
        with pytest.raises(NetworkError):
            load_walk_graph(NetworkSpec(path=path))
        return
    fast = load_walk_graph(NetworkSpec(path=path))
    assert set(fast.nodes) == set(reference.nodes)
    fast_edges, reference_edges = _edge_summary(fast), _edge_summary(reference)
    assert fast_edges.keys() == reference_edges.keys()
    for key, edges in reference_edges.items():
        assert sorted(e[:2] for e in fast_edges[key]) == sorted(e[:2] for e in edges)
        assert sorted(e[2] for e in fast_edges[key]) == pytest.approx(
            sorted(e[2] for e in edges), abs=1e-6
        )


# --- the XML reader's pieces: chains, arrays, errors -------------------------------------------


def _chains_by_walking(a, b, n_nodes):
    """The Python walk that osm_xml._chains replaced: from each endpoint in turn along each unused
    segment (a-ends before b-ends, by segment number) to the next endpoint."""
    pairs = {(min(p, q), max(p, q)) for p, q in zip(a, b, strict=True)}
    neighbours = [0] * n_nodes
    for p, q in pairs:
        neighbours[p] += 1
        neighbours[q] += 1
    incident = [[] for _ in range(n_nodes)]
    for s, p in enumerate(a):
        incident[p].append(s)
    for s, q in enumerate(b):
        incident[q].append(s)
    endpoint = [neighbours[n] != 2 or len(incident[n]) != 2 for n in range(n_nodes)]
    used = [False] * len(a)
    chains = []
    for start in range(n_nodes):
        if not endpoint[start]:
            continue
        for first in incident[start]:
            if used[first]:
                continue
            nodes, segs, node, s = [start], [], start, first
            while True:
                used[s] = True
                segs.append(s)
                node = b[s] if a[s] == node else a[s]
                nodes.append(node)
                if endpoint[node]:
                    break
                s = next(t for t in incident[node] if t != s)
            chains.append((nodes, segs))
    return chains


def _packed(chains):
    return [
        (
            chains.node[chains.start[i] + i : chains.start[i + 1] + i + 1].tolist(),
            chains.seg[chains.start[i] : chains.start[i + 1]].tolist(),
        )
        for i in range(len(chains))
    ]


@pytest.mark.parametrize(
    ("a", "b", "n_nodes"),
    [
        ([], [], 0),
        ([0], [1], 2),  # one segment
        ([0, 1, 2], [1, 2, 3], 4),  # a street through two inner nodes
        ([2, 1, 0], [3, 2, 1], 4),  # drawn the other way
        ([0, 1, 2], [1, 2, 0], 3),  # a ring on its own: dropped
        ([0, 1, 2, 3, 4], [1, 2, 3, 1, 0], 5),  # a loop hanging off a street
        ([0, 1, 2, 3], [1, 2, 3, 1], 4),  # a lollipop: the loop starts and ends at node 1
        ([0, 0, 1], [1, 1, 2], 3),  # parallel segments between the same two nodes
        ([0, 1, 0, 2], [1, 3, 2, 3], 4),  # two routes around a block between 0 and 3
        ([5, 3, 3, 1], [3, 1, 4, 0], 6),  # a T, with an unused node position
    ],
)
def test_chains_match_the_walk_on_hand_cases(a, b, n_nodes):
    a, b = np.array(a, dtype=np.int64), np.array(b, dtype=np.int64)
    assert _packed(osm_xml._chains(a, b, n_nodes)) == _chains_by_walking(
        a.tolist(), b.tolist(), n_nodes
    )


@st.composite
def _segments(draw):
    n_nodes = draw(st.integers(2, 12))
    pairs = draw(
        st.lists(
            st.tuples(st.integers(0, n_nodes - 1), st.integers(0, n_nodes - 1)).filter(
                lambda p: p[0] != p[1]
            ),
            max_size=25,
        )
    )
    return [p for p, _ in pairs], [q for _, q in pairs], n_nodes


@settings(max_examples=200, deadline=None)
@given(_segments())
def test_chains_match_the_walk_on_random_graphs(case):
    a, b, n_nodes = case
    chains = osm_xml._chains(np.array(a, dtype=np.int64), np.array(b, dtype=np.int64), n_nodes)
    assert _packed(chains) == _chains_by_walking(a, b, n_nodes)


def _write_osm(path, nodes, ways, extra=""):
    lines = ['<?xml version="1.0" encoding="UTF-8"?>', '<osm version="0.6">']
    for node_id, lon, lat, *tags in nodes:
        body = "".join(f'<tag k="{k}" v="{v}"/>' for k, v in tags)
        lines.append(f'<node id="{node_id}" lat="{lat}" lon="{lon}">{body}</node>')
    for way_id, refs, tags in ways:
        nds = "".join(f'<nd ref="{r}"/>' for r in refs)
        body = "".join(f'<tag k="{k}" v="{v}"/>' for k, v in tags.items())
        lines.append(f'<way id="{way_id}">{nds}{body}</way>')
    lines += [extra, "</osm>"]
    path.write_text("\n".join(lines), encoding="utf-8")
    return path


def _assert_same_walk_network(a, b):
    assert a.crs == b.crs
    for name in ("node_ids", "x", "y", "indptr", "indices", "weights_m", "edge_u", "edge_v"):
        np.testing.assert_array_equal(getattr(a, name), getattr(b, name), err_msg=name)
    np.testing.assert_array_equal(a.edge_length_m, b.edge_length_m)
    np.testing.assert_array_equal(a.component, b.component)
    assert shapely.equals_exact(a.edge_geometry, b.edge_geometry, tolerance=0).all()
    assert (a.edge_name is None) == (b.edge_name is None)
    if a.edge_name is not None:
        assert a.edge_name.tolist() == b.edge_name.tolist()
    np.testing.assert_array_equal(a.lonlat[0], b.lonlat[0])
    np.testing.assert_array_equal(a.lonlat[1], b.lonlat[1])


def _both_routes(path, **spec):
    """The network built without a graph, and the one built from load_walk_graph's graph."""
    from lifecircle.geo.network import WalkNetwork

    arrays, ways = osm.load_walk_arrays_and_ways(NetworkSpec(path=path, **spec))
    graph, graph_ways = osm.load_walk_graph_and_ways(NetworkSpec(path=path, **spec))
    assert ways.equals(graph_ways)
    return WalkNetwork.from_lonlat(arrays), WalkNetwork.from_graph(graph)


def _awkward_map(path, *, missing_node=True):
    """Rings, loops, parallel ways, repeated (and missing) nodes, tags of nodes and relations."""
    nodes = [(i, 118.78 + 0.001 * (i % 5), 32.04 + 0.001 * (i // 5)) for i in range(1, 21)]
    nodes.append((3, 118.7825, 32.0405, ("highway", "crossing")))  # a repeated id: the last wins
    ways = [
        (101, [1, 2, 3, 4, 5], {"highway": "residential", "name": " 中山路 "}),
        (102, [5, 10, 15, 14, 5], {"highway": "footway"}),  # a loop back to node 5
        (103, [16, 17, 18, 16], {"highway": "footway"}),  # a ring of its own: dropped
        (104, [1, 6, 6, 7, 2], {"highway": "service", "name": "甲"}),  # 6 twice in a row
        (105, [1, 6, 7, 2], {"highway": "path", "name": "乙"}),  # drawn along 104
        (106, [2, 7], {"highway": "residential"}),  # parallel to the end of 104 and 105
        # node 999 is not in the file (osmnx cannot read that: compared without it)
        (107, [4, 9, 999, 8] if missing_node else [4, 9, 8], {"highway": "residential"}),
        (108, [3, 8], {"highway": "motorway"}),  # dropped by the rules
        (109, [11, 12], {"building": "yes"}),  # not a highway: not even considered
        (110, [12, 13, 19, 20], {"highway": "living_street", "name": "丙"}),
    ]
    relation = '<relation id="1"><member type="way" ref="101" role=""/><tag k="highway" v="x"/>'
    return _write_osm(path, nodes, ways, extra=relation + "</relation>")


def test_awkward_map_matches_osmnx_and_both_routes_agree(tmp_path):
    path = _awkward_map(tmp_path / "awkward.osm", missing_node=False)
    fast = load_walk_graph(NetworkSpec(path=path))
    reference = _osmnx_reference(path)
    assert set(fast.nodes) == set(reference.nodes)
    fast_edges, reference_edges = _edge_summary(fast), _edge_summary(reference)
    assert fast_edges.keys() == reference_edges.keys()
    for key, edges in reference_edges.items():
        assert [e[:2] for e in fast_edges[key]] == [e[:2] for e in edges]
        assert [e[2] for e in fast_edges[key]] == pytest.approx([e[2] for e in edges], abs=1e-6)
    _, ways = osm.load_walk_graph_and_ways(NetworkSpec(path=path))
    motorway = ways.set_index("way_id").loc["108"]
    assert motorway["rule"] != "" and motorway.geometry.coords[0] == (118.7825, 32.0405)
    assert "109" not in set(ways["way_id"])  # a building
    assert not {16, 17, 18} & set(fast.nodes)  # the ring
    for awkward in (path, _awkward_map(tmp_path / "missing.osm")):
        arrays, graph = _both_routes(awkward)
        _assert_same_walk_network(arrays, graph)
        assert "中山路" in arrays.edge_name.tolist()


@pytest.mark.parametrize(
    "path",
    [
        NET_DIR / "tiny_walk.osm",
        OSM_DIR / "cau_beijing_haidian.osm",
        OSM_DIR / "nanjing_xuanwu.osm",
        OSM_DIR / "shu_shanghai_baoshan.osm",
    ],
    ids=lambda p: p.name,
)
@pytest.mark.parametrize("rules", ["china", "osmnx"])
def test_arrays_route_builds_the_graph_routes_network(path, rules):
    arrays, graph = _both_routes(path, walk_rules=rules)
    _assert_same_walk_network(arrays, graph)


@settings(max_examples=30, deadline=None)
@given(_random_osm())
def test_arrays_route_builds_the_graph_routes_network_on_random_maps(tmp_path_factory, text):
    path = tmp_path_factory.mktemp("osm") / "random.osm"
    path.write_text(text, encoding="utf-8")
    try:
        arrays, graph = _both_routes(path)
    except NetworkError:  # nothing walkable: both routes say so
        with pytest.raises(NetworkError, match="empty"):
            osm.load_walk_arrays_and_ways(NetworkSpec(path=path))
        return
    _assert_same_walk_network(arrays, graph)


def test_clipped_xml_goes_through_the_graph():
    spec = NetworkSpec(path=NET_DIR / "tiny_walk.osm", bbox=(118.7795, 32.0395, 118.7805, 32.0405))
    arrays, _ = osm.load_walk_arrays_and_ways(spec)
    assert sorted(arrays.node_id.tolist()) == [1, 2]


@pytest.mark.parametrize(
    ("name", "damage"),
    [
        ("cut.osm", lambda raw: raw[: len(raw) // 2]),
        ("junk.osm", lambda raw: b"PK\x03\x04 not xml"),
        ("empty.osm", lambda raw: b""),
        ("no_lat.osm", lambda raw: raw.replace(b' lat="32.0400"', b"", 1)),
        ("bad_id.osm", lambda raw: raw.replace(b'id="1"', b'id="one"', 1)),
        ("cut.osm.gz", lambda raw: gzip.compress(raw)[:-200]),
        (
            "bitrot.osm.gz",
            lambda raw: (lambda z: z[:30] + b"\xff" * 40 + z[70:])(gzip.compress(raw)),
        ),
        ("cut.osm.bz2", lambda raw: bz2.compress(raw)[:-100]),
    ],
    ids=lambda v: v if isinstance(v, str) else "",
)
def test_unreadable_xml_is_a_network_error_naming_the_file(tmp_path, name, damage):
    path = tmp_path / name
    path.write_bytes(damage((NET_DIR / "tiny_walk.osm").read_bytes()))
    with pytest.raises(NetworkError, match=rf"{name}: cannot read as OSM XML.*export it again"):
        osm.load_walk_arrays_and_ways(NetworkSpec(path=path))
    with pytest.raises(NetworkError, match=rf"{name}: cannot read as OSM XML"):
        load_walk_graph(NetworkSpec(path=path))
