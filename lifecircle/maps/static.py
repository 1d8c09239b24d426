"""Print-ready pictures of a run: ``overview.png`` and one PNG per township, without a browser.

Each picture tells one target's story (:func:`choose_story`): townships shaded by that target's
status (met blue, not met orange and hatched, so colour is never the only cue) and labelled with
their value and shortfall; the target's category's service area at the walk each township was
judged at (streets 15 minutes, towns 20, say); the seniors that walk leaves uncovered; the
facilities of every category (shape and colour per category, the target's own drawn larger); the
proposed sites; a legend, a north arrow, a scale bar and a source line naming the input files and
their dates. A basemap is optional and needs ``contextily`` and reachable tiles (default: none).

Everything drawn comes from :class:`lifecircle.results.RunResult` — the service areas cut to each
township kind's walk and the cells beyond it are ``walk_areas`` and ``walk_uncovered``
(:mod:`lifecircle.coverage.views`); nothing is computed here beyond projecting to a metric CRS
for display and simplifying outlines below a printed pixel.

Rendering is matplotlib's Agg canvas (no pyplot, no global state). One figure is drawn per
picture and encoded twice: at print resolution (300 dpi at A4 width, 2480 px) and downsampled
for screens (the briefing embeds the latter).
"""

from __future__ import annotations

import io
import logging
import math
import struct
import unicodedata
import warnings
import zlib
from collections.abc import Iterable
from dataclasses import dataclass, field
from functools import cache
from importlib import metadata
from pathlib import Path
from typing import Any

import geopandas as gpd
import numpy as np
import pandas as pd
import shapely
from matplotlib import font_manager, patheffects
from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.collections import LineCollection, PathCollection
from matplotlib.figure import Figure
from matplotlib.lines import Line2D
from matplotlib.patches import Patch, Rectangle
from matplotlib.path import Path as MplPath
from PIL import Image

from lifecircle.errors import InputError
from lifecircle.i18n import category_name, check_lang, label
from lifecircle.maps import palette
from lifecircle.maps.tables import as_text as _text
from lifecircle.maps.tables import (
    category_colors,
    fmt_number,
    kind_main_threshold,
    township_target_rows,
    unit_label,
)
from lifecircle.maps.tables import to_wgs84 as _to_wgs84
from lifecircle.results import RunResult

log = logging.getLogger(__name__)

#: A4 paper width in inches; the pictures are this wide.
A4_WIDTH_IN = 210 / 25.4
#: Print resolution: 300 dpi at A4 width is 2480 pixels.
PRINT_DPI = 300
#: Width of the screen copy the briefing embeds, in pixels.
SCREEN_WIDTH_PX = 1000
#: Colours kept in the screen copy (a palette PNG is a third the size of a full-colour one).
SCREEN_COLORS = 96

#: Township status fills (:mod:`.palette`: a blue/orange pair apart under deuteranopia and
#: protanopia); not met is also hatched, so colour is never the only cue.
STATUS_FILL = {key: palette.STATUS_COLORS[key] for key in ("met", "not_met", "na")}
#: Opacity of the service area, drawn in its category's colour with a dashed edge (as on the
#: interactive maps).
AREA_ALPHA = 0.3
_MARKERS = ("o", "s", "^", "D", "v", "P", "X", "h", "p", "<", ">")

CJK_FONT_NAMES = (
    "Noto Sans CJK SC",
    "Noto Sans CJK JP",
    "Source Han Sans SC",
    "Source Han Sans CN",
    "Noto Sans SC",
    "WenQuanYi Zen Hei",
    "WenQuanYi Micro Hei",
    "Microsoft YaHei",
    "SimHei",
    "PingFang SC",
    "Heiti SC",
)
CJK_FONT_FILES = (
    "/usr/share/fonts/opentype/noto/NotoSansCJK-Regular.ttc",
    "/usr/share/fonts/truetype/wqy/wqy-zenhei.ttc",
    "/usr/share/fonts/truetype/wqy/wqy-microhei.ttc",
)
_NICE_M = (50, 100, 200, 250, 500, 1000, 2000, 2500, 5000, 10_000, 20_000, 50_000, 100_000)
_HALO = [patheffects.withStroke(linewidth=3, foreground="white")]


# --------------------------------------------------------------------------------------------
# Font


@cache
def cjk_font(
    names: tuple[str, ...] = CJK_FONT_NAMES, files: tuple[str, ...] = CJK_FONT_FILES
) -> str | None:
    """The family name of an installed font with Chinese glyphs, or ``None`` (warned once).

    Looks for the known families among matplotlib's fonts, then registers the first of the
    known font files that exists.
    """
    installed = {f.name for f in font_manager.fontManager.ttflist}
    for name in names:
        if name in installed:
            return name
    for path in files:
        if Path(path).is_file():
            font_manager.fontManager.addfont(path)
            return font_manager.FontProperties(fname=path).get_name()
    log.warning(
        "no font with Chinese glyphs found (looked for %s): Chinese text in the PNG maps "
        "will show as empty boxes; install one, e.g. `apt-get install fonts-noto-cjk`",
        ", ".join(names[:3]),
    )
    return None


# --------------------------------------------------------------------------------------------
# The story a picture tells


@dataclass(frozen=True)
class Story:
    """One target as the pictures tell it (read from the gap rows, not evaluated here).

    Attributes
    ----------
    target_id, indicator, document
        The target (empty when the run has none with township rows).
    category
        The facility category whose service areas and uncovered seniors are drawn.
    status, value_text, shortfall_text
        Per township code: ``met``/``not_met``/``na``, the value against the target
        (``77.7% / 80%``) and the shortfall (``缺口 292 人（老年人）``, empty when met).
    threshold_min
        Per township code: the walk in minutes the township was judged at.
    """

    target_id: str
    indicator: str
    document: str
    category: str | None
    status: dict[str, str] = field(default_factory=dict)
    value_text: dict[str, str] = field(default_factory=dict)
    shortfall_text: dict[str, str] = field(default_factory=dict)
    threshold_min: dict[str, float] = field(default_factory=dict)


def _site_categories(result: RunResult) -> list[str]:
    sites = result.proposed_sites
    if sites is None or len(sites) == 0 or "category" not in sites:
        return []
    return list(pd.unique(sites["category"].astype(str)))


def _pick_target(result: RunResult, rows: pd.DataFrame, target_id: str | None) -> str | None:
    """The target to tell: the one asked for, else a service circle of the sited category, else
    the first service circle not met, else the first service circle, else the first target with
    a category."""
    ids = list(pd.unique(rows["target_id"].astype(str))) if len(rows) else []
    if target_id is not None:
        if target_id not in ids:
            raise InputError(
                f"target {target_id!r} has no township rows to map: use one of "
                f"{', '.join(ids) or '(none)'}"
            )
        return target_id
    if not ids:
        return None
    summary = result.gap_summary if result.gap_summary is not None else pd.DataFrame()
    summary = summary[summary["target_id"].astype(str).isin(ids)] if len(summary) else summary
    if len(summary) == 0:
        return ids[0]
    circles = summary[
        summary.get("target_type", pd.Series("", index=summary.index)).astype(str)
        == "service_circle"
    ]
    category = summary.get("category", pd.Series("", index=summary.index)).astype(str)
    for frame in (
        circles[category.reindex(circles.index).isin(_site_categories(result))],
        circles[circles["status"].astype(str) == "not_met"],
        circles,
        summary[category != ""],
    ):
        if len(frame):
            return str(frame["target_id"].iloc[0])
    return ids[0]


def choose_story(result: RunResult, target_id: str | None = None, *, lang: str = "zh") -> Story:
    """The target the pictures tell and what each township shows for it.

    Parameters
    ----------
    result
        A run's results.
    target_id
        A target with township rows; by default a service-circle target of the category that
        was sited (its proposed sites then close the gaps drawn), else the first service circle
        not met, else the first service circle, else the first target with a category.
    lang
        ``zh`` or ``en`` for the value and shortfall texts.

    Raises
    ------
    InputError
        When ``target_id`` has no township rows (the message lists those that do).
    """
    check_lang(lang)
    rows = township_target_rows(result)
    chosen = _pick_target(result, rows, target_id)
    codes = result.townships["code"].astype(str)
    kinds = dict(
        zip(codes, result.townships.get("kind", pd.Series("", index=codes.index)), strict=True)
    )
    available = (
        result.walk_areas["threshold_min"].astype(float)
        if result.walk_areas is not None and len(result.walk_areas)
        else []
    )
    if chosen is None:
        sited = _site_categories(result)
        category = sited[0] if sited else next(iter(result.categories), None)
        return Story(
            "",
            "",
            "",
            category,
            threshold_min={
                c: float(kind_main_threshold(result, kinds.get(c), available) or math.nan)
                for c in codes
            },
        )
    own = rows[rows["target_id"].astype(str) == chosen]
    first = own.iloc[0]
    category = _text(first.get("category", "")) or None
    status, values, shortfalls, thresholds = {}, {}, {}, {}
    for row in own.itertuples(index=False):
        code = str(row.unit_code)
        status[code] = _text(row.status) if _text(row.status) in STATUS_FILL else "na"
        unit = unit_label(getattr(row, "unit", ""), lang)
        value, target = fmt_number(row.value), fmt_number(row.target_value)
        values[code] = (
            f"{value or '—'}{unit} / {target}{unit}"
            if unit == "%"
            else f"{value or '—'} / {target} {unit}".strip()
        )
        short = fmt_number(getattr(row, "shortfall", None))
        if status[code] == "not_met" and short and short != "0":
            shortfalls[code] = label(
                "static_shortfall",
                lang,
                shortfall=short,
                unit=unit_label(getattr(row, "shortfall_unit", ""), lang),
            )
        threshold = getattr(row, "threshold_min", math.nan)
        thresholds[code] = float(threshold) if pd.notna(threshold) else math.nan
    walks = result.target_walks
    if walks is not None and len(walks):  # the walk per kind the maps' layers were cut at
        mine = walks[walks["target_id"].astype(str) == chosen]
        by_kind = dict(
            zip(mine["kind"].astype(str), mine["threshold_min"].astype(float), strict=True)
        )
        thresholds.update(
            {c: by_kind[str(kinds.get(c))] for c in codes if str(kinds.get(c)) in by_kind}
        )
    for code in codes:
        if not math.isfinite(thresholds.get(code, math.nan)):
            thresholds[code] = float(
                kind_main_threshold(result, kinds.get(code), available) or math.nan
            )
    return Story(
        chosen,
        _text(first.get("indicator", "")) or chosen,
        _text(first.get("document", "")),
        category,
        status,
        values,
        shortfalls,
        thresholds,
    )


def _kind_walks(result: RunResult, story: Story) -> set[tuple[str, float]]:
    """The (township kind, walk minutes) pairs of the story's townships."""
    codes = result.townships["code"].astype(str)
    kinds = result.townships.get("kind", pd.Series("", index=codes.index)).astype(str)
    return {
        (k, story.threshold_min[c])
        for c, k in zip(codes, kinds, strict=True)
        if math.isfinite(story.threshold_min.get(c, math.nan))
    }


def _select_walks(frame: pd.DataFrame | None, result: RunResult, story: Story) -> pd.DataFrame:
    """Rows of a map-view frame (``category, kind, threshold_min``) that belong to the story."""
    if frame is None or len(frame) == 0 or not story.category:
        return (
            frame.iloc[0:0]
            if frame is not None
            else pd.DataFrame(
                columns=["category", "kind", "threshold_min", "township_code", "pop60"]
            )
        )
    walks = pd.MultiIndex.from_arrays(
        [frame["kind"].astype(str), frame["threshold_min"].astype(float)]
    )
    keep = (frame["category"].astype(str) == story.category).to_numpy() & walks.isin(
        list(_kind_walks(result, story))
    )
    return frame[keep]


def _story_uncovered(result: RunResult, story: Story) -> pd.DataFrame:
    """The cells the story leaves uncovered (``RunResult.walk_uncovered``, computed by
    :mod:`lifecircle.coverage.views`)."""
    return _select_walks(result.walk_uncovered, result, story)


def uncovered_seniors(result: RunResult, story: Story) -> dict[str, float]:
    """People aged 60+ in the story's uncovered cells, by township code (as drawn)."""
    cells = _story_uncovered(result, story)
    if len(cells) == 0:
        return {}
    sums = (
        pd.to_numeric(cells["pop60"], errors="coerce")
        .fillna(0.0)
        .groupby(cells["township_code"].astype(str))
        .sum()
    )
    return {str(k): float(v) for k, v in sums.items()}


# --------------------------------------------------------------------------------------------
# Layers projected once, drawn in every picture


@dataclass
class _Layers:
    crs: Any
    townships: gpd.GeoDataFrame
    areas: list[tuple[float, Any]]  # (walk minutes, service area cut to its kind's townships)
    uncovered: pd.DataFrame  # x, y, pop60
    facilities: pd.DataFrame  # x, y, category and, when known, township_code
    sites: pd.DataFrame | None  # x, y, rank


def _metric(frame: gpd.GeoDataFrame | None, crs: Any) -> gpd.GeoDataFrame | None:
    if frame is None:
        return None
    frame = _to_wgs84(frame)
    frame = frame[frame.geometry.notna() & ~frame.geometry.is_empty]
    return frame.to_crs(crs)


def _points(frame: gpd.GeoDataFrame, **columns: Any) -> pd.DataFrame:
    """The points of ``frame`` as plain ``x, y`` columns beside ``columns``: every picture
    selects from these, and a GeoDataFrame's coordinate accessors and indexing cost more than
    drawing a township's points."""
    return pd.DataFrame(
        {
            "x": frame.geometry.x.to_numpy(),
            "y": frame.geometry.y.to_numpy(),
            **{name: np.asarray(values) for name, values in columns.items()},
        }
    )


def _prepare(result: RunResult, story: Story) -> _Layers:
    towns = _to_wgs84(result.townships)
    crs = towns.estimate_utm_crs()
    towns = towns.to_crs(crs).assign(code=lambda f: f["code"].astype(str))
    bounds = towns.bounds
    # a tenth of a printed pixel of the smallest township picture
    tolerance_m = (
        float(max(min((bounds.maxx - bounds.minx).min(), (bounds.maxy - bounds.miny).min()), 1.0))
        / 20_000
    )
    towns = towns.assign(
        geometry=shapely.simplify(towns.geometry.values, tolerance_m, preserve_topology=True)
    )
    areas: list[tuple[float, Any]] = []
    walk_areas = _select_walks(result.walk_areas, result, story)
    if len(walk_areas):
        walk_areas = _metric(gpd.GeoDataFrame(walk_areas, crs=result.walk_areas.crs), crs)
        areas = [
            (float(t), shapely.simplify(g, tolerance_m))
            for t, g in sorted(
                zip(walk_areas["threshold_min"].astype(float), walk_areas.geometry, strict=True),
                key=lambda pair: pair[0],
            )
        ]
    unc = _story_uncovered(result, story)
    unc = (
        _metric(gpd.GeoDataFrame(unc, crs=result.walk_uncovered.crs), crs)
        if len(unc)
        else gpd.GeoDataFrame({"pop60": []}, geometry=[], crs=crs)
    )
    unc = _points(unc, pop60=pd.to_numeric(unc["pop60"], errors="coerce").fillna(0.0))
    fac = result.facilities
    fac = (
        _metric(fac, crs)
        if fac is not None and len(fac)
        else gpd.GeoDataFrame({"category": []}, geometry=[], crs=crs)
    )
    fac = _points(
        fac,
        category=fac["category"].astype(str),
        **({"township_code": fac["township_code"].astype(str)} if "township_code" in fac else {}),
    )
    sites = result.proposed_sites
    sites = _metric(sites, crs) if sites is not None and len(sites) else None
    if sites is not None:
        sites = _points(sites, rank=sites.get("rank", pd.Series("", index=sites.index)))
    return _Layers(crs, towns, areas, unc, fac, sites)


# --------------------------------------------------------------------------------------------
# Drawing


def _in_view(frame: pd.DataFrame, view: tuple[float, float, float, float]) -> np.ndarray:
    x, y = frame["x"].to_numpy(), frame["y"].to_numpy()
    return (x >= view[0]) & (x <= view[2]) & (y >= view[1]) & (y <= view[3])


def _rings(geoms: Iterable[Any]) -> list[np.ndarray]:
    """Every ring (exteriors and holes) of the polygons among ``geoms``, as coordinate arrays."""
    polygons = shapely.get_parts(np.asarray([g for g in geoms if g is not None], dtype=object))
    polygons = polygons[shapely.get_type_id(polygons) == 3] if len(polygons) else polygons
    out = []
    for polygon in polygons:
        out.append(shapely.get_coordinates(polygon.exterior))
        out.extend(shapely.get_coordinates(ring) for ring in polygon.interiors)
    return out


def _polygon_patches(ax: Any, geoms: Iterable[Any], **style: Any) -> None:
    """Draw polygons (holes kept) as one path collection with one style.

    Built directly rather than through ``GeoSeries.plot``, which redraws the whole figure after
    every call (most of the rendering time otherwise).
    """
    rings = _rings(geoms)
    if not rings:
        return
    codes = []
    for ring in rings:
        code = np.full(len(ring), MplPath.LINETO, dtype=MplPath.code_type)
        code[0], code[-1] = MplPath.MOVETO, MplPath.CLOSEPOLY
        codes.append(code)
    path = MplPath(np.concatenate(rings), np.concatenate(codes))
    ax.add_collection(PathCollection([path], **style), autolim=False)


def _outlines(ax: Any, geoms: Iterable[Any], **style: Any) -> None:
    rings = _rings(geoms)
    if rings:
        ax.add_collection(LineCollection(rings, **style), autolim=False)


def _scale_bar(ax: Any, view: tuple[float, float, float, float], lang: str) -> None:
    west, south, east, north = view
    width = east - west
    length = max([n for n in _NICE_M if n <= width / 4] or [_NICE_M[0]])
    x0, y0 = west + width * 0.04, south + (north - south) * 0.04
    h = (north - south) * 0.012
    ax.add_patch(
        Rectangle(
            (x0 - width * 0.015, y0 - h * 1.5),
            length + width * 0.09,
            h * 5.5,
            facecolor="white",
            edgecolor="none",
            alpha=0.85,
            zorder=20,
        )
    )
    for i in range(4):
        ax.add_patch(
            Rectangle(
                (x0 + i * length / 4, y0),
                length / 4,
                h,
                facecolor="black" if i % 2 == 0 else "white",
                edgecolor="black",
                linewidth=0.6,
                zorder=21,
            )
        )
    text = f"{length / 1000:g} km" if length >= 1000 else f"{length:g} m"
    ax.text(x0, y0 + h * 1.6, "0", fontsize=7, ha="center", va="bottom", zorder=22)
    ax.text(x0 + length, y0 + h * 1.6, text, fontsize=7, ha="center", va="bottom", zorder=22)


def _north_arrow(ax: Any, lang: str) -> None:
    ax.annotate(
        label("north", lang),
        xy=(0.95, 0.965),
        xytext=(0.95, 0.87),
        xycoords="axes fraction",
        textcoords="axes fraction",
        ha="center",
        va="top",
        fontsize=10,
        fontweight="bold",
        zorder=23,
        arrowprops={
            "facecolor": "black",
            "edgecolor": "black",
            "width": 3,
            "headwidth": 10,
            "headlength": 10,
        },
        bbox={
            "boxstyle": "circle,pad=0.2",
            "facecolor": "white",
            "edgecolor": "none",
            "alpha": 0.85,
        },
    )


def _draw(
    ax: Any,
    result: RunResult,
    story: Story,
    layers: _Layers,
    view: tuple[float, float, float, float],
    focus: str | None,
    lang: str,
    colors: dict[str, str],
) -> list[tuple[Any, str]]:
    """Draw every layer into ``ax`` limited to ``view``; return the legend entries."""
    towns = layers.townships
    box = shapely.box(*view)
    near = towns[towns.geometry.intersects(box)]
    legend: list[tuple[Any, str]] = []
    statuses = near["code"].map(lambda code: story.status.get(code, "na"))
    for status, part in near.groupby(statuses):
        _polygon_patches(
            ax, part.geometry, facecolor=STATUS_FILL[status], alpha=0.22, edgecolor="none", zorder=1
        )
        if status == "not_met":
            _polygon_patches(
                ax,
                part.geometry,
                facecolor="none",
                hatch="///",
                edgecolor=STATUS_FILL[status],
                linewidth=0,
                alpha=0.6,
                zorder=1.1,
            )
    if story.target_id:
        for status in ("met", "not_met", "na"):
            if (statuses == status).any():
                legend.append(
                    (
                        Patch(
                            facecolor=STATUS_FILL[status],
                            alpha=0.35,
                            hatch="///" if status == "not_met" else None,
                            edgecolor=STATUS_FILL[status],
                        ),
                        label("static_status", lang, status=label(status, lang)),
                    )
                )
    area_color = colors.get(story.category or "", "#777777")
    if layers.areas:
        # cut just outside the view: the county's areas are large, and the cut edges are unseen
        pad = 0.05 * max(view[2] - view[0], view[3] - view[1])
        outside = (view[0] - pad, view[1] - pad, view[2] + pad, view[3] + pad)
        _polygon_patches(
            ax,
            [shapely.clip_by_rect(g, *outside) for _, g in layers.areas],
            facecolor=area_color,
            alpha=AREA_ALPHA,
            edgecolor=area_color,
            linewidth=0.7,
            linestyle=(0, (4, 2)),
            zorder=2,
            rasterized=True,
        )
        minutes = (
            "、".join(label("minutes", lang, threshold=fmt_number(t)) for t, _ in layers.areas)
            if lang == "zh"
            else ", ".join(label("minutes", lang, threshold=fmt_number(t)) for t, _ in layers.areas)
        )
        legend.append(
            (
                Patch(
                    facecolor=area_color,
                    alpha=AREA_ALPHA + 0.1,
                    edgecolor=area_color,
                    linestyle="--",
                ),
                label(
                    "static_area",
                    lang,
                    minutes=minutes,
                    category=category_name(result.categories, story.category, lang),
                ),
            )
        )
    unc = layers.uncovered
    if len(unc):
        unc = unc[_in_view(unc, view)]
        pop60 = unc["pop60"].to_numpy()
        top = max(float(pop60.max()) if len(pop60) else 1.0, 1.0)
        ax.scatter(
            unc["x"],
            unc["y"],
            s=3 + 36 * pop60 / top,
            c=palette.UNCOVERED_COLOR,
            alpha=0.7,
            linewidths=0,
            zorder=3,
            rasterized=True,
        )
        legend.append(
            (
                Line2D(
                    [],
                    [],
                    marker="o",
                    linestyle="none",
                    markersize=6,
                    markerfacecolor=palette.UNCOVERED_COLOR,
                    markeredgewidth=0,
                ),
                label("static_uncovered", lang, total=fmt_number(pop60.sum(), digits=0)),
            )
        )
    # township outlines: every neighbour thin, the focus bold; neighbours faded in township maps
    _outlines(ax, near.geometry, colors="#555555", linewidths=0.6, zorder=4)
    if focus is not None:
        others = near[near["code"] != focus]
        _polygon_patches(
            ax, others.geometry, facecolor="white", alpha=0.55, edgecolor="none", zorder=4.5
        )
        _outlines(
            ax, near.geometry[near["code"] == focus], colors="#111111", linewidths=1.8, zorder=6
        )
    fac = layers.facilities
    if len(fac):
        fac = fac[_in_view(fac, view)]
        own = (
            (fac["township_code"] == focus).to_numpy()
            if focus is not None and "township_code" in fac
            else np.ones(len(fac), dtype=bool)
        )
        for i, cat in enumerate(colors):
            mine = (fac["category"] == cat).to_numpy()
            if not (mine & own).any():
                continue
            main = cat == story.category
            pts = fac[mine]
            ax.scatter(
                pts["x"],
                pts["y"],
                marker=_MARKERS[i % len(_MARKERS)],
                s=46 if main else 18,
                c=colors[cat],
                edgecolors="black" if main else "white",
                linewidths=0.7 if main else 0.4,
                zorder=7 if main else 5,
                alpha=np.where(own[mine], 1.0, 0.45),
            )
            legend.append(
                (
                    Line2D(
                        [],
                        [],
                        marker=_MARKERS[i % len(_MARKERS)],
                        linestyle="none",
                        markersize=7 if main else 5,
                        markerfacecolor=colors[cat],
                        markeredgecolor="black" if main else "white",
                    ),
                    label(
                        "static_count",
                        lang,
                        n=int((mine & own).sum()),
                        name=category_name(result.categories, cat, lang),
                    ),
                )
            )
    sites = layers.sites
    if sites is not None:
        sites = sites[_in_view(sites, view)]
        if len(sites):
            ax.scatter(
                sites["x"],
                sites["y"],
                marker="*",
                s=240,
                c=palette.SITE_COLOR,
                edgecolors="black",
                linewidths=0.9,
                zorder=9,
            )
            for rank, x, y in zip(sites["rank"], sites["x"], sites["y"], strict=True):
                ax.annotate(
                    fmt_number(rank),
                    (x, y),
                    xytext=(7, 5),
                    textcoords="offset points",
                    fontsize=8,
                    fontweight="bold",
                    zorder=10,
                    path_effects=_HALO,
                )
            legend.append(
                (
                    Line2D(
                        [],
                        [],
                        marker="*",
                        linestyle="none",
                        markersize=12,
                        markerfacecolor=palette.SITE_COLOR,
                        markeredgecolor="black",
                    ),
                    label("static_sites", lang, n=len(sites)),
                )
            )
    for code, name, point in zip(
        near["code"], near["name"], near.geometry.representative_point(), strict=True
    ):
        if not box.contains(point):
            continue
        lines = [_text(name)]
        if story.target_id and (focus is None or code == focus):
            lines.append(
                f"{label(story.status.get(code, 'na'), lang)} "
                f"{story.value_text.get(code, '')}".strip()
            )
            if story.shortfall_text.get(code):
                lines.append(story.shortfall_text[code])
        faded = focus is not None and code != focus
        ax.text(
            point.x,
            point.y,
            "\n".join(lines),
            ha="center",
            va="center",
            fontsize=8 if faded else (11 if focus else 8),
            linespacing=1.25,
            fontweight="normal" if faded else "bold",
            color="#777777" if faded else "#111111",
            path_effects=_HALO,
            zorder=12,
        )
    ax.set_xlim(view[0], view[2])
    ax.set_ylim(view[1], view[3])
    ax.set_aspect("equal")
    ax.set_xticks([])
    ax.set_yticks([])
    return [(h, t) for h, t in legend if h is not None]


def _add_basemap(ax: Any, crs: Any, basemap: str) -> str:
    """Tiles under the map when contextily is installed and the tiles are reachable; otherwise
    a notice is logged and the picture keeps its plain background. Returns the attribution."""
    try:
        import contextily
    except ImportError:
        log.warning(
            "basemap %r skipped: contextily is not installed (pip install contextily)", basemap
        )
        return ""
    providers = {"osm": contextily.providers.OpenStreetMap.Mapnik}
    source = providers.get(basemap, basemap)
    try:
        contextily.add_basemap(ax, crs=crs, source=source, attribution=False, zorder=0)
    except Exception as error:  # tiles unreachable: the picture is still useful without them
        log.warning("basemap %r skipped: tiles unreachable (%s)", basemap, error)
        return ""
    return str(getattr(source, "attribution", "") or basemap)


def source_line(result: RunResult, lang: str = "zh") -> str:
    """The data sources (input file names and their modification dates) and the drawing date."""
    info = result.run_info or {}
    files = []
    for record in info.get("inputs", []):
        name = Path(str(record.get("path", ""))).name
        date = str(record.get("modified", ""))[:10]
        files.append(
            f"{name}（{date}）" if lang == "zh" and date else f"{name} ({date})" if date else name
        )
    try:
        version = metadata.version("lifecircle")
    except metadata.PackageNotFoundError:
        version = ""
    return label(
        "static_source",
        lang,
        files=("、" if lang == "zh" else ", ").join(files) or "—",
        date=str(info.get("created", ""))[:10] or "—",
        version=version,
    )


@dataclass
class Picture:
    """One rendered map: the print PNG on disk and a small screen copy in memory."""

    key: str
    path: Path | None
    width_px: int
    height_px: int
    screen_png: bytes


def _wrap(text: str, width: int) -> str:
    """Break ``text`` into lines of at most ``width`` columns (a Chinese character takes two),
    after a list separator where one is near (Chinese text has no spaces for matplotlib's own
    wrapping)."""
    lines, line, used, cut = [], "", 0, -1
    for ch in text:
        line += ch
        used += 2 if unicodedata.east_asian_width(ch) in "WF" else 1
        if ch in "、，。；, ;":
            cut = len(line)
        if used > width:
            split = cut if cut > len(line) // 2 else len(line) - 1
            lines.append(line[:split])
            line = line[split:]
            used = sum(2 if unicodedata.east_asian_width(c) in "WF" else 1 for c in line)
            cut = -1
    lines.append(line)
    return "\n".join(x.strip() for x in lines)


def _view(geoms: gpd.GeoSeries, pad: float = 0.06) -> tuple[float, float, float, float]:
    west, south, east, north = geoms.total_bounds
    span = max(east - west, north - south, 1.0)
    return (west - span * pad, south - span * pad, east + span * pad, north + span * pad)


def render_picture(state: PictureState, focus: str | None, title: str) -> Image.Image:
    """Draw one picture (the overview when ``focus`` is None) and return it as an RGB image."""
    result, story, layers, lang = state.result, state.story, state.layers, state.lang
    towns = layers.townships
    geoms = towns.geometry if focus is None else towns.geometry[towns["code"] == focus]
    view = _view(geoms)
    aspect = (view[3] - view[1]) / (view[2] - view[0])
    margin, map_w = 0.35, A4_WIDTH_IN - 0.7
    map_h = min(map_w * aspect, 8.2)
    map_w = map_h / aspect if map_w * aspect > 8.2 else map_w
    top_h, legend_h, source_h = 0.85, 0.95, 0.55
    height = top_h + map_h + legend_h + source_h
    fig = Figure(figsize=(A4_WIDTH_IN, height), dpi=state.dpi, facecolor="white")
    FigureCanvasAgg(fig)
    ax = fig.add_axes(
        (
            ((A4_WIDTH_IN - map_w) / 2) / A4_WIDTH_IN,
            (legend_h + source_h) / height,
            map_w / A4_WIDTH_IN,
            map_h / height,
        )
    )
    ax.patch.set_visible(False)  # white on the white page: filling the map frame for nothing
    entries = _draw(ax, result, story, layers, view, focus, lang, state.colors)
    attribution = _add_basemap(ax, layers.crs, state.basemap) if state.basemap else ""
    _scale_bar(ax, view, lang)
    _north_arrow(ax, lang)
    fig.text(
        margin / A4_WIDTH_IN, 1 - 0.3 / height, title, fontsize=14, fontweight="bold", va="center"
    )
    if story.target_id:
        subtitle = label(
            "static_subtitle", lang, indicator=story.indicator, document=story.document or "—"
        )
        fig.text(
            margin / A4_WIDTH_IN,
            1 - 0.62 / height,
            subtitle,
            fontsize=9,
            va="center",
            color="#333333",
        )
    if entries:
        handles, texts = zip(*entries, strict=True)
        fig.legend(
            handles,
            texts,
            loc="upper left",
            ncol=3,
            fontsize=7.5,
            frameon=False,
            bbox_to_anchor=(margin / A4_WIDTH_IN, (legend_h + source_h - 0.08) / height),
            handlelength=1.6,
            columnspacing=1.2,
            borderaxespad=0,
        )
    source = state.source + (f" {attribution}" if attribution else "")
    fig.text(
        margin / A4_WIDTH_IN,
        0.1 / height,
        _wrap(source, 190),
        fontsize=6,
        color="#555555",
        va="bottom",
        linespacing=1.4,
    )
    fig.canvas.draw()
    # PIL reads the canvas in place and drops the alpha channel (opaque on a white page) in
    # one pass, where a numpy slice copy of the 30 MB buffer took twice as long
    width, height = fig.canvas.get_width_height(physical=True)
    return Image.frombuffer(
        "RGBA", (width, height), fig.canvas.buffer_rgba(), "raw", "RGBA", 0, 1
    ).convert("RGB")


def _write_png(path: Path, image: Image.Image, dpi: int) -> None:
    """Save an RGB image as a PNG whose rows are not filtered.

    Pillow tries every PNG row filter on each row of an RGB image, which took two thirds of
    its encoding time here; these maps are mostly flat colour, which deflate packs better
    unfiltered: the files come out about 15 % smaller in less than half the time.
    """
    width, height = image.size
    # a band of rows at a time, each row its filter byte 0 then RGB: no copy of the whole
    # picture (22 MB at 300 dpi) is made, which also saves a fifth of the time
    band = np.zeros((64, 1 + 3 * width), dtype=np.uint8)
    deflate = zlib.compressobj(2)  # as fast as level 1, 3 % smaller; level 4: 1.7x the time
    idat = []
    for top in range(0, height, len(band)):
        rows = image.crop((0, top, width, min(top + len(band), height)))
        band[: rows.height, 1:] = np.frombuffer(rows.tobytes(), dtype=np.uint8).reshape(
            rows.height, 3 * width
        )
        idat.append(deflate.compress(band[: rows.height]))
    idat.append(deflate.flush())
    per_metre = round(dpi / 0.0254)

    def chunk(kind: bytes, data: bytes) -> bytes:
        return (
            struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))
        )

    path.write_bytes(
        b"\x89PNG\r\n\x1a\n"
        + chunk(b"IHDR", struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0))  # 8-bit RGB
        + chunk(b"pHYs", struct.pack(">IIB", per_metre, per_metre, 1))
        + chunk(b"IDAT", b"".join(idat))
        + chunk(b"IEND", b"")
    )


def _screen_png(image: Image.Image, width_px: int) -> bytes:
    if image.width > width_px:
        image = image.resize(
            (width_px, round(image.height * width_px / image.width)),
            Image.Resampling.LANCZOS,
            reducing_gap=1.1,  # halve by box averaging first: 3x faster, the same on screen
        )
    buffer = io.BytesIO()
    image.quantize(
        colors=SCREEN_COLORS, method=Image.Quantize.FASTOCTREE, dither=Image.Dither.NONE
    ).save(buffer, "PNG", compress_level=6)  # level 9 is 6x slower for 4 % less
    return buffer.getvalue()


def write_static_maps(
    result: RunResult,
    folder: str | Path | None,
    *,
    lang: str = "zh",
    dpi: int = PRINT_DPI,
    target_id: str | None = None,
    basemap: str | None = None,
    stems: dict[str, str] | None = None,
    screen_width_px: int = SCREEN_WIDTH_PX,
) -> dict[str, Picture]:
    """Render ``overview.png`` and ``townships/<stem>.png`` into ``folder``.

    Parameters
    ----------
    result
        A run's results.
    folder
        The output folder (``None``: render only, keep the screen copies in memory).
    lang
        ``zh`` (default) or ``en``.
    dpi
        Print resolution: 300 (default) gives 2480 px at A4 width; tests use less.
    target_id
        The target the pictures tell (default: :func:`choose_story`'s choice).
    basemap
        ``None`` (default: no tiles), ``"osm"`` or an XYZ tile URL; needs contextily and
        reachable tiles, else it is skipped with a logged notice.
    stems
        Township code -> file stem (default ``<code>``); the pipeline passes
        ``<code>-<name>`` as for the HTML pages.
    screen_width_px
        Width of the in-memory screen copies (the briefing embeds them).

    Returns
    -------
    dict[str, Picture]
        ``"overview"`` and every township code.
    """
    state, jobs = picture_jobs(
        result,
        folder,
        lang=lang,
        dpi=dpi,
        target_id=target_id,
        basemap=basemap,
        stems=stems,
        screen_width_px=screen_width_px,
    )
    return {picture.key: picture for picture in render_pictures(state, jobs)}


PictureJob = tuple[str, str | None, str, Path | None]


@dataclass(frozen=True)
class PictureState:
    """What every picture of a run shares (:func:`picture_jobs`), worked out once."""

    result: RunResult
    story: Story
    layers: _Layers
    lang: str
    dpi: int
    basemap: str | None
    font: str | None
    screen_width_px: int
    colors: dict[str, str]  # category -> colour
    source: str  # the source line under every picture


def picture_jobs(
    result: RunResult,
    folder: str | Path | None,
    *,
    lang: str = "zh",
    dpi: int = PRINT_DPI,
    target_id: str | None = None,
    basemap: str | None = None,
    stems: dict[str, str] | None = None,
    screen_width_px: int = SCREEN_WIDTH_PX,
) -> tuple[PictureState, list[PictureJob]]:
    """What :func:`write_static_maps` renders: the shared drawing state and one job per picture
    (``key, focus, title, path``; the overview first), for :func:`render_pictures` in any
    process (the pipeline interleaves them with its other outputs)."""
    check_lang(lang)
    story = choose_story(result, target_id, lang=lang)
    layers = _prepare(result, story)
    font = cjk_font()
    stems = stems or {}
    jobs: list[PictureJob] = [
        (
            "overview",
            None,
            label("static_title", lang, study=_text(result.study_name)),
            Path(folder) / "overview.png" if folder is not None else None,
        )
    ]
    for code, name in zip(layers.townships["code"], layers.townships["name"], strict=True):
        path = (
            Path(folder) / "townships" / f"{stems.get(code, code)}.png"
            if folder is not None
            else None
        )
        jobs.append(
            (
                code,
                code,
                f"{_text(name)}（{code}）" if lang == "zh" else f"{_text(name)} ({code})",
                path,
            )
        )
    state = PictureState(
        result,
        story,
        layers,
        lang,
        dpi,
        basemap,
        font,
        screen_width_px,
        category_colors(result),
        source_line(result, lang),
    )
    return state, jobs


def render_pictures(state: PictureState, jobs: list[PictureJob]) -> list[Picture]:
    """Render and save the pictures of ``jobs`` (:func:`picture_jobs`)."""
    font = state.font
    rc = {
        "font.family": "sans-serif",
        "font.sans-serif": [font, "DejaVu Sans"] if font else ["DejaVu Sans"],
        "hatch.linewidth": 0.6,
        "axes.linewidth": 0.8,
    }
    import matplotlib

    pictures = []
    with matplotlib.rc_context(rc), warnings.catch_warnings():
        if font is None:  # already warned once, in words the planner can act on
            warnings.filterwarnings("ignore", message="Glyph .* missing from font")
        for key, focus, title, path in jobs:
            image = render_picture(state, focus, title)
            if path is not None:
                path.parent.mkdir(parents=True, exist_ok=True)
                _write_png(path, image, state.dpi)
            pictures.append(
                Picture(key, path, *image.size, _screen_png(image, state.screen_width_px))
            )
    return pictures
