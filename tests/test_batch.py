"""Province batch: counties as dask.distributed tasks, isolation of a failing county, reruns that
skip unchanged counties, province outputs, and identical results to serial runs."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pandas as pd
import pytest
from typer.testing import CliRunner

from lifecircle.batch import load_province, merge_shared, run_batch, start_client
from lifecircle.cli import app
from lifecircle.data import data_path
from lifecircle.errors import PlanError

pytestmark = pytest.mark.slow

COUNTIES = ("甲县", "乙县", "丙县")


def _county(root: Path, folder: str, name: str) -> Path:
    """A copy of the sample district under another study name (the sample's own plan)."""
    county = root / folder
    shutil.copytree(data_path("sample"), county / "sample")
    shutil.copytree(data_path("boundaries"), county / "boundaries")
    plan = county / "sample" / "plan.toml"
    text = plan.read_text(encoding="utf-8").replace('name = "示范区"', f'name = "{name}"', 1)
    plan.write_text(text, encoding="utf-8")
    return plan


@pytest.fixture(scope="module")
def province(tmp_path_factory) -> Path:
    root = tmp_path_factory.mktemp("province")
    plans = [_county(root, f"c{i}", name) for i, name in enumerate(COUNTIES)]
    # The third county's network is broken: it must fail alone.
    (plans[2].parent / "network.osm.bz2").write_bytes(b"not a network")
    lines = ["[province]", 'name = "示范省"', ""]
    lines += [f'[[counties]]\nplan = "{p.relative_to(root).as_posix()}"\n' for p in plans]
    (root / "province.toml").write_text("\n".join(lines), encoding="utf-8")
    return root / "province.toml"


@pytest.fixture(scope="module")
def client():
    client = start_client(2, memory_limit="3GiB")
    yield client
    client.close()


@pytest.fixture(scope="module")
def first_run(province, client, tmp_path_factory):
    out = tmp_path_factory.mktemp("out") / "示范省"
    result = run_batch(load_province(province), out, client=client, siting=False)
    return result, out


def test_a_broken_county_is_recorded_and_the_others_finish(first_run):
    result, out = first_run
    status = {o.name: o.status for o in result.outcomes}
    assert status == {"甲县": "done", "乙县": "done", "丙县": "failed"}
    (broken,) = result.failed
    assert "network" in broken.error.lower() or "路网" in broken.error
    assert result.engine.startswith("dask.distributed ")
    record = json.loads((out / "batch.json").read_text(encoding="utf-8"))
    assert [c["status"] for c in record["counties"]] == ["done", "done", "failed"]
    assert record["counties"][2]["error"] == broken.error
    for name in ("甲县", "乙县"):
        run_info = json.loads((out / "counties" / name / "run.json").read_text("utf-8"))
        assert run_info["batch"]["key"] == next(o.key for o in result.outcomes if o.name == name)
    assert not (out / "counties" / "丙县").exists()


def test_province_outputs_have_every_county_and_township(first_run):
    _, out = first_run
    table = pd.read_csv(out / "province_gaps.csv", dtype=str, encoding="utf-8-sig")
    assert set(table["县（市、区）"]) == {"甲县", "乙县"}
    for name in ("甲县", "乙县"):
        own = pd.read_csv(out / "counties" / name / "gaps.csv", dtype=str, encoding="utf-8-sig")
        mine = table[table["县（市、区）"] == name].drop(columns=["县级代码", "县（市、区）"])
        pd.testing.assert_frame_equal(mine.reset_index(drop=True), own)
    sheets = pd.read_excel(
        out / "province_gaps.xlsx", sheet_name=None, dtype=str, engine="openpyxl"
    )
    county_sheet, township_sheet = sheets.values()
    assert set(county_sheet["县（市、区）"]) == {"甲县", "乙县"}
    assert (township_sheet["层级"] == "乡镇（街道）").all()
    assert len(township_sheet) == (table["层级"] == "乡镇（街道）").sum()
    summary = (out / "province_summary.html").read_text(encoding="utf-8")
    assert "丙县" in summary and "失败" in summary and "counties/乙县/briefing.html" in summary


def test_rerun_skips_unchanged_counties_and_retry_failed_runs_only_the_failed(
    first_run, province, client
):
    _, out = first_run
    stamp = (out / "counties" / "甲县" / "gaps.csv").stat().st_mtime_ns
    again = run_batch(load_province(province), out, client=client, siting=False)
    assert [o.status for o in again.outcomes] == ["skipped", "skipped", "failed"]
    assert (out / "counties" / "甲县" / "gaps.csv").stat().st_mtime_ns == stamp
    # Fix the broken county and change a finished one: --retry-failed runs only the failed one.
    shutil.copy(
        data_path("sample", "network.osm.bz2"),
        province.parent / "c2" / "sample" / "network.osm.bz2",
    )
    plan = province.parent / "c1" / "sample" / "plan.toml"
    plan.write_text(plan.read_text(encoding="utf-8") + "\n", encoding="utf-8")
    retried = run_batch(
        load_province(province), out, client=client, siting=False, retry_failed=True
    )
    assert [o.status for o in retried.outcomes] == ["skipped", "skipped", "done"]
    # A plain rerun now picks up the changed county only.
    rerun = run_batch(load_province(province), out, client=client, siting=False)
    assert [o.status for o in rerun.outcomes] == ["skipped", "done", "skipped"]


def test_dask_results_equal_serial_results(first_run, province, tmp_path):
    _, out = first_run
    serial_out = tmp_path / "serial"
    serial = run_batch(load_province(province), serial_out, client=None, siting=False)
    assert serial.engine == "serial"
    for name in ("甲县",):
        assert (serial_out / "counties" / name / "gaps.csv").read_bytes() == (
            out / "counties" / name / "gaps.csv"
        ).read_bytes()


def test_shared_settings_fill_in_and_targets_add_up():
    county = {"walk": {"speed_mps": 1.2}, "targets": [{"preset": "a"}], "study": {"name": "x"}}
    shared = {
        "walk": {"speed_mps": 1.0, "thresholds_min": [15]},
        "targets": [{"preset": "b"}],
        "maps": {"basemap": "none"},
    }
    merged = merge_shared(county, shared)
    assert merged["walk"] == {"speed_mps": 1.2, "thresholds_min": [15]}
    assert merged["targets"] == [{"preset": "b"}, {"preset": "a"}]
    assert merged["maps"] == {"basemap": "none"}
    assert county["targets"] == [{"preset": "a"}]  # inputs untouched


@pytest.mark.parametrize(
    "text, message",
    [
        ("[province]\nname = 'x'\n", "list the county plans"),
        ("[[counties]]\nplan = 'missing/plan.toml'\n", "does not exist"),
        ("[[counties]]\nplan = 'a'\nfolder = 'b'\n", "exactly one of"),
        ("[provinse]\nname = 'x'\n", "unknown section"),
        ("[province\n", "not valid TOML"),
    ],
)
def test_bad_province_plans_name_the_fix(tmp_path, text, message):
    path = tmp_path / "province.toml"
    path.write_text(text, encoding="utf-8")
    with pytest.raises(PlanError, match=message):
        load_province(path)


def test_cli_batch_serial_reports_a_failed_county_without_traceback(tmp_path):
    county = tmp_path / "counties" / "bad"
    county.mkdir(parents=True)
    (county / "plan.toml").write_text('[study]\nname = "坏县"\n', encoding="utf-8")
    out = tmp_path / "cli"
    result = CliRunner().invoke(
        app, ["batch", str(tmp_path / "counties"), "--workers", "0", "--out", str(out)]
    )
    assert result.exit_code == 1, result.output
    assert "Traceback" not in result.output
    assert "坏县" in result.output and "失败" in result.output
    assert "missing [inputs]" in " ".join(result.output.split())
    assert (out / "province_summary.html").is_file()
    assert (out / "province_gaps.csv").is_file()


@pytest.mark.browser
def test_province_map_draws_the_finished_counties_offline_and_links_to_them(first_run):
    from playwright.sync_api import sync_playwright

    _, out = first_run
    external, errors = [], []
    with sync_playwright() as p:
        browser = p.chromium.launch(
            executable_path="/usr/bin/chromium",
            args=[
                "--headless=new",
                "--no-sandbox",
                "--disable-gpu",
                "--no-first-run",
                "--disable-background-networking",
                "--disable-component-update",
            ],
        )
        page = browser.new_page(viewport={"width": 1280, "height": 860})
        page.on("pageerror", lambda e: errors.append(str(e)))

        def block(route):
            url = route.request.url
            if url.startswith(("file:", "data:")):
                return route.continue_()
            if not url.endswith(".png"):  # basemap tiles may be asked for; nothing else
                external.append(url)
            return route.abort()

        page.route("**/*", block)
        page.goto((out / "province_overview.html").as_uri())
        page.wait_for_function("document.querySelectorAll('path.leaflet-interactive').length > 0")
        counties = page.locator("path.leaflet-interactive")
        # One label per drawn county (an outline may be in several parts); the failed county
        # has no outline.
        labels = page.locator(".lc-county-label")
        record = json.loads((out / "batch.json").read_text(encoding="utf-8"))
        finished = sorted(c["name"] for c in record["counties"] if c["status"] != "failed")
        assert "甲县" in finished and "乙县" in finished
        assert sorted(t.split()[0] for t in labels.all_inner_texts()) == finished
        box = page.locator(".leaflet-container").bounding_box()
        drawn = [counties.nth(i).bounding_box() for i in range(counties.count())]
        assert sum(b["width"] * b["height"] for b in drawn) > 0.2 * box["width"] * box["height"]
        assert not errors, errors
        assert not external, external
        counties.first.click(force=True)
        page.wait_for_url("**/overview.html")
        assert "/counties/" in page.url
        browser.close()


def test_province_map_keeps_template_syntax_in_names_as_text():
    # county names come from plans; folium renders its layers through Jinja, so the counties
    # go into the page as script data instead (a test that fails on folium.GeoJson)
    import geopandas as gpd
    from shapely.geometry import box

    from lifecircle.maps.province import province_map_html

    name = "{{ 7*7 }}县"
    counties = gpd.GeoDataFrame(
        {
            "name": [name, "乙县"],
            "county_code": ["329901", "329902"],
            "status": ["ok", "ok"],
            "share_met": [0.5, float("nan")],
            "met": [1, 0],
            "not_met": [1, 0],
            "na": [0, 2],
            "href": ["counties/a/overview.html", "counties/b/overview.html"],
        },
        geometry=[box(119.0, 32.0, 119.5, 32.5), box(119.5, 32.0, 120.0, 32.5)],
        crs=4326,
    )
    page = province_map_html(counties, title="省", lang="zh")
    assert "{{ 7*7 }}县 50%" in page and "49县" not in page
    assert "LC.counties(" in page
