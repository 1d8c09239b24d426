"""Service-area polygons: exact cut edges, the off-network allowance, rivers crossed on bridges."""

from __future__ import annotations

import geopandas as gpd
import numpy as np
import pytest
import shapely
from conftest import SAMPLE_RIVER, X0, Y0, grid_network

from lifecircle.coverage import areas
from lifecircle.coverage.areas import (
    cut_edges,
    facility_polygons,
    reached_pieces,
    service_area_polygons,
)
from lifecircle.coverage.reach import nearest_sources, reach_matrix
from lifecircle.geo.network import WalkNetwork, snap_points


def polygons(net: WalkNetwork, snaps, reach_m: float, off_m: float, **kw):
    matrix = reach_matrix(net, snaps, max(reach_m - off_m, 0.0))
    return facility_polygons(net, snaps, matrix, reach_m, off_network_m=off_m, **kw)


def test_cut_edges_follows_curved_geometry():
    line = shapely.LineString([(0, 0), (100, 0), (100, 100)])
    net = WalkNetwork.from_arrays(
        [0.0, 100.0], [0.0, 100.0], [0], [1], edge_geometry=[line], edge_length_m=[400.0]
    )  # network length twice the drawing
    pieces = cut_edges(
        net, np.array([0, 0, 0]), np.array([0.0, 100.0, 0.0]), np.array([400.0, 300.0, 0.0])
    )
    assert pieces[0].equals(line)
    assert pieces[1].equals(shapely.LineString([(50, 0), (100, 0), (100, 50)]))
    assert shapely.get_coordinates(pieces[2]).tolist() == [[0.0, 0.0], [0.0, 0.0]]


def test_partial_edge_polygon_on_a_line_hand_checked():
    # One 1000 m street; a facility on it at 300 m; 500 m reach, 50 m allowance: the network is
    # reached from -200 m (clipped at 0) to 800 m, the core to 750 m, the polygon to 800 m.
    net = WalkNetwork.from_arrays([X0, X0 + 1000.0], [Y0, Y0], [0], [1])
    fac = snap_points(net, np.array([X0 + 300.0]), np.array([Y0]), max_snap_m=10)
    poly = polygons(net, fac, 500.0, 50.0, simplify_m=0.0)[0]
    minx, miny, maxx, maxy = poly.bounds
    assert (minx - X0, maxx - X0) == pytest.approx((-50.0, 800.0), abs=1e-6)
    assert (miny - Y0, maxy - Y0) == pytest.approx((-50.0, 50.0), abs=1e-6)
    # Reach below the allowance: a disc of the reach around the facility.
    small = polygons(net, fac, 30.0, 50.0)[0]
    assert small.area == pytest.approx(np.pi * 30.0**2, rel=0.05)


def test_partial_edges_from_both_ends_leave_a_gap():
    # Square block of 100 m sides; a facility at a corner reaches 150 m: the far corner (200 m
    # away both ways) is not reached, both far edges are cut at 50 m from their near ends.
    net = WalkNetwork.from_arrays(
        [X0, X0 + 100, X0 + 100, X0], [Y0, Y0, Y0 + 100, Y0 + 100], [0, 1, 2, 3], [1, 2, 3, 0]
    )
    reach = nearest_sources(
        net, snap_points(net, np.array([X0]), np.array([Y0]), max_snap_m=1), limit_m=1000
    )
    _, edge, start, stop = reached_pieces(
        net, np.zeros(4, dtype=np.int64), np.arange(4), reach.distance_m, 150.0
    )
    got = sorted(zip(edge.tolist(), start.tolist(), stop.tolist(), strict=True))
    # Edges: 0 (0-1), 1 (0-3), 2 (1-2), 3 (2-3); node 2 is 200 m away.
    assert got == [(0, 0.0, 100.0), (1, 0.0, 100.0), (2, 0.0, 50.0), (3, 50.0, 100.0)]


def covered_by_model(
    net: WalkNetwork,
    node_d: np.ndarray,
    points: np.ndarray,
    reach_m: float,
    off_m: float,
    step_m: float = 0.5,
) -> np.ndarray:
    """Independent check of the model: sample every edge finely; a point is covered when some
    sampled network point q has |pq| <= min(off, R - D(q))."""
    qs, dq = [], []
    for e in range(net.n_edges):
        u, v, length = net.edge_u[e], net.edge_v[e], net.edge_length_m[e]
        t = np.linspace(0.0, length, int(length / step_m) + 1)
        xy = shapely.get_coordinates(shapely.line_interpolate_point(net.edge_geometry[e], t))
        qs.append(xy)
        dq.append(np.minimum(node_d[u] + t, node_d[v] + (length - t)))
    q = np.concatenate(qs)
    d = np.concatenate(dq)
    keep = d <= reach_m
    q, radius = q[keep], np.minimum(off_m, reach_m - d[keep])
    dist = np.hypot(points[:, None, 0] - q[None, :, 0], points[:, None, 1] - q[None, :, 1])
    return (dist <= radius[None, :]).any(axis=1)


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_polygon_matches_the_model_pointwise(seed):
    rng = np.random.default_rng(seed)
    net = grid_network(5, 5, spacing_m=120.0)
    # A facility on a node (no connector): the model's discs start at the network.
    node = int(rng.integers(0, net.n_nodes))
    fac = snap_points(net, net.x[[node]], net.y[[node]], max_snap_m=1)
    reach_m, off_m = float(rng.uniform(150, 400)), 40.0
    poly = polygons(net, fac, reach_m, off_m, simplify_m=0.0)[0]
    node_d = nearest_sources(net, fac, limit_m=1e9).distance_m
    pts = np.column_stack(
        [rng.uniform(X0 - 60, X0 + 540, 400), rng.uniform(Y0 - 60, Y0 + 540, 400)]
    )
    expected = covered_by_model(net, node_d, pts, reach_m, off_m)
    inside = shapely.contains_xy(poly, pts[:, 0], pts[:, 1])
    # Points within 2 m of the outline may differ by the buffer's arc approximation.
    near_edge = shapely.distance(shapely.boundary(poly), shapely.points(pts)) < 2.0
    assert np.array_equal(inside[~near_edge], expected[~near_edge])
    assert expected.any() and (~expected).any()


def test_faces_method_equals_plain_buffer_union():
    net = grid_network(8, 8, spacing_m=90.0)
    rng = np.random.default_rng(4)
    fac = snap_points(
        net, rng.uniform(X0, X0 + 630, 6), rng.uniform(Y0, Y0 + 630, 6), max_snap_m=100
    )
    polys = polygons(net, fac, 400.0, 50.0, simplify_m=0.0)
    matrix = reach_matrix(net, fac, 350.0)
    rows = np.repeat(np.arange(6), np.diff(matrix.indptr))
    group, edge, start, stop = reached_pieces(net, rows, matrix.indices, matrix.data, 350.0)
    lines = cut_edges(net, edge, start, stop)
    for i in range(6):
        # Own-edge piece and connector are added separately; compare on the edge pieces only
        # by checking the plain union is inside ours and ours adds only near the facility.
        plain = shapely.union_all(shapely.buffer(lines[group == i], 50.0, quad_segs=4))
        assert shapely.difference(plain, polys[i]).area < 1.0
        extra = shapely.difference(polys[i], plain)
        if not extra.is_empty:
            assert extra.distance(shapely.Point(fac.x_m[i], fac.y_m[i])) < 400.0


def river_network() -> tuple[WalkNetwork, shapely.Polygon, shapely.LineString]:
    # Two 8 x 5 grids (100 m) separated by a 300 m wide river, one bridge on row 2.
    net = grid_network(8, 10, spacing_m=100.0, gap_after_col=4, gap_m=300.0, bridge_rows=(2,))
    river = shapely.box(X0 + 400.0, Y0 - 500.0, X0 + 700.0, Y0 + 1200.0)
    bridge = shapely.LineString([(X0 + 400.0, Y0 + 200.0), (X0 + 700.0, Y0 + 200.0)])
    return net, river, bridge


def test_service_area_crosses_the_river_only_over_the_bridge():
    net, river, bridge = river_network()
    near = np.array([X0 + 350.0, X0 + 100.0])  # one near the bridge, one far on the west bank
    fac = snap_points(net, near, np.array([Y0 + 200.0, Y0 + 700.0]), max_snap_m=60)
    polys = polygons(net, fac, 900.0, 50.0)
    east = shapely.box(X0 + 700.0, Y0 - 500.0, X0 + 2000.0, Y0 + 1200.0)
    # The allowance may reach 50 m into the water from a bank street; the middle of the river
    # (farther than that from both banks) is entered only over the bridge.
    mid_river = shapely.buffer(river, -50.0)
    for poly in polys:
        wet = shapely.intersection(poly, mid_river)
        assert shapely.difference(wet, shapely.buffer(bridge, 50.0 + 1e-6)).area < 1e-6
    assert polys[0].intersection(mid_river).area > 10_000
    assert polys[0].intersection(east).area > 100_000  # reached the east bank by the bridge
    assert polys[1].intersection(east).area == 0.0
    # The dissolved area from the one multi-source search obeys the same rule.
    reach = nearest_sources(net, fac, limit_m=900.0)
    whole = service_area_polygons(net, fac, reach.distance_m, 900.0, off_network_m=50.0)
    assert (
        shapely.difference(
            shapely.intersection(whole, mid_river), shapely.buffer(bridge, 50.0 + 1e-6)
        ).area
        < 1e-6
    )
    assert whole.area == pytest.approx(shapely.union_all(polys).area, rel=1e-3)


def test_holes_stay_holes():
    # A 600 m square block walked around: its middle, farther than the allowance, stays empty.
    net = grid_network(2, 2, spacing_m=600.0)
    fac = snap_points(net, np.array([X0]), np.array([Y0]), max_snap_m=1)
    poly = polygons(net, fac, 3000.0, 50.0)[0]
    assert not poly.contains(shapely.Point(X0 + 300.0, Y0 + 300.0))
    assert len(poly.interiors) == 1


def test_sample_service_areas_cross_the_river_only_on_bridges(sample_graph):
    assert SAMPLE_RIVER.exists()
    net = WalkNetwork.from_graph(sample_graph)
    river = gpd.read_file(SAMPLE_RIVER).to_crs(net.crs)
    water = shapely.union_all(river[river["kind"] == "river"].geometry.values)
    bridges = shapely.union_all(river[river["kind"] == "bridge"].geometry.values)
    # Facilities on the nodes nearest the river (both banks).
    node_pts = shapely.points(net.x, net.y)
    nearest = np.argsort(shapely.distance(water, node_pts))[::37][:12]
    fac = snap_points(net, net.x[nearest], net.y[nearest], max_snap_m=5)
    # The river is ~80 m wide: with a 20 m allowance its middle 40 m is reached only on bridges.
    off_m = 20.0
    polys = polygons(net, fac, 900.0, off_m)
    mid_river = shapely.buffer(water, -off_m)
    crossing_allowance = shapely.buffer(bridges, off_m + 30.0)  # drawn bridge vs network edge
    crossed = 0
    for poly in polys:
        assert not poly.is_empty
        wet = shapely.intersection(poly, mid_river)
        assert shapely.difference(wet, crossing_allowance).area < 1.0
        crossed += wet.area > 0
    assert 0 < crossed  # some facility does reach over a bridge


def test_parallel_workers_give_the_same_polygons():
    net = grid_network(8, 8, spacing_m=90.0)
    rng = np.random.default_rng(4)
    fac = snap_points(
        net, rng.uniform(X0, X0 + 630, 9), rng.uniform(Y0, Y0 + 630, 9), max_snap_m=100
    )
    serial = polygons(net, fac, 400.0, 50.0)
    parallel = polygons(net, fac, 400.0, 50.0, workers=2)
    assert len(parallel) == len(serial)
    assert all(a.equals(b) for a, b in zip(serial, parallel, strict=True))


def capsule_polygons(lines: np.ndarray, **caps) -> np.ndarray:
    from lifecircle.coverage.areas import _capsule_rings

    _, curved, ring_xy, ring_size = _capsule_rings(lines, 50.0, **caps)
    ring = np.repeat(np.arange(ring_size.size), ring_size)
    straight = shapely.polygons(shapely.linearrings(ring_xy, indices=ring))
    assert shapely.is_ccw(shapely.get_exterior_ring(straight)).all()
    return np.r_[straight, curved]


def test_straight_capsules_equal_the_geos_buffer():
    rng = np.random.default_rng(7)
    lines = np.concatenate(
        [
            shapely.linestrings(rng.uniform(0, 100, (40, 2, 2))),
            [shapely.LineString([(5, 5), (5, 5)])],
            [shapely.LineString([(0, 0), (30, 40), (60, 0)])],
        ]
    )
    ours = capsule_polygons(lines)  # straight ones first, the curved one last
    geos = shapely.buffer(lines, 50.0, quad_segs=4)
    assert shapely.is_valid(ours).all()
    assert shapely.area(shapely.symmetric_difference(ours, geos)).max() < 1e-6


def test_square_capsule_ends_with_the_disc_make_the_round_capsule(monkeypatch):
    quad_segs = 64  # fine arcs, so that only a real difference shows
    monkeypatch.setattr(areas, "_QUAD_SEGS", quad_segs)
    rng = np.random.default_rng(8)
    lines = shapely.linestrings(rng.uniform(0, 100, (30, 2, 2)))
    start_cap = rng.random(30) < 0.5
    end_cap = rng.random(30) < 0.5
    square = capsule_polygons(lines, start_cap=start_cap, end_cap=end_cap)
    ends = shapely.points(shapely.get_coordinates(lines).reshape(30, 2, 2))
    discs = shapely.buffer(ends, 50.0, quad_segs=quad_segs)
    full = shapely.buffer(lines, 50.0, quad_segs=quad_segs)
    for i in range(30):
        whole = shapely.union_all([square[i], discs[i, 0], discs[i, 1]])
        assert shapely.hausdorff_distance(whole, full[i]) < 0.05
        # A square end has the two corners of its half circle only.
        dropped = int(not start_cap[i]) + int(not end_cap[i])
        assert shapely.get_num_coordinates(square[i]) == (
            4 * quad_segs + 3 - (2 * quad_segs - 1) * dropped
        )


def plain_buffer_reference(
    net: WalkNetwork, node: int, reach_m: float, off_m: float, quad_segs: int
):
    """The service area of a facility standing on ``node``, the slow plain way: distances from
    networkx, every reached piece buffered by GEOS and united (no blocks, no Clipper)."""
    import networkx as nx

    graph = nx.MultiGraph()  # parallel ways: networkx takes the shortest
    graph.add_weighted_edges_from(
        zip(net.edge_u.tolist(), net.edge_v.tolist(), net.edge_length_m.tolist(), strict=True)
    )
    found = nx.single_source_dijkstra_path_length(graph, node, cutoff=reach_m, weight="weight")
    nodes = np.array(list(found), dtype=np.int64)
    dist = np.array([found[n] for n in nodes.tolist()])
    _, edge, start, stop = reached_pieces(
        net, np.zeros(nodes.size, dtype=np.int64), nodes, dist, reach_m - off_m
    )
    pieces = np.r_[cut_edges(net, edge, start, stop), [shapely.Point(net.x[node], net.y[node])]]
    return shapely.union_all(shapely.buffer(pieces, off_m, quad_segs=quad_segs))


@pytest.mark.parametrize("reach_m", [350.0, 900.0])
def test_block_method_equals_plain_buffer_on_real_networks(
    osm_graphs, sample_graph, reach_m, monkeypatch
):
    """Blocks traced from the network, erosion and Clipper's union give the same area as
    buffering every reached piece with GEOS, on real streets (curved edges, bridges drawn over
    roads, separate pieces) and on the sample district with its river. Arcs are drawn finely
    on both sides so that only a real difference shows."""
    monkeypatch.setattr(areas, "_QUAD_SEGS", 32)
    rng = np.random.default_rng(11)
    graphs = {**osm_graphs, "sample": sample_graph}
    for name, graph in graphs.items():
        net = WalkNetwork.from_graph(graph)
        nodes = rng.choice(np.unique(net.edge_u), 4, replace=False)
        fac = snap_points(net, net.x[nodes], net.y[nodes], max_snap_m=1)
        ours = polygons(net, fac, reach_m, 50.0, simplify_m=0.0)
        for node, poly in zip(nodes.tolist(), ours, strict=True):
            assert shapely.is_valid(poly), name
            ref = plain_buffer_reference(net, node, reach_m, 50.0, quad_segs=32)
            # Chords of 32 per quarter circle stray 6 cm from a 50 m arc.
            assert shapely.hausdorff_distance(poly, ref) < 0.15, name
            assert poly.area == pytest.approx(ref.area, rel=1e-4), name


def test_network_blocks_equal_polygonize_on_real_networks(osm_graphs, sample_graph):
    """Every traced block is a face GEOS's polygonize finds among the same (uncrossed) edges."""
    for name, graph in {**osm_graphs, "sample": sample_graph}.items():
        net = WalkNetwork.from_graph(graph)
        faces = net.faces
        blocks = faces.polygons()
        assert blocks.size > 0, name
        assert shapely.is_valid(blocks).all(), name
        found = shapely.get_parts(shapely.polygonize(net.edge_geometry[~net.edge_crosses]))
        tree = shapely.STRtree(found)
        for poly in blocks:
            assert shapely.equals(poly, found[tree.query(poly)]).sum() == 1, name
        # Only blocks holding an island of other streets (a hole) are left out.
        assert blocks.size == (shapely.get_num_interior_rings(found) == 0).sum(), name
        # Each face's sides are exactly the half-edges naming it.
        assert np.array_equal(
            np.bincount(faces.face_of[faces.face_of >= 0], minlength=len(faces)), faces.n_sides
        )


def test_dissolved_area_around_an_island_of_streets():
    """A 200 m loop of streets (its own piece of network) inside a 600 m block, a facility on
    each: the block is no face (its ring misses the island), and the dissolved area equals
    buffering every reached piece."""
    outer = [(0, 0), (600, 0), (600, 600), (0, 600)]
    inner = [(200, 200), (400, 200), (400, 400), (200, 400)]
    xy = np.array([*outer, *inner], dtype=float) + np.array([X0, Y0])
    net = WalkNetwork.from_arrays(
        xy[:, 0], xy[:, 1], [0, 1, 2, 3, 4, 5, 6, 7], [1, 2, 3, 0, 5, 6, 7, 4]
    )
    assert len(net.faces) == 1  # the island's own block only
    assert net.faces.polygons()[0].area == pytest.approx(200.0 * 200.0)
    fac = snap_points(net, xy[[0, 4], 0], xy[[0, 4], 1], max_snap_m=1)
    reach = nearest_sources(net, fac, limit_m=2000.0)
    ours = service_area_polygons(
        net, fac, reach.distance_m, 2000.0, off_network_m=50.0, simplify_m=0.0
    )
    _, edge, start, stop = reached_pieces(
        net, np.zeros(8, dtype=np.int64), np.arange(8), reach.distance_m, 1950.0
    )
    plain = shapely.union_all(shapely.buffer(cut_edges(net, edge, start, stop), 50.0, quad_segs=4))
    assert shapely.symmetric_difference(ours, plain).area < 1.0
    # The middle of the island's block is farther than 50 m from any street.
    assert not ours.contains(shapely.Point(X0 + 300.0, Y0 + 300.0))
    assert ours.contains(shapely.Point(X0 + 300.0, Y0 + 240.0))
    assert not ours.contains(shapely.Point(X0 + 300.0, Y0 + 120.0))


def test_dissolved_area_in_tiles_equals_buffering_every_piece(monkeypatch):
    """Tiles much smaller than the area (pieces crossing tile edges, facilities in several
    tiles): united tile by tile it is still the buffer of every reached piece."""
    net = grid_network(12, 12, spacing_m=100.0, gap_after_col=5, gap_m=150.0, bridge_rows=(3,))
    rng = np.random.default_rng(3)
    fac = snap_points(
        net, rng.uniform(X0, X0 + 1200, 5), rng.uniform(Y0, Y0 + 1100, 5), max_snap_m=100
    )
    reach = nearest_sources(net, fac, limit_m=700.0)
    whole = service_area_polygons(
        net, fac, reach.distance_m, 700.0, off_network_m=50.0, simplify_m=0.0
    )
    monkeypatch.setattr(areas, "_TILE_M", 230.0)
    tiled = service_area_polygons(
        net, fac, reach.distance_m, 700.0, off_network_m=50.0, simplify_m=0.0
    )
    nodes = np.flatnonzero(reach.distance_m <= 650.0)
    _, edge, start, stop = reached_pieces(
        net, np.zeros(nodes.size, dtype=np.int64), nodes, reach.distance_m[nodes], 650.0
    )
    ok = np.flatnonzero(fac.ok)
    _, own = areas._own_edge_and_connector(net, fac, np.zeros(ok.size, dtype=np.int64), ok, 650.0)
    plain = shapely.union_all(
        shapely.buffer(np.r_[cut_edges(net, edge, start, stop), own], 50.0, quad_segs=4)
    )
    assert whole.area > 300_000 and tiled.is_valid
    assert shapely.symmetric_difference(tiled, plain).area < 1.0
    assert shapely.symmetric_difference(tiled, whole).area < 1.0
    in_workers = service_area_polygons(
        net, fac, reach.distance_m, 700.0, off_network_m=50.0, simplify_m=0.0, workers=2
    )
    assert shapely.symmetric_difference(in_workers, tiled).area < 1e-6


def _square(x: float, y: float) -> shapely.Polygon:
    return shapely.box(x, y, x + 1.0, y + 1.0)


@pytest.mark.parametrize(
    "polygons",
    [
        [_square(0, 0), _square(1, 1)],  # touching at one corner
        [_square(0, 0), _square(1, 1), _square(2, 0), _square(1, -1)],  # a hole closed by corners
        [shapely.Polygon([(0, 0), (4, 0), (4, 4), (0, 4)], [[(0, 0), (2, 1), (1, 2)]])],
    ],
)
def test_unite_gives_valid_unions_where_rings_touch_at_a_vertex(polygons):
    united = areas._unite(
        np.array(polygons, dtype=object), np.empty((0, 2)), np.empty(0, dtype=np.int64)
    )
    assert shapely.is_valid(united)
    assert shapely.symmetric_difference(united, shapely.union_all(polygons)).area < 1e-9
