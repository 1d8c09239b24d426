"""The plan's coordinate-system rules: a layer without ``crs`` takes the detected system (with a
notice) or stops the run; a declared system the points contradict stops it unless
``crs_check = false``."""

from __future__ import annotations

import numpy as np
import pyproj
import pytest

from lifecircle.geo import crs
from lifecircle.layers.facilities import detect_coordinate_system, layer_system_issue


@pytest.fixture(scope="module")
def grid():
    """Street nodes every 40 m around (119.92, 32.46), and 40 facilities near nodes (WGS-84)."""
    to_lonlat = pyproj.Transformer.from_crs("EPSG:32650", "EPSG:4326", always_xy=True)
    x0, y0 = pyproj.Transformer.from_crs("EPSG:4326", "EPSG:32650", always_xy=True).transform(
        119.92, 32.46
    )
    gx, gy = np.meshgrid(np.arange(-2000, 2001, 40.0), np.arange(-2000, 2001, 40.0))
    lon, lat = (np.asarray(c) for c in to_lonlat.transform(x0 + gx.ravel(), y0 + gy.ravel()))
    rng = np.random.default_rng(5)
    pick = rng.choice(lon.size, 40, replace=False)
    jitter = rng.uniform(-1e-4, 1e-4, (2, 40))
    return (lon, lat), (lon[pick] + jitter[0], lat[pick] + jitter[1])


@pytest.mark.parametrize("actual", ["wgs84", "gcj02", "bd09"])
def test_layer_without_crs_takes_the_detected_system_with_a_notice(grid, actual):
    nodes, true = grid
    raw = crs.from_wgs84(*true, actual)  # read as WGS-84: the points are the raw values
    assert detect_coordinate_system(*raw, *nodes)[0] == actual
    system, notice, error = layer_system_issue(*raw, None, *nodes, layer_name="助餐点.csv")
    assert (system, error) == (actual, None)
    assert "助餐点.csv" in notice and "没有设置坐标系" in notice


def test_layer_without_crs_stops_when_detection_is_not_confident(grid):
    nodes, true = grid
    # three points 5 km from every road: nothing can be told
    far = (true[0][:3] + 0.05, true[1][:3] + 0.05)
    system, notice, error = layer_system_issue(*far, None, *nodes, layer_name="x.csv")
    assert system is None and notice is None
    assert "x.csv" in error and 'crs = "wgs84"' in error and "gcj02" in error
    # too few points is not confident either
    assert layer_system_issue(true[0][:2], true[1][:2], None, *nodes, layer_name="x.csv")[2]


def test_declared_system_contradicted_fails_unless_crs_check_is_false(grid):
    nodes, true = grid
    raw = crs.from_wgs84(*true, "gcj02")  # Amap coordinates declared as WGS-84
    system, notice, error = layer_system_issue(*raw, "wgs84", *nodes, layer_name="x.csv")
    assert system is None and 'crs = "gcj02"' in error and "crs_check = false" in error
    system, notice, error = layer_system_issue(
        *raw, "wgs84", *nodes, layer_name="x.csv", crs_check=False
    )
    assert (system, error) == ("wgs84", None) and "crs_check = false" in notice
    # a declaration the points agree with passes silently
    assert layer_system_issue(*true, "wgs84", *nodes, layer_name="x.csv") == ("wgs84", None, None)
