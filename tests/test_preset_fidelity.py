"""Preset rows measure the plans' own indicators: subtypes, levels, population bases, and the
register attributes the missing indicators need (renovations, 单处面积, 等级, staff, services,
公益性床位), on hand-made registers."""

from __future__ import annotations

import geopandas as gpd
import numpy as np
import pandas as pd
import pytest
from shapely.geometry import box
from test_facilities import _csv, _read
from test_targets import CODES, _facility, _rows, make_context
from test_units import EAST, _in_east, _write

from lifecircle.coverage.targets import evaluate_targets, parse_targets
from lifecircle.coverage.targets.helpers import _grade_level
from lifecircle.errors import PlanError
from lifecircle.layers.units import UnitSpec, read_units

INSTITUTIONS = ["institution", "special_care", "regional_rural"]


def _context(facilities: list[dict], *, year: int = 2025, layers=None, townships=None, units=None):
    context = make_context(year, layers=layers)
    context.facilities = (
        gpd.GeoDataFrame(facilities, crs="EPSG:4326")
        if facilities
        else context.facilities.iloc[0:0]
    )
    if layers is None:
        context.layers_present = set(context.facilities["category"])
    if townships is not None:
        context.townships = townships
    if units is not None:
        context.units = units
    return context


def _preset(name: str, row: str, context, **entry):
    targets = parse_targets([{"preset": name, "only": [row], **entry}], source="test.toml")
    return evaluate_targets(targets, context)


# --------------------------------------------------------------------------- today's deviations


@pytest.mark.parametrize("preset", ["taizhou_14th", "hailing_14th", "jinjiang_14th"])
def test_a_village_social_work_room_does_not_make_its_township_covered(preset):
    context = _context(
        [
            _facility("s1", "social_work_station", 0, 1, subtype="room"),  # 东街道: a village room
            _facility("s2", "social_work_station", 2, subtype="station"),  # 白鹭镇: the station
        ]
    )
    report = _preset(preset, "social_work_station", context)
    rows = _rows(report, "township")
    assert rows.loc[CODES[0], "status"] == "not_met" and rows.loc[CODES[0], "value"] == 0
    assert rows.loc[CODES[2], "status"] == "met"
    assert report.summary.iloc[0]["value"] == 25.0


def test_a_township_station_does_not_count_as_a_village_room():
    context = _context(
        [
            _facility("s1", "social_work_station", 2, 0, subtype="station"),  # in 白鹭镇001
            _facility("s2", "social_work_station", 0, 1, subtype="room"),  # in 东街道201
        ]
    )
    report = _preset("hailing_14th", "village_social_work_room", context)
    villages = _rows(report, "village")
    assert villages.loc[CODES[2] + "001", "status"] == "not_met"
    assert villages.loc[CODES[0] + "201", "status"] == "met"
    assert report.summary.iloc[0]["value"] == pytest.approx(12.5)


@pytest.mark.parametrize(
    ("preset", "row"),
    [
        ("taizhou_14th", "nursing_bed_share"),
        ("hailing_14th", "nursing_bed_share"),
        ("jinjiang_14th", "nursing_bed_share"),
    ],
)
def test_day_care_and_community_beds_stay_out_of_the_institutions_nursing_share(preset, row):
    context = _context(
        [
            _facility(
                "i1", "elder_care_centre", 0, subtype="institution", beds=100, nursing_beds=70
            ),
            _facility(
                "i2", "elder_care_centre", 2, subtype="special_care", beds=50, nursing_beds=20
            ),
            _facility("d1", "elder_care_centre", 0, subtype="day_care", beds=100, nursing_beds=0),
            _facility(
                "c1", "elder_care_centre", 1, subtype="comprehensive", beds=50, nursing_beds=0
            ),
        ]
    )
    summary = _preset(preset, row, context).summary.iloc[0]
    # institutions only: (70 + 20) / (100 + 50) = 60 %; all beds would give 90 / 300 = 30 %
    assert summary["value"] == pytest.approx(60.0)
    assert "床位 150，护理型 90" in summary["note"]


def test_nursing_beds_per_1000_seniors_count_institutions_only():
    context = _context(
        [
            _facility(
                "i1", "elder_care_centre", 0, subtype="institution", beds=100, nursing_beds=75
            ),
            _facility("d1", "elder_care_centre", 0, subtype="day_care", beds=20, nursing_beds=20),
        ]
    )
    summary = _preset("jinjiang_14th", "nursing_beds_per_1000", context).summary.iloc[0]
    assert summary["value"] == pytest.approx(1000 * 75 / 7500)  # district pop60 7,500


@pytest.mark.parametrize(
    ("preset", "row"),
    [
        ("taizhou_14th", "minor_protection_facility"),
        ("hailing_14th", "minor_protection_facility"),
        ("jinjiang_14th", "minor_protection_facility"),
    ],
)
def test_a_township_protection_station_does_not_pass_a_county_level_row(preset, row):
    stations = [
        _facility("p1", "minor_protection", 2, subtype="station"),
        _facility("p2", "minor_protection", 0, subtype="care_home"),
    ]
    assert _preset(preset, row, _context(stations)).summary.iloc[0]["status"] == "not_met"
    centre = _facility("p3", "minor_protection", 1, subtype="rescue_centre")
    assert _preset(preset, row, _context([*stations, centre])).summary.iloc[0]["status"] == "met"


def test_township_protection_rows_count_stations_and_care_homes_not_the_county_centre():
    context = _context(
        [
            _facility("p1", "minor_protection", 2, subtype="station"),
            _facility("p2", "minor_protection", 0, subtype="care_home"),
            _facility("p3", "minor_protection", 1, subtype="rescue_centre"),
        ]
    )
    taizhou = _preset("taizhou_14th", "minor_protection_station", context).summary.iloc[0]
    assert taizhou["value"] == 50.0  # 白鹭镇 station, 东街道 关爱之家; 西街道's centre is not one
    jinjiang = _preset("jinjiang_14th", "minor_protection_station", context).summary.iloc[0]
    assert jinjiang["value"] == 25.0  # 工作站 only


@pytest.mark.parametrize(("year", "target", "status"), [(2021, 60, "met"), (2023, 80, "not_met")])
def test_jinjiang_city_protection_coverage_follows_its_trajectory(year, target, status):
    # three of four 镇（街道） have a station or the county centre: 75 %
    context = _context(
        [
            _facility("p1", "minor_protection", 0, subtype="rescue_centre"),
            _facility("p2", "minor_protection", 1, subtype="station"),
            _facility("p3", "minor_protection", 2, subtype="station"),
            _facility("p4", "minor_protection", 3, subtype="care_home"),
        ],
        year=year,
    )
    summary = _preset("jinjiang_14th", "minor_protection_coverage", context).summary.iloc[0]
    assert (summary["value"], summary["target_value"], summary["status"]) == (75, target, status)
    assert summary["trajectory"] == "2021:60 → 2022:70 → 2023:80 → 2024:90 → 2025:100"


def test_county_activity_centre_row_ignores_village_rooms():
    rooms = [_facility("a1", "senior_activity_centre", 0, subtype="room")]
    row = ("taizhou_14th", "senior_activity_centre")
    assert _preset(*row, _context(rooms)).summary.iloc[0]["status"] == "not_met"
    centre = _facility("a2", "senior_activity_centre", 1, subtype="centre")
    assert _preset(*row, _context([*rooms, centre])).summary.iloc[0]["status"] == "met"


def test_taizhou_special_care_row_is_not_passed_by_a_private_nursing_home():
    homes = [_facility("i1", "elder_care_centre", 0, subtype="institution", beds=200)]
    row = ("taizhou_14th", "special_care_institution")
    assert _preset(*row, _context(homes)).summary.iloc[0]["status"] == "not_met"
    special = _facility("i2", "elder_care_centre", 2, subtype="special_care", beds=80)
    assert _preset(*row, _context([*homes, special])).summary.iloc[0]["status"] == "met"


def test_jinjiang_columbarium_coverage_counts_villages():
    # columbaria in two of the eight villages: 25 %, against 55 % in 2021
    context = _context(
        [_facility("c1", "columbarium", 2, 0), _facility("c2", "columbarium", 2, 1)], year=2021
    )
    report = _preset("jinjiang_14th", "columbarium_coverage", context)
    assert len(_rows(report, "village")) == 8
    assert report.summary.iloc[0]["value"] == 25.0


def _with_township_named(name: str, index: int = 2) -> gpd.GeoDataFrame:
    townships = make_context().townships.copy()
    townships.loc[index, "name"] = name
    return townships


def test_the_jingtai_columbarium_counts_only_in_its_street():
    # 29,000 m² opened in 2024: 20,000 in 京泰路街道 (renamed 白鹭镇 here), 9,000 elsewhere
    facilities = [
        _facility("c1", "columbarium", 2, opened=2024, floor_area_m2=20000),
        _facility("c2", "columbarium", 0, opened=2024, floor_area_m2=9000),
    ]
    report = _preset(
        "hailing_14th",
        "city_columbarium_floor_area_2024",
        _context(facilities, townships=_with_township_named("京泰路街道")),
    )
    summary = report.summary.iloc[0]
    assert (summary["value"], summary["shortfall"], summary["status"]) == (20000, 9000, "not_met")
    assert list(_rows(report, "township").index) == [CODES[2]]
    elsewhere = _preset("hailing_14th", "city_columbarium_floor_area_2024", _context(facilities))
    assert elsewhere.summary.iloc[0]["status"] == "na"
    assert "京泰路街道" in elsewhere.summary.iloc[0]["note"]


def test_the_city_columbarium_must_be_new():
    townships = _with_township_named("京泰路街道")
    old = [_facility("c1", "columbarium", 2, opened=2015)]
    row = ("hailing_14th", "city_columbarium")
    assert _preset(*row, _context(old, townships=townships)).summary.iloc[0]["status"] == "not_met"
    new = _facility("c2", "columbarium", 2, opened=2023)
    summary = _preset(*row, _context([*old, new], townships=townships)).summary.iloc[0]
    assert summary["status"] == "met"


def test_the_xinghua_row_applies_in_xinghua_only():
    vigil = [_facility("v1", "vigil_centre", 2, opened=2023)]
    row = ("taizhou_14th", "xinghua_vigil_centre_2023")
    summary = _preset(*row, _context(vigil)).summary.iloc[0]
    assert summary["status"] == "na" and "321281" in summary["note"]
    townships = make_context().townships.copy()
    townships["county_code"] = "321281"
    assert _preset(*row, _context(vigil, townships=townships)).summary.iloc[0]["status"] == "met"


def test_the_staffing_row_counts_registered_population_and_never_the_resident_one():
    row = ("jinjiang_14th", "social_assistance_staff")
    # resident population only: not applicable, naming 户籍人口
    resident = _preset(*row, _context([]))
    assert resident.summary.iloc[0]["status"] == "na"
    assert _rows(resident, "township")["note"].str.contains("户籍人口").all()
    townships = make_context().townships.copy()
    # staff 1, 1, 3, 0; 户籍 15,000 (needs 1), 25,000 (2), 60,000 (3), 5,000 (1)
    townships["population_registered"] = [15000.0, 25000.0, 60000.0, 5000.0]
    report = _preset(*row, _context([], townships=townships))
    rows = _rows(report, "township")
    assert rows["target_value"].tolist() == [1, 2, 3, 1]
    assert rows["status"].tolist() == ["met", "not_met", "met", "not_met"]
    assert "户籍人口 25000" in rows.loc[CODES[1], "note"]
    assert report.summary.iloc[0]["value"] == 50.0


# --------------------------------------------------------------------------- GB 50180 and circles


def _circle_context(times: dict[str, list[float]], distances: dict[str, list[float]]):
    context = make_context()
    demand = context.coverage.demand.copy()
    for key, values in times.items():
        demand[f"time_min__{key}"] = values
    for key, values in distances.items():
        demand[f"dist_m__{key}"] = values
    context.coverage.demand = demand
    context.facilities = gpd.GeoDataFrame(
        [
            _facility("d1", "elder_care_centre", 0, subtype="day_care"),
            _facility("i1", "elder_care_centre", 1, subtype="institution"),
        ],
        crs="EPSG:4326",
    )
    context.layers_present = {"elder_care_centre"}
    return context


def test_gb_day_care_row_reads_the_day_care_distances_not_the_category_times():
    near = [100.0, 250.0, 300.0, 350.0, np.inf, np.inf, 299.0, 301.0]
    context = _circle_context(
        {"elder_care_centre": [1.0] * 8}, {"elder_care_centre.day_care": near}
    )
    report = _preset("gb50180", "circle_5min_day_care", context)
    rows = _rows(report, "township")
    # seniors per cell: 1000, 1000 | 500, 500 | 2000, 2000 | 250, 250 (within 300 m: ≤ 300)
    assert rows["value"].tolist() == [100.0, 50.0, 0.0, 50.0]
    assert "步行 300 米内" in report.summary.iloc[0]["note"]


def test_a_subtype_circle_without_its_times_is_not_applicable():
    context = _circle_context({"elder_care_centre": [1.0] * 8}, {})
    summary = _preset("gb50180", "circle_15min_elder_care", context).summary.iloc[0]
    assert summary["status"] == "na"
    assert "elder_care_centre.institution+special_care" in summary["note"]


def test_gb_has_no_ten_minute_row_and_both_culture_rows():
    ids = [t.id for t in parse_targets([{"preset": "gb50180"}])]
    assert not any("10min" in i for i in ids)
    targets = {t.id: t for t in parse_targets([{"preset": "gb50180"}])}
    station = targets["gb50180.circle_5min_culture"]
    assert (station.subtype, station.max_distance_m) == (("room",), 500)
    assert targets["gb50180.circle_15min_culture"].subtype == ("centre",)
    assert all(t.max_distance_m in (300, 500, 1000) for t in targets.values())


def test_a_circle_needs_minutes_or_metres_not_both():
    base = {"id": "c", "type": "service_circle", "category": "meal_point", "target_pct": 100}
    with pytest.raises(PlanError, match="exactly one of threshold_min"):
        parse_targets([base])
    with pytest.raises(PlanError, match="exactly one of threshold_min"):
        parse_targets([{**base, "threshold_min": 15, "max_distance_m": 800}])


# --------------------------------------------------------------------------- renovations


def _renovation_context(year: int = 2023, renovated: bool = True):
    rows = [
        _facility("n1", "community_centre", 0, subtype="community", opened=2023),
        _facility(
            "n2",
            "community_centre",
            1,
            subtype="community",
            opened=2010,
            renovated=2023 if renovated else np.nan,
        ),
        _facility(
            "n3",
            "community_centre",
            2,
            subtype="community",
            opened=2015,
            renovated=2021 if renovated else np.nan,
        ),
        _facility("n4", "community_centre", 3, subtype="street_centre", opened=2023),
    ]
    return _context(rows, year=year)


def test_new_or_renovated_counts_openings_and_renovations_of_the_year():
    summary = _preset("suzhou_2023", "new_community_centres", _renovation_context()).summary
    # n1 opened 2023 and n2 renovated 2023 (n4 is a street-level centre, not a 社区 centre)
    assert summary.iloc[0]["value"] == 2 and "新（改）建" in summary.iloc[0]["note"]


def test_renovation_rows_count_renovations_only():
    target = {
        "id": "r",
        "type": "new_facilities",
        "category": "community_centre",
        "event": "renovated",
        "min_count": 1,
        "year": 2023,
    }
    summary = evaluate_targets(parse_targets([target]), _renovation_context()).summary.iloc[0]
    assert (summary["value"], summary["status"]) == (1, "met")  # n2 only
    missing = evaluate_targets(parse_targets([target]), _renovation_context(renovated=False))
    assert missing.summary.iloc[0]["status"] == "na"
    assert "改建" in missing.summary.iloc[0]["note"]


def test_new_or_renovated_without_renovation_years_says_it_counts_openings_only():
    summary = _preset(
        "suzhou_2023", "new_community_centres", _renovation_context(renovated=False)
    ).summary.iloc[0]
    assert summary["value"] == 1 and "只计新建" in summary["note"]


def test_renovated_dementia_beds_are_summed_in_the_renovation_year():
    context = _context(
        [
            _facility("e1", "elder_care_centre", 0, opened=2005, renovated=2020, dementia_beds=60),
            _facility("e2", "elder_care_centre", 2, opened=2020, dementia_beds=30),
            _facility("e3", "elder_care_centre", 1, opened=2001, renovated=2019, dementia_beds=40),
        ],
        year=2020,
    )
    summary = _preset("chongming_2020", "renovated_dementia_beds", context).summary.iloc[0]
    assert (summary["value"], summary["shortfall"]) == (60, 40)


def test_an_unknown_event_names_the_allowed_ones():
    with pytest.raises(PlanError, match=r"unknown event 'rebuilt'.*opened_or_renovated"):
        parse_targets(
            [
                {
                    "id": "r",
                    "type": "new_facilities",
                    "category": "meal_point",
                    "event": "rebuilt",
                    "min_count": 1,
                }
            ]
        )


# --------------------------------------------------------------------------- 单处面积 and 等级


def test_single_site_floor_area_filter_and_share():
    facilities = [
        _facility("h1", "elder_care_centre", 0, subtype="day_care", floor_area_m2=450),
        _facility("h2", "elder_care_centre", 0, subtype="home_care_station", floor_area_m2=150),
        _facility("h3", "elder_care_centre", 2, subtype="comprehensive", floor_area_m2=400),
        _facility("h4", "elder_care_centre", 2, subtype="institution", floor_area_m2=9000),
    ]
    summary = _preset("jinjiang_14th", "elder_care_site_area", _context(facilities)).summary
    # h1 and h3 (exactly 400 passes) of the three community facilities h1–h3
    assert summary.iloc[0]["value"] == pytest.approx(200 / 3, abs=1e-3)
    # the 40 m² per 100 households row: new residential areas, sites of ≥ 400 m² only
    areas = gpd.GeoDataFrame(
        [
            {
                "code": "R1",
                "name": "新区一",
                "parent_code": CODES[0],
                "unit_kind": "小区",
                "households": 1000.0,
                "geometry": box(120.0, 30.0, 120.01, 30.01),
            },
            {
                "code": "R2",
                "name": "新区二",
                "parent_code": CODES[2],
                "unit_kind": "小区",
                "households": 1000.0,
                "geometry": box(120.02, 30.0, 120.03, 30.01),
            },
        ],
        crs="EPSG:4326",
    )
    frame = gpd.GeoDataFrame(facilities, crs="EPSG:4326")
    frame["unit_code__new_residential"] = ["R1", "R1", "R2", "R2"]
    context = _context([], units={"new_residential": areas})
    context.facilities = frame
    context.layers_present = {"elder_care_centre"}
    report = _preset("jinjiang_14th", "elder_care_floor_area", context)
    rows = _rows(report, "new_residential")
    # R1: 450 m² (the 150 m² station is under the single-site minimum) = 45 m²/100 households;
    # R2: 400 m² (the nursing home is not a community facility) = 40
    assert rows["value"].tolist() == [45.0, 40.0]
    assert set(rows["status"]) == {"met"}


def test_without_a_new_residential_layer_the_40_m2_row_is_not_applicable():
    summary = _preset(
        "jinjiang_14th",
        "elder_care_floor_area",
        _context([_facility("h1", "elder_care_centre", 0, subtype="day_care", floor_area_m2=450)]),
    ).summary
    assert summary.iloc[0]["status"] == "na" and "new_residential" in summary.iloc[0]["note"]


@pytest.mark.parametrize(
    ("text", "level"),
    [
        ("二级", 2),
        ("三级养老机构", 3),
        ("2级", 2),
        ("四星级", 4),
        ("1", 1),
        ("未评级", np.nan),
        ("", np.nan),
    ],
)
def test_grade_text_is_read_as_a_level(text, level):
    value = _grade_level(pd.Series([text])).iloc[0]
    assert value == level or (np.isnan(level) and np.isnan(value))


def test_rural_elder_homes_at_grade_two_or_above():
    context = _context(
        [
            _facility("k1", "elder_care_centre", 2, subtype="special_care", grade="二级"),
            _facility("k2", "elder_care_centre", 3, subtype="special_care", grade="一级"),
            _facility("k3", "elder_care_centre", 3, subtype="special_care", grade=""),
            _facility("k4", "elder_care_centre", 0, subtype="special_care", grade="一级"),  # 街道
            _facility("k5", "elder_care_centre", 2, subtype="institution", grade="五级"),
        ]
    )
    report = _preset("taizhou_14th", "rural_elder_home_grade", context)
    summary = report.summary.iloc[0]
    # the 镇 敬老院: k1 二级 of k1–k3 (no grade does not pass) = 1/3
    assert summary["value"] == pytest.approx(100 / 3, abs=1e-3) and summary["shortfall"] == 2
    assert list(_rows(report, "township").index) == CODES[2:]


# --------------------------------------------------------------------------- staff, services, beds


def test_village_staffing_reads_the_unit_layers_staff_column():
    context = make_context()
    villages = context.units["village"].copy()
    villages["staff_certified_social_worker"] = [1, 0, 2, 1, 0, 0, 1, np.nan]
    context.units = {"village": villages}
    report = evaluate_targets(
        parse_targets(
            [{"preset": "hailing_14th", "only": ["certified_social_worker_per_village"]}]
        ),
        context,
    )
    villages_rows = _rows(report, "village")
    assert villages_rows["status"].tolist() == [
        "met",
        "not_met",
        "met",
        "met",
        "not_met",
        "not_met",
        "met",
        "na",
    ]
    summary = report.summary.iloc[0]
    assert (summary["met_units"], summary["total_units"]) == (4, 7)
    assert _rows(report, "township").loc[CODES[0], "value"] == 50.0


def test_staff_per_1000_seniors():
    context = make_context()
    townships = context.townships.copy()
    # pop60 2000, 1000, 4000, 500 → needs 2, 1, 4, 1
    townships["staff_elder_social_worker"] = [2.0, 0.0, 3.0, 1.0]
    context.townships = townships
    report = evaluate_targets(
        parse_targets([{"preset": "jinjiang_14th", "only": ["elder_social_worker_per_1000"]}]),
        context,
    )
    rows = _rows(report, "township")
    assert rows["target_value"].tolist() == [2, 1, 4, 1]
    assert rows["shortfall"].tolist() == [0, 1, 1, 0]
    assert report.summary.iloc[0]["value"] == 50.0


def test_staffing_needs_brackets_or_a_rate():
    with pytest.raises(PlanError, match="exactly one of brackets"):
        parse_targets([{"id": "s", "type": "staffing", "staff_key": "x"}])


def test_general_service_model_share_of_communities():
    context = _context(
        [
            _facility("g1", "community_centre", 0, 0, services="general_service_model"),
            _facility("g2", "community_centre", 0, 1, services="volunteer_station"),
            _facility(
                "g3",
                "community_centre",
                2,
                1,
                services="general_service_model;general_service_window",
            ),
        ]
    )
    model = _preset("taizhou_14th", "general_service_model", context).summary.iloc[0]
    assert model["value"] == 25.0  # 2 of 8 villages
    window = _preset("hailing_14th", "general_service_window", context).summary.iloc[0]
    assert window["value"] == 12.5


def test_public_bed_share():
    context = _context(
        [
            _facility(
                "e1", "elder_care_centre", 0, subtype="institution", beds=100, public_beds=80
            ),
            _facility(
                "e2", "elder_care_centre", 2, subtype="institution", beds=100, public_beds=60
            ),
        ],
        year=2024,
    )
    summary = _preset("jinjiang_14th", "public_bed_share", context).summary.iloc[0]
    assert (summary["value"], summary["target_value"], summary["status"]) == (70, 85, "not_met")
    assert summary["shortfall"] == 30 and summary["shortfall_unit"] == "public beds"


def test_register_columns_for_the_new_attributes(tmp_path):
    path = _csv(
        tmp_path,
        [
            "东湖敬老院,敬老院,119.91,32.46,二级,2010,2023,80,60,20,全科服务",
            "月湖护理院,护理院,119.92,32.46,,2019,,120,0,,医养结合",
        ],
        header="名称,类型,经度,纬度,机构等级,开业年份,改造提升年份,床位数,公益性床位,"
        "认知障碍照护床位,服务内容",
    )
    frame, rejects = _read(path)
    assert rejects.empty
    first, second = frame.iloc[0], frame.iloc[1]
    assert (first["subtype"], first["grade"], first["renovated"]) == ("special_care", "二级", 2023)
    assert (first["public_beds"], first["dementia_beds"]) == (60, 20)
    assert first["services"] == "general_service_model"
    assert np.isnan(second["renovated"]) and second["services"] == "medical_care"


def test_a_renovation_year_that_is_not_a_year_rejects_the_row(tmp_path):
    path = _csv(tmp_path, ["东湖敬老院,119.91,32.46,去年"], header="名称,经度,纬度,改建年份")
    frame, rejects = _read(path)
    assert frame.empty and "改建年份 '去年' 不是年份" in rejects.iloc[0]["reason"]


def test_units_carry_registered_population_and_staff_columns(tmp_path):
    townships = gpd.GeoDataFrame(
        {"code": [EAST], "name": ["东街道"], "kind": ["street"]},
        geometry=[box(120.0, 30.0, 120.01, 30.01)],
        crs="EPSG:4326",
    )
    path = _write(
        tmp_path,
        [
            {
                "名称": "东门社区",
                "代码": EAST + "001",
                "常住人口": 3000,
                "户籍人口": 2500,
                "staff_social_assistance_village": 2,
                "geometry": _in_east(0),
            }
        ],
    )
    units, rejects, _ = read_units(UnitSpec(level="village", path=path), townships)
    assert rejects.empty
    row = units.iloc[0]
    assert (row["population"], row["population_registered"]) == (3000, 2500)
    assert row["staff_social_assistance_village"] == 2


def test_a_service_no_facility_records_is_not_applicable_not_zero():
    context = _context([_facility("g1", "community_centre", 0, 0, services="volunteer_station")])
    summary = _preset("taizhou_14th", "general_service_model", context).summary.iloc[0]
    assert summary["status"] == "na" and "general_service_model" in summary["note"]


def test_a_row_about_a_named_street_elsewhere_is_not_applicable():
    context = _context([_facility("c1", "columbarium", 2, opened=2023)])
    summary = _preset("hailing_14th", "city_columbarium", context).summary.iloc[0]
    assert summary["status"] == "na" and "京泰路街道" in summary["note"]


def test_a_register_without_grades_leaves_the_grade_row_not_applicable():
    context = _context([_facility("k1", "elder_care_centre", 2, subtype="special_care", grade="")])
    summary = _preset("taizhou_14th", "rural_elder_home_grade", context).summary.iloc[0]
    assert summary["status"] == "na" and "等级" in summary["note"]
