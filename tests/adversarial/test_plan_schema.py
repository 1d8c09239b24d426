"""Plan keys of the wrong type or out of range: rejected when the plan loads (so ``validate``
rejects what ``run`` would), in one message naming the key, the value, what is allowed and the
fix. Implausible values load with a warning; a plan saved with a BOM loads."""

from __future__ import annotations

import logging
from pathlib import Path

import pytest
from typer.testing import CliRunner

from lifecircle import cli
from lifecircle.errors import PlanError
from lifecircle.plan import load_plan

from .sample_copy import copy_sample, edit_plan, one_line

runner = CliRunner()

SPEED = "speed_mps = 1.0"
THRESHOLDS = "thresholds_min = [5, 10, 15]"

# (text in the sample plan, its replacement, the exact message)
CASES = [
    (
        THRESHOLDS,
        'thresholds_min = "15"',
        '[walk] thresholds_min = "15" is not a list of numbers in [ ]: '
        "write a list of numbers without quotes: thresholds_min = [15]",
    ),
    (
        THRESHOLDS,
        'thresholds_min = "5,10,15"',
        '[walk] thresholds_min = "5,10,15" is not a list of numbers in [ ]: '
        "write a list of numbers without quotes: thresholds_min = [5, 10, 15]",
    ),
    (
        THRESHOLDS,
        'thresholds_min = [5, "10"]',
        '[walk] thresholds_min = [5, "10"] is not a list of numbers in [ ]: '
        "write a list of numbers without quotes: thresholds_min = [5, 10]",
    ),
    (THRESHOLDS, "thresholds_min = []", "[walk] thresholds_min = []: must list at least one value"),
    (
        THRESHOLDS,
        "thresholds_min = [5, -10]",
        "[walk] thresholds_min = [5, -10]: must be positive (greater than 0)",
    ),
    (
        SPEED,
        'speed_mps = "1.0"',
        '[walk] speed_mps = "1.0" is not a number: '
        "write the number without quotes: speed_mps = 1.0",
    ),
    (SPEED, "speed_mps = 0", "[walk] speed_mps = 0: must be positive (greater than 0)"),
    (SPEED, "speed_mps = true", "[walk] speed_mps = true is not a number: write a number"),
    (
        "max_snap_m = 500",
        'max_snap_m = "500"',
        '[walk] max_snap_m = "500" is not a number: write the number without quotes: '
        "max_snap_m = 500",
    ),
    (
        "speed_mps = 1.2",
        'speed_mps = "1.2"',
        '[walk.by_kind.town] speed_mps = "1.2" is not a number: write the number without quotes: '
        "speed_mps = 1.2",
    ),
    (
        'name = "示范区"',
        "name = 12345",
        '[study] name = 12345 is not text in quotes: write it in quotes: name = "12345"',
    ),
    ('name = "示范区"', 'name = ""', '[study] name = "": must have at least 1 character'),
    (
        "year = 2025",
        'year = "2025"',
        '[study] year = "2025" is not a whole number: write the number without quotes: year = 2025',
    ),
    (
        "year = 2025",
        "year = 2025.5",
        "[study] year = 2025.5 is not a whole number: write a whole number",
    ),
    ("year = 2025", "year = 1800", "[study] year = 1800: must be greater than or equal to 1949"),
    (
        'county_code = "329901"',
        "county_code = 329901",
        "[study] county_code = 329901 is not text in quotes: write it in quotes: "
        'county_code = "329901"',
    ),
    (
        'county_code = "329901"',
        'county_code = "3299"',
        '[study] county_code = "3299": must be 6 digits (the county code)',
    ),
    ('lang = "zh"', 'lang = "cn"', '[study] lang = "cn": must be one of "zh", "en"'),
    (
        "seniors_band = 2",
        "seniors_band = 0",
        "[inputs.population] seniors_band = 0: must be greater than or equal to 1",
    ),
    (
        "seniors_band = 2",
        "seniors_band = 2\ndefault_senior_share = 22",
        "[inputs.population] default_senior_share = 22: must be less than or equal to 1",
    ),
    (
        'crs = "gcj02"',
        "crs = 4326",
        '[[layers]] #1 crs = 4326 is not text in quotes: write it in quotes: crs = "4326"',
    ),
    ("p = 5", "p = 0", "[siting] p = 0: must be greater than or equal to 1"),
    (
        "p = 5",
        'p = "5"',
        '[siting] p = "5" is not a whole number: write the number without quotes: p = 5',
    ),
    ("p = 5", "target_share = 1.5", "[siting] target_share = 1.5: must be less than or equal to 1"),
    (
        'population = "pop60"\n\n#',
        'population = "seniors"\n\n#',
        '[siting] population = "seniors": must be one of "pop60", "pop"',
    ),
    (
        "[siting]",
        '[maps]\nbasemap = "google"\n\n[siting]',
        '[maps] basemap = "google": must be one of "osm", "tianditu", "amap", "none"',
    ),
    (
        "[siting]",
        '[maps]\noffline = "yes"\n\n[siting]',
        '[maps] offline = "yes" is not true or false: write true or false',
    ),
    (
        f"{SPEED}\n{THRESHOLDS}",
        'speed_mps = "1"\nthresholds_min = "15"',
        '[walk] speed_mps = "1" is not a number: write the number without quotes: speed_mps = 1; '
        '[walk] thresholds_min = "15" is not a list of numbers in [ ]: '
        "write a list of numbers without quotes: thresholds_min = [15]",
    ),
]


@pytest.fixture
def plan(tmp_path) -> Path:
    return copy_sample(tmp_path)


@pytest.fixture(autouse=True)
def wide_console(monkeypatch):
    monkeypatch.setattr(cli.console, "width", 1000)


@pytest.mark.parametrize(("old", "new", "message"), CASES, ids=[c[1] for c in CASES])
def test_bad_value_is_named_with_the_fix(plan, old, new, message):
    edit_plan(plan, old, new)
    with pytest.raises(PlanError) as caught:
        load_plan(plan)
    assert str(caught.value) == f"plan.toml: {message}"


@pytest.mark.parametrize("command", ["validate", "run"])
@pytest.mark.parametrize(("old", "new", "message"), [CASES[0], CASES[10]], ids=["walk", "study"])
def test_validate_and_run_reject_alike_before_any_work(
    plan, monkeypatch, command, old, new, message
):
    def refuse(*args, **kwargs):
        raise AssertionError("inputs were loaded: the plan was not checked first")

    monkeypatch.setattr("lifecircle.pipeline.load_inputs", refuse)
    edit_plan(plan, old, new)
    args = [command, str(plan)] + (
        ["--out", str(plan.parent.parent / "out")] if command == "run" else []
    )
    result = runner.invoke(cli.app, args)
    assert isinstance(result.exception, SystemExit) and result.exit_code == 1
    assert "Traceback" not in result.output
    assert one_line(result.output) == f"error: plan.toml: {message}"
    assert not (plan.parent.parent / "out").exists()


def test_single_threshold_number_is_a_list_of_one(plan):
    edit_plan(plan, THRESHOLDS, "thresholds_min = 15")
    assert load_plan(plan).walk.thresholds_min == (15.0,)


def test_whole_numbers_are_numbers(plan):
    edit_plan(plan, SPEED, "speed_mps = 1")
    walk = load_plan(plan).walk
    assert walk.speed_mps == 1.0 and isinstance(walk.speed_mps, float)
    assert walk.thresholds_min == (5.0, 10.0, 15.0)


@pytest.mark.parametrize(
    ("old", "new", "warning"),
    [
        (
            THRESHOLDS,
            "thresholds_min = [5, 10, 10000]",
            "plan.toml: [walk] thresholds_min has 10000 minutes: life circles are walks of 5–15 "
            "minutes (over 60 is implausible): check the unit",
        ),
        (
            SPEED,
            "speed_mps = 5.0",
            "plan.toml: [walk] speed_mps = 5 m/s is not a walking speed (people walk 0.3–2.5 m/s; "
            "1.0 is usual for older walkers): check the unit",
        ),
        (
            "speed_mps = 1.2",
            "speed_mps = 0.1",
            "plan.toml: [walk.by_kind.town] speed_mps = 0.1 m/s is not a walking speed "
            "(people walk "
            "0.3–2.5 m/s; 1.0 is usual for older walkers): check the unit",
        ),
    ],
)
def test_implausible_values_load_with_a_warning(plan, caplog, old, new, warning):
    edit_plan(plan, old, new)
    with caplog.at_level(logging.WARNING, logger="lifecircle"):
        load_plan(plan)
    assert [r.getMessage() for r in caplog.records] == [warning]


def test_plausible_plan_warns_nothing(plan, caplog):
    with caplog.at_level(logging.WARNING, logger="lifecircle"):
        load_plan(plan)
    assert caplog.records == []


def test_plan_saved_with_a_bom_loads(plan):
    plan.write_bytes(b"\xef\xbb\xbf" + plan.read_bytes())
    assert load_plan(plan).study.name == "示范区"


def test_plan_in_gbk_is_named(plan):
    plan.write_bytes(plan.read_text(encoding="utf-8").encode("gbk"))
    with pytest.raises(PlanError) as caught:
        load_plan(plan)
    assert str(caught.value) == "plan.toml is not UTF-8 text: save the plan file as UTF-8"
