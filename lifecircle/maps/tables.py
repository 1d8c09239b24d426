"""Display helpers and HTML tables shared by the web maps, the briefing and the static maps.

Nothing here computes a figure: values come from :class:`lifecircle.results.RunResult` and are
only formatted (numbers rounded for display, units and statuses put in words, text escaped).
Both :mod:`lifecircle.maps.webmap` and :mod:`lifecircle.maps.briefing` import from here, so
neither imports the other.
"""

from __future__ import annotations

import html
import logging
import math
from collections.abc import Iterable
from typing import Any

import geopandas as gpd
import numpy as np
import pandas as pd

from lifecircle.coverage.targets import UNIT_ZH
from lifecircle.geo.crs import wgs84_to_bd09, wgs84_to_gcj02
from lifecircle.i18n import category_name, check_lang, label
from lifecircle.maps import palette
from lifecircle.output import folder_name
from lifecircle.results import RunResult

log = logging.getLogger(__name__)

_E = html.escape
#: A rendered page larger than this logs a warning with advice.
WARN_BYTES = 20 * 1024 * 1024
#: The statuses a gap row can have, in the order map payloads index them.
STATUSES = palette.STATUS_ORDER


# --------------------------------------------------------------------------------------------
# Values


def clean(value: Any) -> Any:
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
    value = clean(value)
    if value is None or value == "":
        return ""
    if isinstance(value, bool):
        return str(value)
    if isinstance(value, (int, float)):
        if float(value).is_integer():
            return str(int(value))
        return f"{value:.{digits}f}"
    return str(value)


def as_text(value: Any) -> str:
    """``value`` as display text ('' for missing)."""
    value = clean(value)
    return "" if value is None else str(value)


def to_wgs84(frame: gpd.GeoDataFrame) -> gpd.GeoDataFrame:
    """``frame`` in EPSG:4326 (a frame without a CRS is taken as WGS-84)."""
    if frame.crs is None:
        return frame.set_crs(4326)
    if frame.crs.to_epsg() != 4326:
        return frame.to_crs(4326)
    return frame


def category_keys(result: RunResult) -> list[str]:
    """Categories in registry order, then any others that occur in the frames."""
    keys = list(result.categories)
    for frame in (result.facilities, result.walk_areas, result.walk_uncovered):
        if frame is not None and "category" in frame:
            keys += [k for k in pd.unique(frame["category"].astype(str)) if k not in keys]
    return keys


def category_colors(result: RunResult) -> dict[str, str]:
    """The map colour of every category of the run (Okabe–Ito, see :mod:`.palette`)."""
    return palette.category_colors(category_keys(result))


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


def kind_main_threshold(
    result: RunResult, kind: str | None = None, available: Iterable[float] = ()
) -> float | None:
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


def unit_label(unit: Any, lang: str) -> str:
    """A value or shortfall unit for display (the gap rows hold English unit names).

    >>> unit_label("facilities", "zh"), unit_label("facilities", "en")
    ('处', 'facilities')
    """
    text = as_text(unit)
    return UNIT_ZH.get(text, text) if lang == "zh" else text


def status_key(value: Any) -> str:
    """The status key of a gap row's ``status`` (``no_data`` when it is none of the three)."""
    text = as_text(value)
    return text if text in ("met", "not_met", "na") else "no_data"


def shortfall_text(row: Any, lang: str) -> str:
    """The shortfall with its unit (``3处``, ``120 seniors``), or '' when there is none."""
    value = fmt_number(getattr(row, "shortfall", None))
    if not value or value == "0":
        return ""
    unit = unit_label(getattr(row, "shortfall_unit", ""), lang)
    return f"{value}{unit}" if lang == "zh" else f"{value} {unit}".strip()


#: A mark per status so that colour is never the only cue.
STATUS_MARKS = {"met": "✓", "not_met": "✗", "na": "–", "no_data": ""}


def short_status(row: Any, lang: str) -> str:
    """A status with its mark and shortfall: ``✗ 未达标（缺口40处）``, ``✓ 达标``."""
    key = status_key(getattr(row, "status", None))
    text = f"{STATUS_MARKS[key]} {label(key, lang)}".strip()
    short = shortfall_text(row, lang)
    if short:
        text += f"（{label('shortfall', lang)}{short}）" if lang == "zh" else f" (short by {short})"
    return text


def status_text(row: Any, lang: str) -> str:
    """One line for a township's status on a target: ``未达标 · 62.5 / 80 % · 缺口 120人``."""
    parts = [label(status_key(getattr(row, "status", "")), lang)]
    value, target = (
        fmt_number(getattr(row, "value", None)),
        fmt_number(getattr(row, "target_value", None)),
    )
    if value or target:
        unit = unit_label(getattr(row, "unit", ""), lang)
        parts.append(f"{value or '—'} / {target or '—'} {unit}".strip())
    short = shortfall_text(row, lang)
    if short:
        parts.append(label("shortfall_is", lang, shortfall=short))
    return " · ".join(parts)


def note_text(row: Any, lang: str) -> str:
    """A gap row's note in ``lang``."""
    if lang == "en":
        return as_text(getattr(row, "note_en", "")) or as_text(getattr(row, "note", ""))
    return as_text(getattr(row, "note", ""))


def warn_if_large(text: str, *, what: str = "map page") -> int:
    """Log a warning with advice when ``text`` exceeds :data:`WARN_BYTES`; return its size."""
    size = len(text.encode("utf-8"))
    if size > WARN_BYTES:
        log.warning(
            "%s is %.1f MB (over %d MB): browsers will be slow to open it. Draw fewer layers "
            "(fewer thresholds or categories) or simplify township and unit boundaries before "
            "the run",
            what,
            size / 2**20,
            WARN_BYTES // 2**20,
        )
    return size


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


def target_labels(rows: pd.DataFrame) -> dict[str, str]:
    """Target id -> its indicator text (the id added where two targets share an indicator)."""
    labels: dict[str, str] = {}
    indicators = rows["indicator"] if "indicator" in rows else rows["target_id"]
    for target_id, indicator in zip(rows["target_id"], indicators, strict=True):
        if str(target_id) not in labels:
            labels[str(target_id)] = as_text(indicator) or str(target_id)
    seen: dict[str, int] = {}
    for text in labels.values():
        seen[text] = seen.get(text, 0) + 1
    return {k: (f"{v} [{k}]" if seen[v] > 1 else v) for k, v in labels.items()}


def township_page_name(code: str, name: str) -> str:
    """The file name of a township's map page: ``<code>-<name>.html``, the name made safe by
    :func:`lifecircle.output.folder_name` (the pipeline names the page and its picture so).

    >>> township_page_name("310117001", "岳阳街道")
    '310117001-岳阳街道.html'
    """
    return f"{code}-{folder_name(name, max_bytes=200)}.html"


def status_table_html(
    result: RunResult, *, lang: str = "zh", link_prefix: str | None = "townships/"
) -> str:
    """The township × target status table of the overview's side panel.

    One row per township (its name links to its page under ``link_prefix``; ``None`` for no
    link), one column per township-level target. A cell spells the status (达标 / 未达标 /
    不适用 with a ✓ / ✗ / – mark, so colour is not the only cue) and the shortfall. Rows carry
    ``data-code`` (the map zooms to the township on click), cells ``data-target`` (the target's
    position, the column the map's selector shows).
    """
    check_lang(lang)
    rows = township_target_rows(result)
    labels = target_labels(rows) if len(rows) else {}
    lookup = {(str(r.target_id), str(r.unit_code)): r for r in rows.itertuples(index=False)}
    head = "".join(
        f'<th data-target="{i}" title="{_E(text)}">{_E(text)}</th>'
        for i, text in enumerate(labels.values())
    )
    body = []
    for code, name in zip(
        result.townships["code"].astype(str), result.townships["name"], strict=True
    ):
        name = as_text(name)
        if link_prefix is None:
            cell = _E(name)
        else:
            href = _E(link_prefix + township_page_name(code, name), quote=True)
            cell = f'<a href="{href}">{_E(name)}</a>'
        cells = [f'<th scope="row">{cell}</th>']
        for i, target in enumerate(labels):
            row = lookup.get((target, code))
            key = status_key(getattr(row, "status", None)) if row is not None else "no_data"
            text = short_status(row, lang) if row is not None else label(key, lang)
            title = status_text(row, lang) if row is not None else label("no_data", lang)
            cells.append(
                f'<td class="lc-status-{key}" data-target="{i}" '
                f'title="{_E(title, quote=True)}">{_E(text)}</td>'
            )
        body.append(f'<tr data-code="{_E(code, quote=True)}">{"".join(cells)}</tr>')
    caption = label("status_table", lang)
    return (
        f'<table class="lc-status-table"><caption>{_E(caption)}</caption><thead><tr>'
        f'<th scope="col">{_E(label("township", lang))}</th>{head}</tr></thead>'
        f"<tbody>{''.join(body)}</tbody></table>"
    )


# --------------------------------------------------------------------------------------------
# Tables of one township (below its map) and of proposed sites


def _table(headers: list[str], rows: list[str], *, cls: str = "") -> str:
    head = "".join(f"<th>{_E(h)}</th>" for h in headers)
    attr = f' class="{cls}"' if cls else ""
    return f"<table{attr}><thead><tr>{head}</tr></thead><tbody>{''.join(rows)}</tbody></table>"


def _status_cell(row: Any, lang: str) -> str:
    key = status_key(getattr(row, "status", ""))
    return f'<td class="lc-status-{key}">{_E(label(key, lang))}</td>'


def targets_table_html(
    rows: pd.DataFrame,
    lang: str,
    *,
    summary: bool = False,
    refs: dict[str, int] | None = None,
    sensitivity: dict[str, str] | None = None,
    sensitivity_charts: dict[str, str] | None = None,
) -> str:
    """A table of gap rows: indicator, current, target, unit, status, [units met], shortfall,
    note. ``refs`` (plan document -> number) marks each indicator with its document's number;
    ``sensitivity`` (target id -> sentence) adds a row under its target (the briefing), with
    the chart of ``sensitivity_charts`` (target id -> SVG markup built from escaped text)."""
    headers = [label(k, lang) for k in ("indicator", "value", "target_value", "unit", "status")]
    if summary:
        headers.append(label("met_units", lang))
    headers += [label("shortfall", lang), label("note", lang)]
    body = []
    for row in rows.itertuples(index=False):
        document = as_text(getattr(row, "document", ""))
        ref = f'<sup class="ref">[{refs[document]}]</sup>' if refs and document in refs else ""
        cells = [
            f"<td>{_E(as_text(getattr(row, 'indicator', '')) or as_text(row.target_id))}{ref}</td>",
            f'<td class="num">{_E(fmt_number(getattr(row, "value", None)))}</td>',
            f'<td class="num">{_E(fmt_number(getattr(row, "target_value", None)))}</td>',
            f"<td>{_E(unit_label(getattr(row, 'unit', ''), lang))}</td>",
            _status_cell(row, lang),
        ]
        if summary:
            met, total = (
                fmt_number(getattr(row, "met_units", None)),
                fmt_number(getattr(row, "total_units", None)),
            )
            cells.append(f'<td class="num">{_E(f"{met}/{total}" if total else "")}</td>')
        cells += [
            f'<td class="num">{_E(shortfall_text(row, lang))}</td>',
            f"<td>{_E(note_text(row, lang))}</td>",
        ]
        body.append(f"<tr>{''.join(cells)}</tr>")
        sentence = (sensitivity or {}).get(as_text(row.target_id), "")
        if sentence:
            chart = (sensitivity_charts or {}).get(as_text(row.target_id), "")
            cell = f"{_E(sentence)}{chart}"
            body.append(f'<tr class="sensitivity"><td colspan="{len(cells)}">{cell}</td></tr>')
    return _table(headers, body, cls="targets")


#: Columns of the proposed-sites table (label keys), in order; see :func:`site_records`.
SITE_FIELDS = (
    "rank",
    "category",
    "township",
    "township_code",
    "road",
    "newly_covered_pop60",
    "newly_covered_pop",
    "forced",
    "lon_wgs84",
    "lat_wgs84",
    "lon_gcj02",
    "lat_gcj02",
    "lon_bd09",
    "lat_bd09",
)


def site_records(result: RunResult, sites: gpd.GeoDataFrame, lang: str) -> pd.DataFrame:
    """Proposed sites ready for a decision, with headers in ``lang``.

    Rank, category name, township and its code, nearest road, people aged 60+ and people newly
    covered by the site (its marginal gain, rounded to whole people), whether it was required,
    and its position in WGS-84 (OpenStreetMap, Tianditu), GCJ-02 (Amap, Tencent) and BD-09
    (Baidu) to 6 decimals.
    """
    check_lang(lang)
    wgs = to_wgs84(sites)
    lon = wgs.geometry.x.to_numpy(dtype=float)
    lat = wgs.geometry.y.to_numpy(dtype=float)
    g_lon, g_lat = wgs84_to_gcj02(lon, lat)
    b_lon, b_lat = wgs84_to_bd09(lon, lat)

    def col(name: str) -> list[Any]:
        return list(wgs[name]) if name in wgs else [None] * len(wgs)

    def people(values: list[Any]) -> list[Any]:
        out = pd.to_numeric(pd.Series(values, dtype=object), errors="coerce").round(0)
        return [None if pd.isna(v) else int(v) for v in out]

    columns = {
        "rank": [clean(v) for v in col("rank")],
        "category": [category_name(result.categories, as_text(c), lang) for c in col("category")],
        "township": [as_text(v) for v in col("township_name")],
        "township_code": [as_text(v) for v in col("township_code")],
        "road": [as_text(v) for v in col("road_name")],
        "newly_covered_pop60": people(col("newly_covered_pop60")),
        "newly_covered_pop": people(col("newly_covered_pop")),
        "forced": [label("yes", lang) if clean(v) else "" for v in col("forced")],
        "lon_wgs84": np.round(lon, 6),
        "lat_wgs84": np.round(lat, 6),
        "lon_gcj02": np.round(np.asarray(g_lon, dtype=float), 6),
        "lat_gcj02": np.round(np.asarray(g_lat, dtype=float), 6),
        "lon_bd09": np.round(np.asarray(b_lon, dtype=float), 6),
        "lat_bd09": np.round(np.asarray(b_lat, dtype=float), 6),
    }
    return pd.DataFrame({label(k, lang): columns[k] for k in SITE_FIELDS})


#: Columns of the siting before/after table (label keys by column).
BEFORE_AFTER_FIELDS = {
    "target_id": "target_id",
    "indicator": "indicator",
    "value_before": "value_before",
    "target_value": "target_value",
    "status_before": "status_before",
    "value_after": "value_after",
    "status_after": "status_after",
}


def before_after_table(before_after: pd.DataFrame, lang: str) -> pd.DataFrame:
    """The siting before/after table with headers and statuses in ``lang``, values rounded."""
    check_lang(lang)
    frame = before_after.copy()
    for column in ("value_before", "value_after", "target_value"):
        if column in frame:
            frame[column] = pd.to_numeric(frame[column], errors="coerce").round(1)
    for column in ("status_before", "status_after"):
        if column in frame:
            frame[column] = frame[column].map(lambda v: label(status_key(v), lang))
    names = {c: label(k, lang) for c, k in BEFORE_AFTER_FIELDS.items() if c in frame}
    return frame[list(names)].rename(columns=names)


def sites_table_html(result: RunResult, sites: gpd.GeoDataFrame, lang: str) -> str:
    """The proposed sites as an HTML table (the columns of :func:`site_records`)."""
    records = site_records(result, sites, lang)
    coords = {label(k, lang) for k in SITE_FIELDS if k.startswith(("lon_", "lat_"))}
    text_cols = {
        label(k, lang) for k in ("category", "township", "township_code", "road", "forced")
    }
    body = []
    for values in records.itertuples(index=False):
        cells = []
        for name, value in zip(records.columns, values, strict=True):
            text = f"{value:.6f}" if name in coords and math.isfinite(value) else fmt_number(value)
            cls = "" if name in text_cols else ' class="num"'
            cells.append(f"<td{cls}>{_E(text)}</td>")
        body.append(f"<tr>{''.join(cells)}</tr>")
    return _table(list(records.columns), body)


def _township_sites(result: RunResult, code: str) -> gpd.GeoDataFrame | None:
    sites = result.proposed_sites
    if sites is None or len(sites) == 0 or "township_code" not in sites:
        return None
    part = sites[sites["township_code"].astype(str) == code]
    return part if len(part) else None


def township_tables_html(result: RunResult, code: str, *, lang: str = "zh") -> str:
    """HTML tables of one township: its targets, its gaps, its units' gaps, its proposed sites.

    Every text is escaped. Shown below the township map (and in the briefing).
    """
    check_lang(lang)
    code = str(code)
    rows = township_target_rows(result)
    own = rows[rows["unit_code"].astype(str) == code]
    parts = [f"<h3>{_E(label('targets', lang))}</h3>"]
    parts.append(
        targets_table_html(own, lang)
        if len(own)
        else f'<p class="muted">{_E(label("no_targets", lang))}</p>'
    )
    parts.append(f"<h3>{_E(label('gaps', lang))}</h3>")
    not_met = own[own["status"].astype(str) == "not_met"] if len(own) else own
    if len(not_met):
        items = []
        for row in not_met.itertuples(index=False):
            indicator = as_text(getattr(row, "indicator", "")) or as_text(row.target_id)
            short, note = shortfall_text(row, lang), note_text(row, lang)
            text = indicator + (
                f"：{short}" if lang == "zh" and short else f": {short}" if short else ""
            )
            if note:
                text += f"（{note}）" if lang == "zh" else f" ({note})"
            items.append(f"<li>{_E(text)}</li>")
        parts.append(f"<ul>{''.join(items)}</ul>")
    else:
        parts.append(f'<p class="muted">{_E(label("no_gaps", lang))}</p>')
    gaps = result.gaps
    if gaps is not None and len(gaps) and "parent_code" in gaps:
        units = gaps[
            (gaps["parent_code"].astype(str) == code)
            & (gaps["status"].astype(str) == "not_met")
            & (gaps["unit_code"].astype(str) != code)
        ]
        if len(units):
            headers = [
                label(k, lang)
                for k in ("unit_name", "indicator", "value", "target_value", "unit", "shortfall")
            ]
            body = [
                "<tr>"
                f"<td>{_E(as_text(getattr(r, 'unit_name', '')) or as_text(r.unit_code))}</td>"
                f"<td>{_E(as_text(getattr(r, 'indicator', '')) or as_text(r.target_id))}</td>"
                f'<td class="num">{_E(fmt_number(getattr(r, "value", None)))}</td>'
                f'<td class="num">{_E(fmt_number(getattr(r, "target_value", None)))}</td>'
                f"<td>{_E(unit_label(getattr(r, 'unit', ''), lang))}</td>"
                f'<td class="num">{_E(shortfall_text(r, lang))}</td></tr>'
                for r in units.itertuples(index=False)
            ]
            parts.append(f"<h3>{_E(label('unit_gaps', lang))}</h3>{_table(headers, body)}")
    parts.append(f"<h3>{_E(label('proposed_sites', lang))}</h3>")
    sites = _township_sites(result, code)
    parts.append(
        sites_table_html(result, sites, lang)
        if sites is not None
        else f'<p class="muted">{_E(label("no_sites", lang))}</p>'
    )
    return "\n".join(parts)
