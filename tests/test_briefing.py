"""The demo's print-ready pictures and briefing, as a planner gets them: PNG files at A4 width,
a briefing under 2 MB with its summary first, dates, sources and cited documents, that loads
offline in headless Chromium and prints on A4 with a page number on every page.

One demo run per session (``demo_run`` in conftest.py); the PDF is printed once per module.
"""

from __future__ import annotations

import base64
import io
import re
import unicodedata
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from maps_fixtures import make_result
from PIL import Image

from lifecircle.maps import briefing, static

pytestmark = pytest.mark.slow

CHROMIUM = Path("/usr/bin/chromium")
ARGS = [
    "--headless=new",
    "--no-sandbox",
    "--disable-gpu",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]
A4_PT = (595.3, 841.9)


@pytest.fixture(scope="module")
def demo(demo_run):
    result, out = demo_run
    return result, out, (out / "briefing.html").read_text(encoding="utf-8")


@pytest.fixture(scope="module")
def printed(demo, tmp_path_factory):
    """The briefing opened from disk with every non-file request aborted, then printed to an
    A4 PDF: (requests outside file://, console errors, pypdf reader)."""
    pypdf = pytest.importorskip("pypdf")  # a dev dependency (pyproject.toml)
    if not CHROMIUM.exists():
        pytest.fail(f"{CHROMIUM} not found: install Debian's chromium (apt-get install chromium)")
    from playwright.sync_api import sync_playwright

    _, out, _ = demo
    external: list[str] = []
    errors: list[str] = []
    pdf = tmp_path_factory.mktemp("print") / "briefing.pdf"

    def route(r):
        if r.request.url.startswith(("file:", "data:", "about:")):
            r.continue_()
        else:
            external.append(r.request.url)
            r.abort()

    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=str(CHROMIUM), args=ARGS)
        page = browser.new_page()
        page.on("console", lambda m: errors.append(m.text) if m.type == "error" else None)
        page.on("pageerror", lambda e: errors.append(str(e)))
        page.route("**/*", route)
        page.goto((out / "briefing.html").as_uri())
        widths = page.eval_on_selector_all("img", "els => els.map(e => e.naturalWidth)")
        page.pdf(path=str(pdf), format="A4", print_background=True)
        browser.close()
    return external, errors, widths, pypdf.PdfReader(pdf)


def page_texts(reader) -> list[str]:
    # pypdf returns some ideographs as radicals (⽼ for 老, ⻚ for 页); NFKC folds the Kangxi ones
    # back (not all) and full-width punctuation to ASCII
    return [unicodedata.normalize("NFKC", p.extract_text() or "") for p in reader.pages]


FOOTER = r"第 {i} \S,共 {n} \S"  # 第 3 页，共 13 页 after NFKC


# ------------------------------------------------------------------------------ pictures


def test_demo_pictures_are_print_ready(demo):
    result, out, _ = demo
    pngs = sorted((out / "townships").glob("*.png"))
    assert len(pngs) == len(result.townships) == 8
    # each township's picture sits beside its interactive page, with the same name
    assert [p.stem for p in pngs] == sorted(p.stem for p in (out / "townships").glob("*.html"))
    for path in [out / "overview.png", *pngs]:
        image = Image.open(path)
        assert image.width == 2480  # 300 dpi at A4 width
        assert 1200 < image.height < 3600
        assert image.info["dpi"] == pytest.approx((300, 300), abs=0.01)
        assert path.stat().st_size > 200_000
        values = np.asarray(image.convert("RGB"), dtype=float)[::4, ::4]
        assert values.std() > 25, f"{path.name} looks blank"


# ------------------------------------------------------------------------------ the document


def test_briefing_size_date_sources_and_citations(demo):
    result, out, page = demo
    assert len(page.encode()) <= 2 * 1024 * 1024
    assert "<iframe" not in page and "<script" not in page
    assert result.run_info["created"][:10] in page
    for record in result.run_info["inputs"]:
        assert Path(record["path"]).name in page
        assert record["modified"][:10] in page
        assert record["sha256"][:16] in page
    documents = set(result.gap_summary["document"].dropna()) - {""}
    assert len(documents) == 2
    for document in documents:
        assert document.replace("“", "&ldquo;") in page or document in page
    # pictures embedded once each (overview + 8 townships), linked to the interactive pages
    assert page.count('src="data:image/png;base64,') == 9
    for href in re.findall(r'<a href="([^"#]+\.html)"><img', page):
        assert (out / href).exists(), href


def test_summary_comes_first_with_the_key_figures(demo):
    result, _, page = demo
    summary_at = page.index('<section class="summary">')
    assert summary_at < page.index('class="township"') and summary_at < page.index('id="targets"')
    summary = page[summary_at : page.index("</section>", summary_at)]
    counts = result.gap_summary["status"].value_counts()
    assert f"{counts['met']}/{len(result.gap_summary)} 项达标" in summary
    assert f"未达标目标（{counts['not_met']} 项）" in summary
    # seniors beyond the meal circle's walk (streets 15 min, towns 20), from the run's cells
    cells = result.walk_uncovered
    story = (cells["category"] == "meal_point") & (
        ((cells["kind"] == "street") & (cells["threshold_min"] == 15))
        | ((cells["kind"] == "town") & (cells["threshold_min"] == 20))
    )
    assert f"<b>{cells.loc[story, 'pop60'].sum():.0f}</b>" in summary
    sites = result.proposed_sites
    assert f"{len(sites)} 处建议新增站点" in summary
    assert f"新增覆盖老年人 {sites['newly_covered_pop60'].sum():.0f} 人" in summary
    # the townships furthest behind, and what the sites change (85.9 % -> 96.2 % in the demo)
    assert "差距最大的乡镇（街道）" in summary
    info = result.siting["meal_point"]
    assert f"{100 * info['share_before']:.1f}%" in summary
    assert f"{100 * info['share_after']:.1f}%" in summary


def test_a_sensitivity_sentence_goes_under_its_target(demo):
    result, _, _ = demo
    sentence = "步行速度降低10%时仍达标。"
    page = briefing.render_briefing(result, sensitivity={"meal_circle": sentence})
    row = page.index(sentence)
    assert page.rindex("老年助餐服务圈", 0, row) > page.index('id="targets"')
    assert page.count('class="sensitivity"') == 1
    assert briefing.sensitivity_sentences(result) == {}  # the demo ran without --sensitivity


def test_sensitivity_sentences_count_robust_and_fragile_townships(demo):
    import dataclasses

    import pandas as pd

    from lifecircle.coverage.sensitivity import SensitivityResult, Setting, summarise_ranges

    result, _, _ = demo
    settings = [Setting("china", 0.8), Setting("china", 1.2)]
    rows = []
    for setting, a, b, area in ((settings[0], 70.0, 90.0, 75.0), (settings[1], 85.0, 95.0, 88.0)):
        for code, name, value in (("1", "甲街道", a), ("2", "乙街道", b)):
            rows.append(
                (
                    "meal_circle",
                    "township",
                    code,
                    name,
                    setting,
                    value,
                    "met" if value >= 80 else "not_met",
                )
            )
        rows.append(
            ("meal_circle", "district", "", "", setting, area, "met" if area >= 80 else "not_met")
        )
    values = pd.DataFrame(
        rows, columns=["target_id", "level", "unit_code", "unit_name", "setting", "value", "status"]
    )
    values["setting"] = [s.label for s in values["setting"]]
    sens = SensitivityResult(settings=settings, values=values, ranges=summarise_ranges(values))
    sentences = briefing.sensitivity_sentences(dataclasses.replace(result, sensitivity=sens))
    assert sentences == {
        "meal_circle": "敏感性：在 china 0.8 m/s、china 1.2 m/s 下重算，"
        "2 个乡镇中 1 个达标结论不变，1 个会变（甲街道 70–85%）；全区 75.0%～88.0%。"
    }
    english = briefing.sensitivity_sentences(
        dataclasses.replace(result, sensitivity=sens), lang="en"
    )
    assert (
        "the status of 1 of 2 townships holds, 1 change (甲街道 70–85%)" in english["meal_circle"]
    )


# ------------------------------------------------------------------------------ printed


def test_briefing_loads_offline_without_errors(printed):
    external, errors, widths, _ = printed
    assert external == [] and errors == []
    assert len(widths) == 9 and min(widths) > 0  # every picture decoded


def test_briefing_prints_on_a4_with_page_numbers(printed, demo):
    result, _, _ = demo
    reader = printed[3]
    texts = page_texts(reader)
    n = len(texts)
    assert 1 + len(result.townships) <= n <= 2 * (len(result.townships) + 4)
    for page in reader.pages:
        box = page.mediabox
        assert (float(box.width), float(box.height)) == pytest.approx(A4_PT, abs=1)
    for i, text in enumerate(texts, start=1):
        # "第 3 页，共 13 页" (pypdf may give 页 as the radical ⻚)
        assert re.search(FOOTER.format(i=i, n=n), text), (i, text[:60])


def test_printed_summary_first_one_page_per_township_none_nearly_empty(printed, demo):
    result, _, _ = demo
    reader = printed[3]
    texts = page_texts(reader)
    assert "摘要" in texts[0] and "未达标目标" in texts[0]
    headings = [f"({code}," for code in result.townships["code"]]  # 青石街道（329901001，街道）
    where = [[i for i, t in enumerate(texts) if h in t] for h in headings]
    assert all(len(w) == 1 for w in where), where  # each heading printed once
    pages = [w[0] for w in where]
    assert len(set(pages)) == len(pages) and min(pages) > 0  # own page each, after the summary
    for i, (page, text) in enumerate(zip(reader.pages, texts, strict=True)):
        body = re.sub(FOOTER.format(i=r"\d+", n=r"\d+") + "|.*简报", "", text).strip()
        assert len(body) > 300 or len(page.images) > 0, f"page {i + 1} is nearly empty: {body!r}"


# ------------------------------------------------------------------------------ without a run


def test_briefing_in_english_with_pictures_from_the_fixture():
    result = make_result(lang="en")
    pictures = static.write_static_maps(result, None, lang="en", dpi=30)
    page = briefing.render_briefing(
        result,
        lang="en",
        pictures={k: p.screen_png for k, p in pictures.items()},
        links={"overview": "overview.html"},
    )
    for text in (
        "Summary",
        "Townships furthest behind",
        "Data sources",
        "Plan documents cited",
        'counter(page) " of " counter(pages)',
    ):
        assert text in page
    for zh in ("摘要", "数据来源", "页"):
        assert zh not in page
    image = Image.open(io.BytesIO(pictures["overview"].screen_png))
    assert image.width == round(static.A4_WIDTH_IN * 30)


def test_township_picture_leaves_room_for_its_table():
    result = make_result()
    rows = result.gaps[result.gaps["level"] == "township"]
    one = rows[rows["unit_code"] == "310117001"]
    assert briefing._picture_height_mm(one.iloc[0:0], "zh") == 125  # no table: the largest
    table = pd.concat([one] * 12)  # 24 rows
    short, longer = (
        briefing._picture_height_mm(table, "zh"),
        briefing._picture_height_mm(pd.concat([one] * 30), "zh"),
    )
    assert 55 < short < 125 and longer == 55  # a long table: the smallest picture
    wordy = table.assign(note_en="a long English note that wraps over several lines " * 2)
    assert briefing._picture_height_mm(wordy, "en") < short


def test_heavy_pictures_go_in_as_lighter_township_copies(monkeypatch):
    result = make_result()
    made = static.write_static_maps(result, None, dpi=150)  # 1000-px screen copies, as printed
    pictures = {k: p.screen_png for k, p in made.items()}
    full = briefing.render_briefing(result, pictures=pictures)
    assert full.count('src="data:image/png;base64,') == 5 and "image/webp" not in full
    monkeypatch.setattr(briefing, "PICTURE_BUDGET_BYTES", sum(map(len, pictures.values())) - 1)
    light = briefing.render_briefing(result, pictures=pictures)
    # the overview as it was, every township as a lighter WebP copy, its caption saying so
    assert full.split('<section class="page" id="overview">')[1].split("</section>")[0] in light
    copies = re.findall(r'src="data:image/webp;base64,([^"]+)"', light)
    assert len(copies) == len(result.townships) == 4
    for copy in copies:
        image = Image.open(io.BytesIO(base64.b64decode(copy)))
        assert image.format == "WEBP" and image.width == briefing.LIGHT_WIDTH_PX
    assert light.count("简报内为压缩图") == 4 and "简报内为压缩图" not in full
    assert len(light.encode()) < 0.7 * len(full.encode())
