"""What the maps show per target (coverage.views): walks per kind, clipped areas, cells beyond."""

from __future__ import annotations

import geopandas as gpd
import numpy as np
import pandas as pd
import pyproj
import pytest
import shapely
from conftest import X0, Y0, grid_network
from shapely.geometry import Point, box

from lifecircle.coverage.metrics import compute_coverage
from lifecircle.coverage.views import (
    kind_service_areas,
    overview_cells,
    pooled_cells,
    target_walks,
    uncovered_cells,
)
from lifecircle.coverage.walk import KindWalk, WalkModel

WALK = WalkModel(
    thresholds_min=(5.0, 10.0, 15.0),
    by_kind={"town": KindWalk(speed_mps=1.2, thresholds_min=(10.0, 15.0, 20.0))},
)


def gap_rows() -> pd.DataFrame:
    rows = []
    for code, kind in (("001", "street"), ("101", "town")):
        # a service circle judged at 10 minutes in streets and 20 in towns
        rows.append(
            {
                "target_id": "circle",
                "level": "township",
                "unit_code": code,
                "kind": kind,
                "category": "meal_point",
                "threshold_min": 10.0 if kind == "street" else 20.0,
            }
        )
        # a presence target: no walk of its own
        rows.append(
            {
                "target_id": "presence",
                "level": "township",
                "unit_code": code,
                "kind": kind,
                "category": "elder_care_centre",
                "threshold_min": np.nan,
            }
        )
        # staffing: no category, nothing to draw
        rows.append(
            {
                "target_id": "staff",
                "level": "township",
                "unit_code": code,
                "kind": kind,
                "category": "",
                "threshold_min": np.nan,
            }
        )
    # a village row of the circle at another walk must not count
    rows.append(
        {
            "target_id": "circle",
            "level": "village",
            "unit_code": "001201",
            "kind": "street",
            "category": "meal_point",
            "threshold_min": 5.0,
        }
    )
    return pd.DataFrame(rows)


def test_target_walks_take_the_judged_walk_else_the_kinds_longest():
    walks = target_walks(gap_rows(), WALK, ["street", "town"])
    got = {(r.target_id, r.kind): (r.category, r.threshold_min) for r in walks.itertuples()}
    assert got == {
        ("circle", "street"): ("meal_point", 10.0),
        ("circle", "town"): ("meal_point", 20.0),
        ("presence", "street"): ("elder_care_centre", 15.0),
        ("presence", "town"): ("elder_care_centre", 20.0),
    }
    assert list(pd.unique(walks["target_id"])) == ["circle", "presence"]  # plan order
    assert target_walks(pd.DataFrame(), WALK, ["street"]).empty


def test_areas_are_built_inside_each_kinds_townships():
    # a 4.4 km grid (four tiles of the area builder): streets west of the middle, towns east;
    # each kind's area is the whole county's area at its walk cut to its townships, built
    # without the tiles that do not meet them
    net = grid_network(41, 41, spacing_m=110.0)
    to_lonlat = pyproj.Transformer.from_crs("EPSG:32650", "EPSG:4326", always_xy=True)
    middle = X0 + 2200.0
    halves = [
        box(X0 - 100, Y0 - 100, middle, Y0 + 4500),
        box(middle, Y0 - 100, X0 + 4500, Y0 + 4500),
    ]
    townships = gpd.GeoDataFrame(
        {"code": ["001", "101"], "kind": ["street", "town"]}, geometry=halves, crs=32650
    ).to_crs(4326)
    xs, ys = np.array([300.0, 2100.0, 3900.0, 1000.0]), np.array([500.0, 2300.0, 4000.0, 3500.0])
    lon, lat = to_lonlat.transform(X0 + xs, Y0 + ys)
    facilities = gpd.GeoDataFrame(
        {"facility_id": ["a", "b", "c", "d"], "category": "meal_point"},
        geometry=gpd.points_from_xy(lon, lat),
        crs=4326,
    )
    cells = gpd.GeoDataFrame(
        {"cell_id": ["x"], "pop": [1.0], "pop60": [1.0], "township_code": ["001"]},
        geometry=gpd.points_from_xy(lon[:1], lat[:1]),
        crs=4326,
    )
    walks = target_walks(gap_rows(), WALK, ["street", "town"])
    times = compute_coverage(
        net, facilities, cells, WALK, categories=["meal_point"], service_areas=False
    )
    reported = []
    out = kind_service_areas(
        times, net, townships, walks, progress=lambda done, total: reported.append((done, total))
    )
    # one step per walk (two categories in two kinds), built or not
    assert reported == [(k, 4) for k in range(5)]
    # elder_care_centre has no facilities: no row, no error
    got = {(r.category, r.kind, r.threshold_min): r.geometry for r in out.itertuples()}
    assert set(got) == {("meal_point", "street", 10.0), ("meal_point", "town", 20.0)}
    whole = (
        compute_coverage(
            net, facilities, cells, WALK, categories=["meal_point"], facility_areas=False
        )
        .service_areas.set_index("threshold_min")
        .geometry
    )
    for (_, kind, minutes), area in got.items():
        township = townships.geometry[townships["kind"] == kind].iloc[0]
        expected = shapely.intersection(whole[minutes], township)
        assert area.area > 0.1 * township.area
        assert shapely.symmetric_difference(area, expected).area < 1e-6 * expected.area
    assert out.crs.to_epsg() == 4326


def test_uncovered_cells_beyond_each_kinds_walk():
    demand = gpd.GeoDataFrame(
        {
            "cell_id": [1, 2, 3, 4, 5],
            "kind": ["street", "street", "town", "town", "town"],
            "township_code": ["001", "001", "101", "101", "101"],
            "pop": [10.0, 10.0, 10.0, 10.0, 0.0],
            "pop60": [3.0, 3.0, 3.0, 3.0, 0.0],
            "time_min__meal_point": [9.0, 12.0, 19.0, np.inf, 50.0],
            "time_min__elder_care_centre": [16.0, np.nan, 21.0, 1.0, 50.0],
        },
        geometry=[Point(i, 0) for i in range(5)],
        crs=4326,
    )
    walks = target_walks(gap_rows(), WALK, ["street", "town"])
    out = uncovered_cells(demand, walks)
    got = {
        (r.category, r.kind, r.threshold_min): sorted(
            out[
                (out["category"] == r.category)
                & (out["kind"] == r.kind)
                & (out["threshold_min"] == r.threshold_min)
            ]["cell_id"]
        )
        for r in out.drop_duplicates(["category", "kind", "threshold_min"]).itertuples()
    }
    # meal: street cells beyond 10 min (cell 2), town cells beyond 20 (cell 4, unreachable);
    # the empty cell 5 is never listed; elder care: street beyond 15 (1, and 2 with no time)
    assert got == {
        ("meal_point", "street", 10.0): [2],
        ("meal_point", "town", 20.0): [4],
        ("elder_care_centre", "street", 15.0): [1, 2],
        ("elder_care_centre", "town", 20.0): [3],
    }
    assert np.isinf(out.loc[out["cell_id"] == 4, "time_min"]).all()
    assert out["pop60"].sum() == pytest.approx(15.0)


def test_pooled_cells_sum_each_block_of_a_walk_and_township():
    # 100 m cells in metres: four in one 500 m block (two townships), one in the next block
    to_lonlat = pyproj.Transformer.from_crs("EPSG:32650", "EPSG:4326", always_xy=True)
    xs = np.array([50.0, 150.0, 250.0, 350.0, 650.0])
    lon, lat = to_lonlat.transform(X0 + xs, np.full(5, Y0 + 50.0))
    cells = gpd.GeoDataFrame(
        {
            "category": "meal_point",
            "kind": "street",
            "threshold_min": 15.0,
            "cell_id": [1, 2, 3, 4, 5],
            "township_code": ["001", "001", "001", "002", "001"],
            "pop": [10.0, 20.0, 30.0, 40.0, 50.0],
            "pop60": [1.0, 0.0, 3.0, 4.0, 0.0],
            "time_min": [16.0, 18.0, 30.0, np.inf, 17.0],
        },
        geometry=gpd.points_from_xy(lon, lat),
        crs=4326,
    )
    pooled = pooled_cells(cells, 500.0).set_index("cell_id")
    assert sorted(pooled.index) == [1, 4, 5]
    assert pooled.loc[1, ["pop", "pop60", "time_min", "cells"]].tolist() == [60.0, 4.0, 16.0, 3]
    assert pooled.loc[4, "cells"] == 1 and pooled.loc[5, "pop60"] == 0.0
    # at the seniors' centre: (50 * 1 + 250 * 3) / 4 = 200 m
    x = pooled.to_crs(32650).geometry.x - X0
    assert x[1] == pytest.approx(200.0, abs=0.01) and x[5] == pytest.approx(650.0, abs=0.01)
    assert pooled["pop"].sum() == cells["pop"].sum()
    # a district's cells stay as they are
    same, block = overview_cells(cells)
    assert block is None and same is cells
