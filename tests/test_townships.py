"""Township boundaries: fields, NBS codes, kinds, geometry repair, overlaps and gaps."""

from __future__ import annotations

from pathlib import Path

import geopandas as gpd
import pytest
import shapely

from lifecircle.errors import InputError
from lifecircle.layers.townships import TownshipSpec, read_townships, township_kind

# Pinggu district, Beijing (110117) in the NBS 2023 table: a street, a 地区, towns and a 乡
BOX = 0.02


def _box(i: int, j: int = 0) -> shapely.Polygon:
    return shapely.box(117.0 + i * BOX, 40.1 + j * BOX, 117.0 + (i + 1) * BOX, 40.1 + (j + 1) * BOX)


def _write(
    tmp_path: Path,
    data: dict,
    geoms: list,
    *,
    name: str = "towns.geojson",
    crs: str = "EPSG:4326",
    **kwargs,
) -> Path:
    path = tmp_path / name
    gpd.GeoDataFrame(data, geometry=geoms, crs="EPSG:4326").to_crs(crs).to_file(path, **kwargs)
    return path


def _read(path: Path, county_code: str | None = "110117", **spec):
    return read_townships(TownshipSpec(path=path, **spec), county_code=county_code)


def test_names_matched_to_nbs_codes_and_kinds(tmp_path):
    names = ["滨河街道", "渔阳地区", "东高村镇", "黄松峪乡", "山东庄", "不存在镇"]
    path = _write(
        tmp_path,
        {
            "乡镇名称": names,
            "户数": [100, 200, 300, 400, 500, 600],
            "常住人口": [1e3, 2e3, 3e3, 4e3, 5e3, 6e3],
        },
        [_box(i) for i in range(6)],
    )
    towns, rejects, warnings = _read(path)
    assert rejects.empty
    assert list(towns["code"]) == [
        "110117001",
        "110117003",
        "110117101",
        "110117213",
        "110117102",
        "110117901",
    ]
    assert list(towns["kind"]) == ["street", "street", "town", "town", "town", "town"]
    assert list(towns["kind_zh"]) == ["街道", "街道", "镇", "乡", "镇", "镇"]
    assert list(towns["households"]) == [100, 200, 300, 400, 500, 600]
    assert list(towns["population"]) == [1e3, 2e3, 3e3, 4e3, 5e3, 6e3]
    assert set(towns["county_code"]) == {"110117"}
    assert towns.crs == "EPSG:4326"
    unmatched = [w for w in warnings if "未匹配到统计用区划代码" in w]
    assert len(unmatched) == 1 and "不存在镇" in unmatched[0] and "110117901" in unmatched[0]
    assert not any("重叠" in w or "空隙" in w for w in warnings)


def test_codes_from_a_field_including_12_digit_form(tmp_path):
    path = _write(
        tmp_path,
        {"NAME": ["滨河街道", "东高村镇"], "XZQDM": ["110117001000", "110117101"]},
        [_box(0), _box(1)],
    )
    towns, _, warnings = _read(path, county_code=None)
    assert list(towns["code"]) == ["110117001", "110117101"]
    assert not warnings


def test_code_that_disagrees_with_nbs_name_or_county_is_reported(tmp_path):
    path = _write(tmp_path, {"name": ["滨河街道"], "code": ["110117101"]}, [_box(0)])
    _, _, warnings = _read(path, county_code="110118")
    assert any("东高村镇" in w for w in warnings)
    assert any("不属于县级代码 110118" in w for w in warnings)


@pytest.mark.parametrize(
    ("name", "code", "value", "expected"),
    [
        ("青石街道", "", None, ("street", "街道")),
        ("青石街道办事处", "", None, ("street", "街道")),
        ("白鹭镇", "", None, ("town", "镇")),
        ("长寿乡", "", None, ("town", "乡")),
        ("某某民族乡", "", None, ("town", "乡")),
        ("渔阳地区", "110117003", None, ("street", "街道")),
        ("某开发区", "110117150", None, ("town", "镇")),
        ("某开发区", "110117400", None, None),
        ("某开发区", "", None, None),
        ("某开发区", "", "街道", ("street", "街道")),
        ("白鹭镇", "", "street", ("street", "街道")),
        ("白鹭", "", "乡", ("town", "乡")),
    ],
)
def test_township_kind(name, code, value, expected):
    assert township_kind(name, code, value) == expected


def test_kind_field_and_unknown_kind_warning(tmp_path):
    path = _write(
        tmp_path, {"name": ["甲开发区", "乙管委会"], "类型": ["镇", None]}, [_box(0), _box(1)]
    )
    towns, _, warnings = _read(path, county_code=None)
    assert list(towns["kind"]) == ["town", "street"]
    assert any("乙管委会" in w and "无法判断" in w for w in warnings)
    assert all(len(code) == 9 and code.isdigit() for code in towns["code"])


def test_invalid_geometry_is_repaired_and_reported(tmp_path):
    bowtie = shapely.Polygon([(117.0, 40.1), (117.02, 40.12), (117.02, 40.1), (117.0, 40.12)])
    assert not bowtie.is_valid
    path = _write(tmp_path, {"name": ["滨河街道"]}, [bowtie])
    towns, _, warnings = _read(path)
    geom = towns.geometry.iloc[0]
    assert geom.is_valid and geom.geom_type in ("Polygon", "MultiPolygon")
    assert geom.area == pytest.approx(0.5 * 0.02 * 0.02, rel=1e-6)  # two triangles
    assert any("边界无效" in w and "已自动修复" in w for w in warnings)


def test_overlaps_and_gaps_are_reported(tmp_path):
    # four boxes in a ring around an empty centre: the centre is a gap; box 0 overlaps box 1
    big = shapely.box(117.0, 40.1, 117.06, 40.16)
    hole = shapely.box(117.02, 40.12, 117.04, 40.14)
    left = shapely.box(117.0, 40.1, 117.021, 40.16).difference(hole)  # 0.001 deg over x=117.02
    rest = big.difference(shapely.box(117.0, 40.1, 117.02, 40.16)).difference(hole)
    path = _write(tmp_path, {"name": ["滨河街道", "兴谷街道"]}, [left, rest])
    _, _, warnings = _read(path)
    overlaps = [w for w in warnings if "重叠" in w]
    gaps = [w for w in warnings if "空隙" in w]
    assert len(overlaps) == 1 and "滨河街道" in overlaps[0] and "兴谷街道" in overlaps[0]
    # 0.001 deg x 0.04 deg (outside the hole) at 40 N is about 85 m x 4.4 km
    area_m2 = float(overlaps[0].split("约 ")[1].split(" 平方米")[0].replace(",", ""))
    assert 300_000 < area_m2 < 450_000
    assert len(gaps) == 1
    assert "117.03" in gaps[0]


def test_slivers_below_the_tolerance_are_not_reported(tmp_path):
    a = shapely.box(117.0, 40.1, 117.0200001, 40.12)  # ~0.02 m x 2.2 km = 40 m2
    b = shapely.box(117.02, 40.1, 117.04, 40.12)
    path = _write(tmp_path, {"name": ["滨河街道", "兴谷街道"]}, [a, b])
    _, _, warnings = _read(path)
    assert not any("重叠" in w for w in warnings)


def test_projected_file_is_reprojected(tmp_path):
    path = _write(
        tmp_path,
        {"name": ["滨河街道"]},
        [_box(0)],
        crs="EPSG:32650",
        name="towns.gpkg",
        driver="GPKG",
    )
    towns, _, _ = _read(path)
    assert towns.crs == "EPSG:4326"
    assert towns.geometry.iloc[0].bounds == pytest.approx(_box(0).bounds, abs=1e-7)


def test_gbk_shapefile_with_nbs_style_fields(tmp_path):
    path = _write(
        tmp_path,
        {"XZQMC": ["滨河街道", "黄松峪乡"], "XZQDM": ["", ""]},
        [_box(0), _box(1)],
        name="乡镇.shp",
        encoding="gbk",
    )
    path.with_suffix(".cpg").unlink(missing_ok=True)
    towns, _, _ = _read(path)
    assert list(towns["name"]) == ["滨河街道", "黄松峪乡"]
    assert list(towns["code"]) == ["110117001", "110117213"]


def test_bad_features_are_rejected_and_split_townships_merged(tmp_path):
    path = _write(
        tmp_path,
        {
            "name": ["滨河街道", None, "兴谷街道", "滨河街道", "东高村镇"],
            "code": ["110117001", "110117002", "", "110117001", "110117001"],
        },
        [_box(0), _box(1), None, _box(0, 1), _box(3)],
    )
    towns, rejects, warnings = _read(path)
    assert list(towns["name"]) == ["滨河街道"]
    assert towns.geometry.iloc[0].area == pytest.approx(2 * BOX * BOX)
    assert any("已合并" in w for w in warnings)
    assert rejects["row"].tolist() == [2, 3, 5]
    assert "名称为空" in rejects["reason"].iloc[0]
    assert "没有边界" in rejects["reason"].iloc[1]
    assert "重复" in rejects["reason"].iloc[2]


def test_wrong_field_setting_and_no_name_field(tmp_path):
    path = _write(tmp_path, {"foo": ["滨河街道"]}, [_box(0)])
    with pytest.raises(InputError, match="no township name field"):
        _read(path)
    with pytest.raises(InputError, match="name_field = 'NAME' is not a field"):
        _read(path, name_field="NAME")
    towns, _, _ = _read(path, name_field="foo")
    assert towns["code"].iloc[0] == "110117001"


def test_sample_townships_read_cleanly():
    from lifecircle.data import data_path

    spec = TownshipSpec(
        path=data_path("boundaries", "sample_townships.geojson"),
        name_field="name",
        code_field="code",
    )
    towns, rejects, warnings = read_townships(spec, county_code="329901")
    assert rejects.empty and not warnings
    assert list(towns["kind"]).count("street") == 4 and list(towns["kind"]).count("town") == 4
    assert "households" in towns


def test_other_attributes_pass_through(tmp_path):
    path = _write(
        tmp_path,
        {"name": ["滨河街道"], "staff_social_assistance": [3], "备注": ["x"], "户数": [10]},
        [_box(0)],
    )
    towns, _, _ = _read(path)
    assert towns["staff_social_assistance"].iloc[0] == 3 and towns["备注"].iloc[0] == "x"
    assert towns["households"].iloc[0] == 10 and "户数" not in towns


def test_code_not_in_the_official_county_list_is_warned_with_the_closest_name(tmp_path):
    path = _write(
        tmp_path,
        {"name": ["滨河街道", "东高村镇"], "code": ["110117050", "110117101"]},
        [_box(0), _box(1)],
    )
    towns, _, warnings = _read(path)
    assert list(towns["code"]) == ["110117050", "110117101"]  # kept as given
    unofficial = [w for w in warnings if "不在本县（110117）的统计用区划代码中" in w]
    assert len(unofficial) == 1
    assert "110117050" in unofficial[0] and "“滨河街道”（110117001）" in unofficial[0]
