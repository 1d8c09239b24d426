"""Facility registers: every file kind, every kind of bad row, CRS check, locating."""

from __future__ import annotations

import datetime as dt
import re
from pathlib import Path

import geopandas as gpd
import numpy as np
import openpyxl
import pyproj
import pytest
import shapely

from lifecircle.errors import InputError
from lifecircle.geo import crs
from lifecircle.layers.categories import load_registry
from lifecircle.layers.facilities import (
    FACILITY_COLUMNS,
    LayerSpec,
    check_coordinate_system,
    locate_facilities,
    normalise_place_name,
    read_register,
)
from lifecircle.layers.rejects import REJECT_COLUMNS

REGISTRY = load_registry()
HEADER = "名称,类型,地址,经度,纬度,床位数,护理型床位,所属街道,开业年份,建筑面积（㎡）,志愿服务站点"
GOOD_ROWS = [
    "青石综合养老服务中心,综合性养老服务中心,青石路1号,119.9100,32.4600,120,90,青石街道,2021,3000,是",
    "柳岸日间照料中心,日间照料中心,柳岸路2号,119.9400,32.4700,20,,柳岸街道,2023年5月,400,否",
]


def _metres(lon1, lat1, lon2, lat2):
    return pyproj.Geod(ellps="WGS84").inv(lon1, lat1, lon2, lat2)[2]


def _csv(
    tmp_path: Path,
    rows: list[str],
    *,
    name: str = "养老服务设施.csv",
    encoding: str = "utf-8",
    header: str = HEADER,
) -> Path:
    path = tmp_path / name
    path.write_bytes(("\n".join([header, *rows]) + "\n").encode(encoding))
    return path


def _read_all(path: Path, category: str = "elder_care_centre", **kwargs):
    """``(facilities, rejected, warnings)`` of one register."""
    return read_register(LayerSpec(category=category, path=path, **kwargs), REGISTRY)


def _read(path: Path, category: str = "elder_care_centre", **kwargs):
    frame, rejects, _ = _read_all(path, category, **kwargs)
    return frame, rejects


# ------------------------------------------------------------------ file kinds


@pytest.mark.parametrize("encoding", ["utf-8", "utf-8-sig", "gbk", "gb18030"])
def test_csv_in_any_encoding_gives_the_contract_frame(tmp_path, encoding):
    frame, rejects = _read(_csv(tmp_path, GOOD_ROWS, encoding=encoding))
    assert tuple(frame.columns) == FACILITY_COLUMNS
    assert tuple(rejects.columns) == REJECT_COLUMNS and rejects.empty
    assert frame.crs == "EPSG:4326"
    first = frame.iloc[0]
    assert first["name"] == "青石综合养老服务中心"
    assert first["facility_id"] == "养老服务设施:2" and first["source_row"] == 2
    assert first["source_file"] == "养老服务设施.csv" and first["layer"] == "养老服务设施"
    assert first["subtype"] == "comprehensive" and frame.iloc[1]["subtype"] == "day_care"
    assert (first["beds"], first["nursing_beds"], first["floor_area_m2"]) == (120, 90, 3000)
    assert np.isnan(frame.iloc[1]["nursing_beds"])
    assert list(frame["opened"]) == [2021, 2023]
    assert list(frame["services"]) == ["volunteer_station", ""]
    assert list(frame["stated_township"]) == ["青石街道", "柳岸街道"]
    assert frame.geometry.iloc[0].equals(shapely.Point(119.91, 32.46))


@pytest.mark.parametrize("system", ["gcj02", "bd09"])
def test_coordinates_are_converted_to_wgs84(tmp_path, system):
    lon_w, lat_w = 119.9100, 32.4600
    raw_lon, raw_lat = crs.from_wgs84(lon_w, lat_w, system)
    row = f"甲中心,,,{float(raw_lon):.8f},{float(raw_lat):.8f},,,,,,"
    frame, _ = _read(_csv(tmp_path, [row]), crs=system)
    point = frame.geometry.iloc[0]
    assert _metres(point.x, point.y, lon_w, lat_w) < 0.01
    assert _metres(float(raw_lon), float(raw_lat), lon_w, lat_w) > 100  # it really moved


def test_projected_xy_columns_in_metres(tmp_path):
    x, y = crs.from_wgs84(119.91, 32.46, "EPSG:4549")  # CGCS2000 3-degree GK CM 120E
    path = _csv(tmp_path, [f"甲,{float(x):.3f},{float(y):.3f}"], header="名称,X坐标,Y坐标")
    frame, rejects = _read(path, crs="EPSG:4549")
    assert rejects.empty
    assert _metres(frame.geometry.x[0], frame.geometry.y[0], 119.91, 32.46) < 0.01


def test_xlsx_with_title_row_uses_excel_row_numbers(tmp_path):
    path = tmp_path / "养老服务设施.xlsx"
    book = openpyxl.Workbook()
    ws = book.active
    ws.title = "名录"
    ws.append(["示范区养老服务设施名录（2025年）"])
    ws.append(["序号", "机构名称", "类型", "经度", "纬度", "床位数（张）", "开业时间"])
    ws.append([1, "甲养老院", "养老机构", 119.91, 32.46, 50, dt.datetime(2019, 6, 1)])
    ws.append([2, "乙养老院", "养老机构", 119.92, 32.47, "约50", 2020])
    ws.append([3, "丙服务站", "居家养老服务站", 119.93, 32.48, "30张", None])
    book.save(path)
    frame, rejects = _read(path)
    assert list(frame["source_row"]) == [3, 5]
    assert list(frame["beds"]) == [50, 30]
    assert frame["opened"].iloc[0] == 2019 and np.isnan(frame["opened"].iloc[1])
    assert list(frame["subtype"]) == ["institution", "home_care_station"]
    assert rejects["row"].tolist() == [4]
    assert rejects["reason"].iloc[0] == "养老服务设施.xlsx 第4行：床位数（张） '约50' 不是数字"
    assert "数字" in rejects["fix"].iloc[0]


def _points_frame(crs_name="EPSG:4326"):
    frame = gpd.GeoDataFrame(
        {
            "name": ["甲骨灰堂", "乙公墓", "丙立体式骨灰安放设施"],
            "type": ["骨灰堂", "公益性公墓", ""],
            "township": ["白鹭镇", "稻香镇", "青山镇"],
        },
        geometry=[
            shapely.Point(119.91, 32.46),
            shapely.Point(119.92, 32.47),
            shapely.Polygon([(119.93, 32.48), (119.931, 32.48), (119.931, 32.481)]),
        ],
        crs="EPSG:4326",
    )
    return frame.to_crs(crs_name)


def test_geojson_points_polygons_and_subtypes(tmp_path):
    path = tmp_path / "columbaria.geojson"
    _points_frame().to_file(path, driver="GeoJSON")
    frame, rejects, warnings = _read_all(path, category="columbarium")
    assert rejects.empty and len(frame) == 3
    assert list(frame["subtype"]) == ["hall", "cemetery", "vertical"]  # last from the name
    assert list(frame["source_row"]) == [1, 2, 3]
    assert frame.geometry.iloc[2].geom_type == "Point"  # polygon -> a point inside it
    assert any("不是点" in w for w in warnings)


def test_geopackage_layer_in_a_projected_crs_is_reprojected(tmp_path):
    path = tmp_path / "facilities.gpkg"
    _points_frame("EPSG:32650").to_file(path, layer="columbaria", driver="GPKG")
    _points_frame().to_file(path, layer="other", driver="GPKG")
    frame, rejects = _read(path, category="columbarium", layer_name="columbaria")
    assert rejects.empty
    assert frame["layer"].iloc[0] == "facilities/columbaria"
    assert _metres(frame.geometry.x[0], frame.geometry.y[0], 119.91, 32.46) < 0.01


def test_geojson_in_gcj02_labelled_wgs84_is_converted(tmp_path):
    lon_g, lat_g = crs.wgs84_to_gcj02(119.91, 32.46)
    path = tmp_path / "a.geojson"
    gpd.GeoDataFrame(
        {"名称": ["甲"]}, geometry=[shapely.Point(float(lon_g), float(lat_g))], crs="EPSG:4326"
    ).to_file(path, driver="GeoJSON")
    frame, _ = _read(path, crs="gcj02")
    assert _metres(frame.geometry.x[0], frame.geometry.y[0], 119.91, 32.46) < 0.01


@pytest.mark.parametrize("keep_cpg", [True, False])
def test_gbk_shapefile_with_or_without_cpg(tmp_path, keep_cpg):
    path = tmp_path / "社工站.shp"
    gdf = gpd.GeoDataFrame(
        {"站点名称": ["青石街道社工站", "荷塘村社工室"], "所属街道": ["青石街道", "稻香镇"]},
        geometry=[shapely.Point(119.91, 32.46), shapely.Point(119.92, 32.47)],
        crs="EPSG:4326",
    )
    gdf.to_file(path, encoding="gbk")
    raw = path.with_suffix(".dbf").read_bytes()
    assert "青石街道社工站".encode("gbk") in raw  # really GBK on disk
    cpg = path.with_suffix(".cpg")
    if keep_cpg:
        assert cpg.exists()
    else:
        cpg.unlink(missing_ok=True)
    frame, rejects = _read(path, category="social_work_station")
    assert rejects.empty
    assert list(frame["name"]) == ["青石街道社工站", "荷塘村社工室"]
    assert list(frame["subtype"]) == ["station", "room"]
    assert list(frame["stated_township"]) == ["青石街道", "稻香镇"]
    # an explicit encoding setting is honoured too
    frame, _ = _read(path, category="social_work_station", encoding="gbk")
    assert frame["name"].iloc[1] == "荷塘村社工室"


# ------------------------------------------------------------------ bad rows


def test_every_bad_row_is_reported_with_its_line_number(tmp_path):
    rows = [
        *GOOD_ROWS,  # lines 2, 3
        ",日间照料中心,,119.95,32.47,,,,,,",  # 4 empty name
        "甲站,,,,,,,,,,",  # 5 no coords, no township
        "乙站,,,,,,,东湖街道,,,",  # 6 kept: township given
        "丙站,,,119.95,,,,,,,",  # 7 latitude missing
        "丁站,,,abc,32.47,,,,,,",  # 8 not a number
        "戊站,,,32.47,121.4,,,,,,",  # 9 swapped
        "己站,,,119.95,132.47,,,,,,",  # 10 latitude > 90
        "庚站,,,2.35,48.85,,,,,,",  # 11 Paris
        "辛站,,,119.96,32.48,约50,,,,,",  # 12 beds not a number
        "青石综合养老服务中心,,,119.91003,32.46003,,,,,,",  # 13 duplicate of 2
        "柳岸日间照料中心,,,119.9410,32.4700,,,,,,",  # 14 same name, 94 m
        "壬站,,,119.97,32.49,,,,未知,,",  # 15 opened not a year
        "癸站,,,119.97,32.49,-5,,,,,",  # 16 negative beds
        "乙站,,,,,,,东湖街道,,,",  # 17 duplicate of 6
    ]
    frame, rejects, warnings = _read_all(_csv(tmp_path, rows, name="养老服务设施.csv"))
    by_row = dict(zip(rejects["row"], rejects["reason"], strict=True))
    fixes = dict(zip(rejects["row"], rejects["fix"], strict=True))
    assert sorted(by_row) == [4, 5, 7, 8, 9, 10, 11, 12, 13, 15, 16, 17]
    assert sorted(frame["source_row"]) == [2, 3, 6, 14]
    assert by_row[4] == "养老服务设施.csv 第4行：名称为空"
    assert "没有填写所属街道" in by_row[5]
    assert by_row[7].endswith("纬度为空")
    assert by_row[8] == "养老服务设施.csv 第8行：经度 'abc' 不是数字"
    assert by_row[9] == "养老服务设施.csv 第9行：纬度 '121.4' 不是纬度——经度和纬度是否填反？"
    assert "经度和纬度是否填反" in fixes[9]
    assert "不是纬度" in by_row[10]
    assert "不在中国境内" in by_row[11]
    assert "'约50' 不是数字" in by_row[12]
    assert "与第2行重复" in by_row[13] and "删除重复行" in fixes[13]
    assert "不是年份" in by_row[15]
    assert "负数" in by_row[16]
    assert "与第6行重复" in by_row[17]
    assert rejects.set_index("row").loc[9, "name"] == "戊站"
    assert all(rejects["fix"].str.len() > 0)
    kept = frame.set_index("source_row")
    assert kept.loc[6, "geometry"] is None and kept.loc[6, "stated_township"] == "东湖街道"
    assert any("没有坐标" in w for w in warnings)


def test_a_row_with_several_problems_lists_them_all(tmp_path):
    path = _csv(tmp_path, [",,,abc,,x,,,,,"])
    _, rejects = _read(path)
    reason = rejects["reason"].iloc[0]
    assert "名称为空" in reason and "'abc' 不是数字" in reason and "纬度为空" in reason
    assert "'x' 不是数字" in reason


def test_empty_register_gives_empty_frames(tmp_path):
    frame, rejects = _read(_csv(tmp_path, []))
    assert frame.empty and rejects.empty
    assert tuple(frame.columns) == FACILITY_COLUMNS


def test_dms_and_unit_suffixes_are_read(tmp_path):
    path = _csv(tmp_path, ["甲,119°54′36″,32°27′36″,1,200㎡"], header="名称,经度,纬度,床位,面积")
    frame, rejects = _read(path)
    assert rejects.empty
    assert frame.geometry.x[0] == pytest.approx(119.91) and frame.geometry.y[0] == pytest.approx(
        32.46
    )
    assert frame["floor_area_m2"][0] == 200


def test_column_override_and_default_subtype(tmp_path):
    path = _csv(tmp_path, ["甲室,旧,119.91,32.46"], header="单位名称,名称,经度,纬度")
    frame, _, _ = read_register(
        LayerSpec("social_work_station", path, columns={"name": "单位名称"}, subtype="room"),
        REGISTRY,
    )
    assert frame["name"][0] == "甲室" and frame["subtype"][0] == "room"


def test_missing_name_or_coordinate_columns_raise_with_the_fix(tmp_path):
    with pytest.raises(InputError, match=r"no name column.*columns = \{name"):
        _read(_csv(tmp_path, ["1,2"], header="经度,纬度"))
    with pytest.raises(InputError, match="no 纬度 column"):
        _read(_csv(tmp_path, ["甲,2"], header="名称,经度"))


def test_plan_added_category_reads_with_its_subtypes(tmp_path):
    registry = load_registry(
        {
            "elder_canteen_van": {
                "name_zh": "流动助餐车",
                "subtypes": {"electric": {"name_zh": "电动助餐车"}},
            }
        }
    )
    path = _csv(tmp_path, ["一号车,电动助餐车,119.91,32.46"], header="名称,类型,经度,纬度")
    frame, _, _ = read_register(LayerSpec("elder_canteen_van", path), registry)
    assert frame["category"][0] == "elder_canteen_van" and frame["subtype"][0] == "electric"


# ------------------------------------------------------------------ coordinate-system check


@pytest.fixture(scope="module")
def grid_nodes():
    # a street grid with nodes every 40 m around (119.92, 32.46)
    to_lonlat = pyproj.Transformer.from_crs("EPSG:32650", "EPSG:4326", always_xy=True)
    x0, y0 = pyproj.Transformer.from_crs("EPSG:4326", "EPSG:32650", always_xy=True).transform(
        119.92, 32.46
    )
    gx, gy = np.meshgrid(np.arange(-2000, 2001, 40.0), np.arange(-2000, 2001, 40.0))
    lon, lat = to_lonlat.transform(x0 + gx.ravel(), y0 + gy.ravel())
    return np.asarray(lon), np.asarray(lat)


@pytest.fixture(scope="module")
def true_points(grid_nodes):
    rng = np.random.default_rng(3)
    pick = rng.choice(grid_nodes[0].size, 40, replace=False)
    # facilities 0-15 m from a node: jitter in degrees (~1e-5 deg = 1 m)
    jitter = rng.uniform(-1e-4, 1e-4, (2, 40))
    return grid_nodes[0][pick] + jitter[0], grid_nodes[1][pick] + jitter[1]


def test_correct_system_gives_no_warning(grid_nodes, true_points):
    assert check_coordinate_system(*true_points, "wgs84", *grid_nodes) is None
    assert check_coordinate_system(*true_points, "cgcs2000", *grid_nodes) is None


@pytest.mark.parametrize("actual", ["gcj02", "bd09"])
def test_amap_or_baidu_points_declared_wgs84_are_caught(grid_nodes, true_points, actual):
    raw = crs.from_wgs84(*true_points, actual)  # what the register holds
    # read as WGS-84 (wrong): the converted points are the raw values
    warning = check_coordinate_system(*raw, "wgs84", *grid_nodes, layer_name="助餐点.csv")
    assert warning is not None
    assert "助餐点.csv" in warning and "WGS-84" in warning and f'crs = "{actual}"' in warning


def test_wgs84_points_declared_gcj02_are_caught(grid_nodes, true_points):
    # the register holds WGS-84 but the plan says gcj02: conversion moved them off the grid
    converted = crs.gcj02_to_wgs84(*true_points)
    warning = check_coordinate_system(*converted, "gcj02", *grid_nodes, layer_name="x.csv")
    assert warning is not None and 'crs = "wgs84"' in warning


def test_swapped_columns_are_caught(grid_nodes, true_points):
    lon, lat = true_points
    warning = check_coordinate_system(lat, lon, "wgs84", *grid_nodes, layer_name="x.csv")
    assert warning is not None and "填反" in warning


def test_check_is_silent_for_projected_or_too_few_points(grid_nodes, true_points):
    raw = crs.from_wgs84(*true_points, "gcj02")
    assert check_coordinate_system(raw[0][:2], raw[1][:2], "wgs84", *grid_nodes) is None
    assert check_coordinate_system(*raw, "EPSG:32650", *grid_nodes) is None
    assert check_coordinate_system(*raw, "wgs84", [], []) is None


def test_scattered_points_far_from_any_network_give_no_warning(grid_nodes):
    # points 5 km away from the grid: no system fits; no advice is better than wrong advice
    lon, lat = grid_nodes
    assert check_coordinate_system(lon[:30] + 0.08, lat[:30] + 0.08, "wgs84", lon, lat) is None


# ------------------------------------------------------------------ locating


@pytest.fixture()
def townships():
    return gpd.GeoDataFrame(
        {"code": ["329901001", "329901100"], "name": ["青石街道", "白鹭镇"]},
        geometry=[
            shapely.box(119.90, 32.45, 119.93, 32.48),
            shapely.box(119.93, 32.45, 119.96, 32.48),
        ],
        crs="EPSG:4326",
    )


def _facilities(rows):
    names, geoms, stated = zip(*rows, strict=True)
    n = len(rows)
    return gpd.GeoDataFrame(
        {
            "facility_id": [f"l:{i + 2}" for i in range(n)],
            "name": list(names),
            "stated_township": list(stated),
            "stated_village": [""] * n,
            "layer": "l",
            "source_file": "l.csv",
            "source_row": list(range(2, n + 2)),
        },
        geometry=list(geoms),
        crs="EPSG:4326",
    )


def test_locate_by_polygon_and_by_stated_name(townships):
    facilities = _facilities(
        [
            ("甲", shapely.Point(119.91, 32.46), "青石街道"),  # inside, agrees
            ("乙", shapely.Point(119.94, 32.46), "青石街道"),  # inside 白鹭镇, disagrees -> warning
            ("丙", shapely.Point(120.30, 32.31), ""),  # outside -> rejected
            ("丁", None, "白鹭"),  # no point, name without 镇
            ("戊", None, "文昌街道"),  # no point, unknown township
            ("己", shapely.Point(119.93, 32.46), ""),  # on the shared boundary
        ]
    )
    located, rejects, warnings = locate_facilities(facilities, townships)
    assert list(located["name"]) == ["甲", "乙", "丁", "己"]
    assert list(located["township_code"]) == ["329901001", "329901100", "329901100", "329901001"]
    assert list(located["township_name"]) == ["青石街道", "白鹭镇", "白鹭镇", "青石街道"]
    assert rejects["row"].tolist() == [4, 6]
    assert "不在研究区域内" in rejects["reason"].iloc[0]
    assert "crs" in rejects["fix"].iloc[0]
    assert "文昌街道" in rejects["reason"].iloc[1] and "青石街道" in rejects["fix"].iloc[1]
    assert len(warnings) == 1 and "乙" in warnings[0]


def test_locate_units_adds_level_codes_and_innermost(townships):
    villages = gpd.GeoDataFrame(
        {
            "code": ["329901001001", "329901100201"],
            "name": ["青石社区", "芦湾村"],
            "parent_code": ["329901001", "329901100"],
        },
        geometry=[
            shapely.box(119.90, 32.45, 119.915, 32.48),
            shapely.box(119.93, 32.45, 119.96, 32.48),
        ],
        crs="EPSG:4326",
    )
    facilities = _facilities(
        [
            ("甲", shapely.Point(119.91, 32.46), ""),
            ("乙", shapely.Point(119.92, 32.46), ""),
            ("丙", None, "白鹭镇"),
        ]
    )
    facilities.loc[2, "stated_village"] = "芦湾村"
    located, rejects, _ = locate_facilities(facilities, townships, units={"village": villages})
    assert rejects.empty
    assert list(located["unit_code__village"]) == ["329901001001", "", "329901100201"]
    assert list(located["unit_code"]) == ["329901001001", "", "329901100201"]


def test_normalise_place_name():
    assert normalise_place_name("青石街道办事处") == "青石"
    assert normalise_place_name("白鹭镇") == normalise_place_name(" 白鹭 ")
    assert normalise_place_name("街道") == "街道"


def test_sample_registers_load_and_documented_faults_are_rejected():
    """The sample district's registers (lifecircle/data/sample) read with the plan's settings."""
    from lifecircle.plan import SAMPLE_PLAN

    sample = SAMPLE_PLAN.parent
    faults = re.findall(
        r"^\| (\S+\.(?:csv|xlsx)) \| (\d+) \|",
        (sample / "FAULTS.md").read_text(encoding="utf-8"),
        flags=re.M,
    )
    assert len(faults) >= 6
    systems = {
        "elder_care_centres.xlsx": "gcj02",
        "meal_points.csv": "bd09",
        "social_work_stations.csv": "gcj02",
        "children_homes.csv": "wgs84",
        "community_centres.csv": "wgs84",
    }
    categories = {
        "elder_care_centres.xlsx": "elder_care_centre",
        "meal_points.csv": "meal_point",
        "social_work_stations.csv": "social_work_station",
        "children_homes.csv": "children_home",
        "community_centres.csv": "community_centre",
    }
    rejected = set()
    for file, system in systems.items():
        frame, rejects, _ = read_register(
            LayerSpec(categories[file], sample / file, crs=system), REGISTRY
        )
        assert len(frame) > 10
        rejected |= {(file, int(r)) for r in rejects["row"]}
    expected = {(file, int(row)) for file, row in faults}
    # the point outside the district is rejected later, by locate_facilities
    assert expected - rejected == {("meal_points.csv", 53)}


def test_subtype_falls_back_from_type_to_name_to_layer_default(tmp_path):
    rows = [
        "青石敬老院,其他,119.91,32.46",
        "某某服务点,,119.92,32.46",
        "柳岸日间照料中心,,119.93,32.46",
        "某某中心,居家养老服务站,119.94,32.46",
    ]
    path = _csv(tmp_path, rows, header="名称,类型,经度,纬度")
    frame, _ = _read(path, subtype="day_care")
    assert list(frame["subtype"]) == ["special_care", "day_care", "day_care", "home_care_station"]
    frame, _ = _read(path)
    assert list(frame["subtype"]) == ["special_care", "", "day_care", "home_care_station"]


def test_vector_file_in_another_datum_is_transformed(tmp_path):
    # Xian 1980 geographic coordinates differ from WGS-84 by tens of metres: pyproj converts
    path = tmp_path / "xian80.gpkg"
    gpd.GeoDataFrame(
        {"名称": ["甲"]}, geometry=[shapely.Point(119.91, 32.46)], crs="EPSG:4326"
    ).to_crs("EPSG:4610").to_file(path, driver="GPKG")
    frame, _, warnings = _read_all(path, crs="gcj02")  # the file's datum wins over the layer's
    assert _metres(frame.geometry.x[0], frame.geometry.y[0], 119.91, 32.46) < 0.01
    assert any("已按文件坐标系转换" in w for w in warnings)


def test_semicolon_and_tab_separated_text(tmp_path):
    for sep, name in ((";", "a.csv"), ("\t", "b.txt")):
        path = _csv(
            tmp_path,
            [sep.join(["甲", "119.91", "32.46"])],
            name=name,
            header=sep.join(["名称", "经度", "纬度"]),
        )
        frame, rejects = _read(path)
        assert rejects.empty and frame["name"][0] == "甲"


def test_volunteer_flag_values(tmp_path):
    values = ["是", "否", "有", "无", "√", "", "志愿服务站点", "无志愿服务站点", "1", "0"]
    rows = [f"站{i},119.9{i},32.46,{v}" for i, v in enumerate(values)]
    frame, _ = _read(_csv(tmp_path, rows, header="名称,经度,纬度,志愿服务站点"))
    flags = [s == "volunteer_station" for s in frame["services"]]
    assert flags == [True, False, True, False, True, False, True, False, True, False]
