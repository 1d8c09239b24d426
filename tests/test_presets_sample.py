"""Every shipped preset evaluates on the sample district, and the README's table is current."""

import re
from pathlib import Path

import pytest

from lifecircle.cli import presets_markdown
from lifecircle.coverage.presets import preset_names
from lifecircle.pipeline import evaluate_presets, load_inputs
from lifecircle.plan import SAMPLE_PLAN, load_plan

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def table():
    plan = load_plan(SAMPLE_PLAN)
    return evaluate_presets(plan, load_inputs(plan))


def test_every_preset_evaluates_on_the_sample(table):
    assert set(table["preset"]) == set(preset_names())
    assert set(table["status"]) <= {"met", "not_met", "na"}
    assert {"met", "not_met", "na"} <= set(table["status"]), "the sample mixes outcomes"
    assert table["document"].str.len().gt(0).all() and table["indicator"].str.len().gt(0).all()


def test_rows_without_data_are_not_applicable_with_the_missing_input_named(table):
    missing = table[table["status"] == "na"]
    assert len(missing)
    # a row for another county or a named street the sample lacks says so instead
    elsewhere = missing["note"].str.contains("只适用于|区内没有")
    assert elsewhere.sum() == 2
    assert missing.loc[~elsewhere, "note"].str.contains("缺少").all()


def test_readme_table_is_current(table):
    readme = (Path(__file__).resolve().parents[1] / "README.md").read_text(encoding="utf-8")
    current = re.search(r"<!-- presets:start -->\n(.*?)\n<!-- presets:end -->", readme, re.S)
    assert current, "README.md lost its preset table markers"
    assert current.group(1).strip() == presets_markdown(table, "示范区").strip(), (
        "regenerate the README table with `lifecircle presets --markdown`"
    )


def test_subtype_and_distance_circles_are_computed_on_the_sample(table):
    rows = table.set_index("target_id")
    # times to the day-care centres only, searched by network distance (not n/a, not the
    # whole elder-care category, which covers more seniors)
    day_care = rows.loc["gb50180.circle_5min_day_care"]
    institutions = rows.loc["gb50180.circle_15min_elder_care"]
    assert day_care["status"] != "na" and "步行 300 米内" in day_care["note"]
    assert 0 < day_care["value"] < institutions["value"] < 100
    assert rows.loc["jinjiang_14th.elder_care_circle_15min", "status"] != "na"
