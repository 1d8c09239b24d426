"""OSM XML to the simplified walking network, as arrays or as an osmnx-style graph.

The file is parsed with expat straight into arrays (node ids and coordinates, each way's node
references and tags, the walk rules' decision); chains of degree-2 nodes are contracted with
numpy (:func:`_chains`); :func:`xml_network` gives the result as a
:class:`~lifecircle.geo.network.LonLatNetwork` (no graph is built) and :func:`xml_graph` as the
graph ``osmnx.graph_from_xml`` followed by the walk filter and ``osmnx.simplify_graph`` would
give (tests/test_osm.py checks both on real extracts).
"""

from __future__ import annotations

import logging
import zlib
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import geopandas as gpd
import networkx as nx
import numpy as np
import shapely
from scipy.sparse import coo_matrix
from scipy.sparse.csgraph import breadth_first_order, connected_components

from lifecircle.arrays import ranges
from lifecircle.errors import NetworkError
from lifecircle.geo.network import LonLatNetwork
from lifecircle.geo.walk_rules import WalkRules
from lifecircle.geo.ways import great_circle_m, ways_frame

logger = logging.getLogger(__name__)


# Way tags kept as edge attributes (osmnx's default useful_tags_way).
_EDGE_TAGS = (
    "access",
    "area",
    "bridge",
    "est_width",
    "highway",
    "junction",
    "landuse",
    "lanes",
    "maxspeed",
    "name",
    "oneway",
    "ref",
    "service",
    "tunnel",
    "width",
)


def _open_text(path: Path) -> Any:
    import bz2
    import gzip

    name = path.name.lower()
    if name.endswith(".bz2"):
        return bz2.open(path, "rb")
    if name.endswith(".gz"):
        return gzip.open(path, "rb")
    return path.open("rb")


@dataclass(frozen=True)
class _OsmXml:
    """What the walk network needs of an OSM XML file.

    Nodes as arrays sorted by id (a repeated id keeps its last coordinates), and the ways the
    rules were asked about (every way with a highway tag or an override): their ids, tags and
    rule (``''`` where walkable), with their node ids packed way after way in ``refs`` from the
    offsets ``ref_start``.
    """

    node_id: np.ndarray
    lon: np.ndarray
    lat: np.ndarray
    way_id: list[int]
    tags: list[dict[str, str]]
    rule: list[str]
    refs: np.ndarray
    ref_start: np.ndarray

    def positions(self, ids: np.ndarray) -> np.ndarray:
        """Positions of node ids in the node arrays; -1 for ids the file has no node for."""
        if self.node_id.size == 0:
            return np.full(len(ids), -1, dtype=np.int64)
        pos = np.minimum(np.searchsorted(self.node_id, ids), self.node_id.size - 1)
        return np.where(self.node_id[pos] == ids, pos, -1)


def _parse_osm_xml(path: Path, rules: WalkRules) -> _OsmXml:
    """Read the nodes and the ways the rules decide on (see :class:`_OsmXml`) from OSM XML."""
    from xml.parsers.expat import ExpatError, ParserCreate

    node_id: list[int] = []
    node_lon: list[float] = []
    node_lat: list[float] = []
    way_id: list[int] = []
    way_tags: list[dict[str, str]] = []
    way_start: list[int] = []
    refs: list[int] = []
    tags: dict[str, str] | None = None  # the way being read; None outside ways

    # expat calls this for each of the ~2 million elements of a county file, so it does the
    # least it can: no element objects (ElementTree's iterparse built one per element, a third
    # of the parse), numbers parsed once here, the commonest element names tested first.
    def start(name: str, attrs: dict[str, str]) -> None:
        nonlocal tags
        if name == "nd":
            if tags is not None:
                refs.append(int(attrs["ref"]))
        elif name == "node":
            tags = None
            node_id.append(int(attrs["id"]))
            node_lon.append(float(attrs["lon"]))
            node_lat.append(float(attrs["lat"]))
        elif name == "tag":
            if tags is not None:
                tags[attrs["k"]] = attrs["v"]
        elif name == "way":
            tags = {}
            way_id.append(int(attrs["id"]))
            way_tags.append(tags)
            way_start.append(len(refs))
        else:
            tags = None

    parser = ParserCreate()
    parser.StartElementHandler = start
    try:
        with _open_text(path) as stream:
            parser.ParseFile(stream)
    except (ExpatError, OSError, EOFError, zlib.error, KeyError, ValueError) as exc:
        raise NetworkError(
            f"{path}: cannot read as OSM XML ({type(exc).__name__}: {exc}); export it again "
            "from JOSM/Overpass, or give a .osm.pbf or .graphml file"
        ) from exc
    ids = np.array(node_id, dtype=np.int64)
    order = np.argsort(ids, kind="stable")
    last = np.ones(ids.size, dtype=bool)
    last[:-1] = ids[order][1:] != ids[order][:-1]
    nodes = order[last]
    considered = [
        i
        for i, (w, t) in enumerate(zip(way_id, way_tags, strict=True))
        if "highway" in t or w in rules.overrides
    ]
    starts = np.array([*way_start, len(refs)], dtype=np.int64)
    picked = np.array(considered, dtype=np.int64)
    count = starts[picked + 1] - starts[picked]
    xml = _OsmXml(
        node_id=ids[nodes],
        lon=np.array(node_lon, dtype=np.float64)[nodes],
        lat=np.array(node_lat, dtype=np.float64)[nodes],
        way_id=[way_id[i] for i in considered],
        tags=[way_tags[i] for i in considered],
        rule=[rules.decide(way_id[i], way_tags[i]) for i in considered],
        refs=np.array(refs, dtype=np.int64)[ranges(starts[picked], count)],
        ref_start=np.r_[0, np.cumsum(count)].astype(np.int64),
    )
    logger.info(
        "%s: %d nodes, %d ways, %d of them walkable (%s rules)",
        path.name,
        xml.node_id.size,
        len(way_id),
        xml.rule.count(""),
        rules.rule_set,
    )
    return xml


def _xml_ways_frame(xml: _OsmXml) -> gpd.GeoDataFrame:
    """:func:`ways_frame` of the parsed ways, drawn through their nodes present in the file."""
    n_ways = len(xml.way_id)
    owner = np.repeat(np.arange(n_ways), np.diff(xml.ref_start))
    pos = xml.positions(xml.refs)
    present = pos >= 0
    drawn = np.bincount(owner[present], minlength=n_ways) >= 2
    rows = np.flatnonzero(drawn)
    take = present & drawn[owner]
    line_of = np.cumsum(drawn) - 1
    geoms = (
        shapely.linestrings(
            np.column_stack([xml.lon[pos[take]], xml.lat[pos[take]]]), indices=line_of[owner[take]]
        )
        if rows.size
        else np.empty(0, dtype=object)
    )
    return ways_frame(
        [xml.way_id[i] for i in rows],
        [xml.tags[i].get("highway") for i in rows],
        [xml.tags[i].get("name") for i in rows],
        [xml.rule[i] for i in rows],
        geoms,
    )


@dataclass(frozen=True)
class _Chains:
    """Chains of segments between endpoints (:func:`_chains`), packed chain after chain.

    Chain ``i`` runs along segments ``seg[start[i]:start[i + 1]]`` through the nodes
    ``node[start[i] + i : start[i + 1] + i + 1]`` (one more node than segments).
    """

    start: np.ndarray
    seg: np.ndarray
    node: np.ndarray

    def __len__(self) -> int:
        return self.start.size - 1

    @property
    def first(self) -> np.ndarray:
        """Each chain's first node."""
        return self.node[self.start[:-1] + np.arange(len(self))]

    @property
    def last(self) -> np.ndarray:
        """Each chain's last node."""
        return self.node[self.start[1:] + np.arange(len(self))]


def _chains(a: np.ndarray, b: np.ndarray, n_nodes: int) -> _Chains:
    """Contract degree-2 nodes: the chains of segments ``a[s]``–``b[s]`` between endpoints.

    Endpoints follow ``osmnx.simplification._is_endpoint`` for a graph with both directions of
    every segment: a node is kept unless it has exactly two distinct neighbours joined by exactly
    two segments. Rings without any endpoint are dropped (osmnx's ``remove_rings``).

    Chains come in walking order: from each endpoint in turn (lowest first) along each of its
    segments not walked yet (those where it is ``a``, then those where it is ``b``, by segment
    number) to the next endpoint. No segment may join a node to itself.
    """
    a = np.asarray(a, dtype=np.int64)
    b = np.asarray(b, dtype=np.int64)
    m = a.size
    low, high = np.minimum(a, b), np.maximum(a, b)
    pairs = np.unique(low * n_nodes + high)
    neighbours = np.bincount(np.r_[pairs // n_nodes, pairs % n_nodes], minlength=n_nodes)
    # Incidences (node, segment) sorted by node, then a-ends before b-ends, then by segment.
    ends = np.r_[a, b]
    order = np.argsort(ends, kind="stable")
    inc_node, inc_seg = ends[order], np.r_[np.arange(m), np.arange(m)][order]
    degree = np.bincount(ends, minlength=n_nodes)
    endpoint = (neighbours != 2) | (degree != 2)
    # The two segments at each inner node belong to one chain: chains are the connected parts
    # of segments linked through inner nodes.
    inner_slot = np.flatnonzero(~endpoint[inc_node])[::2]
    one, other = inc_seg[inner_slot], inc_seg[inner_slot + 1]
    links = coo_matrix((np.ones(one.size), (one, other)), shape=(m, m))
    _, part = connected_components(links, directed=False)
    # A chain starts at its first incidence on an endpoint, in incidence order; a part with no
    # endpoint is a ring and dropped.
    end_slot = np.flatnonzero(endpoint[inc_node])
    _, first_slot = np.unique(part[inc_seg[end_slot]], return_index=True)
    head_slot = end_slot[np.sort(first_slot)]
    head = inc_seg[head_slot]
    # Segments in walking order: a breadth-first search from a root (node m) joined to every
    # chain's head segment reaches the k-th segment of each chain at step k + 1; a stable sort
    # by chain keeps that order.
    rows = np.r_[np.full(head.size, m), np.r_[one, other]]
    cols = np.r_[head, np.r_[other, one]]
    tree = coo_matrix((np.ones(rows.size), (rows, cols)), shape=(m + 1, m + 1)).tocsr()
    reached = breadth_first_order(tree, m, directed=True, return_predecessors=False)[1:]
    rank = np.full(m, -1, dtype=np.int64)
    rank[part[head]] = np.arange(head.size)
    chain_of = rank[part[reached]]
    seg = reached[np.argsort(chain_of, kind="stable")]
    chain_of = np.sort(chain_of)
    start = np.searchsorted(chain_of, np.arange(head.size + 1))
    # Each segment is entered where the one before it left off: at the node both share (an inner
    # node has two distinct neighbours, so two segments in a row share one node only).
    is_first = np.zeros(seg.size, dtype=bool)
    is_first[start[:-1]] = True
    prev = np.r_[seg[:1], seg[:-1]]
    shared = np.where((a[prev] == a[seg]) | (a[prev] == b[seg]), a[prev], b[prev])
    entry = np.where(is_first, inc_node[head_slot][chain_of], shared)
    node = np.empty(seg.size + head.size, dtype=np.int64)
    node[start[:-1] + np.arange(head.size)] = inc_node[head_slot]
    node[np.arange(seg.size) + chain_of + 1] = a[seg] + b[seg] - entry
    return _Chains(start=start.astype(np.int64), seg=seg, node=node)


def _merge_values(values: list[Any]) -> Any:
    """osmnx's rule for merged edges: one value as it is, several distinct ones as a list."""
    unique = list(dict.fromkeys(v for v in values if v is not None))
    if not unique:
        return None
    return unique[0] if len(unique) == 1 else unique


@dataclass(frozen=True)
class _XmlWalk:
    """The walkable ways of an OSM XML file, simplified.

    Nodes are those of the walkable segments (by id); segment ``s`` (as ``chains.seg`` numbers
    them) is ``seg_len[s]`` metres long (great circle) and belongs to the way
    ``ways[seg_way[s]]`` (id and tags); ``chains`` are the edges of the simplified graph.
    """

    node_id: np.ndarray
    lon: np.ndarray
    lat: np.ndarray
    seg_len: np.ndarray
    seg_way: np.ndarray
    ways: list[tuple[int, dict[str, str]]]
    chains: _Chains

    def chain_lengths(self) -> np.ndarray:
        """Each chain's length: its segments' lengths added in walking order.

        Added as ``ndarray.sum`` adds them (one by one up to seven terms, pairwise beyond), so
        that a length is the sum over the chain's segments to the bit, as osmnx-style code
        takes it.
        """
        lengths = self.seg_len[self.chains.seg]
        start, count = self.chains.start[:-1], np.diff(self.chains.start)
        total = np.zeros(count.size)
        for k in range(min(int(count.max(initial=0)), 7)):
            more = count > k
            total[more] += lengths[start[more] + k]
        for i in np.flatnonzero(count > 7).tolist():  # few: most chains are short
            total[i] = lengths[start[i] : start[i] + count[i]].sum()
        return total

    def chain_lines(self) -> np.ndarray:
        """WGS-84 LineStrings of the chains of more than one segment; None for the others."""
        n_seg = np.diff(self.chains.start)
        bent = np.flatnonzero(n_seg > 1)
        lines = np.full(len(self.chains), None, dtype=object)
        if bent.size:
            node = self.chains.node[ranges(self.chains.start[bent] + bent, n_seg[bent] + 1)]
            lines[bent] = shapely.linestrings(
                np.column_stack([self.lon[node], self.lat[node]]),
                indices=np.repeat(np.arange(bent.size), n_seg[bent] + 1),
            )
        return lines


def read_xml(path: Path, rules: WalkRules) -> tuple[_XmlWalk, gpd.GeoDataFrame]:
    """OSM XML to its simplified walkable ways, and the audit's table of ways.

    Equivalent to ``osmnx.graph_from_xml(path, bidirectional=True, retain_all=True)`` followed by
    the walk filter and ``osmnx.simplify_graph`` (tests/test_osm.py checks this on real extracts),
    written out because that route took ~15 s on the sample district against ~1–2 s here.
    """
    xml = _parse_osm_xml(path, rules)
    audit = _xml_ways_frame(xml)
    walkable = np.flatnonzero(np.array([rule == "" for rule in xml.rule], dtype=bool))
    count = np.diff(xml.ref_start)[walkable]
    refs = xml.refs[ranges(xml.ref_start[walkable], count)]
    owner = np.repeat(np.arange(walkable.size), count)
    # a node repeated in a row is one node: no zero-length segment
    keep = np.ones(refs.size, dtype=bool)
    keep[1:] = (refs[1:] != refs[:-1]) | (owner[1:] != owner[:-1])
    pos, owner = xml.positions(refs[keep]), owner[keep]
    same_way = owner[1:] == owner[:-1]
    pos_a, pos_b, seg_way = pos[:-1][same_way], pos[1:][same_way], owner[:-1][same_way]
    present = (pos_a >= 0) & (pos_b >= 0)
    if not present.all():
        logger.warning(
            "%s: %d way segment(s) refer to nodes missing from the file and were "
            "left out (an extract cut at its edge?)",
            path.name,
            int((~present).sum()),
        )
    pos_a, pos_b, seg_way = pos_a[present], pos_b[present], seg_way[present]
    used, inverse = np.unique(np.r_[pos_a, pos_b], return_inverse=True)
    a, b = inverse[: pos_a.size], inverse[pos_a.size :]
    lon, lat = xml.lon[used], xml.lat[used]
    walk = _XmlWalk(
        node_id=xml.node_id[used],
        lon=lon,
        lat=lat,
        seg_len=great_circle_m(lat[a], lon[a], lat[b], lon[b]),
        seg_way=seg_way,
        ways=[(xml.way_id[i], xml.tags[i]) for i in walkable],
        chains=_chains(a, b, used.size),
    )
    return walk, audit


def xml_graph(walk: _XmlWalk, source: str) -> nx.MultiDiGraph:
    """The osmnx-style graph of the simplified ways: both directions of each chain, with the
    attributes ``osmnx.simplify_graph`` gives merged edges."""
    chains = walk.chains
    G = nx.MultiDiGraph(crs="EPSG:4326", created_with=f"lifecircle from {source}")
    if not len(chains):
        return G
    first, last = chains.first, chains.last
    ends = np.unique(np.r_[first, last])
    G.add_nodes_from(
        (int(walk.node_id[n]), {"x": float(walk.lon[n]), "y": float(walk.lat[n])})
        for n in ends.tolist()
    )
    way_attrs = [
        {"osmid": wid, **{k: tags[k] for k in _EDGE_TAGS if k in tags and k != "oneway"}}
        for wid, tags in walk.ways
    ]
    lines = walk.chain_lines()
    bent = np.flatnonzero(np.diff(chains.start) > 1)
    reversed_lines = lines.copy()
    reversed_lines[bent] = shapely.reverse(lines[bent])
    lengths = walk.chain_lengths().tolist()
    u_ids, v_ids = walk.node_id[first].tolist(), walk.node_id[last].tolist()
    seg_way = walk.seg_way[chains.seg].tolist()
    start = chains.start.tolist()
    forward, backward = [], []
    for i in range(len(chains)):
        way_ids = list(dict.fromkeys(seg_way[start[i] : start[i + 1]]))
        if len(way_ids) == 1:
            attrs = dict(way_attrs[way_ids[0]])
        else:
            keys = dict.fromkeys(k for w in way_ids for k in way_attrs[w])
            attrs = {k: _merge_values([way_attrs[w].get(k) for w in way_ids]) for k in keys}
        # as osmnx writes them (GraphML readers parse these two as booleans): a walker may go
        # either way along every edge
        attrs["oneway"] = False
        attrs["length"] = lengths[i]
        attrs["reversed"] = False
        back = {**attrs, "reversed": True}
        if lines[i] is not None:
            attrs["geometry"], back["geometry"] = lines[i], reversed_lines[i]
        forward.append((u_ids[i], v_ids[i], attrs))
        backward.append((v_ids[i], u_ids[i], back))
    G.add_edges_from(forward)
    G.add_edges_from(backward)
    return G


def xml_network(walk: _XmlWalk) -> LonLatNetwork:
    """The simplified ways as arrays, one edge per chain: :meth:`WalkNetwork.from_lonlat` builds
    from them the network it would build from :func:`xml_graph`'s graph, without the graph."""
    chains = walk.chains
    first, last = chains.first, chains.last
    ends, inverse = np.unique(np.r_[first, last], return_inverse=True)
    u, v = inverse[: len(chains)], inverse[len(chains) :]
    # A street's name is that of the first named way along its chain (what the network reads
    # out of osmnx's merged name lists).
    way_name = np.array(
        [(tags.get("name") or "").strip() for _, tags in walk.ways] + [""], dtype=object
    )
    seg_name = way_name[walk.seg_way[chains.seg]]
    along = np.where(seg_name != "", np.arange(seg_name.size), seg_name.size)
    name = np.append(seg_name, "")[np.minimum.reduceat(along, chains.start[:-1])]
    # Of equally long parallel edges the network keeps the first it is given; the graph gives
    # both directions of every chain, from the lower node first: so chains drawn from their lower
    # node come first here, each group in chain order.
    order = np.lexsort((np.arange(len(chains)), u > v))
    return LonLatNetwork(
        node_id=walk.node_id[ends],
        lon=walk.lon[ends],
        lat=walk.lat[ends],
        edge_u=u[order],
        edge_v=v[order],
        length_m=walk.chain_lengths()[order],
        geometry=walk.chain_lines()[order],
        name=name[order] if (name != "").any() else None,
    )
