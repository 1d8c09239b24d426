"""Tests for lifecircle.fetch with every osmnx download monkeypatched (no network)."""

from __future__ import annotations

import tomllib
from pathlib import Path

import geopandas as gpd
import numpy as np
import osmnx as ox
import pandas as pd
import pytest
from shapely.geometry import LineString, Point, box

from lifecircle.errors import NetworkError
from lifecircle.fetch import _query_tags, fetch_district, guess_county, select_category
from lifecircle.geo.osm import NetworkSpec, load_walk_graph

NET_DIR = Path(__file__).parent / "fixtures" / "network"
OUTLINE = box(118.775, 32.035, 118.790, 32.045)

TAGS = {
    # the registry's form: every tag of one set must match
    "elder_care_centre": [
        {"amenity": "social_facility", "social_facility:for": "senior"},
        {"amenity": "nursing_home"},
    ],
    "meal_point": [{"amenity": "social_facility", "social_facility": "soup_kitchen"}],
    "columbarium": [{"amenity": "crematorium"}],
    # osmnx's form: any tag matches
    "community_centre": {"amenity": ["community_centre", "social_centre"]},
}


def _townships_frame():
    index = pd.MultiIndex.from_tuples(
        [("relation", 1), ("relation", 2), ("relation", 3), ("way", 4)], names=["element", "id"]
    )
    return gpd.GeoDataFrame(
        {
            "boundary": ["administrative"] * 4,
            "admin_level": ["8", "8", "8", "8"],
            "name": ["玄武街道", "示范镇", "邻区镇", "边界线"],
            "name:zh": [None, "示范镇", None, None],
            "ref": ["320102001000", None, None, None],
        },
        geometry=[
            box(118.775, 32.035, 118.782, 32.045),
            box(118.782, 32.035, 118.790, 32.045),
            box(118.790, 32.035, 118.800, 32.045),  # the neighbour across the border
            LineString([(118.775, 32.035), (118.790, 32.035)]),
        ],
        index=index,
        crs="EPSG:4326",
    )


def _facilities_frame():
    index = pd.MultiIndex.from_tuples(
        [("node", 10), ("way", 11), ("node", 12), ("node", 13), ("node", 14), ("node", 15)],
        names=["element", "id"],
    )
    return gpd.GeoDataFrame(
        {
            "amenity": [
                "social_facility",
                "nursing_home",
                "social_facility",
                "social_facility",
                "community_centre",
                "social_centre",
            ],
            "social_facility:for": ["senior", None, "child", None, None, None],
            "social_facility": ["group_home", None, "group_home", "soup_kitchen", None, None],
            "name": ["玄武养老院", None, "儿童之家", "长者食堂", "社区中心", "睦邻中心"],
            "addr:full": [None, None, None, "中山路1号", None, None],
            "addr:city": ["南京市", None, None, None, None, None],
            "addr:street": ["北京东路", None, None, None, None, None],
            "addr:housenumber": ["5号", None, None, None, None, None],
        },
        geometry=[
            Point(118.777, 32.040),
            box(118.784, 32.038, 118.785, 32.039),
            Point(118.778, 32.041),
            Point(118.786, 32.042),
            Point(118.779, 32.036),
            Point(118.787, 32.037),
        ],
        index=index,
        crs="EPSG:4326",
    )


@pytest.fixture
def fake_osm(monkeypatch):
    calls = {"graph": [], "features": []}
    tiny = load_walk_graph(NetworkSpec(path=NET_DIR / "tiny_walk.osm"))

    def graph_from_place(query, **kwargs):
        calls["graph"].append((query, kwargs))
        return tiny.copy()

    def graph_from_polygon(polygon, **kwargs):  # the district grown by the walking reach
        calls["graph"].append((polygon, kwargs))
        return tiny.copy()

    def features_from_place(query, tags, **kwargs):
        calls["features"].append((query, tags))
        if tags.get("boundary") == "administrative":
            return _townships_frame()
        return _facilities_frame()

    def geocode_to_gdf(query, **kwargs):
        return gpd.GeoDataFrame({"name": [query]}, geometry=[OUTLINE], crs="EPSG:4326")

    monkeypatch.setattr(ox, "graph_from_place", graph_from_place)
    monkeypatch.setattr(ox, "graph_from_polygon", graph_from_polygon)
    monkeypatch.setattr(ox, "features_from_place", features_from_place)
    monkeypatch.setattr(ox, "geocode_to_gdf", geocode_to_gdf)
    return calls


def test_fetch_district_writes_files_and_plan(tmp_path, fake_osm):
    out = tmp_path / "district"
    plan_path = fetch_district(
        "玄武区, 南京市, 江苏省", out, osm_tags_by_layer=TAGS, cache_dir=tmp_path / "cache"
    )
    assert plan_path == out / "plan.toml"
    plan = tomllib.loads(plan_path.read_text(encoding="utf-8"))

    assert plan["study"]["name"] == "玄武区"
    assert plan["inputs"]["townships"]["path"] == "townships.geojson"
    assert plan["inputs"]["network"]["path"] == "network.graphml"
    assert "population" not in plan["inputs"]
    assert "[inputs.population]" in plan_path.read_text(encoding="utf-8")  # as a comment
    assert plan["walk"]["thresholds_min"] == [5, 10, 15]
    layers = {layer["category"]: layer for layer in plan["layers"]}
    assert set(layers) == {"elder_care_centre", "meal_point", "community_centre"}
    assert all(layer["crs"] == "wgs84" for layer in layers.values())
    for path in [
        plan["inputs"]["townships"]["path"],
        plan["inputs"]["network"]["path"],
        *(layer["path"] for layer in layers.values()),
    ]:
        assert (out / path).is_file()
    assert "columbarium" in plan_path.read_text(encoding="utf-8")  # named as not found

    # the network: the faked download, written as GraphML that the loader reads back
    # over the district outline grown by a 20-minute walk (1.5 km), so residents may cross it
    area = fake_osm["graph"][0][0]
    assert area.contains(OUTLINE) and not area.contains(OUTLINE.buffer(0.02))
    assert area.area > OUTLINE.buffer(0.012).area
    assert fake_osm["graph"][0][1]["network_type"] == "walk"
    G = load_walk_graph(NetworkSpec(path=out / "network.graphml"))
    assert set(G.nodes) == {1, 2, 4, 11}

    # one features query for all categories, a superset of their tags
    facility_queries = [t for _, t in fake_osm["features"] if "boundary" not in t]
    assert facility_queries == [
        {
            "amenity": [
                "community_centre",
                "crematorium",
                "nursing_home",
                "social_centre",
                "social_facility",
            ]
        }
    ]


def test_fetched_townships(tmp_path, fake_osm):
    fetch_district("玄武区", tmp_path, osm_tags_by_layer=TAGS, cache_dir=tmp_path / "cache")
    towns = gpd.read_file(tmp_path / "townships.geojson")
    assert towns.crs.to_epsg() == 4326
    # the neighbour and the boundary line are left out
    got = towns[["name", "code", "kind", "kind_zh"]].fillna("").to_dict("records")
    assert got == [
        {"name": "玄武街道", "code": "320102001", "kind": "street", "kind_zh": "街道"},
        {"name": "示范镇", "code": "", "kind": "town", "kind_zh": "镇"},
    ]
    plan = tomllib.loads((tmp_path / "plan.toml").read_text(encoding="utf-8"))
    assert "code_field" not in plan["inputs"]["townships"]  # not every township has a code
    assert plan["inputs"]["townships"]["kind_field"] == "kind_zh"
    assert plan["study"]["county_code"] == "320102"  # from 玄武街道's ref


def _nbs():
    return pd.DataFrame(
        {
            "code": ["320102005", "320102010", "341126002", "411628101", "320102011"],
            "name": ["玄武门街道", "玄武湖街道", "玄武街道", "玄武镇", "梅园新村街道"],
            "areaCode": ["320102", "320102", "341126", "411628", "320102"],
        }
    )


def _towns(names, codes):
    return gpd.GeoDataFrame(
        {"name": names, "code": codes},
        geometry=[box(i, 0, i + 1, 1) for i in range(len(names))],
        crs="EPSG:4326",
    )


def test_guess_county_from_names_and_codes():
    county, filled = guess_county(
        _towns(["玄武门街道", "玄武湖街道", "新街口街道"], ["", "", ""]), _nbs()
    )
    assert county == "320102"
    assert filled["code"].tolist() == ["320102005", "320102010", ""]
    # a code counts as a vote; an ambiguous or unknown name alone does not decide
    county, filled = guess_county(_towns(["玄武街道", "甲镇", "乙镇"], ["", "", ""]), _nbs())
    assert county == "" and filled["code"].tolist() == ["", "", ""]
    county, _ = guess_county(_towns(["玄武街道", "甲镇"], ["320102001", ""]), _nbs())
    assert county == "320102"
    assert guess_county(_towns([], []), _nbs())[0] == ""


def test_fetched_facilities(tmp_path, fake_osm):
    fetch_district("玄武区", tmp_path, osm_tags_by_layer=TAGS, cache_dir=tmp_path / "cache")
    elder = gpd.read_file(tmp_path / "elder_care_centre.geojson")
    assert elder.crs.to_epsg() == 4326
    assert set(elder.geom_type) == {"Point"}
    by_id = elder.set_index("osm_id")
    assert list(by_id.index) == ["node/10", "way/11"]  # not the children's home (for=child)
    assert by_id.loc["node/10", "name"] == "玄武养老院"
    assert by_id.loc["node/10", "address"] == "南京市北京东路5号"
    assert by_id.loc["way/11", "name"] == "未命名（OSM way/11）"
    # the polygon became a point inside it
    assert box(118.784, 32.038, 118.785, 32.039).contains(by_id.loc["way/11", "geometry"])
    meal = gpd.read_file(tmp_path / "meal_point.geojson")
    assert meal["name"].tolist() == ["长者食堂"] and meal["address"].tolist() == ["中山路1号"]
    centres = gpd.read_file(tmp_path / "community_centre.geojson")
    assert sorted(centres["name"]) == ["睦邻中心", "社区中心"]
    assert not (tmp_path / "columbarium.geojson").exists()


def test_fetched_plan_loads(tmp_path, fake_osm):
    from lifecircle.plan import load_plan

    plan_path = fetch_district(
        "玄武区", tmp_path, osm_tags_by_layer=TAGS, cache_dir=tmp_path / "cache"
    )
    plan = load_plan(plan_path)
    assert plan.network.path == (tmp_path / "network.graphml").resolve()
    assert {layer.category for layer in plan.layers} == {
        "elder_care_centre",
        "meal_point",
        "community_centre",
    }


def test_no_township_boundaries_falls_back_to_outline(tmp_path, fake_osm, monkeypatch):
    def features_from_place(query, tags, **kwargs):
        if tags.get("boundary") == "administrative":
            raise ox._errors.InsufficientResponseError("nothing")
        return _facilities_frame()

    monkeypatch.setattr(ox, "features_from_place", features_from_place)
    plan_path = fetch_district(
        "示范区", tmp_path, osm_tags_by_layer=TAGS, cache_dir=tmp_path / "cache"
    )
    towns = gpd.read_file(tmp_path / "townships.geojson")
    assert len(towns) == 1 and towns.geometry.iloc[0].equals_exact(OUTLINE, 1e-9)
    assert "replace it with real township boundaries" in plan_path.read_text(encoding="utf-8")


def test_no_facilities_still_writes_a_valid_plan(tmp_path, fake_osm):
    plan_path = fetch_district(
        "玄武区",
        tmp_path,
        osm_tags_by_layer={"columbarium": [{"amenity": "crematorium"}]},
        cache_dir=tmp_path / "cache",
    )
    plan = tomllib.loads(plan_path.read_text(encoding="utf-8"))
    assert plan["layers"] == []


def test_download_failure_is_a_network_error(tmp_path, monkeypatch):
    def offline(*args, **kwargs):
        raise ConnectionError("no internet")

    monkeypatch.setattr(ox, "graph_from_place", offline)
    monkeypatch.setattr(ox, "graph_from_polygon", offline)
    monkeypatch.setattr(ox, "geocode_to_gdf", offline)
    with pytest.raises(NetworkError, match="could not download"):
        fetch_district("玄武区", tmp_path, osm_tags_by_layer=TAGS, cache_dir=tmp_path / "cache")


def test_select_category_and_query_tags():
    frame = _facilities_frame()
    assert select_category(frame, TAGS["elder_care_centre"]).tolist() == [
        True,
        True,
        False,
        False,
        False,
        False,
    ]
    assert select_category(frame, {"amenity": "social_facility", "name": "儿童之家"}).tolist() == [
        True,
        False,
        True,
        True,
        False,
        False,
    ]
    assert select_category(frame, [{"shop": True}]).tolist() == [False] * 6
    assert np.array_equal(
        select_category(frame, [{"name": True}]), frame["name"].notna().to_numpy()
    )
    assert _query_tags({"a": [{"shop": True}], "b": [{"shop": "funeral_directors"}]}) == {
        "shop": True
    }
