"""Plan files load, resolve paths, and fail with messages that name the key and the fix."""

import shutil
from pathlib import Path

import pytest

from lifecircle.errors import PlanError
from lifecircle.plan import SAMPLE_PLAN, load_plan


@pytest.fixture
def plan_copy(tmp_path) -> Path:
    """The sample plan copied beside the sample data (so relative paths still resolve)."""
    folder = tmp_path / "sample"
    shutil.copytree(SAMPLE_PLAN.parent, folder)
    shutil.copytree(SAMPLE_PLAN.parent.parent / "boundaries", tmp_path / "boundaries")
    return folder / "plan.toml"


def _edit(path: Path, old: str, new: str) -> Path:
    text = path.read_text(encoding="utf-8")
    assert old in text, f"fixture text {old!r} not found in the sample plan"
    path.write_text(text.replace(old, new, 1), encoding="utf-8")
    return path


def test_sample_plan_loads_with_resolved_paths():
    plan = load_plan(SAMPLE_PLAN)
    assert plan.study.name == "示范区"
    assert plan.study.county_code == "329901"
    assert plan.network.path.is_absolute() and plan.network.path.exists()
    assert {layer.category for layer in plan.layers} >= {
        "elder_care_centre",
        "meal_point",
        "columbarium",
        "social_work_station",
    }
    assert plan.walk.speed_mps == 1.0
    assert plan.walk.for_kind("town").thresholds_min == (10.0, 15.0, 20.0)
    assert plan.targets, "the sample plan has targets"
    assert all(p.exists() for p in plan.input_paths())


@pytest.mark.parametrize(
    ("old", "new", "expected"),
    [
        ("speed_mps = 1.0", "sped_mps = 1.0", "'sped_mps'.*did you mean 'speed_mps'"),
        (
            'category = "meal_point"\npath',
            'category = "meal_piont"\npath',
            "unknown category 'meal_piont'.*did you mean 'meal_point'",
        ),
        ("[walk]", "[walks]", "unknown key 'walks'.*did you mean 'walk'"),
        ('path = "network.osm.bz2"', 'path = "missing.osm"', "missing.osm.*does not exist"),
        ("thresholds_min = [5, 10, 15]", "thresholds_min = [0, 10]", "thresholds_min.*positive"),
        ('lang = "zh"', 'lang = "fr"', r'lang = "fr": must be one of "zh", "en"'),
        ("[walk.by_kind.town]", "[walk.by_kind.village]", "not a township kind"),
    ],
)
def test_mistakes_name_the_key(plan_copy, old, new, expected):
    _edit(plan_copy, old, new)
    with pytest.raises(PlanError, match=expected):
        load_plan(plan_copy)


def test_not_toml_and_missing_file(tmp_path):
    bad = tmp_path / "plan.toml"
    bad.write_text("[study\nname=", encoding="utf-8")
    with pytest.raises(PlanError, match="not valid TOML"):
        load_plan(bad)
    with pytest.raises(PlanError, match="does not exist"):
        load_plan(tmp_path / "nope.toml")
