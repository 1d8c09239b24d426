"""The briefing: a printable HTML document summarising a run for a planning meeting.

Page 1 is the summary: targets met and not met, the townships furthest behind, the seniors a
walk leaves uncovered, the proposed sites and what they change. Then the overview picture, the
area table of every target with the plan document each one cites, the coverage charts, one
section (page) per township — its picture linked to its interactive page, its targets, gaps and
proposed sites — and the data sources with their dates and hashes.

The pictures are the static PNG maps (:mod:`lifecircle.maps.static`) at screen resolution,
embedded as data URIs so the file travels alone; the 300-dpi files sit beside it. When they
would make the file heavy to email (a county's 40 townships: 8 MB of them), each township's
picture is embedded as a lighter copy instead (:data:`PICTURE_BUDGET_BYTES`). Printed on A4
(CSS paged media), every page carries its number. Everything comes from
:class:`lifecircle.results.RunResult`; every text from a register or plan is HTML-escaped. The
page itself loads nothing (inline CSS, SVG and images only).
"""

from __future__ import annotations

import base64
import html
import io
import math
import unicodedata
from collections.abc import Iterable, Mapping
from datetime import date
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
from PIL import Image

from lifecircle.i18n import category_name, check_lang, label
from lifecircle.maps import static
from lifecircle.maps.palette import STATUS_COLORS
from lifecircle.maps.tables import (
    _table,
    _township_sites,
    category_colors,
    fmt_number,
    kind_main_threshold,
    note_text,
    shortfall_text,
    targets_table_html,
    township_target_rows,
    unit_label,
    warn_if_large,
)
from lifecircle.maps.tables import as_text as _text
from lifecircle.maps.tables import to_wgs84 as _to_wgs84
from lifecircle.results import RunResult

_E = html.escape
#: Height of an A4 page's body between the @page margins, in millimetres.
PAGE_BODY_MM = 297 - 14 - 16
#: Bytes of pictures (before base64) embedded as the screen copies they are given (the sample's
#: nine: 0.8 MB). Past it each township's picture is embedded as a lighter copy and the overview
#: as it is: a county's 41 screen copies (8.1 MB, an 11 MB file) then take 2.1 MB (a 2.9 MB file).
PICTURE_BUDGET_BYTES = 2_000_000
#: Width of a township's lighter copy, a little under the 592 px its picture is shown at beside
#: the key facts (printed, it fills the same width of the page as the full copy).
LIGHT_WIDTH_PX = 500
#: WebP quality of the lighter copies: about 45 KB a township, a third of a palette PNG of the
#: same width. Below 60 the hatching of townships that miss the target (the cue that does not
#: rely on colour) blurs away, so the copies are narrower rather than coarser.
LIGHT_QUALITY = 65

_CSS = """
body { font-family: "Noto Sans CJK SC", "Source Han Sans SC", "Microsoft YaHei", "PingFang SC",
  sans-serif; margin: 24px auto; max-width: 1000px; color: #222; font-size: 14px;
  padding: 0 16px; line-height: 1.45; }
h1 { font-size: 22px; border-bottom: 2px solid #333; padding-bottom: 6px; margin-bottom: 4px; }
h2 { font-size: 18px; margin-top: 24px; border-left: 4px solid #0072B2; padding-left: 8px; }
h3 { font-size: 15px; margin: 14px 0 6px; }
table { border-collapse: collapse; width: 100%; margin: 6px 0 12px; font-size: 13px; }
th, td { border: 1px solid #bbb; padding: 3px 6px; text-align: left; vertical-align: top; }
th { background: #f0f0f0; }
td.num { text-align: right; white-space: nowrap; }
td[class^="lc-status"] { white-space: nowrap; }
.lc-status-met { color: #005a8c; font-weight: bold; }
.lc-status-met::before { content: "✓ "; }
.lc-status-not_met { color: #a85d00; font-weight: bold; }
.lc-status-not_met::before { content: "✗ "; }
.lc-status-na { color: #777; }
.meta { color: #555; margin: 2px 0 12px; }
.keyfigs { display: flex; flex-wrap: wrap; gap: 8px; margin: 8px 0; }
.keyfig { flex: 1 1 150px; border: 1px solid #ccc; border-radius: 4px; padding: 6px 10px; }
.keyfig b { display: block; font-size: 20px; }
.chart { margin: 8px 0 16px; }
.chart svg text { font-family: inherit; }
.legend span.sw { display: inline-block; width: 11px; height: 11px; margin: 0 4px 0 12px;
  vertical-align: -1px; border: 1px solid #555; }
figure.map { margin: 8px 0; text-align: center; }
figure.map img { max-width: 100%; height: auto; border: 1px solid #ccc; }
figure.map figcaption { font-size: 12px; color: #555; }
.tw-top { display: grid; grid-template-columns: minmax(0, 3fr) minmax(0, 2fr); gap: 14px;
  align-items: start; }
.tw-side ul { padding-left: 18px; margin: 4px 0 8px; }
.township figure.map { margin-top: 0; }
.township figure.map img { max-height: 640px; }
.refs { font-size: 12px; color: #444; padding-left: 20px; }
sup.ref { font-size: 9px; color: #555; }
.sensitivity { font-size: 12px; color: #444; }
.muted { color: #666; }
.na-list { color: #555; font-size: 12px; }
@media print {
  body { margin: 0; max-width: none; font-size: 9.5pt; }
  h1 { font-size: 16pt; } h2 { font-size: 12.5pt; margin-top: 10pt; } h3 { font-size: 10.5pt; }
  table { font-size: 7.5pt; margin: 3pt 0 6pt; }
  th, td { padding: 1pt 3pt; }
  table.targets td:first-child { width: 36%; }
  table.targets th, table.targets td:nth-child(4) { white-space: nowrap; }
  .keyfig b { font-size: 14pt; }
  .page, .township { break-before: page; page-break-before: always; }
  h2, h3 { break-after: avoid; page-break-after: avoid; }
  tr, svg, .chart, figure { break-inside: avoid; page-break-inside: avoid; }
  thead { display: table-header-group; }
  a { color: inherit; text-decoration: none; }
  figure.map img { max-height: 235mm; }
  .township figure.map img { max-height: var(--picture-height, 98mm); }
  .tw-side { font-size: 8.5pt; }
  .township h2 { margin-top: 0; }
  h3 { margin: 6pt 0 3pt; }
  figure.map { margin: 0; }
  figure.map figcaption { font-size: 7pt; }
  .screen-only { display: none; }
}
@page { size: A4; margin: 14mm 13mm 16mm;
  @bottom-center { content: "PAGE_LABEL"; font-size: 8pt; color: #555; }
  @top-right { content: "HEADER_LABEL"; font-size: 8pt; color: #777; } }
"""


# --------------------------------------------------------------------------------------------
# Inline SVG: coverage chart and static township maps


def _share_pct(values: pd.Series) -> np.ndarray:
    """Shares as percent; the frames hold fractions 0–1 (a frame already in percent is kept)."""
    share = pd.to_numeric(values, errors="coerce").to_numpy(dtype=float)
    finite = share[np.isfinite(share)]
    return share if finite.size and finite.max() > 1.0 + 1e-9 else share * 100.0


def coverage_chart_svg(
    result: RunResult, *, lang: str = "zh", categories: Iterable[str] | None = None
) -> str:
    """One horizontal bar chart per category (``categories``, default all): share of people
    aged 60+ within the main threshold's walk, per township (read from ``township_metrics``),
    as inline SVG."""
    metrics = result.township_metrics
    if metrics is None or len(metrics) == 0 or "share_pop60" not in metrics:
        return ""
    names = dict(zip(result.townships["code"].astype(str), result.townships["name"], strict=True))
    colors = category_colors(result)
    charts = []
    cats = [
        k
        for k in colors
        if k in set(metrics["category"].astype(str))
        and (categories is None or k in set(categories))
    ]
    kinds = dict(
        zip(
            result.townships["code"].astype(str),
            result.townships.get("kind", pd.Series([None] * len(result.townships))),
            strict=True,
        )
    )
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
        out = [
            f'<svg xmlns="http://www.w3.org/2000/svg" width="{width}" height="{height}" '
            f'viewBox="0 0 {width} {height}" role="img">'
        ]
        for pct in (0, 25, 50, 75, 100):
            x = label_w + bar_w * pct / 100
            out.append(
                f'<line x1="{x:.1f}" y1="{top - 4}" x2="{x:.1f}" y2="{height - 6}" '
                'stroke="#ddd"/>'
                f'<text x="{x:.1f}" y="{top - 8}" font-size="10" text-anchor="middle" '
                f'fill="#666">{pct}%</text>'
            )
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
                f'<text x="{label_w + w + 4:.1f}" y="{y + 15}" font-size="11">{text}</text>'
            )
        out.append("</svg>")
        caption = label(
            "chart_caption",
            lang,
            category=category_name(result.categories, key, lang),
            threshold="/".join(fmt_number(t) for t in sorted(used)),
        )
        charts.append(
            f'<figure class="chart"><figcaption>{_E(caption)}</figcaption>{"".join(out)}</figure>'
        )
    return "\n".join(charts)


# --------------------------------------------------------------------------------------------
# The page


# --------------------------------------------------------------------------------------------
# The document


def sensitivity_sentences(result: RunResult, *, lang: str = "zh") -> dict[str, str]:
    """One sentence per target on how robust its status is (target id -> sentence).

    Empty when the run had no sensitivity analysis (``--sensitivity`` or ``[sensitivity]``).
    The briefing prints each sentence under its target in the area table (see
    ``render_briefing(sensitivity=...)``).
    """
    if result.sensitivity is None:
        return {}
    ranges = result.sensitivity.ranges
    settings = "、".join(s.label for s in result.sensitivity.settings)
    if lang == "en":
        settings = ", ".join(s.label for s in result.sensitivity.settings)
    sentences = {}
    for target_id, rows in ranges.groupby("target_id", sort=False):
        townships = rows[(rows["level"] == "township") & (rows["robustness"] != "na")]
        if not len(townships):
            continue  # not computed under any setting (e.g. distance circles)
        area = rows[rows["level"] == "district"]
        fragile = townships[townships["robustness"] == "fragile"]
        names = "、" if lang == "zh" else ", "
        listed = names.join(
            f"{r.unit_name} {r.low:.0f}–{r.high:.0f}%" for r in fragile.itertuples()
        )
        low, high = (area["low"].iloc[0], area["high"].iloc[0]) if len(area) else (np.nan, np.nan)
        sentences[str(target_id)] = label(
            "briefing_sensitivity",
            lang,
            settings=settings,
            total=len(townships),
            robust=int((townships["robustness"] == "robust").sum()),
            fragile=len(fragile),
            listed=listed or label("briefing_sensitivity_none", lang),
            low=_percent(low),
            high=_percent(high),
        )
    return sentences


def sensitivity_charts(result: RunResult) -> dict[str, str]:
    """A small chart per target (target id -> inline SVG): each township's lowest-to-highest
    value over the settings as a bar on a 0–100 % scale, orange where the status changes, with
    the target as a dashed line."""
    if result.sensitivity is None:
        return {}
    targets = result.gap_summary.set_index("target_id")["target_value"]
    charts = {}
    for target_id, rows in result.sensitivity.ranges.groupby("target_id", sort=False):
        townships = rows[(rows["level"] == "township") & np.isfinite(rows["low"].astype(float))]
        if not len(townships):
            continue
        width, left, line = 360, 90, 12
        height = line * len(townships) + 14
        parts = [
            f'<svg class="sensitivity-chart" width="{width}" height="{height}" '
            f'viewBox="0 0 {width} {height}" role="img">'
        ]
        scale = (width - left - 10) / 100
        for i, r in enumerate(townships.itertuples()):
            y = i * line + 9
            # Fragile ranges orange, robust ones blue (the not met / met pair of the maps).
            colour = STATUS_COLORS["not_met" if r.robustness == "fragile" else "met"]
            x0, x1 = left + r.low * scale, left + max(r.high, r.low + 0.5) * scale
            parts.append(
                f'<text x="{left - 4}" y="{y + 3}" text-anchor="end" font-size="9">'
                f"{html.escape(str(r.unit_name))}</text>"
                f'<rect x="{left}" y="{y - 1}" width="{100 * scale:.1f}" height="2" fill="#ddd"/>'
                f'<rect x="{x0:.1f}" y="{y - 4}" width="{x1 - x0:.1f}" height="8" '
                f'fill="{colour}"/>'
            )
        target = targets.get(target_id)
        if target is not None and np.isfinite(float(target)):
            x = left + float(target) * scale
            parts.append(
                f'<line x1="{x:.1f}" x2="{x:.1f}" y1="2" y2="{height - 12}" stroke="#000" '
                f'stroke-dasharray="3,2"/><text x="{x:.1f}" y="{height - 2}" font-size="9" '
                f'text-anchor="middle">{float(target):g}%</text>'
            )
        parts.append("</svg>")
        charts[str(target_id)] = "".join(parts)
    return charts


def _percent(value: float) -> str:
    return "—" if not np.isfinite(value) else f"{value:.1f}%"


def _documents(frame: pd.DataFrame | None) -> dict[str, int]:
    """Each cited plan document, numbered in order of first citation."""
    refs: dict[str, int] = {}
    if frame is None or "document" not in frame:
        return refs
    for document in frame["document"]:
        text = _text(document)
        if text and text not in refs:
            refs[text] = len(refs) + 1
    return refs


def _css_string(text: str) -> str:
    return '"' + text.replace("\\", "\\\\").replace('"', '\\"').replace("\n", " ") + '"'


def _page_counter(lang: str) -> str:
    """CSS ``content`` for the page-number margin box, e.g. 第 3 页，共 12 页."""
    template = label("page_of", lang)
    before, rest = template.split("{page}")
    middle, after = rest.split("{pages}")
    return (
        f"{_css_string(before)} counter(page) {_css_string(middle)} counter(pages) "
        f"{_css_string(after)}"
    )


def _status_counts(summary: pd.DataFrame | None) -> dict[str, int]:
    status = (
        summary["status"].astype(str)
        if summary is not None and len(summary)
        else pd.Series([], dtype=str)
    )
    return {key: int((status == key).sum()) for key in ("met", "not_met", "na")}


def light_copy(png: bytes) -> bytes:
    """A township's picture as embedded in a heavy briefing: lossy WebP at
    :data:`LIGHT_WIDTH_PX` (narrower pictures keep their width)."""
    with Image.open(io.BytesIO(png)) as opened:
        image = opened.convert("RGB")
    if image.width > LIGHT_WIDTH_PX:
        image = image.resize(
            (LIGHT_WIDTH_PX, round(image.height * LIGHT_WIDTH_PX / image.width)),
            Image.Resampling.LANCZOS,
            # box-average by whole factors first: the 1000-px screen copies halve in a fifth of
            # the time, no different at this size
            reducing_gap=1.0,
        )
    buffer = io.BytesIO()
    image.save(buffer, "WEBP", quality=LIGHT_QUALITY, method=4)
    return buffer.getvalue()


def _img(picture: bytes | None, alt: str, href: str | None, caption: str, lang: str) -> str:
    if not picture:
        return f'<p class="muted">{_E(label("no_picture", lang))}</p>'
    mime = "image/webp" if picture[:4] == b"RIFF" else "image/png"
    src = f"data:{mime};base64," + base64.b64encode(picture).decode("ascii")
    image = f'<img src="{src}" alt="{_E(alt)}"/>'
    if href:
        image = f'<a href="{_E(href, quote=True)}">{image}</a>'
    return f'<figure class="map">{image}<figcaption>{_E(caption)}</figcaption></figure>'


def _value_pair(row: Any, lang: str) -> str:
    unit = unit_label(getattr(row, "unit", ""), lang)
    value, target = (
        fmt_number(getattr(row, "value", None)),
        fmt_number(getattr(row, "target_value", None)),
    )
    sep = "" if unit == "%" or (lang == "zh" and unit) else " "
    return (
        f"{value or '—'}{sep}{unit} / {target or '—'}{sep}{unit}"
        if unit
        else f"{value or '—'} / {target or '—'}"
    )


def _summary_page(
    result: RunResult,
    story: static.Story,
    refs: dict[str, int],
    lang: str,
    uncovered: dict[str, float],
) -> str:
    summary = result.gap_summary if result.gap_summary is not None else pd.DataFrame()
    counts = _status_counts(summary)
    names = dict(
        zip(result.townships["code"].astype(str), result.townships["name"].map(_text), strict=True)
    )
    parts = [
        f"<h2>{_E(label('summary', lang))}</h2>",
        f"<p>{_E(_summary_counts(result, lang))}</p>",
    ]
    figs = [
        (
            label("targets_met_of", lang, met=counts["met"], total=len(summary)),
            label("targets_not_met_n", lang, n=counts["not_met"]),
        )
    ]
    if story.target_id:
        figs.append(
            (
                fmt_number(sum(uncovered.values()), digits=0),
                label("uncovered_seniors_fig", lang, indicator=story.indicator),
            )
        )
    sites = result.proposed_sites
    if sites is not None and len(sites):
        gain = pd.to_numeric(sites.get("newly_covered_pop60"), errors="coerce").sum()
        figs.append(
            (
                label("sites_n", lang, n=len(sites)),
                label("sites_gain", lang, n=fmt_number(gain, digits=0)),
            )
        )
    parts.append(
        '<div class="keyfigs">'
        + "".join(f'<div class="keyfig"><b>{_E(big)}</b>{_E(small)}</div>' for big, small in figs)
        + "</div>"
    )
    # targets not met, then met
    if len(summary):
        not_met = summary[summary["status"].astype(str) == "not_met"]
        if len(not_met):
            headers = [
                label(k, lang) for k in ("indicator", "value_vs_target", "met_units", "shortfall")
            ]
            body = []
            for row in not_met.itertuples(index=False):
                document = _text(getattr(row, "document", ""))
                ref = f'<sup class="ref">[{refs[document]}]</sup>' if document in refs else ""
                met, total = (
                    fmt_number(getattr(row, "met_units", None)),
                    fmt_number(getattr(row, "total_units", None)),
                )
                body.append(
                    f"<tr><td>{_E(_text(row.indicator) or _text(row.target_id))}{ref}"
                    f'</td><td class="num">{_E(_value_pair(row, lang))}</td>'
                    f'<td class="num">{_E(f"{met}/{total}" if total else "")}</td>'
                    f'<td class="num">{_E(shortfall_text(row, lang))}</td></tr>'
                )
            parts.append(
                f"<h3>{_E(label('targets_not_met', lang, n=len(not_met)))}</h3>"
                + _table(headers, body)
            )
        met = summary[summary["status"].astype(str) == "met"]
        if len(met):
            items = ("、" if lang == "zh" else "; ").join(
                f"{_text(r.indicator) or _text(r.target_id)}（{_value_pair(r, lang)}）"
                if lang == "zh"
                else f"{_text(r.indicator) or _text(r.target_id)} ({_value_pair(r, lang)})"
                for r in met.itertuples(index=False)
            )
            parts.append(f"<h3>{_E(label('targets_met', lang, n=len(met)))}</h3><p>{_E(items)}</p>")
    # townships furthest behind: most targets not met, then the story target's value
    rows = township_target_rows(result)
    if len(rows):
        status = rows["status"].astype(str)
        table = pd.DataFrame(
            {
                "code": rows["unit_code"].astype(str),
                "not_met": status == "not_met",
                "assessed": status.isin(["met", "not_met"]),
            }
        )
        table = table.groupby("code")[["not_met", "assessed"]].sum()
        own = rows[rows["target_id"].astype(str) == story.target_id]
        story_value = pd.Series(
            pd.to_numeric(own["value"], errors="coerce").to_numpy(),
            index=own["unit_code"].astype(str),
        )
        table["story"] = story_value[~story_value.index.duplicated()].reindex(table.index)
        worst = (
            table[table["not_met"] > 0]
            .sort_values(["not_met", "story"], ascending=[False, True])
            .head(3)
        )
        if len(worst):
            headers = [label("township", lang), label("not_met_of_assessed", lang)]
            if story.target_id:
                headers += [story.indicator, label("uncovered_seniors", lang)]
            body = []
            for code, row in worst.iterrows():
                cells = [
                    f"<td>{_E(names.get(code, code))}</td>",
                    f'<td class="num">{int(row["not_met"])}/{int(row["assessed"])}</td>',
                ]
                if story.target_id:
                    cells += [
                        f'<td class="num">{_E(story.value_text.get(code, ""))}</td>',
                        f'<td class="num">'
                        f"{_E(fmt_number(uncovered.get(code, 0.0), digits=0))}</td>",
                    ]
                body.append(f"<tr>{''.join(cells)}</tr>")
            parts.append(f"<h3>{_E(label('worst_townships', lang))}</h3>" + _table(headers, body))
    parts.append(_sites_effect(result, lang))
    return "\n".join(parts)


def _sites_effect(result: RunResult, lang: str) -> str:
    """What the proposed sites change: per sited category, then the targets they move."""
    if not result.siting:
        return ""
    parts = [f"<h3>{_E(label('sites_effect', lang))}</h3>"]
    for category, info in result.siting.items():
        parts.append(
            "<p>"
            + _E(
                label(
                    "sites_effect_line",
                    lang,
                    n=fmt_number(info.get("sites")),
                    category=category_name(result.categories, category, lang),
                    gain=fmt_number(
                        float(info.get("covered_after", 0) or 0)
                        - float(info.get("covered_before", 0) or 0),
                        digits=0,
                    ),
                    before=fmt_number(100 * float(info.get("share_before", math.nan)), digits=1),
                    after=fmt_number(100 * float(info.get("share_after", math.nan)), digits=1),
                    method=_text(info.get("method", "")),
                )
            )
            + "</p>"
        )
    changes = result.before_after
    if changes is not None and len(changes):
        before = pd.to_numeric(changes["value_before"], errors="coerce").round(4)
        after = pd.to_numeric(changes["value_after"], errors="coerce").round(4)
        moved = changes[
            ((before != after) & ~(before.isna() & after.isna()))
            | (changes["status_before"] != changes["status_after"])
        ]
        items = [
            label(
                "target_moves",
                lang,
                indicator=_text(r.indicator) or _text(r.target_id),
                before=fmt_number(r.value_before),
                after=fmt_number(r.value_after),
                target=fmt_number(r.target_value),
                status_before=label(_text(r.status_before) or "na", lang),
                status_after=label(_text(r.status_after) or "na", lang),
            )
            for r in moved.itertuples(index=False)
        ]
        if items:
            parts.append("<ul>" + "".join(f"<li>{_E(item)}</li>" for item in items) + "</ul>")
    return "\n".join(parts)


def _sources(result: RunResult, lang: str) -> str:
    info = result.run_info or {}
    layers = {_text(r.get("layer")): _text(r.get("category")) for r in info.get("layers", [])}
    body = []
    for record in info.get("inputs", []):
        name = Path(_text(record.get("path"))).name
        use = layers.get(name)
        body.append(
            f"<tr><td>{_E(name)}</td>"
            f"<td>{_E(category_name(result.categories, use, lang) if use else '')}</td>"
            f"<td>{_E(_text(record.get('modified'))[:10])}</td>"
            f'<td class="num">{_E(fmt_number(record.get("bytes")))}</td>'
            f"<td><code>{_E(_text(record.get('sha256'))[:16])}</code></td></tr>"
        )
    parts = [f'<section class="page" id="sources"><h2>{_E(label("sources", lang))}</h2>']
    parts.append(
        _table(
            [label(k, lang) for k in ("file", "layer_category", "modified", "bytes", "sha256")],
            body,
        )
        if body
        else f'<p class="muted">{_E(label("no_sources", lang))}</p>'
    )
    walk = info.get("walk") or {}
    if walk:
        sep, colon = ("；", "：") if lang == "zh" else ("; ", ": ")
        kinds = sep.join(
            f"{label(k, lang) if k in ('street', 'town') else k}{colon}{v.get('speed_mps')} m/s, "
            + "/".join(fmt_number(t) for t in v.get("thresholds_min", []))
            + " min"
            for k, v in (walk.get("by_kind") or {}).items()
        )
        parts.append(
            "<p>"
            + _E(
                label(
                    "walk_settings",
                    lang,
                    speed=walk.get("speed_mps"),
                    thresholds="/".join(fmt_number(t) for t in walk.get("thresholds_min", [])),
                    kinds=kinds or "—",
                )
            )
            + "</p>"
        )
    parts.append(
        "<p>"
        + _E(
            label(
                "made_by",
                lang,
                date=_run_date(result),
                version=(info.get("versions") or {}).get("lifecircle", ""),
            )
        )
        + "</p></section>"
    )
    return "\n".join(parts)


def _run_date(result: RunResult) -> str:
    created = _text((result.run_info or {}).get("created"))
    return created[:10] if created else date.today().isoformat()


def _summary_counts(result: RunResult, lang: str) -> str:
    counts = _status_counts(result.gap_summary)
    return label(
        "summary_counts",
        lang,
        n_townships=len(result.townships),
        n_facilities=0 if result.facilities is None else len(result.facilities),
        n_targets=sum(counts.values()),
        n_met=counts["met"],
        n_not_met=counts["not_met"],
        n_na=counts["na"],
    )


def _heading(code: str, name: Any, kind: Any, kind_zh: Any, lang: str) -> str:
    if lang == "zh":
        kind_text = _text(kind_zh) or (label(kind, lang) if kind in ("street", "town") else "")
        return f"{_text(name)}（{code}{'，' + kind_text if kind_text else ''}）"
    kind_text = label(kind, lang) if kind in ("street", "town") else ""
    return f"{_text(name)} ({code}{', ' + kind_text if kind_text else ''})"


def _unit_gap_lines(result: RunResult, code: str, lang: str) -> list[str]:
    """One line per target: the township's villages/communities that do not meet it."""
    gaps = result.gaps
    if gaps is None or len(gaps) == 0 or "parent_code" not in gaps:
        return []
    units = gaps[
        (gaps["parent_code"].astype(str) == code)
        & (gaps["status"].astype(str) == "not_met")
        & (gaps["unit_code"].astype(str) != code)
    ]
    lines = []
    for target_id, part in units.groupby(units["target_id"].astype(str), sort=False):
        first = part.iloc[0]
        names = ("、" if lang == "zh" else ", ").join(
            _text(n) or _text(c) for n, c in zip(part["unit_name"], part["unit_code"], strict=True)
        )
        short = pd.to_numeric(part["shortfall"], errors="coerce").sum()
        lines.append(
            label(
                "unit_gap_line",
                lang,
                indicator=_text(first.get("indicator", "")) or target_id,
                names=names,
                n=len(part),
                shortfall=fmt_number(short),
                unit=unit_label(first.get("shortfall_unit", ""), lang),
            )
        )
    return lines


def _site_lines(result: RunResult, code: str, lang: str) -> list[str]:
    sites = _township_sites(result, code)
    if sites is None:
        return []
    wgs = _to_wgs84(sites)
    return [
        label(
            "site_line",
            lang,
            rank=fmt_number(getattr(row, "rank", "")),
            category=category_name(result.categories, _text(getattr(row, "category", "")), lang),
            pop60=fmt_number(getattr(row, "newly_covered_pop60", None), digits=0),
            lon=f"{geom.x:.5f}",
            lat=f"{geom.y:.5f}",
        )
        for row, geom in zip(wgs.itertuples(index=False), wgs.geometry, strict=True)
        if geom is not None and not geom.is_empty
    ]


def _columns(text: str) -> int:
    """Display width: a Chinese character takes two columns."""
    return sum(2 if unicodedata.east_asian_width(ch) in "WF" else 1 for ch in text)


def _picture_height_mm(rows: pd.DataFrame, lang: str, na: pd.DataFrame | None = None) -> float:
    """The printed height of a township's picture that leaves room for its targets table on
    the same A4 page: the table's height is estimated from its rows' wrapped lines (indicator
    and note columns at 7.5 pt), the picture takes what is left, between 55 and 125 mm."""
    lines = 0
    for row in rows.itertuples(index=False):
        indicator = _text(getattr(row, "indicator", "")) + " [1]"
        note = note_text(row, lang)
        lines += max(1, math.ceil(_columns(indicator) / 42), math.ceil(_columns(note) / 26))
    table_mm = 8 + 4.5 * lines + 1.2 * len(rows)
    if na is not None and len(na):  # the one-paragraph list of targets that do not apply
        text = "".join(_text(getattr(r, "indicator", "")) for r in na.itertuples(index=False))
        table_mm += 6 + 4.5 * math.ceil((_columns(text) + 3 * len(na)) / 120)
    return float(np.clip(PAGE_BODY_MM - 40 - table_mm, 55, 125))


def _township_section(
    result: RunResult,
    code: str,
    heading: str,
    picture: bytes | None,
    href: str | None,
    story: static.Story,
    uncovered: dict[str, float],
    refs: dict[str, int],
    lang: str,
    light: bool,
) -> str:
    """One township's page: its picture beside the key facts, its villages' gaps and its
    proposed sites, then the table of its targets. ``light``: the picture is a lighter copy,
    and its caption says so."""
    rows = township_target_rows(result)
    own = rows[rows["unit_code"].astype(str) == code]
    status = own["status"].astype(str) if len(own) else pd.Series([], dtype=str)
    facts = [
        label(
            "not_met_of_assessed_line",
            lang,
            n=int((status == "not_met").sum()),
            total=int(status.isin(["met", "not_met"]).sum()),
        )
    ]
    if story.target_id and code in story.status:
        facts.append(
            label(
                "story_line",
                lang,
                indicator=story.indicator,
                status=label(story.status[code], lang),
                value=story.value_text.get(code, ""),
                uncovered=fmt_number(uncovered.get(code, 0.0), digits=0),
            )
        )
    side = [
        f"<h3>{_E(label('at_a_glance', lang))}</h3><ul>"
        + "".join(f"<li>{_E(f)}</li>" for f in facts)
        + "</ul>"
    ]
    units = _unit_gap_lines(result, code, lang)
    if units:
        side.append(
            f"<h3>{_E(label('unit_gaps', lang))}</h3><ul>"
            + "".join(f"<li>{_E(line)}</li>" for line in units)
            + "</ul>"
        )
    sites = _site_lines(result, code, lang)
    side.append(
        f"<h3>{_E(label('proposed_sites', lang))}</h3>"
        + (
            "<ul>" + "".join(f"<li>{_E(line)}</li>" for line in sites) + "</ul>"
            if sites
            else f'<p class="muted">{_E(label("no_sites", lang))}</p>'
        )
    )
    # targets that do not apply here (missing data, no such township kind) are named in one
    # line; the area table gives their reasons
    assessed = own[status.isin(["met", "not_met"])] if len(own) else own
    na = own[~status.isin(["met", "not_met"])] if len(own) else own
    table = (
        targets_table_html(assessed, lang, refs=refs)
        if len(assessed)
        else f'<p class="muted">{_E(label("no_targets", lang))}</p>'
    )
    if len(na):
        names = ("、" if lang == "zh" else "; ").join(
            _text(r.indicator) or _text(r.target_id) for r in na.itertuples(index=False)
        )
        table += f'<p class="na-list">{_E(label("na_targets", lang, n=len(na), names=names))}</p>'
    caption = label("township_light_caption" if light else "township_caption", lang)
    figure = _img(picture, heading, href, caption, lang)
    return (
        f'<section class="township" id="t-{_E(code)}" '
        f'style="--picture-height: {_picture_height_mm(assessed, lang, na):.0f}mm">'
        f"<h2>{_E(heading)}</h2>"
        f'<div class="tw-top">{figure}<div class="tw-side">{"".join(side)}</div></div>'
        f"<h3>{_E(label('targets', lang))}</h3>{table}</section>"
    )


def render_briefing(
    result: RunResult,
    *,
    lang: str = "zh",
    pictures: Mapping[str, bytes] | None = None,
    links: Mapping[str, str] | None = None,
    target_id: str | None = None,
    sensitivity: Mapping[str, str] | None = None,
) -> str:
    """The briefing as HTML text (UTF-8, self-contained, printable on A4 with page numbers).

    Parameters
    ----------
    result
        A run's results.
    lang
        ``zh`` (default) or ``en``: every label switches.
    pictures
        ``"overview"`` and township codes -> PNG bytes (the screen copies from
        :func:`lifecircle.maps.static.write_static_maps`), embedded as data URIs; when they
        add up to more than :data:`PICTURE_BUDGET_BYTES`, the townships' are embedded as
        :func:`light_copy`.
    links
        The same keys -> relative links to the interactive pages (``overview.html``,
        ``townships/<code>-<name>.html``); each picture links to its page.
    target_id
        The target the pictures tell (as given to the pictures); the summary's uncovered seniors
        and the worst townships' column follow it.
    sensitivity
        Target id -> one sentence on how robust its status is, printed under the target in the
        area table (default: :func:`sensitivity_sentences`).

    Returns
    -------
    str
        The document.
    """
    check_lang(lang)
    pictures, links = dict(pictures or {}), links or {}
    light = sum(map(len, pictures.values())) > PICTURE_BUDGET_BYTES
    if light:
        pictures = {k: v if k == "overview" else light_copy(v) for k, v in pictures.items()}
    story = static.choose_story(result, target_id, lang=lang)
    uncovered = static.uncovered_seniors(result, story)
    sensitivity = dict(
        sensitivity_sentences(result, lang=lang) if sensitivity is None else sensitivity
    )
    title = label("briefing_title", lang, study=_text(result.study_name))
    summary = result.gap_summary
    refs = _documents(summary)
    css = _CSS.replace('"PAGE_LABEL"', _page_counter(lang)).replace(
        '"HEADER_LABEL"', _css_string(title)
    )
    meta = label(
        "briefing_meta",
        lang,
        date=_run_date(result),
        year=(result.run_info or {}).get("year") or "—",
    )
    parts = [
        f'<!DOCTYPE html><html lang="{"zh-CN" if lang == "zh" else "en"}"><head>'
        '<meta charset="utf-8"/><meta name="viewport" content="width=device-width, '
        f'initial-scale=1"/><title>{_E(title)}</title><style>{css}</style></head><body>',
        f"<h1>{_E(title)}</h1>",
        f'<p class="meta">{_E(meta)} <a href="#sources">{_E(label("sources", lang))}</a></p>',
        f'<section class="summary">{_summary_page(result, story, refs, lang, uncovered)}</section>',
    ]
    overview = _img(
        pictures.get("overview"),
        title,
        links.get("overview"),
        label("overview_caption", lang),
        lang,
    )
    parts.append(
        f'<section class="page" id="overview"><h2>{_E(label("overview_map", lang))}'
        f"</h2>{overview}</section>"
    )
    parts.append(f'<section class="page" id="targets"><h2>{_E(label("area_summary", lang))}</h2>')
    parts.append(
        targets_table_html(
            summary,
            lang,
            summary=True,
            refs=refs,
            sensitivity=sensitivity,
            sensitivity_charts=sensitivity_charts(result),
        )
        if summary is not None and len(summary)
        else f'<p class="muted">{_E(label("no_targets", lang))}</p>'
    )
    if refs:
        parts.append(
            f'<h3>{_E(label("documents", lang))}</h3><ol class="refs">'
            + "".join(f"<li>{_E(doc)}</li>" for doc in refs)
            + "</ol>"
        )
    circles = (
        [
            _text(c)
            for c in summary.loc[summary["target_type"].astype(str) == "service_circle", "category"]
        ]
        if summary is not None and len(summary) and "category" in summary
        else []
    )
    chart = coverage_chart_svg(result, lang=lang, categories=circles or None)
    if chart:
        parts.append(f"<h3>{_E(label('coverage_chart', lang))}</h3>{chart}")
    parts.append("</section>")
    towns = result.townships
    blank = pd.Series([""] * len(towns), index=towns.index)
    for code, name, kind, kind_zh in zip(
        towns["code"].astype(str),
        towns["name"],
        towns.get("kind", blank),
        towns.get("kind_zh", blank),
        strict=True,
    ):
        heading = _heading(code, name, kind, kind_zh, lang)
        parts.append(
            _township_section(
                result,
                code,
                heading,
                pictures.get(code),
                links.get(code),
                story,
                uncovered,
                refs,
                lang,
                light,
            )
        )
    parts.append(_sources(result, lang))
    parts.append("</body></html>")
    page = "\n".join(parts)
    warn_if_large(page, what="briefing")
    return page
