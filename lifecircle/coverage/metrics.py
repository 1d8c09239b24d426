"""Coverage of demand by facilities: times per cell, metrics per township, service areas.

:func:`compute_coverage` is the one entry point the pipeline calls. Per category it runs one
bounded multi-source search (:func:`lifecircle.coverage.reach.nearest_sources`), so the cost
does not grow with the number of facilities; service-area polygons come from one batched
per-facility search (:func:`lifecircle.coverage.reach.reach_matrix`) and
:mod:`lifecircle.coverage.areas`.

Thresholds follow the township kind of each cell (``WalkModel.for_kind``): a cell of a ``town``
township is judged against the town thresholds at the town speed. Service-area polygons are per
threshold, not per kind: a threshold's walking distance uses the slowest speed among the kinds
whose threshold list holds it (the conservative choice when kinds share a threshold).
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field, replace
from typing import Any

import geopandas as gpd
import numpy as np
import pandas as pd
import pyproj
import shapely

from lifecircle.arrays import centres
from lifecircle.coverage.areas import (
    DEFAULT_OFF_NETWORK_M,
    DEFAULT_SIMPLIFY_M,
    facility_polygons,
    service_area_polygons,
)
from lifecircle.coverage.reach import nearest_point_distances, nearest_sources, reach_matrix
from lifecircle.coverage.walk import WalkModel
from lifecircle.errors import InputError
from lifecircle.geo.network import Snaps, WalkNetwork, snap_points

logger = logging.getLogger(__name__)

__all__ = [
    "CoverageResult",
    "compute_coverage",
    "dissolved_service_area",
    "reach_m_for_threshold",
    "wide_shares",
    "with_categories",
    "with_circle_reach",
    "with_service_areas",
]

ProgressFn = Callable[[str, int, int], None]

METRIC_COLUMNS = [
    "township_code",
    "category",
    "threshold_min",
    "pop",
    "pop60",
    "covered_pop",
    "covered_pop60",
    "share_pop",
    "share_pop60",
]
AREA_METRIC_COLUMNS = [
    "category",
    "threshold_min",
    "pop",
    "pop60",
    "covered_pop",
    "covered_pop60",
    "share_pop",
    "share_pop60",
]


@dataclass
class CoverageResult:
    """What :func:`compute_coverage` computed, with the parameters it used.

    Attributes
    ----------
    demand
        The demand frame plus ``snap_m`` and per category ``dist_m__<cat>``,
        ``time_min__<cat>`` (``inf`` beyond the search bound or when not snapped) and
        ``nearest__<cat>`` (facility_id, empty when none is in reach).
    township_metrics
        Long table ``township_code, category, threshold_min, pop, pop60, covered_pop,
        covered_pop60, share_pop, share_pop60`` with each township's kind's thresholds
        (shares are ``nan`` where the township has no such population).
    area_metrics
        The same per category and threshold for all cells together (every threshold of any
        kind, all cells judged against it).
    service_areas
        EPSG:4326 ``category, threshold_min, geometry``: the dissolved service area.
    facility_areas
        EPSG:4326 ``facility_id, category, threshold_min, geometry``.
    unsnapped
        ``facility_id, category, distance_m`` of facilities farther than ``walk.max_snap_m``
        from the network (left out of coverage).
    walk, categories, off_network_m, search_limit_m
        The parameters of the computation.
    demand_snaps
        The demand cells snapped to the network (``max_snap_m`` of ``walk``).
    searches
        Per category, its facilities' snaps and every node's distance to the nearest of them
        (the multi-source search the service areas are built from).
    """

    demand: gpd.GeoDataFrame
    township_metrics: pd.DataFrame
    service_areas: gpd.GeoDataFrame
    facility_areas: gpd.GeoDataFrame
    unsnapped: pd.DataFrame
    area_metrics: pd.DataFrame = field(default_factory=pd.DataFrame)
    walk: WalkModel = field(default_factory=WalkModel)
    categories: tuple[str, ...] = ()
    off_network_m: float = DEFAULT_OFF_NETWORK_M
    search_limit_m: float = 0.0
    searches: dict[str, tuple[Snaps, np.ndarray]] = field(default_factory=dict, repr=False)
    demand_snaps: Snaps | None = field(default=None, repr=False)


def reach_m_for_threshold(walk: WalkModel, threshold_min: float) -> float:
    """Walking distance (m) of a threshold (see :meth:`WalkModel.reach_m`)."""
    return walk.reach_m(threshold_min)


def wide_shares(townships: gpd.GeoDataFrame, metrics: pd.DataFrame) -> gpd.GeoDataFrame:
    """``townships`` with a ``share_pop60__<category>__<T>min`` column per category and threshold.

    ``metrics`` is :attr:`CoverageResult.township_metrics` (long form); maps colour by these.
    """
    if metrics.empty:
        return townships
    table = metrics.assign(
        column="share_pop60__"
        + metrics["category"]
        + "__"
        + metrics["threshold_min"].map(lambda t: f"{t:g}")
        + "min"
    ).pivot_table(index="township_code", columns="column", values="share_pop60", aggfunc="first")
    return townships.join(table, on="code")


def _point_xy(network: WalkNetwork, geometry: gpd.GeoSeries) -> tuple[np.ndarray, np.ndarray]:
    """Metric x, y of WGS-84 geometries' centres (nan for empty or missing)."""
    lon, lat = centres(geometry.values)  # a polygon cell counts at its centre
    return network.project_lonlat(lon, lat)


def _kinds(demand: pd.DataFrame) -> np.ndarray:
    if "kind" in demand.columns:
        return demand["kind"].fillna("").astype(str).to_numpy(dtype=object)
    return np.full(len(demand), "", dtype=object)


def _check_inputs(facilities: pd.DataFrame, demand: pd.DataFrame) -> None:
    for frame, name, needed in [
        (facilities, "facilities", ("facility_id", "category")),
        (demand, "demand", ("cell_id", "pop", "pop60")),
    ]:
        missing = [c for c in needed if c not in frame.columns]
        if missing:
            raise InputError(
                f"compute_coverage: the {name} frame lacks column(s) {missing}; it has "
                f"{list(frame.columns)} (see docs/architecture.md, 'Shared frames')"
            )
    for frame, name in [(facilities, "facilities"), (demand, "demand")]:
        crs = getattr(frame, "crs", None)
        if crs is not None and not pyproj_is_wgs84(crs):
            raise InputError(
                f"compute_coverage: the {name} frame is in {crs}, expected EPSG:4326; "
                "convert it with .to_crs('EPSG:4326')"
            )


def pyproj_is_wgs84(crs: object) -> bool:
    """True when ``crs`` is WGS-84 longitude/latitude."""
    try:
        return bool(pyproj.CRS.from_user_input(crs).equals(pyproj.CRS.from_epsg(4326)))
    except pyproj.exceptions.CRSError:
        return False


def _township_metrics(
    demand: pd.DataFrame, category: str, time_min: np.ndarray, walk: WalkModel, kinds: np.ndarray
) -> pd.DataFrame:
    codes = (
        demand["township_code"].fillna("").astype(str).to_numpy()
        if "township_code" in demand.columns
        else np.full(len(demand), "")
    )
    pop = demand["pop"].to_numpy(dtype=float)
    pop60 = demand["pop60"].to_numpy(dtype=float)
    frames = []
    for kind in np.unique(kinds) if kinds.size else []:
        in_kind = (kinds == kind) & (codes != "")
        if not in_kind.any():
            continue
        base = pd.DataFrame(
            {"township_code": codes[in_kind], "pop": pop[in_kind], "pop60": pop60[in_kind]}
        )
        for threshold in walk.for_kind(kind).thresholds_min:
            covered = time_min[in_kind] <= threshold
            table = base.assign(
                covered_pop=np.where(covered, base["pop"], 0.0),
                covered_pop60=np.where(covered, base["pop60"], 0.0),
            )
            sums = table.groupby("township_code", sort=True).sum().reset_index()
            sums.insert(1, "category", category)
            sums.insert(2, "threshold_min", float(threshold))
            frames.append(sums)
    if not frames:
        return pd.DataFrame(columns=METRIC_COLUMNS)
    out = pd.concat(frames, ignore_index=True)
    # A township's cells normally share one kind; if not, sum the parts judged alike.
    out = out.groupby(
        ["township_code", "category", "threshold_min"], sort=True, as_index=False
    ).sum()
    return _with_shares(out)[METRIC_COLUMNS]


def _with_shares(frame: pd.DataFrame) -> pd.DataFrame:
    frame = frame.copy()
    with np.errstate(invalid="ignore", divide="ignore"):
        frame["share_pop"] = np.where(frame["pop"] > 0, frame["covered_pop"] / frame["pop"], np.nan)
        frame["share_pop60"] = np.where(
            frame["pop60"] > 0, frame["covered_pop60"] / frame["pop60"], np.nan
        )
    return frame


def _area_metrics(
    demand: pd.DataFrame, category: str, time_min: np.ndarray, thresholds: Sequence[float]
) -> pd.DataFrame:
    pop = demand["pop"].to_numpy(dtype=float)
    pop60 = demand["pop60"].to_numpy(dtype=float)
    rows = []
    for threshold in thresholds:
        covered = time_min <= threshold
        rows.append(
            {
                "category": category,
                "threshold_min": float(threshold),
                "pop": pop.sum(),
                "pop60": pop60.sum(),
                "covered_pop": pop[covered].sum(),
                "covered_pop60": pop60[covered].sum(),
            }
        )
    return _with_shares(pd.DataFrame(rows, columns=AREA_METRIC_COLUMNS[:6]))


def compute_coverage(
    network: WalkNetwork,
    facilities: gpd.GeoDataFrame,
    demand: gpd.GeoDataFrame,
    walk: WalkModel,
    *,
    categories: Sequence[str],
    progress: ProgressFn | None = None,
    off_network_m: float = DEFAULT_OFF_NETWORK_M,
    simplify_m: float = DEFAULT_SIMPLIFY_M,
    service_areas: bool = True,
    facility_areas: bool = True,
    workers: int | None = None,
    search_limit_m: float | None = None,
    demand_snaps: Snaps | None = None,
) -> CoverageResult:
    """Walking coverage of every demand cell by each category's facilities.

    Parameters
    ----------
    network
        The walking network (:meth:`WalkNetwork.from_graph`).
    facilities
        EPSG:4326 facilities with ``facility_id``, ``category``, point ``geometry``; empty or
        missing geometries are skipped here (they still count for presence elsewhere).
    demand
        EPSG:4326 cells with ``cell_id``, ``pop``, ``pop60``, ``geometry`` and, added by the
        pipeline, ``township_code`` and ``kind`` (missing kind: the default walk settings).
    walk
        Speeds and thresholds, per township kind.
    categories
        The categories to compute, in order.
    progress
        Optional ``callable(step, done, total)``.
    off_network_m
        The largest step off the network in the service-area polygons
        (see :mod:`lifecircle.coverage.areas`).
    simplify_m
        Simplification tolerance of the polygons.
    service_areas
        False skips the polygons (``service_areas``/``facility_areas`` come back empty).
    facility_areas
        False skips the per-facility polygons (``facility_areas`` comes back empty): each
        category's dissolved area is then built from its one multi-source search
        (:func:`lifecircle.coverage.areas.service_area_polygons`), the same area as the union
        of its facilities' but far cheaper where facilities' areas overlap (maps and the
        GeoPackage need only the dissolved areas).
    workers
        Processes snapping a large demand (:func:`lifecircle.geo.network.snap_points`) and
        building the dissolved areas (default 1; see
        :func:`lifecircle.coverage.areas.service_area_polygons`).
    search_limit_m
        Search bound (default ``walk.max_reach_m``); distances beyond it are ``inf``.
    demand_snaps
        The demand already snapped with ``walk.max_snap_m`` (:attr:`CoverageResult.demand_snaps`
        of an earlier run on the same demand and network), to skip snapping it again.

    Returns
    -------
    CoverageResult
    """
    _check_inputs(facilities, demand)
    dissolved_only = service_areas and not facility_areas
    categories = tuple(categories)
    limit_m = float(walk.max_reach_m if search_limit_m is None else search_limit_m)
    steps = 1 + 2 * len(categories)
    report = progress or (lambda step, done, total: None)
    report("snapping", 0, steps)

    demand_out = gpd.GeoDataFrame(
        demand.copy(), geometry=demand.geometry.name, crs=demand.crs or "EPSG:4326"
    )
    kinds = _kinds(demand)
    if demand_snaps is None:
        dx, dy = _point_xy(network, demand.geometry)
        demand_snaps = snap_points(
            network, dx, dy, max_snap_m=walk.max_snap_m, workers=workers or 1
        )
    demand_out["snap_m"] = demand_snaps.distance_m

    fac_geom = facilities.geometry
    usable = ~(fac_geom.isna().to_numpy() | fac_geom.is_empty.to_numpy())
    usable &= facilities["category"].isin(categories).to_numpy()
    fac = facilities[usable]
    fx, fy = _point_xy(network, fac.geometry)
    fac_snaps = snap_points(network, fx, fy, max_snap_m=walk.max_snap_m)
    fac_ids = fac["facility_id"].astype(str).to_numpy(dtype=object)
    fac_cats = fac["category"].astype(str).to_numpy(dtype=object)
    unsnapped = pd.DataFrame(
        {
            "facility_id": fac_ids[~fac_snaps.ok],
            "category": fac_cats[~fac_snaps.ok],
            "distance_m": fac_snaps.distance_m[~fac_snaps.ok],
        }
    )
    if len(unsnapped):
        # Reported to the planner from ``CoverageResult.unsnapped`` (one channel).
        logger.info(
            "%d facilities are farther than %g m from the walking network and are "
            "left out of coverage",
            len(unsnapped),
            walk.max_snap_m,
        )

    metrics, area_rows = [], []
    area_frames, dissolved = [], []
    searches: dict[str, tuple[Snaps, np.ndarray]] = {}
    thresholds = walk.all_thresholds_min
    for index, category in enumerate(categories):
        report(f"coverage:{category}", 1 + 2 * index, steps)
        in_cat = np.flatnonzero(fac_cats == category)
        snaps: Snaps = fac_snaps.subset(in_cat)
        reach = nearest_sources(network, snaps, limit_m=limit_m)
        dist_m, nearest = nearest_point_distances(network, reach, snaps, demand_snaps)
        time_min = walk.time_min(dist_m, kinds)
        demand_out[f"dist_m__{category}"] = dist_m
        demand_out[f"time_min__{category}"] = time_min
        ids = fac_ids[in_cat]
        demand_out[f"nearest__{category}"] = np.where(
            nearest >= 0, ids[np.maximum(nearest, 0)] if ids.size else "", ""
        )
        metrics.append(_township_metrics(demand_out, category, time_min, walk, kinds))
        area_rows.append(_area_metrics(demand_out, category, time_min, thresholds))

        report(f"service_areas:{category}", 2 + 2 * index, steps)
        searches[category] = (snaps, reach.distance_m)
        if service_areas and snaps.ok.any() and facility_areas:
            reach_by_t = {t: reach_m_for_threshold(walk, t) for t in thresholds}
            core_max = max(reach_by_t.values()) - off_network_m
            node_reach = reach_matrix(network, snaps, max(core_max, 0.0))
            for threshold, reach_m in reach_by_t.items():
                core = reach_m - off_network_m
                matrix = node_reach.copy()
                if core < core_max:
                    matrix.data[matrix.data > core] = np.inf  # outside this threshold's core
                polys = facility_polygons(
                    network,
                    snaps,
                    matrix,
                    reach_m,
                    off_network_m=off_network_m,
                    simplify_m=simplify_m,
                )
                keep = snaps.ok & ~shapely.is_empty(polys)
                polys_wgs = network.to_wgs84(polys[keep])
                area_frames.append(
                    pd.DataFrame(
                        {
                            "facility_id": ids[keep],
                            "category": category,
                            "threshold_min": float(threshold),
                            "geometry": polys_wgs,
                        }
                    )
                )
                whole = shapely.union_all(polys[keep]) if keep.any() else shapely.Polygon()
                dissolved.append(
                    {
                        "category": category,
                        "threshold_min": float(threshold),
                        "geometry": network.to_wgs84(np.array([whole]))[0],
                    }
                )
    report("coverage_done", steps, steps)

    township_metrics = (
        pd.concat(metrics, ignore_index=True) if metrics else pd.DataFrame(columns=METRIC_COLUMNS)
    )
    area_metrics = (
        pd.concat(area_rows, ignore_index=True)
        if area_rows
        else pd.DataFrame(columns=AREA_METRIC_COLUMNS)
    )
    facility_areas = gpd.GeoDataFrame(
        pd.concat(area_frames, ignore_index=True)
        if area_frames
        else pd.DataFrame(columns=["facility_id", "category", "threshold_min", "geometry"]),
        geometry="geometry",
        crs="EPSG:4326",
    )
    service = gpd.GeoDataFrame(
        pd.DataFrame(dissolved, columns=["category", "threshold_min", "geometry"]),
        geometry="geometry",
        crs="EPSG:4326",
    )
    coverage = CoverageResult(
        demand=demand_out,
        township_metrics=township_metrics,
        service_areas=service,
        facility_areas=facility_areas,
        unsnapped=unsnapped,
        area_metrics=area_metrics,
        walk=walk,
        categories=categories,
        off_network_m=off_network_m,
        search_limit_m=limit_m,
        searches=searches,
        demand_snaps=demand_snaps,
    )
    if dissolved_only:
        every = [(category, t) for category in categories for t in thresholds]
        coverage = with_service_areas(
            coverage, network, every, simplify_m=simplify_m, workers=workers
        )
    return coverage


def dissolved_service_area(
    coverage: CoverageResult,
    network: WalkNetwork,
    category: str,
    threshold_min: float,
    *,
    within: shapely.Geometry | None = None,
    simplify_m: float = DEFAULT_SIMPLIFY_M,
    workers: int | None = None,
) -> shapely.Geometry | None:
    """The dissolved service area (EPSG:4326) of ``category`` at ``threshold_min``.

    Built from the category's one multi-source search of :func:`compute_coverage`
    (:func:`lifecircle.coverage.areas.service_area_polygons`): the same area as the union of
    its facilities' but far cheaper where they overlap. ``within`` (EPSG:4326) keeps only the
    area inside it, and the parts of a county outside it are never built. None for a category
    without a search or with no facility on the network, or a walk beyond the search bound
    (the last with a log line).
    """
    if category not in coverage.searches:
        return None
    snaps, node_distance_m = coverage.searches[category]
    reach_m = reach_m_for_threshold(coverage.walk, threshold_min)
    if coverage.search_limit_m < reach_m - coverage.off_network_m:
        logger.info("no %s service area at %g min: beyond the search", category, threshold_min)
        return None
    if not snaps.ok.any():
        return None
    area = service_area_polygons(
        network,
        snaps,
        node_distance_m,
        reach_m,
        off_network_m=coverage.off_network_m,
        simplify_m=simplify_m,
        workers=workers,
        within=None if within is None else network.from_wgs84(within),
    )
    return network.to_wgs84(np.array([area]))[0]


def with_categories(coverage: CoverageResult, other: CoverageResult) -> CoverageResult:
    """``coverage`` with the categories of ``other`` (the same demand, e.g. recomputed with
    proposed sites added) taken from ``other``: their times, metrics and searches."""
    demand = coverage.demand.copy()
    for category in other.categories:
        for prefix in ("dist_m__", "time_min__", "nearest__"):
            demand[f"{prefix}{category}"] = other.demand[f"{prefix}{category}"].to_numpy()

    def merged(mine: pd.DataFrame, theirs: pd.DataFrame) -> pd.DataFrame:
        kept = mine[~mine["category"].isin(other.categories)] if len(mine) else mine
        return pd.concat([f for f in (kept, theirs) if len(f)], ignore_index=True)

    return replace(
        coverage,
        demand=demand,
        township_metrics=merged(coverage.township_metrics, other.township_metrics),
        area_metrics=merged(coverage.area_metrics, other.area_metrics),
        searches={**coverage.searches, **other.searches},
        categories=tuple(dict.fromkeys((*coverage.categories, *other.categories))),
    )


def with_service_areas(
    coverage: CoverageResult,
    network: WalkNetwork,
    pairs: Sequence[tuple[str, float]],
    *,
    simplify_m: float = DEFAULT_SIMPLIFY_M,
    workers: int | None = None,
) -> CoverageResult:
    """Coverage with the dissolved service area (:func:`dissolved_service_area`) of each
    ``(category, threshold_min)`` pair.

    Returns
    -------
    CoverageResult
        ``service_areas`` holds the earlier rows plus the new ones (EPSG:4326
        ``category, threshold_min, geometry``), in the order of ``pairs``; pairs already there
        or without an area are skipped.
    """
    done = set(
        zip(
            coverage.service_areas["category"].astype(str),
            coverage.service_areas["threshold_min"].astype(float),
            strict=True,
        )
    )
    rows = []
    for category, threshold in dict.fromkeys((str(c), float(t)) for c, t in pairs):
        if (category, threshold) in done:
            continue
        area = dissolved_service_area(
            coverage, network, category, threshold, simplify_m=simplify_m, workers=workers
        )
        if area is not None:
            rows.append((category, threshold, area))
    if not rows:
        return coverage
    added = gpd.GeoDataFrame(
        pd.DataFrame(rows, columns=["category", "threshold_min", "geometry"]),
        geometry="geometry",
        crs="EPSG:4326",
    )
    frames = [f for f in (coverage.service_areas, added) if len(f)]
    return replace(
        coverage,
        service_areas=gpd.GeoDataFrame(
            pd.concat(frames, ignore_index=True), geometry="geometry", crs="EPSG:4326"
        ),
    )


def with_circle_reach(
    coverage: CoverageResult,
    network: WalkNetwork,
    serving: gpd.GeoDataFrame,
    demand: gpd.GeoDataFrame,
    walk: WalkModel,
    targets: Sequence[Any],
) -> CoverageResult:
    """Coverage with the walking times a service circle of some subtypes needs (under
    ``<category>.<subtype>``) and, for circles in metres, distances searched far enough.

    ``serving`` are the facilities that serve residents (区外设施 included), ``demand`` the
    demand cells as given to :func:`compute_coverage`, ``targets`` the parsed targets.
    """
    circles = [t for t in targets if t.type == "service_circle" and t.category]
    far = max((t.max_distance_m or 0.0 for t in circles), default=0.0)
    limit = max(coverage.search_limit_m, far)
    done = coverage.demand.attrs.get("circle_reach_m", {})
    wanted: dict[str, Any] = {}
    for t in circles:
        key, reach = t.coverage_key, t.max_distance_m or 0.0
        if key == t.category and reach <= coverage.search_limit_m:
            continue  # the run's own columns serve it
        if done.get(key, -1.0) < reach:
            wanted.setdefault(key, t)
    if not wanted:
        return coverage
    parts = []
    for key, t in wanted.items():
        chosen = serving[serving["category"] == t.category]
        if t.subtype:
            subtypes = chosen["subtype"] if "subtype" in chosen else pd.Series("", chosen.index)
            chosen = chosen[subtypes.fillna("").astype(str).isin(t.subtype)]
        parts.append(chosen.assign(category=key))
    extra = compute_coverage(
        network,
        gpd.GeoDataFrame(pd.concat(parts, ignore_index=True), crs="EPSG:4326"),
        demand,
        walk,
        categories=sorted(wanted),
        service_areas=False,
        search_limit_m=limit,
    )
    out = coverage.demand.copy()
    for key in wanted:
        for column in (f"dist_m__{key}", f"time_min__{key}"):
            out[column] = extra.demand[column].to_numpy()
    out.attrs["circle_reach_m"] = {**done, **dict.fromkeys(wanted, limit)}
    return replace(coverage, demand=out)
