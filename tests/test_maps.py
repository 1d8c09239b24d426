"""Maps and briefing without a browser: payloads, basemaps, GCJ-02 shift, escaping, sizes."""

from __future__ import annotations

import doctest
import json
import logging
import re

import numpy as np
import pytest
import shapely
from hypothesis import given
from hypothesis import strategies as st
from maps_fixtures import BACKTICK_NAME, XSS_NAME, XSS_TOWNSHIP, make_result

from lifecircle.errors import InputError
from lifecircle.geo.crs import wgs84_to_gcj02
from lifecircle.maps import basemaps, briefing, i18n, webmap
from lifecircle.maps.basemaps import resolve_basemap


@pytest.fixture(scope="module")
def result():
    return make_result()


@pytest.fixture(scope="module")
def overview_html(result):
    return webmap.render_html(webmap.overview_map(result))


@pytest.fixture(scope="module")
def offline_html(result):
    return webmap.render_html(webmap.overview_map(result, offline=True))


@pytest.fixture(scope="module")
def amap_html(result):
    return webmap.render_html(webmap.overview_map(result, basemap="amap"))


def payloads(page: str) -> list[tuple[str, dict]]:
    """Every ``LC.<kind>(group, {json}, map);`` call of a rendered map, with its JSON parsed."""
    out = []
    for line in page.splitlines():
        line = line.strip()
        m = re.match(r"^LC\.(\w+)\(\w+, ", line)
        if not m:
            continue
        body = line[m.end():]
        body = body[: body.rindex(", map_")]
        out.append((m.group(1), json.loads(body)))
    return out


def of_kind(page: str, kind: str) -> list[dict]:
    return [p for k, p in payloads(page) if k == kind]


def first_vertex(geometry: dict) -> list[float]:
    coords = geometry["coordinates"]
    while isinstance(coords[0], list):
        coords = coords[0]
    return coords


def feature_groups(m) -> list:
    import folium

    return [c for c in m._children.values() if isinstance(c, folium.FeatureGroup)]


# ------------------------------------------------------------------------------ layers


def test_overview_draws_every_layer(result, overview_html):
    kinds = [k for k, _ in payloads(overview_html)]
    assert kinds.count("townships") == 1
    assert kinds.count("facilities") == 3  # one layer per category
    assert kinds.count("areas") == 8  # 2 categories x 4 thresholds
    assert kinds.count("uncovered") == 2  # main threshold per category
    assert kinds.count("sites") == 1
    rows = sum(len(p["rows"]) for p in of_kind(overview_html, "facilities"))
    assert rows == len(result.facilities) == 48


def test_facility_layers_have_distinct_colours_and_glyphs(overview_html):
    fac = of_kind(overview_html, "facilities")
    assert len({p["color"] for p in fac}) == 3
    assert [p["glyph"] for p in fac] == ["home", "cutlery", "people"]


def test_popup_fields_in_chinese_and_english(result):
    zh = of_kind(webmap.render_html(webmap.overview_map(result)), "facilities")[0]
    en = of_kind(webmap.render_html(webmap.overview_map(result, lang="en")), "facilities")[0]
    assert zh["fields"] == ["类别", "子类", "床位", "所属乡镇(街道)", "乡镇代码", "地址"]
    assert en["fields"] == ["Category", "Subtype", "Beds", "Township", "Township code", "Address"]
    first = result.facilities.iloc[0]
    row = zh["rows"][0]
    # name, category, subtype (registry name), beds, township, code, address
    assert row[2:] == [first["name"], "养老服务设施", "养老机构", "20", first["township_name"],
                       first["township_code"], first["address"]]
    assert en["rows"][0][3:5] == ["Elder-care facility", "Residential care institution"]


def test_only_the_main_threshold_area_is_shown_at_first(result):
    m = webmap.overview_map(result)
    shown = {g.layer_name: g.show for g in feature_groups(m) if "服务范围" in g.layer_name}
    assert len(shown) == 8
    assert sorted(name for name, on in shown.items() if on) == sorted(
        name for name in shown if "15分钟" in name)
    # a town's map shows the towns' main threshold (20 minutes) instead
    town = webmap.township_map(result, "310117101")
    shown = {g.layer_name: g.show for g in feature_groups(town) if "服务范围" in g.layer_name}
    assert sorted(name for name, on in shown.items() if on) == sorted(
        name for name in shown if "20分钟" in name)
    page = webmap.render_html(town)
    town_uncovered = [g.layer_name for g in feature_groups(town) if "未覆盖" in g.layer_name]
    assert town_uncovered and all("(20分钟)" in name for name in town_uncovered)
    assert of_kind(page, "townships")[0]["initial"] == 0
    uncovered = [g for g in feature_groups(m) if "未覆盖" in g.layer_name]
    assert uncovered and not any(g.show for g in uncovered)


def test_uncovered_circles_use_the_main_threshold_and_grow_with_pop60(result, overview_html):
    layer = of_kind(overview_html, "uncovered")[0]
    part = result.uncovered[(result.uncovered["category"] == "elder_care_centre")
                            & (result.uncovered["threshold_min"] == 15)
                            & (result.uncovered["pop60"] > 0)]
    assert len(layer["rows"]) == len(part)
    by_pop = sorted((float(r[2]), r[3]) for r in layer["rows"])
    radii = [r for _, r in by_pop]
    assert radii == sorted(radii) and radii[0] < radii[-1]


def test_township_statuses_follow_the_gap_rows(overview_html):
    town = of_kind(overview_html, "townships")[0]
    assert town["targets"] == ["养老服务设施15分钟步行覆盖率", "每个乡镇至少1处老年助餐点"]
    props = {f["properties"]["c"]: f["properties"] for f in town["geojson"]["features"]}
    # fixture: elder_cover met / not_met / met / na; meal_presence not_met / met / not_met / met
    assert [props[c]["s"][0] for c in sorted(props)] == [0, 1, 0, 2]
    assert [props[c]["s"][1] for c in sorted(props)] == [1, 0, 1, 0]
    assert props["310117002"]["v"][0] == "未达标 · 40 / 80 %"
    assert props["310117102"]["v"][0].startswith("不适用")
    assert town["colors"][:3] == ["#1a9850", "#d73027", "#9e9e9e"]


def test_sites_are_stars_with_popups(overview_html):
    sites = of_kind(overview_html, "sites")[0]
    assert len(sites["rows"]) == 3
    assert sites["rows"][1][2:] == ["2", "老年助餐点", XSS_TOWNSHIP, "310", "900", "是"]


# ------------------------------------------------------------------------------ basemaps


def test_amap_shifts_every_overlay_to_gcj02(result, overview_html, amap_html):
    osm, amap = overview_html, amap_html
    assert "autonavi.com" in amap and "openstreetmap.org" in osm
    lon = result.facilities.geometry.x.to_numpy()
    lat = result.facilities.geometry.y.to_numpy()
    glon, glat = wgs84_to_gcj02(lon, lat)
    osm_rows = [r for p in of_kind(osm, "facilities") for r in p["rows"]]
    amap_rows = [r for p in of_kind(amap, "facilities") for r in p["rows"]]
    np.testing.assert_allclose([r[1] for r in osm_rows], lon, atol=5e-7)
    np.testing.assert_allclose([r[0] for r in osm_rows], lat, atol=5e-7)
    np.testing.assert_allclose([r[1] for r in amap_rows], glon, atol=5e-7)
    np.testing.assert_allclose([r[0] for r in amap_rows], glat, atol=5e-7)
    # The offset is hundreds of metres here, so a missing shift cannot pass.
    assert np.abs(glon - lon).min() > 1e-3
    # Polygons too: the first vertex of each township shifts by the same formula.
    for kind in ("townships", "areas"):
        a = first_vertex(of_kind(osm, kind)[0]["geojson"]["features"][0]["geometry"])
        b = first_vertex(of_kind(amap, kind)[0]["geojson"]["features"][0]["geometry"])
        expect = wgs84_to_gcj02(a[0], a[1])
        assert b == pytest.approx([float(np.ravel(expect[0])[0]), float(np.ravel(expect[1])[0])],
                                  abs=2e-6)


def test_tianditu_needs_a_key_and_names_both_ways(monkeypatch, result):
    monkeypatch.delenv("TIANDITU_KEY", raising=False)
    with pytest.raises(InputError, match="tianditu_key") as err:
        webmap.overview_map(result, basemap="tianditu")
    assert "TIANDITU_KEY" in str(err.value)
    monkeypatch.setenv("TIANDITU_KEY", "envkey123")
    page = webmap.render_html(webmap.overview_map(result, basemap="tianditu"))
    assert "tk=envkey123" in page and "vec_w" in page and "cva_w" in page
    base = resolve_basemap("tianditu", tianditu_key="argkey")
    assert [t.name for t in base.tiles] == ["tianditu_vec", "tianditu_cva"]
    assert all("tk=argkey" in t.url for t in base.tiles) and base.system == "wgs84"


def test_attribution_is_shown(overview_html, amap_html):
    # folium writes tile options as ASCII-escaped JSON
    assert json.dumps("高德地图 AutoNavi")[1:-1] in amap_html
    assert "OpenStreetMap" in overview_html


@pytest.mark.parametrize(("basemap", "offline", "tiles_url", "key", "system", "n_tiles"), [
    ("osm", False, None, "osm", "wgs84", 1),
    ("amap", False, None, "amap", "gcj02", 1),
    ("none", False, None, "none", "wgs84", 0),
    ("osm", True, None, "none", "wgs84", 0),
    ("amap", True, None, "none", "gcj02", 0),
    ("amap", True, "file:///tiles/{z}/{x}/{y}.png", "custom", "gcj02", 1),
    ("osm", False, "http://tiles.intranet/{z}/{x}/{y}.png", "custom", "wgs84", 1),
])
def test_resolve_basemap(basemap, offline, tiles_url, key, system, n_tiles):
    base = resolve_basemap(basemap, offline=offline, tiles_url=tiles_url)
    assert (base.key, base.system, len(base.tiles)) == (key, system, n_tiles)


def test_tiles_url_local_folder_and_bad_template(tmp_path):
    base = resolve_basemap("osm", offline=True, tiles_url=str(tmp_path / "{z}/{x}/{y}.png"))
    assert base.tiles[0].url == f"file://{tmp_path}/{{z}}/{{x}}/{{y}}.png"
    with pytest.raises(InputError, match=r"lacks \{x\}, \{y\}"):
        resolve_basemap("osm", tiles_url="file:///tiles/{z}.png")


def test_unknown_basemap_and_language_are_named(result):
    with pytest.raises(InputError, match=r"baidu.*osm, tianditu, amap, none"):
        webmap.overview_map(result, basemap="baidu")
    with pytest.raises(InputError, match=r"'fr'.*zh, en"):
        webmap.overview_map(result, lang="fr")


# ------------------------------------------------------------------------------ offline


def test_offline_page_references_nothing_outside(offline_html):
    page = offline_html
    assert "<script src" not in page and "<link" not in page
    for host in ("cdn.", "unpkg", "code.jquery", "bootstrapcdn", "cdnjs", "openstreetmap.org"):
        assert host not in page
    assert not re.search(r"url\((?!data:|#)", page)  # every CSS url() is a data: URI
    assert "L.tileLayer" not in page
    assert "Leaflet 1.9.4" in page or "leaflet@1.9.4" not in page
    assert "/* leaflet.js */" in page and "/* Control.FullScreen.js */" in page


def test_online_page_links_only_what_it_uses(overview_html):
    links = re.findall(r'(?:src|href)="(https://[^"]+)"', overview_html)
    assert sorted(links) == sorted([
        "https://cdn.jsdelivr.net/npm/leaflet@1.9.4/dist/leaflet.css",
        "https://cdn.jsdelivr.net/npm/leaflet@1.9.4/dist/leaflet.js",
        "https://cdn.jsdelivr.net/npm/leaflet.fullscreen@3.0.0/Control.FullScreen.css",
        "https://cdn.jsdelivr.net/npm/leaflet.fullscreen@3.0.0/Control.FullScreen.js",
    ])  # no jQuery, Bootstrap, Font Awesome or awesome-markers; no markercluster under 300


def test_clustering_above_a_few_hundred_points(tmp_path):
    big = make_result(extra_meal=300)
    page = webmap.render_html(webmap.overview_map(big, offline=True))
    clusters = {len(p["rows"]): p["cluster"] for p in of_kind(page, "facilities")}
    assert clusters == {16: False, 316: True}
    assert "/* leaflet.markercluster.js */" in page


# ------------------------------------------------------------------------------ escaping


def test_register_text_is_never_raw_html(result, overview_html, offline_html):
    for page in (overview_html, offline_html):
        assert XSS_NAME not in page
        assert "<img src=x" not in page
        names = [r[2] for p in of_kind(page, "facilities") for r in p["rows"]]
        assert XSS_NAME in names and BACKTICK_NAME in names  # intact as data
        assert "\\u003cscript\\u003ealert(1)\\u003c/script\\u003e" in page
    town = webmap.render_html(webmap.township_map(result, "310117101"))
    assert "<img src=x" not in town
    assert "新&lt;img src=x onerror=alert(2)&gt;镇" in town
    assert "&lt;i&gt;东村&lt;/i&gt;" in town


def test_layer_names_are_escaped(result):
    cats = {**result.categories, "meal_point": {**result.categories["meal_point"],
                                                 "name_zh": "<b>助餐</b>"}}
    bad = make_result()
    bad.categories = cats
    page = webmap.render_html(webmap.overview_map(bad))
    assert "<b>助餐</b>" not in page
    # escaped HTML inside the (ASCII-escaped) JSON layer name
    assert "\\u0026lt;b\\u0026gt;" + json.dumps("助餐")[1:-1] in page


def test_colours_and_icons_from_the_registry_are_checked():
    bad = make_result()
    bad.categories = {**bad.categories, "meal_point": {**bad.categories["meal_point"],
                                                       "color": '"><script>x()</script>',
                                                       "icon": "nonsense"}}
    page = webmap.render_html(webmap.overview_map(bad))
    meal = of_kind(page, "facilities")[1]
    assert re.fullmatch(r"#[0-9a-f]{6}", meal["color"]) and meal["glyph"] == "dot"


# ------------------------------------------------------------------------------ township map


def test_township_map_is_zoomed_and_carries_its_targets(result):
    m = webmap.township_map(result, "310117002")
    page = webmap.render_html(m)
    fit = re.search(r"fitBounds\(\s*\[\[([\d.]+), ([\d.]+)\], \[([\d.]+), ([\d.]+)\]\]", page)
    south, west, north, east = map(float, fit.groups())
    assert (west, south, east, north) == pytest.approx((121.34, 31.00, 121.38, 31.03), abs=1e-4)
    fac = [r for p in of_kind(page, "facilities") for r in p["rows"]]
    assert 12 <= len(fac) < len(result.facilities)  # its own and nearby ones only
    town = of_kind(page, "townships")[0]
    assert town["focus"] == "310117002"
    assert "规划目标" in page and "40" in page and "未达标" in page
    assert "永丰街道" in page


def test_township_map_unknown_code(result):
    with pytest.raises(InputError, match=r"'999'.*310117001"):
        webmap.township_map(result, "999")


# ------------------------------------------------------------------------------ size


def test_coordinates_are_rounded_and_boundaries_simplified(result, overview_html):
    town = of_kind(overview_html, "townships")[0]
    coords = [c for f in town["geojson"]["features"]
              for c in f["geometry"]["coordinates"][0]]
    assert all(round(v, 6) == v for c in coords for v in c)
    original = shapely.get_num_coordinates(result.townships.geometry.values).sum()
    assert len(coords) < original / 20  # 2 m wiggles removed at a ~1 m..10 m tolerance
    # still the same shapes: areas within 1 %
    simplified = [shapely.Polygon(f["geometry"]["coordinates"][0])
                  for f in town["geojson"]["features"]]
    np.testing.assert_allclose([p.area for p in simplified],
                               shapely.area(result.townships.geometry.values), rtol=0.01)


def test_sizes(overview_html, offline_html):
    online, offline = len(overview_html.encode()), len(offline_html.encode())
    assert online < 3 * 1024 * 1024 and offline < 3 * 1024 * 1024
    assert offline - online > 150_000  # Leaflet and plugins inlined


def test_large_maps_warn_with_advice(monkeypatch, result, caplog):
    monkeypatch.setattr(webmap, "WARN_BYTES", 1000)
    with caplog.at_level(logging.WARNING, logger="lifecircle.maps.webmap"):
        webmap.render_html(webmap.overview_map(result))
        briefing.render_briefing(result)
    messages = [r.getMessage() for r in caplog.records]
    assert len(messages) == 2 and all("simplify" in m for m in messages)
    assert messages[0].startswith("map page is") and messages[1].startswith("briefing is")


def test_save_map(tmp_path, result):
    path = webmap.save_map(webmap.overview_map(result), tmp_path / "m.html")
    assert path.read_text(encoding="utf-8").startswith("<!DOCTYPE html>")


# ------------------------------------------------------------------------------ briefing


def test_briefing_sections_and_labels(result):
    page = briefing.render_briefing(result)
    assert page.count('class="township"') == 4
    assert "石湖荡镇（310117102，镇）" in page
    for text in ("全区目标汇总", "各乡镇(街道)步行可达覆盖率", "规划目标", "建议新增站点",
                 "@media print", "page-break-before: always"):
        assert text in page
    assert "2/3" in page  # met units of the summary
    en = briefing.render_briefing(result, lang="en")
    for text in ("Area summary of targets", "Proposed sites", "Not met", "Township code"
                 if False else "Targets"):
        assert text in en
    for zh_label in ("全区目标汇总", "规划目标", "建议新增站点", "未达标", "差距"):
        assert zh_label not in en
    assert "too few people" in en and "镇域人口不足" in page


def test_briefing_escapes_and_runs_no_script(result):
    town_html = webmap.render_html(webmap.township_map(result, "310117101", offline=True))
    page = briefing.render_briefing(result, township_map_html={"310117101": town_html})
    assert "<script" not in page  # the embedded map lives escaped inside srcdoc
    assert "<img src=x" not in page
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in page  # as text in the static map
    assert page.count("<iframe") == 1 and 'srcdoc="&lt;!DOCTYPE html&gt;' in page


def test_coverage_chart_bars_are_proportional(result):
    svg = briefing.coverage_chart_svg(result)
    assert svg.count("<figure") == 2
    elder = svg.split("</figure>")[0]
    widths = [float(w) for w in re.findall(r'<rect x="150" y="[\d.]+" width="([\d.]+)"', elder)]
    # shares written by the fixture: min(1, 0.2 + 0.15 j + T/50), streets at 15, towns at 20 min
    expected = [min(1.0, 0.2 + 0.15 * j + t / 50) for j, t in enumerate((15, 15, 20, 20))]
    np.testing.assert_allclose(widths, 420 * np.array(expected), atol=0.06)
    assert "50.0%" in elder and "15/20" in elder


def test_static_map_draws_its_facilities(result):
    import geopandas as gpd
    import pandas as pd
    from shapely.geometry import Point

    res = make_result()
    # a neighbour's facility just across the northern edge of 310117102
    extra = res.facilities.iloc[[0]].assign(township_code="310117002", name="邻镇站",
                                            geometry=[Point(121.37, 31.001)])
    res.facilities = gpd.GeoDataFrame(pd.concat([res.facilities, extra], ignore_index=True),
                                      crs=4326)
    svg = briefing.static_township_svg(res, "310117102")
    inside = res.facilities[res.facilities["township_code"] == "310117102"]
    assert svg.count('opacity="1"') == len(inside)  # its own, drawn solid
    assert svg.count('opacity="0.35"') == 1 and "邻镇站" in svg  # the neighbour's, faint
    assert svg.count("<polygon") == 0  # no proposed site there
    assert briefing.static_township_svg(result, "310117101").count("<polygon") == 2
    assert " km</text>" in svg


def test_share_percent_detection():
    import pandas as pd

    np.testing.assert_allclose(briefing._share_pct(pd.Series([0.5, 1.0])), [50, 100])
    np.testing.assert_allclose(briefing._share_pct(pd.Series([50.0, 100.0])), [50, 100])


# ------------------------------------------------------------------------------ i18n, docs


def test_every_label_exists_in_both_languages():
    for key, (zh, en) in i18n._LABELS.items():
        assert zh and en, key
        assert set(re.findall(r"\{(\w+)\}", zh)) == set(re.findall(r"\{(\w+)\}", en)), key


def test_category_names(result):
    assert i18n.category_name(result.categories, "meal_point", "en") == "Senior meal point"
    assert i18n.category_name(result.categories, "unknown") == "unknown"
    assert i18n.subtype_name(result.categories, "elder_care_centre", "day_care") == "日间照料中心"


@pytest.mark.parametrize("module", [webmap, basemaps, i18n])
def test_doctests(module):
    failures, tried = doctest.testmod(module)
    assert tried > 0 and failures == 0


def test_township_map_starts_on_a_target_assessed_there():
    res = make_result()
    res.gaps = res.gaps[~((res.gaps["target_id"] == "elder_cover")
                          & (res.gaps["unit_code"] == "310117102"))]
    page = webmap.render_html(webmap.township_map(res, "310117102"))
    assert of_kind(page, "townships")[0]["initial"] == 1
    overview = of_kind(webmap.render_html(webmap.overview_map(res)), "townships")[0]
    props = {f["properties"]["c"]: f["properties"] for f in overview["geojson"]["features"]}
    assert props["310117102"]["s"][0] == 3 and props["310117102"]["v"][0] == "未评估"


@pytest.mark.parametrize(("run_info", "kind", "available", "expected"), [
    ({}, None, [5, 10, 15], 15),
    ({}, "town", [10, 20], 20),
    ({"walk": {"thresholds_min": [5, 10]}}, None, [5, 10, 15], 10),
    ({"walk": {"thresholds_min": [15], "by_kind": {"town": {"thresholds_min": [20, 30]}}}},
     "town", [20, 30], 30),
    # the walk settings name a threshold the data lacks: fall back to the data's
    ({"walk": {"thresholds_min": [25]}}, None, [5, 10], 10),
])
def test_kind_main_threshold(run_info, kind, available, expected):
    res = make_result()
    res.run_info = run_info
    assert webmap.kind_main_threshold(res, kind, available) == expected


def test_kind_main_threshold_reads_the_typed_walk_model():
    from lifecircle.coverage.walk import KindWalk, WalkModel

    res = make_result()
    res.run_info = {"walk": {"thresholds_min": [5]}}  # ignored when the walk model is there
    res.walk = WalkModel(thresholds_min=(5.0, 10.0),
                         by_kind={"town": KindWalk(speed_mps=1.2, thresholds_min=(20.0, 30.0))})
    assert webmap.kind_main_threshold(res, None, [5, 10, 15]) == 10
    assert webmap.kind_main_threshold(res, "town", [20, 30]) == 30
    assert webmap.kind_main_threshold(res, "street", [5, 10]) == 10


def test_village_boundaries_on_the_township_map(result, overview_html):
    m = webmap.township_map(result, "310117101")
    page = webmap.render_html(m)
    units = of_kind(page, "units")
    assert len(units) == 1
    names = [f["properties"]["n"] for f in units[0]["geojson"]["features"]]
    assert names == ["<i>东村</i> 310117101201", "西村 310117101202"]  # text, drawn as text
    assert [g.show for g in feature_groups(m) if "边界" in g.layer_name] == [True]
    # the overview has them too, hidden at first; a township without villages has none
    assert len(of_kind(overview_html, "units")) == 1
    assert of_kind(webmap.render_html(webmap.township_map(result, "310117001")), "units") == []


@pytest.mark.parametrize("lang", ["zh", "en"])
def test_an_empty_run_still_draws(lang):
    import geopandas as gpd
    import pandas as pd

    res = make_result(lang=lang)
    res.facilities = res.facilities.iloc[0:0]
    res.service_areas = gpd.GeoDataFrame(columns=["category", "threshold_min", "geometry"],
                                         geometry="geometry", crs=4326)
    res.uncovered = res.uncovered.iloc[0:0]
    res.gaps, res.gap_summary, res.township_metrics = pd.DataFrame(), pd.DataFrame(), None
    res.proposed_sites, res.run_info, res.units = None, {}, {}
    page = webmap.render_html(webmap.overview_map(res, lang=lang, offline=True))
    assert [k for k, _ in payloads(page)] == ["townships"]
    assert of_kind(page, "townships")[0]["targets"] == []
    town = webmap.render_html(webmap.township_map(res, "310117001", lang=lang))
    assert i18n.label("no_targets", lang) in town
    text = briefing.render_briefing(res, lang=lang)
    assert text.count('class="township"') == 4 and i18n.label("no_sites", lang) in text


@given(st.text())
def test_payload_json_cannot_leave_its_script(text):
    encoded = webmap._js_json({"name": text, "rows": [[1.5, text]]})
    assert "<" not in encoded and ">" not in encoded and "\u2028" not in encoded
    assert json.loads(encoded) == {"name": text, "rows": [[1.5, text]]}


@given(st.floats(allow_nan=True, allow_infinity=True))
def test_fmt_number_round_trips_finite_values(value):
    text = webmap.fmt_number(value)
    if not np.isfinite(value):
        assert text == ""
    elif float(value).is_integer():
        assert float(text) == value
    else:
        assert abs(float(text) - value) <= 0.05 + 1e-9 * abs(value)


def test_no_townships_is_a_named_error():
    res = make_result()
    res.townships = res.townships.iloc[0:0]
    with pytest.raises(InputError, match="no township boundaries"):
        webmap.overview_map(res)
