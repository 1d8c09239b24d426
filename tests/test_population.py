"""Tests for lifecircle.geo.population: rasters in several CRSs, tables, fallbacks."""

from __future__ import annotations

import geopandas as gpd
import numpy as np
import pandas as pd
import pyproj
import pytest
import rasterio
from affine import Affine
from hypothesis import example, given, settings
from hypothesis import strategies as st
from shapely.geometry import box

from lifecircle.errors import InputError
from lifecircle.geo.population import (
    NATIONAL_SENIOR_SHARE,
    PopulationSpec,
    demand_points,
    read_table,
)
from lifecircle.text import township_code

UTM = "EPSG:32650"
X0, Y0 = 680000.0, 3545000.0  # ≈118.9 E, 32.0 N in UTM 50N
TO_UTM = pyproj.Transformer.from_crs("EPSG:4326", UTM, always_xy=True)


def _zones(boxes_m, codes=None, names=None, **columns):
    """Zones from (x0, y0, x1, y1) boxes in metres relative to (X0, Y0), returned in WGS-84."""
    geoms = [box(X0 + a, Y0 + b, X0 + c, Y0 + d) for a, b, c, d in boxes_m]
    n = len(geoms)
    frame = gpd.GeoDataFrame(
        {
            "code": codes or [f"3299010{i:02d}" for i in range(1, n + 1)],
            "name": names or [f"乡镇{i}" for i in range(1, n + 1)],
            **columns,
        },
        geometry=geoms,
        crs=UTM,
    )
    return frame.to_crs("EPSG:4326")


def from_origin(west, north, xsize, ysize):
    """rasterio.transform.from_origin without affine's deprecated ``*`` operator."""
    return Affine(xsize, 0.0, west, 0.0, -ysize, north)


def _write_raster(path, bands, *, crs, transform, nodata=None):
    bands = np.asarray(bands, dtype="float32")
    if bands.ndim == 2:
        bands = bands[None]
    with rasterio.open(
        path,
        "w",
        driver="GTiff",
        width=bands.shape[2],
        height=bands.shape[1],
        count=bands.shape[0],
        dtype="float32",
        crs=crs,
        transform=transform,
        nodata=nodata,
    ) as dst:
        dst.write(bands)
    return path


def _utm_xy(frame):
    x, y = TO_UTM.transform(frame.geometry.x.to_numpy(), frame.geometry.y.to_numpy())
    return np.asarray(x) - X0, np.asarray(y) - Y0


# --- a 3×3 raster by hand ---------------------------------------------------------------------

HAND = np.array([[1, 2, -1], [0, 5, 6], [7, 8, 9]], dtype=float)  # -1 is nodata


@pytest.fixture
def hand_raster(tmp_path):
    seniors = HAND / 2
    seniors[0, 2] = -1
    return _write_raster(
        tmp_path / "hand.tif",
        [HAND, seniors],
        crs=UTM,
        transform=from_origin(X0, Y0 + 300, 100, 100),
        nodata=-1,
    )


def test_hand_raster_cells(hand_raster):
    zones = _zones([(-50, -50, 350, 350)])
    demand, warnings = demand_points(PopulationSpec(raster=hand_raster, seniors_band=2), zones)
    assert list(demand.columns) == ["cell_id", "pop", "pop60", "geometry"]
    assert demand.crs.to_epsg() == 4326
    x, y = _utm_xy(demand)
    x, y = np.round(x, 3), np.round(y, 3)
    got = np.array(sorted(zip(x, y, demand["pop"], demand["pop60"], strict=True)))
    # the 7 cells with people (not the 0 and not the nodata cell), at their centres
    expected = sorted(
        [
            (50, 250, 1, 0.5),
            (150, 250, 2, 1.0),
            (150, 150, 5, 2.5),
            (250, 150, 6, 3.0),
            (50, 50, 7, 3.5),
            (150, 50, 8, 4.0),
            (250, 50, 9, 4.5),
        ]
    )
    np.testing.assert_allclose(got, np.array(expected, dtype=float), atol=1e-3)
    assert demand["cell_id"].is_unique
    assert warnings == []
    assert demand.attrs["population_source"] == "raster"


def test_hand_raster_drops_cells_outside_and_reports_them(hand_raster):
    zones = _zones([(0, 0, 200, 300)])  # the two western columns
    demand, warnings = demand_points(PopulationSpec(raster=hand_raster, seniors_band=2), zones)
    assert demand["pop"].sum() == pytest.approx(1 + 2 + 5 + 7 + 8)
    assert len(demand) == 5
    assert any("边界外的 15 人未计入" in w for w in warnings)


def test_zone_without_raster_people_is_named(hand_raster):
    zones = _zones([(0, 0, 300, 300), (1000, 0, 1300, 300)], names=["甲街道", "远郊镇"])
    demand, warnings = demand_points(PopulationSpec(raster=hand_raster, seniors_band=2), zones)
    assert demand["pop"].sum() == pytest.approx(38)
    empty = [w for w in warnings if "没有人口" in w]
    assert len(empty) == 1
    assert empty[0].startswith("远郊镇（329901002）内人口栅格 hand.tif 没有人口")


def test_hand_raster_without_seniors_band(hand_raster):
    zones = _zones([(-50, -50, 350, 350)])
    demand, warnings = demand_points(
        PopulationSpec(raster=hand_raster, default_senior_share=0.2), zones
    )
    assert demand["pop60"].to_numpy() == pytest.approx(0.2 * demand["pop"].to_numpy())
    assert any("default_senior_share = 20.0%" in w for w in warnings)
    demand, warnings = demand_points(PopulationSpec(raster=hand_raster), zones)
    assert demand["pop60"].sum() == pytest.approx(NATIONAL_SENIOR_SHARE * 38)
    assert any("18.7%" in w for w in warnings)


def test_bad_share_band_and_file(hand_raster, tmp_path):
    zones = _zones([(-50, -50, 350, 350)])
    with pytest.raises(InputError, match="between 0 and 1"):
        demand_points(PopulationSpec(raster=hand_raster, default_senior_share=22), zones)
    with pytest.raises(InputError, match="band 3 does not exist"):
        demand_points(PopulationSpec(raster=hand_raster, seniors_band=3), zones)
    with pytest.raises(InputError, match="does not exist"):
        demand_points(PopulationSpec(raster=tmp_path / "nope.tif"), zones)
    far = _zones([(50000, 50000, 51000, 51000)])
    with pytest.raises(InputError, match="does not overlap"):
        demand_points(PopulationSpec(raster=hand_raster), far)


# --- totals preserved through reprojection ----------------------------------------------------


def _random_counts(shape, seed):
    rng = np.random.default_rng(seed)
    counts = rng.gamma(2.0, 20.0, shape)
    counts[rng.random(shape) < 0.2] = 0.0  # empty fields
    return counts


@pytest.mark.parametrize(
    ("crs", "make_transform", "shape"),
    [
        # WorldPop-like: 3 arc-seconds in degrees
        ("EPSG:4326", lambda: from_origin(118.905, 32.035, 1 / 1200, 1 / 1200), (30, 40)),
        # web mercator, 250 m (mercator metres) cells
        ("EPSG:3857", lambda: from_origin(13236500.0, 3766000.0, 250, 250), (12, 14)),
        # UTM with 30 m cells: resampled to 100 m
        (UTM, lambda: from_origin(X0 + 500, Y0 + 3000, 30, 30), (80, 90)),
        # UTM with 100 m cells: used as it is
        (UTM, lambda: from_origin(X0 + 500, Y0 + 3000, 100, 100), (25, 30)),
        # web mercator "100 m" cells are 85 m on the ground at 32 N: resampled
        ("EPSG:3857", lambda: from_origin(13236500.0, 3766000.0, 100, 100), (25, 30)),
    ],
    ids=["wgs84-3arcsec", "webmercator-250m", "utm-30m", "utm-100m", "webmercator-100m"],
)
def test_raster_totals_preserved(tmp_path, crs, make_transform, shape):
    total = _random_counts(shape, 1)
    seniors = total * 0.25
    transform = make_transform()
    path = _write_raster(
        tmp_path / "pop.tif", [total, seniors], crs=crs, transform=transform, nodata=-99999
    )
    # zones that cover the whole raster (with a margin), so every person must arrive
    with rasterio.open(path) as src:
        west, south, east, north = rasterio.warp.transform_bounds(src.crs, UTM, *src.bounds)
    zones = gpd.GeoDataFrame(
        {"code": ["329901001", "329901002"], "name": ["甲街道", "乙镇"]},
        geometry=[
            box(west - 800, south - 800, (west + east) / 2, north + 800),
            box((west + east) / 2, south - 800, east + 800, north + 800),
        ],
        crs=UTM,
    ).to_crs("EPSG:4326")
    demand, _ = demand_points(PopulationSpec(raster=path, seniors_band=2), zones)
    assert demand["pop"].sum() == pytest.approx(total.sum(), rel=0.005)
    assert demand["pop60"].sum() == pytest.approx(seniors.sum(), rel=0.005)
    assert (demand["pop"] > 0).all()
    # cells are on a ~100 m grid: nearest neighbours 100 m apart
    from scipy.spatial import cKDTree

    x, y = _utm_xy(demand)
    dist, _ = cKDTree(np.c_[x, y]).query(np.c_[x, y], k=2)
    assert np.median(dist[:, 1]) == pytest.approx(100, rel=0.1)


def test_raster_already_on_a_100m_grid_is_used_as_it_is(hand_raster, caplog):
    import logging

    with caplog.at_level(logging.INFO, logger="lifecircle.geo.population"):
        demand_points(PopulationSpec(raster=hand_raster), _zones([(-50, -50, 350, 350)]))
    assert "resampled" not in caplog.text
    mercator = _write_raster(
        hand_raster.parent / "m.tif",
        HAND,
        crs="EPSG:3857",
        transform=from_origin(13236500.0, 3766000.0, 100, 100),
        nodata=-1,
    )
    caplog.clear()
    with caplog.at_level(logging.INFO, logger="lifecircle.geo.population"):
        with rasterio.open(mercator) as src:
            west, south, east, north = rasterio.warp.transform_bounds(
                src.crs, "EPSG:4326", *src.bounds
            )
        zones = gpd.GeoDataFrame(
            {"code": ["329901001"], "name": ["甲"]},
            geometry=[box(west - 0.01, south - 0.01, east + 0.01, north + 0.01)],
            crs="EPSG:4326",
        )
        demand, _ = demand_points(PopulationSpec(raster=mercator), zones)
    assert "resampled" in caplog.text
    assert demand["pop"].sum() == pytest.approx(38, rel=0.005)


def test_nodata_and_nan_are_nobody(tmp_path):
    values = np.array([[np.nan, 3.0], [-3.4e38, 4.0]])
    path = _write_raster(
        tmp_path / "nan.tif", values, crs=UTM, transform=from_origin(X0, Y0 + 200, 100, 100)
    )
    demand, _ = demand_points(
        PopulationSpec(raster=path, default_senior_share=0.1), _zones([(-10, -10, 210, 210)])
    )
    assert sorted(demand["pop"]) == [3.0, 4.0]


# --- tables ------------------------------------------------------------------------------------


def _three_zones():
    return _zones(
        [(0, 0, 1000, 1000), (1000, 0, 2000, 1000), (2000, 0, 2500, 500)],
        codes=["329901001", "329901002", "329901003"],
        names=["甲街道", "乙镇", "丙乡"],
    )


def _nodes_in(boxes_m):
    to_wgs = pyproj.Transformer.from_crs(UTM, "EPSG:4326", always_xy=True)
    x = np.array([X0 + p[0] for p in boxes_m])
    y = np.array([Y0 + p[1] for p in boxes_m])
    lon, lat = to_wgs.transform(x, y)
    return np.asarray(lon), np.asarray(lat)


def test_table_spread_over_nodes_gb18030(tmp_path):
    table = pd.DataFrame(
        {
            "乡镇代码": ["329901001000", "329901002000", "329901999000"],
            "乡镇名称": ["甲街道", "乙镇", "不存在镇"],
            "常住人口": ["8,000", "3000", "10"],
            "60岁以上": ["2000", "900", "1"],
        }
    )
    path = tmp_path / "pop.csv"
    table.to_csv(path, index=False, encoding="gb18030")
    # four nodes in 甲, none in 乙, one outside every zone
    lon, lat = _nodes_in([(100, 100), (500, 500), (900, 100), (100, 900), (9000, 9000)])
    spec = PopulationSpec(
        table=path, table_code_field="乡镇代码", total_field="常住人口", seniors_field="60岁以上"
    )
    demand, warnings = demand_points(spec, _three_zones(), node_lon=lon, node_lat=lat)
    x, _ = _utm_xy(demand)
    in_a = x < 1000
    assert in_a.sum() == 4
    assert demand["pop"][in_a].to_numpy() == pytest.approx([2000] * 4)  # equal shares per node
    assert demand["pop60"][in_a].to_numpy() == pytest.approx([500] * 4)
    # 乙 has people but no node: spread over its 100 m grid (100 cells) and flagged
    in_b = (x > 1000) & (x < 2000)
    assert in_b.sum() == 100
    assert demand["pop"][in_b].sum() == pytest.approx(3000)
    assert demand["pop60"][in_b].sum() == pytest.approx(900)
    assert demand["pop"].sum() == pytest.approx(11000)
    joined = "\n".join(warnings)
    assert "乙镇（329901002）有人口 3,000 但其中没有路网节点" in joined
    assert "丙乡" in joined  # in the zones, not in the table
    assert "329901999" in joined  # in the table, not in the zones


def test_table_by_name_xlsx_without_network(tmp_path):
    path = tmp_path / "pop.xlsx"
    pd.DataFrame({"名称": [" 甲街道", "乙镇", "丙乡"], "人口": [1000, 500, 250]}).to_excel(
        path, index=False
    )
    spec = PopulationSpec(
        table=path, table_name_field="名称", total_field="人口", default_senior_share=0.3
    )
    demand, warnings = demand_points(spec, _three_zones(), cell_size_m=250)
    x, _ = _utm_xy(demand)
    assert ((x < 1000).sum(), ((x > 1000) & (x < 2000)).sum(), (x > 2000).sum()) == (16, 16, 4)
    assert demand["pop"][x > 2000].to_numpy() == pytest.approx([62.5] * 4)
    assert demand["pop60"].sum() == pytest.approx(0.3 * 1750)
    assert any("default_senior_share = 30.0%" in w for w in warnings)


def test_table_errors(tmp_path):
    path = tmp_path / "pop.csv"
    pd.DataFrame({"name": ["甲街道"], "pop": ["x"]}).to_csv(path, index=False)
    with pytest.raises(InputError, match=r"no column '人口'.*name, pop"):
        demand_points(
            PopulationSpec(table=path, table_name_field="name", total_field="人口"), _three_zones()
        )
    with pytest.raises(InputError, match="no table_code_field or table_name_field"):
        demand_points(PopulationSpec(table=path, total_field="pop"), _three_zones())
    demand, warnings = demand_points(
        PopulationSpec(table=path, table_name_field="name", total_field="pop"), _three_zones()
    )
    assert len(demand) == 0
    assert any("第 2 行" in w and "'x'" in w for w in warnings)


def test_read_table_encodings(tmp_path):
    frame = pd.DataFrame({"乡镇": ["甲街道"], "人口": ["12"]})
    for encoding in ("utf-8", "utf-8-sig", "gb18030"):
        path = tmp_path / f"t-{encoding}.csv"
        frame.to_csv(path, index=False, encoding=encoding)
        assert read_table(path).to_dict("list") == {"乡镇": ["甲街道"], "人口": ["12"]}


def test_township_code():
    assert township_code("320102001000") == "320102001"
    assert township_code(320102001.0) == "320102001"
    assert township_code(" 329901 ") == "329901"
    assert township_code(float("nan")) == ""


# --- no population data --------------------------------------------------------------------------


def test_no_population_uniform_over_nodes():
    lon, lat = _nodes_in([(100, 100), (1500, 500), (2100, 100), (9000, 9000)])
    demand, warnings = demand_points(None, _three_zones(), node_lon=lon, node_lat=lat)
    assert len(demand) == 3  # the node outside every zone is not demand
    assert demand["pop"].tolist() == [1.0, 1.0, 1.0]
    assert demand["pop60"].to_numpy() == pytest.approx([NATIONAL_SENIOR_SHARE] * 3)
    assert demand.attrs["estimate"] is True
    assert len(warnings) == 1 and warnings[0].startswith("未提供人口数据")
    assert "路网节点" in warnings[0]


def test_no_population_without_network_uses_grid():
    demand, warnings = demand_points(PopulationSpec(), _three_zones(), cell_size_m=500)
    assert len(demand) == 4 + 4 + 1
    assert "500 米网格" in warnings[0]


def test_zone_population_columns_are_used():
    zones = _zones(
        [(0, 0, 1000, 1000), (1000, 0, 2000, 1000)],
        population=[1200.0, 600.0],
        population_60=[300.0, np.nan],
    )
    lon, lat = _nodes_in([(100, 100), (200, 200), (300, 300), (1500, 500)])
    demand, warnings = demand_points(None, zones, node_lon=lon, node_lat=lat)
    assert demand["pop"].tolist() == pytest.approx([400, 400, 400, 600])
    assert demand["pop60"].tolist() == pytest.approx([100, 100, 100, 600 * NATIONAL_SENIOR_SHARE])
    assert demand.attrs["population_source"] == "zones"
    assert "population" in warnings[0]
    assert "乡镇边界文件中 1 个乡镇没有 60 岁及以上人口数据" in warnings[1]


# --- properties ----------------------------------------------------------------------------------


@settings(max_examples=15, deadline=None)
@given(
    counts=st.lists(st.floats(0, 1e5), min_size=3, max_size=3),
    nodes=st.lists(st.tuples(st.floats(1, 2499), st.floats(1, 499)), max_size=30),
)
def test_table_spreading_keeps_every_zone_total(counts, nodes):
    zones = _three_zones()
    zones = zones.assign(population=counts)  # the zones' own column, spread like a table
    lon, lat = _nodes_in(nodes)
    demand, _ = demand_points(None, zones, node_lon=lon, node_lat=lat, cell_size_m=250)
    x, _ = _utm_xy(demand)
    # A node on a shared boundary belongs to the first zone listed (the coordinates come back
    # from WGS-84 a hair off the line).
    zone_of = np.where(x <= 1000 + 1e-6, 0, np.where(x <= 2000 + 1e-6, 1, 2))
    for i, count in enumerate(counts):
        assert demand["pop"][zone_of == i].sum() == pytest.approx(count, rel=1e-9, abs=1e-6)
    assert (demand["pop"] > 0).all()


@settings(max_examples=10, deadline=None)
@given(
    lon0=st.floats(100, 125),
    lat0=st.floats(20, 45),
    cell_deg=st.sampled_from([1 / 2400, 1 / 1200, 1 / 600, 1 / 120]),
    shape=st.tuples(st.integers(1, 12), st.integers(1, 12)),
    seed=st.integers(0, 1000),
)
# a one-row raster of 1 km cells: GDAL's sum lost 13 % at the array's edge before padding
@example(lon0=100.0, lat0=20.0, cell_deg=1 / 120, shape=(1, 7), seed=1)
def test_geographic_raster_total_is_preserved(tmp_path_factory, lon0, lat0, cell_deg, shape, seed):
    counts = _random_counts(shape, seed) + 0.5  # nobody-cells aside, all positive
    path = _write_raster(
        tmp_path_factory.mktemp("r") / "pop.tif",
        counts,
        crs="EPSG:4326",
        transform=from_origin(lon0, lat0, cell_deg, cell_deg),
    )
    height, width = shape
    zone = box(
        lon0 - 0.02, lat0 - height * cell_deg - 0.02, lon0 + width * cell_deg + 0.02, lat0 + 0.02
    )
    zones = gpd.GeoDataFrame({"code": ["1"], "name": ["z"]}, geometry=[zone], crs="EPSG:4326")
    demand, _ = demand_points(PopulationSpec(raster=path, default_senior_share=0.2), zones)
    assert demand["pop"].sum() == pytest.approx(counts.sum(), rel=0.005)
    assert demand["pop60"].sum() == pytest.approx(0.2 * counts.sum(), rel=0.005)
