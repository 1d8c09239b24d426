"""Maps and briefing without a browser: payloads, basemaps, GCJ-02 shift, escaping, sizes."""

from __future__ import annotations

import doctest
import html
import json
import logging
import re

import numpy as np
import pytest
import shapely
from hypothesis import given
from hypothesis import strategies as st
from maps_fixtures import BACKTICK_NAME, JINJA_NAME, XSS_NAME, XSS_TOWNSHIP, make_result

from lifecircle import i18n
from lifecircle.errors import InputError
from lifecircle.geo.crs import wgs84_to_gcj02
from lifecircle.maps import basemaps, briefing, palette, tables, webmap
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
    """Every ``LC.<kind>(group, {json}, map);`` or ``LC.<kind>(map, {json});`` call of a
    rendered map whose payload is plain JSON, parsed."""
    out = []
    for line in page.splitlines():
        line = line.strip()
        m = re.match(r"^LC\.(\w+)\(\w+, ", line)
        if not m:
            continue
        body = line[m.end() :]
        body = body[: body.rindex(", map_")] if ", map_" in body else body[: body.rindex(");")]
        try:
            out.append((m.group(1), json.loads(body)))
        except json.JSONDecodeError:  # a payload naming feature groups (the layer list)
            continue
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
    for kind in (
        "story",
        "townships",
        "facilities",
        "areas",
        "uncovered",
        "sites",
        "units",
        "controls",
    ):
        assert kinds.count(kind) == 1, kind
    cats = of_kind(overview_html, "facilities")[0]["cats"]
    assert list(cats) == ["elder_care_centre", "meal_point", "social_work_station"]
    assert sum(len(c["rows"]) for c in cats.values()) == len(result.facilities) == 48
    # the layer list: one short folded list in two groups, Chinese titles
    layers = re.search(r"LC\.layers\(map_\w+, (.*)\);", overview_html).group(1)
    assert layers.count('"title"') == 3 and '"图层"' in layers
    assert len(re.findall(r"\[feature_group_\w+,", layers)) == 7


def test_facility_layers_have_distinct_colours_and_glyphs(overview_html):
    cats = of_kind(overview_html, "facilities")[0]["cats"].values()
    assert [c["color"] for c in cats] == list(palette.OKABE_ITO[:3])
    assert [c["glyph"] for c in cats] == ["home", "cutlery", "people"]


def test_popup_fields_in_chinese_and_english(result):
    zh = of_kind(webmap.render_html(webmap.overview_map(result)), "facilities")[0]["cats"]
    en = of_kind(webmap.render_html(webmap.overview_map(result, lang="en")), "facilities")[0][
        "cats"
    ]
    elder_zh, elder_en = zh["elder_care_centre"], en["elder_care_centre"]
    assert elder_zh["fields"] == ["类别", "子类", "床位", "所属乡镇（街道）", "乡镇代码", "地址"]
    assert elder_en["fields"] == [
        "Category",
        "Subtype",
        "Beds",
        "Township",
        "Township code",
        "Address",
    ]
    first = result.facilities.iloc[0]
    row = elder_zh["rows"][0]
    # name, category, subtype (registry name), beds, township, code, address
    assert row[2:] == [
        first["name"],
        "养老服务设施",
        "养老机构",
        "20",
        first["township_name"],
        first["township_code"],
        first["address"],
    ]
    assert elder_en["rows"][0][3:5] == ["Elder-care facility", "Residential care institution"]


def test_each_target_names_its_category_and_walk_per_kind(result, overview_html):
    story = of_kind(overview_html, "story")[0]
    elder, meal = story["targets"]
    assert story["initial"] == 0
    assert (elder["label"], elder["category"]) == (
        "养老服务设施15分钟步行覆盖率",
        "elder_care_centre",
    )
    # the circle is judged at 15 minutes in streets and 20 in towns: those areas, no other
    assert elder["keys"] == ["elder_care_centre|street|15", "elder_care_centre|town|20"]
    assert elder["walk"] == "步行街道15分钟、镇/乡20分钟服务范围"
    # a presence target shows its category at each kind's longest walk
    assert meal["keys"] == ["meal_point|street|15", "meal_point|town|20"]
    areas = of_kind(overview_html, "areas")[0]["views"]
    assert sorted(areas) == sorted(elder["keys"] + meal["keys"])
    assert areas["elder_care_centre|town|20"]["label"] == "步行20分钟服务范围 · 养老服务设施"
    # each kind's area lies within that kind's townships (cut by coverage.views)
    for key, view in areas.items():
        kind = key.split("|")[1]
        towns = result.townships[result.townships["kind"] == kind].union_all()
        for feature in view["geojson"]["features"]:
            shape = shapely.geometry.shape(feature["geometry"])
            assert shape.difference(towns.buffer(1e-4)).area < 1e-9
    en = of_kind(webmap.render_html(webmap.overview_map(result, lang="en")), "story")[0]
    assert en["targets"][0]["walk"] == "street 15 min, town 20 min walking service area"


def test_a_county_overview_draws_its_cells_pooled(result):
    from lifecircle.coverage.views import pooled_cells

    res = make_result()
    res.overview_uncovered = pooled_cells(res.walk_uncovered, 2000.0)
    res.overview_block_m = 2000.0
    page = webmap.render_html(webmap.overview_map(res, offline=True))
    payload = of_kind(page, "uncovered")[0]
    rows = [r for view in payload["views"].values() for r in view["rows"]]
    pooled = res.overview_uncovered[res.overview_uncovered["pop60"] > 0]
    assert len(rows) == len(pooled) < (res.walk_uncovered["pop60"] > 0).sum()
    assert sum(float(r[2]) for r in rows) == pytest.approx(res.walk_uncovered["pop60"].sum())
    assert "2000米方格合计" in payload["label"]
    # a township page keeps its 100 m cells
    town = webmap.render_html(webmap.township_map(res, "310117001", offline=True))
    assert "方格合计" not in of_kind(town, "uncovered")[0]["label"]


def test_uncovered_seniors_at_the_targets_walk_grow_with_pop60(result, overview_html):
    views = of_kind(overview_html, "uncovered")[0]["views"]
    unc = result.walk_uncovered
    for key, view in views.items():
        category, kind, minutes = key.split("|")
        part = unc[
            (unc["category"] == category)
            & (unc["kind"] == kind)
            & (unc["threshold_min"] == float(minutes))
            & (unc["pop60"] > 0)
        ]
        assert len(view["rows"]) == len(part) > 0
        assert sorted(float(r[2]) for r in view["rows"]) == sorted(part["pop60"])
    # town cells at 20 minutes, never at the streets' 15
    assert "elder_care_centre|town|15" not in views and "elder_care_centre|town|20" in views
    by_pop = sorted((float(r[2]), r[3]) for v in views.values() for r in v["rows"])
    radii = [r for _, r in by_pop]
    assert radii == sorted(radii) and radii[0] < radii[-1]


def test_township_statuses_follow_the_gap_rows(overview_html):
    town = of_kind(overview_html, "townships")[0]
    props = {f["properties"]["c"]: f["properties"] for f in town["geojson"]["features"]}
    # fixture: elder_cover met / not_met / met / na; meal_presence not_met / met / not_met / met
    assert [props[c]["s"][0] for c in sorted(props)] == [0, 1, 0, 2]
    assert [props[c]["s"][1] for c in sorted(props)] == [1, 0, 1, 0]
    assert props["310117002"]["v"][0] == "未达标 · 40 / 80 % · 缺口40处"
    # the label on the map: a mark and the shortfall, so colour is not the only cue
    assert props["310117002"]["m"][0] == "✗ 未达标（缺口40处）"
    assert props["310117001"]["m"][0] == "✓ 达标"
    assert props["310117102"]["v"][0].startswith("不适用")
    assert props["310117102"]["m"][0] == "– 不适用"
    assert town["colors"][:3] == [palette.STATUS_COLORS[k] for k in ("met", "not_met", "na")]
    assert town["statusLabels"][:3] == ["✓ 达标", "✗ 未达标", "– 不适用"]


def test_sites_are_stars_with_decision_popups(overview_html):
    sites = of_kind(overview_html, "sites")[0]
    assert sorted(sites["cats"]) == ["elder_care_centre", "meal_point"]
    meal = sites["cats"]["meal_point"]["rows"]
    assert len(meal) == 2
    fields = sites["fields"]
    assert fields[:7] == [
        "类别",
        "所属乡镇（街道）",
        "乡镇代码",
        "最近道路",
        "新增覆盖60岁及以上人口",
        "新增覆盖人口",
        "必设",
    ]
    assert fields[7:] == [
        "经度（WGS-84，天地图/OSM）",
        "纬度（WGS-84，天地图/OSM）",
        "经度（GCJ-02，高德/腾讯）",
        "纬度（GCJ-02，高德/腾讯）",
        "经度（BD-09，百度）",
        "纬度（BD-09，百度）",
    ]
    row = meal[1]
    assert row[2:10] == ["2", "老年助餐点", XSS_TOWNSHIP, "310117101", "", "310", "900", "是"]
    lon, lat = wgs84_to_gcj02(121.32, 30.985)
    assert row[10:14] == [
        "121.320000",
        "30.985000",
        f"{float(np.ravel(lon)[0]):.6f}",
        f"{float(np.ravel(lat)[0]):.6f}",
    ]


# ------------------------------------------------------------------------------ basemaps


def test_amap_shifts_every_overlay_to_gcj02(result, overview_html, amap_html):
    osm, amap = overview_html, amap_html
    assert "autonavi.com" in amap and "openstreetmap.org" in osm
    lon = result.facilities.geometry.x.to_numpy()
    lat = result.facilities.geometry.y.to_numpy()
    glon, glat = wgs84_to_gcj02(lon, lat)
    osm_rows = [r for c in of_kind(osm, "facilities")[0]["cats"].values() for r in c["rows"]]
    amap_rows = [r for c in of_kind(amap, "facilities")[0]["cats"].values() for r in c["rows"]]
    np.testing.assert_allclose([r[1] for r in osm_rows], lon, atol=5e-7)
    np.testing.assert_allclose([r[0] for r in osm_rows], lat, atol=5e-7)
    np.testing.assert_allclose([r[1] for r in amap_rows], glon, atol=5e-7)
    np.testing.assert_allclose([r[0] for r in amap_rows], glat, atol=5e-7)
    # The offset is hundreds of metres here, so a missing shift cannot pass.
    assert np.abs(glon - lon).min() > 1e-3
    # Polygons too: the first vertex of each township and area shifts by the same formula.
    for a_fc, b_fc in (
        (of_kind(osm, "townships")[0]["geojson"], of_kind(amap, "townships")[0]["geojson"]),
        *(
            (
                of_kind(osm, "areas")[0]["views"][k]["geojson"],
                of_kind(amap, "areas")[0]["views"][k]["geojson"],
            )
            for k in of_kind(osm, "areas")[0]["views"]
        ),
    ):
        a = first_vertex(a_fc["features"][0]["geometry"])
        b = first_vertex(b_fc["features"][0]["geometry"])
        expect = wgs84_to_gcj02(a[0], a[1])
        assert b == pytest.approx(
            [float(np.ravel(expect[0])[0]), float(np.ravel(expect[1])[0])], abs=2e-6
        )


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


@pytest.mark.parametrize(
    ("basemap", "offline", "tiles_url", "key", "system", "n_tiles"),
    [
        ("osm", False, None, "osm", "wgs84", 1),
        ("amap", False, None, "amap", "gcj02", 1),
        ("none", False, None, "none", "wgs84", 0),
        ("osm", True, None, "none", "wgs84", 0),
        ("amap", True, None, "none", "gcj02", 0),
        ("amap", True, "file:///tiles/{z}/{x}/{y}.png", "custom", "gcj02", 1),
        ("osm", False, "http://tiles.intranet/{z}/{x}/{y}.png", "custom", "wgs84", 1),
    ],
)
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


@pytest.mark.parametrize("fixture", ["overview_html", "offline_html"])
def test_every_page_inlines_leaflet_and_references_nothing_outside(request, fixture):
    page = request.getfixturevalue(fixture)
    assert "<script src" not in page and "<link" not in page
    for host in ("cdn.", "unpkg", "code.jquery", "bootstrapcdn", "cdnjs"):
        assert host not in page
    assert not re.search(r"url\((?!data:|#)", page)  # every CSS url() is a data: URI
    assert "/* leaflet.js */" in page and "/* Control.FullScreen.js */" in page
    assert "/* leaflet.markercluster.js */" not in page  # not needed under 300 points
    # the only outside address is the basemap's tile template (none when offline)
    assert ("L.tileLayer" in page) == (fixture == "overview_html")
    assert "<title>示范区 2025：生活圈设施覆盖总览</title>" in page


def test_controls_speak_the_pages_language(result, overview_html):
    controls = of_kind(overview_html, "controls")[0]
    assert controls == {"zoomIn": "放大", "zoomOut": "缩小"}
    assert json.dumps("全屏")[1:-1] in overview_html  # folium writes it ASCII-escaped
    en = webmap.render_html(webmap.overview_map(result, lang="en"))
    assert of_kind(en, "controls")[0] == {"zoomIn": "Zoom in", "zoomOut": "Zoom out"}
    assert "<title>示范区 2025: life-circle coverage overview</title>" in en
    town = webmap.render_html(webmap.township_map(result, "310117002"))
    assert "<title>永丰街道（310117002）：生活圈设施覆盖</title>" in town


def test_clustering_above_a_few_hundred_points(tmp_path):
    big = make_result(extra_meal=300)
    page = webmap.render_html(webmap.overview_map(big, offline=True))
    cats = of_kind(page, "facilities")[0]["cats"].values()
    assert {len(c["rows"]): c["cluster"] for c in cats} == {16: False, 316: True}
    assert "/* leaflet.markercluster.js */" in page


# ------------------------------------------------------------------------------ escaping


def test_register_text_is_never_raw_html(result, overview_html, offline_html):
    for page in (overview_html, offline_html):
        assert XSS_NAME not in page
        assert "<img src=x" not in page
        names = [r[2] for c in of_kind(page, "facilities")[0]["cats"].values() for r in c["rows"]]
        assert XSS_NAME in names and BACKTICK_NAME in names  # intact as data
        # never evaluated as a template (folium renders its macros' output through Jinja)
        assert JINJA_NAME in names and "49号" not in page
        assert "\\u003cscript\\u003ealert(1)\\u003c/script\\u003e" in page
        assert "新&lt;img src=x onerror=alert(2)&gt;镇" in page  # the status table
    town = webmap.render_html(webmap.township_map(result, "310117101"))
    assert "<img src=x" not in town
    assert "新&lt;img src=x onerror=alert(2)&gt;镇" in town
    assert "&lt;i&gt;东村&lt;/i&gt;" in town


def test_category_names_stay_text(result):
    cats = {
        **result.categories,
        "meal_point": {**result.categories["meal_point"], "name_zh": "<b>助餐</b>"},
    }
    bad = make_result()
    bad.categories = cats
    page = webmap.render_html(webmap.overview_map(bad))
    assert "<b>助餐</b>" not in page
    # JSON-escaped in the payloads (the helper writes it with textContent)
    assert "\\u003cb\\u003e" + json.dumps("助餐", ensure_ascii=False)[1:-1] in page


def test_colours_come_from_the_palette_and_icons_are_checked():
    bad = make_result()
    bad.categories = {
        **bad.categories,
        "meal_point": {
            **bad.categories["meal_point"],
            "color": '"><script>x()</script>',
            "icon": "nonsense",
        },
    }
    page = webmap.render_html(webmap.overview_map(bad))
    meal = of_kind(page, "facilities")[0]["cats"]["meal_point"]
    assert meal["color"] == palette.OKABE_ITO[1] and meal["glyph"] == "dot"
    assert "<script>x()" not in page


# ------------------------------------------------------------------------------ township map


def test_township_map_is_zoomed_and_carries_its_targets(result):
    m = webmap.township_map(result, "310117002")
    page = webmap.render_html(m)
    fit = re.search(r"fitBounds\(\s*\[\[([\d.]+), ([\d.]+)\], \[([\d.]+), ([\d.]+)\]\]", page)
    south, west, north, east = map(float, fit.groups())
    assert (west, south, east, north) == pytest.approx((121.34, 31.00, 121.38, 31.03), abs=1e-4)
    fac = [r for c in of_kind(page, "facilities")[0]["cats"].values() for r in c["rows"]]
    assert 12 <= len(fac) < len(result.facilities)  # its own and nearby ones only
    town = of_kind(page, "townships")[0]
    assert town["focus"] == "310117002"
    assert "规划目标" in page and "40" in page and "未达标" in page
    assert "永丰街道" in page
    assert '<table class="lc-status-table"' not in page  # the side panel is the overview's


def test_township_map_unknown_code(result):
    with pytest.raises(InputError, match=r"'999'.*310117001"):
        webmap.township_map(result, "999")


# ------------------------------------------------------------------------------ size


def test_coordinates_are_rounded_and_boundaries_simplified(result, overview_html):
    town = of_kind(overview_html, "townships")[0]
    coords = [c for f in town["geojson"]["features"] for c in f["geometry"]["coordinates"][0]]
    assert all(round(v, 6) == v for c in coords for v in c)
    original = shapely.get_num_coordinates(result.townships.geometry.values).sum()
    assert len(coords) < original / 20  # 2 m wiggles removed at a ~1 m..10 m tolerance
    # still the same shapes: areas within 1 %
    simplified = [
        shapely.Polygon(f["geometry"]["coordinates"][0]) for f in town["geojson"]["features"]
    ]
    np.testing.assert_allclose(
        [p.area for p in simplified], shapely.area(result.townships.geometry.values), rtol=0.01
    )


def test_sizes(overview_html, offline_html):
    for page in (overview_html, offline_html):
        assert 150_000 < len(page.encode()) < 3 * 1024 * 1024  # Leaflet and plugins inlined


def test_large_maps_warn_with_advice(monkeypatch, result, caplog):
    monkeypatch.setattr(tables, "WARN_BYTES", 1000)
    with caplog.at_level(logging.WARNING, logger="lifecircle.maps.tables"):
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
    for text in (
        "全区目标汇总",
        "各乡镇（街道）步行可达覆盖率",
        "规划目标",
        "建议新增站点",
        "@media print",
        "page-break-before: always",
    ):
        assert text in page
    assert "2/3" in page  # met units of the summary
    en = briefing.render_briefing(result, lang="en")
    for text in (
        "Area summary of targets",
        "Proposed sites",
        "Not met",
        "Township code" if False else "Targets",
    ):
        assert text in en
    for zh_label in ("全区目标汇总", "规划目标", "建议新增站点", "未达标", "差距"):
        assert zh_label not in en
    # a target that does not apply to a township is named in one line under its table
    assert "Targets that do not apply here (1;" in en and "不适用的目标（1 项" in page


def test_briefing_escapes_and_runs_no_script(result):
    page = briefing.render_briefing(result, links={"310117101": "townships/x.html"})
    assert "<script" not in page and "<iframe" not in page  # pictures, not embedded maps
    assert "<img src=x" not in page
    assert "新&lt;img src=x onerror=alert(2)&gt;镇" in page  # the township name, as text
    assert "&lt;i&gt;东村&lt;/i&gt;" in page  # a village name in the township's gaps


def test_coverage_chart_bars_are_proportional(result):
    svg = briefing.coverage_chart_svg(result)
    assert svg.count("<figure") == 2
    elder = svg.split("</figure>")[0]
    widths = [float(w) for w in re.findall(r'<rect x="150" y="[\d.]+" width="([\d.]+)"', elder)]
    # shares written by the fixture: min(1, 0.2 + 0.15 j + T/50), streets at 15, towns at 20 min
    expected = [min(1.0, 0.2 + 0.15 * j + t / 50) for j, t in enumerate((15, 15, 20, 20))]
    np.testing.assert_allclose(widths, 420 * np.array(expected), atol=0.06)
    assert "50.0%" in elder and "15/20" in elder


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


@pytest.mark.parametrize("module", [tables, palette, basemaps, i18n])
def test_doctests(module):
    failures, tried = doctest.testmod(module)
    assert tried > 0 and failures == 0


def test_township_map_starts_on_a_target_assessed_there():
    res = make_result()
    res.gaps = res.gaps[
        ~((res.gaps["target_id"] == "elder_cover") & (res.gaps["unit_code"] == "310117102"))
    ]
    page = webmap.render_html(webmap.township_map(res, "310117102"))
    assert of_kind(page, "story")[0]["initial"] == 1
    overview = of_kind(webmap.render_html(webmap.overview_map(res)), "townships")[0]
    props = {f["properties"]["c"]: f["properties"] for f in overview["geojson"]["features"]}
    assert props["310117102"]["s"][0] == 3 and props["310117102"]["v"][0] == "未评估"


@pytest.mark.parametrize(
    ("run_info", "kind", "available", "expected"),
    [
        ({}, None, [5, 10, 15], 15),
        ({}, "town", [10, 20], 20),
        ({"walk": {"thresholds_min": [5, 10]}}, None, [5, 10, 15], 10),
        (
            {"walk": {"thresholds_min": [15], "by_kind": {"town": {"thresholds_min": [20, 30]}}}},
            "town",
            [20, 30],
            30,
        ),
        # the walk settings name a threshold the data lacks: fall back to the data's
        ({"walk": {"thresholds_min": [25]}}, None, [5, 10], 10),
    ],
)
def test_kind_main_threshold(run_info, kind, available, expected):
    res = make_result()
    res.run_info = run_info
    assert tables.kind_main_threshold(res, kind, available) == expected


def test_kind_main_threshold_reads_the_typed_walk_model():
    from lifecircle.coverage.walk import KindWalk, WalkModel

    res = make_result()
    res.run_info = {"walk": {"thresholds_min": [5]}}  # ignored when the walk model is there
    res.walk = WalkModel(
        thresholds_min=(5.0, 10.0),
        by_kind={"town": KindWalk(speed_mps=1.2, thresholds_min=(20.0, 30.0))},
    )
    assert tables.kind_main_threshold(res, None, [5, 10, 15]) == 10
    assert tables.kind_main_threshold(res, "town", [20, 30]) == 30
    assert tables.kind_main_threshold(res, "street", [5, 10]) == 10


def test_village_boundaries_on_the_township_map(result, overview_html):
    m = webmap.township_map(result, "310117101")
    page = webmap.render_html(m)
    units = of_kind(page, "units")
    assert len(units) == 1
    names = [f["properties"]["n"] for f in units[0]["geojson"]["features"]]
    assert names == ["<i>东村</i> 310117101201", "西村 310117101202"]  # text, drawn as text
    shown = {g.layer_name: g.show for g in feature_groups(m)}
    assert shown["units"] is True
    # the overview has them too, hidden at first; a township without villages has none
    assert len(of_kind(overview_html, "units")) == 1
    assert {g.layer_name: g.show for g in feature_groups(webmap.overview_map(result))}[
        "units"
    ] is False
    assert of_kind(webmap.render_html(webmap.township_map(result, "310117001")), "units") == []


@pytest.mark.parametrize("lang", ["zh", "en"])
def test_an_empty_run_still_draws(lang):
    import geopandas as gpd
    import pandas as pd

    res = make_result(lang=lang)
    res.facilities = res.facilities.iloc[0:0]
    res.service_areas = gpd.GeoDataFrame(
        columns=["category", "threshold_min", "geometry"], geometry="geometry", crs=4326
    )
    res.gaps, res.gap_summary, res.township_metrics = pd.DataFrame(), pd.DataFrame(), None
    res.proposed_sites, res.run_info, res.units = None, {}, {}
    res.target_walks, res.walk_areas, res.walk_uncovered = None, None, None
    page = webmap.render_html(webmap.overview_map(res, lang=lang, offline=True))
    assert of_kind(page, "story")[0]["targets"] == []
    assert of_kind(page, "facilities")[0]["cats"] == {}
    assert of_kind(page, "areas")[0]["views"] == {} == of_kind(page, "uncovered")[0]["views"]
    town = webmap.render_html(webmap.township_map(res, "310117001", lang=lang))
    assert i18n.label("no_targets", lang) in town
    text = briefing.render_briefing(res, lang=lang)
    assert text.count('class="township"') == 4 and i18n.label("no_sites", lang) in text


@given(st.text())
def test_payload_json_cannot_leave_its_script(text):
    encoded = webmap._js_json({"name": text, "rows": [[1.5, text]]})
    assert "<" not in encoded and ">" not in encoded and "\u2028" not in encoded
    assert json.loads(encoded) == {"name": text, "rows": [[1.5, text]]}


@given(st.text())
def test_geometry_json_goes_in_verbatim_beside_any_text(text):
    geometry = shapely.to_geojson(shapely.Point(116.123456, 39.5))
    # register text shaped like the marker of a raw value stays text
    lookalike = f"{text}:0"
    encoded = webmap._js_json(
        {"name": lookalike, "features": [{"geometry": webmap._RawJSON(geometry)}], "t": text}
    )
    assert geometry in encoded
    assert json.loads(encoded) == {
        "name": lookalike,
        "features": [{"geometry": json.loads(geometry)}],
        "t": text,
    }
    with pytest.raises(TypeError, match="set"):
        webmap._js_json({"bad": {1, 2}})


@given(st.floats(allow_nan=True, allow_infinity=True))
def test_fmt_number_round_trips_finite_values(value):
    text = tables.fmt_number(value)
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


# ------------------------------------------------------------------------------ status table


def _table_cells(page: str) -> dict[str, list[str]]:
    """Township code -> the texts of its row's cells, read from the status table's HTML."""
    table = page[page.index('<table class="lc-status-table"') :]
    table = table[: table.index("</table>")]
    rows = {}
    for code, body in re.findall(r'<tr data-code="(\d+)">(.*?)</tr>', table):
        rows[code] = [
            html.unescape(re.sub(r"<[^>]+>", "", c))
            for c in re.findall(r"<t[dh][^>]*>(.*?)</t[dh]>", body)
        ]
    return rows


def test_status_table_lists_every_township_and_target(result):
    page = tables.status_table_html(result)
    head = re.findall(r'<th data-target="(\d)"[^>]*>([^<]*)</th>', page)
    assert head == [("0", "养老服务设施15分钟步行覆盖率"), ("1", "每个乡镇至少1处老年助餐点")]
    rows = _table_cells(page)
    assert list(rows) == list(result.townships["code"])
    # one cell per gap row: status in words with a mark, and the shortfall
    assert rows["310117001"] == ["岳阳街道", "✓ 达标", "✗ 未达标（缺口0.5处）"]
    assert rows["310117002"] == ["永丰街道", "✗ 未达标（缺口40处）", "✓ 达标"]
    assert rows["310117102"] == ["石湖荡镇", "– 不适用", "✓ 达标"]
    assert rows["310117101"][0] == XSS_TOWNSHIP  # as text, escaped in the HTML
    assert "<img" not in page
    # every cell agrees with the gap rows
    gaps = result.gaps[result.gaps["level"] == "township"]
    for row in gaps.itertuples():
        col = 1 + ["elder_cover", "meal_presence"].index(row.target_id)
        assert i18n.label(row.status) in rows[row.unit_code][col]


def test_status_table_links_each_township_to_its_page(result):
    page = tables.status_table_html(result)
    links = re.findall(r'<a href="([^"]+)">', page)
    assert links[:2] == ["townships/310117001-岳阳街道.html", "townships/310117002-永丰街道.html"]
    assert html.unescape(links[2]) == "townships/310117101-新_img src=x onerror=alert(2)_镇.html"
    assert "<a " not in tables.status_table_html(result, link_prefix=None)


def test_status_table_in_english_and_with_a_missing_row():
    res = make_result(lang="en")
    res.gaps = res.gaps[
        ~((res.gaps["target_id"] == "elder_cover") & (res.gaps["unit_code"] == "310117102"))
    ]
    rows = _table_cells(tables.status_table_html(res, lang="en"))
    assert rows["310117002"][1] == "✗ Not met (short by 40 facilities)"
    assert rows["310117102"][1] == "Not assessed"


def test_township_page_names_are_safe_file_names():
    from lifecircle.output import folder_name

    for name in ("岳阳街道", XSS_TOWNSHIP, 'a/b:c*"d'):
        assert tables.township_page_name("1", name) == f"1-{folder_name(name)}.html"
    assert tables.township_page_name("1", 'a/b:c*"d') == "1-a_b_c__d.html"


def test_site_records_are_ready_for_a_decision(result):
    zh = tables.site_records(result, result.proposed_sites, "zh")
    assert list(zh.columns) == [i18n.label(k) for k in tables.SITE_FIELDS]
    assert zh["序号"].tolist() == [1, 2, 3] and zh["最近道路"].tolist() == ["青石路", "", "柳岸路"]
    assert zh["新增覆盖人口"].tolist() == [1500, 900, 400]
    lon, lat = result.proposed_sites.geometry.x, result.proposed_sites.geometry.y
    glon, glat = wgs84_to_gcj02(lon.to_numpy(), lat.to_numpy())
    np.testing.assert_allclose(zh["经度（GCJ-02，高德/腾讯）"], glon, atol=5e-7)
    np.testing.assert_allclose(zh["纬度（GCJ-02，高德/腾讯）"], glat, atol=5e-7)
    from lifecircle.geo.crs import bd09_to_wgs84

    blon, blat = bd09_to_wgs84(
        zh["经度（BD-09，百度）"].to_numpy(), zh["纬度（BD-09，百度）"].to_numpy()
    )
    np.testing.assert_allclose(blon, lon, atol=2e-6)
    np.testing.assert_allclose(blat, lat, atol=2e-6)
    en = tables.site_records(result, result.proposed_sites, "en")
    assert en.columns[3:5].tolist() == ["Township code", "Nearest road"]
    assert en["Category"].tolist() == [
        "Senior meal point",
        "Senior meal point",
        "Elder-care facility",
    ]
    assert en["Required"].tolist() == ["", "yes", ""]


def test_no_internal_keys_in_chinese_pages(result, overview_html):
    town = webmap.render_html(webmap.township_map(result, "310117101"))
    text_only = re.sub(
        r"<script.*?</script>|<style.*?</style>", "", overview_html + town, flags=re.S
    )
    for key in ("not_met", "volunteer_station", "elder_care_centre", "meal_point"):
        assert key not in re.sub(r'class="[^"]*"|data-[a-z]+="[^"]*"', "", text_only), key
