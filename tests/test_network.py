"""The compact walk network: conversion from osmnx graphs, CSR form, snapping to edges."""

from __future__ import annotations

import itertools

import numpy as np
import pytest
import shapely
from hypothesis import given, settings
from hypothesis import strategies as st

from lifecircle.errors import NetworkError
from lifecircle.geo.network import WalkNetwork, snap_points


def test_from_arrays_keeps_parallel_edges_searches_the_shortest_and_drops_loops():
    net = WalkNetwork.from_arrays(
        [0.0, 100.0, 200.0],
        [0.0, 0.0, 0.0],
        [0, 1, 1, 2, 2, 1],
        [1, 0, 1, 1, 1, 2],
        edge_length_m=[120.0, 100.0, 5.0, 90.0, 95.0, 90.0],
    )
    # the loop goes; 1-2 at 90 m twice is one way drawn both ways: one edge
    assert net.n_edges == 4
    assert net.edge_u.tolist() == [0, 0, 1, 1] and net.edge_v.tolist() == [1, 1, 2, 2]
    assert net.edge_length_m.tolist() == [100.0, 120.0, 90.0, 95.0]
    dense = net.csr.toarray()
    assert np.array_equal(dense, dense.T)
    assert dense[0, 1] == 100.0 and dense[1, 2] == 90.0 and dense[0, 2] == 0.0
    assert net.indices.size == 4  # the search sees one edge per pair
    start, incident = net.incident_edges  # while every edge meets its nodes
    assert sorted(incident[start[1] : start[2]].tolist()) == [0, 1, 2, 3]


def test_both_parallel_edges_snap_and_bound_service_areas():
    from lifecircle.coverage.areas import facility_polygons
    from lifecircle.coverage.reach import reach_matrix

    # nodes 0 and 1 joined by a straight street (100 m) and a detour bowing north (~283 m)
    detour = shapely.LineString([(0, 0), (0, 100), (100, 100), (100, 0)])
    net = WalkNetwork.from_arrays(
        [0.0, 100.0],
        [0.0, 0.0],
        [0, 0],
        [1, 1],
        edge_geometry=[shapely.LineString([(0, 0), (100, 0)]), detour],
    )
    assert net.n_edges == 2
    snaps = snap_points(net, np.array([50.0, 50.0]), np.array([-5.0, 105.0]), max_snap_m=50.0)
    assert snaps.ok.all()
    assert snaps.edge.tolist() == [0, 1]  # each point snaps to the street it stands by
    assert snaps.offset_m[1] == pytest.approx(150.0)  # along the detour from node 0
    # the search takes the short street: a facility at node 0 is 100 m from node 1
    source = snap_points(net, np.array([0.0]), np.array([0.0]), max_snap_m=1.0)
    polygons = facility_polygons(
        net, source, reach_matrix(net, source, 400.0), 420.0, off_network_m=20.0
    )
    # and the service area follows the detour too (its far corner is 200 m away on it)
    assert polygons[0].contains(shapely.Point(100, 110))


def test_from_arrays_reverses_geometry_of_flipped_edges_and_labels_components():
    line = shapely.LineString([(100, 0), (50, 40), (0, 0)])  # drawn from node 1 to node 0
    other = shapely.LineString([(500, 0), (600, 0)])
    net = WalkNetwork.from_arrays(
        [0.0, 100.0, 500.0, 600.0], [0.0] * 4, [1, 2], [0, 3], edge_geometry=[line, other]
    )
    assert shapely.get_coordinates(net.edge_geometry[0])[0].tolist() == [0.0, 0.0]
    assert net.edge_length_m[0] == pytest.approx(2 * np.hypot(50, 40))
    assert net.component[0] == net.component[1] != net.component[2] == net.component[3]


def test_zero_length_edge_is_kept_as_an_edge():
    net = WalkNetwork.from_arrays([0.0, 0.0, 10.0], [0.0, 0.0, 0.0], [0, 1], [1, 2])
    assert net.component.tolist() == [0, 0, 0]
    assert net.weights_m.min() == 0.0


def test_bad_edges_are_refused():
    with pytest.raises(NetworkError, match="node positions"):
        WalkNetwork.from_arrays([0.0, 1.0], [0.0, 0.0], [0], [2])
    with pytest.raises(NetworkError, match="non-negative"):
        WalkNetwork.from_arrays([0.0, 1.0], [0.0, 0.0], [0], [1], edge_length_m=[-1.0])


def test_from_graph_on_a_real_extract(osm_graphs):
    graph = osm_graphs["shu_shanghai_baoshan"]
    net = WalkNetwork.from_graph(graph)
    assert net.n_nodes == graph.number_of_nodes()
    assert net.crs.to_epsg() == 32651  # Shanghai, 121.4 E: UTM zone 51N
    # Every way is one undirected edge (parallel ways too); the search sees the shortest.
    shortest: dict[tuple[int, int], float] = {}
    distinct = set()
    for u, v, data in graph.edges(data=True):
        if u != v:
            key = (min(u, v), max(u, v))
            shortest[key] = min(shortest.get(key, np.inf), data["length"])
            distinct.add((*key, round(data["length"], 6)))
    assert net.n_edges == len(distinct) > len(shortest)  # Baoshan has parallel ways
    ids = net.node_ids
    got = {
        (int(ids[min(a, b)]), int(ids[max(a, b)])): net.csr[a, b]
        for a, b in zip(net.edge_u.tolist(), net.edge_v.tolist(), strict=True)
    }
    got = {(min(a, b), max(a, b)): w for (a, b), w in got.items()}
    assert got == pytest.approx(shortest)
    # Geometries run from edge_u to edge_v and their planar length matches 'length' closely.
    start = shapely.get_coordinates(shapely.get_point(net.edge_geometry, 0))
    np.testing.assert_allclose(
        start, np.column_stack([net.x[net.edge_u], net.y[net.edge_u]]), atol=0.01
    )
    ratio = shapely.length(net.edge_geometry) / np.maximum(net.edge_length_m, 1e-9)
    assert np.median(ratio) == pytest.approx(1.0, abs=0.01)
    assert (shapely.get_num_coordinates(net.edge_geometry) > 2).any()  # curved edges kept


def test_from_graph_refuses_an_empty_graph():
    import networkx as nx

    with pytest.raises(NetworkError, match="empty"):
        WalkNetwork.from_graph(nx.MultiDiGraph())


def test_snap_points_perpendicular_offset_and_limit():
    net = WalkNetwork.from_arrays(
        [0.0, 200.0, 200.0], [0.0, 0.0, 300.0], [0, 1], [1, 2], edge_length_m=[400.0, 300.0]
    )
    snaps = snap_points(
        net,
        np.array([50.0, 230.0, 1000.0, np.nan]),
        np.array([20.0, 150.0, 0.0, 1.0]),
        max_snap_m=100.0,
    )
    assert snaps.edge.tolist() == [0, 1, 0, -1]
    # Offsets are in the edge's length scale: edge 0 is 200 m drawn but 400 m long.
    np.testing.assert_allclose(snaps.offset_m[:3], [100.0, 150.0, 400.0])
    np.testing.assert_allclose(snaps.distance_m[:3], [20.0, 30.0, 800.0])
    assert np.isinf(snaps.distance_m[3])
    assert snaps.ok.tolist() == [True, True, False, False]


def test_edge_crossings_are_flagged():
    # Two edges crossing like a bridge over a road, with no shared node.
    net = WalkNetwork.from_arrays(
        [0.0, 100.0, 50.0, 50.0, 300.0], [0.0, 0.0, -50.0, 50.0, 0.0], [0, 2, 1], [1, 3, 4]
    )
    flags = dict(
        zip(
            zip(net.edge_u.tolist(), net.edge_v.tolist(), strict=True),
            net.edge_crosses.tolist(),
            strict=True,
        )
    )
    assert flags == {(0, 1): True, (2, 3): True, (1, 4): False}


def test_edge_vertices_walk_each_geometry():
    line = shapely.LineString([(0, 0), (30, 40), (30, 100)])
    net = WalkNetwork.from_arrays(
        [0.0, 30.0, 90.0],
        [0.0, 100.0, 100.0],
        [0, 1],
        [1, 2],
        edge_geometry=[line, shapely.LineString([(30, 100), (90, 100)])],
    )
    coords, first, along = net.edge_vertices
    assert first.tolist() == [0, 3, 5]
    np.testing.assert_allclose(along, [0.0, 50.0, 110.0, 0.0, 60.0])
    assert coords.shape == (5, 2)


def test_overlapping_edges_sharing_a_node_are_flagged():
    # 0-1 and 0-2 leave node 0 the same way: 0-2 lies on 0-1 (a duplicated way).
    net = WalkNetwork.from_arrays(
        [0.0, 100.0, 50.0, 0.0], [0.0, 0.0, 0.0, 80.0], [0, 0, 0], [1, 2, 3]
    )
    flags = dict(
        zip(
            zip(net.edge_u.tolist(), net.edge_v.tolist(), strict=True),
            net.edge_crosses.tolist(),
            strict=True,
        )
    )
    assert flags == {(0, 1): True, (0, 2): True, (0, 3): False}


@st.composite
def _bent_edges(draw):
    """Edges between a few nodes of a 3 x 3 lattice, each bent through lattice points, so that
    edges sharing a node often cross, touch or run along each other elsewhere."""
    n_nodes = draw(st.integers(2, 5))
    lattice = st.tuples(st.integers(0, 2), st.integers(0, 2))
    nodes = draw(st.lists(lattice, min_size=n_nodes, max_size=n_nodes, unique=True))
    edges = []
    for _ in range(draw(st.integers(1, 7))):
        u, v = draw(st.tuples(st.integers(0, n_nodes - 1), st.integers(0, n_nodes - 1)))
        points = [nodes[u], *draw(st.lists(lattice, min_size=1, max_size=3)), nodes[v]]
        if u != v and all(p != q for p, q in itertools.pairwise(points)):
            edges.append((u, v, shapely.LineString(np.array(points, dtype=float) * 10)))
    return np.array(nodes, dtype=float) * 10, edges


@settings(max_examples=150, deadline=None)
@given(_bent_edges())
def test_edge_crosses_of_bent_edges_equal_shapelys_predicates(case):
    """Edges sharing a node meet elsewhere when they cross or overlap; others when they meet."""
    nodes, edges = case
    if not edges:
        return
    net = WalkNetwork.from_arrays(
        nodes[:, 0],
        nodes[:, 1],
        [u for u, _, _ in edges],
        [v for _, v, _ in edges],
        edge_geometry=[g for _, _, g in edges],
    )
    geoms = net.edge_geometry
    expected = np.zeros(net.n_edges, dtype=bool)
    for i, j in itertools.combinations(range(net.n_edges), 2):
        shared = {net.edge_u[i], net.edge_v[i]} & {net.edge_u[j], net.edge_v[j]}
        if shared:
            meets = shapely.crosses(geoms[i], geoms[j]) or shapely.overlaps(geoms[i], geoms[j])
        else:
            meets = shapely.intersects(geoms[i], geoms[j])
        expected[[i, j]] |= bool(meets)
    np.testing.assert_array_equal(net.edge_crosses, expected)


@pytest.mark.parametrize("max_snap_m", [30.0, 50.0, 200.0])
def test_snap_points_equal_shapely_on_real_extracts(osm_graphs, max_snap_m):
    """Nearest edge, distance and offset equal GEOS's nearest search and line_locate_point,
    for points on, near and far from the network (curved edges included)."""
    rng = np.random.default_rng(7)
    for graph in osm_graphs.values():
        net = WalkNetwork.from_graph(graph)
        n = 400
        node = rng.integers(0, net.n_nodes, n)
        spread = rng.choice([0.0, 5.0, 40.0, 120.0, 2000.0], n)
        x = net.x[node] + rng.uniform(-1, 1, n) * spread
        y = net.y[node] + rng.uniform(-1, 1, n) * spread
        x[:5] = np.nan
        snaps = snap_points(net, x, y, max_snap_m=max_snap_m)
        points = shapely.points(x[5:], y[5:])
        (_, ref_edge), ref_dist = net.edge_tree.query_nearest(
            points, return_distance=True, all_matches=False
        )
        np.testing.assert_allclose(snaps.distance_m[5:], ref_dist, rtol=0, atol=1e-9)
        # The same edge, or an equally near one (points at a node are near several).
        chosen = shapely.distance(points, net.edge_geometry[snaps.edge[5:]])
        np.testing.assert_allclose(chosen, ref_dist, rtol=0, atol=1e-9)
        unique = snaps.edge[5:] == ref_edge
        assert unique.mean() > 0.8
        fraction = shapely.line_locate_point(net.edge_geometry[ref_edge], points, normalized=True)
        expected = np.nan_to_num(fraction) * net.edge_length_m[ref_edge]
        np.testing.assert_allclose(snaps.offset_m[5:][unique], expected[unique], rtol=0, atol=1e-6)
        assert snaps.ok.tolist() == ([False] * 5 + (ref_dist <= max_snap_m).tolist())
        assert np.isinf(snaps.distance_m[:5]).all() and (snaps.edge[:5] == -1).all()


def test_snapping_many_points_in_two_processes_equals_one(osm_graphs, monkeypatch):
    from dataclasses import fields

    import lifecircle.geo.network as network_module

    graph = next(iter(osm_graphs.values()))
    net = WalkNetwork.from_graph(graph)
    rng = np.random.default_rng(3)
    node = rng.integers(0, net.n_nodes, 3001)
    x = net.x[node] + rng.uniform(-300, 300, node.size)
    y = net.y[node] + rng.uniform(-300, 300, node.size)
    x[::97] = np.nan
    one = snap_points(net, x, y, max_snap_m=100.0)
    monkeypatch.setattr(network_module, "_PARALLEL_SNAP_MIN", 1000)
    two = snap_points(net, x, y, max_snap_m=100.0, workers=2)
    for field in fields(one):
        np.testing.assert_array_equal(getattr(two, field.name), getattr(one, field.name))


def test_street_names_follow_the_kept_edges_and_the_nearest_named_one():
    # both directions of 0-1 (青石路) are one edge; a longer parallel 1-2 way keeps its own
    # name; edge 1-2 is unnamed, 2-3 named
    net = WalkNetwork.from_arrays(
        [0.0, 100.0, 200.0, 300.0],
        [0.0] * 4,
        [0, 1, 1, 2, 2],
        [1, 0, 2, 3, 1],
        edge_length_m=[100.0, 100.0, 100.0, 100.0, 180.0],
        edge_name=["青石路", "青石路", "", "柳岸路", "小河弄"],
    )
    assert net.edge_name.tolist() == ["青石路", "", "小河弄", "柳岸路"]
    names = net.street_names(
        [10.0, 150.0, 290.0, 150.0], [5.0, 20.0, 10.0, 900.0], max_distance_m=300.0
    )
    # 150 m along the unnamed edge the named way beside it (20 m) is nearer than 青石路 and
    # 柳岸路 (50 m); 900 m off the line nothing is near enough
    assert names.tolist() == ["青石路", "小河弄", "柳岸路", ""]
    unnamed = WalkNetwork.from_arrays([0.0, 100.0], [0.0, 0.0], [0], [1])
    assert unnamed.edge_name is None and unnamed.street_names([0.0], [0.0]).tolist() == [""]


def test_from_graph_keeps_street_names(osm_graphs):
    graph = next(iter(osm_graphs.values()))
    net = WalkNetwork.from_graph(graph)
    tagged = {n if isinstance(n, str) else n[0] for _, _, n in graph.edges(data="name") if n}
    assert net.edge_name is not None and net.edge_name.size == net.n_edges
    kept = set(net.edge_name) - {""}
    assert kept and kept <= tagged
