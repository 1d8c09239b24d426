"""The public API (lifecircle.api, re-exported as ``lifecircle.*``): frames in any CRS, results on
the caller's index, the doctests and the example script, and the CLI on the same verbs."""

from __future__ import annotations

import doctest
import runpy
import shutil
from pathlib import Path

import geopandas as gpd
import numpy as np
import pandas as pd
import pytest
import shapely
from conftest import ROOT, X0, Y0, grid_network
from hypothesis import given, settings
from hypothesis import strategies as st
from typer.testing import CliRunner

import lifecircle as lc
from lifecircle import api
from lifecircle.coverage.walk import KindWalk, WalkModel
from lifecircle.errors import InputError, LifecircleError
from lifecircle.layers.facilities import LayerSpec, unique_layer_keys
from lifecircle.pipeline import load_inputs
from lifecircle.plan import SAMPLE_PLAN, load_plan

UTM = "EPSG:32650"


@pytest.fixture(scope="module")
def grid():
    """A 3 x 4 street grid, 100 m blocks, plus nothing else (one component)."""
    return grid_network(3, 4)


def _points(xy: list[tuple[float, float]], index, crs: str = UTM) -> gpd.GeoDataFrame:
    frame = gpd.GeoDataFrame(
        geometry=[shapely.Point(X0 + x, Y0 + y) for x, y in xy], crs=UTM, index=index
    )
    return frame.to_crs(crs)


@pytest.mark.parametrize("crs", [UTM, "EPSG:4326", "EPSG:3857"])
def test_nearest_facility_times_in_any_crs_on_the_callers_index(grid, crs):
    facilities = _points([(0, 0), (300, 200)], ["north", "south"], crs)
    points = _points([(100, 0), (300, 100), (150, 10)], pd.Index([7, 3, 5], name="home"), crs)
    times = lc.nearest_facility_times(grid, facilities, points, speed_mps=1.25)
    assert times.index.equals(points.index)
    assert list(times["facility"]) == ["north", "south", "north"]
    # 150 m along the street plus 10 m off it; round trips through other CRSs cost millimetres
    np.testing.assert_allclose(times["distance_m"], [100.0, 100.0, 160.0], atol=0.01)
    np.testing.assert_allclose(times["time_min"], times["distance_m"] / 1.25 / 60)


def test_unreachable_points_are_inf_with_no_facility(grid):
    facilities = _points([(0, 0)], ["a"])
    points = _points([(100, 0), (300, 200), (5000, 5000)], ["near", "far", "off_network"])
    times = lc.nearest_facility_times(grid, facilities, points, limit_m=250)
    assert times.loc["near", "distance_m"] == pytest.approx(100.0)
    assert np.isinf(times.loc[["far", "off_network"], "distance_m"]).all()
    assert np.isinf(times.loc[["far", "off_network"], "time_min"]).all()
    assert times.loc[["far", "off_network"], "facility"].isna().all()
    zero = lc.nearest_facility_times(grid, facilities, points, limit_m=0)
    assert np.isinf(zero["distance_m"]).all()
    none = lc.nearest_facility_times(grid, facilities.iloc[:0], points)
    assert np.isinf(none["distance_m"]).all() and none["facility"].isna().all()


@pytest.mark.parametrize(
    ("kwargs", "word"), [({"speed_mps": 0}, "speed_mps"), ({"limit_m": -1}, "limit_m")]
)
def test_bad_options_are_named(grid, kwargs, word):
    pts = _points([(0, 0)], [0])
    with pytest.raises(InputError, match=word):
        lc.nearest_facility_times(grid, pts, pts, **kwargs)


def test_frames_without_crs_are_refused_with_the_fix(grid):
    pts = _points([(0, 0)], [0]).set_crs(None, allow_override=True)
    with pytest.raises(InputError, match="set_crs"):
        lc.nearest_facility_times(grid, pts, pts)


def test_service_areas_on_the_facilities_index(grid):
    facilities = _points([(100, 100), (150, 0), (9000, 9000)], ["mid", "edge", "lost"], "EPSG:4326")
    small = lc.service_areas(grid, facilities, reach_m=120)
    large = lc.service_areas(grid, facilities, reach_m=250)
    assert small.crs.to_epsg() == 4326 and small.index.equals(facilities.index)
    assert small.loc["lost", "geometry"].is_empty and small.loc["lost", "area_m2"] == 0
    assert (large.loc[["mid", "edge"], "area_m2"] > small.loc[["mid", "edge"], "area_m2"]).all()
    # the area of "mid" (a crossing) covers its streets for 70 m off-network + 50 m buffer,
    # never more than the disc of the reach
    assert 0 < small.loc["mid", "area_m2"] < np.pi * 120**2
    centre = facilities.to_crs(UTM).geometry["mid"]
    assert small.to_crs(UTM).geometry["mid"].contains(centre)


def test_assign_zones_in_any_crs():
    towns = gpd.GeoDataFrame(
        {"code": ["329901001", "329901100"], "kind": ["street", "town"]},
        geometry=[shapely.box(0, 0, 1000, 1000), shapely.box(1000, 0, 2000, 1000)],
        crs=UTM,
    )
    villages = gpd.GeoDataFrame(
        {"code": ["329901100201"]}, geometry=[shapely.box(1000, 0, 1500, 500)], crs=UTM
    )
    pts = gpd.GeoDataFrame(
        geometry=[shapely.Point(500, 500), shapely.Point(1200, 200), shapely.Point(5000, 5000)],
        crs=UTM,
        index=["a", "b", "c"],
    ).to_crs(3857)
    zones = lc.assign_zones(pts, towns.to_crs(4326), units={"village": villages})
    assert zones.index.equals(pts.index)
    assert zones.to_dict("list") == {
        "township_code": ["329901001", "329901100", ""],
        "kind": ["street", "town", ""],
        "unit_code__village": ["", "329901100201", ""],
    }


def test_walk_model_owns_minutes_and_metres():
    walk = WalkModel(
        speed_mps=1.0,
        thresholds_min=(5.0, 15.0),
        by_kind={"town": KindWalk(speed_mps=1.2, thresholds_min=(15.0, 20.0))},
    )
    kinds = np.array(["street", "town", None], dtype=object)
    metres = walk.distance_m([15.0, 15.0, 15.0], kinds)
    assert metres.tolist() == [900.0, 1080.0, 900.0]
    np.testing.assert_allclose(walk.time_min(metres, kinds), 15.0)
    assert walk.reach_m(15.0) == 900.0  # the slower kind using 15 minutes bounds it
    assert walk.reach_m(20.0) == pytest.approx(1440.0)
    assert walk.max_reach_m == pytest.approx(1440.0)


def test_layer_keys_are_unique_when_file_names_repeat():
    specs = [
        LayerSpec("meal_point", Path("a/points.csv")),
        LayerSpec("meal_point", Path("b/points.csv")),
        LayerSpec("elder_care_centre", Path("c/points.csv")),
        LayerSpec("columbarium", Path("d/other.gpkg"), layer_name="x"),
    ]
    keys = unique_layer_keys(specs)
    assert keys == [
        "meal_point/points",
        "meal_point/points#2",
        "elder_care_centre/points",
        "other/x",
    ]


@pytest.fixture(scope="module")
def twin_plan(tmp_path_factory) -> Path:
    """The sample plan with two meal-point registers of the same file name in two folders."""
    folder = tmp_path_factory.mktemp("twin")
    sample = SAMPLE_PLAN.parent
    shutil.copytree(sample, folder / "sample")
    shutil.copytree(sample.parent / "boundaries", folder / "boundaries")
    for sub in ("east", "west"):
        (folder / "sample" / sub).mkdir()
        shutil.copy(sample / "meal_points.csv", folder / "sample" / sub / "meal_points.csv")
    text = (folder / "sample" / "plan.toml").read_text(encoding="utf-8")
    text = text.replace(
        'path = "meal_points.csv"\ncrs = "bd09"',
        'path = "east/meal_points.csv"\ncrs = "bd09"\n\n[[layers]]\n'
        'category = "meal_point"\npath = "west/meal_points.csv"\ncrs = "bd09"',
    )
    assert text.count("meal_points.csv") == 2
    (folder / "sample" / "plan.toml").write_text(text, encoding="utf-8")
    return folder / "sample" / "plan.toml"


@pytest.fixture(scope="module")
def twin_inputs(twin_plan):
    return load_inputs(load_plan(twin_plan))


def test_two_registers_with_one_file_name_keep_distinct_ids(twin_inputs):
    inputs = twin_inputs
    meals = inputs.facilities[inputs.facilities["category"] == "meal_point"]
    assert meals["facility_id"].is_unique and inputs.facilities["facility_id"].is_unique
    assert set(meals["layer"]) == {"meal_point/meal_points", "meal_point/meal_points#2"}
    counts = inputs.layer_counts.set_index("layer")
    one, two = counts.loc["meal_point/meal_points"], counts.loc["meal_point/meal_points#2"]
    assert one["used"] == two["used"] == len(meals) / 2 and one["used"] > 0
    assert one["rejected"] == two["rejected"] > 0
    assert len(inputs.warnings) == len(set(inputs.warnings))
    assert inputs.network_summary.components == 3
    assert inputs.network_summary.nodes == inputs.network.n_nodes


def test_validate_prints_each_warning_once(twin_plan, twin_inputs):
    from lifecircle.cli import app

    out = CliRunner().invoke(app, ["validate", str(twin_plan)])
    assert out.exit_code == 0, out.output
    flat = out.output.replace("\n", "")  # rich wraps long lines after a space
    assert len(twin_inputs.warnings) >= 3
    for warning in twin_inputs.warnings:
        assert flat.count(warning[:40]) == 1, warning


def test_cli_runs_through_the_api(monkeypatch, tmp_path):
    from lifecircle.cli import app

    seen = {}

    def fake_run(plan, out=None, *, options=None, progress=None):
        seen.update(plan=plan, out=out, lang=options.lang)
        raise LifecircleError("stopped by the test")

    monkeypatch.setattr(api, "run", fake_run)
    out = CliRunner().invoke(app, ["demo", "--out", str(tmp_path / "x"), "--lang", "en"])
    assert out.exit_code == 1 and "stopped by the test" in out.output
    assert seen["out"] == tmp_path / "x" and seen["lang"] == "en"
    assert seen["plan"].study.name == "示范区"


def test_package_exports_the_verbs():
    for name in (
        "load_walk_network",
        "read_register",
        "nearest_facility_times",
        "service_areas",
        "assign_zones",
        "evaluate_targets",
        "site",
        "run",
    ):
        assert callable(getattr(lc, name)) and name in lc.__all__
    with pytest.raises(AttributeError):
        lc.no_such_verb  # noqa: B018


def test_load_walk_network_takes_walk_rules():
    with pytest.raises(LifecircleError, match="china, osmnx"):
        lc.load_walk_network(lc.sample_path("network.osm.bz2"), walk_rules="martian")
    china = lc.load_walk_network(lc.sample_path("network.osm.bz2"))
    osmnx_rules = lc.load_walk_network(lc.sample_path("network.osm.bz2"), walk_rules="osmnx")
    assert china is lc.load_walk_network(lc.sample_path("network.osm.bz2"))  # cached
    assert osmnx_rules is not china and osmnx_rules.n_nodes > 1000


def test_doctests_of_the_api():
    failures, tried = doctest.testmod(api, optionflags=doctest.ELLIPSIS)
    assert tried > 20 and failures == 0


@pytest.mark.parametrize(
    "module",
    [
        "lifecircle.arrays",
        "lifecircle.coverage.walk",
        "lifecircle.geo.network",
        "lifecircle.geo.network_audit",
        "lifecircle.layers.facilities",
        "lifecircle.i18n",
    ],
)
def test_doctests_of_the_modules_the_api_stands_on(module):
    import importlib

    failures, tried = doctest.testmod(importlib.import_module(module))
    assert tried > 0 and failures == 0


def test_example_script_runs(capsys):
    runpy.run_path(str(ROOT / "examples" / "sample_district.py"), run_name="__main__")
    printed = capsys.readouterr().out
    assert "seniors within 15 minutes of a meal point" in printed
    assert "3 new meal points" in printed


@pytest.mark.slow
def test_run_without_out_writes_nothing_and_has_typed_fields(tmp_path, monkeypatch):
    import dataclasses

    monkeypatch.chdir(tmp_path)
    plan = load_plan(SAMPLE_PLAN)  # two registers and no siting keep it quick (all: test_demo)
    result = lc.run(dataclasses.replace(plan, layers=plan.layers[:2], siting=()))
    assert result.out_dir is None and list(tmp_path.iterdir()) == []
    assert isinstance(result.walk, WalkModel) and result.walk.by_kind["town"].speed_mps == 1.2
    assert list(result.layer_counts["layer"]) == ["elder_care_centres", "meal_points"]
    assert result.layer_counts["used"].sum() == len(result.facilities)
    assert len(result.warnings) == len(set(result.warnings)) > 0
    assert result.run_info["warnings"] is result.warnings
    assert result.run_info["walk"] == result.walk.as_dict()


def test_logged_warnings_of_a_step_join_the_runs_list_once():
    import logging
    import threading

    from lifecircle.pipeline import _collecting_logged_warnings

    warnings = ["already there"]
    logger = logging.getLogger("lifecircle.geo.osm")
    with _collecting_logged_warnings(warnings):
        logger.warning("roads.gpkg has no coordinate system; assuming WGS-84")
        logger.warning("already there")
        logger.info("not a warning")
        other = threading.Thread(target=logger.warning, args=("another plan's thread",))
        other.start()
        other.join()
    logger.warning("after the step")
    assert warnings == ["already there", "roads.gpkg has no coordinate system; assuming WGS-84"]


def test_evaluate_targets_agrees_with_the_pipeline_on_the_sample():
    from lifecircle.pipeline import _coverage_and_zones, _evaluate

    plan = load_plan(SAMPLE_PLAN)
    inputs = load_inputs(plan)
    coverage, townships, units = _coverage_and_zones(plan, inputs, progress=lambda *a: None)
    expected = _evaluate(plan, inputs, inputs.facilities, coverage, townships, units).rows
    assert inputs.outside_facilities.empty  # else the API would be given them too
    # the API gets the raw layers (no pop sums, no zone columns on the demand) in other CRSs
    demand = inputs.demand.drop(
        columns=[c for c in inputs.demand if c.startswith(("township_code", "kind", "unit_code"))]
    ).to_crs(3857)
    report = lc.evaluate_targets(
        list(plan.targets),
        townships=inputs.townships.to_crs(32650),
        facilities=inputs.facilities,
        demand=demand,
        walk=plan.walk,
        network=inputs.network,
        units=inputs.units,
        year=plan.study.year,
    )
    columns = ["target_id", "level", "unit_code", "value", "status", "shortfall"]
    got = report.rows[columns].reset_index(drop=True)
    pd.testing.assert_frame_equal(
        got, expected[columns].reset_index(drop=True), check_exact=False, rtol=1e-9
    )
    assert {"met", "not_met"} <= set(got["status"])


RIVER = grid_network(4, 5, gap_after_col=1, gap_m=300.0, bridge_rows=(0,))


@settings(max_examples=40, deadline=None)
@given(
    facility_nodes=st.lists(st.integers(0, 19), min_size=1, max_size=4),
    point_nodes=st.lists(st.integers(0, 19), min_size=1, max_size=8),
    limit_m=st.one_of(st.none(), st.floats(0, 2000)),
)
def test_nearest_times_equal_shortest_paths_between_nodes(facility_nodes, point_nodes, limit_m):
    from scipy.sparse.csgraph import dijkstra

    net = RIVER

    def at(nodes, prefix):
        return gpd.GeoDataFrame(
            geometry=shapely.points(net.x[nodes], net.y[nodes]),
            crs=UTM,
            index=[f"{prefix}{i}" for i in range(len(nodes))],
        )

    facilities, points = at(facility_nodes, "f"), at(point_nodes, "p")
    times = lc.nearest_facility_times(net, facilities, points, limit_m=limit_m)
    matrix = dijkstra(net.csr, indices=facility_nodes)[:, point_nodes]
    best = matrix.min(axis=0)
    if limit_m is not None:
        best = np.where(best <= limit_m, best, np.inf)
    np.testing.assert_allclose(times["distance_m"], best, atol=1e-6)
    reached = np.isfinite(best)
    assert times["facility"].isna().tolist() == (~reached).tolist()
    for label, column in zip(times.index[reached], np.flatnonzero(reached), strict=True):
        chosen = int(times.loc[label, "facility"][1:])
        assert matrix[chosen, column] == pytest.approx(best[column], abs=1e-6)
