"""A whole run: load and validate inputs, compute coverage, evaluate targets, site, write outputs.

This is the only module that sequences the steps; each step lives in its own module and is
testable on its own (zone joins in ``layers.zones``, coverage and 2SFCA in ``coverage``, siting in
``coverage.siting``, files in ``output`` and ``report``, maps in ``maps``). Writes go to a staging
folder that replaces the output folder only when everything succeeded.

Warnings travel one way: every loader returns ``(frame, rejected, warnings)`` and the pipeline
collects the lists into :attr:`RunResult.warnings`, each message once.
"""

from __future__ import annotations

import dataclasses
import logging
import platform
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any

import geopandas as gpd
import pandas as pd

from lifecircle.coverage.access import township_access
from lifecircle.coverage.metrics import (
    CoverageResult,
    compute_coverage,
    wide_shares,
    with_categories,
    with_circle_reach,
    with_service_areas,
)
from lifecircle.coverage.presets import preset_names
from lifecircle.coverage.sensitivity import (
    SensitivityResult,
    evaluate_sensitivity,
    search_limit_m,
)
from lifecircle.coverage.siting import propose_sites
from lifecircle.coverage.targets import (
    EvaluationContext,
    GapReport,
    Target,
    evaluate_targets,
    parse_targets,
)
from lifecircle.coverage.views import (
    kind_service_areas,
    overview_cells,
    target_walks,
    uncovered_cells,
)
from lifecircle.coverage.walk import WalkModel
from lifecircle.errors import InputError, NetworkError
from lifecircle.geo.cache import load_walk_network
from lifecircle.geo.network import WalkNetwork
from lifecircle.geo.network_audit import audit_network, dropped_ways
from lifecircle.geo.osm import NetworkSpec, townships_without_roads
from lifecircle.geo.population import demand_points
from lifecircle.i18n import has_label, label
from lifecircle.layers.categories import CategoryRegistry, load_registry
from lifecircle.layers.facilities import (
    LayerSpec,
    layer_system_issue,
    locate_facilities,
    read_register,
    unique_layer_keys,
    with_detected_system,
)
from lifecircle.layers.rejects import concat_rejections
from lifecircle.layers.townships import read_townships
from lifecircle.layers.units import read_units
from lifecircle.layers.zones import assign_zones, with_population
from lifecircle.output import (
    MARKER,
    claim_output,
    file_record,
    folder_name,
    package_versions,
    write_csv,
    write_gpkg,
    write_json,
    write_text_atomic,
)
from lifecircle.parallel import default_workers, fork_map
from lifecircle.plan import Plan, SensitivitySpec
from lifecircle.results import NetworkSummary, RunResult

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
    network_summary: NetworkSummary
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


class _WarningList(logging.Handler):
    """Adds warnings logged by steps that do not return theirs (network files, solvers, maps).

    Only records of the thread that runs this plan: another plan may run in another thread.
    """

    def __init__(self, into: list[str]) -> None:
        super().__init__(logging.WARNING)
        self.into = into
        self.thread = threading.get_ident()

    def emit(self, record: logging.LogRecord) -> None:
        message = record.getMessage()
        if record.thread == self.thread and message not in self.into:
            self.into.append(message)


@contextmanager
def _collecting_logged_warnings(into: list[str]) -> Iterator[None]:
    logger = logging.getLogger("lifecircle")
    handler = _WarningList(into)
    logger.addHandler(handler)
    try:
        yield
    finally:
        logger.removeHandler(handler)


def _add(warnings: list[str], new: list[str]) -> None:
    """Append the messages not already in ``warnings`` (each is reported once)."""
    for message in new:
        if message not in warnings:
            warnings.append(message)


def _settle_coordinate_system(
    frame: gpd.GeoDataFrame, layer: LayerSpec, node_lon: Any, node_lat: Any
) -> tuple[gpd.GeoDataFrame, str | None, str | None]:
    """A register's points in the system its ``crs`` declares or the walk network reveals:
    ``(frame, notice, error)`` (see :func:`layer_system_issue`)."""
    valid = frame[frame.geometry.notna() & ~frame.geometry.is_empty]
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
    buffer_m = plan.network.buffer_m if plan.network.buffer_m is not None else plan.walk.max_reach_m
    return dataclasses.replace(plan.network, buffer_m=buffer_m, **changes)


def _load_registers(
    plan: Plan,
    registry: CategoryRegistry,
    townships: gpd.GeoDataFrame,
    units: dict[str, gpd.GeoDataFrame],
    network: WalkNetwork,
    warnings: list[str],
    rejections: list[pd.DataFrame],
) -> tuple[gpd.GeoDataFrame, gpd.GeoDataFrame, pd.DataFrame]:
    """Read every register, settle its coordinate system against the network, locate the rows.

    Returns the facilities inside the townships, the 区外设施 (outside, within the longest walk:
    they serve residents inside) and the per-register counts.
    """
    node_lon, node_lat = network.lonlat
    frames, counts, crs_errors = [], [], []
    for key, layer in zip(unique_layer_keys(plan.layers), plan.layers, strict=True):
        frame, rejects, layer_warnings = read_register(
            dataclasses.replace(layer, key=key), registry
        )
        rejections.append(rejects)
        _add(warnings, layer_warnings)
        frame, notice, error = _settle_coordinate_system(frame, layer, node_lon, node_lat)
        _add(warnings, [notice] if notice else [])
        crs_errors.extend([error] if error else [])
        frames.append(frame)
        counts.append(
            {
                "layer": key,
                "file": layer.path.name,
                "category": layer.category,
                "read": len(frame),
                "rejected_on_read": len(rejects),
            }
        )
    if crs_errors:
        raise InputError("；".join(crs_errors))
    facilities = gpd.GeoDataFrame(pd.concat(frames, ignore_index=True), crs="EPSG:4326")
    facilities, locate_rejects, locate_warnings = locate_facilities(
        facilities, townships, units=units, serve_from_outside_m=plan.walk.max_reach_m
    )
    rejections.append(locate_rejects)
    _add(warnings, locate_warnings)
    outside = facilities.pop("outside_area").to_numpy(dtype=bool)
    outside_facilities = facilities[outside].reset_index(drop=True)
    facilities = facilities[~outside].reset_index(drop=True)
    layer_counts = pd.DataFrame(counts)
    for column, frame in (("used", facilities), ("outside", outside_facilities)):
        layer_counts[column] = layer_counts["layer"].map(frame["layer"].value_counts())
        layer_counts[column] = layer_counts[column].fillna(0).astype(int)
    return facilities, outside_facilities, layer_counts


def _check_network_covers(
    network: WalkNetwork, parts: dict, townships: gpd.GeoDataFrame, plan: Plan, warnings: list[str]
) -> None:
    if parts["other_components"]:
        _add(
            warnings,
            [
                f"路网有 {len(parts['other_components'])} 个与主网不连通的部分"
                f"（共 {sum(parts['other_components'])} 个节点），其中的设施只服务本部分"
            ],
        )
    roadless = townships_without_roads(townships.geometry, *network.lonlat)
    if len(roadless) == len(townships):
        raise NetworkError(
            f"the walking network ({plan.network.path or plan.network.place}) has no node inside "
            "any township: check that the network and the township boundaries cover the same area"
        )
    for index in roadless:
        row = townships.iloc[index]
        _add(
            warnings,
            [
                f"{row['name']}（{row['code']}）内没有步行路网节点：该乡镇的步行覆盖无法计算，"
                "请补充路网或检查边界"
            ],
        )


def load_inputs(plan: Plan, *, progress: ProgressFn = _no_progress) -> Inputs:
    """Read and validate every input the plan names, collecting rejected rows and warnings.

    Raises
    ------
    LifecircleError
        When an input cannot be used at all (missing file, no townships, empty network, ...).
    """
    timings: dict[str, float] = {}
    warnings: list[str] = []
    rejections: list[pd.DataFrame] = []
    registry = load_registry(plan.categories)
    steps = 5
    progress("townships", 0, steps)
    with _timed(timings, "townships"):
        townships, township_rejects, township_warnings = read_townships(
            plan.townships, county_code=plan.study.county_code or None
        )
    rejections.append(township_rejects)
    _add(warnings, township_warnings)
    units: dict[str, gpd.GeoDataFrame] = {}
    for spec in plan.units:
        unit_frame, unit_rejects, unit_warnings = read_units(spec, townships)
        units[spec.level] = unit_frame
        rejections.append(unit_rejects)
        _add(warnings, unit_warnings)

    progress("network", 1, steps)
    with _timed(timings, "network"), _collecting_logged_warnings(warnings):
        loaded = load_walk_network(network_spec_for(plan))
        network = loaded.network
        network_audit = audit_network(
            loaded.ways, townships, network, rule_set=plan.network.walk_rules
        )
    parts = network.describe_components()
    _check_network_covers(network, parts, townships, plan, warnings)

    progress("registers", 2, steps)
    with _timed(timings, "registers"):
        facilities, outside_facilities, layer_counts = _load_registers(
            plan, registry, townships, units, network, warnings, rejections
        )
    rejected = concat_rejections(rejections)
    layer_counts["rejected"] = layer_counts["layer"].map(rejected["layer"].value_counts())
    layer_counts["rejected"] = layer_counts["rejected"].fillna(0).astype(int)

    progress("population", 3, steps)
    with _timed(timings, "population"):
        demand, population_warnings = demand_points(
            plan.population, townships, node_lon=network.lonlat[0], node_lat=network.lonlat[1]
        )
    _add(warnings, population_warnings)
    zones = assign_zones(demand, townships, units=units)
    demand = demand.assign(**{column: zones[column] for column in zones.columns})
    progress("inputs_done", steps, steps)
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
        network_summary=NetworkSummary(
            nodes=network.n_nodes,
            edges=network.n_edges,
            components=parts["components"],
            main_component_nodes=parts["main_component_nodes"],
            other_components=tuple(parts["other_components"]),
            cache=loaded.cache,
        ),
        timings_s=timings,
        network_audit=network_audit,
        dropped_ways=dropped_ways(loaded.ways),
        outside_facilities=outside_facilities,
    )


def _categories(plan: Plan) -> list[str]:
    return sorted({layer.category for layer in plan.layers})


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
    coverage = with_circle_reach(
        coverage,
        inputs.network,
        _with_outside(facilities, inputs),
        inputs.demand,
        plan.walk,
        targets,
    )
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
        progress(f"sensitivity:{rules}", i, len(spec.walk_rules))
        with _timed(timings, rules):
            own = rules == plan.network.walk_rules
            if own and coverage.search_limit_m >= limit_m:
                distances[rules] = coverage.demand[columns]
                continue
            network = inputs.network
            if not own:
                network = load_walk_network(network_spec_for(plan, walk_rules=rules)).network
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
    plan: Plan, inputs: Inputs, *, progress: ProgressFn
) -> tuple[CoverageResult, gpd.GeoDataFrame, dict[str, gpd.GeoDataFrame]]:
    """Coverage of every category (times, no polygons: :func:`with_service_areas` adds those
    the maps need), and townships and units with their population summed."""
    coverage = compute_coverage(
        inputs.network,
        inputs.serving_facilities(),
        inputs.demand,
        plan.walk,
        categories=_categories(plan),
        progress=progress,
        service_areas=False,
        workers=default_workers(),
    )
    townships = with_population(inputs.townships, coverage.demand, "township_code")
    units = {
        level: with_population(frame, coverage.demand, f"unit_code__{level}")
        for level, frame in inputs.units.items()
    }
    return coverage, townships, units


_PRESET_COLUMNS = [
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


def evaluate_presets(
    plan: Plan, inputs: Inputs, *, progress: ProgressFn = _no_progress
) -> pd.DataFrame:
    """Evaluate every shipped preset on a plan's data (its own targets are ignored).

    Returns one row per preset target: ``preset, target_id, indicator, document, value,
    target_value, unit, status, status_zh, note`` (area level), so a planner sees at once which
    indicators of each plan the district meets and which need data it did not give.
    """
    coverage, townships, units = _coverage_and_zones(plan, inputs, progress=progress)
    frames = []
    presets = {name: parse_targets([{"preset": name}], source=name) for name in preset_names()}
    # the subtype circles of every preset in one search
    coverage = with_circle_reach(
        coverage,
        inputs.network,
        inputs.serving_facilities(),
        inputs.demand,
        plan.walk,
        [t for targets in presets.values() for t in targets],
    )
    for name, targets in presets.items():
        report = _evaluate(plan, inputs, inputs.facilities, coverage, townships, units, targets)
        frames.append(report.summary.assign(preset=name))
    return pd.concat(frames, ignore_index=True)[_PRESET_COLUMNS]


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
    warnings: list[str],
    *,
    progress: ProgressFn,
) -> tuple[gpd.GeoDataFrame | None, dict[str, dict], pd.DataFrame | None]:
    """Propose sites for each [siting] entry and re-evaluate the targets with them added."""
    if not plan.siting:
        return None, {}, None
    results = []
    for spec in plan.siting:
        result = propose_sites(
            inputs.network,
            coverage.demand,
            inputs.serving_facilities(),
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
        _add(warnings, result.warnings)
        results.append(result)
    sites = gpd.GeoDataFrame(
        pd.concat([r.sites for r in results], ignore_index=True), crs="EPSG:4326"
    )
    with_new = gpd.GeoDataFrame(
        pd.concat([inputs.facilities, *(r.as_facilities() for r in results)], ignore_index=True),
        crs="EPSG:4326",
    )
    # only the sited categories change: the rest of the coverage is reused
    after_coverage = with_categories(
        coverage,
        compute_coverage(
            inputs.network,
            _with_outside(with_new, inputs),
            inputs.demand,
            plan.walk,
            categories=[r.category for r in results],
            service_areas=False,  # the before/after table needs times, not polygons
            demand_snaps=coverage.demand_snaps,
        ),
    )
    after = _evaluate(plan, inputs, with_new, after_coverage, townships, units)
    before_after = report.summary[
        ["target_id", "indicator", "value", "target_value", "status"]
    ].merge(
        after.summary[["target_id", "value", "status"]],
        on="target_id",
        suffixes=("_before", "_after"),
    )
    return sites, {r.category: r.summary() for r in results}, before_after


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
            {
                "facility_id": str(r.facility_id),
                "category": str(r.category),
                "distance_m": round(float(r.distance_m), 1),
            }
            for r in unsnapped.itertuples()
        ],
        "cells_far_from_roads": int(far.sum()),
        "pop_far_from_roads": round(float(demand.loc[far, "pop"].sum()), 1),
        "pop60_far_from_roads": round(float(demand.loc[far, "pop60"].sum()), 1),
        "outside_facilities": 0
        if inputs.outside_facilities is None
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
    warnings = list(inputs.warnings)
    categories = _categories(plan)
    with _timed(timings, "coverage"):
        coverage, townships, units = _coverage_and_zones(plan, inputs, progress=progress)
    with _timed(timings, "targets"):
        report = _evaluate(plan, inputs, inputs.facilities, coverage, townships, units)
    unsnapped = coverage.unsnapped
    if len(unsnapped):
        _add(
            warnings,
            [
                f"{len(unsnapped)} 个设施距路网超过 {plan.walk.max_snap_m:g} 米，未计入步行覆盖："
                + "、".join(unsnapped["facility_id"].astype(str).head(20))
            ],
        )
    kinds = sorted(set(townships["kind"].dropna().astype(str)))
    walks = target_walks(report.rows, plan.walk, kinds)
    side: dict[str, Any] = {"siting": (None, {}, None)}

    def meanwhile() -> None:
        # On the spare core while the workers build the service areas (needs none of them;
        # no target reads the 2SFCA scores, which go to the township layer and maps).
        with _timed(timings, "accessibility"):
            side["townships"] = township_access(
                inputs.network,
                coverage.demand,
                inputs.serving_facilities(),
                townships,
                categories=categories,
                walk=plan.walk,
                cell_snaps=coverage.demand_snaps,
            )
        with _timed(timings, "map layers"):
            side["uncovered"] = uncovered_cells(coverage.demand, walks)
            side["overview"] = overview_cells(side["uncovered"])
        if options.siting:
            with _timed(timings, "siting"), _collecting_logged_warnings(warnings):
                side["siting"] = _site(
                    plan, inputs, coverage, townships, units, report, warnings, progress=progress
                )

    with _timed(timings, "service areas"):
        workers = default_workers()
        walk_areas = kind_service_areas(
            coverage,
            inputs.network,
            townships,
            walks,
            workers=workers,
            meanwhile=meanwhile,
            progress=lambda done, total: progress("service_areas", done, total),
        )
        if plan.maps.service_areas == "all":
            every = [(c, t) for c in categories for t in plan.walk.all_thresholds_min]
            coverage = with_service_areas(coverage, inputs.network, every, workers=workers)
    townships = side["townships"]
    walk_uncovered = side["uncovered"]
    overview_uncovered, overview_block_m = side["overview"]
    sites, siting, before_after = side["siting"]
    sensitivity = None
    if options.sensitivity or plan.sensitivity is not None:
        with _timed(timings, "sensitivity"):
            sensitivity = _sensitivity(plan, inputs, coverage, townships, units, progress=progress)
    run_info = {
        "created": datetime.now().astimezone().isoformat(timespec="seconds"),
        "study": plan.study.name,
        "plan": str(plan.path),
        "year": plan.study.year,
        "inputs": [file_record(p) for p in plan.input_paths()],
        "walk": plan.walk.as_dict(),
        "categories": categories,
        "targets": len(plan.targets),
        "network": inputs.network_summary.as_dict(),
        "network_audit": _with_point_audit(inputs.network_audit, inputs, coverage, plan.walk),
        "layers": inputs.layer_counts.to_dict("records"),
        "demand_cells": len(inputs.demand),
        "population": {
            "pop": float(inputs.demand["pop"].sum()),
            "pop60": float(inputs.demand["pop60"].sum()),
        },
        "rejected_rows": len(inputs.rejected),
        "warnings": warnings,  # the same list as RunResult.warnings
        "siting": siting,
        "sensitivity": sensitivity.as_record() if sensitivity is not None else None,
        "versions": package_versions(),
        "timings_s": timings,
    }
    return RunResult(
        study_name=plan.study.name,
        lang=options.lang or plan.study.lang,
        townships=wide_shares(townships, coverage.township_metrics),
        facilities=inputs.facilities,
        categories={key: inputs.registry[key].as_dict() for key in categories},
        service_areas=coverage.service_areas,
        township_metrics=coverage.township_metrics,
        gaps=report.rows,
        gap_summary=report.summary,
        rejected=inputs.rejected,
        units=units,
        proposed_sites=sites,
        siting=siting,
        before_after=before_after,
        walk=plan.walk,
        layer_counts=inputs.layer_counts,
        network=inputs.network_summary,
        warnings=warnings,
        run_info=run_info,
        target_walks=walks,
        walk_areas=walk_areas,
        walk_uncovered=walk_uncovered,
        overview_uncovered=overview_uncovered,
        overview_block_m=overview_block_m,
        outside_facilities=inputs.outside_facilities,
        network_audit=run_info["network_audit"],
        dropped_ways=inputs.dropped_ways,
        sensitivity=sensitivity,
    )


def _outside_table(outside: gpd.GeoDataFrame, lang: str) -> pd.DataFrame:
    """区外设施: facilities just outside the area that serve residents inside, one row each."""
    table = pd.DataFrame(
        {
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
        }
    )
    if lang == "zh":
        table = table.rename(
            columns={
                "facility_id": "设施编号",
                "category": "类别",
                "name": "名称",
                "lon": "经度",
                "lat": "纬度",
                "file": "文件",
                "row": "行号",
                "note": "说明",
            }
        )
    return table


def write_results_gpkg(result: RunResult, path: Path, gaps_layer: gpd.GeoDataFrame) -> None:
    """Write every spatial result (and the rejected rows as a table) into one GeoPackage."""
    layers = {
        "townships": result.townships,
        "facilities": result.facilities,
        "service_areas": result.walk_areas,
        "service_areas_all": result.service_areas,
        "uncovered": result.walk_uncovered,
        "gaps": gaps_layer,
        **{f"units_{level}": frame for level, frame in result.units.items()},
        "proposed_sites": result.proposed_sites,
        "outside_facilities": result.outside_facilities,
        "dropped_ways": result.dropped_ways,
    }
    write_gpkg(path, layers, tables={"rejected": result.rejected})


def write_outputs(
    result: RunResult,
    folder: Path,
    *,
    plan: Plan,
    options: RunOptions,
    progress: ProgressFn = _no_progress,
) -> None:
    """Write every output file into ``folder`` (a staging folder; see :func:`run_plan`)."""
    from lifecircle.maps import briefing, static
    from lifecircle.maps.tables import township_page_name

    lang = result.lang
    steps = 2  # the briefing, then done (the outputs have their own bar)
    map_options = {
        "basemap": options.basemap or plan.maps.basemap,
        "offline": options.offline_map or plan.maps.offline,
        "tiles_url": options.tiles_url or plan.maps.tiles_url,
        "tianditu_key": options.tianditu_key or plan.maps.tianditu_key,
        "lang": lang,
    }
    codes = list(result.townships["code"])
    stems = {
        code: township_page_name(code, name).removesuffix(".html")
        for code, name in zip(codes, result.townships["name"], strict=True)
    }
    pages = {None: folder / "overview.html"} | {
        code: folder / "townships" / f"{stems[code]}.html" for code in codes
    }
    picture_state, pictures_to_draw = static.picture_jobs(
        result, folder, lang=lang, dpi=options.picture_dpi, stems=stems
    )
    # Tables, maps, pictures and the GeoPackage in two processes: the largest parts first, then
    # small chunks of pages and pictures interleaved so that both stay busy to the end.
    workers = default_workers()
    n = 4 * workers
    parts = [
        ("pictures", pictures_to_draw[:1]),
        ("pages", [None]),
        ("gpkg", None),
        ("tables", None),
        *(
            part
            for i in range(n)
            for part in (("pictures", pictures_to_draw[1 + i :: n]), ("pages", codes[i::n]))
            if part[1]
        ),
    ]
    done = fork_map(
        _write_part,
        (result, folder, map_options, pages, picture_state),
        parts,
        workers=workers,
        progress=lambda k, total: progress("outputs", k, total),
    )
    pictures = {picture.key: picture for part in done for picture in part}
    progress("briefing", 1, steps)
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
    progress("done", steps, steps)


def _write_part(state: tuple, part: tuple[str, Any]) -> list[Any]:
    """One part of :func:`write_outputs` in a worker: ``("pages", codes)`` writes those
    interactive maps (None: the overview), ``("pictures", jobs)`` renders those pictures and
    returns them, ``("gpkg", None)`` writes results.gpkg and ``("tables", None)`` the gap
    report and the CSV tables."""
    from lifecircle import report as gap_report
    from lifecircle.maps import static, webmap

    result, folder, map_options, pages, picture_state = state
    kind, items = part
    if kind == "pictures":
        return static.render_pictures(picture_state, items)
    if kind == "tables":
        _write_tables(result, folder)
        return []
    if kind == "gpkg":
        gap = GapReport(rows=result.gaps, summary=result.gap_summary)
        gaps_layer = gap_report.gaps_layer(gap, result.townships, units=result.units)
        write_results_gpkg(result, folder / "results.gpkg", gaps_layer)
        return []
    for code in items:
        page = (
            webmap.overview_map(result, **map_options)
            if code is None
            else webmap.township_map(result, code, **map_options)
        )
        write_text_atomic(pages[code], webmap.render_html(page))
    return []


def _write_tables(result: RunResult, folder: Path) -> None:
    """The gap report (CSV and XLSX), the rejected rows and the siting tables."""
    from lifecircle import report as gap_report
    from lifecircle.maps.tables import before_after_table, site_records

    lang = result.lang
    gap = GapReport(rows=result.gaps, summary=result.gap_summary)
    gap_report.write_gaps_csv(gap, folder / "gaps.csv", lang=lang)
    gap_report.write_gaps_xlsx(gap, folder / "gaps.xlsx", lang=lang, sensitivity=result.sensitivity)
    headers = {c: label(f"rej_{c}", lang) for c in result.rejected.columns if has_label(f"rej_{c}")}
    write_csv(result.rejected.rename(columns=headers), folder / "rejected.csv")
    if result.outside_facilities is not None and len(result.outside_facilities):
        write_csv(
            _outside_table(result.outside_facilities, lang), folder / "outside_facilities.csv"
        )
    if result.before_after is not None:
        write_csv(before_after_table(result.before_after, lang), folder / "siting_before_after.csv")
    if result.proposed_sites is not None:
        write_csv(site_records(result, result.proposed_sites, lang), folder / "proposed_sites.csv")


def peak_memory_mb() -> dict[str, float] | None:
    """Peak resident memory (MB) of this process, of its finished workers, and the larger.

    ``getrusage``'s ``ru_maxrss`` (kilobytes on Linux, bytes on macOS); None where the
    platform has no ``resource`` module (Windows).
    """
    try:
        import resource
    except ImportError:
        return None
    unit = 1 / 1024 / 1024 if platform.system() == "Darwin" else 1 / 1024
    own = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * unit
    workers = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss * unit
    return {
        "self": round(own, 1),
        "children": round(workers, 1),
        "max": round(max(own, workers), 1),
    }


def default_out_dir(plan: Plan) -> Path:
    """``out/<study name>/`` under the current folder."""
    return Path("out") / folder_name(plan.study.name)


def run_plan(
    plan: Plan,
    out_dir: Path | None = None,
    *,
    options: RunOptions = RunOptions(),
    progress: ProgressFn = _no_progress,
    write: bool = True,
) -> tuple[RunResult, Path | None]:
    """Run a whole plan and write its outputs atomically; return the result and output folder.

    With ``write=False`` nothing is written and the folder returned is ``None``.
    """
    started = time.perf_counter()
    if not write:
        inputs = load_inputs(plan, progress=progress)
        result = analyse(plan, inputs, options=options, progress=progress)
        result.run_info["timings_s"]["total"] = round(time.perf_counter() - started, 3)
        return result, None
    out_dir = Path(out_dir) if out_dir else default_out_dir(plan)
    # The output folder is checked and locked before any work (see lifecircle.output).
    with claim_output(out_dir, protect=[plan.path, *plan.input_paths()]) as target:
        inputs = load_inputs(plan, progress=progress)
        result = analyse(plan, inputs, options=options, progress=progress)
        with target.staged() as stage, _collecting_logged_warnings(result.warnings):
            write_start = time.perf_counter()
            write_outputs(result, stage, plan=plan, options=options, progress=progress)
            result.run_info["timings_s"]["write"] = round(time.perf_counter() - write_start, 3)
            result.run_info["timings_s"]["total"] = round(time.perf_counter() - started, 3)
            result.run_info["peak_memory_mb"] = peak_memory_mb()
            result.run_info["outputs"] = sorted(
                p.relative_to(stage).as_posix()
                for p in stage.rglob("*")
                if p.is_file() and p.name != MARKER
            )
            write_json(stage / "run.json", result.run_info)
    result.out_dir = out_dir
    return result, out_dir
