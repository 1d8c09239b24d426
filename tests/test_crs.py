"""Coordinate systems: published test vectors, round trips, projected and CGCS2000 inputs."""

from __future__ import annotations

import math

import numpy as np
import pyproj
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from lifecircle.errors import InputError
from lifecircle.geo import crs


def _metres(lon1, lat1, lon2, lat2):
    geod = pyproj.Geod(ellps="WGS84")
    _, _, dist = geod.inv(
        np.atleast_1d(lon1), np.atleast_1d(lat1), np.atleast_1d(lon2), np.atleast_1d(lat2)
    )
    return np.asarray(dist)


def test_amap_vector_wgs84_to_gcj02_within_5_cm():
    lon, lat = crs.wgs84_to_gcj02(116.481499, 39.990475)
    assert _metres(lon, lat, 116.487585177952, 39.991754014757)[0] < 0.05


def test_gcj02_to_bd09_vector_within_1_m():
    lon, lat = crs.gcj02_to_bd09(116.42703, 39.90245)
    assert _metres(lon, lat, 116.43351, 39.90851)[0] < 1.0


def test_gcj02_inverse_of_amap_vector():
    lon, lat = crs.gcj02_to_wgs84(116.487585177952, 39.991754014757)
    assert _metres(lon, lat, 116.481499, 39.990475)[0] < 0.05


def test_fast_offset_equals_textbook_formula():
    rng = np.random.default_rng(1)
    lon = rng.uniform(72.1, 137.8, 50_000)
    lat = rng.uniform(0.9, 55.8, 50_000)
    fast = crs._gcj02_offset(lon, lat)
    slow = crs._gcj02_offset_reference(lon, lat)
    np.testing.assert_allclose(fast[0], slow[0], rtol=0, atol=1e-12)
    np.testing.assert_allclose(fast[1], slow[1], rtol=0, atol=1e-12)


def test_offset_is_hundreds_of_metres_in_china():
    # the reason for all this: GCJ-02 is 100-700 m off, more than a 5-minute walk
    lon, lat = crs.wgs84_to_gcj02(119.9, 32.45)
    assert 100 < _metres(lon, lat, 119.9, 32.45)[0] < 700


def test_inverse_beats_one_step_subtraction():
    # the naive inverse (subtract the offset at the GCJ point) is metres off; ours is not
    rng = np.random.default_rng(7)
    lon_w = rng.uniform(100.0, 122.0, 2000)
    lat_w = rng.uniform(22.0, 40.0, 2000)
    lon_g, lat_g = crs.wgs84_to_gcj02(lon_w, lat_w)
    d_lon, d_lat = crs._gcj02_offset(lon_g, lat_g)
    naive = _metres(lon_g - d_lon, lat_g - d_lat, lon_w, lat_w)
    ours = _metres(*crs.gcj02_to_wgs84(lon_g, lat_g), lon_w, lat_w)
    assert naive.max() > 1.0
    assert ours.max() < 0.01


china_lon = st.floats(min_value=73.5, max_value=134.7)
china_lat = st.floats(min_value=18.2, max_value=53.5)


@settings(max_examples=100, deadline=None)
@given(china_lon, china_lat)
def test_round_trip_wgs_gcj_wgs_inside_china(lon, lat):
    back = crs.gcj02_to_wgs84(*crs.wgs84_to_gcj02(lon, lat))
    assert _metres(*back, lon, lat)[0] < 0.5


@settings(max_examples=100, deadline=None)
@given(china_lon, china_lat)
def test_round_trip_wgs_bd_wgs_inside_china(lon, lat):
    back = crs.bd09_to_wgs84(*crs.wgs84_to_bd09(lon, lat))
    assert _metres(*back, lon, lat)[0] < 0.5


@settings(max_examples=100, deadline=None)
@given(st.floats(min_value=-179.0, max_value=179.0), st.floats(min_value=-80.0, max_value=80.0))
def test_identity_outside_china(lon, lat):
    if not crs.out_of_china(lon, lat):
        lon = lon - 180.0 if lon > 0 else lon + 180.0  # move it out of the box
        if not crs.out_of_china(lon, lat):
            return
    for forward, inverse in ((crs.wgs84_to_gcj02, crs.gcj02_to_wgs84),):
        assert tuple(map(float, forward(lon, lat))) == (lon, lat)
        assert tuple(map(float, inverse(lon, lat))) == (lon, lat)


def test_vectorised_shapes_and_nan_pass_through():
    lon = np.array([[116.4, np.nan], [121.47, 2.35]])
    lat = np.array([[39.9, 31.2], [31.23, 48.85]])
    out_lon, out_lat = crs.gcj02_to_wgs84(lon, lat)
    assert out_lon.shape == (2, 2)
    assert np.isnan(out_lon[0, 1])
    assert (out_lon[1, 1], out_lat[1, 1]) == (2.35, 48.85)  # Paris: identity
    single = crs.gcj02_to_wgs84(121.47, 31.23)
    assert math.isclose(float(single[0]), out_lon[1, 0], abs_tol=1e-12)


def test_cgcs2000_is_taken_as_wgs84():
    lon, lat = crs.to_wgs84([118.78, 118.80], [32.04, 32.06], "cgcs2000")
    np.testing.assert_array_equal(lon, [118.78, 118.80])
    np.testing.assert_array_equal(lat, [32.04, 32.06])
    assert crs.normalise_system("EPSG:4490") == "cgcs2000"


@pytest.mark.parametrize("epsg", ["EPSG:4547", "EPSG:32650", "EPSG:4549"])
def test_projected_epsg_round_trip(epsg):
    lon = np.array([114.3, 116.0, 118.9])
    lat = np.array([30.6, 35.0, 32.1])
    x, y = crs.from_wgs84(lon, lat, epsg)
    assert np.all(np.abs(x) > 1000)  # metres, not degrees
    back_lon, back_lat = crs.to_wgs84(x, y, epsg)
    assert _metres(back_lon, back_lat, lon, lat).max() < 0.01


def test_projected_input_matches_pyproj():
    # CGCS2000 / 3-degree Gauss-Kruger CM 114E, as planners' CAD exports use
    x, y = 500000.0, 3_400_000.0
    expected = pyproj.Transformer.from_crs("EPSG:4547", "EPSG:4326", always_xy=True).transform(x, y)
    lon, lat = crs.to_wgs84(x, y, "EPSG:4547")
    assert math.isclose(float(lon), expected[0], abs_tol=1e-9)
    assert math.isclose(float(lon), 114.0, abs_tol=1e-6)  # on the central meridian
    assert math.isclose(float(lat), expected[1], abs_tol=1e-9)


@pytest.mark.parametrize(
    ("given", "expected"),
    [
        ("GCJ-02", "gcj02"),
        ("高德", "gcj02"),
        ("百度", "bd09"),
        ("bd09ll", "bd09"),
        ("WGS 84", "wgs84"),
        ("epsg:32650", "EPSG:32650"),
    ],
)
def test_normalise_system(given, expected):
    assert crs.normalise_system(given) == expected


def test_unknown_system_names_the_choices():
    with pytest.raises(InputError, match="gcj02"):
        crs.normalise_system("mars")


def test_metric_crs_for_picks_utm_zone():
    assert crs.metric_crs_for([119.9, 119.95], [32.4, 32.5]).to_epsg() == 32650
    with pytest.raises(InputError):
        crs.metric_crs_for([np.nan], [np.nan])


def test_inverse_meets_its_tolerance_everywhere_in_china():
    rng = np.random.default_rng(11)
    lon = rng.uniform(72.1, 137.8, 100_000)
    lat = rng.uniform(0.9, 55.8, 100_000)
    back_lon, back_lat = crs.gcj02_to_wgs84(*crs.wgs84_to_gcj02(lon, lat))
    assert np.abs(back_lon - lon).max() < 1e-8  # the default tol_deg, about 1 mm
    assert np.abs(back_lat - lat).max() < 1e-8
    # a tighter tolerance is honoured too (more float64 steps)
    back_lon, back_lat = crs.gcj02_to_wgs84(*crs.wgs84_to_gcj02(lon, lat), tol_deg=1e-12)
    assert np.abs(back_lon - lon).max() < 1e-11
