"""Interactive Folium maps of a run: the district overview and one map per township.

The maps draw only what :class:`lifecircle.results.RunResult` holds; nothing is computed here
beyond choosing, simplifying and projecting geometry for display. (The module is called
``webmap`` rather than ``folium`` so that ``import folium`` inside it means the library.)

Overlays are written as compact JSON payloads drawn by a small helper script
(``assets/lifecircle.js``) that puts every register text in the page with ``textContent``: a
facility named ``<script>alert(1)</script>`` shows as text and runs nothing. Folium's own
``Popup``/``Tooltip`` are not used because they inject HTML (and a JS template literal).

``offline=True`` inlines Leaflet, its plugins and the helper into the page, draws no public tiles
and uses SVG markers instead of icon fonts, so the file makes no network request at all.
"""

from __future__ import annotations

import html
import json
import logging
import math
import re
from collections.abc import Iterable
from functools import cache
from pathlib import Path
from typing import Any

import folium
import folium.plugins
import geopandas as gpd
import numpy as np
import pandas as pd
import shapely
from branca.element import Element, MacroElement
from jinja2 import Template

from lifecircle.coverage.targets import UNIT_ZH
from lifecircle.errors import InputError
from lifecircle.geo.crs import wgs84_to_gcj02
from lifecircle.maps.basemaps import Basemap, resolve_basemap
from lifecircle.maps.i18n import category_name, check_lang, has_label, label, subtype_name
from lifecircle.results import RunResult

log = logging.getLogger(__name__)

ASSETS_DIR = Path(__file__).parent / "assets"
#: Layers with more points than this are drawn through Leaflet.markercluster.
CLUSTER_ABOVE = 300
#: A rendered map larger than this logs a warning with advice.
WARN_BYTES = 20 * 1024 * 1024
#: Decimal places kept in coordinates: 1e-6 degree is about 0.1 m.
COORD_DECIMALS = 6
#: Status colours: met, not met, not applicable, no data.
STATUS_COLORS = ("#1a9850", "#d73027", "#9e9e9e", "#f5f5f5")
_STATUS_INDEX = {"met": 0, "not_met": 1, "na": 2}
SITE_COLOR = "#ffd700"
# Height of the township map in its page; the targets panel sits below it.
_TOWNSHIP_MAP_PCT = 70
UNCOVERED_COLOR = "#c51b8a"
_PALETTE = ("#1f77b4", "#ff7f0e", "#2ca02c", "#d62728", "#9467bd", "#8c564b", "#e377c2",
            "#17becf", "#bcbd22", "#7f7f7f")
_COLOR_RE = re.compile(r"^#[0-9a-fA-F]{3}(?:[0-9a-fA-F]{3})?$")
# Font-Awesome 4 icon names of the registry -> glyphs drawn by lifecircle.js.
_GLYPHS = {
    "home": "home", "cutlery": "cutlery", "university": "columns", "handshake-o": "people",
    "users": "people", "child": "person", "user": "person", "shield": "shield",
    "building": "building", "heartbeat": "heart", "heart": "heart", "graduation-cap": "cap",
    "bell": "bell",
}

# Vendored files (see assets/README.md) and the CDN copies of the same versions.
_CDN = "https://cdn.jsdelivr.net/npm/"
_LEAFLET = (("leaflet.css", _CDN + "leaflet@1.9.4/dist/leaflet.css"),
            ("leaflet.js", _CDN + "leaflet@1.9.4/dist/leaflet.js"))
_FULLSCREEN = (("Control.FullScreen.css", _CDN + "leaflet.fullscreen@3.0.0/Control.FullScreen.css"),
               ("Control.FullScreen.js", _CDN + "leaflet.fullscreen@3.0.0/Control.FullScreen.js"))
_MC = _CDN + "leaflet.markercluster@1.5.3/dist/"
_CLUSTER = (("MarkerCluster.css", _MC + "MarkerCluster.css"),
            ("MarkerCluster.Default.css", _MC + "MarkerCluster.Default.css"),
            ("leaflet.markercluster.js", _MC + "leaflet.markercluster.js"))


# --------------------------------------------------------------------------------------------
# Page assets and raw elements


@cache
def _asset_text(name: str) -> str:
    return (ASSETS_DIR / name).read_text(encoding="utf-8")


class _Raw(Element):
    """Literal HTML put in the page as is (not run through Jinja: vendored JS holds braces)."""

    def __init__(self, text: str) -> None:
        super().__init__()
        self._text = text

    def render(self, **kwargs: Any) -> str:
        return self._text


def _asset_tags(files: Iterable[tuple[str, str]], *, offline: bool) -> str:
    """``<link>``/``<script src>`` tags online, inline ``<style>``/``<script>`` offline."""
    tags = []
    for name, url in files:
        css = name.endswith(".css")
        if offline:
            text = _asset_text(name)
            if css:
                tags.append(f"<style>/* {name} */\n{text}</style>")
            else:
                # "</" cannot end the script early once escaped as "<\/" (same JS meaning).
                safe = text.replace("</", "<\\/")
                tags.append(f"<script>/* {name} */\n{safe}</script>")
        elif css:
            tags.append(f'<link rel="stylesheet" href="{url}"/>')
        else:
            tags.append(f'<script src="{url}"></script>')
    return "\n".join(tags)


def _js_json(obj: Any) -> str:
    """JSON safe to place inside a ``<script>``: no ``<``, ``>``, ``&`` or line separators."""
    text = json.dumps(obj, ensure_ascii=False, separators=(",", ":"), allow_nan=False)
    for char, escaped in (("<", "\\u003c"), (">", "\\u003e"), ("&", "\\u0026"),
                          ("\u2028", "\\u2028"), ("\u2029", "\\u2029")):
        text = text.replace(char, escaped)
    return text


class _JsLayer(MacroElement):
    """Draws one payload into its parent feature group with a ``LC.<kind>`` helper."""

    _template = Template(
        "{% macro script(this, kwargs) %}"
        "LC.{{ this.kind }}({{ this._parent.get_name() }}, {{ this.payload }}, "
        "{{ this.map_name }});\n"
        "{% endmacro %}"
    )

    def __init__(self, kind: str, payload: dict[str, Any], map_name: str) -> None:
        super().__init__()
        self._name = "LcLayer"
        self.kind = kind
        self.payload = _js_json(payload)
        self.map_name = map_name


class _MetricScale(MacroElement):
    """A metric-only scale bar (folium's ``control_scale`` adds feet and miles too)."""

    _template = Template(
        "{% macro script(this, kwargs) %}"
        "L.control.scale({imperial: false, maxWidth: 160}).addTo({{ this._parent.get_name() }});\n"
        "{% endmacro %}"
    )


# --------------------------------------------------------------------------------------------
# Values and geometry for display


def _clean(value: Any) -> Any:
    """A JSON-ready scalar: nan/None -> None, numpy scalars -> Python."""
    if value is None:
        return None
    if isinstance(value, (float, np.floating)):
        return None if not math.isfinite(float(value)) else float(value)
    if isinstance(value, np.integer):
        return int(value)
    if isinstance(value, np.bool_):
        return bool(value)
    return value


def fmt_number(value: Any, *, digits: int = 1) -> str:
    """A number for display: integers without decimals, others with ``digits``; '' when missing.

    >>> fmt_number(12.0), fmt_number(62.456), fmt_number(float("nan")), fmt_number("3")
    ('12', '62.5', '', '3')
    """
    value = _clean(value)
    if value is None or value == "":
        return ""
    if isinstance(value, bool):
        return str(value)
    if isinstance(value, (int, float)):
        if float(value).is_integer():
            return str(int(value))
        return f"{value:.{digits}f}"
    return str(value)


def _text(value: Any) -> str:
    value = _clean(value)
    return "" if value is None else str(value)


def _to_wgs84(frame: gpd.GeoDataFrame) -> gpd.GeoDataFrame:
    if frame.crs is None:
        return frame.set_crs(4326)
    if frame.crs.to_epsg() != 4326:
        return frame.to_crs(4326)
    return frame


def _display_geoms(frame: gpd.GeoDataFrame, *, system: str, tolerance_deg: float = 0.0,
                   clip: tuple[float, float, float, float] | None = None) -> np.ndarray:
    """Geometries ready to draw: WGS-84, clipped, simplified, shifted to ``system``, rounded."""
    geoms = np.asarray(_to_wgs84(frame).geometry.values, dtype=object)
    if clip is not None:
        geoms = shapely.clip_by_rect(geoms, *clip)
    if tolerance_deg > 0:
        geoms = shapely.simplify(geoms, tolerance_deg, preserve_topology=True)
    if system == "gcj02":
        geoms = shapely.transform(geoms, _gcj02_coords)
    return shapely.transform(geoms, lambda xy: np.round(xy, COORD_DECIMALS))


def _gcj02_coords(xy: np.ndarray) -> np.ndarray:
    lon, lat = wgs84_to_gcj02(xy[:, 0], xy[:, 1])
    return np.column_stack([lon, lat])


def _point_rows(frame: gpd.GeoDataFrame, system: str) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(lat, lon, keep mask) of point geometries in ``system``, rounded."""
    geoms = _display_geoms(frame, system=system)
    keep = ~(shapely.is_missing(geoms) | shapely.is_empty(geoms))
    lat = np.full(len(geoms), np.nan)
    lon = np.full(len(geoms), np.nan)
    if keep.any():
        pts = shapely.get_coordinates(shapely.centroid(geoms[keep]))
        lon[keep], lat[keep] = pts[:, 0], pts[:, 1]
    return lat, lon, keep


def _feature_collection(geoms: np.ndarray, properties: list[dict[str, Any]]) -> dict[str, Any]:
    keep = ~(shapely.is_missing(geoms) | shapely.is_empty(geoms))
    texts = shapely.to_geojson(geoms[keep])
    props = [p for p, k in zip(properties, keep, strict=True) if k]
    return {"type": "FeatureCollection", "features": [
        {"type": "Feature", "properties": p, "geometry": json.loads(t)}
        for p, t in zip(props, texts, strict=True)]}


def _color(value: Any, fallback: str) -> str:
    return value if isinstance(value, str) and _COLOR_RE.match(value) else fallback


def _entry(categories: dict, key: str, field: str) -> Any:
    entry = categories.get(key)
    if entry is None:
        return None
    return entry.get(field) if isinstance(entry, dict) else getattr(entry, field, None)


def _category_keys(result: RunResult) -> list[str]:
    """Categories in registry order, then any others that occur in the frames."""
    keys = list(result.categories)
    for frame in (result.facilities, result.service_areas, result.uncovered):
        if frame is not None and "category" in frame:
            keys += [k for k in pd.unique(frame["category"].astype(str)) if k not in keys]
    return keys


def category_colors(result: RunResult) -> dict[str, str]:
    """The map colour of every category: the registry's, else a palette colour."""
    return {key: _color(_entry(result.categories, key, "color"), _PALETTE[i % len(_PALETTE)])
            for i, key in enumerate(_category_keys(result))}


def main_threshold(thresholds: Iterable[float]) -> float | None:
    """The threshold shown by default: 15 minutes (the 15-minute life circle) when present,
    else the largest.

    >>> main_threshold([5, 10, 15]), main_threshold([10, 20]), main_threshold([])
    (15, 20, None)
    """
    values = sorted({float(t) for t in thresholds if pd.notna(t)})
    if not values:
        return None
    chosen = 15.0 if 15.0 in values else values[-1]
    return int(chosen) if chosen.is_integer() else chosen


def kind_main_threshold(result: RunResult, kind: str | None = None,
                        available: Iterable[float] = ()) -> float | None:
    """The threshold shown by default for townships of ``kind`` (``None``: the walk default).

    The largest threshold of that kind's walk settings (``result.walk``; e.g. 15 for streets,
    20 for towns) when the data has it, else :func:`main_threshold` of ``available``. Results
    built without a walk model fall back to ``result.run_info["walk"]``.
    """
    if result.walk is not None:
        thresholds = result.walk.for_kind(kind).thresholds_min
    else:
        walk = (result.run_info or {}).get("walk") or {}
        thresholds = None
        if kind is not None:
            thresholds = ((walk.get("by_kind") or {}).get(kind) or {}).get("thresholds_min")
        thresholds = thresholds or walk.get("thresholds_min")
    have = {float(t) for t in available if pd.notna(t)}
    if thresholds:
        chosen = float(max(thresholds))
        if not have or chosen in have:
            return int(chosen) if chosen.is_integer() else chosen
    return main_threshold(have)


def _swatch_name(color: str, text: str) -> str:
    """A layer-control entry: Leaflet inserts names as HTML, so the text is escaped here."""
    return f'<span class="lc-swatch" style="background:{color}"></span>{html.escape(text)}'


def _span_deg(bounds: tuple[float, float, float, float]) -> float:
    return max(bounds[2] - bounds[0], bounds[3] - bounds[1], 1e-4)


# --------------------------------------------------------------------------------------------
# Township target statuses (read from the gap rows, not evaluated here)


def township_target_rows(result: RunResult) -> pd.DataFrame:
    """Gap rows whose unit is a township of the run (level ``township``)."""
    gaps = result.gaps
    if gaps is None or len(gaps) == 0:
        return pd.DataFrame(columns=["target_id", "unit_code", "status"])
    codes = set(result.townships["code"].astype(str))
    rows = gaps[gaps["unit_code"].astype(str).isin(codes)]
    if "level" in rows:
        rows = rows[rows["level"].astype(str) == "township"]
    return rows


def _target_labels(rows: pd.DataFrame) -> dict[str, str]:
    labels: dict[str, str] = {}
    for target_id, indicator in zip(rows["target_id"], rows.get("indicator", rows["target_id"]),
                                    strict=True):
        if target_id not in labels:
            labels[str(target_id)] = _text(indicator) or str(target_id)
    seen: dict[str, int] = {}
    for text in labels.values():
        seen[text] = seen.get(text, 0) + 1
    return {k: (f"{v} [{k}]" if seen[v] > 1 else v) for k, v in labels.items()}


def unit_label(unit: Any, lang: str) -> str:
    """A value or shortfall unit for display (the gap rows hold English unit names).

    >>> unit_label("facilities", "zh"), unit_label("facilities", "en")
    ('处', 'facilities')
    """
    text = _text(unit)
    return UNIT_ZH.get(text, text) if lang == "zh" else text


def status_text(row: Any, lang: str) -> str:
    """One line for a township's status on a target: ``未达标 · 62.5 / 80 %``."""
    status = _text(getattr(row, "status", "")) or "na"
    parts = [label(status if status in _STATUS_INDEX else "no_data", lang)]
    value, target = fmt_number(getattr(row, "value", None)), fmt_number(
        getattr(row, "target_value", None))
    if value or target:
        unit = unit_label(getattr(row, "unit", ""), lang)
        parts.append(f"{value or '—'} / {target or '—'} {unit}".strip())
    return " · ".join(parts)


def _townships_payload(result: RunResult, townships: gpd.GeoDataFrame, geoms: np.ndarray,
                       lang: str, focus: str | None) -> dict[str, Any]:
    rows = township_target_rows(result)
    labels = _target_labels(rows)
    targets = list(labels)
    lookup = {(str(r.target_id), str(r.unit_code)): r for r in rows.itertuples(index=False)}
    props = []
    for code, name in zip(townships["code"].astype(str), townships["name"], strict=True):
        status, text = [], []
        for target in targets:
            row = lookup.get((target, code))
            if row is None:
                status.append(3)
                text.append(label("no_data", lang))
            else:
                status.append(_STATUS_INDEX.get(_text(row.status), 2))
                text.append(status_text(row, lang))
        props.append({"c": code, "n": _text(name), "s": status, "v": text})
    initial = 0
    if focus is not None:  # the first target assessed for the focus township
        own = [i for i, t in enumerate(targets) if (t, focus) in lookup]
        initial = own[0] if own else 0
    return {
        "geojson": _feature_collection(geoms, props), "targets": list(labels.values()),
        "initial": initial,
        "colors": list(STATUS_COLORS), "focus": focus, "title": label("target_status", lang),
        "targetLabel": label("target", lang), "noTarget": label("no_target", lang),
        "statusLabels": [label(k, lang) for k in ("met", "not_met", "na", "no_data")],
    }


# --------------------------------------------------------------------------------------------
# Map assembly


def _new_map(bounds: tuple[float, float, float, float], basemap: Basemap, *,
             offline: bool, cluster: bool, title: str, lang: str,
             height_pct: int = 100) -> folium.Map:
    west, south, east, north = bounds
    # Start at about the zoom fitBounds will choose (a ~1000 px view) so that no tiles of
    # another zoom level are fetched first; maxZoom is on the map because markercluster needs it.
    span = max(east - west, (north - south) * 1.3, 1e-4)
    zoom = int(np.clip(math.floor(math.log2(1000 * 360 / (256 * span))), 3, 18))
    m = folium.Map(location=[(south + north) / 2, (west + east) / 2], zoom_start=zoom,
                   tiles=None, control_scale=False, height=f"{height_pct}%", maxZoom=19)
    # Folium's default CDN list (jQuery, Bootstrap, awesome-markers, Font Awesome) is not used:
    # the maps need Leaflet, fullscreen and markercluster only, written by _asset_tags.
    m.default_js = []
    m.default_css = []
    files = [*_LEAFLET, *_FULLSCREEN, *(_CLUSTER if cluster else ())]
    root = m.get_root()
    root.header.add_child(_Raw('<meta charset="utf-8"/>'), name="lc_charset")
    root.header.add_child(_Raw(_asset_tags(files, offline=offline)), name="lc_vendor")
    root.header.add_child(_Raw(
        f"<style>{_asset_text('lifecircle.css')}"
        + (".leaflet-container{background:#fff}" if not basemap.tiles else "")
        + "</style>\n<script>" + _asset_text("lifecircle.js").replace("</", "<\\/")
        + "</script>"), name="lc_helper")
    root.html.add_child(_Raw(f'<div class="lc-title lc-page">{html.escape(title)}</div>'),
                        name="lc_title")
    for i, tile in enumerate(basemap.tiles):
        folium.TileLayer(tiles=tile.url, attr=tile.attribution, name=tile.name,
                         subdomains=tile.subdomains, max_zoom=tile.max_zoom,
                         max_native_zoom=tile.max_zoom, overlay=i > 0, control=False).add_to(m)
    fullscreen = folium.plugins.Fullscreen(position="topleft", title=label("fullscreen", lang),
                                           title_cancel=label("exit_fullscreen", lang))
    fullscreen.default_js = []
    fullscreen.default_css = []
    fullscreen.add_to(m)
    _MetricScale().add_to(m)
    m.fit_bounds([[south, west], [north, east]])
    return m


def _add_layer(m: folium.Map, name: str, kind: str, payload: dict[str, Any], *,
               show: bool) -> folium.FeatureGroup:
    group = folium.FeatureGroup(name=name, show=show)
    group.add_child(_JsLayer(kind, payload, m.get_name()))
    group.add_to(m)
    return group


def _bbox_mask(frame: gpd.GeoDataFrame, bbox: tuple[float, float, float, float] | None) -> Any:
    if bbox is None or len(frame) == 0:
        return np.ones(len(frame), dtype=bool)
    return np.asarray(_to_wgs84(frame).geometry.intersects(shapely.box(*bbox)))


def _facility_layers(m: folium.Map, result: RunResult, colors: dict[str, str], *, system: str,
                     lang: str, bbox: tuple[float, float, float, float] | None) -> None:
    fac = result.facilities
    if fac is None or len(fac) == 0:
        return
    fac = fac[_bbox_mask(fac, bbox)]
    fields = [label(k, lang) for k in ("category", "subtype", "beds", "township",
                                       "township_code", "address")]
    for key in _category_keys(result):
        part = fac[fac["category"].astype(str) == key]
        if len(part) == 0:
            continue
        lat, lon, keep = _point_rows(part, system)
        cat_name = category_name(result.categories, key, lang)

        def col(name: str, frame: pd.DataFrame = part) -> list[Any]:
            return list(frame[name]) if name in frame else [None] * len(frame)

        rows = []
        for i, (name, sub, beds, tname, tcode, addr) in enumerate(zip(
                col("name"), col("subtype"), col("beds"), col("township_name"),
                col("township_code"), col("address"), strict=True)):
            if not keep[i]:
                continue
            rows.append([float(lat[i]), float(lon[i]), _text(name), cat_name,
                         subtype_name(result.categories, key, _text(sub), lang),
                         fmt_number(beds), _text(tname), _text(tcode), _text(addr)])
        icon = _entry(result.categories, key, "icon")
        payload = {"color": colors[key], "glyph": _GLYPHS.get(str(icon), "dot"),
                   "fields": fields, "rows": rows, "cluster": len(rows) > CLUSTER_ABOVE}
        name = _swatch_name(colors[key], label("facilities_layer", lang, category=cat_name)
                            + f" ({len(rows)})")
        _add_layer(m, name, "facilities", payload, show=True)


def _area_layers(m: folium.Map, result: RunResult, colors: dict[str, str], *, system: str,
                 lang: str, tolerance_deg: float, kind: str | None,
                 bbox: tuple[float, float, float, float] | None) -> None:
    areas = result.service_areas
    if areas is None or len(areas) == 0:
        return
    geoms = _display_geoms(areas, system=system,
                           tolerance_deg=tolerance_deg, clip=bbox)
    cats = areas["category"].astype(str).to_numpy()
    thresholds = areas["threshold_min"].to_numpy()
    for key in _category_keys(result):
        mask = cats == key
        if not mask.any():
            continue
        main = kind_main_threshold(result, kind, thresholds[mask])
        cat_name = category_name(result.categories, key, lang)
        for threshold in sorted({float(t) for t in thresholds[mask]}):
            sel = mask & (thresholds.astype(float) == threshold)
            t_label = fmt_number(threshold)
            text = label("service_area_layer", lang, threshold=t_label, category=cat_name)
            fc = _feature_collection(geoms[sel], [{} for _ in range(int(sel.sum()))])
            if not fc["features"]:
                continue
            payload = {"geojson": fc, "color": colors[key], "label": text}
            _add_layer(m, _swatch_name(colors[key], text), "areas", payload,
                       show=main is not None and float(main) == threshold)


def _dropped_ways_layer(m: folium.Map, result: RunResult, *, system: str, lang: str,
                        bbox: tuple[float, float, float, float] | None) -> None:
    """The ways the walk rules dropped (network audit), off by default."""
    ways = result.dropped_ways
    if ways is None or len(ways) == 0:
        return
    ways = ways[_bbox_mask(ways, bbox)]
    fc = _feature_collection(_display_geoms(ways, system=system), [{} for _ in range(len(ways))])
    if fc["features"]:
        text = label("dropped_ways_layer", lang)
        _add_layer(m, _swatch_name("#7f7f7f", text), "areas",
                   {"geojson": fc, "color": "#7f7f7f", "label": text}, show=False)


def _unit_layers(m: folium.Map, result: RunResult, *, system: str, lang: str,
                 tolerance_deg: float, focus: str | None) -> None:
    """Unit boundaries (villages/communities) by level: on for a township's own units."""
    for level, units in (result.units or {}).items():
        if units is None or len(units) == 0:
            continue
        if focus is not None:
            if "parent_code" not in units:
                continue
            units = units[units["parent_code"].astype(str) == focus]
            if len(units) == 0:
                continue
        geoms = _display_geoms(units, system=system, tolerance_deg=tolerance_deg)
        names = units["name"] if "name" in units else pd.Series([""] * len(units))
        codes = units["code"] if "code" in units else pd.Series([""] * len(units))
        props = [{"n": f"{_text(n)} {_text(c)}".strip()}
                 for n, c in zip(names, codes, strict=True)]
        fc = _feature_collection(geoms, props)
        if not fc["features"]:
            continue
        level_name = label(f"level_{level}", lang) if has_label(f"level_{level}") else level
        text = label("units_layer", lang, level=level_name)
        _add_layer(m, _swatch_name("#ffffff", f"{text} ({len(fc['features'])})"), "units",
                   {"geojson": fc}, show=focus is not None)


def _uncovered_layers(m: folium.Map, result: RunResult, *, system: str, lang: str,
                      kind: str | None, bbox: tuple[float, float, float, float] | None) -> None:
    unc = result.uncovered
    if unc is None or len(unc) == 0:
        return
    unc = unc[_bbox_mask(unc, bbox)]
    for key in _category_keys(result):
        part = unc[unc["category"].astype(str) == key]
        if len(part) == 0:
            continue
        main = kind_main_threshold(result, kind, part["threshold_min"])
        part = part[part["threshold_min"].astype(float) == float(main)]
        pop60 = pd.to_numeric(part["pop60"], errors="coerce").fillna(0).to_numpy()
        part = part[pop60 > 0]
        pop60 = pop60[pop60 > 0]
        if len(part) == 0:
            continue
        lat, lon, keep = _point_rows(part, system)
        # Marker area grows with the people it stands for (radius ~ sqrt), capped for legibility.
        radius = np.clip(2.0 + 0.9 * np.sqrt(pop60), 2.0, 16.0).round(1)
        rows = [[float(a), float(o), fmt_number(p), float(r)]
                for a, o, p, r, k in zip(lat, lon, pop60, radius, keep, strict=True) if k]
        cat_name = category_name(result.categories, key, lang)
        text = label("uncovered_layer", lang, category=cat_name, threshold=fmt_number(main))
        payload = {"rows": rows, "color": UNCOVERED_COLOR, "label": label("pop60", lang)}
        _add_layer(m, _swatch_name(UNCOVERED_COLOR, text), "uncovered", payload, show=False)


def _site_layer(m: folium.Map, result: RunResult, *, system: str, lang: str,
                bbox: tuple[float, float, float, float] | None) -> None:
    sites = result.proposed_sites
    if sites is None or len(sites) == 0:
        return
    sites = sites[_bbox_mask(sites, bbox)]
    if len(sites) == 0:
        return
    lat, lon, keep = _point_rows(sites, system)

    def col(name: str) -> list[Any]:
        return list(sites[name]) if name in sites else [None] * len(sites)

    rows = []
    for i, (rank, cat, tname, new60, new, forced) in enumerate(zip(
            col("rank"), col("category"), col("township_name"), col("newly_covered_pop60"),
            col("newly_covered_pop"), col("forced"), strict=True)):
        if keep[i]:
            rows.append([float(lat[i]), float(lon[i]), fmt_number(rank),
                         category_name(result.categories, _text(cat), lang), _text(tname),
                         fmt_number(new60, digits=0), fmt_number(new, digits=0),
                         label("yes", lang) if _clean(forced) else ""])
    fields = [label(k, lang) for k in ("category", "township", "newly_covered_pop60",
                                       "newly_covered_pop", "forced")]
    payload = {"rows": rows, "color": SITE_COLOR, "title": label("proposed_site", lang),
               "fields": fields, "cluster": len(rows) > CLUSTER_ABOVE}
    _add_layer(m, _swatch_name(SITE_COLOR, label("sites_layer", lang) + f" ({len(rows)})"),
               "sites", payload, show=True)


def _needs_cluster(result: RunResult, bbox: tuple[float, float, float, float] | None) -> bool:
    counts = []
    if result.facilities is not None and len(result.facilities):
        fac = result.facilities[_bbox_mask(result.facilities, bbox)]
        counts += list(fac["category"].value_counts())
    if result.proposed_sites is not None:
        counts.append(len(result.proposed_sites))
    return any(c > CLUSTER_ABOVE for c in counts)


def _build(result: RunResult, *, focus: str | None, basemap: str, offline: bool,
           tiles_url: str | None, lang: str, tianditu_key: str | None) -> folium.Map:
    check_lang(lang)
    base = resolve_basemap(basemap, offline=offline, tiles_url=tiles_url,
                           tianditu_key=tianditu_key)
    system = base.system
    townships = _to_wgs84(result.townships)
    if len(townships) == 0 or townships.geometry.is_empty.all():
        raise InputError("the run has no township boundaries to draw: check the plan's "
                         "townships layer (inputs.townships) and its rejected rows")
    kind = None
    if focus is None:
        bounds = tuple(townships.total_bounds)
        bbox = None
        title = result.study_name
    else:
        sel = townships[townships["code"].astype(str) == focus]
        if len(sel) == 0:
            known = ", ".join(list(townships["code"].astype(str))[:5])
            raise InputError(f"township code {focus!r} is not in this run's townships "
                             f"(codes such as {known}); use one of result.townships['code']")
        bounds = tuple(sel.total_bounds)
        kind = _text(sel["kind"].iloc[0]) if "kind" in sel else None
        pad = _span_deg(bounds) * 0.15
        bbox = (bounds[0] - pad, bounds[1] - pad, bounds[2] + pad, bounds[3] + pad)
        title = f"{_text(sel['name'].iloc[0])}({focus})"
    # Simplify to half a screen pixel one zoom level in (the view spans ~1000 px).
    tolerance_deg = _span_deg(bounds) / 4000.0
    if system == "gcj02":
        lon, lat = wgs84_to_gcj02([bounds[0], bounds[2]], [bounds[1], bounds[3]])
        view = (float(lon[0]), float(lat[0]), float(lon[1]), float(lat[1]))
    else:
        view = bounds
    m = _new_map(view, base, offline=offline, cluster=_needs_cluster(result, bbox), title=title,
                 lang=lang, height_pct=100 if focus is None else _TOWNSHIP_MAP_PCT)
    if bbox is not None:
        townships = townships[_bbox_mask(townships, bbox)]
    t_geoms = _display_geoms(townships, system=system, tolerance_deg=tolerance_deg)
    _add_layer(m, label("target_status", lang), "townships",
               _townships_payload(result, townships, t_geoms, lang, focus), show=True)
    colors = category_colors(result)
    # Control order: what planners look at first. Paths draw in add order (areas over
    # townships); markers have their own pane above every path.
    _facility_layers(m, result, colors, system=system, lang=lang, bbox=bbox)
    _site_layer(m, result, system=system, lang=lang, bbox=bbox)
    _area_layers(m, result, colors, system=system, lang=lang, tolerance_deg=tolerance_deg,
                 kind=kind, bbox=bbox)
    _uncovered_layers(m, result, system=system, lang=lang, kind=kind, bbox=bbox)
    _unit_layers(m, result, system=system, lang=lang, tolerance_deg=tolerance_deg, focus=focus)
    _dropped_ways_layer(m, result, system=system, lang=lang, bbox=bbox)
    # Expanded on the overview; folded on township maps, which are small (and embedded in
    # the briefing), so the list does not cover the township.
    folium.LayerControl(collapsed=focus is not None, position="topright").add_to(m)
    return m


def overview_map(result: RunResult, *, basemap: str = "osm", offline: bool = False,
                 tiles_url: str | None = None, lang: str = "zh",
                 tianditu_key: str | None = None) -> folium.Map:
    """The district map: townships by target status, facilities, service areas, gaps, sites.

    Parameters
    ----------
    result
        A run's results; only its frames are drawn.
    basemap
        ``osm`` (default), ``tianditu`` (needs ``tianditu_key`` or ``TIANDITU_KEY``), ``amap``
        (overlays shifted to GCJ-02) or ``none``.
    offline
        Inline Leaflet and plugins and draw no public tiles: the page makes no network request.
    tiles_url
        Tile URL template replacing the basemap's tiles (local folder or intranet server).
    lang
        ``zh`` (default) or ``en`` labels.
    tianditu_key
        Tianditu developer key.

    Returns
    -------
    folium.Map
        Render it with :func:`render_html`.

    Layers: township polygons coloured by the status of the target picked in the legend
    (met green, not met red, n.a. grey), one facility layer per category (SVG pins, popups with
    name, category, subtype, beds, township and code; clustered above :data:`CLUSTER_ABOVE`
    points), service areas per category and threshold (the main threshold shown), uncovered
    people aged 60+ at the main threshold (circles sized by their number, hidden at first) and
    proposed sites (stars).
    """
    return _build(result, focus=None, basemap=basemap, offline=offline, tiles_url=tiles_url,
                  lang=lang, tianditu_key=tianditu_key)


def township_map(result: RunResult, code: str, *, basemap: str = "osm", offline: bool = False,
                 tiles_url: str | None = None, lang: str = "zh",
                 tianditu_key: str | None = None) -> folium.Map:
    """One township's map, zoomed to it, with its targets table below the map.

    Parameters are those of :func:`overview_map`, plus ``code``, the 9-digit township code.
    Overlays are cut to the township's surroundings (its box plus 15 %) to keep the file small.

    Raises
    ------
    InputError
        ``code`` is not a township of the run.
    """
    from lifecircle.maps.briefing import township_tables_html

    code = str(code)
    m = _build(result, focus=code, basemap=basemap, offline=offline, tiles_url=tiles_url,
               lang=lang, tianditu_key=tianditu_key)
    m.get_root().html.add_child(
        _Raw(f'<div class="lc-panel lc-page" style="position:absolute;top:{_TOWNSHIP_MAP_PCT}%;'
             f'left:0;right:0">{township_tables_html(result, code, lang=lang)}</div>'),
        name="lc_targets")
    return m


def warn_if_large(text: str, *, what: str = "map page") -> int:
    """Log a warning with advice when ``text`` exceeds :data:`WARN_BYTES`; return its size."""
    size = len(text.encode("utf-8"))
    if size > WARN_BYTES:
        log.warning(
            "%s is %.1f MB (over %d MB): browsers will be slow to open it. Draw fewer layers "
            "(fewer thresholds or categories), keep offline=False so Leaflet is not inlined, "
            "or simplify township and unit boundaries before the run",
            what, size / 2**20, WARN_BYTES // 2**20)
    return size


def render_html(m: folium.Map) -> str:
    """The complete, self-contained HTML page of a map (logs a warning above 20 MB)."""
    text = m.get_root().render()
    warn_if_large(text)
    return text


def save_map(m: folium.Map, path: str | Path) -> Path:
    """Write :func:`render_html` of ``m`` to ``path`` (UTF-8) and return the path."""
    path = Path(path)
    path.write_text(render_html(m), encoding="utf-8")
    return path
