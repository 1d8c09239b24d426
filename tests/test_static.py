"""Print-ready PNG maps (maps/static.py) on the synthetic run: files, sizes, what each picture
tells, fonts and the optional basemap. The demo's pictures are checked in test_briefing.py."""

from __future__ import annotations

import logging
import sys

import numpy as np
import pandas as pd
import pytest
from maps_fixtures import TOWNSHIPS, WALK, clipped_walk_areas, make_result
from PIL import Image

from lifecircle.coverage.views import target_walks
from lifecircle.coverage.walk import KindWalk, WalkModel
from lifecircle.errors import InputError
from lifecircle.maps import static

DPI = 60  # print pictures are 300 dpi; 60 keeps these tests fast with the same layout
CATEGORY = {"elder_cover": "elder_care_centre", "meal_presence": "meal_point"}


def with_views(result):
    """The synthetic result with the map views the pipeline adds (coverage/views.py)."""
    result.gaps = result.gaps.assign(
        category=result.gaps["target_id"].map(CATEGORY).fillna(""), threshold_min=np.nan
    )
    walk = WalkModel(
        thresholds_min=tuple(WALK["thresholds_min"]),
        by_kind={"town": KindWalk(speed_mps=1.2, thresholds_min=(10, 15, 20))},
    )
    result.target_walks = target_walks(result.gaps, walk, ["street", "town"])
    result.walk_areas = clipped_walk_areas(
        result.service_areas, result.townships, result.target_walks
    )
    result.run_info["inputs"] = [
        {"path": "/data/乡镇边界.geojson", "modified": "2025-03-01T08:00:00+08:00"},
        {"path": "/data/助餐点.csv", "modified": "2025-06-30T10:00:00+08:00"},
    ]
    result.run_info["created"] = "2025-07-01T09:30:00+08:00"
    return result


@pytest.fixture(scope="module")
def result():
    return with_views(make_result())


@pytest.fixture(scope="module")
def pictures(result, tmp_path_factory):
    folder = tmp_path_factory.mktemp("static")
    stems = {code: f"{code}-{name[:4]}" for code, name, *_ in TOWNSHIPS}
    return folder, stems, static.write_static_maps(result, folder, dpi=DPI, stems=stems)


def pixels(path) -> np.ndarray:
    with Image.open(path) as image:
        return np.asarray(image.convert("RGB"), dtype=float)


def test_every_picture_is_written_at_a4_width(pictures):
    folder, stems, made = pictures
    assert set(made) == {"overview", *stems}
    expected = [folder / "overview.png"] + [
        folder / "townships" / f"{s}.png" for s in stems.values()
    ]
    assert sorted(p.path for p in made.values()) == sorted(expected)
    for path in expected:
        with Image.open(path) as image:
            image.load()  # the file is closed on leaving; the pixels stay
        assert image.width == round(static.A4_WIDTH_IN * DPI)  # 2480 px at 300 dpi
        assert 0.4 * image.width < image.height < 1.6 * image.width
        assert image.info["dpi"] == pytest.approx((DPI, DPI), abs=0.01)
        assert path.stat().st_size > 10_000
        # not blank: plenty of distinct colours and contrast
        values = pixels(path)
        assert values.std() > 25
        assert len(np.unique(values.reshape(-1, 3), axis=0)) > 200


def test_screen_copies_are_small_pngs(pictures):
    _, _, made = pictures
    for picture in made.values():
        assert picture.screen_png.startswith(b"\x89PNG")
        screen = Image.open(__import__("io").BytesIO(picture.screen_png))
        assert screen.width == min(static.SCREEN_WIDTH_PX, picture.width_px)
        assert len(picture.screen_png) < 150_000


def test_story_defaults_and_explicit_target(result):
    # the fixture has no service circle: the first target with a category is told
    story = static.choose_story(result)
    assert story.target_id == "elder_cover" and story.category == "elder_care_centre"
    # gap rows: elder_cover met / not_met / met / na for the four townships
    assert [story.status[t[0]] for t in TOWNSHIPS] == ["met", "not_met", "met", "na"]
    assert story.value_text["310117002"] == "40% / 80%"
    assert story.shortfall_text["310117002"] == "缺口40处"
    assert "310117001" not in story.shortfall_text
    # streets are judged at 15 minutes, towns at 20 (the kinds' longest walks)
    assert [story.threshold_min[t[0]] for t in TOWNSHIPS] == [15.0, 15.0, 20.0, 20.0]
    meal = static.choose_story(result, "meal_presence", lang="en")
    assert (
        meal.category == "meal_point"
        and meal.shortfall_text["310117001"] == "short by 0.5 facilities"
    )
    with pytest.raises(InputError, match=r"'nope'.*elder_cover, meal_presence"):
        static.choose_story(result, "nope")


def test_story_prefers_a_service_circle_of_the_sited_category(result):
    res = with_views(make_result())
    res.gaps.loc[res.gaps["target_id"] == "meal_presence", "target_type"] = "service_circle"
    res.gap_summary.loc[res.gap_summary["target_id"] == "meal_presence", "target_type"] = (
        "service_circle"
    )
    res.gap_summary["category"] = res.gap_summary["target_id"].map(CATEGORY)
    assert static.choose_story(res).target_id == "meal_presence"  # sites are meal points


def test_uncovered_seniors_are_the_cells_beyond_each_kinds_walk(result):
    story = static.choose_story(result)
    got = static.uncovered_seniors(result, story)
    unc = result.walk_uncovered
    kind_walk = {"street": 15.0, "town": 20.0}
    kinds = dict(zip(result.townships["code"], result.townships["kind"], strict=True))
    expected: dict[str, float] = {}
    for row in unc.itertuples():
        if (
            row.category == "elder_care_centre"
            and row.threshold_min == kind_walk[kinds[row.township_code]]
        ):
            expected[row.township_code] = expected.get(row.township_code, 0.0) + row.pop60
    assert got == pytest.approx(expected)


def test_service_areas_and_uncovered_cells_are_drawn(result, tmp_path):
    story = static.choose_story(result)
    layers = static._prepare(result, story)
    assert [t for t, _ in layers.areas] == [15.0, 20.0]  # one area per kind's walk
    full = static.write_static_maps(result, None, dpi=DPI)["overview"]
    bare = with_views(make_result())
    bare.walk_areas = bare.walk_areas.iloc[0:0]
    bare.walk_uncovered = bare.walk_uncovered.iloc[0:0]
    empty = static.write_static_maps(bare, None, dpi=DPI)["overview"]
    a = np.asarray(Image.open(__import__("io").BytesIO(full.screen_png)).convert("RGB"), float)
    b = np.asarray(Image.open(__import__("io").BytesIO(empty.screen_png)).convert("RGB"), float)
    assert a.shape == b.shape
    changed = (np.abs(a - b).sum(axis=2) > 30).mean()
    assert changed > 0.05  # a good part of the map is service area or uncovered seniors


def test_source_line_names_every_input_with_its_date(result):
    line = static.source_line(result)
    assert "乡镇边界.geojson（2025-03-01）" in line and "助餐点.csv（2025-06-30）" in line
    assert "2025-07-01" in line
    assert "Sources: 乡镇边界.geojson (2025-03-01)" in static.source_line(result, "en")


def test_wrap_breaks_chinese_text_at_separators():
    text = "数据来源：" + "、".join(f"文件{i}.csv（2025-01-0{i}）" for i in range(1, 8))
    lines = static._wrap(text, 40).split("\n")
    assert len(lines) > 2 and "".join(lines) == text
    assert all(sum(2 if ord(c) > 0x2E80 else 1 for c in line) <= 41 for line in lines)
    assert all(line.endswith("、") for line in lines[:-1])


def test_a_cjk_font_is_found():
    name = static.cjk_font()
    assert name is not None and ("CJK" in name or "Han" in name or "Hei" in name), name


def test_missing_cjk_font_warns_with_the_fix(caplog):
    with caplog.at_level(logging.WARNING, logger="lifecircle.maps.static"):
        assert static.cjk_font(("No Such Font",), ("/nonexistent/font.ttc",)) is None
    assert "fonts-noto-cjk" in caplog.text


def test_basemap_without_contextily_is_skipped_with_a_notice(result, monkeypatch, caplog):
    monkeypatch.setitem(sys.modules, "contextily", None)  # import fails, no network touched
    with caplog.at_level(logging.WARNING, logger="lifecircle.maps.static"):
        made = static.write_static_maps(result, None, dpi=30, basemap="osm")
    assert "contextily is not installed" in caplog.text
    assert made["overview"].width_px == round(static.A4_WIDTH_IN * 30)


def test_english_labels(result, tmp_path):
    made = static.write_static_maps(result, tmp_path, dpi=30, lang="en")
    assert (tmp_path / "overview.png").exists() and len(made) == 5


def test_a_run_without_targets_or_sites_still_draws(tmp_path):
    res = make_result()
    res.gaps = res.gaps.iloc[0:0]
    res.gap_summary = res.gap_summary.iloc[0:0]
    res.proposed_sites = None
    story = static.choose_story(res)
    assert story.target_id == "" and story.status == {}
    made = static.write_static_maps(res, tmp_path, dpi=30)
    assert pixels(made["overview"].path).std() > 20


@pytest.mark.parametrize("lang", ["zh", "en"])
def test_legend_counts_follow_the_facilities(result, lang):
    story = static.choose_story(result, lang=lang)
    layers = static._prepare(result, story)
    from matplotlib.figure import Figure

    ax = Figure().add_subplot()
    view = static._view(layers.townships.geometry)
    entries = static._draw(
        ax, result, story, layers, view, None, lang, static.category_colors(result)
    )
    texts = [t for _, t in entries]
    counts = result.facilities["category"].value_counts()
    name = result.categories["meal_point"]["name_zh" if lang == "zh" else "name_en"]
    assert any(t.startswith(name) and str(counts["meal_point"]) in t for t in texts)
    assert pd.Series(texts).str.contains(str(len(result.proposed_sites))).any()


def drawn_pictures(monkeypatch) -> list:
    """Every picture render_pictures draws, as drawn (before it is encoded)."""
    drawn = []
    draw = static.render_picture
    monkeypatch.setattr(static, "render_picture", lambda *a: drawn.append(draw(*a)) or drawn[-1])
    return drawn


def test_print_png_holds_the_drawn_pixels_at_its_dpi(result, tmp_path, monkeypatch):
    # the print file is written by static._write_png (rows unfiltered), not by Pillow
    drawn = drawn_pictures(monkeypatch)
    state, jobs = static.picture_jobs(result, tmp_path, dpi=DPI)
    (picture,) = static.render_pictures(state, jobs[1:2])
    with Image.open(picture.path) as saved:
        assert saved.mode == "RGB" and saved.size == drawn[0].size
        assert saved.info["dpi"] == pytest.approx((DPI, DPI), abs=0.01)
        assert np.array_equal(np.asarray(saved), np.asarray(drawn[0]))


def test_skipping_the_axes_background_changes_no_pixel(result, monkeypatch):
    # render_picture hides the axes background (white on the white page) to save filling the
    # map frame: drawn anyway, the pictures must come out the same
    drawn = drawn_pictures(monkeypatch)
    static.write_static_maps(result, None, dpi=DPI)
    from matplotlib.patches import Rectangle

    monkeypatch.setattr(Rectangle, "set_visible", lambda self, visible: None)
    static.write_static_maps(result, None, dpi=DPI)
    half = len(drawn) // 2
    for hidden, shown in zip(drawn[:half], drawn[half:], strict=True):
        assert np.array_equal(np.asarray(hidden), np.asarray(shown))
