"""Built-in presets: every one loads, cites its document and indicator, and evaluates."""

from __future__ import annotations

import re
from pathlib import Path

import pytest
from test_targets import make_context

from lifecircle.coverage.presets import load_preset, preset_info, preset_names
from lifecircle.coverage.targets import Trajectory, evaluate_targets, parse_targets
from lifecircle.errors import PlanError

REQUIRED = {
    "taizhou_14th",
    "hailing_14th",
    "jinjiang_14th",
    "suzhou_2023",
    "gb50180",
    "chongming_2020",
}
CJK = re.compile(r"[\u4e00-\u9fff]")
DOCS = Path(__file__).resolve().parent.parent / "docs" / "targets.md"


def test_the_required_presets_ship():
    assert REQUIRED <= set(preset_names())


@pytest.mark.parametrize("name", sorted(REQUIRED))
def test_every_row_cites_document_and_indicator(name):
    assert CJK.search(preset_info(name)["document"])
    rows = load_preset(name)
    assert rows
    for row in rows:
        assert CJK.search(row["indicator"]), row["id"]
        assert CJK.search(row["document"]), row["id"]
    assert len({row["id"] for row in rows}) == len(rows)


@pytest.mark.parametrize("name", sorted(REQUIRED))
def test_every_preset_evaluates_on_a_small_district(name):
    targets = parse_targets([{"preset": name}], source="plan.toml")
    assert all(t.id.startswith(name + ".") and t.preset == name for t in targets)
    report = evaluate_targets(targets, make_context(year=2025))
    assert len(report.summary) == len(targets)
    assert set(report.summary["status"]) <= {"met", "not_met", "na"}
    assert report.summary["status_zh"].isin(["达标", "未达标", "不适用"]).all()
    for row in report.summary.itertuples():
        target = next(t for t in targets if t.id == row.target_id)
        if target.category and target.category not in make_context().layers_present:
            # data the user did not give: not applicable, with the missing layer named
            assert row.status == "na", row.target_id
            # (a row for another county says so before asking for data)
            assert target.category in row.note or "区划代码" in row.note, row.target_id


def test_jinjiang_table_values():
    targets = {t.id.split(".", 1)[1]: t for t in parse_targets([{"preset": "jinjiang_14th"}])}
    years = (2021, 2022, 2023, 2024, 2025)

    def path(key, attribute):
        value = getattr(targets[key], attribute)
        assert isinstance(value, Trajectory)
        return [value.at(y) for y in years]

    assert path("service_floor_area", "min_m2_per_100_households") == [10, 20, 30, 35, 40]
    assert path("columbarium_coverage", "target_pct") == [55, 60, 65, 70, 70]
    assert path("nursing_bed_share", "min_value") == [56, 57, 58, 59, 60]
    assert path("beds_per_1000", "min_value") == [41, 42, 43, 44, 45]
    assert path("comprehensive_coverage", "target_pct") == [60, 65, 70, 75, 80]
    assert path("nursing_beds_per_1000", "min_value") == [10, 10.5, 11, 11.5, 12]
    assert path("children_home", "target_pct") == [90, 100, 100, 100, 100]
    assert path("volunteer_colocation", "target_pct") == [40, 50, 60, 70, 80]
    assert targets["social_assistance_staff"].brackets[-1][2] == 4


def test_preset_year_and_only():
    targets = parse_targets(
        [{"preset": "jinjiang_14th", "year": 2023, "only": ["beds_per_1000", "children_home"]}]
    )
    assert [t.id for t in targets] == ["jinjiang_14th.beds_per_1000", "jinjiang_14th.children_home"]
    report = evaluate_targets(targets, make_context(year=2025))
    assert (
        report.summary.set_index("target_id").loc["jinjiang_14th.beds_per_1000", "target_value"]
        == 43
    )
    assert set(report.summary["year"]) == {2023}


def test_preset_trajectory_outside_the_plan_year_names_the_fix():
    targets = parse_targets([{"preset": "jinjiang_14th", "only": ["beds_per_1000"]}])
    with pytest.raises(PlanError, match=r"2030 is outside.*preset 'jinjiang_14th'.*year ="):
        evaluate_targets(targets, make_context(year=2030))


def test_village_rows_without_units_are_na():
    targets = parse_targets([{"preset": "jinjiang_14th", "only": ["children_home"]}])
    summary = evaluate_targets(targets, make_context(units=False)).summary.iloc[0]
    assert summary["status"] == "na" and "village" in summary["note"]


def test_a_preset_entry_rejects_other_keys():
    with pytest.raises(PlanError, match=r"unknown key 'yaer'.*did you mean 'year'"):
        parse_targets([{"preset": "gb50180", "yaer": 2025}])


def test_docs_preset_tables_are_current():
    from lifecircle.coverage.presets import presets_reference_markdown

    text = DOCS.read_text(encoding="utf-8")
    current = re.search(r"<!-- preset-rows:start -->\n(.*?)<!-- preset-rows:end -->", text, re.S)
    assert current, "docs/targets.md lost its preset-rows markers"
    assert current.group(1) == presets_reference_markdown(), (
        "regenerate the docs tables with `python -m tools.preset_docs`"
    )


@pytest.mark.parametrize("name", sorted(REQUIRED))
def test_every_row_cites_its_seed_sentence(name):
    for row in load_preset(name):
        assert CJK.search(row.get("source_quote", "")), f"{name}.{row['id']} has no source_quote"
        assert row.get("source_ref"), f"{name}.{row['id']} has no source_ref"


def test_docs_list_every_preset_row():
    text = DOCS.read_text(encoding="utf-8")
    for name in REQUIRED:
        for row in load_preset(name):
            assert f"`{name}.{row['id']}`" in text, f"{name}.{row['id']} missing in docs/targets.md"


def test_capacity_rows_cite_the_seed_quotas():
    rows = {f"{name}.{row['id']}": row for name in REQUIRED for row in load_preset(name)}
    expected = {
        "chongming_2020.new_beds": ("beds", 800, 2020, "新增800张养老床位"),
        "suzhou_2023.new_institution_beds": ("beds", 1200, 2023, "新增养老机构床位1200张"),
        "hailing_14th.city_columbarium_floor_area_2024": (
            "floor_area_m2",
            29000,
            2024,
            "建设规模29000平方米",
        ),
    }
    for key, (measure, quota, year, text) in expected.items():
        row = rows[key]
        assert (row["type"], row["measure"], row["min_count"], row["year"]) == (
            "new_facilities",
            measure,
            quota,
            year,
        ), key
        assert text in row["indicator"], key
    assert "institution" in rows["suzhou_2023.new_institution_beds"]["subtype"]
    assert rows["hailing_14th.city_columbarium_floor_area_2024"]["towns"] == ["京泰路街道"]


def test_capacity_rows_evaluate_against_the_registers_beds():
    from test_targets import _capacity_context

    # evaluated in 2025: e1 100 + e3 (no value) + e4 0 + e5 60 = 160 beds opened, e5 the only
    # institution (60 beds)
    targets = parse_targets(
        [
            {"preset": "chongming_2020", "year": 2025, "only": ["new_beds"]},
            {"preset": "suzhou_2023", "year": 2025, "only": ["new_institution_beds"]},
            {"preset": "hailing_14th", "only": ["city_columbarium_floor_area_2024"]},
        ]
    )
    summary = evaluate_targets(targets, _capacity_context()).summary.set_index("target_id")
    beds = summary.loc["chongming_2020.new_beds"]
    assert (beds["value"], beds["status"], beds["shortfall"]) == (160, "not_met", 640)
    institution = summary.loc["suzhou_2023.new_institution_beds"]
    assert (institution["value"], institution["shortfall"], institution["unit"]) == (
        60,
        1140,
        "beds",
    )
    # the test district's columbaria have no opening year: not applicable, naming it
    columbarium = summary.loc["hailing_14th.city_columbarium_floor_area_2024"]
    assert columbarium["status"] == "na" and "opened" in columbarium["note"]
