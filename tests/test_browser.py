"""The maps and the briefing in headless Chromium: they load, draw, toggle, escape and stay offline.

Chromium is Debian's (/usr/bin/chromium); these tests fail, never skip, when it is missing.
Screenshots land in tests/artifacts/ (gitignored).
"""

from __future__ import annotations

import base64
import re
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pytest
from maps_fixtures import BACKTICK_NAME, XSS_NAME, XSS_TOWNSHIP, make_result

from lifecircle.geo.crs import wgs84_to_gcj02
from lifecircle.maps import briefing, palette, webmap

pytestmark = pytest.mark.browser

CHROMIUM = Path("/usr/bin/chromium")
ARGS = [
    "--headless=new",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]
ARTIFACTS = Path(__file__).parent / "artifacts"
# A 1x1 transparent PNG served for every tile request of the online maps.
PNG = base64.b64decode(
    "iVBORw0KGgoAAAANSUhEUgAAAAEAAAABCAQAAAC1HAwCAAAAC0lEQVR42mNkYAAAAAYAAjCB0C8AAAAASUVORK5CYII="
)


@pytest.fixture(scope="module")
def chromium():
    """One Chromium for the module (Playwright's sync API runs one instance at a time)."""
    if not CHROMIUM.exists():
        pytest.fail(
            f"{CHROMIUM} not found: install Debian's chromium (apt-get install chromium) "
            "— the browser tests must run, they are never skipped"
        )
    from playwright.sync_api import sync_playwright

    with sync_playwright() as p:
        b = p.chromium.launch(executable_path=str(CHROMIUM), args=ARGS)
        yield b
        b.close()


@pytest.fixture(scope="module")
def browser(chromium):
    # one context for the fixture's pages: a new page in it is much cheaper than a new context
    context = chromium.new_context(viewport={"width": 1280, "height": 860})
    yield context
    context.close()


@pytest.fixture(scope="module")
def result():
    return make_result()


@pytest.fixture(scope="module")
def overview_offline(result, tmp_path_factory):
    """The offline overview written once for the tests that only read it."""
    html = webmap.render_html(webmap.overview_map(result, offline=True))
    return write(tmp_path_factory.mktemp("maps"), "overview.html", html)


@dataclass
class Loaded:
    page: object
    errors: list[str] = field(default_factory=list)
    external: list[str] = field(default_factory=list)
    dialogs: list[str] = field(default_factory=list)
    tiles: list[str] = field(default_factory=list)


# A basemap tile request: .../{z}/{x}/{y}.png or Amap's x=..&y=..&z=.. form.
TILE_URL = re.compile(r"/\d+/\d+/\d+\.png$|[?&]x=\d+&y=\d+&z=\d+")


def open_page(browser, path: Path, *, serve_online: bool = False) -> Loaded:
    """Load ``path`` (file://), recording console errors, dialogs and every request that is not
    file:// or data:. Those are aborted, unless ``serve_online``: then tiles are answered with a
    blank PNG (this machine has no internet) and recorded in ``tiles``."""
    page = browser.new_page()
    loaded = Loaded(page)
    page.on("console", lambda m: loaded.errors.append(m.text) if m.type == "error" else None)
    page.on("pageerror", lambda e: loaded.errors.append(str(e)))

    def on_dialog(dialog):
        loaded.dialogs.append(dialog.message)
        dialog.dismiss()

    page.on("dialog", on_dialog)

    def route(r):
        url = r.request.url
        if url.startswith(("file:", "data:", "about:")):
            r.continue_()
            return
        if serve_online and TILE_URL.search(url):
            loaded.tiles.append(url)
            r.fulfill(status=200, content_type="image/png", body=PNG)
        else:
            loaded.external.append(url)
            r.abort()

    page.route("**/*", route)
    page.goto(path.as_uri())  # waits for "load": the overlays are drawn by then
    if serve_online:
        page.locator(".leaflet-tile-loaded").first.wait_for()
    return loaded


def write(tmp_path: Path, name: str, text: str) -> Path:
    path = tmp_path / name
    path.write_text(text, encoding="utf-8")
    return path


def shot(loaded: Loaded, name: str, *, full_page: bool = False) -> None:
    ARTIFACTS.mkdir(exist_ok=True)
    loaded.page.screenshot(path=str(ARTIFACTS / name), full_page=full_page)


def markers(page) -> int:
    return page.locator(".leaflet-marker-pane .leaflet-marker-icon").count()


def paths(page) -> int:
    return page.locator(".leaflet-overlay-pane svg path").count()


def layer_checkbox(page, text: str):
    """The checkbox of a layer in the folded list (opened first)."""
    box = page.locator(".lc-layers")
    if not box.evaluate("b => b.classList.contains('leaflet-control-layers-expanded')"):
        # (dispatched: pointing at the button opens the list, which then covers the button)
        page.locator(".lc-layers .leaflet-control-layers-toggle").dispatch_event("click")
    return page.locator(".lc-layers label", has_text=text).locator("input")


def pick_target(page, index: int) -> None:
    page.select_option(".lc-target-select", str(index))


def town_fills(page) -> list[str]:
    return page.locator(".leaflet-overlay-pane svg path").evaluate_all(
        "ps => ps.filter(p => p.getAttribute('stroke') === '#555' || "
        "p.getAttribute('stroke') === '#000').map(p => p.getAttribute('fill'))"
        ".map(f => f.startsWith('url(#lc-hatch') ? 'hatch' : f)"
    )


def test_overview_offline_loads_without_any_request_and_follows_the_target(
    browser, result, overview_offline
):
    assert overview_offline.stat().st_size < 3 * 1024 * 1024
    loaded = open_page(browser, overview_offline)
    page = loaded.page
    assert loaded.external == []  # ZERO network requests
    assert loaded.errors == [] and loaded.dialogs == []
    assert page.title() == "示范区 2025：生活圈设施覆盖总览"
    shot(loaded, "overview_offline.png")

    fac = result.facilities
    sites = result.proposed_sites
    # the first target (elder care cover): only elder-care pins and sites
    elder = int((fac["category"] == "elder_care_centre").sum())
    meal = int((fac["category"] == "meal_point").sum())
    assert markers(page) == elder + int((sites["category"] == "elder_care_centre").sum())
    unc = result.walk_uncovered
    elder_cells = int(((unc["category"] == "elder_care_centre") & (unc["pop60"] > 0)).sum())
    n_paths = paths(page)
    # 4 townships + 2 areas (street 15 min, town 20 min) + the uncovered circles
    assert n_paths == 4 + 2 + elder_cells
    pick_target(page, 1)  # meal points: pins, stars, areas and circles swap
    assert markers(page) == meal + int((sites["category"] == "meal_point").sum())
    meal_cells = int(((unc["category"] == "meal_point") & (unc["pop60"] > 0)).sum())
    assert paths(page) == 4 + 2 + meal_cells
    # the folded layer list turns a whole kind off and on
    assert page.locator(".lc-layers.leaflet-control-layers-expanded").count() == 0
    layer_checkbox(page, "该目标的设施").click()
    assert markers(page) == int((sites["category"] == "meal_point").sum())
    layer_checkbox(page, "该目标的设施").click()
    layer_checkbox(page, "未覆盖老年人").click()
    assert paths(page) == 4 + 2
    shot(loaded, "overview_offline_layers.png")
    assert loaded.errors == []
    page.close()


def test_target_selector_recolours_and_relabels_townships(browser, overview_offline):
    loaded = open_page(browser, overview_offline)
    page = loaded.page
    met, na = palette.STATUS_COLORS["met"], palette.STATUS_COLORS["na"]
    not_met = "hatch"  # orange with dark stripes: an SVG pattern
    # fixture statuses: elder_cover met/not_met/met/na, meal_presence not_met/met/not_met/met
    assert town_fills(page) == [met, not_met, met, na]
    pattern = page.locator(".leaflet-overlay-pane svg defs pattern")
    assert pattern.locator("rect").first.get_attribute("fill") == palette.STATUS_COLORS["not_met"]
    labels = page.locator(".lc-label").all_inner_texts()
    assert "永丰街道\n✗ 未达标（缺口40处）" in labels and "岳阳街道\n✓ 达标" in labels
    pick_target(page, 1)
    assert town_fills(page) == [not_met, met, not_met, met]
    assert "永丰街道\n✓ 达标" in page.locator(".lc-label").all_inner_texts()
    legend = page.locator(".lc-legend").inner_text()
    assert "✓ 达标" in legend and "✗ 未达标" in legend and "– 不适用" in legend
    assert "步行街道15分钟、镇/乡20分钟服务范围" in legend
    # the status table marks the selected target's column
    current = page.locator(".lc-status-table thead th.lc-current").inner_text()
    assert current == "每个乡镇至少1处老年助餐点"
    page.close()


def test_register_script_runs_nothing_and_shows_as_text(browser, overview_offline):
    loaded = open_page(browser, overview_offline)
    page = loaded.page
    settle(page)  # the hover below must find the township where it is drawn
    # dispatched to the marker itself: a pointer click can miss while the map still settles
    page.locator(f'.leaflet-marker-icon[title="{XSS_NAME}"]').dispatch_event("click")
    popup = page.locator(".leaflet-popup-content")
    popup.wait_for()
    text = popup.inner_text()
    assert XSS_NAME in text and "岳阳街道" in text and "310117001" in text
    assert page.locator(".leaflet-popup-content script").count() == 0
    shot(loaded, "popup_script_name.png")
    page.locator(".leaflet-popup-close-button").click()
    # a name with a template-literal payload stays text too
    page.locator(f'.leaflet-marker-icon[title="{BACKTICK_NAME}"]').dispatch_event("click")
    second = page.locator(".leaflet-popup-content", has_text="alert(3)")
    assert BACKTICK_NAME in second.inner_text(timeout=5000)
    # the township whose name carries an <img onerror>: its tooltip shows the text
    page.locator(".leaflet-overlay-pane svg path[stroke='#555']").nth(2).hover(
        position={"x": 30, "y": 30}
    )
    tip = page.locator(".leaflet-tooltip", has_text="onerror").first
    tip.wait_for()
    assert XSS_TOWNSHIP in tip.inner_text()
    assert page.locator(".leaflet-tooltip img").count() == 0
    assert page.locator(".lc-side img").count() == 0
    page.wait_for_timeout(200)
    assert loaded.dialogs == [] and loaded.errors == []
    page.close()


def test_site_popup_is_ready_for_a_decision(browser, overview_offline):
    loaded = open_page(browser, overview_offline)
    page = loaded.page
    page.locator('.leaflet-marker-icon[title="建议新增站点 3"]').dispatch_event("click")
    popup = page.locator(".leaflet-popup-content", has_text="GCJ-02")
    text = popup.inner_text(timeout=5000)
    for piece in ("柳岸路", "新增覆盖60岁及以上人口", "150", "经度（BD-09，百度）", "121.310000"):
        assert piece in text
    assert loaded.errors == []
    page.close()


def test_township_map_offline(browser, result, tmp_path):
    html = webmap.render_html(webmap.township_map(result, "310117101", offline=True))
    assert len(html.encode()) < 1024 * 1024
    loaded = open_page(browser, write(tmp_path, "township.html", html))
    page = loaded.page
    assert loaded.external == [] and loaded.errors == [] and loaded.dialogs == []
    panel = page.locator(".lc-panel").inner_text()
    assert "规划目标" in panel and "每个乡镇至少1处老年助餐点" in panel and "<i>东村</i>" in panel
    # the map sits above the panel, not under it
    map_box = page.locator(".folium-map").bounding_box()
    panel_box = page.locator(".lc-panel").bounding_box()
    assert map_box["height"] > 400 and panel_box["y"] >= map_box["y"] + map_box["height"] - 1
    assert markers(page) > 0
    shot(loaded, "township_offline.png", full_page=True)
    # the layer list is folded; its button opens it; the village layer toggles two outlines
    assert page.locator(".lc-layers.leaflet-control-layers-expanded").count() == 0
    assert page.locator(".leaflet-control-layers-toggle").get_attribute("title") == "图层"
    assert page.locator(".leaflet-control-zoom-in").get_attribute("title") == "放大"
    n_paths = paths(page)
    layer_checkbox(page, "村（社区）边界").click()
    assert paths(page) == n_paths - 2
    page.close()


def test_briefing_loads_and_prints(browser, result, tmp_path):
    from lifecircle.maps import static

    pictures = static.write_static_maps(result, None, dpi=40)
    html = briefing.render_briefing(result, pictures={k: p.screen_png for k, p in pictures.items()})
    assert len(html.encode()) < 2 * 1024 * 1024
    loaded = open_page(browser, write(tmp_path, "briefing.html", html))
    page = loaded.page
    assert page.locator("section.township").count() == 4
    assert XSS_TOWNSHIP in page.locator("section.township h2").nth(2).inner_text()
    assert page.locator(".chart svg rect").count() == 8
    # the pictures (overview and the four townships) are decoded, none is an embedded map
    widths = page.eval_on_selector_all("figure.map img", "els => els.map(e => e.naturalWidth)")
    assert len(widths) == 5 and min(widths) > 0 and page.locator("iframe").count() == 0
    shot(loaded, "briefing.png", full_page=True)
    assert loaded.external == [] and loaded.errors == [] and loaded.dialogs == []
    pdf = page.pdf(format="A4")
    assert pdf[:4] == b"%PDF" and pdf.count(b"/Type /Page") >= 5
    page.close()


def test_briefing_with_lighter_township_copies_shows_them(browser, result, tmp_path, monkeypatch):
    from lifecircle.maps import static

    # a county's briefing: over the budget, the townships' pictures go in as lossy WebP
    monkeypatch.setattr(briefing, "PICTURE_BUDGET_BYTES", 0)
    pictures = static.write_static_maps(result, None, dpi=150)
    html = briefing.render_briefing(result, pictures={k: p.screen_png for k, p in pictures.items()})
    assert html.count('src="data:image/webp;base64,') == 4
    loaded = open_page(browser, write(tmp_path, "briefing_light.html", html))
    images = loaded.page.eval_on_selector_all(
        "section.township figure.map img", "els => els.map(e => [e.naturalWidth, e.width])"
    )
    assert images == [[briefing.LIGHT_WIDTH_PX, briefing.LIGHT_WIDTH_PX]] * 4  # decoded, 1:1
    shot(loaded, "briefing_light.png", full_page=True)
    assert loaded.external == [] and loaded.errors == []
    loaded.page.close()


def test_briefing_in_english(browser, result, tmp_path):
    html = briefing.render_briefing(result, lang="en")
    loaded = open_page(browser, write(tmp_path, "briefing_en.html", html))
    text = loaded.page.locator("body").inner_text()
    assert "Area summary of targets" in text and "Proposed sites" in text
    assert "全区目标汇总" not in text
    assert loaded.external == [] and loaded.errors == []
    shot(loaded, "briefing_en.png")
    loaded.page.close()


def _marker_latlngs(page, map_name: str) -> dict[str, list[float]]:
    return page.evaluate(
        """name => { const out = {}; const map = window[name];
             map.eachLayer(l => { if (l instanceof L.Marker && l.options.title) {
               const ll = l.getLatLng(); out[l.options.title] = [ll.lat, ll.lng]; } });
             return out; }""",
        map_name,
    )


@pytest.mark.parametrize("basemap", ["osm", "amap"])
def test_drawn_positions_follow_the_basemap_system(browser, result, tmp_path, basemap):
    m = webmap.overview_map(result, basemap=basemap)
    loaded = open_page(
        browser, write(tmp_path, f"{basemap}.html", webmap.render_html(m)), serve_online=True
    )
    page = loaded.page
    assert loaded.errors == [] and loaded.dialogs == []
    host = "autonavi.com" if basemap == "amap" else "tile.openstreetmap.org"
    assert loaded.tiles and all(host in url for url in loaded.tiles)
    drawn = _marker_latlngs(page, m.get_name())
    pick_target(page, 1)  # the second target's pins too: every facility of both categories
    drawn.update(_marker_latlngs(page, m.get_name()))
    fac = result.facilities[result.facilities["category"].isin(["elder_care_centre", "meal_point"])]
    lon, lat = fac.geometry.x.to_numpy(), fac.geometry.y.to_numpy()
    if basemap == "amap":
        lon, lat = wgs84_to_gcj02(lon, lat)
    got = np.array([drawn[name] for name in fac["name"]])
    np.testing.assert_allclose(got[:, 0], lat, atol=6e-7)
    np.testing.assert_allclose(got[:, 1], lon, atol=6e-7)
    shot(loaded, f"overview_{basemap}.png")
    page.close()


def _tile_range(lon0: float, lat0: float, lon1: float, lat1: float, z: int):
    """Slippy-map tile indices covering a box (the OSM tile formula)."""

    def tile(lon: float, lat: float) -> tuple[int, int]:
        n = 2**z
        x = int((lon + 180.0) / 360.0 * n)
        rad = np.radians(lat)
        y = int((1.0 - np.arcsinh(np.tan(rad)) / np.pi) / 2.0 * n)
        return x, y

    (x0, y0), (x1, y1) = tile(lon0, lat1), tile(lon1, lat0)
    return range(x0, x1 + 1), range(y0, y1 + 1)


def test_offline_map_with_a_local_tile_folder(browser, result, tmp_path):
    tiles = tmp_path / "tiles"
    for z in (12, 13, 14, 15, 16):
        xs, ys = _tile_range(121.20, 30.90, 121.50, 31.10, z)
        for x in xs:
            (tiles / str(z) / str(x)).mkdir(parents=True)
            for y in ys:
                (tiles / str(z) / str(x) / f"{y}.png").write_bytes(PNG)
    html = webmap.render_html(
        webmap.overview_map(result, offline=True, tiles_url=str(tiles) + "/{z}/{x}/{y}.png")
    )
    loaded = open_page(browser, write(tmp_path, "local_tiles.html", html))
    page = loaded.page
    page.locator(".leaflet-tile-loaded").first.wait_for()
    assert page.locator(".leaflet-tile-loaded").count() > 4
    assert page.locator(".leaflet-tile").evaluate_all(
        "ts => ts.every(t => t.src.startsWith('file://'))"
    )
    assert loaded.external == [] and loaded.errors == []
    page.close()


def test_clustered_layer_draws_clusters(browser, tmp_path):
    big = make_result(extra_meal=300)
    html = webmap.render_html(webmap.overview_map(big, offline=True))
    loaded = open_page(browser, write(tmp_path, "clustered.html", html))
    page = loaded.page
    assert page.locator(".marker-cluster").count() == 0  # elder care: 16 pins, no clusters
    pick_target(page, 1)  # meal points
    assert page.locator(".marker-cluster").count() > 0
    # far fewer pins than the 316 meal points: they are grouped
    assert markers(page) < 316 - 100
    shot(loaded, "overview_clustered.png")
    layer_checkbox(page, "该目标的设施").click()
    assert page.locator(".marker-cluster").count() == 0
    assert loaded.external == [] and loaded.errors == []
    page.close()


# ------------------------------------------------------------------------------ the demo

VIEWPORTS = {"desktop": {"width": 1440, "height": 900}, "phone": {"width": 390, "height": 844}}


@pytest.fixture(scope="module")
def demo_run(tmp_path_factory):
    """The default demo run once for these tests (about 20 s): its result and output folder."""
    from lifecircle.pipeline import run_plan
    from lifecircle.plan import SAMPLE_PLAN, load_plan

    return run_plan(load_plan(SAMPLE_PLAN), tmp_path_factory.mktemp("demo") / "示范区")


def open_sized(chromium, path: Path, viewport: str, *, serve_tiles: bool) -> Loaded:
    """``path`` in a fresh context of that viewport (phones: touch, device scale 3)."""
    phone = viewport == "phone"
    context = chromium.new_context(
        viewport=VIEWPORTS[viewport],
        is_mobile=phone,
        has_touch=phone,
        device_scale_factor=3 if phone else 1,
    )
    loaded = open_page(context, path, serve_online=serve_tiles)
    settle(loaded.page)
    return loaded


def settle(page) -> None:
    """Wait until the map has settled on its area (fit, zoom: a few frames, later on a loaded
    machine), i.e. the drawn townships stop moving (at most 5 s)."""
    previous = None
    for _ in range(50):
        page.wait_for_timeout(100)
        now = drawn_share(page)
        if now == previous and now["n"] > 0:
            return
        previous = now


def drawn_share(page) -> dict[str, float]:
    """How much of the map the drawn townships fill: the share of the map's width and height
    their bounding box spans (clipped to the map), and of its area."""
    return page.evaluate(
        """() => {
          const map = document.querySelector('.folium-map').getBoundingClientRect();
          const paths = [...document.querySelectorAll('.leaflet-overlay-pane svg path')]
            .filter(p => ['#555', '#000'].includes(p.getAttribute('stroke')));
          if (!paths.length) return {w: 0, h: 0, area: 0, n: 0};
          let l = Infinity, t = Infinity, r = -Infinity, b = -Infinity;
          for (const p of paths) { const q = p.getBoundingClientRect();
            l = Math.min(l, q.left); t = Math.min(t, q.top);
            r = Math.max(r, q.right); b = Math.max(b, q.bottom); }
          l = Math.max(l, map.left); t = Math.max(t, map.top);
          r = Math.min(r, map.right); b = Math.min(b, map.bottom);
          const w = Math.max(0, r - l) / map.width, h = Math.max(0, b - t) / map.height;
          return {w: w, h: h, area: w * h, n: paths.length};
        }"""
    )


def demo_pages(out: Path) -> list[Path]:
    return [out / "overview.html", *sorted((out / "townships").glob("*.html"))]


@pytest.mark.parametrize("viewport", list(VIEWPORTS))
def test_demo_pages_request_only_tiles_and_show_their_area(chromium, demo_run, viewport):
    result, out = demo_run
    pages = demo_pages(out)
    assert len(pages) == 1 + len(result.townships)
    for path in pages:
        loaded = open_sized(chromium, path, viewport, serve_tiles=True)
        page = loaded.page
        # the only requests are the OpenStreetMap tiles (answered blank here); nothing else
        assert loaded.external == [], (path.name, loaded.external)
        assert loaded.tiles and all(
            u.startswith("https://tile.openstreetmap.org/") for u in loaded.tiles
        )
        assert loaded.errors == [] and loaded.dialogs == [], (path.name, loaded.errors)
        share = drawn_share(page)
        # the map opens on its area: the townships span most of the map one way or the other
        assert share["n"] > 0 and max(share["w"], share["h"]) > 0.8, (path.name, share)
        assert share["area"] > 0.3, (path.name, share)
        if path.name == "overview.html":
            shot(loaded, f"demo_overview_{viewport}.png")
        page.context.close()


@pytest.mark.parametrize("viewport", list(VIEWPORTS))
def test_demo_pages_without_basemap_make_no_request(chromium, demo_run, tmp_path, viewport):
    result, _ = demo_run
    code = str(result.townships["code"].iloc[0])
    for name, m in (
        ("overview.html", webmap.overview_map(result, basemap="none")),
        ("township.html", webmap.township_map(result, code, basemap="none")),
    ):
        loaded = open_sized(
            chromium, write(tmp_path, name, webmap.render_html(m)), viewport, serve_tiles=False
        )
        assert loaded.external == [] and loaded.errors == [], (name, loaded.external)
        assert drawn_share(loaded.page)["area"] > 0.3
        loaded.page.context.close()


@pytest.mark.parametrize("viewport", list(VIEWPORTS))
def test_demo_status_table_click_zooms_to_the_township(chromium, demo_run, viewport):
    result, out = demo_run
    loaded = open_sized(chromium, out / "overview.html", viewport, serve_tiles=True)
    page = loaded.page
    name = page.evaluate("() => Object.keys(window).find(k => /^map_[0-9a-f]+$/.test(k))")
    zoom_before = page.evaluate(f"() => window['{name}'].getZoom()")
    rows = page.locator(".lc-status-table tbody tr")
    assert rows.count() == len(result.townships)
    # the table's cells are the gap rows' statuses
    gaps = result.gaps[result.gaps["level"] == "township"]
    n_not_met = int((gaps["status"] == "not_met").sum())
    assert page.locator(".lc-status-table td.lc-status-not_met").count() == n_not_met
    row = rows.nth(1)  # a street: much smaller than the district
    code = row.get_attribute("data-code")
    row.locator("td").first.click()
    zoom_after = page.evaluate(f"() => window['{name}'].getZoom()")
    assert zoom_after > zoom_before
    # the township now fills the map: its box holds the map's centre, and the row is marked
    town = result.townships[result.townships["code"] == code].geometry.iloc[0]
    centre = page.evaluate(
        f"() => {{ const c = window['{name}'].getCenter(); return [c.lng, c.lat]; }}"
    )
    west, south, east, north = town.bounds
    assert west < centre[0] < east and south < centre[1] < north
    assert "lc-picked" in (row.get_attribute("class") or "")
    # the township's name links to its page, which exists
    href = row.locator("a").get_attribute("href")
    assert (out / href).exists()
    if viewport == "phone":
        # a bottom sheet: below the map, full width
        side = page.locator(".lc-side").bounding_box()
        map_box = page.locator(".folium-map").bounding_box()
        assert side["y"] >= map_box["y"] + map_box["height"] - 1 and side["width"] >= 389
    shot(loaded, f"demo_overview_zoomed_{viewport}.png")
    assert loaded.errors == []
    page.context.close()
