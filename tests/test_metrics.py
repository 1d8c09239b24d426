"""compute_coverage: times per cell, metrics per township and threshold, layers, properties."""

from __future__ import annotations

import geopandas as gpd
import numpy as np
import pandas as pd
import pyproj
import pytest
import shapely
from conftest import X0, Y0, grid_network
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from lifecircle.coverage.metrics import (
    compute_coverage,
    reach_m_for_threshold,
    with_categories,
    with_service_areas,
)
from lifecircle.coverage.walk import KindWalk, WalkModel
from lifecircle.errors import InputError
from lifecircle.geo.network import WalkNetwork

TO_LONLAT = pyproj.Transformer.from_crs("EPSG:32650", "EPSG:4326", always_xy=True)


def points_wgs84(x_m, y_m) -> gpd.GeoSeries:
    lon, lat = TO_LONLAT.transform(np.asarray(x_m, float), np.asarray(y_m, float))
    return gpd.GeoSeries(gpd.points_from_xy(lon, lat), crs="EPSG:4326")


def facilities_frame(x_m, y_m, categories, ids=None) -> gpd.GeoDataFrame:
    n = len(x_m)
    return gpd.GeoDataFrame(
        {
            "facility_id": ids if ids is not None else [f"f{i}" for i in range(n)],
            "category": categories,
        },
        geometry=points_wgs84(x_m, y_m).values,
        crs="EPSG:4326",
    )


def demand_frame(x_m, y_m, pop, pop60, codes, kinds) -> gpd.GeoDataFrame:
    return gpd.GeoDataFrame(
        {
            "cell_id": np.arange(len(x_m)),
            "pop": np.asarray(pop, float),
            "pop60": np.asarray(pop60, float),
            "township_code": codes,
            "kind": kinds,
        },
        geometry=points_wgs84(x_m, y_m).values,
        crs="EPSG:4326",
    )


WALK = WalkModel(
    speed_mps=1.0,
    thresholds_min=(5.0, 10.0),
    by_kind={"town": KindWalk(speed_mps=0.5, thresholds_min=(10.0, 20.0))},
)
STREET, TOWN = "329901001", "329901100"


@pytest.fixture
def line_case():
    net = WalkNetwork.from_arrays([X0, X0 + 1000.0], [Y0, Y0], [0], [1], crs="EPSG:32650")
    fac = facilities_frame([X0, X0 + 5000.0, X0], [Y0, Y0, Y0], ["meal", "meal", "meal"])
    fac.loc[2, "geometry"] = shapely.Point()  # no coordinates: skipped for coverage
    dem = demand_frame(
        [X0 + 120.0, X0 + 480.0, X0 + 450.0, X0 + 3000.0],
        [Y0 + 0.0, Y0 + 0.0, Y0 + 0.0, Y0 + 0.0],
        [10.0, 5.0, 20.0, 1.0],
        [2.0, 5.0, 4.0, 1.0],
        [STREET, STREET, TOWN, TOWN],
        ["street", "street", "town", "town"],
    )
    return net, fac, dem


def test_times_and_metrics_hand_checked(line_case):
    net, fac, dem = line_case
    result = compute_coverage(net, fac, dem, WALK, categories=["meal"])
    d = result.demand
    np.testing.assert_allclose(d["dist_m__meal"].to_numpy()[:3], [120.0, 480.0, 450.0], atol=0.01)
    assert np.isinf(d["dist_m__meal"].iloc[3])  # 2000 m off the network: not snapped
    np.testing.assert_allclose(d["time_min__meal"].to_numpy()[:3], [2.0, 8.0, 15.0], atol=1e-3)
    assert d["nearest__meal"].tolist() == ["f0", "f0", "f0", ""]
    assert d["snap_m"].iloc[3] == pytest.approx(2000.0, abs=0.01)

    m = result.township_metrics.set_index(["township_code", "threshold_min"])
    assert list(result.township_metrics.columns) == [
        "township_code",
        "category",
        "threshold_min",
        "pop",
        "pop60",
        "covered_pop",
        "covered_pop60",
        "share_pop",
        "share_pop60",
    ]
    # Street township: thresholds 5 and 10 min at 1 m/s.
    assert m.loc[(STREET, 5.0), ["covered_pop", "pop", "covered_pop60"]].tolist() == [10, 15, 2]
    assert m.loc[(STREET, 10.0), "share_pop"] == pytest.approx(1.0)
    # Town: thresholds 10 and 20 min at 0.5 m/s: the 450 m cell takes 15 min.
    assert m.loc[(TOWN, 10.0), ["covered_pop", "pop"]].tolist() == [0, 21]
    assert m.loc[(TOWN, 20.0), "share_pop"] == pytest.approx(20 / 21)
    assert (STREET, 20.0) not in m.index and (TOWN, 5.0) not in m.index

    area = result.area_metrics.set_index("threshold_min")
    assert area.loc[10.0, "covered_pop"] == 15.0 and area.loc[20.0, "covered_pop"] == 35.0

    # beyond each threshold of its kind: cell 1 at 5 min, cells 2 and 3 at 10, cell 3 at 20
    times = result.demand.set_index("cell_id")["time_min__meal"]
    kinds = result.demand.set_index("cell_id")["kind"]
    beyond = sorted(
        (t, cell)
        for cell, minutes in times.items()
        for t in WALK.for_kind(kinds[cell]).thresholds_min
        if not minutes <= t
    )
    assert beyond == [(5.0, 1), (10.0, 2), (10.0, 3), (20.0, 3)]

    assert result.unsnapped["facility_id"].tolist() == ["f1"]
    assert result.unsnapped["distance_m"].iloc[0] == pytest.approx(4000.0, abs=0.01)

    sa = result.service_areas
    assert sorted(sa["threshold_min"]) == [5.0, 10.0, 20.0] and sa.crs.equals("EPSG:4326")
    assert set(result.facility_areas["facility_id"]) == {"f0"}
    # 10 min uses the slowest speed with that threshold (town, 0.5 m/s): 300 m, along x.
    ten = sa.set_index("threshold_min").to_crs("EPSG:32650").loc[10.0, "geometry"]
    assert ten.bounds[2] - X0 == pytest.approx(300.0, abs=2.5)
    assert reach_m_for_threshold(WALK, 10.0) == 300.0 and reach_m_for_threshold(WALK, 5.0) == 300.0


def test_progress_and_missing_columns(line_case):
    net, fac, dem = line_case
    calls = []
    compute_coverage(
        net,
        fac,
        dem,
        WALK,
        categories=["meal", "none"],
        progress=lambda step, done, total: calls.append((step, done, total)),
        service_areas=False,
    )
    assert calls[0][1] == 0 and calls[-1][1] == calls[-1][2] == 5
    with pytest.raises(InputError, match="pop60"):
        compute_coverage(net, fac, dem.drop(columns="pop60"), WALK, categories=["meal"])
    with pytest.raises(InputError, match="to_crs"):
        compute_coverage(net, fac.to_crs("EPSG:32650"), dem, WALK, categories=["meal"])


def test_category_without_facilities_covers_nobody(line_case):
    net, fac, dem = line_case
    result = compute_coverage(net, fac, dem, WALK, categories=["columbarium"])
    assert np.isinf(result.demand["time_min__columbarium"]).all()
    assert (result.township_metrics["covered_pop"] == 0).all()
    assert result.service_areas.empty and result.facility_areas.empty


# --- properties on a random grid -------------------------------------------------------------

NET = grid_network(7, 7, spacing_m=110.0)
CELL_RNG = np.random.default_rng(11)
CELLS = demand_frame(
    CELL_RNG.uniform(X0 - 50, X0 + 710, 60),
    CELL_RNG.uniform(Y0 - 50, Y0 + 710, 60),
    CELL_RNG.integers(0, 50, 60),
    CELL_RNG.integers(0, 20, 60),
    np.where(np.arange(60) % 2 == 0, STREET, TOWN),
    np.where(np.arange(60) % 2 == 0, "street", "town"),
)
coords = st.tuples(st.floats(X0 - 40, X0 + 700), st.floats(Y0 - 40, Y0 + 700))
PROPERTY_SETTINGS = settings(
    max_examples=15, deadline=None, suppress_health_check=[HealthCheck.too_slow]
)


def covered(result) -> pd.Series:
    return result.township_metrics.set_index(["township_code", "category", "threshold_min"])[
        "covered_pop"
    ]


@PROPERTY_SETTINGS
@given(st.lists(coords, min_size=1, max_size=5), coords)
def test_adding_a_facility_never_lowers_coverage(points, extra):
    xs, ys = zip(*points, strict=True)
    before = compute_coverage(
        NET,
        facilities_frame(xs, ys, ["a"] * len(xs)),
        CELLS,
        WALK,
        categories=["a"],
        service_areas=False,
    )
    after = compute_coverage(
        NET,
        facilities_frame([*xs, extra[0]], [*ys, extra[1]], ["a"] * (len(xs) + 1)),
        CELLS,
        WALK,
        categories=["a"],
        service_areas=False,
    )
    assert (after.demand["time_min__a"] <= before.demand["time_min__a"] + 1e-9).all()
    assert (covered(after) >= covered(before)).all()


@PROPERTY_SETTINGS
@given(st.lists(coords, min_size=1, max_size=5), st.floats(1.0, 20.0), st.floats(0.0, 10.0))
def test_raising_a_threshold_never_lowers_coverage(points, low, step):
    xs, ys = zip(*points, strict=True)
    walk = WalkModel(thresholds_min=(low, low + step + 0.5))
    result = compute_coverage(
        NET,
        facilities_frame(xs, ys, ["a"] * len(xs)),
        CELLS,
        walk,
        categories=["a"],
        service_areas=False,
    )
    table = covered(result).unstack("threshold_min")
    assert (table[low + step + 0.5] >= table[low]).all()


@PROPERTY_SETTINGS
@given(st.lists(coords, min_size=1, max_size=6), st.randoms(use_true_random=False))
def test_row_order_changes_nothing(points, rnd):
    xs, ys = zip(*points, strict=True)
    cats = ["a" if i % 2 else "b" for i in range(len(xs))]
    fac = facilities_frame(xs, ys, cats)
    order_f = list(range(len(fac)))
    order_d = list(range(len(CELLS)))
    rnd.shuffle(order_f)
    rnd.shuffle(order_d)
    one = compute_coverage(NET, fac, CELLS, WALK, categories=["a", "b"], service_areas=False)
    two = compute_coverage(
        NET,
        fac.iloc[order_f],
        CELLS.iloc[order_d],
        WALK,
        categories=["a", "b"],
        service_areas=False,
    )
    cols = ["time_min__a", "time_min__b", "dist_m__a", "dist_m__b"]
    left = one.demand.set_index("cell_id").sort_index()[cols]
    right = two.demand.set_index("cell_id").sort_index()[cols]
    np.testing.assert_allclose(left.to_numpy(), right.to_numpy(), atol=1e-9)
    pd.testing.assert_frame_equal(one.township_metrics, two.township_metrics)


def test_dissolved_areas_without_facility_areas_equal_their_union():
    # overlapping facilities of two categories on the grid: the one-search dissolved area is
    # the union of the facilities' areas, up to the simplification of each polygon
    rng = np.random.default_rng(5)
    fac = facilities_frame(
        rng.uniform(X0, X0 + 660, 8), rng.uniform(Y0, Y0 + 660, 8), ["a", "b"] * 4
    )
    per_facility = compute_coverage(NET, fac, CELLS, WALK, categories=["a", "b"])
    dissolved = compute_coverage(NET, fac, CELLS, WALK, categories=["a", "b"], facility_areas=False)
    assert dissolved.facility_areas.empty and not per_facility.facility_areas.empty
    one = per_facility.service_areas.to_crs("EPSG:32650")
    two = dissolved.service_areas.to_crs("EPSG:32650")
    assert one[["category", "threshold_min"]].equals(two[["category", "threshold_min"]])
    for a, b in zip(one.geometry, two.geometry, strict=True):
        assert a.area > 10_000
        assert shapely.symmetric_difference(a, b).area < 0.01 * a.area
    pd.testing.assert_frame_equal(per_facility.township_metrics, dissolved.township_metrics)


def test_service_areas_only_for_the_pairs_asked():
    # the pipeline asks for the walks its maps show: those pairs, each exactly the area the
    # all-thresholds computation gives, in the order asked; a pair asked twice is built once
    rng = np.random.default_rng(7)
    fac = facilities_frame(
        rng.uniform(X0, X0 + 660, 6), rng.uniform(Y0, Y0 + 660, 6), ["a", "b"] * 3
    )
    every = compute_coverage(NET, fac, CELLS, WALK, categories=["a", "b"], facility_areas=False)
    times = compute_coverage(NET, fac, CELLS, WALK, categories=["a", "b"], service_areas=False)
    assert times.service_areas.empty and set(times.searches) == {"a", "b"}
    asked = [("b", 20.0), ("a", 5.0), ("b", 20.0)]
    some = with_service_areas(times, NET, asked)
    pairs = zip(some.service_areas["category"], some.service_areas["threshold_min"], strict=True)
    assert list(pairs) == [
        ("b", 20.0),
        ("a", 5.0),
    ]
    whole = every.service_areas.set_index(["category", "threshold_min"]).geometry
    for row in some.service_areas.itertuples():
        assert row.geometry.area > 0
        assert row.geometry.equals(whole[(row.category, row.threshold_min)])
    # asking again adds only what is new
    more = with_service_areas(some, NET, [("a", 5.0), ("a", 10.0)])
    assert len(more.service_areas) == 3
    assert more.service_areas.iloc[:2].geometry.equals(some.service_areas.geometry)


def test_recomputing_one_category_equals_recomputing_all():
    # siting re-runs only the sited category, reusing the demand's snaps and the rest
    rng = np.random.default_rng(11)
    fac = facilities_frame(
        rng.uniform(X0, X0 + 660, 6), rng.uniform(Y0, Y0 + 660, 6), ["a", "b"] * 3
    )
    extra = facilities_frame([X0 + 600.0], [Y0 + 50.0], ["a"], ids=["new"])
    more = pd.concat([fac, extra], ignore_index=True)
    base = compute_coverage(NET, fac, CELLS, WALK, categories=["a", "b"], service_areas=False)
    only_a = compute_coverage(
        NET,
        more,
        CELLS,
        WALK,
        categories=["a"],
        service_areas=False,
        demand_snaps=base.demand_snaps,
    )
    got = with_categories(base, only_a)
    full = compute_coverage(NET, more, CELLS, WALK, categories=["a", "b"], service_areas=False)
    assert not got.demand["time_min__a"].equals(base.demand["time_min__a"])  # it changed
    pd.testing.assert_frame_equal(got.demand, full.demand)
    order = ["category", "township_code", "threshold_min"]
    for mine, theirs in (
        (got.township_metrics, full.township_metrics),
        (got.area_metrics, full.area_metrics),
    ):
        key = [c for c in order if c in mine]
        pd.testing.assert_frame_equal(
            mine.sort_values(key).reset_index(drop=True),
            theirs.sort_values(key).reset_index(drop=True),
        )
    assert got.categories == ("a", "b")


# --- the walk model ---------------------------------------------------------------------------


def test_walk_model_per_kind_speed_thresholds_and_bounds():
    from lifecircle.errors import PlanError

    walk = WalkModel(
        by_kind={"town": KindWalk(speed_mps=0.8, thresholds_min=(15.0, 30.0), mode="walk+bike")}
    )
    assert walk.speed_mps == 1.0 and walk.thresholds_min == (5.0, 10.0, 15.0)
    np.testing.assert_allclose(
        walk.time_min([60.0, 60.0, np.inf], ["street", "town", ""]), [1.0, 1.25, np.inf]
    )
    assert walk.all_thresholds_min == (5.0, 10.0, 15.0, 30.0)
    assert walk.max_reach_m == pytest.approx(30 * 60 * 0.8)
    assert walk.for_kind("town").mode == "walk+bike" and walk.for_kind("street").speed_mps == 1.0
    with pytest.raises(PlanError, match="speed_mps"):
        WalkModel(speed_mps=0.0)
    with pytest.raises(PlanError, match="thresholds_min"):
        WalkModel(by_kind={"town": KindWalk(thresholds_min=())})
