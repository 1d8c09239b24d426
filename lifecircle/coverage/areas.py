"""Service-area polygons from the reached parts of network edges, never from hulls.

The model
---------
A walker reaches network point ``q`` after ``D(q)`` metres and may then step off the network
(into a compound, across a square) by at most ``off_network_m``, and no farther than the
distance left: the service area for a reach of ``R`` metres is the union of discs of radius
``min(off_network_m, R - D(q))`` around every reached point ``q`` (including the straight
connector from the facility to its snap point, where ``D`` runs from 0).

That union equals ``buffer(core, off_network_m)`` where ``core`` is the part of the network
(and connector) with ``D(q) <= R - off_network_m``: a point beyond the core with distance left
``r < off_network_m`` lies on a shortest path that passed the core's rim ``off_network_m - r``
metres earlier, and its disc of radius ``r`` lies inside the rim point's disc of radius
``off_network_m`` (straight-line distance never exceeds path length). So one constant-radius
buffer of the cut network is exact for this model. When ``R < off_network_m`` the area is the
disc of radius ``R`` around the facility itself. The default allowance is 50 m (about half an
urban block side: building entrances set back from the street); the polygons are simplified by
2 m and drawn with 4 segments per quarter circle (under 1 m from the true arc at 50 m).

Building the buffer: uniting hundreds of overlapping per-piece capsules is GEOS's slow part, so
each polygon goes through the blocks the reached pieces enclose (:func:`_faces_area`): the
blocks' union buffered once, minus each block eroded by the allowance, plus the capsules of the
pieces bounding no such block (dead ends, the partial tips at the rim, bridges drawn across
other streets), united in one sweep of Clipper (:func:`_unite`, pyclipper) rather than one GEOS
overlay per capsule. The blocks are the network's faces, traced once per network
(:attr:`lifecircle.geo.network.WalkNetwork.faces`); a block is a facility's when every side of
it is reached whole. A capsule ends square where its piece ends at a corner of one of the
facility's blocks: the disc there lies inside the blocks' buffer already.

Edges are cut exactly: an edge ``(u, v)`` of length ``L`` with ``D[u]``, ``D[v]`` is whole when
the two reached parts meet (``(R' - D[u]) + (R' - D[v]) >= L``), otherwise the pieces
``[0, R' - D[u]]`` and ``[L - (R' - D[v]), L]`` (``R' = R - off_network_m``); a facility's own
edge adds ``[o - (R' - d), o + (R' - d)]`` around its snap point. Pieces are cut from the edge
geometry with a vectorised substring. Blocks wider than twice the allowance stay holes, and a
river is crossed only where an edge (a bridge) crosses it.
"""

from __future__ import annotations

import logging
from concurrent.futures import ThreadPoolExecutor

import numpy as np
import pyclipper
import scipy.sparse as sp
import shapely
from numpy.typing import ArrayLike, NDArray

from lifecircle.arrays import ranges
from lifecircle.geo.network import Snaps, WalkNetwork
from lifecircle.parallel import can_fork, fork_map

logger = logging.getLogger(__name__)

__all__ = [
    "DEFAULT_OFF_NETWORK_M",
    "DEFAULT_SIMPLIFY_M",
    "cut_edges",
    "facility_polygons",
    "reached_pieces",
    "service_area_polygons",
]

DEFAULT_OFF_NETWORK_M = 50.0  # about half a typical urban block edge: entrances off the street
DEFAULT_SIMPLIFY_M = 2.0
_QUAD_SEGS = 4
# Side of the tiles a dissolved service area is united in (see service_area_polygons).
_TILE_M = 3000.0


def cut_edges(
    network: WalkNetwork,
    edge: NDArray[np.integer],
    start_m: NDArray[np.floating],
    stop_m: NDArray[np.floating],
) -> NDArray[np.object_]:
    """LineStrings of edge pieces ``[start_m, stop_m]`` (network metres from ``edge_u``).

    A vectorised ``shapely.ops.substring``: offsets are scaled from ``edge_length_m`` to each
    geometry's planar length, interior vertices kept, end points interpolated.
    """
    edge = np.asarray(edge, dtype=np.int64)
    if edge.size == 0:
        return np.empty(0, dtype=object)
    coords, first, along = network.edge_vertices
    p0 = first[edge]
    p1 = first[edge + 1]
    # The planar length as the vertex walk computes it, so a piece ending at the edge's end
    # gets that vertex's coordinates exactly.
    glen = along[p1 - 1]
    length = network.edge_length_m[edge]
    scale = np.divide(glen, length, out=np.ones_like(glen), where=length > 0)
    s = np.clip(np.asarray(start_m, dtype=float) * scale, 0.0, glen)
    t = np.clip(np.asarray(stop_m, dtype=float) * scale, s, glen)
    full = np.asarray(stop_m, dtype=float) >= length
    t[full] = glen[full]
    # Vertices of all edges on one increasing key: edge number times a gap wider than any edge.
    gap = float(along.max(initial=0.0)) * 2.0 + 1.0
    owner = np.repeat(np.arange(network.n_edges), np.diff(first))
    key = owner * gap + along
    i_start = np.clip(np.searchsorted(key, edge * gap + s, side="right"), p0 + 1, p1 - 1)
    i_stop = np.clip(np.searchsorted(key, edge * gap + t, side="left"), i_start, p1 - 1)

    def point_at(pos: NDArray[np.float64], seg: NDArray[np.int64]) -> NDArray[np.float64]:
        seg = np.clip(seg, p0, p1 - 2)
        a = coords[seg]
        b = coords[seg + 1]
        seg_len = along[seg + 1] - along[seg]
        frac = np.divide(pos - along[seg], seg_len, out=np.zeros_like(pos), where=seg_len > 0)
        frac = np.clip(frac, 0.0, 1.0)
        # Exact vertex coordinates at the ends, so pieces meet their neighbours exactly.
        out = a + (b - a) * frac[:, None]
        at_b = pos >= along[seg + 1]
        out[at_b] = b[at_b]
        return out

    start_xy = point_at(s, i_start - 1)
    stop_xy = point_at(t, i_stop - 1)
    n_inner = i_stop - i_start
    count = n_inner + 2
    piece = np.repeat(np.arange(edge.size), count)
    rank = ranges(np.zeros_like(count), count)
    out = np.empty((piece.size, 2))
    is_start = rank == 0
    is_stop = rank == np.repeat(count - 1, count)
    inner = ~is_start & ~is_stop
    out[is_start] = start_xy
    out[is_stop] = stop_xy
    out[inner] = coords[(np.repeat(i_start, count) + rank - 1)[inner]]
    return shapely.linestrings(out, indices=piece)


def reached_pieces(
    network: WalkNetwork,
    group: NDArray[np.integer],
    node: NDArray[np.integer],
    node_distance_m: NDArray[np.floating],
    core_m: float,
) -> tuple[NDArray[np.int64], NDArray[np.int64], NDArray[np.float64], NDArray[np.float64]]:
    """Edge pieces within ``core_m`` of reached nodes, per group.

    Parameters
    ----------
    network
        The walking network.
    group, node, node_distance_m
        Reached nodes as triples: the group (e.g. facility row) and the node's distance.
    core_m
        The cut distance ``R - off_network_m``.

    Returns
    -------
    group, edge, start_m, stop_m
        One row per piece, sorted by group; a whole edge is one piece ``[0, L]``.
    """
    group = np.asarray(group, dtype=np.int64)
    node = np.asarray(node, dtype=np.int64)
    dist = np.asarray(node_distance_m, dtype=np.float64)
    within = dist <= core_m
    group, node, dist = group[within], node[within], dist[within]
    start, incident = network.incident_edges  # parallel edges too: each is a street piece
    deg = start[node + 1] - start[node]
    g = np.repeat(group, deg)
    d = np.repeat(dist, deg)
    a = np.repeat(node, deg)
    e = incident[ranges(start[node], deg)]
    at_u = network.edge_u[e] == a
    # Per (group, edge): the smallest distance at each end.
    pair_key = g * network.n_edges + e
    order = np.argsort(pair_key, kind="stable")
    pair_key = pair_key[order]
    du = np.where(at_u, d, np.inf)[order]
    dv = np.where(at_u, np.inf, d)[order]
    if pair_key.size == 0:
        empty_i = np.empty(0, dtype=np.int64)
        return empty_i, empty_i, np.empty(0), np.empty(0)
    starts = np.flatnonzero(np.r_[True, pair_key[1:] != pair_key[:-1]])
    du = np.minimum.reduceat(du, starts)
    dv = np.minimum.reduceat(dv, starts)
    key = pair_key[starts]
    pg = key // network.n_edges
    pe = key % network.n_edges
    length = network.edge_length_m[pe]
    ru = core_m - du  # -inf where that end is not reached
    rv = core_m - dv
    whole = (ru >= length) | (rv >= length) | (ru + rv >= length)
    from_u = ~whole & (ru > 0)
    from_v = ~whole & (rv > 0)
    out_g = np.concatenate([pg[whole], pg[from_u], pg[from_v]])
    out_e = np.concatenate([pe[whole], pe[from_u], pe[from_v]])
    out_s = np.concatenate(
        [np.zeros(int(whole.sum())), np.zeros(int(from_u.sum())), (length - rv)[from_v]]
    )
    out_t = np.concatenate([length[whole], ru[from_u], length[from_v]])
    order = np.argsort(out_g, kind="stable")
    return out_g[order], out_e[order], out_s[order], out_t[order]


def _own_edge_and_connector(
    network: WalkNetwork,
    snaps: Snaps,
    group: NDArray[np.int64],
    rows: NDArray[np.int64],
    core_m: float,
) -> tuple[NDArray[np.int64], NDArray[np.object_]]:
    """Pieces around each source's snap point on its own edge, and its connector line."""
    edge = snaps.edge[rows]
    left = core_m - snaps.distance_m[rows]
    has = left > 0
    rows, edge, left, group = rows[has], edge[has], left[has], group[has]
    offset = snaps.offset_m[rows]
    length = network.edge_length_m[edge]
    own = cut_edges(
        network, edge, np.maximum(offset - left, 0.0), np.minimum(offset + left, length)
    )
    snap_xy = shapely.get_coordinates(cut_edges(network, edge, offset, offset))[0::2]
    point_xy = np.column_stack([snaps.x_m[rows], snaps.y_m[rows]])
    # The connector from the facility toward its snap point, cut where the core ends.
    frac = np.minimum(
        1.0,
        np.divide(
            core_m, snaps.distance_m[rows], out=np.ones_like(left), where=snaps.distance_m[rows] > 0
        ),
    )
    end_xy = point_xy + (snap_xy - point_xy) * frac[:, None]
    coords = np.empty((2 * rows.size, 2))
    coords[0::2] = point_xy
    coords[1::2] = end_xy
    connector = shapely.linestrings(coords, indices=np.repeat(np.arange(rows.size), 2))
    if rows.size == 0:
        connector = np.empty(0, dtype=object)
    return np.concatenate([group, group]), np.concatenate([own, connector])


def _faces_area(
    faces: NDArray[np.object_],
    eroded: NDArray[np.object_],
    capsules: tuple[NDArray[np.object_], NDArray[np.float64], NDArray[np.int64]],
    off_network_m: float,
) -> shapely.Geometry:
    """``buffer(lines, off)`` from the blocks the lines enclose and the capsules of the rest.

    With ``F`` the blocks whose every side is among the lines, ``U`` their union, ``H`` the
    blocks eroded by the allowance and ``D`` the lines bounding no such block:
    ``buffer(lines, off) = (buffer(U, off) - H) | buffer(D, off)``. A point of a block farther
    than ``off`` from the block's boundary can only be near a line inside that block, which is
    in ``D``; a point outside ``U`` near a line inside ``U`` is nearer to ``U``'s boundary.
    This avoids uniting hundreds of overlapping capsules, the slow part of a plain buffer.
    ``capsules`` are those of ``D`` as :func:`_capsule_rings` gives them.
    """
    curved, ring_xy, ring_size = capsules
    if faces.size == 0:
        return _unite(curved, ring_xy, ring_size)
    area = shapely.buffer(shapely.coverage_union_all(faces), off_network_m, quad_segs=_QUAD_SEGS)
    if eroded.size:
        area = shapely.difference(area, shapely.coverage_union_all(eroded))
    if ring_size.size + curved.size == 0:
        return area
    # (Filtering out capsules inside the area first costs more than it saves: few are.)
    return _unite(np.r_[[area], curved], ring_xy, ring_size)


def _capsule_rings(
    lines: NDArray[np.object_],
    radius_m: float,
    *,
    start_cap: NDArray[np.bool_] | None = None,
    end_cap: NDArray[np.bool_] | None = None,
) -> tuple[NDArray[np.bool_], NDArray[np.object_], NDArray[np.float64], NDArray[np.int64]]:
    """``buffer(lines, radius_m)``: straight lines as counter-clockwise rings built in numpy.

    Most loose pieces are straight (two vertices); their round-capped buffer is two half
    circles joined, built here with numpy far faster than GEOS's general buffer, with the
    same vertices (arcs of ``_QUAD_SEGS`` chords per quarter circle). A line whose
    ``start_cap`` (``end_cap``) is False ends square at that end instead: the caller knows
    the disc there is already covered. Other lines are buffered by GEOS.

    Returns
    -------
    straight, curved, ring_xy, ring_size
        Which lines are straight; GEOS buffers of the others; the vertices of the straight
        lines' rings (each without its closing vertex), and the number of vertices of each.
    """
    straight = shapely.get_num_coordinates(lines) == 2
    curved = shapely.buffer(lines[~straight], radius_m, quad_segs=_QUAD_SEGS)
    n = int(straight.sum())
    xy = shapely.get_coordinates(lines[straight]).reshape(n, 2, 2)
    a, b = xy[:, 0], xy[:, 1]
    d = b - a
    length = np.hypot(d[:, 0], d[:, 1])
    # A zero-length piece is a disc; any direction will do.
    d = np.where(length[:, None] > 0, d / np.where(length > 0, length, 1.0)[:, None], [1.0, 0.0])
    normal = np.column_stack([-d[:, 1], d[:, 0]])[:, None]
    d = d[:, None]
    theta = np.linspace(0.0, np.pi, 2 * _QUAD_SEGS + 1)
    cos, sin = np.cos(theta)[None, :, None], np.sin(theta)[None, :, None]
    # Around b from its right (-normal) through ahead (+d) to its left, then around a from
    # its left through behind (-d) to its right: counter-clockwise.
    ring = np.concatenate(
        [
            b[:, None] + radius_m * (-cos * normal + sin * d),
            a[:, None] + radius_m * (cos * normal - sin * d),
        ],
        axis=1,
    )
    # A square end keeps only its arc's two ends.
    arc_end = np.zeros(theta.size, dtype=bool)
    arc_end[[0, -1]] = True
    round_end = np.ones(n, dtype=bool) if end_cap is None else end_cap[straight]
    round_start = np.ones(n, dtype=bool) if start_cap is None else start_cap[straight]
    keep = np.concatenate([round_end[:, None] | arc_end, round_start[:, None] | arc_end], axis=1)
    return straight, curved, ring[keep], keep.sum(axis=1)


# pyclipper works on integers: coordinates in millimetres from a local origin.
_CLIPPER_SCALE = 1000.0


def _unite(
    polygons: NDArray[np.object_], ring_xy: NDArray[np.float64], ring_size: NDArray[np.int64]
) -> shapely.Geometry:
    """The union of ``polygons`` and counter-clockwise rings, in one sweep of Clipper.

    GEOS unites polygons one overlay at a time, and the fixed cost of each overlay dominates
    for ~100 small capsules along an area's rim; Clipper's sweep takes every ring at once under
    the non-zero fill rule (shells counter-clockwise, holes clockwise), in about a third of
    the time. Coordinates are rounded to millimetres. Clipper's strictly-simple pass costs a
    fifth of the sweep to split the rare ring touching itself at a vertex, which GEOS calls
    invalid: such a result is repaired instead.
    """
    parts = shapely.get_parts(polygons)
    parts = shapely.orient_polygons(parts[~shapely.is_empty(parts)], exterior_cw=False)
    coords, ring = shapely.get_coordinates(shapely.get_rings(parts), return_index=True)
    closing = np.r_[ring[1:] != ring[:-1], True] if ring.size else np.zeros(0, dtype=bool)
    xy = np.concatenate([coords[~closing], ring_xy])
    if xy.size == 0:
        return shapely.Polygon()
    size = np.concatenate([np.bincount(ring) - 1, ring_size])
    origin = xy.min(axis=0)
    scaled = np.round((xy - origin) * _CLIPPER_SCALE).astype(np.int64).tolist()
    ends = np.cumsum(size).tolist()
    clipper = pyclipper.Pyclipper()
    clipper.AddPaths(
        [scaled[end - count : end] for end, count in zip(ends, size.tolist(), strict=True)],
        pyclipper.PT_SUBJECT,
        True,
    )
    tree = clipper.Execute2(pyclipper.CT_UNION, pyclipper.PFT_NONZERO, pyclipper.PFT_NONZERO)

    def shells(node: pyclipper.PyPolyNode) -> list[shapely.Polygon]:
        # Children of the root and of holes are shells; children of shells are holes.
        out = []
        for shell in node.Childs:
            out.append(
                shapely.Polygon(
                    _from_clipper(shell.Contour, origin),
                    [_from_clipper(hole.Contour, origin) for hole in shell.Childs],
                )
            )
            for hole in shell.Childs:
                out.extend(shells(hole))
        return out

    found = shells(tree)
    united = found[0] if len(found) == 1 else shapely.MultiPolygon(found)
    return united if shapely.is_valid(united) else shapely.make_valid(united)


def _from_clipper(path: list[list[int]], origin: NDArray[np.float64]) -> NDArray[np.float64]:
    return np.asarray(path, dtype=np.float64) / _CLIPPER_SCALE + origin


def simplified(geoms: ArrayLike, tolerance: float) -> NDArray[np.object_] | shapely.Geometry:
    """Douglas-Peucker simplification that keeps geometries valid (scalar or array in, same out).

    About 3x faster than the topology-preserving variant (far more on county-wide polygons
    with thousands of holes); the rare result it leaves invalid (a ring crossing itself) or
    empty is simplified again the safe way.
    """
    if tolerance <= 0:
        return geoms
    simple = shapely.simplify(geoms, tolerance, preserve_topology=False)
    present = ~shapely.is_missing(geoms)
    redo = present & (
        ~shapely.is_valid(simple) | (shapely.is_empty(simple) != shapely.is_empty(geoms))
    )
    if np.ndim(redo) == 0:
        return shapely.simplify(geoms, tolerance, preserve_topology=True) if redo else simple
    if redo.any():
        simple[redo] = shapely.simplify(
            np.asarray(geoms, dtype=object)[redo], tolerance, preserve_topology=True
        )
    return simple


def _group_spans(group: NDArray[np.int64], n_groups: int) -> NDArray[np.int64]:
    """``start`` offsets (``n_groups + 1``) of each group in ``group`` (sorted)."""
    return np.searchsorted(group, np.arange(n_groups + 1))


def _buffer_groups(
    network: WalkNetwork,
    n_groups: int,
    group: NDArray[np.int64],
    edge: NDArray[np.int64],
    start_m: NDArray[np.float64],
    stop_m: NDArray[np.float64],
    extra_group: NDArray[np.int64],
    extra: NDArray[np.object_],
    *,
    off_network_m: float,
    simplify_m: float,
) -> NDArray[np.object_]:
    """``buffer(lines of the group, off_network_m)`` per group, simplified.

    The lines are the pieces ``[start_m, stop_m]`` of network edges ``edge`` and ``extra``
    (own-edge pieces, connectors). The blocks of :attr:`WalkNetwork.faces` whose
    every side is a whole piece of a group go through :func:`_faces_area`; every other line
    becomes a capsule, square at an end that is a corner of one of the group's blocks (the
    disc there is inside the block's buffer already).
    """
    out = np.full(n_groups, shapely.Polygon(), dtype=object)
    if edge.size + extra.size == 0:
        return out
    faces = network.faces
    n_faces = len(faces)
    whole = (start_m <= 0.0) & (stop_m >= network.edge_length_m[edge])
    # A block is the group's when its sides counted among the group's whole pieces are all.
    side_face = faces.face_of[np.r_[2 * edge, 2 * edge + 1]]
    side_key = np.r_[group, group] * n_faces + side_face
    counted = (side_face >= 0) & np.r_[whole, whole]
    key, sides = np.unique(side_key[counted], return_counts=True)
    chosen = key[sides == faces.n_sides[key % n_faces]]  # sorted: group-major
    on_chosen = counted & np.isin(side_key, chosen)
    bounding = on_chosen[: edge.size] | on_chosen[edge.size :]
    # Blocks that survive erosion by the allowance hold a disc of radius off: an area above
    # pi off^2 and a box wider and taller than 2 off (most city blocks fail both).
    used, which = np.unique(chosen % n_faces, return_inverse=True)
    polygon = faces.polygons(used)
    xmin, ymin, xmax, ymax = shapely.bounds(polygon).T
    may_survive = (
        (shapely.area(polygon) > np.pi * off_network_m**2)
        & (xmax - xmin > 2 * off_network_m)
        & (ymax - ymin > 2 * off_network_m)
    )
    eroded = np.full(used.size, None, dtype=object)
    eroded[may_survive] = shapely.buffer(polygon[may_survive], -off_network_m, quad_segs=_QUAD_SEGS)
    eroded[~may_survive] = shapely.Polygon()
    face_span = _group_spans(chosen // n_faces, n_groups)
    # Ends of loose pieces at a corner of one of the group's blocks need no round cap.
    n_nodes = network.n_nodes
    corner = np.unique(
        np.r_[
            group[bounding] * n_nodes + network.edge_u[edge[bounding]],
            group[bounding] * n_nodes + network.edge_v[edge[bounding]],
        ]
    )
    loose = ~bounding
    lg, le, ls, lt = group[loose], edge[loose], start_m[loose], stop_m[loose]
    at_u = (ls == 0.0) & np.isin(lg * n_nodes + network.edge_u[le], corner)
    at_v = (lt >= network.edge_length_m[le]) & np.isin(lg * n_nodes + network.edge_v[le], corner)
    # Only loose pieces need lines: whole edges reuse their geometry, the rest are cut.
    lines = network.edge_geometry[le]
    cut = ~whole[loose]
    lines[cut] = cut_edges(network, le[cut], ls[cut], lt[cut])
    # Capsules of all loose lines at once, then per group.
    loose_group = np.r_[lg, extra_group]
    order = np.argsort(loose_group, kind="stable")
    loose_group = loose_group[order]
    loose_lines = np.r_[lines, extra][order]
    straight, curved, ring_xy, ring_size = _capsule_rings(
        loose_lines,
        off_network_m,
        start_cap=np.r_[~at_u, np.ones(extra.size, bool)][order],
        end_cap=np.r_[~at_v, np.ones(extra.size, bool)][order],
    )
    curved_span = _group_spans(loose_group[~straight], n_groups)
    ring_span = _group_spans(loose_group[straight], n_groups)
    vertex_span = np.r_[0, np.cumsum(ring_size)]
    for g in np.flatnonzero(np.diff(face_span) + np.diff(curved_span) + np.diff(ring_span)):
        mine = which[face_span[g] : face_span[g + 1]]
        ero = eroded[mine]
        first, last = ring_span[g], ring_span[g + 1]
        capsules = (
            curved[curved_span[g] : curved_span[g + 1]],
            ring_xy[vertex_span[first] : vertex_span[last]],
            ring_size[first:last],
        )
        area = _faces_area(polygon[mine], ero[~shapely.is_empty(ero)], capsules, off_network_m)
        out[g] = simplified(area, simplify_m)
    return out


def facility_polygons(
    network: WalkNetwork,
    snaps: Snaps,
    node_reach: sp.csr_matrix,
    reach_m: float,
    *,
    off_network_m: float = DEFAULT_OFF_NETWORK_M,
    simplify_m: float = DEFAULT_SIMPLIFY_M,
    workers: int | None = None,
) -> NDArray[np.object_]:
    """One service-area polygon per source, in the network's metric CRS.

    Parameters
    ----------
    network
        The walking network.
    snaps
        The sources (facilities); rows not ``ok`` get an empty polygon.
    node_reach
        :func:`lifecircle.coverage.reach.reach_matrix` of ``snaps`` with a limit of at least
        ``reach_m - off_network_m``.
    reach_m
        Walking distance of the threshold (minutes x 60 x speed).
    off_network_m
        The largest step off the network (see the module notes).
    simplify_m
        Tolerance of the final simplification (keeps files small).
    workers
        Processes building polygons (default 1: the machine may be shared). Chunks of sources
        go to forked processes (threads where fork is unavailable: GEOS releases the GIL, but
        its many small calls scale poorly on threads).

    Returns
    -------
    numpy.ndarray of shapely Polygon/MultiPolygon, aligned with ``snaps``.
    """
    k = len(snaps)
    core_m = reach_m - off_network_m
    if core_m < 0:
        discs = shapely.buffer(shapely.points(snaps.x_m, snaps.y_m), reach_m, quad_segs=_QUAD_SEGS)
        return np.where(snaps.ok, discs, shapely.Polygon())
    matrix = node_reach.tocsr()
    n_workers = workers if workers is not None else 1
    if n_workers > 1 and k > 1:
        return _polygons_in_parallel(
            network,
            snaps,
            matrix,
            reach_m,
            off_network_m=off_network_m,
            simplify_m=simplify_m,
            n_workers=n_workers,
        )
    rows = np.repeat(np.arange(k), np.diff(matrix.indptr))
    pg, pe, ps, pt = reached_pieces(network, rows, matrix.indices, matrix.data, core_m)
    ok_rows = np.flatnonzero(snaps.ok)
    og, olines = _own_edge_and_connector(network, snaps, ok_rows, ok_rows, core_m)
    return _buffer_groups(
        network, k, pg, pe, ps, pt, og, olines, off_network_m=off_network_m, simplify_m=simplify_m
    )


# One chunk of _polygons_in_parallel; ``state`` is inherited through fork, not pickled.
def _polygon_chunk(state: tuple, rows: NDArray[np.int64]) -> list[shapely.Geometry]:
    network, snaps, matrix, reach_m, options = state
    return list(facility_polygons(network, snaps.subset(rows), matrix[rows], reach_m, **options))


def _polygons_in_parallel(
    network: WalkNetwork,
    snaps: Snaps,
    matrix: sp.csr_matrix,
    reach_m: float,
    *,
    off_network_m: float,
    simplify_m: float,
    n_workers: int,
) -> NDArray[np.object_]:
    """:func:`facility_polygons` over chunks of sources in ``n_workers`` processes.

    Forked children (:func:`lifecircle.parallel.fork_map`) inherit the network and reach
    matrix; only row numbers go out and the polygons (as WKB, shapely's pickle format) come
    back. Many small chunks keep both processes busy to the end. Where processes cannot be
    forked, threads share the work (GEOS releases the GIL).
    """
    # Caches the workers need, built once here rather than once per child.
    _ = network.faces, network.edge_vertices, network.incident_edges
    options = {"off_network_m": off_network_m, "simplify_m": simplify_m, "workers": 1}
    k = len(snaps)
    chunks = np.array_split(np.arange(k), min(k, n_workers * 32))
    state = (network, snaps, matrix, reach_m, options)
    if can_fork(n_workers):
        parts = fork_map(_polygon_chunk, state, chunks, workers=n_workers)
    else:
        with ThreadPoolExecutor(max_workers=n_workers) as pool:
            parts = list(pool.map(lambda rows: _polygon_chunk(state, rows), chunks))
    out = np.empty(k, dtype=object)
    out[:] = [poly for part in parts for poly in part]
    return out


def _buffer_tiles(
    network: WalkNetwork,
    group: NDArray[np.int64],
    pe: NDArray[np.int64],
    ps: NDArray[np.float64],
    pt: NDArray[np.float64],
    xgroup: NDArray[np.int64],
    olines: NDArray[np.object_],
    options: dict,
    chunk: NDArray[np.int64],
) -> NDArray[np.object_]:
    """:func:`_buffer_groups` of the tiles numbered ``chunk`` (sorted), in that order."""
    mine = np.isin(group, chunk)
    xmine = np.isin(xgroup, chunk)
    return _buffer_groups(
        network,
        chunk.size,
        np.searchsorted(chunk, group[mine]),
        pe[mine],
        ps[mine],
        pt[mine],
        np.searchsorted(chunk, xgroup[xmine]),
        olines[xmine],
        **options,
    )


def _tiles_in_parallel(state: tuple, n_tiles: int, n_workers: int) -> NDArray[np.object_]:
    """:func:`_buffer_tiles` of every tile, in chunks over ``n_workers`` forked processes
    (:func:`lifecircle.parallel.fork_map`)."""
    if not can_fork(n_workers) or n_tiles < 2:
        return _buffer_tiles(*state, np.arange(n_tiles))
    network = state[0]
    # Caches the workers need, built once here rather than once per child.
    _ = network.faces, network.edge_vertices, network.incident_edges
    chunks = np.array_split(np.arange(n_tiles), min(n_tiles, n_workers * 8))
    parts = fork_map(_buffer_tile_chunk, state, chunks, workers=n_workers)
    out = np.empty(n_tiles, dtype=object)
    out[:] = [poly for part in parts for poly in part]
    return out


def _buffer_tile_chunk(state: tuple, chunk: NDArray[np.int64]) -> list[shapely.Geometry]:
    return list(_buffer_tiles(*state, chunk))


def service_area_polygons(
    network: WalkNetwork,
    snaps: Snaps,
    node_distance_m: NDArray[np.floating],
    reach_m: float,
    *,
    off_network_m: float = DEFAULT_OFF_NETWORK_M,
    simplify_m: float = DEFAULT_SIMPLIFY_M,
    workers: int | None = None,
    within: shapely.Geometry | None = None,
) -> shapely.Geometry:
    """The dissolved service area of all sources from one multi-source search.

    Parameters
    ----------
    network
        The walking network.
    snaps
        All sources of the category (only ``ok`` rows count).
    node_distance_m
        Distance of every node to its nearest source (``NodeReach.distance_m``), searched to at
        least ``reach_m - off_network_m``.
    reach_m, off_network_m, simplify_m
        As in :func:`facility_polygons`.
    workers
        Processes uniting the tiles of a large area (default 1, as :func:`facility_polygons`).
    within
        Only the area inside this polygon (metric CRS), e.g. the townships judged at this
        walk: the tiles of the area that do not meet it are never built.

    Returns
    -------
    shapely Polygon or MultiPolygon (empty when nothing is reached), metric CRS.
    """
    ok_rows = np.flatnonzero(snaps.ok)
    if ok_rows.size == 0:
        return shapely.Polygon()
    core_m = reach_m - off_network_m
    if core_m < 0:
        discs = shapely.buffer(
            shapely.points(snaps.x_m[ok_rows], snaps.y_m[ok_rows]), reach_m, quad_segs=_QUAD_SEGS
        )
        whole = shapely.union_all(discs)
        return whole if within is None else shapely.intersection(whole, within)
    nodes = np.flatnonzero(np.asarray(node_distance_m) <= core_m)
    _, pe, ps, pt = reached_pieces(
        network,
        np.zeros(nodes.size, dtype=np.int64),
        nodes,
        np.asarray(node_distance_m)[nodes],
        core_m,
    )
    _, olines = _own_edge_and_connector(
        network, snaps, np.zeros(ok_rows.size, dtype=np.int64), ok_rows, core_m
    )
    # Tiles: one sweep of Clipper over a whole county's capsules grows faster than their
    # number (minutes for 330,000 nodes), so each tile unites the pieces near it, the result
    # is cut to the tile, and the tiles are united.
    bounds = np.vstack([shapely.bounds(network.edge_geometry[pe]), shapely.bounds(olines)])
    reach_box = bounds + np.array([-1.0, -1.0, 1.0, 1.0]) * (off_network_m + 1.0)
    origin = reach_box[:, :2].min(axis=0)
    lo = np.floor((reach_box[:, :2] - origin) / _TILE_M).astype(np.int64)
    hi = np.floor((reach_box[:, 2:] - origin) / _TILE_M).astype(np.int64)
    n_x = int(hi[:, 0].max()) + 1
    span = hi - lo + 1
    if n_x == 1 and int(hi[:, 1].max()) == 0:
        group = np.zeros(len(bounds), dtype=np.int64)
        item = np.arange(len(bounds))
    else:  # a piece near a tile's edge goes to every tile it may reach into
        count = span[:, 0] * span[:, 1]
        item = np.repeat(np.arange(len(bounds)), count)
        rank = ranges(np.zeros(len(bounds), dtype=np.int64), count)
        cx = lo[item, 0] + rank % span[item, 0]
        cy = lo[item, 1] + rank // span[item, 0]
        group = cy * n_x + cx
    if within is not None:  # only tiles meeting ``within``, each cut to it below
        n_y = int(hi[:, 1].max()) + 1
        x0 = origin[0] + np.arange(n_x) * _TILE_M
        y0 = origin[1] + np.arange(n_y) * _TILE_M
        cx, cy = np.meshgrid(np.arange(n_x), np.arange(n_y))
        cx, cy = cx.ravel(), cy.ravel()
        meets = shapely.intersects(
            shapely.box(x0[cx], y0[cy], x0[cx] + _TILE_M, y0[cy] + _TILE_M), within
        )
        kept = np.isin(group, (cy * n_x + cx)[meets])
        group, item = group[kept], item[kept]
        if group.size == 0:
            return shapely.Polygon()
    tiles, group = np.unique(group, return_inverse=True)
    n_edges_pieces = pe.size
    is_edge = item < n_edges_pieces
    e_item, x_item = item[is_edge], item[~is_edge] - n_edges_pieces
    options = {"off_network_m": off_network_m, "simplify_m": simplify_m}
    state = (
        network,
        group[is_edge],
        pe[e_item],
        ps[e_item],
        pt[e_item],
        group[~is_edge],
        olines[x_item],
        options,
    )
    parts = _tiles_in_parallel(state, tiles.size, workers or 1)
    if tiles.size == 1 and within is None:
        return parts[0]
    x0 = origin[0] + (tiles % n_x) * _TILE_M
    y0 = origin[1] + (tiles // n_x) * _TILE_M
    boxes = shapely.box(x0, y0, x0 + _TILE_M, y0 + _TILE_M)
    if within is not None:  # tiles across its boundary are cut by it too
        shapely.prepare(within)
        across = ~shapely.contains_properly(within, boxes)
        boxes[across] = shapely.intersection(boxes[across], within)
    cut = shapely.intersection(parts, boxes)
    # Tiles of scattered reach form islands: each island is united on its own.
    return shapely.disjoint_subset_union_all(cut[~shapely.is_empty(cut)])
