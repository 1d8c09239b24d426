"""The public API: osmnx-style verbs over GeoDataFrames (``import lifecircle as lc``).

Frames come in any CRS (they are reprojected) and results come back on the caller's index.
The command line and the plan runner are users of these verbs too: ``lifecircle run`` is
:func:`run`.

Examples
--------
The examples below run on the bundled fictional sample district 示范区:

>>> import lifecircle as lc
>>> net = lc.load_walk_network(lc.sample_path("network.osm.bz2"))
>>> net.n_nodes > 1000
True
>>> meals, rejected = lc.read_register(lc.sample_path("meal_points.csv"),
...                                    category="meal_point", crs="bd09")
>>> len(meals) + len(rejected) > 0
True
"""

from __future__ import annotations

import dataclasses
import logging
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import geopandas as gpd
import networkx as nx
import numpy as np
import pandas as pd
import shapely

from lifecircle.coverage.areas import DEFAULT_OFF_NETWORK_M, facility_polygons
from lifecircle.coverage.metrics import compute_coverage, with_circle_reach
from lifecircle.coverage.reach import nearest_point_distances, nearest_sources, reach_matrix
from lifecircle.coverage.siting import SitingResult, propose_sites
from lifecircle.coverage.targets import EvaluationContext, GapReport, Target, parse_targets
from lifecircle.coverage.targets import evaluate_targets as _evaluate_targets
from lifecircle.coverage.walk import WalkModel
from lifecircle.data import data_path
from lifecircle.errors import InputError
from lifecircle.geo.crs import frame_to_wgs84
from lifecircle.geo.network import WalkNetwork, snap_points
from lifecircle.geo.osm import NetworkSpec, load_walk_arrays_and_ways
from lifecircle.geo.population import PopulationSpec, demand_points
from lifecircle.layers.categories import load_registry
from lifecircle.layers.facilities import LayerSpec
from lifecircle.layers.facilities import read_register as _read_register
from lifecircle.layers.townships import TownshipSpec
from lifecircle.layers.townships import read_townships as _read_townships
from lifecircle.layers.zones import assign_zones, with_population
from lifecircle.results import RunResult

__all__ = [
    "assign_zones",
    "evaluate_targets",
    "load_walk_network",
    "nearest_facility_times",
    "read_demand",
    "read_register",
    "read_townships",
    "run",
    "sample_path",
    "service_areas",
    "site",
]

log = logging.getLogger(__name__)

DEFAULT_MAX_SNAP_M = 500.0

# Networks read from files, by (path, size, modification time, rules): a WalkNetwork is
# immutable, so notebooks (and doctests) that load the same file twice share one.
_NETWORK_CACHE: dict[tuple[str, int, int, str], WalkNetwork] = {}
_NETWORK_CACHE_SIZE = 4


def sample_path(*parts: str) -> Path:
    """A file of the bundled fictional sample district 示范区 (e.g. ``"network.osm.bz2"``).

    The townships are ``sample_path("..", "boundaries", "sample_townships.geojson")``, also
    available as ``sample_path("townships")``.

    >>> sample_path("plan.toml").name
    'plan.toml'
    """
    if parts == ("townships",):
        return data_path("boundaries", "sample_townships.geojson")
    return data_path("sample", *parts)


def _spec_with_rules(spec: NetworkSpec, walk_rules: str) -> NetworkSpec:
    """The spec under ``walk_rules`` (NetworkSpec checks the name against the rule sets)."""
    return dataclasses.replace(spec, walk_rules=walk_rules)


def load_walk_network(
    source: str | Path | NetworkSpec | nx.MultiDiGraph,
    *,
    walk_rules: str = "china",
    crs: Any = None,
) -> WalkNetwork:
    """Load a walking network: from a file, a place name, a plan's network spec or a graph.

    Parameters
    ----------
    source
        A local file (OSM XML ``.osm``/``.osm.bz2``, ``.osm.pbf``, ``.graphml`` or road lines in
        a vector format), a place name for an online download (``"海陵区, 泰州市, 江苏省"``,
        needs internet once, then cached), a :class:`~lifecircle.geo.osm.NetworkSpec`, or an
        osmnx ``MultiDiGraph`` in EPSG:4326 (used as it is: no walking filter).
    walk_rules
        Which ways are walkable: a named rule set, ``"china"`` (trunk roads kept unless signed as
        expressways, cycleways shared with pedestrians) or ``"osmnx"`` (osmnx's walk filter);
        see docs/walk-model.md.
    crs
        The metric CRS to work in (default: the UTM zone of the network).

    Returns
    -------
    WalkNetwork
        Compact CSR arrays in metres; every later verb takes it.

    Raises
    ------
    NetworkError
        Missing or unreadable file, failed download, or no walkable way.

    Examples
    --------
    >>> net = load_walk_network(sample_path("network.osm.bz2"))
    >>> net.crs.name
    'WGS 84 / UTM zone 50N'
    >>> net.describe_components()["components"]  # the sample has two islands off the main part
    3
    """
    if isinstance(source, nx.Graph):  # taken as it is: the rules apply when reading OSM data
        return WalkNetwork.from_graph(source, crs=crs)
    if isinstance(source, NetworkSpec):
        spec = source
    elif isinstance(source, Path) or Path(str(source)).exists():
        spec = NetworkSpec(path=Path(source))
    else:
        spec = NetworkSpec(place=str(source))
    spec = _spec_with_rules(spec, walk_rules)
    key = None
    if spec.path is not None and Path(spec.path).is_file():
        stat = Path(spec.path).stat()
        key = (
            str(Path(spec.path).resolve()),
            stat.st_size,
            stat.st_mtime_ns,
            f"{walk_rules}|{spec.layer}|{spec.bbox}|{spec.polygon}|{crs}",
        )
        if key in _NETWORK_CACHE:
            return _NETWORK_CACHE[key]
    network = WalkNetwork.from_lonlat(load_walk_arrays_and_ways(spec)[0], crs=crs)
    if key is not None:
        if len(_NETWORK_CACHE) >= _NETWORK_CACHE_SIZE:
            _NETWORK_CACHE.pop(next(iter(_NETWORK_CACHE)))
        _NETWORK_CACHE[key] = network
    return network


def _log_warnings(warnings: Sequence[str]) -> None:
    for message in warnings:
        log.warning(message)


def read_register(
    path: str | Path,
    *,
    category: str,
    crs: str = "wgs84",
    sheet: str | int | None = None,
    columns: Mapping[str, str] | None = None,
    encoding: str | None = None,
    layer: str | None = None,
    subtype: str | None = None,
) -> tuple[gpd.GeoDataFrame, pd.DataFrame]:
    """Read one facility register (CSV, XLSX, GeoJSON, GeoPackage, Shapefile) and check every row.

    Parameters
    ----------
    path
        The register file.
    category
        Registry key of its facilities (``"elder_care_centre"``, ``"meal_point"``, …).
    crs
        Coordinate system of the coordinates: ``"wgs84"``, ``"cgcs2000"``, ``"gcj02"`` (Amap,
        Tencent), ``"bd09"`` (Baidu) or an EPSG code; converted to WGS-84.
    sheet
        XLSX sheet name or 0-based index (default: the sheet whose header matches best).
    columns
        Header overrides, field -> the file's header (``{"name": "单位名称"}``).
    encoding
        Text encoding of a CSV or a shapefile's ``.dbf`` (default: detected; GBK is common).
    layer
        Layer inside a GeoPackage.
    subtype
        Subtype for rows whose 类型 and name match none (e.g. a register of only 社工室).

    Returns
    -------
    facilities : geopandas.GeoDataFrame
        EPSG:4326, indexed by ``facility_id`` (``"<file stem>:<row>"``), one row per usable
        register row (see docs/architecture.md for the columns). Kept rows with a problem
        (no coordinates, …) are logged as warnings.
    rejected : pandas.DataFrame
        ``layer, file, sheet, row, name, reason, fix`` for every row not used.

    Examples
    --------
    >>> fac, rejected = read_register(sample_path("elder_care_centres.xlsx"),
    ...                               category="elder_care_centre", crs="gcj02")
    >>> fac.crs.to_epsg(), fac.index[0]
    (4326, 'elder_care_centres:3')
    >>> list(rejected.columns)
    ['layer', 'file', 'sheet', 'row', 'name', 'reason', 'fix']
    """
    spec = LayerSpec(
        category=category,
        path=Path(path),
        crs=crs,
        sheet=sheet,
        columns=dict(columns or {}),
        encoding=encoding,
        layer_name=layer,
        subtype=subtype,
    )
    frame, rejected, warnings = _read_register(spec, load_registry())
    _log_warnings(warnings)
    frame.index = pd.Index(frame["facility_id"].to_numpy(), name=None)
    return frame, rejected


def read_townships(
    path: str | Path,
    *,
    name_field: str | None = None,
    code_field: str | None = None,
    county_code: str | None = None,
) -> gpd.GeoDataFrame:
    """Read township polygons: ``code`` (9-digit NBS), ``name``, ``kind`` (street/town), EPSG:4326.

    Rejected features and warnings are logged. Codes missing from the file are matched by name
    in the NBS table of ``county_code``.

    >>> towns = read_townships(sample_path("townships"))
    >>> sorted(towns["kind"].unique())
    ['street', 'town']
    """
    spec = TownshipSpec(path=Path(path), name_field=name_field, code_field=code_field)
    frame, rejected, warnings = _read_townships(spec, county_code=county_code)
    _log_warnings([*warnings, *(f"{r.file} {r.row}: {r.reason}" for r in rejected.itertuples())])
    return frame


def read_demand(
    townships: gpd.GeoDataFrame,
    *,
    raster: str | Path | None = None,
    total_band: int = 1,
    seniors_band: int | None = None,
    network: WalkNetwork | None = None,
    cell_size_m: float = 100.0,
) -> gpd.GeoDataFrame:
    """Demand points (people and people aged 60+ per cell), with their township and kind.

    Parameters
    ----------
    townships
        Township polygons (:func:`read_townships`), any CRS.
    raster
        A population GeoTIFF (any CRS); without it, townships' ``population`` columns are
        spread over the network (``network``) or a grid.
    total_band, seniors_band
        1-based bands of all people and of people aged 60+.
    network
        The walking network (spreads township totals over its nodes).
    cell_size_m
        Side of the demand cells in metres.

    Returns
    -------
    geopandas.GeoDataFrame
        EPSG:4326 points ``cell_id, pop, pop60, township_code, kind``.

    >>> towns = read_townships(sample_path("townships"))
    >>> demand = read_demand(towns, raster=sample_path("population.tif"), seniors_band=2)
    >>> bool(demand["pop"].sum() > demand["pop60"].sum() > 0)
    True
    """
    townships = townships.to_crs(4326)
    spec = (
        PopulationSpec(raster=raster, total_band=total_band, seniors_band=seniors_band)
        if raster is not None
        else None
    )
    lon, lat = network.lonlat if network is not None else (None, None)
    demand, warnings = demand_points(
        spec, townships, node_lon=lon, node_lat=lat, cell_size_m=cell_size_m
    )
    _log_warnings(warnings)
    zones = assign_zones(demand, townships)
    return demand.assign(township_code=zones["township_code"], kind=zones["kind"])


def _points_m(
    network: WalkNetwork, frame: gpd.GeoDataFrame, what: str
) -> tuple[np.ndarray, np.ndarray]:
    """Metric x, y of a frame's geometries in the network's CRS (a point inside non-points)."""
    if frame.crs is None:
        raise InputError(f"{what} have no CRS: set one with .set_crs(), e.g. .set_crs(4326)")
    geoms = np.asarray(frame.geometry.to_crs(network.crs).values, dtype=object)
    missing = shapely.is_missing(geoms) | shapely.is_empty(geoms)
    x = np.full(geoms.size, np.nan)
    y = np.full(geoms.size, np.nan)
    if (~missing).any():
        points = shapely.point_on_surface(geoms[~missing])
        x[~missing], y[~missing] = shapely.get_x(points), shapely.get_y(points)
    return x, y


def nearest_facility_times(
    network: WalkNetwork,
    facilities: gpd.GeoDataFrame,
    points: gpd.GeoDataFrame,
    *,
    limit_m: float | None = None,
    speed_mps: float = 1.0,
    max_snap_m: float = DEFAULT_MAX_SNAP_M,
) -> pd.DataFrame:
    """Walking distance and time from each point to its nearest facility.

    Both facilities and points snap to the nearest street edge; the walk off the street counts
    at the same speed. One bounded multi-source search serves all points.

    Parameters
    ----------
    network
        The walking network (:func:`load_walk_network`).
    facilities, points
        GeoDataFrames in any CRS; non-point geometries count at a point inside them. Missing
        geometries and those farther than ``max_snap_m`` from any street are unreachable.
    limit_m
        Search bound in metres (default: no bound); farther points are unreachable.
    speed_mps
        Walking speed in metres per second.
    max_snap_m
        Largest distance from a street at which a point or facility is snapped.

    Returns
    -------
    pandas.DataFrame
        On ``points.index``: ``distance_m``, ``time_min`` (``inf`` when unreachable) and
        ``facility`` (the nearest facility's index label; missing when unreachable).

    Examples
    --------
    >>> net = load_walk_network(sample_path("network.osm.bz2"))
    >>> meals, _ = read_register(sample_path("meal_points.csv"), category="meal_point",
    ...                          crs="bd09")
    >>> towns = read_townships(sample_path("townships"))
    >>> halls = gpd.GeoDataFrame(towns[["name"]], geometry=towns.representative_point())
    >>> times = nearest_facility_times(net, meals, halls.to_crs(3857), limit_m=3000)
    >>> list(times.columns), bool(times.index.equals(halls.index))
    (['distance_m', 'time_min', 'facility'], True)
    >>> bool(((times["time_min"] * 60).round(6) == times["distance_m"].round(6)).all())
    True
    """
    if not speed_mps > 0:
        raise InputError(f"speed_mps must be positive, got {speed_mps}")
    limit = float("inf") if limit_m is None else float(limit_m)
    if limit < 0:
        raise InputError(f"limit_m must be >= 0, got {limit_m}")
    fx, fy = _points_m(network, facilities, "the facilities")
    px, py = _points_m(network, points, "the points")
    fac_snaps = snap_points(network, fx, fy, max_snap_m=max_snap_m)
    point_snaps = snap_points(network, px, py, max_snap_m=max_snap_m)
    bound = limit if np.isfinite(limit) else float(network.edge_length_m.sum() + 2 * max_snap_m)
    reach = nearest_sources(network, fac_snaps, limit_m=bound)
    distance, nearest = nearest_point_distances(network, reach, fac_snaps, point_snaps)
    labels = np.asarray(facilities.index, dtype=object)
    facility = pd.Series(
        np.where(nearest >= 0, labels[np.maximum(nearest, 0)] if labels.size else None, None),
        index=points.index,
        dtype=object,
    )
    return pd.DataFrame(
        {
            "distance_m": distance,
            "time_min": WalkModel(speed_mps=speed_mps).time_min(distance),
            "facility": facility.where(nearest >= 0),
        },
        index=points.index,
    )


def service_areas(
    network: WalkNetwork,
    facilities: gpd.GeoDataFrame,
    *,
    reach_m: float,
    off_network_m: float = DEFAULT_OFF_NETWORK_M,
    max_snap_m: float = DEFAULT_MAX_SNAP_M,
) -> gpd.GeoDataFrame:
    """The area each facility serves within a walk of ``reach_m`` metres.

    Built from the street pieces reached (the last ``off_network_m`` walked off the street) and
    the blocks they enclose: rivers and walls stay outside, unlike convex hulls.

    Parameters
    ----------
    network
        The walking network.
    facilities
        GeoDataFrame in any CRS.
    reach_m
        Walking distance in metres (e.g. 15 min at 1 m/s: 900).
    off_network_m
        The largest step off the street.
    max_snap_m
        Facilities farther than this from any street get an empty polygon.

    Returns
    -------
    geopandas.GeoDataFrame
        EPSG:4326 on ``facilities.index``: ``reach_m``, ``area_m2``, ``geometry``.

    Examples
    --------
    >>> net = load_walk_network(sample_path("network.osm.bz2"))
    >>> meals, _ = read_register(sample_path("meal_points.csv"), category="meal_point",
    ...                          crs="bd09")
    >>> areas = service_areas(net, meals.head(3), reach_m=900)
    >>> areas.crs.to_epsg(), bool(areas.index.equals(meals.index[:3]))
    (4326, True)
    >>> bool((areas["area_m2"] < 3.15 * 900**2).all())  # never more than the 900 m disc
    True
    """
    if not reach_m >= 0:
        raise InputError(f"reach_m must be >= 0, got {reach_m}")
    x, y = _points_m(network, facilities, "the facilities")
    snaps = snap_points(network, x, y, max_snap_m=max_snap_m)
    matrix = reach_matrix(network, snaps, max(float(reach_m) - off_network_m, 0.0))
    polygons = facility_polygons(
        network, snaps, matrix, float(reach_m), off_network_m=off_network_m
    )
    return gpd.GeoDataFrame(
        {"reach_m": float(reach_m), "area_m2": shapely.area(polygons)},
        geometry=gpd.GeoSeries(network.to_wgs84(polygons), crs="EPSG:4326", index=facilities.index),
        index=facilities.index,
    )


def _zoned(
    frame: gpd.GeoDataFrame,
    townships: gpd.GeoDataFrame,
    what: str,
    units: Mapping[str, gpd.GeoDataFrame] | None = None,
) -> gpd.GeoDataFrame:
    """``frame`` in WGS-84 with ``township_code`` and ``kind`` (added when missing)."""
    frame = frame_to_wgs84(frame, what)
    needed = ["township_code", "kind", *(f"unit_code__{level}" for level in units or {})]
    if all(column in frame for column in needed):
        return frame
    zones = assign_zones(frame, townships, units=units)
    return frame.assign(**{c: zones[c] for c in zones.columns if c not in frame})


def _with_ids(facilities: gpd.GeoDataFrame) -> gpd.GeoDataFrame:
    """Facilities on a plain index, with a ``facility_id`` (the caller's label when absent)."""
    if "facility_id" not in facilities:
        facilities = facilities.assign(facility_id=facilities.index.astype(str))
    return facilities.reset_index(drop=True)


def _coverage(
    network: WalkNetwork,
    facilities: gpd.GeoDataFrame,
    demand: gpd.GeoDataFrame,
    walk: WalkModel,
    categories: Sequence[str],
):
    return compute_coverage(
        network,
        _with_ids(facilities),
        demand,
        walk,
        categories=list(categories),
        service_areas=False,
    )


def evaluate_targets(
    targets: Sequence[Target | Mapping[str, Any]] | str,
    *,
    townships: gpd.GeoDataFrame,
    facilities: gpd.GeoDataFrame,
    demand: gpd.GeoDataFrame,
    walk: WalkModel | None = None,
    network: WalkNetwork | None = None,
    units: Mapping[str, gpd.GeoDataFrame] | None = None,
    year: int | None = None,
) -> GapReport:
    """Evaluate plan targets per township and for the whole area.

    Parameters
    ----------
    targets
        Parsed targets, plan-file tables (``[{"type": "presence", ...}]``), or a preset name
        (``"gb50180"``; see ``lifecircle presets``).
    townships
        Township polygons with ``code, name, kind`` (any CRS).
    facilities
        Facilities of every category (``category``, ``subtype``, beds …), any CRS; located in
        the townships when they have no ``township_code``.
    demand
        Demand points with ``pop, pop60`` (:func:`read_demand`), any CRS.
    walk
        The walk model (default 1 m/s, 5/10/15 minutes).
    network
        The walking network: needed by service-circle targets (walking times); without it they
        are "not applicable".
    units
        Unit layers below the township by level (``{"village": villages}``).
    year
        Evaluation year (targets may vary by year; default: this year).

    Returns
    -------
    GapReport
        ``rows`` (per township and unit) and ``summary`` (one row per target, area level).

    Examples
    --------
    >>> net = load_walk_network(sample_path("network.osm.bz2"))
    >>> towns = read_townships(sample_path("townships"))
    >>> demand = read_demand(towns, raster=sample_path("population.tif"), seniors_band=2)
    >>> meals, _ = read_register(sample_path("meal_points.csv"), category="meal_point",
    ...                          crs="bd09")
    >>> report = evaluate_targets(
    ...     [{"id": "meal_circle", "type": "service_circle", "category": "meal_point",
    ...       "threshold_min": 15, "population": "pop60", "target_pct": 80}],
    ...     townships=towns, facilities=meals, demand=demand, network=net)
    >>> report.summary[["target_id", "status"]].shape
    (1, 2)
    >>> sorted(set(report.rows["status"]) - {"met", "not_met", "na"})
    []
    """
    import datetime

    walk = walk or WalkModel()
    townships = frame_to_wgs84(townships, "the township layer")
    units = {
        level: frame_to_wgs84(frame, f"the {level} layer") for level, frame in (units or {}).items()
    }
    if isinstance(targets, str):
        parsed = parse_targets([{"preset": targets}], source=targets)
    else:
        raw = [t for t in targets if isinstance(t, Mapping)]
        parsed = [t for t in targets if not isinstance(t, Mapping)]
        if raw:
            parsed += parse_targets([dict(t) for t in raw], source="evaluate_targets")
    facilities = _zoned(facilities, townships, "the facilities", units)
    if "unit_code" not in facilities and units:  # the innermost level a facility lies in
        innermost = pd.Series("", index=facilities.index)
        for level in units:
            code = facilities[f"unit_code__{level}"]
            innermost = innermost.where(code == "", code)
        facilities = facilities.assign(unit_code=innermost)
    demand = _zoned(demand, townships, "the demand points", units)
    coverage = None
    if network is not None:
        categories = sorted(set(facilities["category"].astype(str)))
        given = demand
        coverage = _coverage(network, facilities, given, walk, categories)
        coverage = with_circle_reach(
            coverage, network, _with_ids(facilities), given, walk, parsed
        )  # circles of a subtype or in metres
        demand = coverage.demand
    townships = with_population(townships, demand, "township_code")
    units = {
        level: with_population(frame, demand, f"unit_code__{level}")
        for level, frame in units.items()
    }
    context = EvaluationContext(
        townships=townships,
        units=units,
        facilities=facilities,
        coverage=coverage,
        walk=walk,
        year=year or datetime.date.today().year,
        layers_present=set(facilities["category"].astype(str)),
    )
    return _evaluate_targets(parsed, context)


def site(
    network: WalkNetwork,
    facilities: gpd.GeoDataFrame,
    demand: gpd.GeoDataFrame,
    townships: gpd.GeoDataFrame,
    *,
    category: str,
    p: int | None = None,
    target_share: float | None = None,
    threshold_min: float | Mapping[str, float] = 15.0,
    walk: WalkModel | None = None,
    population: str = "pop60",
    candidates: gpd.GeoDataFrame | None = None,
    **options: Any,
) -> SitingResult:
    """Propose new sites for ``category`` that bring the most uncovered people within reach.

    Parameters
    ----------
    network
        The walking network.
    facilities
        Existing facilities (any CRS); those of ``category`` already cover people.
    demand
        Demand points with ``pop, pop60`` (:func:`read_demand`), any CRS.
    townships
        Township polygons with ``code, name, kind``, any CRS.
    category
        The category to site (``"meal_point"``).
    p
        Number of new sites (maximal covering), or
    target_share
        the share (0–1] of ``population`` to cover: the fewest sites reaching it.
    threshold_min
        Walking minutes within which a cell counts as covered, or minutes by township kind
        (``{"street": 15, "town": 20}``).
    walk
        The walk model (speeds by township kind; default 1 m/s).
    population
        ``"pop60"`` (seniors) or ``"pop"`` (everyone).
    candidates
        Candidate sites (any CRS); default: network nodes in uncovered populated areas.
    **options
        Passed to :func:`lifecircle.coverage.siting.propose_sites` (``min_spacing_m``,
        ``force_presence``, ``exclusions``, ``method``, ``time_limit_s`` …).

    Returns
    -------
    SitingResult
        ``sites`` (ranked, EPSG:4326), the solver's ``objective``, ``bound`` and ``gap``, and
        the covered share before and after.

    Examples
    --------
    >>> net = load_walk_network(sample_path("network.osm.bz2"))
    >>> towns = read_townships(sample_path("townships"))
    >>> demand = read_demand(towns, raster=sample_path("population.tif"), seniors_band=2)
    >>> meals, _ = read_register(sample_path("meal_points.csv"), category="meal_point",
    ...                          crs="bd09")
    >>> result = site(net, meals, demand, towns, category="meal_point", p=3)
    >>> len(result.sites), bool(result.share_after >= result.share_before)
    (3, True)
    """
    walk = walk or WalkModel()
    townships = frame_to_wgs84(townships, "the township layer")
    facilities = _zoned(facilities, townships, "the facilities")
    demand = _zoned(demand, townships, "the demand points")
    coverage = _coverage(network, facilities, demand, walk, [category])
    return propose_sites(
        network,
        coverage.demand,
        facilities.reset_index(drop=True),
        townships,
        category=category,
        threshold_min=threshold_min,
        walk=walk,
        p=p,
        target_share=target_share,
        population=population,
        candidates=None if candidates is None else frame_to_wgs84(candidates, "the candidates"),
        **options,
    )


def run(
    plan: str | Path | Any,
    out: str | Path | None = None,
    *,
    options: Any = None,
    progress: Any = None,
) -> RunResult:
    """Run a whole plan file: coverage, targets, gaps, sites; write the outputs if ``out``.

    Parameters
    ----------
    plan
        A plan file (TOML) or a loaded :class:`~lifecircle.plan.Plan`.
    out
        Output folder (maps, briefing, gaps.csv/xlsx, results.gpkg, run.json), replaced
        atomically; ``None`` computes without writing anything.
    options
        :class:`~lifecircle.pipeline.RunOptions` (language, basemap, siting on/off).
    progress
        ``callable(step, done, total)`` for progress bars; ``step`` is a key such as
        ``"coverage:meal_point"`` (:func:`lifecircle.i18n.progress_text` words it). Steps that
        run beside others (the service areas) report from a helper thread.

    Returns
    -------
    RunResult
        Everything the run computed (``gaps``, ``gap_summary``, ``townships``, ``warnings``,
        ``walk``, ``layer_counts`` …); ``out_dir`` is where it was written.

    Examples
    --------
    >>> result = run(sample_path("plan.toml"))  # doctest: +SKIP
    >>> result.gap_summary[["indicator", "status"]]  # doctest: +SKIP
    """
    from lifecircle.pipeline import RunOptions, run_plan
    from lifecircle.plan import Plan, load_plan

    loaded = plan if isinstance(plan, Plan) else load_plan(plan)
    result, _ = run_plan(
        loaded,
        Path(out) if out is not None else None,
        options=options or RunOptions(),
        progress=progress or (lambda step, done, total: None),
        write=out is not None,
    )
    return result
