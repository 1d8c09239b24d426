"""Adversarial township boundaries, unit layers and walking networks: each case asserts the
exact outcome — every feature used or rejected (or merged, with a warning), messages naming the
file, the feature and the fix, and one line (an error of lifecircle's own types) instead of a
traceback when the whole file is unusable."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import geopandas as gpd
import pandas as pd
import pytest
import shapely
from typer.testing import CliRunner

from lifecircle.cli import app
from lifecircle.data import data_path
from lifecircle.errors import InputError, NetworkError
from lifecircle.geo.osm import NetworkSpec, load_walk_graph
from lifecircle.layers.townships import TownshipSpec, read_townships
from lifecircle.layers.units import UnitSpec, read_units

SQUARE = shapely.box(119.90, 32.40, 119.95, 32.45)


def _geojson(path: Path, features: list[dict]) -> Path:
    path.write_text(
        json.dumps({"type": "FeatureCollection", "features": features}, ensure_ascii=False),
        encoding="utf-8",
    )
    return path


def _feature(geometry: shapely.Geometry | None, **properties) -> dict:
    return {
        "type": "Feature",
        "properties": properties,
        "geometry": None if geometry is None else shapely.geometry.mapping(geometry),
    }


def _towns(tmp_path: Path, features: list[dict], name: str = "乡镇.geojson"):
    return read_townships(TownshipSpec(_geojson(tmp_path / name, features)), county_code="329901")


# ------------------------------------------------------------------ townships


def test_township_file_without_features_names_the_file_and_setting(tmp_path):
    with pytest.raises(InputError) as info:
        _towns(tmp_path, [], name="空.geojson")
    assert str(info.value).startswith("空.geojson: the file has no features")
    assert "[inputs.townships].path" in str(info.value)


def test_zero_byte_township_file_says_it_is_empty(tmp_path):
    path = tmp_path / "零.geojson"
    path.write_bytes(b"")
    with pytest.raises(InputError, match=r"^零\.geojson: the file is empty \(0 bytes\) — "):
        read_townships(TownshipSpec(path))


def test_every_township_feature_is_used_rejected_or_merged(tmp_path):
    west, east = (
        shapely.box(119.90, 32.40, 119.925, 32.45),
        shapely.box(119.925, 32.40, 119.95, 32.45),
    )
    features = [
        _feature(west, name="青石街道", code="329901001"),
        _feature(east, name="", code="329901100"),  # 2: no name
        _feature(None, name="白鹭镇", code="329901100"),  # 3: no boundary
        _feature(shapely.Point(119.93, 32.42), name="新桥镇"),  # 4: not a polygon
        _feature(east, name="青石街道", code="329901001"),
    ]  # 5: second part
    towns, rejects, warnings = _towns(tmp_path, features)
    assert list(rejects["row"]) == [2, 3, 4]
    assert list(rejects["reason"]) == [
        "乡镇.geojson 第2个要素：乡镇名称为空",
        "乡镇.geojson 第3个要素“白鹭镇”没有边界",
        "乡镇.geojson 第4个要素“新桥镇”不是面（Point）",
    ]
    assert all(rejects["fix"].str.len() > 0)
    assert len(towns) == 1 and towns.geometry.iloc[0].area == pytest.approx(SQUARE.area)
    merged = [w for w in warnings if "已合并为一个乡镇" in w]
    assert merged == [
        "乡镇.geojson 第5个要素与第1个要素同为“青石街道”（329901001），已合并为一个乡镇"
    ]


def test_invalid_boundary_is_repaired_and_named(tmp_path):
    bowtie = shapely.Polygon(
        [(119.90, 32.40), (119.95, 32.45), (119.95, 32.40), (119.90, 32.45), (119.90, 32.40)]
    )
    towns, rejects, warnings = _towns(
        tmp_path, [_feature(bowtie, name="青石街道", code="329901001")]
    )
    assert rejects.empty and towns.geometry.iloc[0].is_valid
    repaired = [w for w in warnings if "已自动修复" in w]
    assert len(repaired) == 1
    assert repaired[0].startswith("乡镇.geojson 第1个要素“青石街道”的边界无效（Self-intersection")


def test_twelve_digit_and_float_codes_become_nine_digits(tmp_path):
    towns, rejects, warnings = _towns(
        tmp_path,
        [
            _feature(
                shapely.box(119.90, 32.40, 119.92, 32.45), name="青石街道", code="329901001000"
            ),
            _feature(shapely.box(119.92, 32.40, 119.95, 32.45), name="白鹭镇", code=329901100.0),
        ],
    )
    assert rejects.empty and list(towns["code"]) == ["329901001", "329901100"]
    assert not any("不是9位" in w for w in warnings)


def test_a_code_that_is_not_nine_digits_is_named_and_matched_by_name(tmp_path):
    towns, _, warnings = _towns(tmp_path, [_feature(SQUARE, name="青石街道", code="32990")])
    assert any("第1个要素“青石街道”的代码 '32990' 不是9位统计用区划代码" in w for w in warnings)
    assert len(towns) == 1


def test_unit_file_without_features_names_the_level(tmp_path):
    towns, _, _ = _towns(tmp_path, [_feature(SQUARE, name="青石街道", code="329901001")])
    path = _geojson(tmp_path / "村.geojson", [])
    with pytest.raises(
        InputError,
        match=r"^村\.geojson: the file has no features .*"
        r"level = \"village\"",
    ):
        read_units(UnitSpec("village", path), towns)


def test_unit_counts_with_thousands_separators_and_float_codes(tmp_path):
    towns, _, _ = _towns(tmp_path, [_feature(SQUARE, name="青石街道", code="329901001")])
    path = _geojson(
        tmp_path / "村.geojson",
        [
            _feature(
                shapely.box(119.90, 32.40, 119.91, 32.41),
                name="东门社区",
                code=329901001001.0,
                人口="1,200",
            )
        ],
    )
    units, rejects, _ = read_units(UnitSpec("village", path), towns)
    assert rejects.empty
    assert list(units["code"]) == ["329901001001"] and list(units["parent_code"]) == ["329901001"]
    assert units["population"].iloc[0] == 1200


# ------------------------------------------------------------------ networks


@pytest.mark.parametrize(
    ("name", "content", "expected"),
    [
        ("zero.osm", "", r"zero\.osm: cannot read as OSM XML .*export it again"),
        (
            "cut.osm",
            '<?xml version="1.0"?><osm version="0.6"><node id="1" lat="32.4" lon="119.9"/>'
            '<way id="2"><nd ref="1"/>',
            r"cut\.osm: cannot read as OSM XML",
        ),
        (
            "nodes.osm",
            '<?xml version="1.0"?><osm version="0.6"><node id="1" lat="32.4" lon="119.9"/></osm>',
            r"nodes\.osm is empty: no walkable way",
        ),
        (
            "roads.geojson",
            '{"type":"FeatureCollection","features":[]}',
            r"roads\.geojson is empty: no walkable way",
        ),
        (
            "walk.graphml",
            "<graphml>",
            r"walk\.graphml: cannot read as an osmnx GraphML .*save_graphml",
        ),
    ],
)
def test_broken_or_empty_network_files_are_one_named_error(tmp_path, name, content, expected):
    path = tmp_path / name
    path.write_text(content, encoding="utf-8")
    with pytest.raises(NetworkError, match=expected):
        load_walk_graph(NetworkSpec(path=path))


def _sample_copy(dest: Path) -> Path:
    shutil.copytree(data_path("sample"), dest / "sample")
    (dest / "boundaries").mkdir()
    shutil.copy2(data_path("boundaries", "sample_townships.geojson"), dest / "boundaries")
    return dest / "sample" / "plan.toml"


def test_validate_with_an_empty_network_prints_one_line(tmp_path):
    plan = _sample_copy(tmp_path)
    (plan.parent / "network.osm.bz2").write_bytes(b"")
    result = CliRunner().invoke(app, ["validate", str(plan)])
    assert result.exit_code == 1
    assert "Traceback" not in result.output and isinstance(result.exception, SystemExit)
    message = " ".join(result.output.split())
    assert "network.osm.bz2" in message and "export it again" in message


@pytest.mark.slow
def test_a_township_without_roads_is_named_in_the_warnings(tmp_path):
    from lifecircle.pipeline import load_inputs
    from lifecircle.plan import load_plan

    plan = _sample_copy(tmp_path)
    boundaries = tmp_path / "boundaries" / "sample_townships.geojson"
    towns = gpd.read_file(boundaries)
    far = towns.iloc[[0]].copy()
    far["name"], far["code"] = "飞地镇", "329901199"
    far["geometry"] = [shapely.box(120.5, 33.0, 120.52, 33.02)]  # ~60 km away, no streets
    gpd.GeoDataFrame(pd.concat([towns, far], ignore_index=True), crs=towns.crs).to_file(
        boundaries, driver="GeoJSON"
    )
    inputs = load_inputs(load_plan(plan))
    assert "329901199" in set(inputs.townships["code"])
    roadless = [w for w in inputs.warnings if "没有步行路网节点" in w]
    assert roadless == [
        "飞地镇（329901199）内没有步行路网节点：该乡镇的步行覆盖无法计算，请补充路网或检查边界"
    ]
