"""The maps and the briefing in headless Chromium: they load, draw, toggle, escape and stay offline.

Chromium is Debian's (/usr/bin/chromium); these tests fail, never skip, when it is missing.
Screenshots land in tests/artifacts/ (gitignored).
"""

from __future__ import annotations

import base64
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pytest
from maps_fixtures import BACKTICK_NAME, XSS_NAME, XSS_TOWNSHIP, make_result

from lifecircle.geo.crs import wgs84_to_gcj02
from lifecircle.maps import briefing, webmap

pytestmark = pytest.mark.browser

CHROMIUM = Path("/usr/bin/chromium")
ARGS = ["--headless=new", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
        "--disable-background-networking", "--disable-component-update", "--disable-sync"]
ARTIFACTS = Path(__file__).parent / "artifacts"
# A 1x1 transparent PNG served for every tile request of the online maps.
PNG = base64.b64decode("iVBORw0KGgoAAAANSUhEUgAAAAEAAAABCAQAAAC1HAwCAAAAC0lEQVR42mNkYAAAAAYAAjCB"
                       "0C8AAAAASUVORK5CYII=")


@pytest.fixture(scope="module")
def browser():
    if not CHROMIUM.exists():
        pytest.fail(f"{CHROMIUM} not found: install Debian's chromium (apt-get install chromium) "
                    "— the browser tests must run, they are never skipped")
    from playwright.sync_api import sync_playwright

    with sync_playwright() as p:
        b = p.chromium.launch(executable_path=str(CHROMIUM), args=ARGS)
        # one context for all pages: a new page in it is much cheaper than a new context
        context = b.new_context(viewport={"width": 1280, "height": 860})
        yield context
        context.close()
        b.close()


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


def open_page(browser, path: Path, *, serve_online: bool = False) -> Loaded:
    """Load ``path`` (file://), recording console errors, dialogs and every request that is not
    file:// or data:. Those are aborted, unless ``serve_online``: then CDN files are answered
    from the vendored assets and tiles with a blank PNG (this machine has no internet)."""
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
        loaded.external.append(url)
        if serve_online and "cdn.jsdelivr.net" in url:
            name = url.rsplit("/", 1)[-1]
            kind = "text/css" if name.endswith(".css") else "application/javascript"
            r.fulfill(status=200, content_type=kind,
                      body=(webmap.ASSETS_DIR / name).read_bytes())
        elif serve_online:
            loaded.tiles.append(url)
            r.fulfill(status=200, content_type="image/png", body=PNG)
        else:
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
    return page.locator(".leaflet-control-layers-overlays label", has_text=text).locator("input")


def test_overview_offline_loads_without_any_request_and_toggles(browser, result,
                                                                overview_offline):
    assert overview_offline.stat().st_size < 3 * 1024 * 1024
    loaded = open_page(browser, overview_offline)
    page = loaded.page
    assert loaded.external == []  # ZERO network requests
    assert loaded.errors == [] and loaded.dialogs == []
    shot(loaded, "overview_offline.png")

    n_markers = markers(page)
    assert n_markers == len(result.facilities) + len(result.proposed_sites)
    layer_checkbox(page, "设施 · 养老服务设施").click()
    elder = int((result.facilities["category"] == "elder_care_centre").sum())
    assert markers(page) == n_markers - elder
    layer_checkbox(page, "设施 · 养老服务设施").click()
    assert markers(page) == n_markers

    n_paths = paths(page)
    layer_checkbox(page, "步行5分钟服务范围 · 养老服务设施").click()
    assert paths(page) == n_paths + 1  # one dissolved area drawn
    layer_checkbox(page, "未覆盖老年人 · 养老服务设施").click()
    uncovered = result.uncovered
    n_cells = int(((uncovered["category"] == "elder_care_centre")
                   & (uncovered["threshold_min"] == 15) & (uncovered["pop60"] > 0)).sum())
    assert paths(page) == n_paths + 1 + n_cells
    shot(loaded, "overview_offline_layers.png")
    assert loaded.errors == []
    page.close()


def test_target_selector_recolours_townships(browser, overview_offline):
    loaded = open_page(browser, overview_offline)
    page = loaded.page

    def fills() -> list[str]:
        return page.locator(".leaflet-overlay-pane svg path").evaluate_all(
            "ps => ps.filter(p => p.getAttribute('stroke') === '#555' || "
            "p.getAttribute('stroke') === '#000').map(p => p.getAttribute('fill'))")

    # fixture statuses: elder_cover met/not_met/met/na, meal_presence not_met/met/not_met/met
    assert fills() == ["#1a9850", "#d73027", "#1a9850", "#9e9e9e"]
    page.select_option(".lc-target-select", "1")
    assert fills() == ["#d73027", "#1a9850", "#d73027", "#1a9850"]
    legend = page.locator(".lc-legend").inner_text()
    assert "达标" in legend and "未达标" in legend and "不适用" in legend
    page.close()


def test_register_script_runs_nothing_and_shows_as_text(browser, overview_offline):
    loaded = open_page(browser, overview_offline)
    page = loaded.page
    page.locator(f'.leaflet-marker-icon[title="{XSS_NAME}"]').click()
    popup = page.locator(".leaflet-popup-content")
    popup.wait_for()
    text = popup.inner_text()
    assert XSS_NAME in text and "岳阳街道" in text and "310117001" in text
    assert page.locator(".leaflet-popup-content script").count() == 0
    shot(loaded, "popup_script_name.png")
    page.locator(".leaflet-popup-close-button").click()
    # a name with a template-literal payload stays text too
    # (dispatched: another pin may cover its centre)
    page.locator(f'.leaflet-marker-icon[title="{BACKTICK_NAME}"]').dispatch_event("click")
    # (the first popup may still be fading out: pick the new one by its text)
    second = page.locator(".leaflet-popup-content", has_text="alert(3)")
    assert BACKTICK_NAME in second.inner_text(timeout=5000)
    # the township whose name carries an <img onerror>: its tooltip shows the text
    page.locator(".leaflet-overlay-pane svg path[stroke='#555']").nth(2).hover(
        position={"x": 30, "y": 30})
    tip = page.locator(".leaflet-tooltip", has_text="onerror")
    tip.wait_for()
    assert XSS_TOWNSHIP in tip.inner_text()
    assert page.locator(".leaflet-tooltip img").count() == 0
    page.wait_for_timeout(200)
    assert loaded.dialogs == [] and loaded.errors == []
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
    # the layer list is folded; pointing at its button opens it; the village layer toggles two
    # outlines
    assert page.locator(".leaflet-control-layers-expanded").count() == 0
    # (the mouse, not a locator action: the opened list covers the button at once)
    box = page.locator(".leaflet-control-layers-toggle").bounding_box()
    page.mouse.move(box["x"] + box["width"] / 2, box["y"] + box["height"] / 2)
    assert page.locator(".leaflet-control-layers-expanded").count() == 1
    n_paths = paths(page)
    layer_checkbox(page, "村(社区)边界").click()
    assert paths(page) == n_paths - 2
    page.close()


def test_briefing_loads_and_prints(browser, result, tmp_path):
    from lifecircle.maps import static

    pictures = static.write_static_maps(result, None, dpi=40)
    html = briefing.render_briefing(result, pictures={k: p.screen_png for k, p in
                                                      pictures.items()})
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
             return out; }""", map_name)


@pytest.mark.parametrize("basemap", ["osm", "amap"])
def test_drawn_positions_follow_the_basemap_system(browser, result, tmp_path, basemap):
    m = webmap.overview_map(result, basemap=basemap)
    loaded = open_page(browser, write(tmp_path, f"{basemap}.html", webmap.render_html(m)),
                       serve_online=True)
    page = loaded.page
    assert loaded.errors == [] and loaded.dialogs == []
    host = "autonavi.com" if basemap == "amap" else "tile.openstreetmap.org"
    assert loaded.tiles and all(host in url for url in loaded.tiles)
    drawn = _marker_latlngs(page, m.get_name())
    fac = result.facilities
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
    html = webmap.render_html(webmap.overview_map(
        result, offline=True, tiles_url=str(tiles) + "/{z}/{x}/{y}.png"))
    loaded = open_page(browser, write(tmp_path, "local_tiles.html", html))
    page = loaded.page
    page.locator(".leaflet-tile-loaded").first.wait_for()
    assert page.locator(".leaflet-tile-loaded").count() > 4
    assert page.locator(".leaflet-tile").evaluate_all(
        "ts => ts.every(t => t.src.startsWith('file://'))")
    assert loaded.external == [] and loaded.errors == []
    page.close()


def test_clustered_layer_draws_clusters(browser, tmp_path):
    big = make_result(extra_meal=300)
    html = webmap.render_html(webmap.overview_map(big, offline=True))
    loaded = open_page(browser, write(tmp_path, "clustered.html", html))
    page = loaded.page
    clusters = page.locator(".marker-cluster").count()
    assert clusters > 0
    # far fewer pins than the 364 points: the 316 meal points are grouped
    assert markers(page) < len(big.facilities) - 100
    shot(loaded, "overview_clustered.png")
    layer_checkbox(page, "设施 · 老年助餐点").click()
    assert page.locator(".marker-cluster").count() == 0
    assert loaded.external == [] and loaded.errors == []
    page.close()
