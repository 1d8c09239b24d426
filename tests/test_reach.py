"""Reach: distances equal networkx's on the same graphs, exactly on partial and shared edges."""

from __future__ import annotations

import math
from itertools import pairwise, product

import networkx as nx
import numpy as np
import pytest
import shapely
from conftest import SAMPLE_NETWORK, grid_network
from hypothesis import given, settings
from hypothesis import strategies as st

from lifecircle.coverage.reach import (
    distances_from_csr,
    nearest_point_distances,
    nearest_sources,
    point_cover_matrix,
    reach_matrix,
)
from lifecircle.geo.network import Snaps, WalkNetwork, csr_from_edges, snap_points


def reference_graph(graph: nx.MultiDiGraph) -> nx.Graph:
    """The undirected graph a walker uses: the shortest parallel edge, no self-loops."""
    simple = nx.Graph()
    simple.add_nodes_from(graph.nodes)
    for u, v, data in graph.edges(data=True):
        if u == v:
            continue
        length = float(data["length"])
        if not simple.has_edge(u, v) or simple[u][v]["weight"] > length:
            simple.add_edge(u, v, weight=length)
    return simple


def split_graph(network: WalkNetwork, points: list[tuple[str, Snaps]]) -> nx.Graph:
    """The network as networkx with every snapped point inserted on its edge (edge split at
    the offsets) and joined by a connector of its snap distance: an independent reference."""
    g = nx.Graph()
    g.add_nodes_from(range(network.n_nodes))
    on_edge: dict[int, list[tuple[float, object]]] = {}
    for label, snaps in points:
        for i in np.flatnonzero(snaps.ok):
            node = (label, int(i))
            g.add_edge(node, (label, int(i), "on"), weight=float(snaps.distance_m[i]))
            on_edge.setdefault(int(snaps.edge[i]), []).append(
                (float(snaps.offset_m[i]), (label, int(i), "on"))
            )
    for e in range(network.n_edges):
        u, v, length = int(network.edge_u[e]), int(network.edge_v[e]), network.edge_length_m[e]
        stops = [(0.0, u), *sorted(on_edge.get(e, []), key=lambda s: s[0]), (length, v)]
        for (o1, a), (o2, b) in pairwise(stops):
            w = o2 - o1
            if g.has_edge(a, b):
                w = min(w, g[a][b]["weight"])
            g.add_edge(a, b, weight=w)
    return g


def random_snaps(network: WalkNetwork, count: int, seed: int, *, spread_m: float = 60.0) -> Snaps:
    rng = np.random.default_rng(seed)
    nodes = rng.integers(0, network.n_nodes, count)
    x = network.x[nodes] + rng.uniform(-spread_m, spread_m, count)
    y = network.y[nodes] + rng.uniform(-spread_m, spread_m, count)
    return snap_points(network, x, y, max_snap_m=1e9)


def assert_close_inf(ours: np.ndarray, ref: np.ndarray) -> None:
    ours = np.asarray(ours, dtype=float)
    ref = np.asarray(ref, dtype=float)
    assert np.array_equal(np.isinf(ours), np.isinf(ref))
    finite = np.isfinite(ref)
    np.testing.assert_allclose(ours[finite], ref[finite], rtol=0, atol=1e-6)


def check_node_sources(graph: nx.MultiDiGraph, seed: int) -> None:
    network = WalkNetwork.from_graph(graph)
    ref_graph = reference_graph(graph)
    rng = np.random.default_rng(seed)
    cases = [(1, math.inf), (5, 400.0), (40, math.inf), (40, 900.0)]
    for (count, limit), method in product(cases, ["wavefront", "heap", "auto"]):
        positions = rng.choice(network.n_nodes, count, replace=False)
        nodes = np.column_stack([positions, positions])
        dist, source = distances_from_csr(
            network.indptr,
            network.indices,
            network.weights_m,
            network.n_nodes,
            nodes,
            np.zeros((count, 2)),
            limit_m=limit,
            method=method,
        )
        ids = network.node_ids[positions]
        ref = nx.multi_source_dijkstra_path_length(ref_graph, set(ids.tolist()), weight="weight")
        expected = np.array([ref.get(n, math.inf) for n in network.node_ids.tolist()])
        expected[expected > limit] = math.inf
        assert_close_inf(dist, expected)
        # The winning source is at exactly that distance.
        reached = np.flatnonzero(source >= 0)
        winner_ids = ids[source[reached]]
        for node_pos in rng.choice(reached, min(20, reached.size), replace=False):
            length = nx.shortest_path_length(
                ref_graph,
                int(ids[source[node_pos]]),
                int(network.node_ids[node_pos]),
                weight="weight",
            )
            assert abs(length - dist[node_pos]) < 1e-6
        assert winner_ids.size == reached.size


def check_partial_sources(network: WalkNetwork, seed: int) -> None:
    facilities = random_snaps(network, 25, seed)
    demand = random_snaps(network, 300, seed + 1)
    # Some demand on the very edges of facilities, to exercise the shared-edge walk.
    shared = Snaps(
        facilities.edge[:10],
        np.clip(facilities.offset_m[:10][::-1] * 0 + facilities.offset_m[:10] * 0.5, 0, None),
        np.full(10, 7.0),
        np.ones(10, bool),
        facilities.x_m[:10],
        facilities.y_m[:10],
    )
    demand = Snaps(
        *(
            np.concatenate([getattr(demand, f), getattr(shared, f)])
            for f in ("edge", "offset_m", "distance_m", "ok", "x_m", "y_m")
        )
    )
    g = split_graph(network, [("f", facilities), ("d", demand)])
    sources = [("f", int(i)) for i in np.flatnonzero(facilities.ok)]
    ref = nx.multi_source_dijkstra_path_length(g, sources, weight="weight")
    limit = 900.0
    reach = nearest_sources(network, facilities, limit_m=limit)
    expected_nodes = np.array([ref.get(n, math.inf) for n in range(network.n_nodes)])
    expected_nodes[expected_nodes > limit] = math.inf
    assert_close_inf(reach.distance_m, expected_nodes)
    dist, nearest = nearest_point_distances(network, reach, facilities, demand)
    expected = np.array([ref.get(("d", i), math.inf) for i in range(len(demand))])
    expected[expected > limit] = math.inf
    assert_close_inf(dist, expected)
    # The reported nearest facility really is that far away.
    for i in np.flatnonzero(nearest >= 0)[:15]:
        d = nx.shortest_path_length(g, ("f", int(nearest[i])), ("d", int(i)), weight="weight")
        assert abs(d - dist[i]) < 1e-6


@pytest.mark.parametrize("seed", [1, 2])
def test_node_distances_equal_networkx_on_real_extracts(osm_graphs, seed):
    for graph in osm_graphs.values():
        check_node_sources(graph, seed)


def test_partial_edge_distances_equal_split_graph_on_real_extracts(osm_graphs):
    for index, graph in enumerate(osm_graphs.values()):
        check_partial_sources(WalkNetwork.from_graph(graph), seed=10 + index)


def test_sample_district_distances_equal_networkx(sample_graph):
    assert SAMPLE_NETWORK.exists()
    check_node_sources(sample_graph, seed=3)
    check_partial_sources(WalkNetwork.from_graph(sample_graph), seed=4)


def line_network() -> WalkNetwork:
    # 0 --100-- 1 --100-- 2 --100-- 3, plus a long detour 0 --500-- 3 bowing north.
    x, y = [0.0, 100.0, 200.0, 300.0], [0.0, 0.0, 0.0, 0.0]
    lines = [
        shapely.LineString([(0, 0), (100, 0)]),
        shapely.LineString([(100, 0), (200, 0)]),
        shapely.LineString([(200, 0), (300, 0)]),
        shapely.LineString([(0, 0), (0, 200), (300, 200), (300, 0)]),
    ]
    return WalkNetwork.from_arrays(
        x,
        y,
        [0, 1, 2, 0],
        [1, 2, 3, 3],
        edge_length_m=[100.0, 100.0, 100.0, 500.0],
        edge_geometry=lines,
    )


def test_partial_edge_hand_checked():
    net = line_network()
    # A facility 10 m off edge (1, 2), 30 m from node 1.
    fac = snap_points(net, np.array([130.0]), np.array([10.0]), max_snap_m=50)
    assert (net.edge_u[fac.edge[0]], net.edge_v[fac.edge[0]]) == (1, 2)
    assert fac.offset_m[0] == pytest.approx(30.0)
    reach = nearest_sources(net, fac, limit_m=1000)
    np.testing.assert_allclose(reach.distance_m, [140.0, 40.0, 80.0, 180.0])
    # Node 3 is 180 m away; the 0-3 detour is longer than through the line.
    limited = nearest_sources(net, fac, limit_m=100)
    np.testing.assert_allclose(limited.distance_m, [np.inf, 40.0, 80.0, np.inf])
    assert limited.source.tolist() == [-1, 0, 0, -1]


def test_same_edge_facility_and_demand_hand_checked():
    # One long edge: facility at 100 m, cell at 160 m, both 5 m off. Through the nodes the
    # walk is 5 + 100 + ... ; along the edge it is 5 + 60 + 5 = 70 m.
    net = WalkNetwork.from_arrays([0.0, 1000.0], [0.0, 0.0], [0], [1])
    fac = snap_points(net, np.array([100.0]), np.array([5.0]), max_snap_m=50)
    cell = snap_points(net, np.array([160.0, 990.0]), np.array([-5.0, 0.0]), max_snap_m=50)
    reach = nearest_sources(net, fac, limit_m=2000)
    np.testing.assert_allclose(reach.distance_m, [105.0, 905.0])
    dist, nearest = nearest_point_distances(net, reach, fac, cell)
    np.testing.assert_allclose(dist, [70.0, 895.0])
    assert nearest.tolist() == [0, 0]
    cover = point_cover_matrix(net, fac, cell, 100.0)
    assert cover.toarray().tolist() == [[70.0, 0.0]]
    assert cover.nnz == 1


def test_unsnapped_and_unreachable_are_inf():
    net = WalkNetwork.from_arrays([0.0, 100.0, 500.0, 600.0], [0.0] * 4, [0, 2], [1, 3])
    fac = snap_points(net, np.array([0.0, 5000.0]), np.array([0.0, 0.0]), max_snap_m=100)
    assert fac.ok.tolist() == [True, False]
    assert fac.distance_m[1] == pytest.approx(4400.0)
    cells = snap_points(
        net, np.array([50.0, 550.0, np.nan]), np.array([0.0, 0.0, np.nan]), max_snap_m=100
    )
    reach = nearest_sources(net, fac, limit_m=10_000)
    dist, nearest = nearest_point_distances(net, reach, fac, cells)
    assert dist[0] == pytest.approx(50.0)
    assert np.isinf(dist[1:]).all() and nearest.tolist() == [0, -1, -1]


def test_reach_matrix_rows_equal_single_source_searches():
    net = grid_network(6, 7, spacing_m=90.0)
    fac = random_snaps(net, 9, seed=5)
    limit = 350.0
    matrix = reach_matrix(net, fac, limit, batch_size=4)
    assert matrix.shape == (9, net.n_nodes)
    for i in range(9):
        one = fac.subset(np.array([i]))
        expected = nearest_sources(net, one, limit_m=limit).distance_m
        row = np.full(net.n_nodes, np.inf)
        start, stop = matrix.indptr[i], matrix.indptr[i + 1]
        row[matrix.indices[start:stop]] = matrix.data[start:stop]
        assert_close_inf(row, expected)


def test_point_cover_matrix_equals_split_graph():
    net = grid_network(5, 6, spacing_m=80.0)
    fac = random_snaps(net, 6, seed=7)
    cells = random_snaps(net, 80, seed=8)
    limit = 260.0
    cover = point_cover_matrix(net, fac, cells, limit).toarray()
    stored = point_cover_matrix(net, fac, cells, limit, boolean=True)
    g = split_graph(net, [("f", fac), ("d", cells)])
    for i in range(len(fac)):
        ref = nx.single_source_dijkstra_path_length(g, ("f", i), weight="weight")
        expected = np.array([ref.get(("d", j), math.inf) for j in range(len(cells))])
        within = expected <= limit
        row = stored[i].toarray().ravel()
        assert np.array_equal(row, within)
        np.testing.assert_allclose(cover[i][within], expected[within], atol=1e-6)


@st.composite
def random_graphs(draw):
    """Small random graphs: parallel edges, zero lengths, several components, any sources."""
    n = draw(st.integers(2, 30))
    m = draw(st.integers(1, 60))
    u = draw(st.lists(st.integers(0, n - 1), min_size=m, max_size=m))
    v = draw(st.lists(st.integers(0, n - 1), min_size=m, max_size=m))
    length = draw(
        st.lists(st.sampled_from([0.0, 1.0, 2.5, 10.0, 37.0, 100.0]), min_size=m, max_size=m)
    )
    k = draw(st.integers(1, 6))
    entry_node = draw(st.lists(st.integers(0, n - 1), min_size=2 * k, max_size=2 * k))
    entry_m = draw(st.lists(st.floats(0.0, 50.0), min_size=2 * k, max_size=2 * k))
    limit = draw(st.sampled_from([0.0, 5.0, 40.0, 120.0, math.inf]))
    return n, u, v, length, np.reshape(entry_node, (k, 2)), np.reshape(entry_m, (k, 2)), limit


@settings(max_examples=300, deadline=None)
@given(random_graphs())
def test_wavefront_and_heap_agree_with_networkx(case):
    n, u, v, length, entry_node, entry_m, limit = case
    keep = np.asarray(u) != np.asarray(v)
    u, v, length = (np.asarray(a)[keep] for a in (u, v, length))
    indptr, indices, weights = csr_from_edges(u, v, length, n)
    # networkx on the same edges, each source as a node joined to its two entry nodes.
    g = nx.MultiGraph()
    g.add_nodes_from(range(n))
    g.add_weighted_edges_from(zip(u.tolist(), v.tolist(), length.tolist(), strict=True))
    for i, (nodes, dists) in enumerate(zip(entry_node, entry_m, strict=True)):
        for node, d in zip(nodes.tolist(), dists.tolist(), strict=True):
            g.add_edge(("s", i), node, weight=d)
    ref = nx.multi_source_dijkstra_path_length(g, [("s", i) for i in range(len(entry_node))])
    expected = np.array([ref.get(node, math.inf) for node in range(n)])
    expected[expected > limit] = math.inf
    for method in ("wavefront", "heap"):
        dist, source = distances_from_csr(
            indptr, indices, weights, n, entry_node, entry_m, limit_m=limit, method=method
        )
        assert_close_inf(dist, expected)
        assert np.array_equal(source >= 0, np.isfinite(expected))
        for node in np.flatnonzero(source >= 0):
            via = nx.shortest_path_length(g, ("s", int(source[node])), int(node), weight="weight")
            assert via == pytest.approx(dist[node], abs=1e-9)


def test_unknown_search_method_is_refused():
    net = line_network()
    with pytest.raises(ValueError, match="wavefront"):
        distances_from_csr(
            net.indptr,
            net.indices,
            net.weights_m,
            net.n_nodes,
            np.array([[0, 1]]),
            np.array([[0.0, 100.0]]),
            limit_m=10.0,
            method="bfs",
        )
