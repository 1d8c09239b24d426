"""Benchmark: lifecircle's nearest-facility pass and service areas against the usual recipes.

Run as ``python -m benchmarks.coverage`` (``--quick`` skips the 500k-node network). Networks:

* ``grid-50k`` and ``grid-500k``: jittered street grids (80 m blocks, 15 m jitter, 5 % of the
  streets removed, a diagonal in 10 % of the blocks), about 2 edges per node;
* ``sample``: the bundled sample district (lifecircle/data/sample/network.osm.bz2).

Facilities are uniform random points; the search bound is 15 min at 1 m/s (900 m). Compared on
the same network and facilities:

* ``ours_s``: :func:`lifecircle.geo.network.snap_points` (edge snapping, STRtree built with the
  network) + :func:`lifecircle.coverage.reach.nearest_sources` (one bounded multi-source
  search, exact on partial edges; at walking bounds the vectorised wavefront engine);
* ``scipy_s``: a bare ``scipy.sparse.csgraph.dijkstra(indices=<nearest node of each facility>,
  min_only=True, limit=900)`` on the same CSR arrays (no snapping, node sources);
* ``egograph_s``: the osmnx/networkx recipe, ``nx.ego_graph(G, node, radius=900,
  distance="length")`` per facility, timed on the first 500 facilities and scaled (see
  ``notes``);
* ``networkx_multisource_s``: ``nx.multi_source_dijkstra_path_length(G, nodes, cutoff=900)``;
* ``pandana_query_s``: ``set_pois`` + ``nearest_pois(900, num_pois=1)``; its contraction-
  hierarchy build is ``pandana_build_s``;
* ``polygons_s``: one service-area polygon per facility (:func:`reach_matrix` +
  :func:`facility_polygons`, 900 m with a 50 m off-network allowance, 2 worker processes).

``network_prep_s`` is the once-per-network preparation (edge tree, CSR, crossings, edge
vertices, the blocks the streets enclose), reported like pandana's build and not counted in
the timings above.

``peak_mem_mb`` is the process's peak resident memory (``ru_maxrss``) right after our steps on
that network, before any peer's graph is built. Results: ``bench-results/coverage.json``.
"""

from __future__ import annotations

import argparse
import gc
import json
import resource
import time
import warnings
from pathlib import Path

import networkx as nx
import numpy as np
import pandas as pd
from scipy.sparse.csgraph import dijkstra

from lifecircle.coverage.areas import facility_polygons
from lifecircle.coverage.reach import nearest_sources, reach_matrix
from lifecircle.data import data_path
from lifecircle.geo.network import WalkNetwork, snap_points

ROOT = Path(__file__).resolve().parents[1]
OUT = ROOT / "bench-results" / "coverage.json"
LIMIT_M = 900.0
OFF_NETWORK_M = 50.0
EGO_SUBSET = 500  # facilities timed with ego_graph (scaled to all): same size every run
POLYGON_WORKERS = 2  # forked processes, each building the polygons of a share of facilities
PANDANA_MAX_NODES = 100_000  # its contraction-hierarchy build takes a minute on grid-50k already


class _Skip(Exception):
    pass


def synthetic_grid(
    side: int,
    *,
    spacing_m: float = 80.0,
    jitter_m: float = 15.0,
    diagonal_share: float = 0.1,
    drop_share: float = 0.05,
    seed: int = 0,
) -> WalkNetwork:
    """A jittered ``side x side`` street grid with some diagonals, in EPSG:32650 metres."""
    rng = np.random.default_rng(seed)
    ii, jj = np.meshgrid(np.arange(side), np.arange(side), indexing="ij")
    x = (jj * spacing_m + rng.uniform(-jitter_m, jitter_m, ii.shape)).ravel() + 500_000.0
    y = (ii * spacing_m + rng.uniform(-jitter_m, jitter_m, ii.shape)).ravel() + 3_500_000.0
    idx = ii * side + jj
    diag = rng.random((side - 1) * (side - 1)) < diagonal_share
    u = np.concatenate([idx[:, :-1].ravel(), idx[:-1, :].ravel(), idx[:-1, :-1].ravel()[diag]])
    v = np.concatenate([idx[:, 1:].ravel(), idx[1:, :].ravel(), idx[1:, 1:].ravel()[diag]])
    keep = rng.random(u.size) >= drop_share
    return WalkNetwork.from_arrays(x, y, u[keep], v[keep], crs="EPSG:32650")


def nx_graph(net: WalkNetwork) -> nx.Graph:
    graph = nx.Graph()
    graph.add_nodes_from(range(net.n_nodes))
    graph.add_weighted_edges_from(
        zip(net.edge_u.tolist(), net.edge_v.tolist(), net.edge_length_m.tolist(), strict=True),
        weight="length",
    )
    return graph


def timed(fn, *args, **kwargs):
    start = time.perf_counter()
    value = fn(*args, **kwargs)
    return value, time.perf_counter() - start


def best_of(repeats: int, fn, *args, **kwargs):
    """The value and the shortest of ``repeats`` timings (the machine may be shared)."""
    best = float("inf")
    value = None
    for _ in range(repeats):
        value, seconds = timed(fn, *args, **kwargs)
        best = min(best, seconds)
    return value, best


def peak_rss_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024.0


def run_network(
    name: str,
    net: WalkNetwork,
    graph: nx.Graph | None,
    k: int,
    *,
    build_s: float,
    pandana_max_nodes: int = PANDANA_MAX_NODES,
    seed: int = 1,
) -> dict:
    rng = np.random.default_rng(seed)
    fx = rng.uniform(net.x.min(), net.x.max(), k)
    fy = rng.uniform(net.y.min(), net.y.max(), k)
    notes = []
    # Network-side preparation, done once per network (like pandana's build).
    _, prep_s = timed(
        lambda: (net.edge_tree, net.csr, net.edge_vertices, net.incident_edges, net.faces)
    )

    def ours():
        snaps = snap_points(net, fx, fy, max_snap_m=500.0)
        return snaps, nearest_sources(net, snaps, limit_m=LIMIT_M)

    timed(ours)  # warm-up (first-touch of arrays)
    (snaps, reach), ours_s = best_of(5, ours)
    _, snap_s = best_of(5, snap_points, net, fx, fy, max_snap_m=500.0)
    node_of = np.where(
        snaps.offset_m <= net.edge_length_m[snaps.edge] / 2,
        net.edge_u[snaps.edge],
        net.edge_v[snaps.edge],
    )[snaps.ok]
    sources = np.unique(node_of)

    def scipy_call():
        return dijkstra(net.csr, directed=True, indices=sources, min_only=True, limit=LIMIT_M)

    timed(scipy_call)
    _, scipy_s = best_of(5, scipy_call)

    matrix, reach_matrix_s = timed(reach_matrix, net, snaps, LIMIT_M - OFF_NETWORK_M)
    polys, poly_only_s = timed(
        facility_polygons,
        net,
        snaps,
        matrix,
        LIMIT_M,
        off_network_m=OFF_NETWORK_M,
        workers=POLYGON_WORKERS,
    )
    polygons_s = reach_matrix_s + poly_only_s
    peak_mb = peak_rss_mb()
    del matrix
    gc.collect()

    if graph is None:
        graph, nx_build_s = timed(nx_graph, net)
        notes.append(f"networkx graph built from the same arrays in {nx_build_s:.1f} s")
    ego_nodes = net.node_ids[node_of] if name == "sample" else node_of
    # ego_graph per facility, timed on the same fixed-size subset every run (the first
    # EGO_SUBSET facilities, uniform random like the rest) and scaled to all of them.
    n_ego = min(len(ego_nodes), EGO_SUBSET)
    subset = ego_nodes[:n_ego]
    _, ego_sub_s = timed(
        lambda: [nx.ego_graph(graph, n, radius=LIMIT_M, distance="length") for n in subset]
    )
    egograph_s = ego_sub_s * len(ego_nodes) / n_ego
    if n_ego < len(ego_nodes):
        notes.append(f"ego_graph timed on {n_ego} of {len(ego_nodes)} facilities and scaled")
    _, nx_multi_s = timed(
        nx.multi_source_dijkstra_path_length,
        graph,
        set(np.unique(ego_nodes).tolist()),
        cutoff=LIMIT_M,
        weight="length",
    )
    graph = None
    gc.collect()

    pandana_build_s = pandana_query_s = None
    if net.n_nodes > pandana_max_nodes:
        notes.append(
            f"pandana not run over {pandana_max_nodes} nodes: its contraction-"
            "hierarchy build takes a minute on the 50k-node grid (see that row) and did "
            "not finish in 28 minutes on this 500k-node grid "
            "(--pandana-max-nodes to try)"
        )
    try:
        if net.n_nodes > pandana_max_nodes:
            raise _Skip
        import pandana

        nodes = pd.DataFrame({"x": net.x, "y": net.y}, index=np.arange(net.n_nodes))
        edges = pd.DataFrame({"from": net.edge_u, "to": net.edge_v, "length": net.edge_length_m})
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            pnet, pandana_build_s = timed(
                pandana.Network,
                nodes["x"],
                nodes["y"],
                edges["from"],
                edges["to"],
                edges[["length"]],
                twoway=True,
            )

            def pandana_query():
                pnet.set_pois("fac", LIMIT_M, 1, pd.Series(fx), pd.Series(fy))
                return pnet.nearest_pois(LIMIT_M, "fac", num_pois=1)

            _, pandana_query_s = timed(pandana_query)
        pnet = None
    except _Skip:
        pass
    except Exception as exc:  # a peer failing must not hide our figures
        notes.append(f"pandana failed: {exc!r}")
    gc.collect()

    reached = int(np.isfinite(reach.distance_m).sum())
    return {
        "network": name,
        "nodes": net.n_nodes,
        "edges": net.n_edges,
        "facilities": k,
        "ours_s": round(ours_s, 4),
        "scipy_s": round(scipy_s, 4),
        "egograph_s": round(egograph_s, 3),
        "networkx_multisource_s": round(nx_multi_s, 3),
        "pandana_query_s": None if pandana_query_s is None else round(pandana_query_s, 4),
        "pandana_build_s": None if pandana_build_s is None else round(pandana_build_s, 3),
        "polygons_s": round(polygons_s, 3),
        "peak_mem_mb": round(peak_mb, 1),
        "network_build_s": round(build_s, 3),
        "network_prep_s": round(prep_s, 3),
        "snap_s": round(snap_s, 4),
        "reach_matrix_s": round(reach_matrix_s, 3),
        "polygon_union_s": round(poly_only_s, 3),
        "polygon_workers": POLYGON_WORKERS,
        "polygons_nonempty": int(sum(not p.is_empty for p in polys)),
        "nodes_reached": reached,
        "notes": "; ".join(notes),
    }


def sample_network() -> tuple[WalkNetwork, nx.MultiDiGraph, float]:
    from lifecircle.geo.osm import NetworkSpec, load_walk_graph

    graph = load_walk_graph(NetworkSpec(path=data_path("sample", "network.osm.bz2")))
    net, build_s = timed(WalkNetwork.from_graph, graph)
    return net, graph, build_s


def print_table(runs: list[dict]) -> None:
    head = (
        f"{'network':<10}{'nodes':>9}{'edges':>9}{'fac':>6}{'ours':>9}{'scipy':>9}"
        f"{'ego':>10}{'nx-multi':>10}{'pdn-q':>9}{'pdn-bld':>9}{'polys':>8}{'memMB':>8}"
    )
    print(head)
    for r in runs:

        def f(key, width, digits=3, r=r):
            value = r.get(key)
            return f"{'-':>{width}}" if value is None else f"{value:>{width}.{digits}f}"

        print(
            f"{r['network']:<10}{r['nodes']:>9}{r['edges']:>9}{r['facilities']:>6}"
            f"{f('ours_s', 9)}{f('scipy_s', 9)}{f('egograph_s', 10, 2)}"
            f"{f('networkx_multisource_s', 10, 2)}{f('pandana_query_s', 9)}"
            f"{f('pandana_build_s', 9, 2)}{f('polygons_s', 8, 2)}{f('peak_mem_mb', 8, 0)}"
        )
    print("\nratios (peer time / ours):")
    for r in runs:
        ours = r["ours_s"]
        parts = [
            f"scipy {r['scipy_s'] / ours:.2f}x",
            f"ego_graph {r['egograph_s'] / ours:.0f}x",
            f"networkx multi-source {r['networkx_multisource_s'] / ours:.1f}x",
        ]
        if r["pandana_query_s"] is not None:
            parts.append(f"pandana query {r['pandana_query_s'] / ours:.2f}x")
        print(
            f"  {r['network']:<10} "
            + ", ".join(parts)
            + (f"   [{r['notes']}]" if r["notes"] else "")
        )


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="skip the 500k-node network")
    parser.add_argument(
        "--pandana-max-nodes",
        type=int,
        default=PANDANA_MAX_NODES,
        help="largest network pandana is built on (its build on the 500k-node "
        "grid did not finish in 28 minutes on a 2-core machine)",
    )
    args = parser.parse_args(argv)
    runs = []
    net, graph, build_s = sample_network()
    runs.append(run_network("sample", net, graph, 200, build_s=build_s))
    del net, graph
    sizes = [("grid-50k", 224, 500)] + ([] if args.quick else [("grid-500k", 707, 2000)])
    for name, side, k in sizes:
        gc.collect()
        net, build_s = timed(synthetic_grid, side)
        runs.append(
            run_network(
                name, net, None, k, build_s=build_s, pandana_max_nodes=args.pandana_max_nodes
            )
        )
        print(f"done {name}", flush=True)
        del net
    OUT.parent.mkdir(parents=True, exist_ok=True)
    OUT.write_text(
        json.dumps({"limit_m": LIMIT_M, "off_network_m": OFF_NETWORK_M, "runs": runs}, indent=2),
        encoding="utf-8",
    )
    print_table(runs)
    print(f"\nwritten {OUT.relative_to(ROOT)}")


if __name__ == "__main__":
    main()
