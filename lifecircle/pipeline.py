"""A whole run: load and validate inputs, compute coverage, evaluate targets, site, write outputs.

This is the only module that sequences the steps; each step lives in its own module and is
testable on its own. Writes go to a staging folder that replaces the output folder only when
everything succeeded.
"""

from __future__ import annotations

import dataclasses
import hashlib
import logging
import platform
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime
from importlib import metadata
from pathlib import Path
from typing import Any

import geopandas as gpd
import pandas as pd
import pyogrio

from lifecircle.coverage.metrics import CoverageResult, compute_coverage
from lifecircle.coverage.presets import preset_names
from lifecircle.coverage.sensitivity import (
    SensitivityResult,
    evaluate_sensitivity,
    search_limit_m,
)
from lifecircle.coverage.siting import propose_sites, township_access_2sfca
from lifecircle.coverage.targets import (
    EvaluationContext,
    GapReport,
    Target,
    evaluate_targets,
    parse_targets,
)
from lifecircle.coverage.views import kind_service_areas, target_walks, uncovered_cells
from lifecircle.coverage.walk import WalkModel
from lifecircle.errors import InputError, NetworkError
from lifecircle.geo.network import WalkNetwork
from lifecircle.geo.network_audit import audit_network, dropped_ways
from lifecircle.geo.osm import (
    NetworkSpec,
    describe_components,
    load_walk_graph_and_ways,
    node_lonlat,
    townships_without_roads,
)
from lifecircle.geo.population import demand_points
from lifecircle.i18n import has_label, label
from lifecircle.layers.categories import CategoryRegistry, load_registry
from lifecircle.layers.facilities import (
    LayerSpec,
    layer_system_issue,
    locate_facilities,
    read_register,
    with_detected_system,
)
from lifecircle.layers.rejects import concat_rejections
from lifecircle.layers.townships import read_townships
from lifecircle.layers.units import read_units
from lifecircle.output import (
    MARKER,
    claim_output,
    folder_name,
    write_csv,
    write_json,
    write_text_atomic,
)
from lifecircle.plan import Plan, SensitivitySpec
from lifecircle.results import RunResult

log = logging.getLogger(__name__)

ProgressFn = Callable[[str, int, int], None]


def _no_progress(step: str, done: int, total: int) -> None:
    """Default progress sink: report nothing."""


@dataclass(frozen=True)
class RunOptions:
    """Choices made on the command line rather than in the plan file."""

    lang: str | None = None
    offline_map: bool = False
    basemap: str | None = None
    tiles_url: str | None = None
    tianditu_key: str | None = None
    siting: bool = True
    picture_dpi: int = 300
    sensitivity: bool = False  # --sensitivity; a [sensitivity] section in the plan also asks


@dataclass
class Inputs:
    """Everything loaded and validated from a plan's inputs, before any analysis."""

    registry: CategoryRegistry
    townships: gpd.GeoDataFrame
    units: dict[str, gpd.GeoDataFrame]
    network: WalkNetwork
    facilities: gpd.GeoDataFrame
    demand: gpd.GeoDataFrame
    rejected: pd.DataFrame
    warnings: list[str]
    layer_counts: pd.DataFrame
    network_summary: dict[str, Any]
    timings_s: dict[str, float] = field(default_factory=dict)
    network_audit: dict[str, Any] = field(default_factory=dict)
    dropped_ways: gpd.GeoDataFrame | None = None
    outside_facilities: gpd.GeoDataFrame | None = None  # 区外设施: serve, but are not counted

    def serving_facilities(self) -> gpd.GeoDataFrame:
        """The facilities that serve residents: those inside and those just outside the area."""
        return _with_outside(self.facilities, self)


@contextmanager
def _timed(timings: dict[str, float], name: str) -> Iterator[None]:
    start = time.perf_counter()
    yield
    timings[name] = round(time.perf_counter() - start, 3)


def _located(frame: gpd.GeoDataFrame) -> gpd.GeoDataFrame:
    """Rows with a point: register rows kept by 所属街道 alone have none."""
    return frame[frame.geometry.notna() & ~frame.geometry.is_empty]


def _join_zones(
    points: gpd.GeoDataFrame, zones: gpd.GeoDataFrame, columns: dict[str, str]
) -> pd.DataFrame:
    """For each point, the listed columns of the zone containing it (empty where none does)."""
    joined = gpd.sjoin(
        points[["geometry"]], zones[[*columns, "geometry"]], how="left", predicate="within"
    )
    joined = joined[~joined.index.duplicated(keep="first")]
    return joined[list(columns)].rename(columns=columns).reindex(points.index)


def _settle_coordinate_system(
    frame: gpd.GeoDataFrame, layer: LayerSpec, node_lon: Any, node_lat: Any
) -> tuple[gpd.GeoDataFrame, str | None, str | None]:
    """A register's points in the system its ``crs`` declares or the walk network reveals:
    ``(frame, notice, error)`` (see :func:`layer_system_issue`)."""
    valid = _located(frame)
    if not len(valid):
        return frame, None, None
    system, notice, error = layer_system_issue(
        valid.geometry.x.to_numpy(),
        valid.geometry.y.to_numpy(),
        layer.crs,
        node_lon,
        node_lat,
        layer_name=layer.path.name,
        crs_check=layer.crs_check,
    )
    if layer.crs is None and system is not None:
        frame = with_detected_system(frame, system)
    return frame, notice, error


def network_spec_for(plan: Plan, **changes: Any) -> NetworkSpec:
    """The plan's network spec, reaching ``buffer_m`` beyond the study area (default: the
    longest threshold's walking distance), with any field changed (e.g. ``walk_rules``)."""
    buffer_m = plan.network.buffer_m if plan.network.buffer_m is not None \
        else plan.walk.max_reach_m
    return dataclasses.replace(plan.network, buffer_m=buffer_m, **changes)


def load_inputs(plan: Plan, *, progress: ProgressFn = _no_progress) -> Inputs:
    """Read and validate every input the plan names, collecting rejected rows and warnings.

    Raises
    ------
    LifecircleError
        When an input cannot be used at all (missing file, no townships, empty network, ...).
    """
    timings: dict[str, float] = {}
    warnings: list[str] = []
    rejections = []
    registry = load_registry(plan.categories)
    steps = 5
    progress("读取乡镇边界", 0, steps)
    with _timed(timings, "townships"):
        townships, township_rejects, township_warnings = read_townships(
            plan.townships, county_code=plan.study.county_code or None
        )
    rejections.append(township_rejects)
    warnings.extend(township_warnings)
    units: dict[str, gpd.GeoDataFrame] = {}
    for spec in plan.units:
        unit_frame, unit_rejects, unit_warnings = read_units(spec, townships)
        units[spec.level] = unit_frame
        rejections.append(unit_rejects)
        warnings.extend(unit_warnings)

    progress("读取步行路网", 1, steps)
    with _timed(timings, "network"):
        graph, ways = load_walk_graph_and_ways(network_spec_for(plan))
        network = WalkNetwork.from_graph(graph)
        network_audit = audit_network(ways, townships, network, rule_set=plan.network.walk_rules)
    node_lon, node_lat = node_lonlat(graph)
    components = describe_components(graph)
    if components.get("other_components"):
        warnings.append(
            f"路网有 {len(components['other_components'])} 个与主网不连通的部分"
            f"（共 {sum(components['other_components'])} 个节点），其中的设施只服务本部分"
        )
    roadless = townships_without_roads(townships.geometry, node_lon, node_lat)
    if len(roadless) == len(townships):
        raise NetworkError(
            f"the walking network ({plan.network.path or plan.network.place}) has no node inside "
            "any "
            "township: check that the network and the township boundaries cover the same area"
        )
    for index in roadless:
        row = townships.iloc[index]
        warnings.append(
            f"{row['name']}（{row['code']}）内没有步行路网节点：该乡镇的步行覆盖无法计算，"
            "请补充路网或检查边界"
        )

    progress("读取设施登记表", 2, steps)
    with _timed(timings, "registers"):
        frames = []
        counts = []
        crs_errors = []
        for layer in plan.layers:
            frame, rejects = read_register(layer, registry)
            rejections.append(rejects)
            warnings.extend(frame.attrs.get("warnings", []))
            frame, notice, error = _settle_coordinate_system(frame, layer, node_lon, node_lat)
            warnings.extend([notice] if notice else [])
            crs_errors.extend([error] if error else [])
            frames.append(frame)
            counts.append(
                {
                    "layer": layer.path.name,
                    "category": layer.category,
                    "read": len(frame),
                    "rejected_on_read": len(rejects),
                }
            )
        if crs_errors:
            raise InputError("；".join(crs_errors))
        facilities = gpd.GeoDataFrame(pd.concat(frames, ignore_index=True), crs="EPSG:4326")
        facilities, locate_rejects = locate_facilities(
            facilities, townships, units=units, serve_from_outside_m=plan.walk.max_reach_m
        )
        outside = facilities.pop("outside_area").to_numpy(dtype=bool)
        outside_facilities = facilities[outside].reset_index(drop=True)
        facilities = facilities[~outside].reset_index(drop=True)
        rejections.append(locate_rejects)
        warnings.extend(facilities.attrs.get("warnings", []))
    rejected = concat_rejections(rejections)
    layer_counts = pd.DataFrame(counts)
    layer_counts["used"] = [
        int((facilities["source_file"] == row.layer).sum()) for row in layer_counts.itertuples()
    ]
    layer_counts["outside"] = [
        int((outside_facilities["source_file"] == row.layer).sum())
        for row in layer_counts.itertuples()
    ]
    layer_counts["rejected"] = [
        int((rejected["file"] == row.layer).sum()) for row in layer_counts.itertuples()
    ]

    progress("读取人口", 3, steps)
    with _timed(timings, "population"):
        demand, population_warnings = demand_points(
            plan.population, townships, node_lon=node_lon, node_lat=node_lat
        )
    warnings.extend(population_warnings)
    zone = _join_zones(demand, townships, {"code": "township_code", "kind": "kind"})
    demand = demand.assign(
        township_code=zone["township_code"].fillna(""), kind=zone["kind"].fillna("")
    )
    for level, unit_frame in units.items():
        unit_zone = _join_zones(demand, unit_frame, {"code": f"unit_code__{level}"})
        demand[f"unit_code__{level}"] = unit_zone[f"unit_code__{level}"].fillna("")
    progress("输入读取完成", steps, steps)
    return Inputs(
        registry=registry,
        townships=townships,
        units=units,
        network=network,
        facilities=facilities,
        demand=demand,
        rejected=rejected,
        warnings=warnings,
        layer_counts=layer_counts,
        network_summary={
            "nodes": len(network.x),
            "edges": len(network.edge_u),
            **components,
        },
        timings_s=timings,
        network_audit=network_audit,
        dropped_ways=dropped_ways(ways),
        outside_facilities=outside_facilities,
    )


def _population_by_zone(demand: pd.DataFrame, key: str) -> pd.DataFrame:
    return demand.groupby(key)[["pop", "pop60"]].sum()


def _with_population(zones: gpd.GeoDataFrame, demand: pd.DataFrame, key: str) -> gpd.GeoDataFrame:
    totals = _population_by_zone(demand, key)
    zones = zones.copy()
    zones["pop"] = zones["code"].map(totals["pop"]).fillna(0.0)
    zones["pop60"] = zones["code"].map(totals["pop60"]).fillna(0.0)
    return zones


def _with_accessibility(
    townships: gpd.GeoDataFrame,
    inputs: Inputs,
    coverage: CoverageResult,
    walk: WalkModel,
    categories: list[str],
) -> gpd.GeoDataFrame:
    """Add a 2SFCA score per category: beds (or facilities) per 1,000 seniors within reach.

    The catchment is the longest walk threshold of the plan's default walk model.
    """
    townships = townships.copy()
    threshold_min = max(walk.thresholds_min)
    facilities = _located(inputs.serving_facilities())
    for category in categories:
        own = facilities[facilities["category"] == category]
        if own.empty:
            continue
        has_beds = "beds" in own and own["beds"].fillna(0).gt(0).any()
        access = township_access_2sfca(
            inputs.network,
            coverage.demand,
            own,
            category=category,
            threshold_min=threshold_min,
            walk=walk,
            population="pop60",
            supply="beds" if has_beds else None,
        )
        townships[f"access_2sfca__{category}"] = townships["code"].map(
            access.set_index("township_code")["access_2sfca"]
        )
    return townships


def _wide_metrics(townships: gpd.GeoDataFrame, metrics: pd.DataFrame) -> gpd.GeoDataFrame:
    """Add ``share_pop60__<category>__<T>min`` columns (one per category and threshold)."""
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


def _circle_reach(
    inputs: Inputs,
    facilities: gpd.GeoDataFrame,
    coverage: CoverageResult,
    walk: WalkModel,
    targets: list[Target],
) -> CoverageResult:
    """Coverage with the walking times a service circle of some subtypes needs (under
    ``<category>.<subtype>``) and, for circles in metres, distances searched far enough."""
    circles = [t for t in targets if t.type == "service_circle" and t.category]
    far = max((t.max_distance_m or 0.0 for t in circles), default=0.0)
    limit = max(coverage.search_limit_m, far)
    done = coverage.demand.attrs.get("circle_reach_m", {})
    wanted: dict[str, Target] = {}
    for t in circles:
        key, reach = t.coverage_key, t.max_distance_m or 0.0
        if key == t.category and reach <= coverage.search_limit_m:
            continue  # the run's own columns serve it
        if done.get(key, -1.0) < reach:
            wanted.setdefault(key, t)
    if not wanted:
        return coverage
    parts = []
    serving = _with_outside(facilities, inputs)  # 区外设施 serve residents too
    for key, t in wanted.items():
        chosen = serving[serving["category"] == t.category]
        if t.subtype:
            subtypes = chosen["subtype"] if "subtype" in chosen else pd.Series("", chosen.index)
            chosen = chosen[subtypes.fillna("").astype(str).isin(t.subtype)]
        parts.append(chosen.assign(category=key))
    extra = compute_coverage(
        inputs.network,
        gpd.GeoDataFrame(pd.concat(parts, ignore_index=True), crs="EPSG:4326"),
        inputs.demand,
        walk,
        categories=sorted(wanted),
        service_areas=False,
        search_limit_m=limit,
    )
    demand = coverage.demand.copy()
    for key in wanted:
        for column in (f"dist_m__{key}", f"time_min__{key}"):
            demand[column] = extra.demand[column].to_numpy()
    demand.attrs["circle_reach_m"] = {**done, **dict.fromkeys(wanted, limit)}
    return replace(coverage, demand=demand)


def _evaluate(
    plan: Plan,
    inputs: Inputs,
    facilities: gpd.GeoDataFrame,
    coverage: CoverageResult,
    townships: gpd.GeoDataFrame,
    units: dict[str, gpd.GeoDataFrame],
    targets: list[Target] | None = None,
) -> GapReport:
    targets = list(plan.targets) if targets is None else targets
    coverage = _circle_reach(inputs, facilities, coverage, plan.walk, targets)
    context = _context(plan, facilities, coverage, townships, units)
    return evaluate_targets(targets, context)


def _context(
    plan: Plan,
    facilities: gpd.GeoDataFrame,
    coverage: CoverageResult,
    townships: gpd.GeoDataFrame,
    units: dict[str, gpd.GeoDataFrame],
) -> EvaluationContext:
    return EvaluationContext(
        townships=townships,
        units=units,
        facilities=facilities,
        coverage=coverage,
        walk=plan.walk,
        year=plan.study.year,
        district_name=plan.study.name,
        layers_present={layer.category for layer in plan.layers},
    )


def _sensitivity(
    plan: Plan,
    inputs: Inputs,
    coverage: CoverageResult,
    townships: gpd.GeoDataFrame,
    units: dict[str, gpd.GeoDataFrame],
    *,
    progress: ProgressFn,
) -> SensitivityResult | None:
    """Service circles under every rule set x speed of ``[sensitivity]`` (or its defaults).

    The walking distances are searched once per rule set, far enough for the fastest speed; the
    plan's own rule set reuses the run's network (and its distances when they reach as far),
    another rule set loads the network again under its rules.
    """
    spec = plan.sensitivity or SensitivitySpec()
    circles = [t for t in plan.targets if t.type == "service_circle"]
    categories = sorted({t.category for t in circles} & {layer.category for layer in plan.layers})
    if not circles:
        return None
    limit_m = search_limit_m(plan.walk, spec.speeds_mps)
    columns = ["snap_m", *(f"dist_m__{c}" for c in categories)]
    distances: dict[str, pd.DataFrame] = {}
    timings: dict[str, float] = {}
    for i, rules in enumerate(spec.walk_rules):
        progress(f"敏感性分析：{rules}", i, len(spec.walk_rules))
        with _timed(timings, rules):
            own = rules == plan.network.walk_rules
            if own and coverage.search_limit_m >= limit_m:
                distances[rules] = coverage.demand[columns]
                continue
            network = inputs.network
            if not own:
                graph, _ = load_walk_graph_and_ways(network_spec_for(plan, walk_rules=rules))
                network = WalkNetwork.from_graph(graph)
            searched = compute_coverage(
                network,
                inputs.serving_facilities(),
                inputs.demand,
                plan.walk,
                categories=categories,
                service_areas=False,
                search_limit_m=limit_m,
            )
            distances[rules] = searched.demand[columns]
    context = _context(plan, inputs.facilities, coverage, townships, units)
    with _timed(timings, "evaluate"):
        result = evaluate_sensitivity(circles, context, distances, speeds_mps=spec.speeds_mps)
    result.timings_s = timings
    return result


def _coverage_and_zones(
    plan: Plan, inputs: Inputs, *, progress: ProgressFn, service_areas: bool = True
) -> tuple[CoverageResult, gpd.GeoDataFrame, dict[str, gpd.GeoDataFrame]]:
    """Coverage of every category, and townships and units with their population summed."""
    coverage = compute_coverage(
        inputs.network,
        inputs.serving_facilities(),
        inputs.demand,
        plan.walk,
        categories=sorted({layer.category for layer in plan.layers}),
        progress=progress,
        service_areas=service_areas,
    )
    townships = _with_population(inputs.townships, coverage.demand, "township_code")
    units = {
        level: _with_population(frame, coverage.demand, f"unit_code__{level}")
        for level, frame in inputs.units.items()
    }
    return coverage, townships, units


def evaluate_presets(
    plan: Plan, inputs: Inputs, *, progress: ProgressFn = _no_progress
) -> pd.DataFrame:
    """Evaluate every shipped preset on a plan's data (its own targets are ignored).

    Returns one row per preset target: ``preset, target_id, indicator, document, value,
    target_value, unit, status, status_zh, note`` (area level), so a planner sees at once which
    indicators of each plan the district meets and which need data it did not give.
    """
    coverage, townships, units = _coverage_and_zones(
        plan, inputs, progress=progress, service_areas=False
    )
    frames = []
    presets = {name: parse_targets([{"preset": name}], source=name) for name in preset_names()}
    # the subtype circles of every preset in one search
    coverage = _circle_reach(inputs, inputs.facilities, coverage, plan.walk,
                             [t for targets in presets.values() for t in targets])
    for name, targets in presets.items():
        report = _evaluate(plan, inputs, inputs.facilities, coverage, townships, units, targets)
        frames.append(report.summary.assign(preset=name))
    columns = [
        "preset",
        "target_id",
        "indicator",
        "document",
        "value",
        "target_value",
        "unit",
        "status",
        "status_zh",
        "note",
    ]
    return pd.concat(frames, ignore_index=True)[columns]


def _with_outside(facilities: gpd.GeoDataFrame, inputs: Inputs) -> gpd.GeoDataFrame:
    """``facilities`` plus the 区外设施 that serve residents from outside the area."""
    outside = inputs.outside_facilities
    if outside is None or outside.empty:
        return facilities
    return gpd.GeoDataFrame(pd.concat([facilities, outside], ignore_index=True), crs="EPSG:4326")


def _site(
    plan: Plan,
    inputs: Inputs,
    coverage: CoverageResult,
    townships: gpd.GeoDataFrame,
    units: dict[str, gpd.GeoDataFrame],
    report: GapReport,
    *,
    progress: ProgressFn,
) -> tuple[gpd.GeoDataFrame | None, dict[str, dict[str, Any]], pd.DataFrame | None]:
    """Propose sites for each [siting] entry and re-evaluate the targets with them added."""
    if not plan.siting:
        return None, {}, None
    all_sites = []
    summaries: dict[str, dict[str, Any]] = {}
    facilities = inputs.facilities
    for spec in plan.siting:
        result = propose_sites(
            inputs.network,
            coverage.demand,
            _with_outside(facilities, inputs),
            townships,
            category=spec.category,
            threshold_min=spec.threshold_min,
            walk=plan.walk,
            p=spec.p,
            target_share=spec.target_share,
            population=spec.population,
            min_spacing_m=spec.min_spacing_m,
            force_presence=spec.force_presence,
            candidates=gpd.read_file(spec.candidates) if spec.candidates else None,
            exclusions=gpd.read_file(spec.exclusions) if spec.exclusions else None,
            progress=progress,
        )
        sites = result.sites
        all_sites.append(sites)
        summaries[spec.category] = {
            "method": result.method,
            "objective": result.objective,
            "bound": result.bound,
            "gap": result.gap,
            "status": result.status,
            "sites": len(sites),
            "candidates": result.candidates_count,
            "covered_before": result.covered_before,
            "covered_after": result.covered_after,
            "share_before": result.share_before,
            "share_after": result.share_after,
            "unfilled_townships": list(result.unfilled_townships),
        }
        proposed = gpd.GeoDataFrame(
            {
                "facility_id": [f"proposed:{spec.category}:{r}" for r in sites["rank"]],
                "category": spec.category,
                "subtype": "",
                "name": [f"拟建 #{r}" for r in sites["rank"]],
                "township_code": sites["township_code"],
                "township_name": sites["township_name"],
                "layer": "proposed",
                "geometry": sites.geometry,
            },
            crs="EPSG:4326",
        )
        facilities = pd.concat([facilities, proposed], ignore_index=True)
    sites = gpd.GeoDataFrame(pd.concat(all_sites, ignore_index=True), crs="EPSG:4326")
    facilities = gpd.GeoDataFrame(facilities, crs="EPSG:4326")
    after_coverage = compute_coverage(
        inputs.network,
        _with_outside(facilities, inputs),
        inputs.demand,
        plan.walk,
        categories=sorted({layer.category for layer in plan.layers}),
        service_areas=False,  # the before/after table needs times, not polygons
    )
    after = _evaluate(plan, inputs, facilities, after_coverage, townships, units)
    before_after = report.summary[
        ["target_id", "indicator", "value", "target_value", "status"]
    ].merge(
        after.summary[["target_id", "value", "status"]],
        on="target_id",
        suffixes=("_before", "_after"),
    )
    return sites, summaries, before_after


def _file_record(path: Path) -> dict[str, Any]:
    digest = hashlib.sha256(path.read_bytes()).hexdigest()
    stat = path.stat()
    modified = datetime.fromtimestamp(stat.st_mtime, tz=UTC).isoformat(timespec="seconds")
    return {"path": str(path), "bytes": stat.st_size, "sha256": digest, "modified": modified}


def _versions() -> dict[str, str]:
    names = [
        "lifecircle",
        "numpy",
        "scipy",
        "pandas",
        "geopandas",
        "shapely",
        "pyogrio",
        "pyproj",
        "osmnx",
        "networkx",
        "rasterio",
        "folium",
        "highspy",
    ]
    versions = {"python": platform.python_version()}
    for name in names:
        try:
            versions[name] = metadata.version(name)
        except metadata.PackageNotFoundError:
            versions[name] = "not installed"
    return versions


def _walk_record(walk: WalkModel) -> dict[str, Any]:
    return {
        "speed_mps": walk.speed_mps,
        "thresholds_min": list(walk.thresholds_min),
        "max_snap_m": walk.max_snap_m,
        "by_kind": {
            k: {"speed_mps": v.speed_mps, "thresholds_min": list(v.thresholds_min), "mode": v.mode}
            for k, v in walk.by_kind.items()
        },
    }


def _with_point_audit(
    audit: dict[str, Any], inputs: Inputs, coverage: CoverageResult, walk: WalkModel
) -> dict[str, Any]:
    """The network audit plus the facilities and residents farther than ``max_snap_m`` from any
    walkable way (they are left out of walking coverage), and the 区外设施 count."""
    demand = coverage.demand
    far = ~(demand["snap_m"].to_numpy(dtype=float) <= walk.max_snap_m)
    unsnapped = coverage.unsnapped
    return {
        **audit,
        "max_snap_m": walk.max_snap_m,
        "facilities_far_from_roads": [
            {"facility_id": str(r.facility_id), "category": str(r.category),
             "distance_m": round(float(r.distance_m), 1)}
            for r in unsnapped.itertuples()
        ],
        "cells_far_from_roads": int(far.sum()),
        "pop_far_from_roads": round(float(demand.loc[far, "pop"].sum()), 1),
        "pop60_far_from_roads": round(float(demand.loc[far, "pop60"].sum()), 1),
        "outside_facilities": 0 if inputs.outside_facilities is None
        else len(inputs.outside_facilities),
    }


def analyse(
    plan: Plan,
    inputs: Inputs,
    *,
    options: RunOptions = RunOptions(),
    progress: ProgressFn = _no_progress,
) -> RunResult:
    """Compute coverage, targets and sites for loaded inputs (no file is written)."""
    timings = dict(inputs.timings_s)
    categories = sorted({layer.category for layer in plan.layers})
    with _timed(timings, "coverage"):
        coverage, townships, units = _coverage_and_zones(plan, inputs, progress=progress)
    with _timed(timings, "accessibility"):
        townships = _with_accessibility(townships, inputs, coverage, plan.walk, categories)
    with _timed(timings, "targets"):
        report = _evaluate(plan, inputs, inputs.facilities, coverage, townships, units)
    with _timed(timings, "map layers"):
        kinds = sorted(set(townships["kind"].dropna().astype(str)))
        walks = target_walks(report.rows, plan.walk, kinds)
        walk_areas = kind_service_areas(coverage.service_areas, townships, walks)
        walk_uncovered = uncovered_cells(coverage.demand, walks)
    sites, siting, before_after = None, {}, None
    if options.siting:
        with _timed(timings, "siting"):
            sites, siting, before_after = _site(
                plan, inputs, coverage, townships, units, report, progress=progress
            )
    sensitivity = None
    if options.sensitivity or plan.sensitivity is not None:
        with _timed(timings, "sensitivity"):
            sensitivity = _sensitivity(plan, inputs, coverage, townships, units, progress=progress)
    unsnapped = coverage.unsnapped
    warnings = list(inputs.warnings)
    if len(unsnapped):
        warnings.append(
            f"{len(unsnapped)} 个设施距路网超过 {plan.walk.max_snap_m:g} 米，未计入步行覆盖："
            + "、".join(unsnapped["facility_id"].astype(str).head(20))
        )
    run_info = {
        "created": datetime.now().astimezone().isoformat(timespec="seconds"),
        "study": plan.study.name,
        "plan": str(plan.path),
        "year": plan.study.year,
        "inputs": [_file_record(p) for p in plan.input_paths()],
        "walk": _walk_record(plan.walk),
        "categories": categories,
        "targets": len(plan.targets),
        "network": inputs.network_summary,
        "network_audit": _with_point_audit(inputs.network_audit, inputs, coverage, plan.walk),
        "layers": inputs.layer_counts.to_dict("records"),
        "demand_cells": len(inputs.demand),
        "population": {
            "pop": float(inputs.demand["pop"].sum()),
            "pop60": float(inputs.demand["pop60"].sum()),
        },
        "rejected_rows": len(inputs.rejected),
        "warnings": warnings,
        "siting": siting,
        "sensitivity": sensitivity.as_record() if sensitivity is not None else None,
        "versions": _versions(),
        "timings_s": timings,
    }
    return RunResult(
        study_name=plan.study.name,
        lang=options.lang or plan.study.lang,
        townships=_wide_metrics(townships, coverage.township_metrics),
        facilities=inputs.facilities,
        categories={key: inputs.registry[key].as_dict() for key in categories},
        service_areas=coverage.service_areas,
        uncovered=coverage.uncovered,
        township_metrics=coverage.township_metrics,
        gaps=report.rows,
        gap_summary=report.summary,
        rejected=inputs.rejected,
        units=units,
        proposed_sites=sites,
        siting=siting,
        before_after=before_after,
        run_info=run_info,
        target_walks=walks,
        walk_areas=walk_areas,
        walk_uncovered=walk_uncovered,
        outside_facilities=inputs.outside_facilities,
        network_audit=run_info["network_audit"],
        dropped_ways=inputs.dropped_ways,
        sensitivity=sensitivity,
    )


def _gpkg_ready(frame: pd.DataFrame) -> pd.DataFrame:
    """GeoPackage columns must be plain types: object columns become text."""
    frame = frame.copy()
    for column in frame.columns:
        if column != "geometry" and frame[column].dtype == object:
            frame[column] = frame[column].map(lambda v: "" if v is None else str(v))
    return frame


def _outside_table(outside: gpd.GeoDataFrame, lang: str) -> pd.DataFrame:
    """区外设施: facilities just outside the area that serve residents inside, one row each."""
    table = pd.DataFrame({
        "facility_id": outside["facility_id"],
        "category": outside["category"],
        "name": outside["name"],
        "lon": outside.geometry.x.round(6),
        "lat": outside.geometry.y.round(6),
        "file": outside["source_file"],
        "row": outside["source_row"],
        "note": "区外设施：服务区内居民，不计入乡镇设施数量"
        if lang == "zh"
        else "outside the area: serves residents inside, not counted for any township",
    })
    if lang == "zh":
        table = table.rename(columns={"facility_id": "设施编号", "category": "类别", "name": "名称",
                                      "lon": "经度", "lat": "纬度", "file": "文件", "row": "行号",
                                      "note": "说明"})
    return table


def write_results_gpkg(result: RunResult, path: Path, gaps_layer: gpd.GeoDataFrame) -> None:
    """Write every spatial result (and the rejected rows as a table) into one GeoPackage."""
    layers: dict[str, pd.DataFrame] = {
        "townships": result.townships,
        "facilities": result.facilities,
        "service_areas": result.service_areas,
        "uncovered": result.uncovered,
        "gaps": gaps_layer,
    }
    for level, frame in result.units.items():
        layers[f"units_{level}"] = frame
    if result.proposed_sites is not None and len(result.proposed_sites):
        layers["proposed_sites"] = result.proposed_sites
    layers["outside_facilities"] = result.outside_facilities
    layers["dropped_ways"] = result.dropped_ways
    for name, frame in layers.items():
        if frame is None or len(frame) == 0:
            continue
        _gpkg_ready(frame).to_file(path, layer=name, driver="GPKG", engine="pyogrio")
    pyogrio.write_dataframe(_gpkg_ready(result.rejected), path, layer="rejected", driver="GPKG")


def write_outputs(
    result: RunResult,
    folder: Path,
    *,
    plan: Plan,
    options: RunOptions,
    progress: ProgressFn = _no_progress,
) -> None:
    """Write every output file into ``folder`` (a staging folder; see :func:`run_plan`)."""
    from lifecircle import report as gap_report
    from lifecircle.maps import briefing, static, webmap
    from lifecircle.maps.tables import before_after_table, site_records, township_page_name

    lang = result.lang
    steps = 5
    progress("写出差距报告", 0, steps)
    gap = GapReport(rows=result.gaps, summary=result.gap_summary)
    gap_report.write_gaps_csv(gap, folder / "gaps.csv", lang=lang)
    gap_report.write_gaps_xlsx(gap, folder / "gaps.xlsx", lang=lang, sensitivity=result.sensitivity)
    headers = {c: label(f"rej_{c}", lang) for c in result.rejected.columns if has_label(f"rej_{c}")}
    write_csv(result.rejected.rename(columns=headers), folder / "rejected.csv")
    if result.outside_facilities is not None and len(result.outside_facilities):
        outside = _outside_table(result.outside_facilities, lang)
        write_csv(outside, folder / "outside_facilities.csv")
    if result.before_after is not None:
        write_csv(before_after_table(result.before_after, lang),
                  folder / "siting_before_after.csv")
    if result.proposed_sites is not None:
        write_csv(site_records(result, result.proposed_sites, lang),
                  folder / "proposed_sites.csv")

    progress("写出 GeoPackage", 1, steps)
    write_results_gpkg(
        result,
        folder / "results.gpkg",
        gap_report.gaps_layer(gap, result.townships, units=result.units),
    )

    map_options = {
        "basemap": options.basemap or plan.maps.basemap,
        "offline": options.offline_map or plan.maps.offline,
        "tiles_url": options.tiles_url or plan.maps.tiles_url,
        "tianditu_key": options.tianditu_key or plan.maps.tianditu_key,
        "lang": lang,
    }
    progress("绘制总览地图", 2, steps)
    write_text_atomic(
        folder / "overview.html", webmap.render_html(webmap.overview_map(result, **map_options))
    )
    codes = list(result.townships["code"])
    stems = {
        code: township_page_name(code, name).removesuffix(".html")
        for code, name in zip(codes, result.townships["name"], strict=True)
    }
    for i, code in enumerate(codes):
        progress("绘制乡镇地图", i, len(codes))
        html = webmap.render_html(webmap.township_map(result, code, **map_options))
        write_text_atomic(folder / "townships" / f"{stems[code]}.html", html)
    progress("绘制打印版地图图片", 3, steps)
    pictures = static.write_static_maps(
        result, folder, lang=lang, dpi=options.picture_dpi, stems=stems
    )
    progress("写出简报", 4, steps)
    links = {"overview": "overview.html"} | {
        code: f"townships/{stem}.html" for code, stem in stems.items()
    }
    write_text_atomic(
        folder / "briefing.html",
        briefing.render_briefing(
            result,
            lang=lang,
            pictures={key: picture.screen_png for key, picture in pictures.items()},
            links=links,
        ),
    )
    write_json(folder / "run.json", result.run_info)
    progress("完成", steps, steps)


def default_out_dir_name(study_name: str) -> str:
    """The folder name a study's outputs get: its name, made safe for the file system."""
    return folder_name(study_name)


def default_out_dir(plan: Plan) -> Path:
    """``out/<study name>/`` under the current folder."""
    return Path("out") / default_out_dir_name(plan.study.name)


def run_plan(
    plan: Plan,
    out_dir: Path | None = None,
    *,
    options: RunOptions = RunOptions(),
    progress: ProgressFn = _no_progress,
) -> tuple[RunResult, Path]:
    """Run a whole plan and write its outputs atomically; return the result and output folder."""
    out_dir = Path(out_dir) if out_dir else default_out_dir(plan)
    started = time.perf_counter()
    # The output folder is checked and locked before any work (see lifecircle.output).
    with claim_output(out_dir, protect=[plan.path, *plan.input_paths()]) as target:
        inputs = load_inputs(plan, progress=progress)
        result = analyse(plan, inputs, options=options, progress=progress)
        with target.staged() as stage:
            write_start = time.perf_counter()
            write_outputs(result, stage, plan=plan, options=options, progress=progress)
            result.run_info["timings_s"]["write"] = round(time.perf_counter() - write_start, 3)
            result.run_info["timings_s"]["total"] = round(time.perf_counter() - started, 3)
            result.run_info["outputs"] = sorted(
                p.relative_to(stage).as_posix()
                for p in stage.rglob("*")
                if p.is_file() and p.name != MARKER
            )
            write_json(stage / "run.json", result.run_info)
    return result, out_dir
