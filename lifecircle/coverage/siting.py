"""Siting: propose new facilities that close coverage gaps.

A thin geographic wrapper over the pure solvers of
:mod:`lifecircle.coverage.siting_solvers` (maximal covering, minimum sites, lazy greedy;
2SFCA per township is :mod:`lifecircle.coverage.access`).  :func:`propose_sites` builds the
coverage structure from the walking network:

1. demand cells already within ``threshold_min`` of a facility of the category are covered
   and weigh nothing; the others weigh their population (``pop60`` by default);
2. candidates are network nodes near uncovered populated cells, thinned greedily (most
   uncovered population nearby first) to ``min_spacing_m``, or the user's candidate layer;
   both minus exclusion polygons and minus anything outside the townships;
3. ``cover[i, j]`` is true when cell ``j`` lies within ``threshold_min`` walking of candidate
   ``i`` at the speed of the cell's township kind (bounded searches on the network);
4. the solver picks ``p`` sites (maximal covering) or the fewest reaching ``target_share``,
   forcing one site in each township named by ``force_presence``.
"""

from __future__ import annotations

import logging
import numbers
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import geopandas as gpd
import numpy as np
import pandas as pd
import scipy.sparse as sp
import shapely
from numpy.typing import NDArray
from scipy.spatial import cKDTree

from lifecircle.coverage.reach import point_cover_matrix
from lifecircle.coverage.siting_solvers import (
    DEFAULT_MAX_MILP_NONZEROS,
    DEFAULT_TIME_LIMIT_S,
    SitingSolution,
    lazy_greedy,
    solve_max_cover,
    solve_min_sites,
    two_step_fca,
)
from lifecircle.coverage.walk import WalkModel
from lifecircle.errors import InputError
from lifecircle.geo.crs import frame_to_wgs84
from lifecircle.geo.network import Snaps, WalkNetwork, snap_points

logger = logging.getLogger(__name__)

__all__ = [
    "SitingResult",
    "SitingSolution",
    "candidate_nodes",
    "lazy_greedy",
    "propose_sites",
    "solve_max_cover",
    "solve_min_sites",
    "two_step_fca",
]

ProgressFn = Callable[[str, int, int], None]
SITE_COLUMNS = [
    "rank",
    "category",
    "township_code",
    "township_name",
    "newly_covered_pop60",
    "newly_covered_pop",
    "marginal_gain",
    "forced",
    "road_name",
    "geometry",
]
POPULATIONS = ("pop60", "pop")
PRESENCE_KINDS = ("street", "town", "all")


@dataclass
class SitingResult:
    """Proposed sites for one category, with the solver's proof of quality.

    Attributes
    ----------
    sites
        GeoDataFrame EPSG:4326 ``rank, category, township_code, township_name,
        newly_covered_pop60, newly_covered_pop, marginal_gain, forced, road_name, geometry``
        (``road_name``: the nearest named street, '' when none), ranked by marginal gain in
        selection order (each site's figures are what it adds to the sites
        ranked above it; ``marginal_gain`` is in the ``population`` being maximised).
    objective, bound, gap, method, status
        From :class:`~lifecircle.coverage.siting_solvers.SitingSolution`: for ``p`` sites the
        newly covered population and an upper bound on it; for ``target_share`` the number
        of sites and a lower bound on it.
    candidates_count, demand_count
        Candidate sites considered; demand cells with uncovered population.
    covered_before, covered_after, total
        Population (``population``) within ``threshold_min`` before and after the new
        sites, and in all cells.
    category, population, threshold_min
        The parameters the result answers.
    unfilled_townships
        Township codes that needed a site (``force_presence``) but have no candidate.
    warnings
        What the planner should know about the answer (skipped candidates, townships left
        without a site, ``p`` too small for ``target_share``), one message each.
    """

    sites: gpd.GeoDataFrame
    objective: float
    bound: float
    gap: float
    method: str
    status: str
    candidates_count: int
    demand_count: int
    covered_before: float
    covered_after: float
    total: float
    category: str
    population: str
    threshold_min: float | dict[str, float]
    unfilled_townships: list[str] = field(default_factory=list)
    solution: SitingSolution | None = None
    warnings: list[str] = field(default_factory=list)

    @property
    def share_before(self) -> float:
        """Covered share of the population before the new sites (nan without population)."""
        return self.covered_before / self.total if self.total > 0 else float("nan")

    @property
    def share_after(self) -> float:
        """Covered share of the population with the new sites (nan without population)."""
        return self.covered_after / self.total if self.total > 0 else float("nan")

    def summary(self) -> dict[str, Any]:
        """The figures a run report cites (plain values, ready for ``run.json``)."""
        return {
            "method": self.method,
            "objective": self.objective,
            "bound": self.bound,
            "gap": self.gap,
            "status": self.status,
            "sites": len(self.sites),
            "candidates": self.candidates_count,
            "covered_before": self.covered_before,
            "covered_after": self.covered_after,
            "share_before": self.share_before,
            "share_after": self.share_after,
            "unfilled_townships": list(self.unfilled_townships),
        }

    def as_facilities(self) -> gpd.GeoDataFrame:
        """The proposed sites as facility rows (ids ``proposed:<category>:<rank>``), EPSG:4326.

        Appended to the existing facilities, they let targets be evaluated again "after".
        """
        sites = self.sites
        return gpd.GeoDataFrame(
            {
                "facility_id": [f"proposed:{self.category}:{r}" for r in sites["rank"]],
                "category": self.category,
                "subtype": "",
                "name": [f"拟建 #{r}" for r in sites["rank"]],
                "township_code": sites["township_code"],
                "township_name": sites["township_name"],
                "layer": "proposed",
            },
            geometry=gpd.GeoSeries(sites.geometry.to_numpy(), crs="EPSG:4326"),
            crs="EPSG:4326",
        )


# ---------------------------------------------------------------- candidates


def candidate_nodes(
    network: WalkNetwork,
    cell_x_m: NDArray[np.float64],
    cell_y_m: NDArray[np.float64],
    cell_weight: NDArray[np.float64],
    *,
    near_m: float,
    min_spacing_m: float,
) -> NDArray[np.int64]:
    """Network nodes near uncovered population, thinned to ``min_spacing_m``.

    A node qualifies when an uncovered populated cell centre lies within ``near_m``.  Nodes
    are then taken in order of the uncovered weight within ``near_m`` (ties: lower node
    position), and every node closer than ``min_spacing_m`` to a taken one is dropped, so the
    result is deterministic and favours the most populated spots.

    Returns
    -------
    numpy.ndarray
        Node positions (into ``network.x``), in thinning order.
    """
    positive = np.flatnonzero(np.asarray(cell_weight) > 0)
    if positive.size == 0 or network.n_nodes == 0:
        return np.zeros(0, dtype=np.int64)
    cells = cKDTree(np.column_stack([cell_x_m[positive], cell_y_m[positive]]))
    nodes_xy = np.column_stack([network.x, network.y])
    # Every (node, cell) pair within near_m as arrays (the trees' lists cost twice as much).
    near = cKDTree(nodes_xy).sparse_distance_matrix(cells, near_m, output_type="ndarray")
    score = np.bincount(
        near["i"], weights=cell_weight[positive][near["j"]], minlength=network.n_nodes
    )
    eligible = np.flatnonzero(score > 0)
    if eligible.size == 0:
        return np.zeros(0, dtype=np.int64)
    order = eligible[np.lexsort((eligible, -score[eligible]))]
    if min_spacing_m <= 0:
        return order.astype(np.int64)
    tree = cKDTree(nodes_xy[order])
    dropped = np.zeros(order.size, dtype=bool)
    kept = []
    for k in range(order.size):  # sequential by nature: each choice suppresses its neighbours
        if dropped[k]:
            continue
        kept.append(order[k])
        dropped[tree.query_ball_point(nodes_xy[order[k]], r=min_spacing_m)] = True
    return np.asarray(kept, dtype=np.int64)


def _user_candidates(candidates: gpd.GeoDataFrame, warnings: list[str]) -> tuple[NDArray, NDArray]:
    """Representative points (lon, lat) of a candidate layer; empty geometries are dropped."""
    frame = frame_to_wgs84(candidates, "the candidate layer")
    geoms = frame.geometry.to_numpy()
    empty = shapely.is_missing(geoms) | shapely.is_empty(geoms)
    if empty.any():
        warnings.append(
            f"candidate layer: {int(empty.sum())} of {len(geoms)} features have no "
            "geometry and are skipped"
        )
    points = shapely.point_on_surface(geoms[~empty])
    return shapely.get_x(points), shapely.get_y(points)


def _inside(lon: NDArray, lat: NDArray, polygons: gpd.GeoDataFrame | None) -> NDArray[np.bool_]:
    """Which points fall inside (or on) any polygon."""
    if polygons is None or len(polygons) == 0 or lon.size == 0:
        return np.zeros(lon.size, dtype=bool)
    tree = shapely.STRtree(polygons.geometry.to_numpy())
    hits = tree.query(shapely.points(lon, lat), predicate="intersects")
    inside = np.zeros(lon.size, dtype=bool)
    inside[hits[0]] = True
    return inside


def _township_of(lon: NDArray, lat: NDArray, townships: gpd.GeoDataFrame) -> NDArray[np.int64]:
    """Row position of the township containing each point (-1 outside all; first on ties)."""
    result = np.full(lon.size, -1, dtype=np.int64)
    if lon.size == 0 or len(townships) == 0:
        return result
    tree = shapely.STRtree(townships.geometry.to_numpy())
    point_idx, town_idx = tree.query(shapely.points(lon, lat), predicate="intersects")
    order = np.lexsort((town_idx, point_idx))
    point_idx, town_idx = point_idx[order], town_idx[order]
    first = np.ones(point_idx.size, dtype=bool)
    first[1:] = point_idx[1:] != point_idx[:-1]
    result[point_idx[first]] = town_idx[first]
    return result


# ---------------------------------------------------------------- checks


def _check_demand(demand: gpd.GeoDataFrame, category: str, population: str) -> str:
    time_col = f"time_min__{category}"
    needed = ["cell_id", "pop", "pop60", "township_code", "geometry", time_col]
    missing = [c for c in needed if c not in demand.columns]
    if missing:
        raise InputError(
            f"demand frame lacks column(s) {', '.join(missing)}; siting needs the "
            "demand from coverage.metrics.compute_coverage (with township_code "
            f"and {time_col}) for category {category!r}"
        )
    if population not in POPULATIONS:
        raise InputError(f"population must be one of {', '.join(POPULATIONS)}, got {population!r}")
    return time_col


def _presence_codes(
    force_presence: str | Sequence[str] | None,
    townships: gpd.GeoDataFrame,
    facilities: gpd.GeoDataFrame,
    category: str,
) -> list[str]:
    """Township codes that need a site: those named (or of the kind named) lacking one."""
    if force_presence is None:
        return []
    codes = townships["code"].astype(str).tolist()
    if isinstance(force_presence, str):
        if force_presence not in PRESENCE_KINDS:
            raise InputError(
                f"force_presence must be one of {', '.join(PRESENCE_KINDS)} or a "
                f"list of township codes, got {force_presence!r}"
            )
        kinds = townships["kind"].astype(str).to_numpy() if "kind" in townships else None
        if force_presence != "all" and kinds is None:
            raise InputError("force_presence by kind needs a 'kind' column in the townships")
        wanted = [
            c
            for c, k in zip(codes, kinds if kinds is not None else codes, strict=True)
            if force_presence == "all" or k == force_presence
        ]
    else:
        wanted = [str(c) for c in force_presence]
        unknown = [c for c in wanted if c not in set(codes)]
        if unknown:
            raise InputError(
                f"force_presence names township code(s) {', '.join(unknown)} that "
                "are not in the township layer; use 9-digit codes from it"
            )
    present = _present_townships(facilities, townships, category)
    return [c for c in wanted if c not in present]


def _present_townships(
    facilities: gpd.GeoDataFrame, townships: gpd.GeoDataFrame, category: str
) -> set[str]:
    if facilities is None or len(facilities) == 0:
        return set()
    own = (
        facilities[facilities["category"] == category]
        if "category" in facilities
        else facilities.iloc[:0]
    )
    if len(own) == 0:
        return set()
    if "township_code" in own.columns:
        return {str(c) for c in own["township_code"].dropna() if str(c)}
    own = frame_to_wgs84(own, "the facility frame")
    geoms = own.geometry.to_numpy()
    ok = ~(shapely.is_missing(geoms) | shapely.is_empty(geoms))
    where = _township_of(shapely.get_x(geoms[ok]), shapely.get_y(geoms[ok]), townships)
    codes = townships["code"].astype(str).to_numpy()
    return {codes[w] for w in where if w >= 0}


# ---------------------------------------------------------------- the wrapper


def _cover(
    network: WalkNetwork,
    cand_x: NDArray,
    cand_y: NDArray,
    cell_snaps: Snaps,
    cell_limit_m: NDArray,
    max_snap_m: float,
) -> tuple[sp.csr_matrix, NDArray[np.bool_]]:
    """Boolean candidates × snapped cells cover from bounded searches, per-cell distance
    limits."""
    cand_snaps = snap_points(network, cand_x, cand_y, max_snap_m=max_snap_m)
    limit_m = float(cell_limit_m.max()) if cell_limit_m.size else 0.0
    dist = point_cover_matrix(network, cand_snaps, cell_snaps, limit_m).tocsr()
    cols = dist.indices
    keep = dist.data <= cell_limit_m[cols]
    rows = np.repeat(np.arange(dist.shape[0]), np.diff(dist.indptr))
    cover = sp.csr_matrix(
        (np.ones(int(keep.sum()), dtype=bool), (rows[keep], cols[keep])), shape=dist.shape
    )
    return cover, cand_snaps.ok


def propose_sites(
    network: WalkNetwork,
    demand: gpd.GeoDataFrame,
    facilities: gpd.GeoDataFrame,
    townships: gpd.GeoDataFrame,
    *,
    category: str,
    threshold_min: float | Mapping[str, float],
    walk: WalkModel,
    p: int | None = None,
    target_share: float | None = None,
    population: str = "pop60",
    candidates: gpd.GeoDataFrame | None = None,
    exclusions: gpd.GeoDataFrame | None = None,
    min_spacing_m: float = 200.0,
    force_presence: str | Sequence[str] | None = None,
    capacity: float | None = None,
    method: str = "auto",
    time_limit_s: float = DEFAULT_TIME_LIMIT_S,
    max_milp_nonzeros: int = DEFAULT_MAX_MILP_NONZEROS,
    progress: ProgressFn | None = None,
) -> SitingResult:
    """Propose new sites for ``category`` that cover the most uncovered people.

    Parameters
    ----------
    network
        The walking network.
    demand
        Demand cells EPSG:4326 with ``cell_id, pop, pop60, township_code, kind, geometry``
        and ``time_min__<category>`` (minutes to the nearest existing facility, ``inf`` when
        none is in reach), as :func:`lifecircle.coverage.metrics.compute_coverage` returns.
    facilities
        Existing facilities (all categories; those of ``category`` count for presence).
    townships
        Township polygons EPSG:4326 with ``code, name, kind``.
    category
        The category to site (e.g. ``"meal_point"``).
    threshold_min
        Walking time within which a cell counts as covered, at its township kind's speed
        (``walk.speeds_for``); or minutes by township kind, e.g. ``{"street": 15,
        "town": 20}`` (a ``"default"`` key serves cells of other kinds).
    walk
        The walk model (speeds by kind, ``max_snap_m``).
    p
        Number of new sites (maximal covering).
    target_share
        Share of the population (0–1] to cover within ``threshold_min``: the fewest sites
        reaching it.  With ``p`` as well, ``p`` caps the count (maximal covering with ``p``
        when the target needs more).
    population
        ``"pop60"`` (seniors, default) or ``"pop"``: the weight maximised.
    candidates
        Candidate sites (points, or polygons whose representative points are used); default:
        network nodes near uncovered population, thinned to ``min_spacing_m``.
    exclusions
        Polygons where no site may go (water, protected land, ...).
    min_spacing_m
        Least distance between two generated candidates (not applied to a user layer).
    force_presence
        ``"street"``, ``"town"``, ``"all"`` or a list of township codes: each such township
        lacking a facility of ``category`` gets one site (its best candidate), within ``p``.
    capacity
        Optional population one new site can serve (capacitated model with assignment
        variables; with ``p`` only).  ``newly_covered_*`` then still count the people within
        reach, while ``marginal_gain`` is the number the site serves.
    method, time_limit_s, max_milp_nonzeros
        Solver choice and limits (see :func:`solve_max_cover`).
    progress
        Optional ``progress(step, done, total)`` callback.

    Returns
    -------
    SitingResult

    Raises
    ------
    InputError
        Missing demand columns, bad ``population``/``force_presence``, neither ``p`` nor
        ``target_share`` nor ``force_presence``, or a target share outside (0, 1].
    """
    report = progress or (lambda step, done, total: None)
    time_col = _check_demand(demand, category, population)
    if p is None and target_share is None and force_presence is None:
        raise InputError("siting needs p (number of new sites), target_share or force_presence")
    if target_share is not None and not 0 < target_share <= 1:
        raise InputError(
            f"target_share must be a share in (0, 1], got {target_share!r} (write 0.9 for 90%)"
        )
    kinds_all = (
        demand["kind"].to_numpy(dtype=object)
        if "kind" in demand
        else np.full(len(demand), None, dtype=object)
    )
    cell_threshold_min = _thresholds_by_cell(threshold_min, kinds_all)
    if capacity is not None and target_share is not None:
        raise InputError(
            "capacity works with p (the most people p capacitated sites serve), "
            "not with target_share; give p instead"
        )
    demand = frame_to_wgs84(demand, "the demand frame")
    townships = frame_to_wgs84(townships, "the township layer")
    steps = 4
    report("siting:demand", 0, steps)
    warnings: list[str] = []

    weights_all = {
        name: np.nan_to_num(demand[name].to_numpy(dtype=float), nan=0.0) for name in POPULATIONS
    }
    weights_all = {k: np.maximum(v, 0.0) for k, v in weights_all.items()}
    times = demand[time_col].to_numpy(dtype=float)
    covered = np.nan_to_num(times, nan=np.inf) <= cell_threshold_min
    objective_w = weights_all[population]
    total = float(objective_w.sum())
    covered_before = float(objective_w[covered].sum())
    open_cells = np.flatnonzero(~covered & ((weights_all["pop"] > 0) | (objective_w > 0)))
    cell_limit_m = walk.distance_m(cell_threshold_min[open_cells], kinds_all[open_cells])
    geoms = demand.geometry.to_numpy()[open_cells]
    cell_x, cell_y = network.project_lonlat(shapely.get_x(geoms), shapely.get_y(geoms))
    logger.info(
        "siting %s: %.0f of %.0f %s covered within %s min; %d cells with uncovered people",
        category,
        covered_before,
        total,
        population,
        threshold_min,
        open_cells.size,
    )

    report("siting:candidates", 1, steps)
    if candidates is not None:
        cand_lon, cand_lat = _user_candidates(candidates, warnings)
        cand_x, cand_y = network.project_lonlat(cand_lon, cand_lat)
        node_ids = np.full(cand_lon.size, -1, dtype=np.int64)
    else:
        near_m = max(float(min_spacing_m), 250.0)
        nodes = candidate_nodes(
            network,
            cell_x,
            cell_y,
            objective_w[open_cells],
            near_m=near_m,
            min_spacing_m=float(min_spacing_m),
        )
        cand_x, cand_y = network.x[nodes], network.y[nodes]
        back = network.to_wgs84(shapely.points(cand_x, cand_y))
        cand_lon, cand_lat = shapely.get_x(back), shapely.get_y(back)
        node_ids = network.node_ids[nodes]
    town_pos = _township_of(cand_lon, cand_lat, townships)
    keep = (town_pos >= 0) & ~_inside(cand_lon, cand_lat, exclusions)
    if (~keep).any():
        logger.info(
            "siting %s: %d candidates outside the townships or in exclusion areas dropped",
            category,
            int((~keep).sum()),
        )
    cand_x, cand_y, cand_lon, cand_lat = cand_x[keep], cand_y[keep], cand_lon[keep], cand_lat[keep]
    town_pos, node_ids = town_pos[keep], node_ids[keep]

    report("siting:coverage_sets", 2, steps)
    cell_snaps = snap_points(network, cell_x, cell_y, max_snap_m=walk.max_snap_m)
    cover, snapped = _cover(network, cand_x, cand_y, cell_snaps, cell_limit_m, walk.max_snap_m)
    if (~snapped).any():
        warnings.append(
            f"siting {category}: {int((~snapped).sum())} candidates farther than "
            f"{walk.max_snap_m:.0f} m from the network cannot serve anyone"
        )

    codes = townships["code"].astype(str).to_numpy()
    names = townships["name"].astype(str).to_numpy() if "name" in townships else codes
    need = _presence_codes(force_presence, townships, facilities, category)
    cand_codes = np.where(town_pos >= 0, codes[np.maximum(town_pos, 0)], "")
    groups, unfilled = [], []
    for code in need:
        members = np.flatnonzero((cand_codes == code) & snapped)
        if members.size:
            groups.append(members)
        else:
            unfilled.append(code)
    if unfilled:
        warnings.append(
            f"siting {category}: no candidate site inside township(s) "
            f"{', '.join(unfilled)}, which lack one; add candidates there "
            "(candidates layer) or check exclusions"
        )

    report("siting:solving", 3, steps)
    weights = objective_w[open_cells]
    options = {
        "forced_groups": groups,
        "method": method,
        "time_limit_s": time_limit_s,
        "max_milp_nonzeros": max_milp_nonzeros,
    }
    if target_share is not None:
        needed = max(0.0, target_share * total - covered_before)
        solution = solve_min_sites(cover, weights, needed, **options)
        if p is not None and len(solution.selected) > p:
            warnings.append(
                f"siting {category}: reaching {100 * target_share:.0f}% needs "
                f"{len(solution.selected)} sites, more than p={p}: proposing the "
                f"{p} sites covering the most"
            )
            solution = solve_max_cover(cover, weights, p, capacity=capacity, **options)
    else:
        count = p if p is not None else len(groups)
        solution = solve_max_cover(cover, weights, count, capacity=capacity, **options)

    sites = _site_frame(
        solution,
        cover,
        weights_all,
        open_cells,
        category,
        cand_lon,
        cand_lat,
        cand_codes,
        codes,
        names,
        population,
    )
    sites["road_name"] = network.street_names(cand_x[solution.selected], cand_y[solution.selected])
    sites["node_id"] = node_ids[solution.selected] if len(sites) else []
    result = SitingResult(
        sites=sites,
        objective=solution.objective,
        bound=solution.bound,
        gap=solution.gap,
        method=solution.method,
        status=solution.status,
        candidates_count=int(cover.shape[0]),
        demand_count=int(open_cells.size),
        covered_before=covered_before,
        covered_after=covered_before + solution.covered_weight,
        total=total,
        category=category,
        population=population,
        threshold_min=(
            dict(threshold_min) if isinstance(threshold_min, Mapping) else float(threshold_min)
        ),
        unfilled_townships=unfilled,
        solution=solution,
        warnings=warnings,
    )
    logger.info(
        "siting %s: %d sites by %s (%s), %s %.0f -> %.0f of %.0f, gap %.3g",
        category,
        len(sites),
        result.method,
        result.status,
        population,
        result.covered_before,
        result.covered_after,
        total,
        result.gap,
    )
    report("siting:done", steps, steps)
    return result


def _thresholds_by_cell(
    threshold_min: float | Mapping[str, float], kinds: NDArray[np.object_]
) -> NDArray[np.float64]:
    """Minutes per cell from one threshold or a mapping by township kind."""
    if not isinstance(threshold_min, Mapping):
        if not (isinstance(threshold_min, numbers.Real) and threshold_min > 0):
            raise InputError(f"threshold_min must be positive minutes, got {threshold_min!r}")
        return np.full(kinds.size, float(threshold_min))
    bad = {k: v for k, v in threshold_min.items() if not (isinstance(v, numbers.Real) and v > 0)}
    if bad:
        raise InputError(f"threshold_min by kind must map kinds to positive minutes, got {bad}")
    default = threshold_min.get("default")
    values = np.array(
        [threshold_min.get(k, default) if isinstance(k, str) else default for k in kinds.tolist()],
        dtype=object,
    )
    missing = sorted({str(k) for k, v in zip(kinds.tolist(), values, strict=True) if v is None})
    if missing:
        raise InputError(
            f"threshold_min gives no minutes for township kind(s) "
            f"{', '.join(missing)}; add them or a 'default' key"
        )
    return values.astype(float)


def _marginals(cover: sp.csr_matrix, weights: NDArray, order: NDArray[np.int64]) -> NDArray:
    """Weight each site in ``order`` adds to the ones before it."""
    left = weights.astype(float).copy()
    gains = np.zeros(order.size)
    for k, i in enumerate(order):  # a handful of sites: one short row each
        cells = cover.indices[cover.indptr[i] : cover.indptr[i + 1]]
        gains[k] = left[cells].sum()
        left[cells] = 0.0
    return gains


def _site_frame(
    solution: SitingSolution,
    cover: sp.csr_matrix,
    weights_all: dict[str, NDArray],
    open_cells: NDArray[np.int64],
    category: str,
    cand_lon: NDArray,
    cand_lat: NDArray,
    cand_codes: NDArray,
    codes: NDArray,
    names: NDArray,
    population: str,
) -> gpd.GeoDataFrame:
    order = solution.selected
    name_of = dict(zip(codes.tolist(), names.tolist(), strict=True))
    frame = pd.DataFrame(
        {
            "rank": np.arange(1, order.size + 1),
            "category": category,
            "township_code": cand_codes[order] if order.size else np.array([], dtype=object),
            "township_name": [name_of.get(c, "") for c in cand_codes[order]],
            "newly_covered_pop60": _marginals(cover, weights_all["pop60"][open_cells], order),
            "newly_covered_pop": _marginals(cover, weights_all["pop"][open_cells], order),
            "marginal_gain": solution.gains,
            "forced": solution.forced,
            "road_name": "",  # filled by the caller, which has the network
        }
    )
    geometry = shapely.points(cand_lon[order], cand_lat[order]) if order.size else []
    sites = gpd.GeoDataFrame(frame, geometry=geometry, crs="EPSG:4326")
    return sites[SITE_COLUMNS]
