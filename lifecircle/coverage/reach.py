"""Bounded multi-source shortest paths over the walk network's CSR arrays, exact on partial edges.

A source (facility) snapped at offset ``o`` on edge ``(u, v)`` of length ``L``, at distance ``d``
from the edge, enters the graph at ``u`` with ``d + o`` and at ``v`` with ``d + L - o``.

The nearest-source pass (:func:`distances_from_csr`) has two engines giving the same distances:

* ``"wavefront"``: a label-correcting search in vectorised rounds. Each round relaxes every arc
  out of the nodes whose distance improved in the previous round, all at once in numpy, and
  keeps the smallest offer per node; it stops when no distance improves. A walking bound of a
  kilometre is some 10-30 edges deep, so a search is that many rounds of array work, with no
  per-node heap operations: on the 2,000-facility, 500k-node benchmark it takes about 40 % of
  the time of ``scipy.sparse.csgraph.dijkstra``'s Fibonacci heap.
* ``"heap"``: ``scipy.sparse.csgraph.dijkstra``. It only starts from nodes at distance zero,
  so the CSR is extended with one *virtual node* per source (arcs virtual -> u and virtual -> v
  carrying the two entry distances) and the search starts from the virtual nodes. It wins when
  the bound is many edges deep (few sources, long bounds): the wavefront then runs hundreds of
  thin rounds and may correct a node more than once.

``"auto"`` takes the wavefront when the bound is at most :data:`WAVEFRONT_MAX_HOPS` mean edge
lengths, the heap otherwise. The reach matrix (one search per source) always uses the heap.

A point (demand cell) snapped at offset ``p`` on edge ``(u, v)`` at distance ``e`` then lies at
``e + min(D[u] + p, D[v] + L - p)``; when a source sits on the same edge the direct walk along
it, ``d + |o - p| + e``, is also considered. Every distance beyond ``limit_m`` is ``inf``.

The pure array core is :func:`distances_from_csr`; :func:`nearest_sources`,
:func:`nearest_point_distances`, :func:`reach_matrix` and :func:`point_cover_matrix` take a
:class:`~lifecircle.geo.network.WalkNetwork` and :class:`~lifecircle.geo.network.Snaps`.

Examples
--------
>>> import numpy as np
>>> from lifecircle.geo.network import WalkNetwork, snap_points
>>> net = WalkNetwork.from_arrays([0.0, 100.0, 200.0], [0.0, 0.0, 0.0], [0, 1], [1, 2])
>>> fac = snap_points(net, np.array([30.0]), np.array([0.0]), max_snap_m=50)
>>> reach = nearest_sources(net, fac, limit_m=1000)
>>> reach.distance_m.tolist(), reach.source.tolist()
([30.0, 70.0, 170.0], [0, 0, 0])
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from typing import Literal

import numpy as np
import scipy.sparse as sp
from numpy.typing import NDArray
from scipy.sparse.csgraph import dijkstra

from lifecircle.arrays import ranges
from lifecircle.geo.network import Snaps, WalkNetwork

logger = logging.getLogger(__name__)

__all__ = [
    "WAVEFRONT_MAX_HOPS",
    "NodeReach",
    "distances_from_csr",
    "extend_with_sources",
    "nearest_point_distances",
    "nearest_sources",
    "point_cover_matrix",
    "reach_matrix",
    "source_entries",
]

# Depth of the search bound, in mean edge lengths, up to which the wavefront beats the heap
# (measured on the benchmark grids and the sample district: the two cross between 50 and 100).
WAVEFRONT_MAX_HOPS = 64

# Dense rows held at once by reach_matrix: rows x nodes x 8 bytes stays near 256 MB.
_BLOCK_CELLS = 32_000_000


def extend_with_sources(
    indptr: NDArray[np.integer],
    indices: NDArray[np.integer],
    weights_m: NDArray[np.floating],
    n_nodes: int,
    entry_node: NDArray[np.integer],
    entry_m: NDArray[np.floating],
) -> sp.csr_matrix:
    """The CSR graph plus one virtual node per source, with arcs to its entry nodes.

    Parameters
    ----------
    indptr, indices, weights_m, n_nodes
        The network's CSR adjacency (metres).
    entry_node, entry_m
        Arrays of shape ``(k, 2)``: the two nodes each source enters the graph at and the
        distances to them. Virtual node ``n_nodes + i`` stands for source ``i``.
    """
    entry_node = np.asarray(entry_node).reshape(-1, 2)
    entry_m = np.asarray(entry_m, dtype=np.float64).reshape(-1, 2)
    k = entry_node.shape[0]
    nnz = int(indptr[n_nodes])
    size = n_nodes + k
    # int32 index arrays when they fit (scipy.sparse.csgraph works in int32 and would otherwise
    # convert), each built in one pass: this runs on every search over the whole network.
    index_type = np.int32 if max(nnz + 2 * k, size) < np.iinfo(np.int32).max else np.int64
    new_indptr = np.empty(size + 1, dtype=index_type)
    new_indptr[: n_nodes + 1] = indptr[: n_nodes + 1]
    new_indptr[n_nodes + 1 :] = nnz + 2 * np.arange(1, k + 1)
    new_indices = np.concatenate([indices[:nnz], entry_node.ravel()], dtype=index_type)
    new_data = np.concatenate([weights_m[:nnz], entry_m.ravel()], dtype=np.float64)
    return sp.csr_matrix((new_data, new_indices, new_indptr), shape=(size, size))


def distances_from_csr(
    indptr: NDArray[np.integer],
    indices: NDArray[np.integer],
    weights_m: NDArray[np.floating],
    n_nodes: int,
    entry_node: NDArray[np.integer],
    entry_m: NDArray[np.floating],
    *,
    limit_m: float,
    method: Literal["auto", "wavefront", "heap"] = "auto",
) -> tuple[NDArray[np.float64], NDArray[np.int64]]:
    """Distance from every node to its nearest source, and which source, in one search.

    Parameters
    ----------
    indptr, indices, weights_m, n_nodes
        CSR adjacency with both directions of each edge, in metres.
    entry_node, entry_m
        ``(k, 2)`` arrays: the nodes each source enters the graph at and the distance to each.
    limit_m
        Search bound: nodes farther than this from every source get ``inf``.
    method
        ``"wavefront"`` (vectorised rounds), ``"heap"`` (scipy's Dijkstra) or ``"auto"`` (see
        the module notes). Distances are the same; among sources at exactly the same distance
        the engines may name different ones.

    Returns
    -------
    distance_m, source
        Per node, the distance in metres (``inf`` beyond ``limit_m``) and the index of the
        nearest source (``-1`` where none is within ``limit_m``).
    """
    entry_node = np.asarray(entry_node, dtype=np.int64).reshape(-1, 2)
    entry_m = np.asarray(entry_m, dtype=np.float64).reshape(-1, 2)
    k = entry_node.shape[0]
    if k == 0 or n_nodes == 0:
        return np.full(n_nodes, np.inf), np.full(n_nodes, -1, dtype=np.int64)
    if method == "auto":
        nnz = int(indptr[n_nodes])
        mean_edge_m = float(np.mean(weights_m[:nnz])) if nnz else 0.0
        method = "wavefront" if limit_m <= WAVEFRONT_MAX_HOPS * mean_edge_m else "heap"
    if method == "wavefront":
        return _wavefront(indptr, indices, weights_m, n_nodes, entry_node, entry_m, limit_m)
    if method != "heap":
        raise ValueError(f"method must be 'auto', 'wavefront' or 'heap', not {method!r}")
    graph = extend_with_sources(indptr, indices, weights_m, n_nodes, entry_node, entry_m)
    dist, _, winner = dijkstra(
        graph,
        directed=True,
        indices=np.arange(n_nodes, n_nodes + k),
        min_only=True,
        limit=limit_m,
        return_predecessors=True,
    )
    reached = winner[:n_nodes] >= 0
    distance = np.where(reached, dist[:n_nodes], np.inf)
    source = np.where(reached, winner[:n_nodes] - n_nodes, -1).astype(np.int64)
    return distance, source


def _wavefront(
    indptr: NDArray[np.integer],
    indices: NDArray[np.integer],
    weights_m: NDArray[np.floating],
    n_nodes: int,
    entry_node: NDArray[np.int64],
    entry_m: NDArray[np.float64],
    limit_m: float,
) -> tuple[NDArray[np.float64], NDArray[np.int64]]:
    """The nearest-source search in vectorised label-correcting rounds (module notes)."""
    distance = np.full(n_nodes, np.inf)
    source = np.full(n_nodes, -1, dtype=np.int64)
    node = entry_node.ravel()
    start_m = entry_m.ravel()
    label = np.repeat(np.arange(entry_node.shape[0]), 2)
    within = start_m <= limit_m
    node, start_m, label = node[within], start_m[within], label[within]
    np.minimum.at(distance, node, start_m)
    won = start_m == distance[node]
    source[node[won]] = label[won]
    improved = np.zeros(n_nodes, dtype=bool)
    improved[node] = True
    while True:
        active = np.flatnonzero(improved)
        if active.size == 0:
            return distance, source
        improved[active] = False
        first_arc = indptr[active]
        degree = indptr[active + 1] - first_arc
        arcs_end = np.cumsum(degree)
        if arcs_end[-1] == 0:
            continue
        arc = ranges(first_arc, degree)
        target = indices[arc]
        offer = weights_m[arc] + np.repeat(distance[active], degree)
        better = np.flatnonzero((offer < distance[target]) & (offer <= limit_m))
        target, offer = target[better], offer[better]
        np.minimum.at(distance, target, offer)
        # The offers that set a distance carry their node's source (read before this
        # assignment, so it belongs to the distance the offer was made from).
        won = np.flatnonzero(offer == distance[target])
        from_node = active[np.searchsorted(arcs_end, better[won], side="right")]
        source[target[won]] = source[from_node]
        improved[target[won]] = True


def source_entries(
    network: WalkNetwork,
    snaps: Snaps,
) -> tuple[NDArray[np.int64], NDArray[np.float64]]:
    """``(k, 2)`` entry nodes and entry distances (snap walk included) of snapped points."""
    edge = snaps.edge
    length = network.edge_length_m[edge]
    nodes = np.column_stack([network.edge_u[edge], network.edge_v[edge]]).astype(np.int64)
    entry = np.column_stack(
        [snaps.distance_m + snaps.offset_m, snaps.distance_m + (length - snaps.offset_m)]
    )
    return nodes, entry


@dataclass(frozen=True)
class NodeReach:
    """Per node: distance (m) to the nearest source and its index in the source snaps."""

    distance_m: NDArray[np.float64]
    source: NDArray[np.int64]
    limit_m: float


def nearest_sources(network: WalkNetwork, snaps: Snaps, *, limit_m: float) -> NodeReach:
    """One bounded multi-source search from every snapped (``ok``) source.

    Returns
    -------
    NodeReach
        ``source`` indexes into ``snaps`` (not into the ``ok`` subset); ``-1`` unreached.
    """
    ok = np.flatnonzero(snaps.ok)
    nodes, entry = source_entries(network, snaps.subset(ok))
    distance, source = distances_from_csr(
        network.indptr,
        network.indices,
        network.weights_m,
        network.n_nodes,
        nodes,
        entry,
        limit_m=limit_m,
    )
    source = np.where(source >= 0, ok[np.maximum(source, 0)] if ok.size else -1, -1)
    return NodeReach(distance, source.astype(np.int64), float(limit_m))


def _same_edge_pairs(
    source_edge: NDArray[np.integer],
    point_edge: NDArray[np.integer],
) -> tuple[NDArray[np.int64], NDArray[np.int64]]:
    """All (source, point) index pairs whose edges are equal (vectorised join)."""
    order = np.argsort(source_edge, kind="stable")
    sorted_edge = source_edge[order]
    start = np.searchsorted(sorted_edge, point_edge, side="left")
    stop = np.searchsorted(sorted_edge, point_edge, side="right")
    count = stop - start
    point_idx = np.repeat(np.arange(point_edge.size), count)
    source_idx = order[ranges(start, count)]
    return source_idx.astype(np.int64), point_idx.astype(np.int64)


def nearest_point_distances(
    network: WalkNetwork, reach: NodeReach, source_snaps: Snaps, point_snaps: Snaps
) -> tuple[NDArray[np.float64], NDArray[np.int64]]:
    """Distance from each point to its nearest source, and which, from a :class:`NodeReach`.

    Includes both snap walks and the direct walk along a shared edge. Points not snapped (or
    beyond ``reach.limit_m``) get ``inf`` and ``-1``.
    """
    m = len(point_snaps)
    distance = np.full(m, np.inf)
    nearest = np.full(m, -1, dtype=np.int64)
    ok = np.flatnonzero(point_snaps.ok)
    if ok.size == 0:
        return distance, nearest
    edge = point_snaps.edge[ok]
    u = network.edge_u[edge]
    v = network.edge_v[edge]
    length = network.edge_length_m[edge]
    off = point_snaps.offset_m[ok]
    via_u = reach.distance_m[u] + off
    via_v = reach.distance_m[v] + (length - off)
    best = np.minimum(via_u, via_v)
    who = np.where(via_u <= via_v, reach.source[u], reach.source[v])

    src_ok = np.flatnonzero(source_snaps.ok)
    if src_ok.size:
        s_idx, p_idx = _same_edge_pairs(source_snaps.edge[src_ok], edge)
        if s_idx.size:
            src = src_ok[s_idx]
            direct = source_snaps.distance_m[src] + np.abs(source_snaps.offset_m[src] - off[p_idx])
            # Smallest direct distance per point: sort by (point, distance), keep the first.
            order = np.lexsort((src, direct, p_idx))
            p_sorted = p_idx[order]
            first = np.ones(order.size, dtype=bool)
            first[1:] = p_sorted[1:] != p_sorted[:-1]
            take = order[first]
            better = direct[take] < best[p_idx[take]]
            best[p_idx[take][better]] = direct[take][better]
            who[p_idx[take][better]] = src[take][better]
    total = best + point_snaps.distance_m[ok]
    within = total <= reach.limit_m
    distance[ok[within]] = total[within]
    nearest[ok[within]] = who[within]
    return distance, nearest


def _block_rows(n_cols: int, batch_size: int | None) -> int:
    if batch_size is not None:
        return max(1, int(batch_size))
    return max(1, _BLOCK_CELLS // max(n_cols, 1))


def _reach_ratio(network: WalkNetwork) -> float:
    """Largest drawn length per metre of network length over all edges (at least 1).

    A node ``D`` network metres from a source is at most ``D * ratio`` metres away in a straight
    line, which bounds the window a bounded search can reach. ``inf`` when an edge of zero
    length is drawn with a positive length.
    """
    cached = network.__dict__.get("_reach_ratio")
    if cached is None:
        # Drawn length bounds the straight displacement along any part of an edge.
        drawn = network.edge_geometry_length
        with np.errstate(divide="ignore", invalid="ignore"):
            ratio = np.where(drawn > 0, drawn / network.edge_length_m, 0.0)
        cached = float(max(1.0, ratio.max(initial=1.0)))
        network.__dict__["_reach_ratio"] = cached
    return cached


def _spatial_batches(
    x: NDArray[np.float64], y: NDArray[np.float64], band_m: float, size: int
) -> list[NDArray[np.int64]]:
    """Groups of at most ``size`` points, close together (rows of bands, snaking in x)."""
    band = np.floor((y - y.min()) / max(band_m, 1.0)).astype(np.int64)
    snake = np.where(band % 2 == 0, x, -x)
    order = np.lexsort((snake, band))
    return [order[i : i + size] for i in range(0, order.size, size)]


def reach_matrix(
    network: WalkNetwork, snaps: Snaps, limit_m: float, *, batch_size: int | None = None
) -> sp.csr_matrix:
    """Distances from each source to every node it reaches within ``limit_m`` (batched).

    One bounded Dijkstra per source, run in batches of nearby sources per scipy call, each on
    the subgraph of nodes that could be reached: nodes within ``limit_m`` (times the network's
    largest straight-line-to-length ratio, 1 for straight edges) of the batch's bounding box,
    so a batch costs its neighbourhood, not the whole network. Exact on the source's partial
    edge.

    Parameters
    ----------
    network
        The walking network.
    snaps
        Source snaps; rows of sources not ``ok`` are empty.
    limit_m
        Search bound in metres.
    batch_size
        Sources per scipy call (default 32, fewer when the dense block would exceed ~256 MB).

    Returns
    -------
    scipy.sparse.csr_matrix
        Shape ``(len(snaps), network.n_nodes)``; stored entries are the reached nodes and their
        distances in metres. A stored ``0.0`` is a node at distance zero (kept explicitly), so
        test membership with the sparsity structure (``indptr``/``indices``), not with ``> 0``.

    Examples
    --------
    >>> import numpy as np
    >>> from lifecircle.geo.network import WalkNetwork, snap_points
    >>> net = WalkNetwork.from_arrays([0.0, 100.0, 200.0], [0.0, 0.0, 0.0], [0, 1], [1, 2])
    >>> fac = snap_points(net, np.array([0.0, 190.0]), np.array([0.0, 0.0]), max_snap_m=50)
    >>> reach_matrix(net, fac, 150.0).toarray().tolist()
    [[0.0, 100.0, 0.0], [0.0, 90.0, 10.0]]
    """
    k = len(snaps)
    n = network.n_nodes
    ok = np.flatnonzero(snaps.ok)
    if ok.size == 0 or n == 0:
        return sp.csr_matrix((k, n), dtype=np.float64)
    nodes, entry = source_entries(network, snaps.subset(ok))
    window_m = limit_m * _reach_ratio(network) + 1.0
    local = np.isfinite(window_m)
    size = batch_size if batch_size is not None else 32
    sx, sy = snaps.x_m[ok], snaps.y_m[ok]
    batches = (
        _spatial_batches(sx, sy, 2.0 * window_m, size)
        if local
        else [np.arange(i, min(i + size, ok.size)) for i in range(0, ok.size, size)]
    )
    matrix = network.csr
    row_parts, col_parts, val_parts = [], [], []
    for batch in batches:
        if local:
            # Nodes in the window around the batch, plus the batch's own entry nodes.
            x0, x1 = sx[batch].min() - window_m, sx[batch].max() + window_m
            y0, y1 = sy[batch].min() - window_m, sy[batch].max() + window_m
            inside = (network.x >= x0) & (network.x <= x1) & (network.y >= y0) & (network.y <= y1)
            inside[nodes[batch].ravel()] = True
            sub_nodes = np.flatnonzero(inside)
        else:
            sub_nodes = np.arange(n)
        position = np.full(n, -1, dtype=np.int64)
        position[sub_nodes] = np.arange(sub_nodes.size)
        sub = matrix[sub_nodes][:, sub_nodes] if sub_nodes.size < n else matrix
        m = sub_nodes.size
        rows_per_call = _block_rows(m + batch.size, None)
        for start in range(0, batch.size, rows_per_call):
            part = batch[start : start + rows_per_call]
            graph = extend_with_sources(
                sub.indptr, sub.indices, sub.data, m, position[nodes[part]], entry[part]
            )
            block = dijkstra(
                graph, directed=True, indices=np.arange(m, m + part.size), limit=limit_m
            )[:, :m]
            r, c = np.nonzero(np.isfinite(block))
            row_parts.append(ok[part][r])
            col_parts.append(sub_nodes[c])
            val_parts.append(block[r, c])
    rows = np.concatenate(row_parts)
    cols = np.concatenate(col_parts)
    vals = np.concatenate(val_parts)
    counts = np.bincount(rows, minlength=k)
    indptr = np.zeros(k + 1, dtype=np.int64)
    np.cumsum(counts, out=indptr[1:])
    order = np.lexsort((cols, rows))
    logger.debug("reach_matrix: %d sources, %d reached nodes in total", ok.size, rows.size)
    return sp.csr_matrix((vals[order], cols[order].astype(np.int32), indptr), shape=(k, n))


def point_cover_matrix(
    network: WalkNetwork,
    source_snaps: Snaps,
    point_snaps: Snaps,
    limit_m: float,
    *,
    boolean: bool = False,
    node_reach: sp.csr_matrix | None = None,
) -> sp.csr_matrix:
    """Distances from each source to each point within ``limit_m``, exact on partial edges.

    Parameters
    ----------
    network
        The walking network.
    source_snaps, point_snaps
        Snapped sources (e.g. candidate sites) and points (e.g. demand cells).
    limit_m
        Only pairs at most this far apart (snap walks included) are stored.
    boolean
        Return a boolean matrix (every stored entry ``True``) instead of distances.
    node_reach
        A :func:`reach_matrix` of ``source_snaps`` with at least ``limit_m``, to reuse.

    Returns
    -------
    scipy.sparse.csr_matrix
        Shape ``(len(source_snaps), len(point_snaps))``. Stored entries are the covered pairs;
        a stored ``0.0`` distance is kept explicitly (a point exactly at the source).

    Examples
    --------
    >>> import numpy as np
    >>> from lifecircle.geo.network import WalkNetwork, snap_points
    >>> net = WalkNetwork.from_arrays([0.0, 100.0, 200.0], [0.0, 0.0, 0.0], [0, 1], [1, 2])
    >>> fac = snap_points(net, np.array([20.0]), np.array([0.0]), max_snap_m=50)
    >>> cells = snap_points(net, np.array([60.0, 150.0]), np.array([10.0, 0.0]), max_snap_m=50)
    >>> point_cover_matrix(net, fac, cells, 200.0).toarray().tolist()
    [[50.0, 130.0]]
    """
    k, m = len(source_snaps), len(point_snaps)
    dtype = bool if boolean else np.float64
    if k == 0 or m == 0 or not source_snaps.ok.any() or not point_snaps.ok.any():
        return sp.csr_matrix((k, m), dtype=dtype)
    matrix = reach_matrix(network, source_snaps, limit_m) if node_reach is None else node_reach
    matrix = matrix.tocsr()

    # Each snapped point is reachable through its edge's two end nodes: build node -> (point,
    # added distance) incidence in CSR form, then expand every reached (source, node) entry.
    pts = np.flatnonzero(point_snaps.ok)
    edge = point_snaps.edge[pts]
    off = point_snaps.offset_m[pts]
    add_u = off + point_snaps.distance_m[pts]
    add_v = network.edge_length_m[edge] - off + point_snaps.distance_m[pts]
    inc_node = np.concatenate([network.edge_u[edge], network.edge_v[edge]]).astype(np.int64)
    inc_point = np.concatenate([pts, pts])
    inc_add = np.concatenate([add_u, add_v])
    inc_order = np.argsort(inc_node, kind="stable")
    inc_node, inc_point, inc_add = inc_node[inc_order], inc_point[inc_order], inc_add[inc_order]
    inc_ptr = np.zeros(network.n_nodes + 1, dtype=np.int64)
    np.cumsum(np.bincount(inc_node, minlength=network.n_nodes), out=inc_ptr[1:])

    src_rows = np.repeat(np.arange(k), np.diff(matrix.indptr))
    node = matrix.indices.astype(np.int64)
    node_d = matrix.data
    deg = inc_ptr[node + 1] - inc_ptr[node]
    entry_of = np.repeat(np.arange(node.size), deg)
    pos = ranges(inc_ptr[node], deg)
    pair_src = src_rows[entry_of]
    pair_pt = inc_point[pos]
    pair_d = node_d[entry_of] + inc_add[pos]

    # The direct walk along a shared edge.
    src_ok = np.flatnonzero(source_snaps.ok)
    s_idx, p_idx = _same_edge_pairs(source_snaps.edge[src_ok], edge)
    if s_idx.size:
        src = src_ok[s_idx]
        direct = (
            source_snaps.distance_m[src]
            + np.abs(source_snaps.offset_m[src] - off[p_idx])
            + point_snaps.distance_m[pts[p_idx]]
        )
        pair_src = np.concatenate([pair_src, src])
        pair_pt = np.concatenate([pair_pt, pts[p_idx]])
        pair_d = np.concatenate([pair_d, direct])

    keep = pair_d <= limit_m
    pair_src, pair_pt, pair_d = pair_src[keep], pair_pt[keep], pair_d[keep]
    order = np.lexsort((pair_d, pair_pt, pair_src))
    pair_src, pair_pt, pair_d = pair_src[order], pair_pt[order], pair_d[order]
    first = np.ones(pair_src.size, dtype=bool)
    first[1:] = (pair_src[1:] != pair_src[:-1]) | (pair_pt[1:] != pair_pt[:-1])
    pair_src, pair_pt, pair_d = pair_src[first], pair_pt[first], pair_d[first]
    indptr = np.zeros(k + 1, dtype=np.int64)
    np.cumsum(np.bincount(pair_src, minlength=k), out=indptr[1:])
    data = np.ones(pair_d.size, dtype=bool) if boolean else pair_d
    return sp.csr_matrix((data, pair_pt.astype(np.int32), indptr), shape=(k, m))
