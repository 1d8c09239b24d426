"""The walking network in compact form (CSR arrays in a metric CRS) and snapping onto its edges.

The network is built once from a :class:`LonLatNetwork` (arrays in longitude/latitude, as the
OSM XML reader gives them) or from an osmnx graph (:meth:`WalkNetwork.from_graph`), and every
search afterwards runs on the CSR arrays (numpy and scipy). The
network also knows its blocks (:attr:`WalkNetwork.faces`), from which service areas are built.

Examples
--------
>>> import numpy as np
>>> net = WalkNetwork.from_arrays(
...     x_m=[0.0, 100.0, 100.0], y_m=[0.0, 0.0, 100.0], edge_u=[0, 1], edge_v=[1, 2])
>>> net.n_nodes, net.n_edges, net.edge_length_m.tolist()
(3, 2, [100.0, 100.0])
>>> snaps = snap_points(net, np.array([30.0]), np.array([5.0]), max_snap_m=50.0)
>>> int(snaps.edge[0]), float(snaps.offset_m[0]), float(snaps.distance_m[0])
(0, 30.0, 5.0)
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, fields
from functools import cached_property
from typing import Any

import numpy as np
import pyproj
import scipy.sparse as sp
import shapely
from numpy.typing import ArrayLike, NDArray
from scipy.sparse.csgraph import breadth_first_order, connected_components

from lifecircle.arrays import ranges
from lifecircle.errors import NetworkError
from lifecircle.geo.crs import metric_crs_for
from lifecircle.parallel import can_fork, fork_map

logger = logging.getLogger(__name__)

# Blocks whose polygons are built at once while tracing faces (bounds the memory it takes).
_FACE_CHUNK = 100_000

__all__ = ["Faces", "LonLatNetwork", "Snaps", "WalkNetwork", "csr_from_edges", "snap_points"]


def csr_from_edges(
    edge_u: NDArray[np.integer],
    edge_v: NDArray[np.integer],
    length_m: NDArray[np.floating],
    n_nodes: int,
) -> tuple[NDArray[np.int64], NDArray[np.int32], NDArray[np.float64]]:
    """CSR arrays (``indptr, indices, weights_m``) holding both directions of undirected edges.

    Zero-length edges stay as explicit zeros, which ``scipy.sparse.csgraph`` treats as edges.
    """
    rows = np.concatenate([edge_u, edge_v]).astype(np.int64)
    cols = np.concatenate([edge_v, edge_u]).astype(np.int32)
    data = np.concatenate([length_m, length_m]).astype(np.float64)
    order = np.lexsort((cols, rows))
    counts = np.bincount(rows, minlength=n_nodes)
    indptr = np.zeros(n_nodes + 1, dtype=np.int64)
    np.cumsum(counts, out=indptr[1:])
    return indptr, cols[order], data[order]


def _shortest_of_pairs(
    edge_u: NDArray[np.integer],
    edge_v: NDArray[np.integer],
    length_m: NDArray[np.floating],
    n_nodes: int,
) -> NDArray[np.bool_]:
    """True for the shortest edge of each group of parallel edges (one per node pair)."""
    a = np.minimum(edge_u, edge_v).astype(np.int64)
    b = np.maximum(edge_u, edge_v).astype(np.int64)
    order = np.lexsort((length_m, b, a))
    pair = a[order] * n_nodes + b[order]
    first = np.ones(order.size, dtype=bool)
    first[1:] = pair[1:] != pair[:-1]
    mask = np.zeros(order.size, dtype=bool)
    mask[order[first]] = True
    return mask


@dataclass(frozen=True)
class Faces:
    """Bounded faces (blocks) of a walking network; see :attr:`WalkNetwork.faces`.

    Kept as compact arrays (a 500k-node network has half a million blocks); :meth:`polygons`
    builds shapely polygons of the blocks asked for.

    Attributes
    ----------
    face_of
        Face on the left of each half-edge: half-edge ``2e`` runs edge ``e`` from ``edge_u``
        to ``edge_v``, ``2e + 1`` back. ``-1`` where that side is no kept face.
    n_sides
        Number of half-edges around each face (each edge counts once: a kept face's ring
        does not touch itself).
    ring_xy, ring_start
        The vertices of every face's ring (counter-clockwise, without the closing vertex),
        face after face, and where each face's vertices start (``n_faces + 1`` offsets).
    """

    face_of: NDArray[np.int64]
    n_sides: NDArray[np.int64]
    ring_xy: NDArray[np.float64]
    ring_start: NDArray[np.int64]

    def __len__(self) -> int:
        return int(self.n_sides.size)

    def polygons(self, face: ArrayLike | None = None) -> NDArray[np.object_]:
        """Shapely polygons of the faces numbered ``face`` (all faces when omitted)."""
        face = np.arange(len(self)) if face is None else np.asarray(face, dtype=np.int64)
        return _ring_polygons(self.ring_xy, self.ring_start, face)


def _ring_polygons(
    ring_xy: NDArray[np.float64], ring_start: NDArray[np.int64], ring: NDArray[np.int64]
) -> NDArray[np.object_]:
    """Polygons of the rings numbered ``ring``, from packed vertices and start offsets."""
    count = ring_start[ring + 1] - ring_start[ring]
    if ring.size == 0:
        return np.empty(0, dtype=object)
    return shapely.polygons(
        shapely.linearrings(
            ring_xy[ranges(ring_start[ring], count)], indices=np.repeat(np.arange(ring.size), count)
        )
    )


def _street_name(value: Any) -> str:
    """An edge's ``name`` attribute as one string (osmnx merges names into lists)."""
    if isinstance(value, (list, tuple)):
        value = next((v for v in value if isinstance(v, str) and v.strip()), "")
    return value.strip() if isinstance(value, str) else ""


@dataclass(frozen=True)
class LonLatNetwork:
    """A walking network as read, in longitude/latitude: what :meth:`WalkNetwork.from_lonlat`
    builds the compact network from.

    Attributes
    ----------
    node_id
        Node ids (int64), one per node position.
    lon, lat
        Node coordinates in degrees (WGS-84).
    edge_u, edge_v
        Node positions of each edge's ends (an undirected edge may come once or both ways).
    length_m
        Edge lengths in metres; nan where the source has none.
    geometry
        WGS-84 LineStrings from ``edge_u`` to ``edge_v``; None where the edge is straight.
    name
        Street name per edge ('' when unnamed), or None when the source has no names.
    """

    node_id: NDArray[np.int64]
    lon: NDArray[np.float64]
    lat: NDArray[np.float64]
    edge_u: NDArray[np.int64]
    edge_v: NDArray[np.int64]
    length_m: NDArray[np.float64]
    geometry: NDArray[np.object_]
    name: NDArray[np.object_] | None = None

    @classmethod
    def from_graph(cls, graph: Any) -> LonLatNetwork:
        """The nodes and edges of an osmnx ``MultiDiGraph`` in EPSG:4326, in the graph's order:
        node ``x``/``y``, edge ``length``, ``geometry`` and ``name`` (osmnx's merged name lists
        give their first name)."""
        node_id = np.fromiter(graph.nodes, dtype=np.int64, count=graph.number_of_nodes())
        lon = np.fromiter(
            (d["x"] for _, d in graph.nodes(data=True)), dtype=np.float64, count=node_id.size
        )
        lat = np.fromiter(
            (d["y"] for _, d in graph.nodes(data=True)), dtype=np.float64, count=node_id.size
        )
        edges = list(graph.edges(data=True))
        sorter = np.argsort(node_id, kind="stable")
        sorted_ids = node_id[sorter]
        u_ids = np.fromiter((e[0] for e in edges), dtype=np.int64, count=len(edges))
        v_ids = np.fromiter((e[1] for e in edges), dtype=np.int64, count=len(edges))
        names = np.array([_street_name(e[2].get("name")) for e in edges] + [None], dtype=object)
        return cls(
            node_id=node_id,
            lon=lon,
            lat=lat,
            edge_u=sorter[np.searchsorted(sorted_ids, u_ids)],
            edge_v=sorter[np.searchsorted(sorted_ids, v_ids)],
            length_m=np.array([float(e[2].get("length", np.nan)) for e in edges], dtype=np.float64),
            geometry=np.array([e[2].get("geometry") for e in edges] + [None], dtype=object)[:-1],
            name=names[:-1] if any(names[:-1]) else None,
        )


@dataclass(frozen=True, eq=False)
class WalkNetwork:
    """A walking network as arrays: nodes, undirected edges and a CSR adjacency (metres).

    Attributes
    ----------
    crs
        The metric CRS of ``x``, ``y`` and ``edge_geometry``.
    node_ids
        OSM (or caller) node ids, int64, one per node position.
    x, y
        Node coordinates in metres.
    indptr, indices, weights_m
        CSR adjacency with both directions of every undirected edge; weights in metres.
    edge_u, edge_v
        Node positions (int32) of each undirected edge; ``edge_u < edge_v``.
    edge_length_m
        Edge length in metres (the graph's ``length`` attribute when built from osmnx).
    edge_geometry
        Shapely LineStrings in ``crs``, running from ``edge_u`` to ``edge_v``.
    component
        Connected-component label per node.
    edge_name
        Street name per edge (the OSM ``name`` tag; '' when unnamed), or ``None`` when the
        source had no names.
    """

    crs: pyproj.CRS
    node_ids: NDArray[np.int64]
    x: NDArray[np.float64]
    y: NDArray[np.float64]
    indptr: NDArray[np.int64]
    indices: NDArray[np.int32]
    weights_m: NDArray[np.float64]
    edge_u: NDArray[np.int32]
    edge_v: NDArray[np.int32]
    edge_length_m: NDArray[np.float64]
    edge_geometry: NDArray[np.object_]
    component: NDArray[np.int32]
    edge_name: NDArray[np.object_] | None = None

    @property
    def n_nodes(self) -> int:
        """Number of nodes."""
        return int(self.x.shape[0])

    @property
    def n_edges(self) -> int:
        """Number of undirected edges."""
        return int(self.edge_u.shape[0])

    @cached_property
    def csr(self) -> sp.csr_matrix:
        """The adjacency as a ``scipy.sparse.csr_matrix`` (shares the arrays)."""
        return sp.csr_matrix(
            (self.weights_m, self.indices, self.indptr), shape=(self.n_nodes, self.n_nodes)
        )

    @cached_property
    def edge_tree(self) -> shapely.STRtree:
        """STRtree over ``edge_geometry`` (built once, on first snap)."""
        # Small nodes: nearest-edge queries visit fewer edges (a third faster on the 500k-node
        # benchmark grid than the default 10; the build costs about the same).
        return shapely.STRtree(self.edge_geometry, node_capacity=4)

    @cached_property
    def edge_geometry_length(self) -> NDArray[np.float64]:
        """Planar length of each edge geometry in the metric CRS (metres)."""
        return shapely.length(self.edge_geometry)

    @cached_property
    def edge_crosses(self) -> NDArray[np.bool_]:
        """True for edges meeting another edge away from a shared node (a bridge drawn over a
        road, overlapping ways): they bound no block (:attr:`faces`).

        Candidate pairs come from the STRtree's bounding boxes; pairs of straight edges sharing
        a node cannot meet elsewhere, so only the other pairs are tested exactly.
        """
        flags = np.zeros(self.n_edges, dtype=bool)
        if self.n_edges < 2:
            return flags
        left, right = self.edge_tree.query(self.edge_geometry)
        keep = left < right
        left, right = left[keep], right[keep]
        ends_l = np.column_stack([self.edge_u[left], self.edge_v[left]])
        ends_r = np.column_stack([self.edge_u[right], self.edge_v[right]])
        shared = (ends_l[:, :1] == ends_r).any(axis=1) | (ends_l[:, 1:] == ends_r).any(axis=1)
        straight = shapely.get_num_coordinates(self.edge_geometry) == 2
        both_straight = straight[left] & straight[right]
        # Two straight segments sharing an end meet only there, unless they run the same way.
        easy = shared & both_straight
        meets = np.zeros(left.size, dtype=bool)
        if easy.any():
            a, b = left[easy], right[easy]
            da = np.column_stack(
                [
                    self.x[self.edge_v[a]] - self.x[self.edge_u[a]],
                    self.y[self.edge_v[a]] - self.y[self.edge_u[a]],
                ]
            )
            db = np.column_stack(
                [
                    self.x[self.edge_v[b]] - self.x[self.edge_u[b]],
                    self.y[self.edge_v[b]] - self.y[self.edge_u[b]],
                ]
            )
            # Orient both away from the shared node before comparing directions.
            sign_a = np.where(
                (self.edge_u[a] == self.edge_u[b]) | (self.edge_u[a] == self.edge_v[b]), 1.0, -1.0
            )
            sign_b = np.where(
                (self.edge_u[b] == self.edge_u[a]) | (self.edge_u[b] == self.edge_v[a]), 1.0, -1.0
            )
            da *= sign_a[:, None]
            db *= sign_b[:, None]
            cross = da[:, 0] * db[:, 1] - da[:, 1] * db[:, 0]
            dot = (da * db).sum(axis=1)
            scale = np.hypot(*da.T) * np.hypot(*db.T)
            meets[easy] = (np.abs(cross) <= 1e-9 * scale) & (dot > 0)
        hard_shared = shared & ~both_straight
        if hard_shared.any():
            ga, gb = self.edge_geometry[left[hard_shared]], self.edge_geometry[right[hard_shared]]
            # crosses or overlaps, read off one DE-9IM matrix (the two predicates computed one
            # each, the dearest step of a county's blocks): for two lines, crossing is an
            # interior meeting in points (II = 0), overlapping one along a stretch with each
            # reaching beyond the other (II = 1, IE and EI not F).
            matrix = shapely.relate(ga, gb).astype("U9").view("U1").reshape(-1, 9)
            meets[hard_shared] = (matrix[:, 0] == "0") | (
                (matrix[:, 0] == "1") & (matrix[:, 2] != "F") & (matrix[:, 6] != "F")
            )
        apart = ~shared
        if apart.any():
            meets[apart] = shapely.intersects(
                self.edge_geometry[left[apart]], self.edge_geometry[right[apart]]
            )
        flags[left[meets]] = True
        flags[right[meets]] = True
        return flags

    @cached_property
    def incident_edges(self) -> tuple[NDArray[np.int64], NDArray[np.int64]]:
        """Every edge at every node, parallel edges included: ``(start, edge)`` where node
        ``i``'s edges are ``edge[start[i]:start[i + 1]]``."""
        ends = np.concatenate([self.edge_u, self.edge_v]).astype(np.int64)
        edge = np.tile(np.arange(self.n_edges, dtype=np.int64), 2)
        order = np.argsort(ends, kind="stable")
        start = np.zeros(self.n_nodes + 1, dtype=np.int64)
        np.cumsum(np.bincount(ends, minlength=self.n_nodes), out=start[1:])
        return start, edge[order]

    @cached_property
    def edge_vertices(self) -> tuple[NDArray[np.float64], NDArray[np.int64], NDArray[np.float64]]:
        """Vertices of every edge geometry: ``coords (N, 2)``, ``first (n_edges + 1)`` offsets and
        ``along (N,)``, each vertex's planar distance from its edge's start."""
        coords, owner = shapely.get_coordinates(self.edge_geometry, return_index=True)
        first = np.zeros(self.n_edges + 1, dtype=np.int64)
        np.cumsum(np.bincount(owner, minlength=self.n_edges), out=first[1:])
        step = np.zeros(coords.shape[0])
        if coords.shape[0] > 1:
            step[1:] = np.hypot(*(coords[1:] - coords[:-1]).T)
        step[first[:-1][np.diff(first) > 0]] = 0.0
        along = np.cumsum(step)
        # Restart the running sum at each edge's first vertex.
        starts = first[:-1][np.diff(first) > 0]
        along -= np.repeat(along[starts], np.diff(first)[np.diff(first) > 0])
        return coords, first, along

    @cached_property
    def faces(self) -> Faces:
        """The blocks the streets enclose: bounded faces of the network's planar part.

        Edges meeting another edge away from a node (:attr:`edge_crosses`), edges drawn with a
        zero-length end segment and dead-end chains bound no face. Of the rest, every directed
        half-edge is followed by the half-edge leaving its end node next clockwise from its
        reverse, so each cycle of that permutation walks one face with the face on its left:
        counter-clockwise (positive area) for a block, clockwise for the outside of each
        component. A block is kept when its ring is a valid polygon (not touching itself) and
        no other piece of the network lies inside it (the ring would miss that hole).
        """
        coords, first, along = self.edge_vertices
        n_seg = np.diff(first) - 1
        start_len = along[first[:-1] + 1]
        end_len = along[first[1:] - 1] - along[np.maximum(first[1:] - 2, 0)]
        usable = ~self.edge_crosses & (n_seg >= 1) & (start_len > 0) & (end_len > 0)
        while True:  # peel dead-end chains
            degree = np.bincount(
                np.concatenate([self.edge_u[usable], self.edge_v[usable]]), minlength=self.n_nodes
            )
            dead = usable & ((degree[self.edge_u] == 1) | (degree[self.edge_v] == 1))
            if not dead.any():
                break
            usable &= ~dead
        edge = np.flatnonzero(usable)
        face_of = np.full(2 * self.n_edges, -1, dtype=np.int64)
        if edge.size == 0:
            return Faces(
                face_of, np.empty(0, dtype=np.int64), np.empty((0, 2)), np.zeros(1, dtype=np.int64)
            )
        # Half-edge 2i runs edge[i] from u to v, 2i + 1 back; each leaves its origin along
        # its first segment.
        origin = np.column_stack([self.edge_u[edge], self.edge_v[edge]]).ravel()
        lead = np.stack(
            [
                coords[first[edge] + 1] - coords[first[edge]],
                coords[first[edge + 1] - 2] - coords[first[edge + 1] - 1],
            ],
            axis=1,
        ).reshape(-1, 2)
        n_half = origin.size
        around = np.lexsort((np.arctan2(lead[:, 1], lead[:, 0]), origin))
        rank = np.empty(n_half, dtype=np.int64)
        rank[around] = np.arange(n_half)
        twin = np.arange(n_half) ^ 1
        block_start = np.searchsorted(origin[around], origin[twin], side="left")
        block_end = np.searchsorted(origin[around], origin[twin], side="right")
        clockwise = np.where(rank[twin] > block_start, rank[twin] - 1, block_end - 1)
        successor = around[clockwise]
        # Each cycle in walking order: a breadth-first search from a root joined to the first
        # half-edge of every cycle reaches each half-edge at its step along its cycle, and a
        # stable sort by cycle keeps that order.
        _, cycle = connected_components(
            sp.csr_matrix(
                (np.ones(n_half), (np.arange(n_half), successor)), shape=(n_half, n_half)
            ),
            directed=True,
            connection="weak",
        )
        _, head = np.unique(cycle, return_index=True)
        rows = np.r_[np.full(head.size, n_half), np.arange(n_half)]
        cols = np.r_[head, successor]
        reached = breadth_first_order(
            sp.csr_matrix((np.ones(rows.size), (rows, cols)), shape=(n_half + 1, n_half + 1)),
            n_half,
            directed=True,
            return_predecessors=False,
        )[1:]
        walk = reached[np.argsort(cycle[reached], kind="stable")]
        # Ring vertices: each half-edge's vertices in its direction, without its last one.
        e = edge[walk // 2]
        backward = walk % 2 == 1
        count = n_seg[e]
        begin = np.where(backward, first[e + 1] - 1, first[e])
        step = np.where(backward, -1, 1)
        vertex = np.repeat(begin, count) + np.repeat(step, count) * ranges(
            np.zeros_like(count), count
        )
        ring = np.repeat(cycle[walk], count)
        ring_xy = coords[vertex]
        # Signed area (shoelace, about a local origin for precision).
        xy = ring_xy - ring_xy.mean(axis=0)
        following = np.arange(ring.size) + 1
        ends = np.flatnonzero(np.r_[ring[1:] != ring[:-1], True])
        following[ends] = np.r_[0, ends[:-1] + 1]
        twice_area = np.bincount(
            ring,
            weights=xy[:, 0] * xy[following, 1] - xy[following, 0] * xy[:, 1],
            minlength=head.size,
        )
        ring_start = np.r_[0, np.cumsum(np.bincount(ring, minlength=head.size))]
        # A block is kept when its ring is a valid polygon and holds no other piece of the
        # network (an island): its ring would miss that hole. Kept edges never cross, so a
        # piece lies wholly inside a block or outside. Checked in chunks of blocks, so that
        # only a chunk's polygons are ever built at once.
        _, piece = connected_components(
            sp.csr_matrix(
                (np.ones(edge.size), (self.edge_u[edge], self.edge_v[edge])),
                shape=(self.n_nodes, self.n_nodes),
            ),
            directed=False,
        )
        one_node = origin[np.unique(piece[origin], return_index=True)[1]]
        one_point = shapely.points(self.x[one_node], self.y[one_node])
        keep = twice_area > 0
        candidates = np.flatnonzero(keep)
        for chunk in np.array_split(candidates, max(1, candidates.size // _FACE_CHUNK)):
            polygon = _ring_polygons(ring_xy, ring_start, chunk)
            valid = shapely.is_valid(polygon)
            keep[chunk[~valid]] = False
            node, block = shapely.STRtree(polygon[valid]).query(one_point, predicate="within")
            holding = chunk[valid][block]
            keep[holding[piece[one_node[node]] != piece[origin[head[holding]]]]] = False
        face_id = np.full(head.size, -1, dtype=np.int64)
        face_id[keep] = np.arange(int(keep.sum()))
        half_edge = 2 * np.repeat(edge, 2) + np.tile([0, 1], edge.size)
        face_of[half_edge] = face_id[cycle]
        kept = np.flatnonzero(keep)
        sizes = ring_start[kept + 1] - ring_start[kept]
        return Faces(
            face_of=face_of,
            n_sides=np.bincount(cycle, minlength=head.size)[keep],
            ring_xy=ring_xy[ranges(ring_start[kept], sizes)],
            ring_start=np.r_[0, np.cumsum(sizes)],
        )

    @classmethod
    def from_arrays(
        cls,
        x_m: ArrayLike,
        y_m: ArrayLike,
        edge_u: ArrayLike,
        edge_v: ArrayLike,
        *,
        edge_length_m: ArrayLike | None = None,
        edge_geometry: ArrayLike | None = None,
        crs: Any = "EPSG:32650",
        node_ids: ArrayLike | None = None,
        edge_name: ArrayLike | None = None,
    ) -> WalkNetwork:
        """Build a network from node coordinates (metres) and undirected edges.

        Parameters
        ----------
        x_m, y_m
            Node coordinates in the metric ``crs``.
        edge_u, edge_v
            Node positions of each edge. Self-loops are dropped. Parallel edges between the
            same two nodes are all kept (for snapping and service areas) unless they have the
            same length (the two directions of one way); the search (CSR) uses the shortest.
        edge_length_m
            Edge lengths; the geometry length when omitted.
        edge_geometry
            LineStrings from ``edge_u`` to ``edge_v``; straight lines when omitted.
        crs
            The metric CRS of the coordinates.
        node_ids
            Ids per node position; ``0..n-1`` when omitted.
        edge_name
            Street name per edge ('' when unnamed); kept for the edges kept.
        """
        x = np.ascontiguousarray(x_m, dtype=np.float64)
        y = np.ascontiguousarray(y_m, dtype=np.float64)
        n = x.shape[0]
        u = np.asarray(edge_u, dtype=np.int64)
        v = np.asarray(edge_v, dtype=np.int64)
        if u.shape != v.shape:
            raise NetworkError(f"edge_u has {u.size} entries but edge_v has {v.size}")
        if u.size and (min(u.min(), v.min()) < 0 or max(u.max(), v.max()) >= n):
            raise NetworkError(f"edge endpoints must be node positions in 0..{n - 1}")
        if edge_geometry is None:
            geometry = None
        else:
            geometry = np.asarray(edge_geometry, dtype=object)
        if edge_length_m is None:
            if geometry is None:
                length = np.hypot(x[u] - x[v], y[u] - y[v])
            else:
                length = shapely.length(geometry)
        else:
            length = np.asarray(edge_length_m, dtype=np.float64)
        if np.any(~np.isfinite(length) | (length < 0)):
            raise NetworkError("edge lengths must be finite and non-negative")

        keep = u != v
        a = np.minimum(u, v)[keep]
        b = np.maximum(u, v)[keep]
        flipped = (u > v)[keep]
        length = length[keep]
        # Edges sorted by (pair, length); of equal pair and length only one is kept (the two
        # directions of one way), while parallel ways of different lengths all stay.
        order = np.lexsort((length, b, a))
        pair = a[order] * n + b[order]
        same = np.zeros(order.size, dtype=bool)
        same[1:] = (pair[1:] == pair[:-1]) & (np.abs(np.diff(length[order])) <= 1e-6)
        chosen = order[~same]
        a, b, length, flipped = a[chosen], b[chosen], length[chosen], flipped[chosen]
        if geometry is None:
            coords = np.empty((2 * a.size, 2))
            coords[0::2, 0], coords[0::2, 1] = x[a], y[a]
            coords[1::2, 0], coords[1::2, 1] = x[b], y[b]
            geoms = shapely.linestrings(coords, indices=np.repeat(np.arange(a.size), 2))
            if a.size == 0:
                geoms = np.empty(0, dtype=object)
        else:
            geoms = geometry[keep][chosen]
            if flipped.any():
                geoms = geoms.copy()
                geoms[flipped] = shapely.reverse(geoms[flipped])
        shortest = _shortest_of_pairs(a, b, length, n)
        indptr, indices, weights = csr_from_edges(a[shortest], b[shortest], length[shortest], n)
        matrix = sp.csr_matrix((weights, indices, indptr), shape=(n, n))
        _, labels = connected_components(matrix, directed=False)
        ids = np.arange(n, dtype=np.int64) if node_ids is None else np.asarray(node_ids, np.int64)
        return cls(
            crs=pyproj.CRS.from_user_input(crs),
            node_ids=ids,
            x=x,
            y=y,
            indptr=indptr,
            indices=indices,
            weights_m=weights,
            edge_u=a.astype(np.int32),
            edge_v=b.astype(np.int32),
            edge_length_m=np.ascontiguousarray(length, dtype=np.float64),
            edge_geometry=np.asarray(geoms, dtype=object),
            component=labels.astype(np.int32),
            edge_name=None
            if edge_name is None
            else np.asarray(edge_name, dtype=object)[keep][chosen],
        )

    @classmethod
    def from_graph(cls, graph: Any, *, crs: Any = None) -> WalkNetwork:
        """Build the network from an osmnx ``MultiDiGraph`` in EPSG:4326.

        :meth:`from_lonlat` of the graph's arrays (:meth:`LonLatNetwork.from_graph`): edge
        lengths are the graph's ``length`` attribute (metres) and edge shapes its ``geometry``
        attribute, or a straight line.

        Raises
        ------
        NetworkError
            When the graph has no nodes or no edges.
        """
        return cls.from_lonlat(LonLatNetwork.from_graph(graph), crs=crs)

    @classmethod
    def from_lonlat(cls, source: LonLatNetwork, *, crs: Any = None) -> WalkNetwork:
        """Build the network from a network read in longitude/latitude.

        The nodes are projected to ``crs`` (default: the UTM zone chosen by
        :func:`lifecircle.geo.crs.metric_crs_for` for the node coordinates), directions are
        collapsed (a walker ignores one-way rules), parallel ways are kept (see
        :meth:`from_arrays`; the search uses the shortest); edges without a geometry are
        straight, and edges without a length are as long as their geometry.

        Raises
        ------
        NetworkError
            When the network has no nodes or no edges.
        """
        lon, lat = source.lon, source.lat
        if lon.size == 0 or source.edge_u.size == 0:
            raise NetworkError(
                f"the walking network is empty ({lon.size} nodes, "
                f"{source.edge_u.size} edges): check the network file or the study area"
            )
        metric = pyproj.CRS.from_user_input(crs) if crs is not None else metric_crs_for(lon, lat)
        transformer = pyproj.Transformer.from_crs("EPSG:4326", metric, always_xy=True)
        x, y = (np.asarray(c, dtype=np.float64) for c in transformer.transform(lon, lat))
        u, v = source.edge_u, source.edge_v
        geometry = source.geometry.copy()
        missing = np.array([g is None for g in geometry], dtype=bool)
        if (~missing).any():
            geometry[~missing] = shapely.transform(
                geometry[~missing],
                lambda c: np.column_stack(transformer.transform(c[:, 0], c[:, 1])),
            )
        if missing.any():
            m = int(missing.sum())
            coords = np.empty((2 * m, 2))
            coords[0::2, 0], coords[0::2, 1] = x[u[missing]], y[u[missing]]
            coords[1::2, 0], coords[1::2, 1] = x[v[missing]], y[v[missing]]
            geometry[missing] = shapely.linestrings(coords, indices=np.repeat(np.arange(m), 2))
        length = source.length_m.copy()
        unknown = np.isnan(length)
        if unknown.any():
            length[unknown] = shapely.length(geometry[unknown])
        network = cls.from_arrays(
            x,
            y,
            u,
            v,
            edge_length_m=length,
            edge_geometry=geometry,
            crs=metric,
            node_ids=source.node_id,
            edge_name=source.name,
        )
        # Keep the source's own degrees (no round trip through the metric CRS): a node on a
        # township boundary stays on it. cached_property reads the instance dict first.
        network.__dict__["lonlat"] = (lon, lat)
        logger.info(
            "walk network: %d nodes, %d undirected edges (from %d), %d components",
            network.n_nodes,
            network.n_edges,
            source.edge_u.size,
            int(network.component.max(initial=-1)) + 1,
        )
        return network

    @cached_property
    def lonlat(self) -> tuple[NDArray[np.float64], NDArray[np.float64]]:
        """Node longitudes and latitudes (EPSG:4326), in node order.

        Kept from the source graph by :meth:`from_graph`; else projected back from ``x``, ``y``.
        """
        transformer = pyproj.Transformer.from_crs(self.crs, "EPSG:4326", always_xy=True)
        lon, lat = transformer.transform(self.x, self.y)
        return np.asarray(lon, dtype=np.float64), np.asarray(lat, dtype=np.float64)

    def describe_components(self) -> dict[str, Any]:
        """Sizes of the network's connected parts, for the run report (from :attr:`component`).

        Returns
        -------
        dict
            ``components`` (number of parts), ``main_component_nodes`` (nodes in the largest
            part) and ``other_components`` (node counts of the other parts, largest first), all
            plain ints.

        >>> net = WalkNetwork.from_arrays(x_m=[0.0, 1.0, 2.0, 9.0, 10.0], y_m=[0.0] * 5,
        ...                               edge_u=[0, 1, 3], edge_v=[1, 2, 4])
        >>> net.describe_components()
        {'components': 2, 'main_component_nodes': 3, 'other_components': [2]}
        """
        if self.n_nodes == 0:
            return {"components": 0, "main_component_nodes": 0, "other_components": []}
        sizes = np.sort(np.bincount(self.component))[::-1]
        sizes = sizes[sizes > 0]
        return {
            "components": int(sizes.size),
            "main_component_nodes": int(sizes[0]),
            "other_components": [int(s) for s in sizes[1:]],
        }

    def street_names(
        self, x_m: ArrayLike, y_m: ArrayLike, *, max_distance_m: float = 300.0
    ) -> NDArray[np.object_]:
        """The name of the nearest named street within ``max_distance_m`` of each point.

        Parameters
        ----------
        x_m, y_m
            Points in this network's metric CRS.
        max_distance_m
            Farther named streets are not given ('' instead).

        Returns
        -------
        numpy.ndarray
            One name per point ('' when no named edge is that close or the network has no
            names).
        """
        x = np.atleast_1d(np.asarray(x_m, dtype=np.float64))
        y = np.atleast_1d(np.asarray(y_m, dtype=np.float64))
        out = np.full(x.size, "", dtype=object)
        if self.edge_name is None or x.size == 0:
            return out
        named = np.flatnonzero(self.edge_name != "")
        if named.size == 0:
            return out
        tree = shapely.STRtree(self.edge_geometry[named])
        point_pos, edge_pos = tree.query_nearest(
            shapely.points(x, y), max_distance=max_distance_m, all_matches=False
        )
        out[point_pos] = self.edge_name[named[edge_pos]]
        return out

    def to_wgs84(self, geometry: ArrayLike) -> NDArray[np.object_]:
        """Transform shapely geometries from this network's metric CRS to EPSG:4326."""
        transformer = pyproj.Transformer.from_crs(self.crs, "EPSG:4326", always_xy=True)
        geoms = np.asarray(geometry, dtype=object)
        if geoms.size == 0:
            return geoms
        return shapely.transform(
            geoms, lambda c: np.column_stack(transformer.transform(c[:, 0], c[:, 1]))
        )

    def from_wgs84(self, geometry: shapely.Geometry) -> shapely.Geometry:
        """Transform a shapely geometry from EPSG:4326 to this network's metric CRS."""
        return shapely.transform(
            geometry, lambda c: np.column_stack(self.project_lonlat(c[:, 0], c[:, 1]))
        )

    def project_lonlat(
        self,
        lon: ArrayLike,
        lat: ArrayLike,
    ) -> tuple[NDArray[np.float64], NDArray[np.float64]]:
        """Longitude/latitude (EPSG:4326) to this network's metric coordinates."""
        transformer = pyproj.Transformer.from_crs("EPSG:4326", self.crs, always_xy=True)
        x, y = transformer.transform(np.asarray(lon, dtype=float), np.asarray(lat, dtype=float))
        return np.asarray(x, dtype=np.float64), np.asarray(y, dtype=np.float64)


@dataclass(frozen=True)
class Snaps:
    """Points snapped to the nearest edge.

    Attributes
    ----------
    edge
        Edge position per point (``-1`` where not snapped).
    offset_m
        Network distance from the ``edge_u`` end to the snap point, in metres (in the edge's
        ``edge_length_m`` scale).
    distance_m
        Straight distance from the point to the edge, walked off-network (``inf`` for an empty
        or missing point).
    ok
        True where the point is within ``max_snap_m`` of an edge and was snapped.
    x_m, y_m
        The points' metric coordinates.
    """

    edge: NDArray[np.int64]
    offset_m: NDArray[np.float64]
    distance_m: NDArray[np.float64]
    ok: NDArray[np.bool_]
    x_m: NDArray[np.float64]
    y_m: NDArray[np.float64]

    def __len__(self) -> int:
        return int(self.edge.shape[0])

    def subset(self, mask: ArrayLike) -> Snaps:
        """The snaps selected by a boolean mask or index array."""
        return Snaps(
            self.edge[mask],
            self.offset_m[mask],
            self.distance_m[mask],
            self.ok[mask],
            self.x_m[mask],
            self.y_m[mask],
        )


# First snapping bound (m): most points (facilities, demand cells) lie this close to an edge.
_FIRST_SNAP_M = 50.0


def _project_on_edges(
    network: WalkNetwork,
    edge: NDArray[np.int64],
    x: NDArray[np.float64],
    y: NDArray[np.float64],
) -> tuple[NDArray[np.float64], NDArray[np.float64]]:
    """Distance from each point ``(x[i], y[i])`` to edge ``edge[i]``, and where it lands.

    Point-to-segment projections over every segment of the edge geometry, in numpy. Returns
    the distance and the landing point's planar distance from the edge's start (on the first
    of equally near segments, as GEOS's ``line_locate_point``).
    """
    coords, first, along = network.edge_vertices
    n_seg = first[edge + 1] - first[edge] - 1
    seg = ranges(first[edge], n_seg)
    a = coords[seg]
    ab = coords[seg + 1] - a
    ap = np.column_stack([np.repeat(x, n_seg), np.repeat(y, n_seg)]) - a
    seg_len2 = np.einsum("ij,ij->i", ab, ab)
    t = np.clip(
        np.divide(
            np.einsum("ij,ij->i", ap, ab), seg_len2, out=np.zeros_like(seg_len2), where=seg_len2 > 0
        ),
        0.0,
        1.0,
    )
    dist = np.hypot(*(ap - ab * t[:, None]).T)
    if seg.size == edge.size:  # straight edges only: one segment per pair
        best = np.arange(edge.size)
    else:
        # Each pair's segments are consecutive: the first segment at the pair's minimum.
        nearest = np.minimum.reduceat(dist, np.cumsum(n_seg) - n_seg)
        at_min = np.flatnonzero(dist == np.repeat(nearest, n_seg))
        pair_of = np.repeat(np.arange(edge.size), n_seg)[at_min]
        best = at_min[np.r_[True, pair_of[1:] != pair_of[:-1]]]
    landing = along[seg[best]] + t[best] * np.sqrt(seg_len2[best])
    return dist[best], landing


def _nearest_in_boxes(
    network: WalkNetwork, x: NDArray[np.float64], y: NDArray[np.float64], bound_m: float
) -> tuple[NDArray[np.int64], NDArray[np.int64]]:
    """The nearest edge within ``bound_m`` of each point that has one: ``(point, edge)``.

    Candidates are the edges whose boxes meet the point's box of half-side ``bound_m`` (every
    edge within ``bound_m`` is one); distances are measured exactly by
    :func:`_project_on_edges`. Ties go to the lower edge number.
    """
    box = shapely.box(x - bound_m, y - bound_m, x + bound_m, y + bound_m)
    point, edge = network.edge_tree.query(box)
    if point.size == 0:
        return point, edge
    # The tree answers point by point already, so this stable sort is a linear pass.
    order = np.argsort(point, kind="stable")
    point, edge = point[order], edge[order]
    dist, _ = _project_on_edges(network, edge, x[point], y[point])
    start = np.flatnonzero(np.r_[True, point[1:] != point[:-1]])
    count = np.diff(np.r_[start, point.size])
    nearest = np.minimum.reduceat(dist, start)
    tied = np.where(dist == np.repeat(nearest, count), edge, np.iinfo(np.int64).max)
    point, edge = point[start], np.minimum.reduceat(tied, start)
    near = nearest <= bound_m
    return point[near], edge[near]


# Below this many points one process snaps them faster than two that must be forked.
_PARALLEL_SNAP_MIN = 50_000


def snap_points(
    network: WalkNetwork,
    x_m: ArrayLike,
    y_m: ArrayLike,
    *,
    max_snap_m: float,
    workers: int = 1,
) -> Snaps:
    """Snap points (metric coordinates) to the nearest edge of ``network``.

    Parameters
    ----------
    network
        The walking network.
    x_m, y_m
        Point coordinates in ``network.crs``; nan marks a missing point.
    max_snap_m
        Points farther than this from every edge are not snapped (``ok`` False) but their
        distance to the nearest edge is still reported.
    workers
        Processes sharing the points when there are many (a county's population cells), as
        :func:`lifecircle.parallel.fork_map`; the result is the same.

    Returns
    -------
    Snaps
        Edge, offset from the ``edge_u`` end (m), perpendicular distance (m) and ``ok`` mask,
        aligned to the input order.
    """
    x = np.asarray(x_m, dtype=np.float64).ravel()
    y = np.asarray(y_m, dtype=np.float64).ravel()
    if x.size >= _PARALLEL_SNAP_MIN and can_fork(workers):
        _ = network.edge_tree, network.edge_vertices  # built once, before the fork
        chunks = np.array_split(np.arange(x.size), workers)
        parts = fork_map(_snap_chunk, (network, x, y, max_snap_m), chunks, workers=workers)
        snaps = Snaps(
            *(np.concatenate([getattr(part, f.name) for part in parts]) for f in fields(Snaps))
        )
    else:
        snaps = _snap(network, x, y, max_snap_m)
    far = ~snaps.ok & np.isfinite(x) & np.isfinite(y)
    if far.any():
        logger.info(
            "%d of %d points are farther than %.0f m from the walking network",
            int(far.sum()),
            x.size,
            max_snap_m,
        )
    return snaps


def _snap_chunk(state: tuple, rows: NDArray[np.int64]) -> Snaps:
    network, x, y, max_snap_m = state
    return _snap(network, x[rows], y[rows], max_snap_m)


def _snap(
    network: WalkNetwork, x: NDArray[np.float64], y: NDArray[np.float64], max_snap_m: float
) -> Snaps:
    """:func:`snap_points` in this process."""
    n = x.size
    edge = np.full(n, -1, dtype=np.int64)
    offset = np.full(n, np.nan)
    distance = np.full(n, np.inf)
    valid = np.isfinite(x) & np.isfinite(y)
    if n == 0 or network.n_edges == 0 or not valid.any():
        return Snaps(edge, offset, distance, np.zeros(n, dtype=bool), x, y)
    where = np.flatnonzero(valid)
    vx, vy = x[where], y[where]
    # Most points lie on or near a street: their candidate edges come from a box query and are
    # measured in numpy (several times faster than the tree's nearest-neighbour search). The
    # rest ask the tree with max_snap_m (its cost grows with the bound), then without a bound so
    # their distance is reported. An edge found within a bound is the nearest of all.
    first_bound = min(_FIRST_SNAP_M, max_snap_m)
    near_point, near_edge = _nearest_in_boxes(network, vx, vy, first_bound)
    found_point, found_edge = [near_point], [near_edge]
    todo = np.setdiff1d(np.arange(where.size), near_point)
    for bound in [max_snap_m, None] if max_snap_m > first_bound else [None]:
        if todo.size == 0:
            break
        got, got_edge = network.edge_tree.query_nearest(
            shapely.points(vx[todo], vy[todo]), max_distance=bound, all_matches=False
        )
        found_point.append(todo[got])
        found_edge.append(got_edge)
        todo = np.setdiff1d(todo, todo[got])
    point_idx = np.concatenate(found_point)
    edge_idx = np.concatenate(found_edge).astype(np.int64)
    dist, landing = _project_on_edges(network, edge_idx, vx[point_idx], vy[point_idx])
    rows = where[point_idx]
    edge[rows] = edge_idx
    distance[rows] = dist
    # The landing point's share of the drawn length, in the edge's network length.
    _, first, along = network.edge_vertices
    drawn = along[first[edge_idx + 1] - 1]
    fraction = np.divide(landing, drawn, out=np.zeros_like(landing), where=drawn > 0)
    offset[rows] = np.clip(fraction, 0.0, 1.0) * network.edge_length_m[edge_idx]
    ok = (edge >= 0) & (distance <= max_snap_m)
    return Snaps(edge, offset, distance, ok, x, y)
