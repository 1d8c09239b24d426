"""Interactive Folium maps of a run: the district overview and one map per township.

The maps draw only what :class:`lifecircle.results.RunResult` holds; nothing is computed here
beyond choosing, simplifying and projecting geometry for display. (The module is called
``webmap`` rather than ``folium`` so that ``import folium`` inside it means the library.)

Overlays are written as compact JSON payloads drawn by a small helper script
(``assets/lifecircle.js``) that puts every register text in the page with ``textContent``: a
facility named ``<script>alert(1)</script>`` shows as text and runs nothing. Folium's own
``Popup``/``Tooltip`` are not used because they inject HTML (and a JS template literal).

Every page is self-contained: Leaflet, its plugins and the helper are inlined (no CDN, which is
unreliable in mainland China and blocked on most 政务 intranets), markers are SVG (no icon font),
so the only requests a page makes are its basemap tiles; with ``basemap="none"``, a local tile
folder or an intranet tile server it needs no internet at all.

One story per target: the target picked in the legend drives the whole map — townships coloured
by its status with the shortfall in their labels, only its category's facilities and proposed
sites, its service areas at the walk it is judged at for each township kind, and the seniors
beyond that walk (all read from :class:`~lifecircle.results.RunResult`, see
:mod:`lifecircle.coverage.views`). The overview has a side panel (a bottom sheet on phones) with
the township × target status table.
"""

from __future__ import annotations

import html
import json
import logging
import math
import re
import secrets
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

from lifecircle.arrays import centres
from lifecircle.errors import InputError
from lifecircle.geo.crs import wgs84_to_gcj02
from lifecircle.i18n import category_name, check_lang, has_label, label, subtype_name
from lifecircle.maps import palette
from lifecircle.maps.basemaps import Basemap, resolve_basemap
from lifecircle.maps.palette import SITE_COLOR, UNCOVERED_COLOR
from lifecircle.maps.tables import (
    SITE_FIELDS,
    STATUS_MARKS,
    category_colors,
    category_keys,
    fmt_number,
    short_status,
    site_records,
    status_key,
    status_table_html,
    status_text,
    target_labels,
    township_tables_html,
    township_target_rows,
    warn_if_large,
)
from lifecircle.maps.tables import as_text as _text
from lifecircle.maps.tables import to_wgs84 as _to_wgs84
from lifecircle.results import RunResult

log = logging.getLogger(__name__)

ASSETS_DIR = Path(__file__).parent / "assets"
#: Layers with more points than this are drawn through Leaflet.markercluster.
CLUSTER_ABOVE = 300
#: Decimal places kept in coordinates: 1e-6 degree is about 0.1 m.
COORD_DECIMALS = 6
_STATUS_INDEX = {key: i for i, key in enumerate(palette.STATUS_ORDER)}
# Height of the township map in its page; the targets panel sits below it.
_TOWNSHIP_MAP_PCT = 70
# Font-Awesome 4 icon names of the registry -> glyphs drawn by lifecircle.js.
_GLYPHS = {
    "home": "home",
    "cutlery": "cutlery",
    "university": "columns",
    "handshake-o": "people",
    "users": "people",
    "child": "person",
    "user": "person",
    "shield": "shield",
    "building": "building",
    "heartbeat": "heart",
    "heart": "heart",
    "graduation-cap": "cap",
    "bell": "bell",
}

# Vendored files (see assets/README.md), inlined into every page.
_VENDOR = ("leaflet.css", "leaflet.js", "Control.FullScreen.css", "Control.FullScreen.js")
_CLUSTER = ("MarkerCluster.css", "MarkerCluster.Default.css", "leaflet.markercluster.js")
# Width of the overview's side panel (px); below 600 px wide it becomes a bottom sheet.
_SIDE_PX = 380


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


def _asset_tags(names: Iterable[str]) -> str:
    """Inline ``<style>``/``<script>`` tags of vendored asset files."""
    tags = []
    for name in names:
        text = _asset_text(name)
        if name.endswith(".css"):
            tags.append(f"<style>/* {name} */\n{text}</style>")
        else:
            # "</" cannot end the script early once escaped as "<\/" (same JS meaning).
            safe = text.replace("</", "<\\/")
            tags.append(f"<script>/* {name} */\n{safe}</script>")
    return "\n".join(tags)


class _RawJSON:
    """Finished JSON text (GEOS's GeoJSON of a geometry) that :func:`_js_json` puts in as it
    is: parsing it only to write it out again took half of a county page's time."""

    __slots__ = ("text",)

    def __init__(self, text: str) -> None:
        self.text = text


def _js_json(obj: Any) -> str:
    """JSON safe to place inside a ``<script>``: no ``<``, ``>``, ``&`` or line separators.

    :class:`_RawJSON` values go in as they are: json writes each as a marker string with a
    nonce of this call (no register text can spell it), replaced afterwards.
    """
    raw: list[str] = []
    nonce = secrets.token_hex(8)

    def marker(value: Any) -> str:
        if not isinstance(value, _RawJSON):
            raise TypeError(f"not JSON serializable: {type(value).__name__}")
        raw.append(value.text)
        return f"{nonce}:{len(raw) - 1}"

    text = json.dumps(
        obj, ensure_ascii=False, separators=(",", ":"), allow_nan=False, default=marker
    )
    if raw:
        text = re.sub(f'"{nonce}:(\\d+)"', lambda m: raw[int(m.group(1))], text)
    for char, escaped in (
        ("<", "\\u003c"),
        (">", "\\u003e"),
        ("&", "\\u0026"),
        ("\u2028", "\\u2028"),
        ("\u2029", "\\u2029"),
    ):
        text = text.replace(char, escaped)
    return text


def _with_refs(payload: str, refs: dict[str, Any] | None) -> str:
    """Replace each placeholder string of ``refs`` in a JSON payload by the JS variable of its
    folium object (so a payload can hand feature groups to the helper)."""
    for placeholder, element in (refs or {}).items():
        payload = payload.replace(json.dumps(placeholder), element.get_name())
    return payload


class _JsScript(Element):
    """A line of script put in the page as is.

    folium's ``MacroElement`` compiles its rendered script as a new Jinja template, which would
    evaluate ``{{ ... }}`` in a register's text (template injection) and takes seconds on a
    county's payloads; these add the finished line to the page's script instead.
    """

    def script(self) -> str:
        raise NotImplementedError

    def render(self, **kwargs: Any) -> None:
        self.get_root().script.add_child(_Raw(self.script()), name=self.get_name())


class _JsLayer(_JsScript):
    """Draws one payload into its parent feature group with a ``LC.<kind>`` helper."""

    def __init__(
        self, kind: str, payload: dict[str, Any], map_name: str, refs: dict[str, Any] | None = None
    ) -> None:
        super().__init__()
        self._name = "LcLayer"
        self.kind = kind
        self.payload = _with_refs(_js_json(payload), refs)
        self.map_name = map_name

    def script(self) -> str:
        return f"LC.{self.kind}({self._parent.get_name()}, {self.payload}, {self.map_name});\n"


class _JsCall(_JsScript):
    """Calls ``LC.<kind>(map, payload)``; ``refs`` names JS variables put in the payload.

    ``refs`` maps a placeholder string found in the JSON payload to a folium object whose
    variable replaces it (the layer list needs the feature groups themselves).
    """

    def __init__(
        self, kind: str, payload: dict[str, Any], refs: dict[str, Any] | None = None
    ) -> None:
        super().__init__()
        self._name = "LcCall"
        self.kind = kind
        self.payload = _with_refs(_js_json(payload), refs)

    def script(self) -> str:
        return f"LC.{self.kind}({self._parent.get_name()}, {self.payload});\n"


class _MetricScale(MacroElement):
    """A metric-only scale bar (folium's ``control_scale`` adds feet and miles too)."""

    _template = Template(
        "{% macro script(this, kwargs) %}"
        "L.control.scale({imperial: false, maxWidth: 160}).addTo({{ this._parent.get_name() }});\n"
        "{% endmacro %}"
    )


# --------------------------------------------------------------------------------------------
# Values and geometry for display


def _display_geoms(
    frame: gpd.GeoDataFrame,
    *,
    system: str,
    tolerance_deg: float = 0.0,
    clip: tuple[float, float, float, float] | None = None,
) -> np.ndarray:
    """Geometries ready to draw: WGS-84, clipped, simplified, shifted to ``system``, rounded."""
    geoms = np.asarray(_to_wgs84(frame).geometry.values, dtype=object)
    if clip is not None:
        geoms = shapely.clip_by_rect(geoms, *clip)
    if tolerance_deg > 0:
        # drawn, not measured: a ring the simplification leaves touching itself draws the same
        geoms = shapely.simplify(geoms, tolerance_deg, preserve_topology=False)
    if system == "gcj02":
        geoms = shapely.transform(geoms, _gcj02_coords)
    return shapely.transform(geoms, lambda xy: np.round(xy, COORD_DECIMALS))


def _gcj02_coords(xy: np.ndarray) -> np.ndarray:
    lon, lat = wgs84_to_gcj02(xy[:, 0], xy[:, 1])
    return np.column_stack([lon, lat])


def _point_rows(frame: gpd.GeoDataFrame, system: str) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(lat, lon, keep mask) of point geometries in ``system``, rounded."""
    lon, lat = centres(_display_geoms(frame, system=system))
    return lat, lon, ~np.isnan(lon)


def _feature_collection(geoms: np.ndarray, properties: list[dict[str, Any]]) -> dict[str, Any]:
    keep = ~(shapely.is_missing(geoms) | shapely.is_empty(geoms))
    texts = shapely.to_geojson(geoms[keep])
    props = [p for p, k in zip(properties, keep, strict=True) if k]
    return {
        "type": "FeatureCollection",
        "features": [
            {"type": "Feature", "properties": p, "geometry": _RawJSON(t)}
            for p, t in zip(props, texts, strict=True)
        ],
    }


def _span_deg(bounds: tuple[float, float, float, float]) -> float:
    return max(bounds[2] - bounds[0], bounds[3] - bounds[1], 1e-4)


# --------------------------------------------------------------------------------------------
# Payloads: the story (targets), townships, facilities, areas, uncovered seniors, sites, units


def _walk_key(category: str, kind: str, minutes: Any) -> str:
    return f"{category}|{kind}|{fmt_number(minutes)}"


def _walks_text(walks: pd.DataFrame, lang: str) -> str:
    """``街道15分钟、镇/乡20分钟`` (one figure when every kind walks the same)."""
    minutes = [fmt_number(t) for t in walks["threshold_min"]]
    if len(set(minutes)) == 1:
        return label("minutes", lang, threshold=minutes[0])
    sep = "、" if lang == "zh" else ", "
    return sep.join(
        f"{label(k, lang) if has_label(k) else k}"
        f"{'' if lang == 'zh' else ' '}{label('minutes', lang, threshold=t)}"
        for k, t in zip(walks["kind"], minutes, strict=True)
    )


def _story_payload(
    result: RunResult, colors: dict[str, str], lang: str, focus: str | None
) -> dict[str, Any]:
    """The targets the selector offers, each with its category and walk keys."""
    rows = township_target_rows(result)
    labels = target_labels(rows) if len(rows) else {}
    walks = (
        result.target_walks
        if result.target_walks is not None
        else pd.DataFrame(columns=["target_id", "category", "kind", "threshold_min"])
    )
    targets = []
    for target_id, text in labels.items():
        own = walks[walks["target_id"].astype(str) == target_id]
        category = str(own["category"].iloc[0]) if len(own) else None
        targets.append(
            {
                "label": text,
                "category": category,
                "categoryName": label(
                    "facilities_layer",
                    lang,
                    category=category_name(result.categories, category, lang),
                )
                if category
                else "",
                "color": colors.get(category or "", "#777777"),
                "keys": [
                    _walk_key(c, k, t)
                    for c, k, t in zip(
                        own["category"], own["kind"], own["threshold_min"], strict=True
                    )
                ],
                "walk": label("walk_area", lang, walks=_walks_text(own, lang)) if len(own) else "",
            }
        )
    initial = 0
    if focus is not None:  # the first target assessed for the focus township
        lookup = {
            (str(t), str(u)) for t, u in zip(rows["target_id"], rows["unit_code"], strict=True)
        }
        own_targets = [i for i, t in enumerate(labels) if (t, focus) in lookup]
        initial = own_targets[0] if own_targets else 0
    return {"targets": targets, "initial": initial}


def _townships_payload(
    result: RunResult, townships: gpd.GeoDataFrame, geoms: np.ndarray, lang: str, focus: str | None
) -> dict[str, Any]:
    rows = township_target_rows(result)
    targets = list(target_labels(rows)) if len(rows) else []
    lookup = {(str(r.target_id), str(r.unit_code)): r for r in rows.itertuples(index=False)}
    props = []
    for code, name in zip(townships["code"].astype(str), townships["name"], strict=True):
        status, text, short = [], [], []
        for target in targets:
            row = lookup.get((target, code))
            if row is None:
                status.append(_STATUS_INDEX["no_data"])
                text.append(label("no_data", lang))
                short.append("")
            else:
                status.append(_STATUS_INDEX[status_key(row.status)])
                text.append(status_text(row, lang))
                short.append(short_status(row, lang))
        props.append({"c": code, "n": _text(name), "s": status, "v": text, "m": short})
    return {
        "geojson": _feature_collection(geoms, props),
        "colors": [palette.STATUS_COLORS[k] for k in palette.STATUS_ORDER],
        "opacity": palette.STATUS_FILL_OPACITY,
        "hatchColor": palette.NOT_MET_HATCH,
        "focus": focus,
        "title": label("target_status", lang),
        "targetLabel": label("target", lang),
        "noTarget": label("no_target", lang),
        "statusLabels": [
            f"{STATUS_MARKS[k]} {label(k, lang)}".strip() for k in palette.STATUS_ORDER
        ],
        "uncoveredColor": UNCOVERED_COLOR,
        "uncoveredLabel": label("uncovered_legend", lang),
    }


def _bbox_mask(frame: gpd.GeoDataFrame, bbox: tuple[float, float, float, float] | None) -> Any:
    if bbox is None or len(frame) == 0:
        return np.ones(len(frame), dtype=bool)
    box = shapely.box(*bbox)
    shapely.prepare(box)  # tested against every row (a county's 700,000 uncovered cells)
    return shapely.intersects(box, _to_wgs84(frame).geometry.to_numpy())


def _facilities_payload(
    result: RunResult,
    colors: dict[str, str],
    *,
    system: str,
    lang: str,
    bbox: tuple[float, float, float, float] | None,
) -> dict[str, Any]:
    fac = result.facilities
    cats: dict[str, Any] = {}
    if fac is None or len(fac) == 0:
        return {"cats": cats}
    fac = fac[_bbox_mask(fac, bbox)]
    fields = [
        label(k, lang)
        for k in ("category", "subtype", "beds", "township", "township_code", "address")
    ]
    for key in category_keys(result):
        part = fac[fac["category"].astype(str) == key]
        if len(part) == 0:
            continue
        lat, lon, keep = _point_rows(part, system)
        cat_name = category_name(result.categories, key, lang)

        def col(name: str, frame: pd.DataFrame = part) -> list[Any]:
            return list(frame[name]) if name in frame else [None] * len(frame)

        rows = []
        for i, (name, sub, beds, tname, tcode, addr) in enumerate(
            zip(
                col("name"),
                col("subtype"),
                col("beds"),
                col("township_name"),
                col("township_code"),
                col("address"),
                strict=True,
            )
        ):
            if keep[i]:
                rows.append(
                    [
                        float(lat[i]),
                        float(lon[i]),
                        _text(name),
                        cat_name,
                        subtype_name(result.categories, key, _text(sub), lang),
                        fmt_number(beds),
                        _text(tname),
                        _text(tcode),
                        _text(addr),
                    ]
                )
        icon = (result.categories.get(key) or {}).get("icon")
        cats[key] = {
            "color": colors[key],
            "glyph": _GLYPHS.get(str(icon), "dot"),
            "fields": fields,
            "rows": rows,
            "cluster": len(rows) > CLUSTER_ABOVE,
        }
    return {"cats": cats}


def _areas_payload(
    result: RunResult,
    colors: dict[str, str],
    *,
    system: str,
    lang: str,
    tolerance_deg: float,
    bbox: tuple[float, float, float, float] | None,
) -> dict[str, Any]:
    areas = result.walk_areas
    views: dict[str, Any] = {}
    if areas is None or len(areas) == 0:
        return {"views": views}
    geoms = _display_geoms(areas, system=system, tolerance_deg=tolerance_deg, clip=bbox)
    for geom, category, kind, minutes in zip(
        geoms,
        areas["category"].astype(str),
        areas["kind"].astype(str),
        areas["threshold_min"],
        strict=True,
    ):
        fc = _feature_collection(np.array([geom], dtype=object), [{}])
        if not fc["features"]:
            continue
        text = label(
            "service_area_layer",
            lang,
            threshold=fmt_number(minutes),
            category=category_name(result.categories, category, lang),
        )
        views[_walk_key(category, kind, minutes)] = {
            "geojson": fc,
            "color": colors[category],
            "label": text,
        }
    return {"views": views}


def _uncovered_payload(
    result: RunResult,
    *,
    system: str,
    lang: str,
    bbox: tuple[float, float, float, float] | None,
    overview: bool,
) -> dict[str, Any]:
    unc = result.walk_uncovered
    text = label("pop60", lang)
    if overview and result.overview_block_m is not None:
        unc = result.overview_uncovered  # a county's cells pooled into blocks
        text = label("pop60_pooled", lang, block=fmt_number(result.overview_block_m))
    views: dict[str, Any] = {}
    payload = {"views": views, "color": UNCOVERED_COLOR, "label": text}
    if unc is None or len(unc) == 0:
        return payload
    unc = unc[_bbox_mask(unc, bbox)]
    pop60_all = pd.to_numeric(unc["pop60"], errors="coerce").fillna(0).to_numpy()
    unc = unc[pop60_all > 0]
    for (category, kind, minutes), part in unc.groupby(
        ["category", "kind", "threshold_min"], sort=False
    ):
        lat, lon, keep = _point_rows(part, system)
        pop60 = part["pop60"].to_numpy(dtype=float)
        # Marker area grows with the people it stands for (radius ~ sqrt), capped for legibility.
        radius = np.clip(2.0 + 0.9 * np.sqrt(pop60), 2.0, 16.0).round(1)
        # whole people as text, rounded as fmt_number(digits=0) rounds (half to even)
        people = np.round(pop60[keep]).astype(np.int64).astype(str)
        views[_walk_key(str(category), str(kind), minutes)] = {
            "rows": list(
                zip(
                    lat[keep].tolist(),
                    lon[keep].tolist(),
                    people.tolist(),
                    radius[keep].tolist(),
                    strict=True,
                )
            )
        }
    return payload


def _sites_payload(
    result: RunResult, *, system: str, lang: str, bbox: tuple[float, float, float, float] | None
) -> dict[str, Any]:
    sites = result.proposed_sites
    cats: dict[str, Any] = {}
    payload = {"cats": cats, "color": SITE_COLOR, "title": label("proposed_site", lang)}
    if sites is None or len(sites) == 0:
        return payload
    sites = sites[_bbox_mask(sites, bbox)]
    if len(sites) == 0:
        return payload
    lat, lon, keep = _point_rows(sites, system)
    records = site_records(result, sites, lang)
    payload["fields"] = list(records.columns[1:])
    coords = {label(k, lang) for k in SITE_FIELDS if k.startswith(("lon_", "lat_"))}
    for i, (category, values) in enumerate(
        zip(sites["category"].astype(str), records.itertuples(index=False), strict=True)
    ):
        if not keep[i]:
            continue
        texts = [
            f"{v:.6f}" if name in coords else fmt_number(v, digits=0)
            for name, v in zip(records.columns, values, strict=True)
        ]
        cats.setdefault(category, {"rows": []})["rows"].append(
            [float(lat[i]), float(lon[i]), *texts]
        )
    return payload


def _units_payload(
    result: RunResult, *, system: str, tolerance_deg: float, focus: str | None
) -> dict[str, Any] | None:
    """Unit boundaries (villages/communities) of the first level with any (a township's own)."""
    for units in (result.units or {}).values():
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
        props = [{"n": f"{_text(n)} {_text(c)}".strip()} for n, c in zip(names, codes, strict=True)]
        fc = _feature_collection(geoms, props)
        if fc["features"]:
            return {"geojson": fc}
    return None


def _dropped_ways_payload(
    result: RunResult, *, system: str, bbox: tuple[float, float, float, float] | None
) -> dict[str, Any] | None:
    """The ways the walk rules dropped (the network audit's), or ``None`` when there are none."""
    ways = getattr(result, "dropped_ways", None)
    if ways is None or len(ways) == 0:
        return None
    ways = ways[_bbox_mask(ways, bbox)]
    fc = _feature_collection(_display_geoms(ways, system=system), [{} for _ in range(len(ways))])
    return {"geojson": fc} if fc["features"] else None


# --------------------------------------------------------------------------------------------
# Map assembly


def _new_map(
    bounds: tuple[float, float, float, float],
    basemap: Basemap,
    *,
    cluster: bool,
    title: str,
    lang: str,
    height_pct: int = 100,
    side_panel: str | None = None,
) -> folium.Map:
    west, south, east, north = bounds
    # Start at about the zoom fitBounds will choose (a ~1000 px view) so that no tiles of
    # another zoom level are fetched first; maxZoom is on the map because markercluster needs it.
    span = max(east - west, (north - south) * 1.3, 1e-4)
    zoom = int(np.clip(math.floor(math.log2(1000 * 360 / (256 * span))), 3, 18))
    m = folium.Map(
        location=[(south + north) / 2, (west + east) / 2],
        zoom_start=zoom,
        tiles=None,
        control_scale=False,
        zoom_control=False,
        height=f"{height_pct}%",
        maxZoom=19,
        zoomSnap=0.25,
        zoomDelta=0.5,
    )
    # Folium's default CDN list (jQuery, Bootstrap, awesome-markers, Font Awesome) is not used:
    # the maps need Leaflet, fullscreen and markercluster only, inlined by _asset_tags.
    m.default_js = []
    m.default_css = []
    root = m.get_root()
    root.header.add_child(_Raw('<meta charset="utf-8"/>'), name="lc_charset")
    root.header.add_child(_Raw(f"<title>{html.escape(title)}</title>"), name="lc_page_title")
    root.header.add_child(
        _Raw(_asset_tags([*_VENDOR, *(_CLUSTER if cluster else ())])), name="lc_vendor"
    )
    css = _asset_text("lifecircle.css")
    if not basemap.tiles:
        css += ".leaflet-container{background:#fff}"
    if side_panel is not None:
        css += _asset_text("lifecircle-side.css").replace("380px", f"{_SIDE_PX}px")
    root.header.add_child(
        _Raw(
            f"<style>{css}</style>\n<script>"
            + _asset_text("lifecircle.js").replace("</", "<\\/")
            + "</script>"
        ),
        name="lc_helper",
    )
    root.html.add_child(
        _Raw(f'<div class="lc-title lc-page">{html.escape(title)}</div>'), name="lc_title"
    )
    if side_panel is not None:
        root.html.add_child(_Raw(side_panel), name="lc_side")
    for i, tile in enumerate(basemap.tiles):
        folium.TileLayer(
            tiles=tile.url,
            attr=tile.attribution,
            name=tile.name,
            subdomains=tile.subdomains,
            max_zoom=tile.max_zoom,
            max_native_zoom=tile.max_zoom,
            overlay=i > 0,
            control=False,
        ).add_to(m)
    m.add_child(
        _JsCall("controls", {"zoomIn": label("zoom_in", lang), "zoomOut": label("zoom_out", lang)})
    )
    fullscreen = folium.plugins.Fullscreen(
        position="topleft",
        title=label("fullscreen", lang),
        title_cancel=label("exit_fullscreen", lang),
    )
    fullscreen.default_js = []
    fullscreen.default_css = []
    fullscreen.add_to(m)
    _MetricScale().add_to(m)
    m.fit_bounds([[south, west], [north, east]])
    return m


def _group(
    m: folium.Map,
    kind: str,
    payload: dict[str, Any],
    *,
    show: bool,
    refs: dict[str, Any] | None = None,
) -> folium.FeatureGroup:
    """A feature group (kept out of folium's layer control) drawn by ``LC.<kind>``."""
    group = folium.FeatureGroup(name=kind, show=show, control=False)
    group.add_child(_JsLayer(kind, payload, m.get_name(), refs))
    group.add_to(m)
    return group


def _needs_cluster(result: RunResult, bbox: tuple[float, float, float, float] | None) -> bool:
    counts = []
    if result.facilities is not None and len(result.facilities):
        fac = result.facilities[_bbox_mask(result.facilities, bbox)]
        counts += list(fac["category"].value_counts())
    if result.proposed_sites is not None:
        counts.append(len(result.proposed_sites))
    return any(c > CLUSTER_ABOVE for c in counts)


def _side_panel(result: RunResult, lang: str) -> str:
    """The overview's side panel (a bottom sheet on phones): the status table."""
    name = html.escape(label("status_table", lang), quote=True)
    return (
        f'<aside class="lc-side lc-page" aria-label="{name}">'
        f'<p class="lc-hint">{html.escape(label("panel_hint", lang))}</p>'
        f"{status_table_html(result, lang=lang)}</aside>"
    )


def _build(
    result: RunResult,
    *,
    focus: str | None,
    basemap: str,
    offline: bool,
    tiles_url: str | None,
    lang: str,
    tianditu_key: str | None,
) -> folium.Map:
    check_lang(lang)
    base = resolve_basemap(basemap, offline=offline, tiles_url=tiles_url, tianditu_key=tianditu_key)
    system = base.system
    townships = _to_wgs84(result.townships)
    if len(townships) == 0 or townships.geometry.is_empty.all():
        raise InputError(
            "the run has no township boundaries to draw: check the plan's "
            "townships layer (inputs.townships) and its rejected rows"
        )
    if focus is None:
        bounds = tuple(townships.total_bounds)
        bbox = None
        title = label("overview_title", lang, study=_text(result.study_name))
    else:
        sel = townships[townships["code"].astype(str) == focus]
        if len(sel) == 0:
            known = ", ".join(list(townships["code"].astype(str))[:5])
            raise InputError(
                f"township code {focus!r} is not in this run's townships "
                f"(codes such as {known}); use one of result.townships['code']"
            )
        bounds = tuple(sel.total_bounds)
        pad = _span_deg(bounds) * 0.15
        bbox = (bounds[0] - pad, bounds[1] - pad, bounds[2] + pad, bounds[3] + pad)
        title = label("township_title", lang, name=_text(sel["name"].iloc[0]), code=focus)
    # Simplify to half a screen pixel one zoom level in (the view spans ~1000 px).
    tolerance_deg = _span_deg(bounds) / 4000.0
    if system == "gcj02":
        lon, lat = wgs84_to_gcj02([bounds[0], bounds[2]], [bounds[1], bounds[3]])
        view = (float(lon[0]), float(lat[0]), float(lon[1]), float(lat[1]))
    else:
        view = bounds
    m = _new_map(
        view,
        base,
        cluster=_needs_cluster(result, bbox),
        title=title,
        lang=lang,
        height_pct=100 if focus is None else _TOWNSHIP_MAP_PCT,
        side_panel=_side_panel(result, lang) if focus is None else None,
    )
    colors = category_colors(result)
    m.add_child(_JsCall("story", _story_payload(result, colors, lang, focus)))
    if bbox is not None:
        townships = townships[_bbox_mask(townships, bbox)]
    t_geoms = _display_geoms(townships, system=system, tolerance_deg=tolerance_deg)
    # Paths draw in add order (areas and uncovered seniors over townships); markers and labels
    # have their own panes above every path.
    towns = _group(
        m, "townships", _townships_payload(result, townships, t_geoms, lang, focus), show=True
    )
    areas = _group(
        m,
        "areas",
        _areas_payload(
            result, colors, system=system, lang=lang, tolerance_deg=tolerance_deg, bbox=bbox
        ),
        show=True,
    )
    uncovered = _group(
        m,
        "uncovered",
        _uncovered_payload(result, system=system, lang=lang, bbox=bbox, overview=focus is None),
        show=True,
    )
    facilities = _group(
        m,
        "facilities",
        _facilities_payload(result, colors, system=system, lang=lang, bbox=bbox),
        show=True,
    )
    sites = _group(
        m, "sites", _sites_payload(result, system=system, lang=lang, bbox=bbox), show=True
    )
    names = _group(m, "labels", {"townships": "@townships"}, show=True, refs={"@townships": towns})
    items = [
        (towns, "target_status"),
        (names, "labels_layer"),
        (facilities, "facilities_all"),
        (areas, "areas_all"),
        (uncovered, "uncovered_all"),
        (sites, "sites_layer"),
    ]
    groups = [
        {
            "title": label("group_target", lang),
            "items": [[f"@{i}", label(key, lang)] for i, (_, key) in enumerate(items)],
        }
    ]
    refs = {f"@{i}": group for i, (group, _) in enumerate(items)}
    other = []
    units = _units_payload(result, system=system, tolerance_deg=tolerance_deg, focus=focus)
    if units is not None:
        refs["@units"] = _group(m, "units", units, show=focus is not None)
        other.append(["@units", label("units_layer", lang, level=label("level_village", lang))])
    dropped = _dropped_ways_payload(result, system=system, bbox=bbox)
    if dropped is not None:  # off at first
        refs["@dropped"] = _group(m, "ways", dropped, show=False)
        other.append(["@dropped", label("dropped_ways_layer", lang)])
    if other:
        groups.append({"title": label("group_other", lang), "items": other})
    m.add_child(_JsCall("layers", {"title": label("layers", lang), "groups": groups}, refs))
    return m


def overview_map(
    result: RunResult,
    *,
    basemap: str = "osm",
    offline: bool = False,
    tiles_url: str | None = None,
    lang: str = "zh",
    tianditu_key: str | None = None,
) -> folium.Map:
    """The district map: one story per target, with the township × target status table.

    Parameters
    ----------
    result
        A run's results; only its frames are drawn.
    basemap
        ``osm`` (default), ``tianditu`` (needs ``tianditu_key`` or ``TIANDITU_KEY``), ``amap``
        (overlays shifted to GCJ-02) or ``none``.
    offline
        Draw no public tiles (as ``basemap="none"`` unless ``tiles_url`` is given). Leaflet is
        inlined either way.
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

    The target picked in the legend drives every layer: township polygons coloured by its
    status (met blue, not met orange, n.a. grey; :mod:`~lifecircle.maps.palette`) with a label
    giving the name, a ✓/✗ mark and the shortfall; its category's facilities (SVG pins, popups
    with name, category, subtype, beds, township and code; clustered above
    :data:`CLUSTER_ABOVE` points) and proposed sites (stars, popups with the decision table of
    :func:`~lifecircle.maps.tables.site_records`); its service area at the walk it is judged at
    for each township kind; and the seniors beyond that walk (dark circles sized by their
    number). A side panel (a bottom sheet below 600 px) holds the status table; clicking a
    township zooms to it, its name links to its page.
    """
    return _build(
        result,
        focus=None,
        basemap=basemap,
        offline=offline,
        tiles_url=tiles_url,
        lang=lang,
        tianditu_key=tianditu_key,
    )


def township_map(
    result: RunResult,
    code: str,
    *,
    basemap: str = "osm",
    offline: bool = False,
    tiles_url: str | None = None,
    lang: str = "zh",
    tianditu_key: str | None = None,
) -> folium.Map:
    """One township's map, zoomed to it, with its targets table below the map.

    Parameters are those of :func:`overview_map`, plus ``code``, the 9-digit township code.
    Overlays are cut to the township's surroundings (its box plus 15 %) to keep the file small.

    Raises
    ------
    InputError
        ``code`` is not a township of the run.
    """
    code = str(code)
    m = _build(
        result,
        focus=code,
        basemap=basemap,
        offline=offline,
        tiles_url=tiles_url,
        lang=lang,
        tianditu_key=tianditu_key,
    )
    m.get_root().html.add_child(
        _Raw(
            f'<div class="lc-panel lc-page" style="position:absolute;top:{_TOWNSHIP_MAP_PCT}%;'
            f'left:0;right:0">{township_tables_html(result, code, lang=lang)}</div>'
        ),
        name="lc_targets",
    )
    return m


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
