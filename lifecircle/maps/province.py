"""Province pages of a batch: an overview map of the counties and a summary page.

Nothing here computes: the shares of targets met and the county outlines come from
:mod:`lifecircle.batch`. Both pages are self-contained (Leaflet inlined), and each county links
to its own overview map and briefing, relative to the province folder.
"""

from __future__ import annotations

import html
from datetime import date

import folium
import geopandas as gpd
import pandas as pd

from lifecircle.i18n import label
from lifecircle.maps import webmap
from lifecircle.maps.basemaps import resolve_basemap

# Share of targets met, low to high: orange to blue (distinct under the common colour-vision
# deficiencies), grey where nothing could be evaluated.
_SHARE_COLORS = ("#d55e00", "#e69f00", "#f0e442", "#56b4e9", "#0072b2")
_NO_SHARE = "#bbbbbb"


def share_color(share: float | None) -> str:
    """Fill colour of a county with ``share`` of its targets met (0–1)."""
    if share is None or pd.isna(share):
        return _NO_SHARE
    return _SHARE_COLORS[min(int(share * len(_SHARE_COLORS)), len(_SHARE_COLORS) - 1)]


def _share_text(share: float) -> str:
    return "—" if pd.isna(share) else f"{share:.0%}"


def province_map_html(
    counties: gpd.GeoDataFrame,
    *,
    title: str,
    lang: str = "zh",
    basemap: str = "osm",
    tiles_url: str | None = None,
) -> str:
    """The province overview: counties coloured by the share of targets met, each a link.

    Parameters
    ----------
    counties
        One row per county: ``name, county_code, status, share_met, met, not_met, na, href``
        (the county's overview page, relative) and its outline (EPSG:4326); failed counties
        have no outline.
    """
    drawn = counties[counties.geometry.notna()]
    base = resolve_basemap(basemap, tiles_url=tiles_url)
    bounds = tuple(drawn.total_bounds) if len(drawn) else (73.0, 18.0, 135.0, 54.0)
    m = webmap._new_map(bounds, base, cluster=False, title=title, lang=lang)
    features = []
    for row in drawn.itertuples():
        features.append(
            {
                "type": "Feature",
                "geometry": row.geometry.__geo_interface__,
                "properties": {
                    "name": row.name,
                    "code": row.county_code,
                    "fill": share_color(row.share_met),
                    "label": f"{row.name} {_share_text(row.share_met)}",
                    "href": row.href,
                },
            }
        )
    if not features:
        return webmap.render_html(m)
    # Through the page's script as data (webmap's _JsCall), never through a folium template:
    # folium renders its layers' output as Jinja, which would evaluate {{ }} in a study name.
    m.add_child(webmap._JsCall("counties", {"features": features}))
    m.get_root().html.add_child(folium.Element(_legend(lang)))
    return webmap.render_html(m)


def _legend(lang: str) -> str:
    """The share classes, lowest first, as a fixed box in the lower right corner."""
    step = 100 // len(_SHARE_COLORS)
    rows = [
        f'<div><i style="background:{c}"></i> {i * step}–{(i + 1) * step}%</div>'
        for i, c in enumerate(_SHARE_COLORS)
    ]
    rows.append(f'<div><i style="background:{_NO_SHARE}"></i> {label("province_na", lang)}</div>')
    return (
        '<div class="lc-legend" style="position:absolute;right:10px;bottom:30px;'
        "z-index:1000;background:#fff;padding:6px 8px;border-radius:4px;font-size:13px;"
        'box-shadow:0 1px 4px #0004"><b>'
        + html.escape(label("province_share", lang))
        + "</b>"
        + "".join(rows)
        + "</div><style>.lc-legend i{display:inline-block;"
        "width:14px;height:10px;margin-right:4px}</style>"
    )


def province_summary_html(
    counties: pd.DataFrame, *, title: str, engine: str, seconds: float, lang: str = "zh"
) -> str:
    """A one-page province summary for the briefing: every county's status and shares."""
    heads = [
        label(k, lang)
        for k in (
            "province_county",
            "province_code",
            "province_state",
            "province_share",
            "province_met",
            "province_not_met",
            "province_na",
            "province_links",
        )
    ]
    body = []
    for row in counties.itertuples():
        state = label(f"batch_{row.status}", lang)
        if row.error:
            state += f"<div class=err>{html.escape(row.error)}</div>"
        links = (
            ""
            if row.status == "failed"
            else (
                f'<a href="{html.escape(row.href)}">{label("province_overview", lang)}</a> · '
                f'<a href="{html.escape(row.briefing)}">{label("province_briefing", lang)}</a>'
            )
        )
        cells = [
            html.escape(row.name),
            html.escape(row.county_code),
            state,
            _share_text(row.share_met),
            *(str(int(v)) for v in (row.met, row.not_met, row.na)),
            links,
        ]
        body.append("<tr>" + "".join(f"<td>{c}</td>" for c in cells) + "</tr>")
    done = int((counties["status"] != "failed").sum())
    lead = label("province_lead", lang).format(
        counties=len(counties),
        done=done,
        failed=len(counties) - done,
        engine=engine,
        seconds=seconds,
        date=date.today().isoformat(),
    )
    return (
        f'<!DOCTYPE html><html lang="{"zh-CN" if lang == "zh" else "en"}"><head>'
        f'<meta charset="utf-8"><title>{html.escape(title)}</title><style>'
        "body{font-family:'Noto Sans CJK SC','Microsoft YaHei',sans-serif;margin:2em;"
        "color:#222}table{border-collapse:collapse}td,th{border:1px solid #bbb;"
        "padding:4px 8px;text-align:left}th{background:#eee}.err{color:#b00;font-size:90%}"
        "@page{size:A4;margin:15mm}</style></head><body>"
        f"<h1>{html.escape(title)}</h1><p>{html.escape(lead)}</p>"
        f'<p><a href="province_overview.html">{label("province_map_link", lang)}</a> · '
        f'<a href="province_gaps.xlsx">province_gaps.xlsx</a></p>'
        f"<table><thead><tr>{''.join(f'<th>{h}</th>' for h in heads)}</tr></thead>"
        f"<tbody>{''.join(body)}</tbody></table></body></html>"
    )
