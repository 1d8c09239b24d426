"""End to end: `lifecircle demo` on the sample district, as a planner runs it.

One demo run per test session (it takes a while); the tests then read its output folder.
"""

import json
import re
import shutil
from pathlib import Path

import geopandas as gpd
import openpyxl
import pandas as pd
import pyogrio
import pytest
from typer.testing import CliRunner

from lifecircle.cli import app
from lifecircle.plan import SAMPLE_PLAN, load_plan

SAMPLE = SAMPLE_PLAN.parent
pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def demo(tmp_path_factory) -> tuple[Path, str]:
    out = tmp_path_factory.mktemp("demo") / "示范区"
    result = CliRunner().invoke(app, ["demo", "--out", str(out)], catch_exceptions=False)
    assert result.exit_code == 0, result.output
    return out, result.output


def _raw_rows(path: Path) -> int:
    """Data rows in a register, counted independently of lifecircle's readers."""
    if path.suffix == ".xlsx":
        book = openpyxl.load_workbook(path, read_only=True)
        try:
            sheet = book.worksheets[0]
            rows = [r for r in sheet.iter_rows(values_only=True) if any(v is not None for v in r)]
        finally:
            book.close()  # a read-only workbook keeps its file open until closed
        return len(rows) - 2  # a title row and the header row
    if path.suffix == ".csv":
        for encoding in ("utf-8-sig", "gb18030"):
            try:
                return len(pd.read_csv(path, encoding=encoding, dtype=str))
            except UnicodeDecodeError:
                continue
    return len(pyogrio.read_dataframe(path))


def test_outputs_exist_and_are_not_trivial(demo):
    out, _ = demo
    sizes = {
        name: (out / name).stat().st_size
        for name in (
            "overview.html",
            "briefing.html",
            "gaps.csv",
            "gaps.xlsx",
            "results.gpkg",
            "rejected.csv",
            "run.json",
        )
    }
    assert all(size > 500 for size in sizes.values()), sizes
    assert sizes["overview.html"] < 3_000_000, "the sample overview must stay under 3 MB"
    township_maps = sorted((out / "townships").glob("*.html"))
    assert len(township_maps) == 8
    assert all(re.match(r"32990\d{4}-.+\.html", p.name) for p in township_maps)
    assert not [p for p in out.parent.iterdir() if p.name.startswith(".")], "no staging leftovers"


def test_console_summary_lists_every_township(demo):
    _, output = demo
    townships = gpd.read_file(SAMPLE.parent / "boundaries" / "sample_townships.geojson")
    for name in townships["name"]:
        assert name in output
    assert "达标" in output and "未达标" in output
    assert "老年人步行可达率" in output, "the coverage table per township and category"
    assert re.search(r"拟建老年助餐点 5 处.*→", output), "the siting line"


def test_every_register_row_is_used_or_rejected(demo):
    out, _ = demo
    facilities = pyogrio.read_dataframe(out / "results.gpkg", layer="facilities")
    rejected = pd.read_csv(out / "rejected.csv", encoding="utf-8-sig", dtype={"行号": "Int64"})
    for layer in load_plan(SAMPLE_PLAN).layers:
        name = layer.path.name
        used = int((facilities["source_file"] == name).sum())
        dropped = int((rejected["文件"] == name).sum())
        assert used + dropped == _raw_rows(layer.path), name
        assert rejected.loc[rejected["文件"] == name, "原因"].str.len().gt(0).all()


def test_documented_faulty_rows_are_rejected(demo):
    out, _ = demo
    rejected = pd.read_csv(out / "rejected.csv", encoding="utf-8-sig", dtype={"行号": "Int64"})
    faults = re.findall(
        r"^\| (\S+\.(?:xlsx|csv|geojson)) \| (\d+) \|",
        (SAMPLE / "FAULTS.md").read_text(encoding="utf-8"),
        flags=re.MULTILINE,
    )
    assert len(faults) >= 6
    listed = set(zip(rejected["文件"], rejected["行号"].astype(int), strict=True))
    for file, row in faults:
        assert (file, int(row)) in listed, f"{file} row {row} should be in rejected.csv"


def test_run_record_and_gpkg_layers(demo):
    out, _ = demo
    record = json.loads((out / "run.json").read_text(encoding="utf-8"))
    assert record["study"] == "示范区"
    assert {i["path"].rsplit("/", 1)[-1] for i in record["inputs"]} >= {
        "network.osm.bz2",
        "elder_care_centres.xlsx",
    }
    assert all(len(i["sha256"]) == 64 for i in record["inputs"])
    assert record["network"]["nodes"] > 1000
    layers = {name for name, _ in pyogrio.list_layers(out / "results.gpkg")}
    assert {"townships", "facilities", "service_areas", "uncovered", "gaps", "rejected"} <= layers
    townships = pyogrio.read_dataframe(out / "results.gpkg", layer="townships")
    assert sorted(townships["code"]) == [f"3299010{i:02d}" for i in (1, 2, 3, 4)] + [
        f"329901{i}" for i in (100, 101, 102, 103)
    ]
    # the 2SFCA score of every category, computed beside the service areas, reaches the layer
    for category in record["categories"]:
        scores = townships[f"access_2sfca__{category}"]
        assert scores.notna().all() and (scores >= 0).all() and (scores > 0).any(), category
    # the map's areas and uncovered cells, one set per target walk and township kind
    areas = pyogrio.read_dataframe(out / "results.gpkg", layer="service_areas")
    assert set(areas.columns) >= {"category", "kind", "threshold_min", "geometry"}
    assert areas.to_crs(areas.estimate_utm_crs()).geometry.area.gt(10_000).all()


def test_gap_report_has_met_and_unmet(demo):
    out, _ = demo
    gaps = pd.read_csv(out / "gaps.csv", encoding="utf-8-sig")
    assert (out / "gaps.csv").read_bytes().startswith(b"\xef\xbb\xbf")
    statuses = set(gaps.iloc[:, :].stack().astype(str))
    assert {"达标", "未达标"} <= statuses
    workbook = openpyxl.load_workbook(out / "gaps.xlsx")
    assert len(workbook.sheetnames) >= 2


def test_demo_in_english(tmp_path):
    out = tmp_path / "en"
    result = CliRunner().invoke(
        app, ["demo", "--out", str(out), "--lang", "en"], catch_exceptions=False
    )
    assert result.exit_code == 0, result.output
    assert "Not met" in result.output
    columns = list(pd.read_csv(out / "rejected.csv", encoding="utf-8-sig").columns)
    assert columns == ["layer", "file", "sheet", "row", "name", "reason", "fix"]


def test_validate_fails_on_broken_plan(tmp_path):
    shutil.copytree(SAMPLE, tmp_path / "sample")
    shutil.copytree(SAMPLE.parent / "boundaries", tmp_path / "boundaries")
    plan = tmp_path / "sample" / "plan.toml"
    plan.write_text(
        plan.read_text(encoding="utf-8").replace(
            'category = "meal_point"\npath', 'category = "meal_piont"\npath', 1
        ),
        encoding="utf-8",
    )
    result = CliRunner().invoke(app, ["validate", str(plan)])
    assert result.exit_code == 1
    assert "meal_piont" in result.output and "meal_point" in result.output
    assert "Traceback" not in result.output


def test_validate_names_a_missing_file_with_its_key(tmp_path):
    plan = tmp_path / "plan.toml"
    plan.write_text(SAMPLE_PLAN.read_text(encoding="utf-8"), encoding="utf-8")
    result = CliRunner().invoke(app, ["validate", str(plan)])
    assert result.exit_code == 1
    assert "[inputs.townships].path" in result.output and "does" in result.output


def test_validate_sample_lists_rejected_rows(tmp_path):
    result = CliRunner().invoke(app, ["validate", str(SAMPLE_PLAN)])
    assert result.exit_code == 0, result.output
    assert "约50" in result.output and "OK" in result.output


def test_site_command_overrides_the_plan(tmp_path):
    out = tmp_path / "site"
    result = CliRunner().invoke(
        app,
        ["site", str(SAMPLE_PLAN), "--category", "elder_care_centre", "-p", "3", "--out", str(out)],
        catch_exceptions=False,
    )
    assert result.exit_code == 0, result.output
    sites = pd.read_csv(out / "proposed_sites.csv", encoding="utf-8-sig", dtype={"乡镇代码": str})
    assert list(sites["序号"]) == [1, 2, 3]
    assert set(sites["类别"]) == {"养老服务设施"}
    assert sites["新增覆盖60岁及以上人口"].gt(0).all()
    assert sites["乡镇代码"].str.match(r"^329901\d{3}$").all()
    # decision-ready: positions in the three systems (GCJ-02 ~500 m off WGS-84), rounded
    # people, the nearest road's name from the network
    shift = sites["经度（GCJ-02，高德/腾讯）"] - sites["经度（WGS-84，天地图/OSM）"]
    assert shift.abs().gt(1e-3).all()
    assert (sites["新增覆盖人口"] == sites["新增覆盖人口"].round()).all()
    assert sites["最近道路"].notna().all() and sites["最近道路"].str.endswith("路").any()
    before_after = pd.read_csv(out / "siting_before_after.csv", encoding="utf-8-sig")
    assert {"新增前现状", "新增后现状", "新增后状态"} <= set(before_after.columns)
    assert set(before_after["新增后状态"]) <= {"达标", "未达标", "不适用"}
    layers = {name for name, _ in pyogrio.list_layers(out / "results.gpkg")}
    assert "proposed_sites" in layers


def test_site_command_rejects_a_category_without_register(tmp_path):
    result = CliRunner().invoke(
        app,
        [
            "site",
            str(SAMPLE_PLAN),
            "--category",
            "vigil_centre",
            "-p",
            "2",
            "--out",
            str(tmp_path / "x"),
        ],
    )
    assert result.exit_code == 1
    assert "vigil_centre" in result.output and "meal_point" in result.output


@pytest.mark.parametrize(
    ("lang", "expected"),
    [
        ("zh", ["读取步行路网", "覆盖分析：meal_point", "选址：求解"]),
        ("en", ["Reading the walking network", "Coverage: meal_point", "Siting: solving"]),
    ],
)
def test_progress_steps_are_shown_in_the_run_language(lang, expected):
    from rich.progress import Progress

    from lifecircle.cli import _RichProgress

    with Progress(disable=True) as bars:
        report = _RichProgress(bars, lang)
        for step in ("network", "coverage:meal_point", "siting:solving"):
            report(step, 1, 2)
        assert [task.description for task in bars.tasks] == expected
