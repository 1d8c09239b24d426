"""The briefing: one printable HTML page summarising a run for a planning meeting.

Sections: the area summary of every target, a bar chart of walking coverage per township and
category (inline SVG), then one section per township with a static SVG map (prints reliably),
its targets, gaps, village/community gaps and proposed sites; on screen the township's
interactive map can be opened below the static one (an ``iframe srcdoc`` of its page).

Everything comes from :class:`lifecircle.results.RunResult`; every text from a register or plan
is HTML-escaped. The page itself loads nothing (inline CSS and SVG only).
"""

from __future__ import annotations

import html
import math
from typing import Any

import geopandas as gpd
import numpy as np
import pandas as pd
import shapely

from lifecircle.i18n import category_name, check_lang, label
from lifecircle.maps.webmap import (
    SITE_COLOR,
    _text,
    _to_wgs84,
    category_colors,
    fmt_number,
    kind_main_threshold,
    township_target_rows,
    unit_label,
    warn_if_large,
)
from lifecircle.results import RunResult

_E = html.escape

_CSS = """
body { font-family: "Noto Sans CJK SC", "Source Han Sans SC", "Microsoft YaHei", "PingFang SC",
  sans-serif; margin: 24px auto; max-width: 1000px; color: #222; font-size: 14px;
  padding: 0 16px; }
h1 { font-size: 22px; border-bottom: 2px solid #333; padding-bottom: 6px; }
h2 { font-size: 18px; margin-top: 28px; border-left: 4px solid #d94801; padding-left: 8px; }
h3 { font-size: 15px; margin: 16px 0 6px; }
table { border-collapse: collapse; width: 100%; margin: 6px 0 12px; font-size: 13px; }
th, td { border: 1px solid #bbb; padding: 3px 6px; text-align: left; vertical-align: top; }
th { background: #f0f0f0; }
td.num { text-align: right; white-space: nowrap; }
td[class^="lc-status"] { white-space: nowrap; }
.lc-status-met { color: #1a7a3a; font-weight: bold; }
.lc-status-not_met { color: #c0281d; font-weight: bold; }
.lc-status-na { color: #777; }
.chart { margin: 8px 0 16px; }
.chart svg text { font-family: inherit; }
.legend span.sw { display: inline-block; width: 11px; height: 11px; margin: 0 4px 0 12px;
  vertical-align: -1px; border: 1px solid #555; }
.township { margin-top: 32px; }
.static-map { border: 1px solid #ccc; background: #fff; }
details.interactive iframe { width: 100%; height: 560px; border: 1px solid #ccc; }
.muted { color: #666; }
@media print {
  body { margin: 0; max-width: none; font-size: 10pt; }
  table { font-size: 9pt; }
  .township { break-before: page; page-break-before: always; }
  details.interactive { display: none; }
  h2, h3 { break-after: avoid; page-break-after: avoid; }
  tr, svg, .chart { break-inside: avoid; page-break-inside: avoid; }
  thead { display: table-header-group; }
  a { color: inherit; text-decoration: none; }
}
@page { size: A4; margin: 15mm; }
"""


def _status_cell(row: Any, lang: str) -> str:
    status = _text(getattr(row, "status", "")) or "na"
    key = status if status in ("met", "not_met", "na") else "no_data"
    return f'<td class="lc-status-{_E(status)}">{_E(label(key, lang))}</td>'


def _note(row: Any, lang: str) -> str:
    if lang == "en":
        return _text(getattr(row, "note_en", "")) or _text(getattr(row, "note", ""))
    return _text(getattr(row, "note", ""))


def _shortfall(row: Any, lang: str) -> str:
    value = fmt_number(getattr(row, "shortfall", None))
    if not value or value == "0":
        return ""
    unit = unit_label(getattr(row, "shortfall_unit", ""), lang)
    return f"{value}{unit}" if lang == "zh" else f"{value} {unit}".strip()


def _table(headers: list[str], rows: list[str]) -> str:
    head = "".join(f"<th>{_E(h)}</th>" for h in headers)
    return f"<table><thead><tr>{head}</tr></thead><tbody>{''.join(rows)}</tbody></table>"


def _targets_table(rows: pd.DataFrame, lang: str, *, summary: bool = False) -> str:
    headers = [label(k, lang) for k in ("indicator", "value", "target_value", "unit", "status")]
    if summary:
        headers.append(label("met_units", lang))
    headers += [label("shortfall", lang), label("note", lang)]
    body = []
    for row in rows.itertuples(index=False):
        cells = [f"<td>{_E(_text(getattr(row, 'indicator', '')) or _text(row.target_id))}</td>",
                 f'<td class="num">{_E(fmt_number(getattr(row, "value", None)))}</td>',
                 f'<td class="num">{_E(fmt_number(getattr(row, "target_value", None)))}</td>',
                 f"<td>{_E(unit_label(getattr(row, 'unit', ''), lang))}</td>",
                 _status_cell(row, lang)]
        if summary:
            met, total = (fmt_number(getattr(row, "met_units", None)),
                          fmt_number(getattr(row, "total_units", None)))
            cells.append(f'<td class="num">{_E(f"{met}/{total}" if total else "")}</td>')
        cells += [f'<td class="num">{_E(_shortfall(row, lang))}</td>',
                  f"<td>{_E(_note(row, lang))}</td>"]
        body.append(f"<tr>{''.join(cells)}</tr>")
    return _table(headers, body)


def _sites_table(result: RunResult, sites: gpd.GeoDataFrame, lang: str) -> str:
    headers = [label(k, lang) for k in ("rank", "category", "township", "newly_covered_pop60",
                                        "newly_covered_pop")] + ["经度, 纬度" if lang == "zh"
                                                                 else "lon, lat"]
    body = []
    wgs = _to_wgs84(sites)
    for row, geom in zip(wgs.itertuples(index=False), wgs.geometry, strict=True):
        where = "" if geom is None or geom.is_empty else f"{geom.x:.6f}, {geom.y:.6f}"
        body.append(
            "<tr>"
            f'<td class="num">{_E(fmt_number(getattr(row, "rank", None)))}</td>'
            f"<td>{_E(category_name(result.categories, _text(getattr(row, 'category', '')), lang))}"
            "</td>"
            f"<td>{_E(_text(getattr(row, 'township_name', '')))}</td>"
            f'<td class="num">{_E(fmt_number(getattr(row, "newly_covered_pop60", None), digits=0))}'
            "</td>"
            f'<td class="num">{_E(fmt_number(getattr(row, "newly_covered_pop", None), digits=0))}'
            "</td>"
            f'<td class="num">{_E(where)}</td></tr>')
    return _table(headers, body)


def _township_sites(result: RunResult, code: str) -> gpd.GeoDataFrame | None:
    sites = result.proposed_sites
    if sites is None or len(sites) == 0 or "township_code" not in sites:
        return None
    part = sites[sites["township_code"].astype(str) == code]
    return part if len(part) else None


def township_tables_html(result: RunResult, code: str, *, lang: str = "zh") -> str:
    """HTML tables of one township: its targets, its gaps, its units' gaps, its proposed sites.

    Every text is escaped. Used below the township map and in the briefing.
    """
    check_lang(lang)
    code = str(code)
    rows = township_target_rows(result)
    own = rows[rows["unit_code"].astype(str) == code]
    parts = [f"<h3>{_E(label('targets', lang))}</h3>"]
    parts.append(_targets_table(own, lang) if len(own)
                 else f'<p class="muted">{_E(label("no_targets", lang))}</p>')
    parts.append(f"<h3>{_E(label('gaps', lang))}</h3>")
    not_met = own[own["status"].astype(str) == "not_met"] if len(own) else own
    if len(not_met):
        items = []
        for row in not_met.itertuples(index=False):
            indicator = _text(getattr(row, "indicator", "")) or _text(row.target_id)
            short = _shortfall(row, lang)
            note = _note(row, lang)
            text = indicator + (f"：{short}" if lang == "zh" and short else
                                f": {short}" if short else "")
            if note:
                text += f"（{note}）" if lang == "zh" else f" ({note})"
            items.append(f"<li>{_E(text)}</li>")
        parts.append(f"<ul>{''.join(items)}</ul>")
    else:
        parts.append(f'<p class="muted">{_E(label("no_gaps", lang))}</p>')
    gaps = result.gaps
    if gaps is not None and len(gaps) and "parent_code" in gaps:
        units = gaps[(gaps["parent_code"].astype(str) == code)
                     & (gaps["status"].astype(str) == "not_met")
                     & (gaps["unit_code"].astype(str) != code)]
        if len(units):
            headers = [label(k, lang) for k in ("unit_name", "indicator", "value",
                                                "target_value", "unit", "shortfall")]
            body = [
                "<tr>"
                f"<td>{_E(_text(getattr(r, 'unit_name', '')) or _text(r.unit_code))}</td>"
                f"<td>{_E(_text(getattr(r, 'indicator', '')) or _text(r.target_id))}</td>"
                f'<td class="num">{_E(fmt_number(getattr(r, "value", None)))}</td>'
                f'<td class="num">{_E(fmt_number(getattr(r, "target_value", None)))}</td>'
                f"<td>{_E(unit_label(getattr(r, 'unit', ''), lang))}</td>"
                f'<td class="num">{_E(_shortfall(r, lang))}</td></tr>'
                for r in units.itertuples(index=False)]
            parts.append(f"<h3>{_E(label('unit_gaps', lang))}</h3>{_table(headers, body)}")
    parts.append(f"<h3>{_E(label('proposed_sites', lang))}</h3>")
    sites = _township_sites(result, code)
    parts.append(_sites_table(result, sites, lang) if sites is not None
                 else f'<p class="muted">{_E(label("no_sites", lang))}</p>')
    return "\n".join(parts)


# --------------------------------------------------------------------------------------------
# Inline SVG: coverage chart and static township maps


def _share_pct(values: pd.Series) -> np.ndarray:
    """Shares as percent; the frames hold fractions 0–1 (a frame already in percent is kept)."""
    share = pd.to_numeric(values, errors="coerce").to_numpy(dtype=float)
    finite = share[np.isfinite(share)]
    return share if finite.size and finite.max() > 1.0 + 1e-9 else share * 100.0


def coverage_chart_svg(result: RunResult, *, lang: str = "zh") -> str:
    """One horizontal bar chart per category: share of people aged 60+ within the main
    threshold's walk, per township (read from ``township_metrics``), as inline SVG."""
    metrics = result.township_metrics
    if metrics is None or len(metrics) == 0 or "share_pop60" not in metrics:
        return ""
    names = dict(zip(result.townships["code"].astype(str), result.townships["name"],
                     strict=True))
    colors = category_colors(result)
    charts = []
    cats = [k for k in colors if k in set(metrics["category"].astype(str))]
    kinds = dict(zip(result.townships["code"].astype(str),
                     result.townships.get("kind", pd.Series([None] * len(result.townships))),
                     strict=True))
    for key in cats:
        part = metrics[metrics["category"].astype(str) == key]
        codes = part["township_code"].astype(str).to_numpy()
        thresholds = part["threshold_min"].astype(float).to_numpy()
        shares = _share_pct(part["share_pop60"])
        order = [c for c in names if c in set(codes)]
        # Each township at its own kind's main threshold (e.g. streets 15, towns 20 minutes).
        share, used = {}, set()
        for code in order:
            mine = codes == code
            main = kind_main_threshold(result, kinds.get(code), thresholds[mine])
            pick = mine & (thresholds == float(main))
            share[code] = float(shares[pick][0]) if pick.any() else math.nan
            used.add(main)
        label_w, bar_w, row_h, top = 150, 420, 22, 24
        height = top + row_h * len(order) + 8
        width = label_w + bar_w + 70
        out = [f'<svg xmlns="http://www.w3.org/2000/svg" width="{width}" height="{height}" '
               f'viewBox="0 0 {width} {height}" role="img">']
        for pct in (0, 25, 50, 75, 100):
            x = label_w + bar_w * pct / 100
            out.append(f'<line x1="{x:.1f}" y1="{top - 4}" x2="{x:.1f}" y2="{height - 6}" '
                       'stroke="#ddd"/>'
                       f'<text x="{x:.1f}" y="{top - 8}" font-size="10" text-anchor="middle" '
                       f'fill="#666">{pct}%</text>')
        for i, code in enumerate(order):
            y = top + i * row_h
            value = share.get(code, math.nan)
            w = 0.0 if not math.isfinite(value) else bar_w * min(max(value, 0.0), 100.0) / 100
            text = "—" if not math.isfinite(value) else f"{value:.1f}%"
            name = _text(names.get(code, code))
            short = name if len(name) <= 12 else name[:11] + "…"
            out.append(
                f'<text x="{label_w - 6}" y="{y + 15}" font-size="12" text-anchor="end">'
                f"{_E(short)}</text>"
                f'<rect x="{label_w}" y="{y + 3}" width="{w:.1f}" height="{row_h - 7}" '
                f'fill="{colors[key]}"><title>{_E(_text(names.get(code, code)))} {text}</title>'
                "</rect>"
                f'<text x="{label_w + w + 4:.1f}" y="{y + 15}" font-size="11">{text}</text>')
        out.append("</svg>")
        caption = label("chart_caption", lang, category=category_name(result.categories, key, lang),
                        threshold="/".join(fmt_number(t) for t in sorted(used)))
        charts.append(f'<figure class="chart"><figcaption>{_E(caption)}</figcaption>'
                      f"{''.join(out)}</figure>")
    return "\n".join(charts)


def _rings(geom: Any) -> list[np.ndarray]:
    if geom is None or geom.is_empty:
        return []
    polys = getattr(geom, "geoms", [geom])
    rings = []
    for poly in polys:
        if poly.geom_type != "Polygon":
            continue
        rings.append(np.asarray(poly.exterior.coords))
        rings += [np.asarray(r.coords) for r in poly.interiors]
    return rings


def static_township_svg(result: RunResult, code: str, *, lang: str = "zh",
                        width_px: int = 640, max_height_px: int = 640) -> str:
    """A printable SVG map of one township: its outline among its neighbours, facilities as
    dots coloured by category, proposed sites as stars, a scale bar and a legend."""
    code = str(code)
    towns = _to_wgs84(result.townships)
    focus = towns[towns["code"].astype(str) == code]
    if len(focus) == 0:
        return ""
    west, south, east, north = focus.total_bounds
    pad = max(east - west, north - south) * 0.08
    west, south, east, north = west - pad, south - pad, east + pad, north + pad
    kx = math.cos(math.radians((south + north) / 2))  # equirectangular: x shrinks with latitude
    scale = width_px / max((east - west) * kx, 1e-9)
    # A tall township keeps to max_height_px so its section fits a printed page.
    scale = min(scale, max_height_px / max(north - south, 1e-9))
    width_px = round((east - west) * kx * scale) or 1
    height_px = round((north - south) * scale) or 1

    def xy(lon: np.ndarray, lat: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        return (lon - west) * kx * scale, (north - lat) * scale

    def path(geom: Any) -> str:
        out = []
        for ring in _rings(geom):
            x, y = xy(ring[:, 0], ring[:, 1])
            pts = " L".join(f"{a:.1f},{b:.1f}" for a, b in zip(x, y, strict=True))
            out.append(f"M{pts}Z")
        return " ".join(out)

    box = shapely.box(west, south, east, north)
    tol = (east - west) / 800
    near = towns[towns.geometry.intersects(box)]
    out = [f'<svg class="static-map" xmlns="http://www.w3.org/2000/svg" width="{width_px}" '
           f'height="{height_px}" viewBox="0 0 {width_px} {height_px}" role="img">',
           f'<clipPath id="clip-{_E(code)}"><rect width="{width_px}" height="{height_px}"/>'
           f'</clipPath><g clip-path="url(#clip-{_E(code)})">']
    for tcode, name, geom in zip(near["code"].astype(str), near["name"], near.geometry,
                                 strict=True):
        geom = shapely.simplify(geom, tol, preserve_topology=True)
        is_focus = tcode == code
        out.append(f'<path d="{path(geom)}" fill="{"#fff7e0" if is_focus else "#f2f2f2"}" '
                   f'stroke="{"#222" if is_focus else "#aaa"}" '
                   f'stroke-width="{2 if is_focus else 0.8}" fill-rule="evenodd">'
                   f"<title>{_E(_text(name))}</title></path>")
    colors = category_colors(result)
    fac = result.facilities
    shown: dict[str, int] = {}
    if fac is not None and len(fac):
        fac = _to_wgs84(fac)
        fac = fac[fac.geometry.intersects(box)]
        pts = shapely.get_coordinates(fac.geometry.values)
        if len(pts) == len(fac):
            x, y = xy(pts[:, 0], pts[:, 1])
            own = (fac["township_code"].astype(str) == code).to_numpy() \
                if "township_code" in fac else np.ones(len(fac), dtype=bool)
            for cat, name, a, b, mine in zip(fac["category"].astype(str), fac["name"], x, y, own,
                                             strict=True):
                if mine:
                    shown[cat] = shown.get(cat, 0) + 1
                # neighbours' facilities are context: drawn faint
                opacity = "1" if mine else "0.35"
                out.append(f'<circle cx="{a:.1f}" cy="{b:.1f}" r="4" '
                           f'fill="{colors.get(cat, "#555")}" stroke="#fff" stroke-width="1" '
                           f'opacity="{opacity}"><title>{_E(_text(name))}</title></circle>')
    sites = _township_sites(result, code)
    if sites is not None:
        pts = shapely.get_coordinates(_to_wgs84(sites).geometry.values)
        x, y = xy(pts[:, 0], pts[:, 1])
        for rank, a, b in zip(sites.get("rank", pd.Series([""] * len(sites))), x, y,
                              strict=True):
            star = " ".join(
                f"{a + r * math.sin(k * math.pi / 5):.1f},{b - r * math.cos(k * math.pi / 5):.1f}"
                for k, r in zip(range(10), [9, 3.8] * 5, strict=True))
            out.append(f'<polygon points="{star}" fill="{SITE_COLOR}" stroke="#000" '
                       f'stroke-width="1"><title>{_E(label("proposed_site", lang))} '
                       f"{_E(fmt_number(rank))}</title></polygon>")
    out.append("</g>")
    # Scale bar: a round length near a fifth of the width.
    km_per_px = 111.32 / scale
    target_km = km_per_px * width_px / 5
    nice = [0.1, 0.2, 0.5, 1, 2, 5, 10, 20, 50]
    bar_km = max([n for n in nice if n <= target_km] or [nice[0]])
    bar_px = bar_km / km_per_px
    y0 = height_px - 14
    out.append(f'<rect x="10" y="{y0 - 14}" width="{bar_px + 50:.1f}" height="22" fill="#fff" '
               f'fill-opacity="0.8"/><line x1="14" y1="{y0}" x2="{14 + bar_px:.1f}" y2="{y0}" '
               f'stroke="#000" stroke-width="3"/><text x="{18 + bar_px:.1f}" y="{y0 + 4}" '
               f'font-size="11">{fmt_number(bar_km)} km</text>')
    out.append("</svg>")
    legend = "".join(
        f'<span class="sw" style="background:{colors.get(cat, "#555")}"></span>'
        f"{_E(category_name(result.categories, cat, lang))} {n}"
        for cat, n in shown.items())
    if sites is not None:
        legend += (f'<span class="sw" style="background:{SITE_COLOR}"></span>'
                   f"{_E(label('proposed_sites', lang))} {len(sites)}")
    return "".join(out) + f'<div class="legend">{legend}</div>'


# --------------------------------------------------------------------------------------------
# The page


def _summary_counts(result: RunResult, lang: str) -> str:
    summary = result.gap_summary
    status = (summary["status"].astype(str) if summary is not None and len(summary)
              else pd.Series([], dtype=str))
    return label("summary_counts", lang, n_townships=len(result.townships),
                 n_facilities=0 if result.facilities is None else len(result.facilities),
                 n_targets=len(status), n_met=int((status == "met").sum()),
                 n_not_met=int((status == "not_met").sum()), n_na=int((status == "na").sum()))


def render_briefing(result: RunResult, *, lang: str = "zh", offline: bool = False,
                    township_map_html: dict[str, str] | None = None) -> str:
    """The briefing page as HTML text (UTF-8, self-contained, print-friendly).

    Parameters
    ----------
    result
        A run's results.
    lang
        ``zh`` (default) or ``en``: every label switches.
    offline
        Recorded for symmetry with the maps: the briefing itself never loads anything; the
        embedded township maps make requests only if they were rendered online.
    township_map_html
        Township code -> that township's map page (:func:`~lifecircle.maps.webmap.render_html`
        of :func:`~lifecircle.maps.webmap.township_map`); each is embedded as an ``iframe srcdoc``
        under the static map, hidden when printing.

    Returns
    -------
    str
        The page.
    """
    check_lang(lang)
    maps = township_map_html or {}
    title = label("briefing_title", lang, study=_text(result.study_name))
    parts = [f'<!DOCTYPE html><html lang="{"zh-CN" if lang == "zh" else "en"}"><head>'
             '<meta charset="utf-8"/><meta name="viewport" content="width=device-width, '
             f'initial-scale=1"/><title>{_E(title)}</title><style>{_CSS}</style></head><body>',
             f"<h1>{_E(title)}</h1>", f"<p>{_E(_summary_counts(result, lang))}</p>",
             f"<h2>{_E(label('area_summary', lang))}</h2>"]
    summary = result.gap_summary
    parts.append(_targets_table(summary, lang, summary=True) if summary is not None
                 and len(summary) else f'<p class="muted">{_E(label("no_targets", lang))}</p>')
    chart = coverage_chart_svg(result, lang=lang)
    if chart:
        parts.append(f"<h2>{_E(label('coverage_chart', lang))}</h2>{chart}")
    parts.append(f"<h2>{_E(label('townships_section', lang))}</h2>")
    towns = result.townships
    blank = pd.Series([""] * len(towns), index=towns.index)
    for code, name, kind, kind_zh in zip(towns["code"].astype(str), towns["name"],
                                         towns.get("kind", blank), towns.get("kind_zh", blank),
                                         strict=True):
        if lang == "zh":
            kind_text = _text(kind_zh) or (label(kind, lang) if kind in ("street", "town") else "")
            heading = f"{_text(name)}（{code}{'，' + kind_text if kind_text else ''}）"
        else:
            kind_text = label(kind, lang) if kind in ("street", "town") else ""
            heading = f"{_text(name)} ({code}{', ' + kind_text if kind_text else ''})"
        parts.append(f'<section class="township" id="t-{_E(code)}"><h2>{_E(heading)}</h2>')
        parts.append(static_township_svg(result, code, lang=lang))
        if code in maps:
            parts.append(f'<details class="interactive"><summary>'
                         f"{_E(label('interactive_map', lang))}</summary>"
                         f'<iframe title="{_E(_text(name))}" loading="lazy" '
                         f'srcdoc="{_E(maps[code], quote=True)}"></iframe></details>')
        parts.append(township_tables_html(result, code, lang=lang))
        parts.append("</section>")
    parts.append("</body></html>")
    page = "\n".join(parts)
    warn_if_large(page, what="briefing")
    return page
