"""Unit layers: fields, parent township by field, code prefix or polygons; conflicts reported."""

from __future__ import annotations

import geopandas as gpd
import pytest
from shapely.geometry import box

from lifecircle.errors import InputError
from lifecircle.layers.units import UnitSpec, read_units, unit_kind_from

EAST, WEST = "329901001", "329901100"


@pytest.fixture
def townships() -> gpd.GeoDataFrame:
    return gpd.GeoDataFrame(
        {"code": [EAST, WEST], "name": ["东街道", "白鹭镇"], "kind": ["street", "town"]},
        geometry=[box(120.0, 30.0, 120.01, 30.01), box(120.01, 30.0, 120.02, 30.01)],
        crs="EPSG:4326",
    )


def _write(tmp_path, rows: list[dict], crs: str = "EPSG:4326", name: str = "villages.geojson"):
    path = tmp_path / name
    frame = gpd.GeoDataFrame(rows, geometry="geometry", crs="EPSG:4326").to_crs(crs)
    frame.to_file(path, driver="GeoJSON" if path.suffix == ".geojson" else "GPKG")
    return path


def _in_east(i: int = 0):
    return box(120.001 + 0.002 * i, 30.001, 120.002 + 0.002 * i, 30.002)


def _in_west(i: int = 0):
    return box(120.011 + 0.002 * i, 30.001, 120.012 + 0.002 * i, 30.002)


def test_parents_by_code_prefix_containment_and_field(tmp_path, townships):
    path = _write(
        tmp_path,
        [
            {"名称": "东门社区", "代码": EAST + "001", "户数": 1200, "geometry": _in_east(0)},
            {"名称": "青山村", "代码": "", "户数": 300, "geometry": _in_west(0)},
            {
                "名称": "河口村",
                "代码": "",
                "户数": None,
                "所属乡镇": "东街道",
                "geometry": _in_west(1),
            },
        ],
    )
    units, rejects, warnings = read_units(UnitSpec(level="village", path=path), townships)
    assert rejects.empty
    by_name = units.set_index("name")
    assert by_name.loc["东门社区", "parent_code"] == EAST
    assert by_name.loc["东门社区", "parent_method"] == "code"
    assert by_name.loc["东门社区", "unit_kind"] == "社区"
    assert by_name.loc["东门社区", "households"] == 1200
    assert by_name.loc["青山村", "parent_code"] == WEST
    assert by_name.loc["青山村", "parent_method"] == "spatial"
    assert by_name.loc["青山村", "unit_kind"] == "村"
    # the field wins over the polygon, and the disagreement is reported
    assert by_name.loc["河口村", "parent_code"] == EAST
    assert by_name.loc["河口村", "parent_method"] == "field"
    assert any("河口村" in w and WEST in w for w in warnings)
    assert units.crs.to_epsg() == 4326
    assert set(units["level"]) == {"village"}
    assert any("没有代码" in w for w in warnings)  # made-up codes are announced


def test_prefix_and_containment_conflict_is_reported(tmp_path, townships):
    path = _write(tmp_path, [{"name": "错位村", "code": WEST + "201", "geometry": _in_east(1)}])
    units, _, warnings = read_units(UnitSpec(level="village", path=path), townships)
    assert units.iloc[0]["parent_code"] == WEST  # the official code is kept
    assert any("错位村" in w and "核对" in w and EAST in w for w in warnings)


def test_unit_without_parent_is_kept_and_reported(tmp_path, townships):
    path = _write(
        tmp_path,
        [
            {"name": "飞地村", "code": "999999999201", "geometry": box(121.0, 31.0, 121.01, 31.01)},
        ],
    )
    units, rejects, warnings = read_units(UnitSpec(level="village", path=path), townships)
    assert len(units) == 1 and rejects.empty
    assert units.iloc[0]["parent_code"] == ""
    assert any("飞地村" in w and "无法确定所属乡镇" in w for w in warnings)


def test_rejects_empty_geometry_and_duplicate_codes(tmp_path, townships):
    path = _write(
        tmp_path,
        [
            {"name": "甲村", "code": EAST + "201", "geometry": _in_east(0)},
            {"name": "乙村", "code": EAST + "201", "geometry": _in_east(1)},
            {"name": "丙村", "code": EAST + "202", "geometry": None},
        ],
        name="villages.gpkg",
    )
    units, rejects, _ = read_units(UnitSpec(level="village", path=path), townships)
    assert list(units["name"]) == ["甲村"]
    assert list(rejects["row"]) == [2, 3]
    assert "重复" in rejects.iloc[0]["reason"] and "没有边界" in rejects.iloc[1]["reason"]
    assert list(rejects.columns) == ["layer", "file", "sheet", "row", "name", "reason", "fix"]


def test_named_fields_and_projected_input(tmp_path, townships):
    path = _write(
        tmp_path,
        [
            {
                "CJMC_X": "东门",
                "DM": EAST + "002",
                "HH": 800,
                "TYPE_X": "城镇社区",
                "geometry": _in_east(2),
            },
        ],
        crs="EPSG:3857",
    )
    spec = UnitSpec(
        level="community",
        path=path,
        name_field="CJMC_X",
        code_field="DM",
        households_field="HH",
        kind_field="TYPE_X",
    )
    units, _, _ = read_units(spec, townships)
    row = units.iloc[0]
    assert (row["name"], row["code"], row["households"], row["unit_kind"]) == (
        "东门",
        EAST + "002",
        800,
        "社区",
    )
    assert row["parent_code"] == EAST and units.crs.to_epsg() == 4326
    assert abs(row.geometry.centroid.x - 120.0055) < 1e-6


def test_mistyped_field_and_level_name_the_setting(tmp_path, townships):
    path = _write(tmp_path, [{"name": "甲村", "code": EAST + "201", "geometry": _in_east(0)}])
    with pytest.raises(InputError, match=r"households_field = 'hh'.*fields: name, code"):
        read_units(UnitSpec(level="village", path=path, households_field="hh"), townships)
    with pytest.raises(InputError, match="built in"):
        UnitSpec(level="township", path=path)


@pytest.mark.parametrize(
    ("name", "code", "kind", "expected"),
    [
        ("青山村", "", None, "村"),
        ("东门社区", "", None, "社区"),
        ("甲", "329901100205", None, "村"),
        ("乙", "329901100003", None, "社区"),
        ("丙", "", "农村", "村"),
        ("丁", "", None, ""),
    ],
)
def test_unit_kind(name, code, kind, expected):
    assert unit_kind_from(name, code, kind) == expected
