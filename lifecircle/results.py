"""What one run computed: the single object maps and report writers receive."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import geopandas as gpd
import pandas as pd

from lifecircle.coverage.sensitivity import SensitivityResult
from lifecircle.coverage.walk import WalkModel


@dataclass(frozen=True)
class NetworkSummary:
    """Size and connectedness of the walking network a run used.

    Attributes
    ----------
    nodes, edges
        Node and undirected edge counts.
    components, main_component_nodes, other_components
        Number of connected parts, nodes in the largest, node counts of the others (largest
        first); facilities in a small part serve only that part.
    cache
        ``"hit"``, ``"miss"`` or ``"off"``: whether the network came from the binary cache
        (:mod:`lifecircle.geo.cache`).
    """

    nodes: int
    edges: int
    components: int
    main_component_nodes: int
    other_components: tuple[int, ...] = ()
    cache: str = "off"

    def as_dict(self) -> dict[str, Any]:
        """Plain values for ``run.json``."""
        return {
            "nodes": self.nodes,
            "edges": self.edges,
            "components": self.components,
            "main_component_nodes": self.main_component_nodes,
            "other_components": list(self.other_components),
            "cache": self.cache,
        }


@dataclass
class RunResult:
    """Everything a run produced, in WGS-84 frames with township codes kept.

    Attributes
    ----------
    study_name, lang
        The plan's study name and the report language (``"zh"`` or ``"en"``).
    townships
        Township polygons (``code, name, kind, kind_zh, ...``) with wide metric columns
        ``share_pop60__<category>__<T>min`` added by the pipeline.
    units
        Unit layers below the township by level (e.g. ``{"village": GeoDataFrame}``).
    facilities
        All usable facilities of every category (see docs/architecture.md).
    categories
        Registry entries of the categories in this run, by key (name_zh, name_en, icon, color).
    service_areas
        Dissolved service areas ``category, threshold_min, geometry``.
    township_metrics
        Long table ``township_code, category, threshold_min, pop, pop60, covered_*, share_*``.
    gaps, gap_summary
        The gap report rows and its area summary (``coverage.targets.GapReport``).
    proposed_sites
        Proposed new sites (empty frame when siting was not asked for).
    siting
        Siting summaries (objective, bound, gap, method, before/after) by category.
    rejected
        Every input row not used, with file, row, reason and fix.
    walk
        The walk model the run used (speeds and thresholds per township kind).
    layer_counts
        One row per register: ``layer`` (its key in facility ids), ``file``, ``category``,
        ``read``, ``rejected_on_read``, ``used``, ``rejected``.
    network
        :class:`NetworkSummary` of the walking network.
    warnings
        Everything the planner should know that did not reject a row, each message once (the
        one channel for warnings: loaders return them, the pipeline collects them here).
    out_dir
        The folder the outputs were written to (``None`` when nothing was written).
    target_walks
        ``target_id, category, kind, threshold_min``: the category and walk each township-level
        target is judged at, per township kind (:func:`lifecircle.coverage.views.target_walks`).
    walk_areas
        ``category, kind, threshold_min, geometry``: service areas at those walks, clipped to
        the townships of each kind.
    overview_uncovered, overview_block_m
        The uncovered cells the overview map draws: ``walk_uncovered``, or on a county with many
        cells those pooled into blocks of ``overview_block_m`` metres (with a ``cells`` count).
    walk_uncovered
        ``category, kind, threshold_min, cell_id, township_code, pop, pop60, time_min,
        geometry``: the cells with people beyond those walks.
    run_info
        Parameters, input hashes, versions, timings (written to run.json); built from the typed
        fields above, kept for readers of run.json.
    outside_facilities
        区外设施: facilities outside every township but within the longest walk of it; they
        serve residents inside (service circles) but count for no township's presence or counts.
    network_audit
        The walk-network audit (run.json ``network_audit``; schema in docs/walk-model.md).
    dropped_ways
        Ways the walk rules dropped: ``way_id, highway, name, rule, rule_zh, rule_en,
        length_m, geometry`` (WGS-84 lines).
    sensitivity
        Service circles under alternative speeds and road rules (``--sensitivity`` or a
        ``[sensitivity]`` section): ``settings``, the long ``values`` table and per target and
        unit the ``ranges`` (``low, high, robustness`` robust/fragile/na), or ``None``.
    """

    study_name: str
    lang: str
    townships: gpd.GeoDataFrame
    facilities: gpd.GeoDataFrame
    categories: dict[str, dict[str, Any]]
    service_areas: gpd.GeoDataFrame
    township_metrics: pd.DataFrame
    gaps: pd.DataFrame
    gap_summary: pd.DataFrame
    rejected: pd.DataFrame
    units: dict[str, gpd.GeoDataFrame] = field(default_factory=dict)
    proposed_sites: gpd.GeoDataFrame | None = None
    siting: dict[str, dict[str, Any]] = field(default_factory=dict)
    before_after: pd.DataFrame | None = None
    walk: WalkModel | None = None
    layer_counts: pd.DataFrame | None = None
    network: NetworkSummary | None = None
    warnings: list[str] = field(default_factory=list)
    out_dir: Path | None = None
    run_info: dict[str, Any] = field(default_factory=dict)
    target_walks: pd.DataFrame | None = None
    walk_areas: gpd.GeoDataFrame | None = None
    walk_uncovered: gpd.GeoDataFrame | None = None
    overview_uncovered: gpd.GeoDataFrame | None = None
    overview_block_m: float | None = None
    outside_facilities: gpd.GeoDataFrame | None = None
    network_audit: dict[str, Any] = field(default_factory=dict)
    dropped_ways: gpd.GeoDataFrame | None = None
    sensitivity: SensitivityResult | None = None
