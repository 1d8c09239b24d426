"""Category registry: built-in data, subtype matching, plan-added categories."""

from __future__ import annotations

import pytest

from lifecircle.errors import PlanError
from lifecircle.layers.categories import load_registry

REQUIRED = (
    "elder_care_centre",
    "meal_point",
    "columbarium",
    "social_work_station",
    "children_home",
    "minor_protection",
    "community_centre",
    "mental_health_rehab",
    "senior_university",
    "senior_activity_centre",
    "vigil_centre",
)


@pytest.fixture(scope="module")
def registry():
    return load_registry()


def test_builtin_categories_have_names_icons_colours_and_osm_tags(registry):
    assert set(REQUIRED) <= set(registry)
    for key in REQUIRED:
        cat = registry[key]
        assert cat.name_zh and cat.name_en and cat.aliases
        assert cat.icon and cat.color.startswith("#") and len(cat.color) == 7
        assert cat.osm, key


def test_osm_tags_identify_senior_social_facilities(registry):
    tags = registry.osm_tags()
    assert {"amenity": "social_facility", "social_facility:for": "senior"} in tags[
        "elder_care_centre"
    ]
    assert {"amenity": "grave_yard"} in tags["columbarium"]
    assert {"amenity": "crematorium"} in tags["columbarium"]


@pytest.mark.parametrize(
    ("category", "text", "subtype"),
    [
        ("elder_care_centre", "综合性养老服务中心", "comprehensive"),
        ("elder_care_centre", "城东街道综合为老服务中心", "comprehensive"),
        ("elder_care_centre", "农村区域性养老服务中心", "regional_rural"),
        ("elder_care_centre", "区域性养老服务中心", "regional_rural"),
        ("elder_care_centre", "日间照料中心", "day_care"),
        ("elder_care_centre", "社区日间照护中心", "day_care"),
        ("elder_care_centre", "居家养老服务站", "home_care_station"),
        ("elder_care_centre", "居家养老服务中心", "home_care_station"),
        ("elder_care_centre", "新桥镇敬老院", "special_care"),
        ("elder_care_centre", "某某老年公寓", "institution"),
        ("minor_protection", "晋江市未成年人救助保护中心", "rescue_centre"),
        ("minor_protection", "青阳街道未成年人保护工作站", "station"),
        ("minor_protection", "某村儿童关爱之家", "care_home"),
        ("senior_activity_centre", "区老年活动中心", "centre"),
        ("senior_activity_centre", "东村老年活动室", "room"),
        ("social_work_station", "村（居）社工室", "room"),
        ("community_centre", "青石街道党群服务中心", "street_centre"),
        ("community_centre", "青石社区党群服务中心", "community"),
        ("elder_care_centre", "老年养护院", "institution"),
        ("elder_care_centre", "护理院", "institution"),
        ("meal_point", "长者食堂", "canteen"),
        ("meal_point", "老年人助餐点", "meal_point"),
        ("meal_point", "中央厨房", "central_kitchen"),
        ("columbarium", "立体式骨灰安放设施", "vertical"),
        ("columbarium", "骨灰楼", "hall"),
        ("columbarium", "公益性公墓", "cemetery"),
        ("social_work_station", "乡镇(街道)社工站", "station"),
        ("social_work_station", "村（居）社工室", "room"),
        ("social_work_station", '"泰有爱"慈善社工站', "station"),
        ("elder_care_centre", "某某公司", ""),
        ("elder_care_centre", None, ""),
    ],
)
def test_subtype_from_text(registry, category, text, subtype):
    assert registry.match_subtype(category, text) == subtype


def test_match_category_by_alias(registry):
    assert registry.match_category("XX村儿童之家") == "children_home"
    assert registry.match_category("关爱之家") == "minor_protection"
    assert registry.match_category("集中守灵中心") == "vigil_centre"
    assert registry.match_category("超市") == ""


def test_plan_adds_a_category_without_code(registry):
    extra = {
        "elder_meal_van": {
            "name_zh": "流动助餐车",
            "aliases": ["助餐车"],
            "subtypes": {"electric": {"name_zh": "电动车", "aliases": ["电动"]}},
        }
    }
    merged = load_registry(extra)
    assert "elder_meal_van" in merged and len(merged) == len(registry) + 1
    cat = merged["elder_meal_van"]
    assert cat.name_zh == "流动助餐车"
    assert cat.color.startswith("#") and cat.icon == "circle"
    assert merged.match_subtype("elder_meal_van", "电动助餐车") == "electric"
    assert merged.match_category("XX助餐车") == "elder_meal_van"
    assert merged["elder_meal_van"].as_dict()["name_en"] == "elder_meal_van"


def test_plan_extends_an_existing_category(registry):
    merged = load_registry(
        {
            "children_home": {
                "aliases": ["儿童服务站"],
                "color": "#000000",
                "subtypes": {"village": {"name_zh": "村儿童之家", "aliases": ["村"]}},
            }
        }
    )
    cat = merged["children_home"]
    assert "儿童服务站" in cat.aliases and "儿童之家" in cat.aliases
    assert cat.color == "#000000" and cat.name_zh == registry["children_home"].name_zh
    assert "village" in cat.subtypes
    # the built-in registry is not changed by a plan
    assert "儿童服务站" not in load_registry()["children_home"].aliases


@pytest.mark.parametrize(
    ("extra", "message"),
    [
        ({"new_thing": {"aliases": ["x"]}}, "needs name_zh"),
        ({"new_thing": {"name_zh": "x", "colour": "#fff"}}, "unknown key.*'colour'"),
        ({"new_thing": {"name_zh": "x", "aliases": "a b" and 3}}, "list of strings"),
        ({"bad key": {"name_zh": "x"}}, "plain identifier"),
        ({"new_thing": "儿童之家"}, "must be a table"),
        ({"new_thing": {"name_zh": "x", "subtypes": {"a": {"aliases": ["y"]}}}}, "needs name_zh"),
    ],
)
def test_malformed_plan_categories_name_the_problem(extra, message):
    with pytest.raises(PlanError, match=message):
        load_registry(extra)


def test_unknown_key_lists_known_ones(registry):
    with pytest.raises(KeyError, match="meal_point"):
        registry["meal_piont"]
