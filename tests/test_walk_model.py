"""The walk model end to end on a tiny plan: the network audit, facilities across the boundary
(区外设施), 不适用 where a township has no roads."""

from __future__ import annotations

from pathlib import Path
from types import SimpleNamespace

import geopandas as gpd
import numpy as np
import openpyxl
import pandas as pd
import pytest
from shapely.geometry import LineString, box

from lifecircle.coverage.sensitivity import evaluate_sensitivity
from lifecircle.coverage.targets import GapReport
from lifecircle.errors import InputError, PlanError
from lifecircle.pipeline import RunOptions, _context, analyse, load_inputs
from lifecircle.plan import load_plan
from lifecircle.report import write_gaps_xlsx

X, Y = 118.80, 32.00  # 0.001° is about 94 m east-west and 111 m north-south here
STREET_A, STREET_B, TOWN_C = "329901001", "329901002", "329901100"


def _write_plan(
    folder: Path, *, facility_lon: float, extra: str = "", layer_crs: str = 'crs = "wgs84"'
) -> Path:
    townships = [
        box(X, Y, X + 0.01, Y + 0.01),
        box(X - 0.01, Y, X, Y + 0.01),
        box(X - 0.01, Y - 0.03, X + 0.01, Y - 0.02),
    ]  # 丙镇: 1 km south of any road
    gpd.GeoDataFrame(
        {"name": ["甲街道", "乙街道", "丙镇"], "code": [STREET_A, STREET_B, TOWN_C]},
        geometry=townships,
        crs="EPSG:4326",
    ).to_file(folder / "townships.geojson")
    lines, highway = [], []
    for i in range(12):  # a 100 m grid over 乙 and 甲 reaching 1 km east of 甲
        lines.append(LineString([(X - 0.01, Y + 0.001 * i), (X + 0.02, Y + 0.001 * i)]))
        highway.append("residential")
    for j in range(31):
        x = X - 0.01 + 0.001 * j
        lines.append(LineString([(x, Y), (x, Y + 0.011)]))
        highway.append("residential")
    lines.append(LineString([(X - 0.01, Y + 0.0055), (X + 0.02, Y + 0.0055)]))
    highway.append("motorway")  # crosses both streets: dropped by every rule set
    gpd.GeoDataFrame(
        {"highway": highway, "osmid": range(1, len(lines) + 1)}, geometry=lines, crs="EPSG:4326"
    ).to_file(folder / "roads.geojson")
    (folder / "meals.csv").write_text(
        f"名称,经度,纬度\n邻区助餐点,{facility_lon},{Y + 0.005}\n", encoding="utf-8"
    )
    (folder / "pop.csv").write_text(
        f"code,pop,pop60\n{STREET_A},1000,300\n{STREET_B},1000,300\n{TOWN_C},500,100\n",
        encoding="utf-8",
    )
    plan = folder / "plan.toml"
    plan.write_text(
        f"""
[study]
name = "小区"
county_code = "329901"

[inputs.townships]
path = "townships.geojson"
name_field = "name"
code_field = "code"

[inputs.network]
path = "roads.geojson"
{extra}

[inputs.population]
table = "pop.csv"
table_code_field = "code"
total_field = "pop"
seniors_field = "pop60"

[[layers]]
category = "meal_point"
path = "meals.csv"
{layer_crs}

[walk]
speed_mps = 1.0
thresholds_min = [15]

[[targets]]
id = "meal_circle"
type = "service_circle"
category = "meal_point"
threshold_min = 15
population = "pop60"
target_pct = 30

[[targets]]
id = "meal_count"
type = "unit_coverage"
category = "meal_point"
target_pct = 100
""",
        encoding="utf-8",
    )
    return plan


@pytest.fixture(scope="module")
def outside_run(tmp_path_factory):
    folder = tmp_path_factory.mktemp("edge")
    plan = load_plan(_write_plan(folder, facility_lon=X + 0.013))  # ~280 m east of 甲
    inputs = load_inputs(plan)
    return inputs, analyse(plan, inputs, options=RunOptions(siting=False))


def test_facility_outside_the_boundary_serves_cells_inside(outside_run):
    _, result = outside_run
    assert len(result.outside_facilities) == 1 and len(result.facilities) == 0
    assert result.outside_facilities["township_code"].tolist() == [""]
    assert len(result.rejected) == 0
    rows = result.gaps.set_index(["target_id", "unit_code"])
    circle_a = rows.loc[("meal_circle", STREET_A)]
    assert circle_a["value"] > 30 and circle_a["status"] == "met"
    # it serves, but counts for no township's presence
    assert rows.loc[("meal_count", STREET_A), "status"] == "not_met"
    assert result.run_info["layers"][0]["outside"] == 1
    assert result.network_audit["outside_facilities"] == 1


def test_outside_facilities_are_listed_in_the_outputs(tmp_path, outside_run):
    from lifecircle.pipeline import _outside_table

    _, result = outside_run
    table = _outside_table(result.outside_facilities, "zh")
    assert table[["名称", "文件", "行号"]].values.tolist() == [["邻区助餐点", "meals.csv", 2]]
    assert table["说明"].str.startswith("区外设施").all()


def test_facility_beyond_the_reach_stays_rejected(tmp_path):
    plan = load_plan(_write_plan(tmp_path, facility_lon=X + 0.03))  # ~1.9 km east > 900 m reach
    inputs = load_inputs(plan)
    assert inputs.outside_facilities.empty
    assert inputs.rejected["reason"].str.contains("不在研究区域内").tolist() == [True]


def test_audit_reports_dropped_ways_by_class_township_and_rule(outside_run):
    _, result = outside_run
    audit = result.network_audit
    dropped = result.dropped_ways
    assert dropped["rule"].tolist() == ["highway_class"]
    assert dropped["highway"].tolist() == ["motorway"]
    # 0.03° of longitude at 32° N
    assert audit["by_rule"]["highway_class"]["km"] == pytest.approx(2.83, abs=0.02)
    township = {t["code"]: t for t in audit["by_township"]}
    # each street holds 0.01° of the motorway: ~0.94 km
    assert township[STREET_A]["dropped_by"]["highway_class"] == pytest.approx(0.944, abs=0.01)
    assert township[TOWN_C]["kept_km"] == 0.0
    motorway = next(c for c in audit["by_class"] if c["highway"] == "motorway")
    assert motorway["kept_km"] == 0.0 and motorway["dropped_km"] == pytest.approx(2.83, abs=0.02)
    assert audit["connectivity"]["components"] == 1


def test_township_without_roads_is_not_applicable(outside_run):
    _, result = outside_run
    rows = result.gaps.set_index(["target_id", "unit_code"])
    row = rows.loc[("meal_circle", TOWN_C)]
    assert row["status"] == "na" and row["status_zh"] == "不适用"
    assert "道路" in row["note"]
    # the district figure leaves the roadless town out and says so
    summary = result.gap_summary.set_index("target_id").loc["meal_circle"]
    assert summary["total_units"] == 2
    assert "丙镇" in summary["note"]


def test_layer_without_crs_and_too_little_evidence_stops_the_run(tmp_path):
    plan = load_plan(_write_plan(tmp_path, facility_lon=X + 0.005, layer_crs=""))
    assert plan.layers[0].crs is None
    with pytest.raises(InputError, match=r"meals.csv 没有设置坐标系 crs.*crs = \"wgs84\""):
        load_inputs(plan)


def test_sensitivity_ranges_over_speeds_and_rule_sets(tmp_path):
    plan = load_plan(_write_plan(tmp_path, facility_lon=X + 0.013))
    inputs = load_inputs(plan)
    result = analyse(plan, inputs, options=RunOptions(siting=False, sensitivity=True))
    sens = result.sensitivity
    assert [s.label for s in sens.settings] == [
        "china 0.8 m/s",
        "china 1 m/s",
        "china 1.2 m/s",
        "osmnx 0.8 m/s",
        "osmnx 1 m/s",
        "osmnx 1.2 m/s",
    ]
    values = sens.values[
        (sens.values["target_id"] == "meal_circle") & (sens.values["unit_code"] == STREET_A)
    ].set_index("setting")["value"]
    # the plan's own setting (china, 1.0 m/s) reproduces the run's figure
    base = result.gaps.set_index(["target_id", "unit_code"]).loc[("meal_circle", STREET_A)]
    assert values["china 1 m/s"] == pytest.approx(base["value"])
    # walking faster reaches more people; the motorway is dropped by both rule sets alike
    assert values["china 0.8 m/s"] < values["china 1 m/s"] < values["china 1.2 m/s"]
    assert values["osmnx 1 m/s"] == pytest.approx(values["china 1 m/s"])
    row = sens.ranges.set_index(["target_id", "unit_code"]).loc[("meal_circle", STREET_A)]
    assert (row["low"], row["high"]) == (pytest.approx(values.min()), pytest.approx(values.max()))
    # 甲 misses the 30 % target at 0.8 m/s and meets it at 1.0 m/s: fragile
    statuses = sens.values[
        (sens.values["target_id"] == "meal_circle") & (sens.values["unit_code"] == STREET_A)
    ].set_index("setting")["status"]
    assert statuses["china 0.8 m/s"] == "not_met" and statuses["china 1 m/s"] == "met"
    assert row["robustness"] == "fragile" and row["statuses"] == "not_met/met"
    # 乙 lies beyond the reach even at 1.2 m/s: robustly not met
    row_b = sens.ranges.set_index(["target_id", "unit_code"]).loc[("meal_circle", STREET_B)]
    assert row_b["robustness"] == "robust" and row_b["low"] == row_b["high"] == 0.0
    # the roadless town stays 不适用 under every setting
    assert (
        sens.ranges.set_index(["target_id", "unit_code"]).loc[("meal_circle", TOWN_C), "robustness"]
        == "na"
    )
    assert result.run_info["sensitivity"]["fragile"] == sens.fragile_count()


def test_sensitivity_section_in_the_plan(tmp_path):
    path = _write_plan(tmp_path, facility_lon=X + 0.013)
    path.write_text(
        path.read_text(encoding="utf-8")
        + '\n[sensitivity]\nspeeds_mps = [0.9, 1.3]\nwalk_rules = ["china"]\n',
        encoding="utf-8",
    )
    plan = load_plan(path)
    result = analyse(plan, load_inputs(plan), options=RunOptions(siting=False))
    assert [s.label for s in result.sensitivity.settings] == ["china 0.9 m/s", "china 1.3 m/s"]
    path.write_text(
        path.read_text(encoding="utf-8").replace('["china"]', '["osm"]'), encoding="utf-8"
    )
    with pytest.raises(PlanError, match=r"\[sensitivity\].walk_rules must list rule sets"):
        load_plan(path)


def test_sensitivity_sheet_in_gaps_xlsx(tmp_path, outside_run):
    inputs, result = outside_run
    plan = load_plan(_write_plan(tmp_path, facility_lon=X + 0.013))
    n = len(inputs.demand)
    distances = {"china": pd.DataFrame({"snap_m": [0.0] * n, "dist_m__meal_point": [600.0] * n})}
    context = _context(
        plan,
        inputs.facilities,
        SimpleNamespace(demand=inputs.demand),
        result.townships,
        result.units,
    )
    sens = evaluate_sensitivity(list(plan.targets), context, distances, speeds_mps=(0.5, 1.0))
    # 600 m: 20 min at 0.5 m/s (outside 15 min), 10 min at 1.0 m/s (inside) for everyone
    row = sens.ranges.set_index(["target_id", "unit_code"]).loc[("meal_circle", STREET_A)]
    assert row[["low", "high", "robustness"]].tolist() == [0.0, 100.0, "fragile"]
    path = write_gaps_xlsx(
        GapReport(rows=result.gaps, summary=result.gap_summary),
        tmp_path / "gaps.xlsx",
        sensitivity=sens,
    )
    sheet = openpyxl.load_workbook(path)["敏感性"]
    header = [c.value for c in sheet[1]]
    assert header[-2:] == ["china 0.5 m/s", "china 1 m/s"] and "结论稳健性" in header
    rows = {(r[0], r[3]): r for r in sheet.iter_rows(min_row=2, values_only=True)}
    assert rows[("meal_circle", STREET_A)][header.index("结论稳健性")] == "不稳定"


def test_overview_map_has_a_dropped_ways_layer(outside_run):
    from lifecircle.maps.webmap import overview_map, render_html

    _, result = outside_run
    html = render_html(overview_map(result, basemap="none"))
    assert "步行规则剔除的道路" in html
    # the motorway's ends, as drawn
    assert "118.79" in html and "32.0055" in html


def test_zone_lengths_cut_only_ways_across_a_boundary():
    from shapely.geometry import LineString, box

    from lifecircle.geo.network_audit import _zone_lengths

    # two 1 km townships side by side (UTM 50N), a way inside the first, one across both,
    # one outside both
    zones = gpd.GeoDataFrame(
        geometry=[
            box(500_000, 3_500_000, 501_000, 3_501_000),
            box(501_000, 3_500_000, 502_000, 3_501_000),
        ],
        crs=32650,
    )
    ways = gpd.GeoDataFrame(
        geometry=[
            LineString([(500_100, 3_500_500), (500_400, 3_500_500)]),
            LineString([(500_800, 3_500_200), (501_500, 3_500_200)]),
            LineString([(505_000, 3_500_000), (506_000, 3_500_000)]),
        ],
        crs=32650,
    )
    got = _zone_lengths(ways, zones).sort_values(["way", "zone"])
    assert got[["way", "zone"]].values.tolist() == [[0, 0], [1, 0], [1, 1]]
    np.testing.assert_allclose(got["length_m"], [300.0, 200.0, 500.0], rtol=1e-3)
