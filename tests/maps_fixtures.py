"""A synthetic, realistic RunResult for the map and briefing tests (no pipeline needed).

Four townships south-west of Shanghai (inside China, so GCJ-02 offsets apply), about fifty
facilities in three categories, dissolved service areas at 5/10/15 minutes, uncovered cells,
township metrics, gap rows (township and village level), a gap summary and proposed sites.
One facility and one township carry HTML/JS in their names to test escaping.
"""

from __future__ import annotations

import geopandas as gpd
import numpy as np
import pandas as pd
import shapely
from shapely.geometry import Point, box

from lifecircle.coverage.views import target_walks
from lifecircle.coverage.walk import KindWalk, WalkModel
from lifecircle.layers.rejects import REJECT_COLUMNS
from lifecircle.results import RunResult

XSS_NAME = "<script>alert(1)</script>"
XSS_TOWNSHIP = "新<img src=x onerror=alert(2)>镇"
XSS_POINT = (121.3375, 31.0060)  # lon, lat of the facility named XSS_NAME (isolated corner)
BACKTICK_NAME = "`${alert(3)}` 食堂"
JINJA_NAME = "{{ 7*7 }}号{% if true %}食堂{% endif %}"  # template syntax stays text

CATEGORIES = {
    "elder_care_centre": {
        "name_zh": "养老服务设施",
        "name_en": "Elder-care facility",
        "icon": "home",
        "color": "#d94801",
        "subtypes": {
            "day_care": {"name_zh": "日间照料中心", "name_en": "Day-care centre"},
            "institution": {"name_zh": "养老机构", "name_en": "Residential care institution"},
        },
    },
    "meal_point": {
        "name_zh": "老年助餐点",
        "name_en": "Senior meal point",
        "icon": "cutlery",
        "color": "#e6550d",
    },
    "social_work_station": {
        "name_zh": "社会工作站",
        "name_en": "Social-work station",
        "icon": "handshake-o",
        "color": "#3182bd",
    },
}

# Streets walk 5/10/15 minutes, towns 10/15/20 (the main threshold is the largest of each).
WALK = {
    "speed_mps": 1.0,
    "thresholds_min": [5.0, 10.0, 15.0],
    "by_kind": {
        "street": {"thresholds_min": [5, 10, 15]},
        "town": {"speed_mps": 1.2, "thresholds_min": [10, 15, 20]},
    },
}
WALK_MODEL = WalkModel(
    speed_mps=1.0,
    thresholds_min=(5.0, 10.0, 15.0),
    by_kind={
        "street": KindWalk(speed_mps=1.0, thresholds_min=(5.0, 10.0, 15.0)),
        "town": KindWalk(speed_mps=1.2, thresholds_min=(10.0, 15.0, 20.0)),
    },
)
THRESHOLDS_ALL = (5, 10, 15, 20)


def clipped_walk_areas(
    service_areas: gpd.GeoDataFrame, townships: gpd.GeoDataFrame, walks: pd.DataFrame
) -> gpd.GeoDataFrame:
    """The fixture's areas at each kind's walk, cut to that kind's townships (the pipeline
    builds these from the network: coverage.views.kind_service_areas)."""
    rows = []
    for category, kind, minutes in (
        walks[["category", "kind", "threshold_min"]].drop_duplicates().itertuples(index=False)
    ):
        area = service_areas[
            (service_areas["category"] == category) & (service_areas["threshold_min"] == minutes)
        ]
        if len(area):
            within = shapely.union_all(townships.geometry[townships["kind"] == kind].to_numpy())
            rows.append(
                (category, kind, minutes, shapely.intersection(area.geometry.iloc[0], within))
            )
    return gpd.GeoDataFrame(
        pd.DataFrame(rows, columns=["category", "kind", "threshold_min", "geometry"]),
        geometry="geometry",
        crs="EPSG:4326",
    )


_WORD = {"elder_care_centre": "养老院", "meal_point": "助餐点", "social_work_station": "社工站"}

# code, name, kind, kind_zh, (west, south, east, north)
TOWNSHIPS = [
    ("310117001", "岳阳街道", "street", "街道", (121.30, 31.00, 121.34, 31.03)),
    ("310117002", "永丰街道", "street", "街道", (121.34, 31.00, 121.38, 31.03)),
    ("310117101", XSS_TOWNSHIP, "town", "镇", (121.30, 30.97, 121.34, 31.00)),
    ("310117102", "石湖荡镇", "town", "镇", (121.34, 30.97, 121.38, 31.00)),
]


def _wiggly_box(bounds: tuple[float, float, float, float], n: int = 400) -> shapely.Polygon:
    """A rectangle with many small wiggles along its edges, like a surveyed boundary."""
    west, south, east, north = bounds
    t = np.linspace(0, 1, n, endpoint=False)
    edges = [
        np.column_stack([west + (east - west) * t, np.full(n, south)]),
        np.column_stack([np.full(n, east), south + (north - south) * t]),
        np.column_stack([east - (east - west) * t, np.full(n, north)]),
        np.column_stack([np.full(n, west), north - (north - south) * t]),
    ]
    ring = np.vstack(edges)
    # ~0.5 m wiggles: well below the display tolerance, so simplification removes them.
    ring = ring + np.sin(np.arange(len(ring)) * 1.7)[:, None] * 8e-6 * np.array([[0.3, 0.7]])
    return shapely.Polygon(ring)


def make_result(
    *, n_per_category: int = 16, lang: str = "zh", extra_meal: int = 0, seed: int = 7
) -> RunResult:
    """The synthetic run result; ``extra_meal`` adds that many meal points (for clustering)."""
    rng = np.random.default_rng(seed)
    townships = gpd.GeoDataFrame(
        {
            "code": [t[0] for t in TOWNSHIPS],
            "name": [t[1] for t in TOWNSHIPS],
            "kind": [t[2] for t in TOWNSHIPS],
            "kind_zh": [t[3] for t in TOWNSHIPS],
            "county_code": "310117",
            "population_60": [5200.0, 4300.0, 2600.0, 2100.0],
        },
        geometry=[_wiggly_box(t[4]) for t in TOWNSHIPS],
        crs="EPSG:4326",
    )

    rows = []
    counts = {
        "elder_care_centre": n_per_category,
        "meal_point": n_per_category + extra_meal,
        "social_work_station": n_per_category,
    }
    for cat, n in counts.items():
        for i in range(n):
            code, tname, _, _, (w, s, e, nn) = TOWNSHIPS[i % len(TOWNSHIPS)]
            lon = rng.uniform(w + 0.004, e - 0.004)
            lat = rng.uniform(s + 0.004, nn - 0.004)
            rows.append(
                {
                    "facility_id": f"{cat}:{i + 2}",
                    "category": cat,
                    "subtype": ("day_care" if i % 2 else "institution")
                    if cat == "elder_care_centre"
                    else "",
                    "name": f"{tname}{_WORD[cat]}{i + 1}号",
                    "address": f"示范路{i + 1}号",
                    "stated_township": tname,
                    "beds": float(20 + 5 * i) if cat == "elder_care_centre" else np.nan,
                    "township_code": code,
                    "township_name": tname,
                    "geometry": Point(lon, lat),
                }
            )
    # Register names carrying markup: they must show as text and run nothing.
    rows[3]["name"] = XSS_NAME
    rows[3]["geometry"] = Point(*XSS_POINT)
    rows[3]["township_code"], rows[3]["township_name"] = "310117001", "岳阳街道"
    rows[4]["name"] = BACKTICK_NAME
    rows[5]["name"] = JINJA_NAME
    facilities = gpd.GeoDataFrame(rows, crs="EPSG:4326")

    areas = []
    for cat in ("elder_care_centre", "meal_point"):
        pts = facilities[facilities["category"] == cat].geometry
        for t, radius in ((5, 0.003), (10, 0.006), (15, 0.009), (20, 0.012)):
            areas.append(
                {
                    "category": cat,
                    "threshold_min": t,
                    "geometry": shapely.union_all(shapely.buffer(pts.values, radius, quad_segs=16)),
                }
            )
    service_areas = gpd.GeoDataFrame(areas, crs="EPSG:4326")

    unc = []
    for cat in ("elder_care_centre", "meal_point"):
        for t in THRESHOLDS_ALL:
            for k in range(12):
                code, *_, (w, s, e, nn) = TOWNSHIPS[k % len(TOWNSHIPS)]
                unc.append(
                    {
                        "category": cat,
                        "threshold_min": t,
                        "cell_id": k,
                        "pop": 100.0 + k,
                        "pop60": float(5 * k),
                        "township_code": code,
                        "time_min": 20.0,
                        "geometry": Point(rng.uniform(w, e), rng.uniform(s, nn)),
                    }
                )
    uncovered = gpd.GeoDataFrame(unc, crs="EPSG:4326")

    metrics = []
    for j, (code, _, kind, *_rest) in enumerate(TOWNSHIPS):
        for c, cat in enumerate(("elder_care_centre", "meal_point")):
            for t in WALK["by_kind"][kind]["thresholds_min"]:
                share = min(1.0, 0.2 + 0.15 * j + 0.1 * c + t / 50)
                metrics.append(
                    {
                        "township_code": code,
                        "category": cat,
                        "threshold_min": t,
                        "pop": 10000.0,
                        "pop60": 3000.0,
                        "covered_pop": 10000 * share,
                        "covered_pop60": 3000 * share,
                        "share_pop": share,
                        "share_pop60": share,
                    }
                )
    township_metrics = pd.DataFrame(metrics)

    gaps = []
    statuses = [("met", "not_met", "met", "na"), ("not_met", "met", "not_met", "met")]
    targets = [
        ("elder_cover", "养老服务设施15分钟步行覆盖率", "%", 80.0, "elder_care_centre"),
        ("meal_presence", "每个乡镇至少1处老年助餐点", "处", 1.0, "meal_point"),
    ]
    for (tid, indicator, unit, tv, category), st in zip(targets, statuses, strict=True):
        for (code, tname, kind, *_r), status in zip(TOWNSHIPS, st, strict=True):
            value = {"met": tv + 5, "not_met": tv / 2, "na": np.nan}[status]
            gaps.append(
                {
                    "target_id": tid,
                    "indicator": indicator,
                    "document": "十四五规划",
                    "target_type": "coverage",
                    "level": "township",
                    "unit_code": code,
                    "unit_name": tname,
                    "parent_code": "310117",
                    "kind": kind,
                    "value": value,
                    "target_value": tv,
                    "unit": unit,
                    "status": status,
                    "status_zh": {"met": "达标", "not_met": "未达标", "na": "不适用"}[status],
                    "shortfall": 0.0 if status != "not_met" else tv / 2,
                    "shortfall_unit": "facilities",
                    "note": "镇域人口不足" if status == "na" else "",
                    "note_en": "too few people" if status == "na" else "",
                    "category": category,
                    # the circle is judged at 15 minutes in streets, 20 in towns
                    "threshold_min": (15.0 if kind == "street" else 20.0)
                    if tid == "elder_cover"
                    else np.nan,
                }
            )
    gaps.append(
        {
            "target_id": "village_room",
            "indicator": "村(居)社工室覆盖",
            "document": "十四五规划",
            "target_type": "presence",
            "level": "village",
            "unit_code": "310117101201",
            "unit_name": "<i>东村</i>",
            "parent_code": "310117101",
            "kind": "town",
            "value": 0.0,
            "target_value": 1.0,
            "unit": "处",
            "status": "not_met",
            "status_zh": "未达标",
            "shortfall": 1.0,
            "shortfall_unit": "facilities",
            "note": "",
            "note_en": "",
        }
    )
    gaps = pd.DataFrame(gaps)
    summary = pd.DataFrame(
        [
            {
                **gaps.iloc[0].to_dict(),
                "level": "district",
                "unit_code": "",
                "unit_name": "",
                "value": 50.0,
                "status": "not_met",
                "status_zh": "未达标",
                "met_units": 2.0,
                "total_units": 3.0,
                "shortfall": 1.0,
            },
            {
                **gaps.iloc[4].to_dict(),
                "level": "district",
                "unit_code": "",
                "unit_name": "",
                "value": 75.0,
                "status": "met",
                "status_zh": "达标",
                "met_units": 3.0,
                "total_units": 4.0,
                "shortfall": 0.0,
            },
        ]
    )

    sites = gpd.GeoDataFrame(
        {
            "rank": [1, 2, 3],
            "category": ["meal_point", "meal_point", "elder_care_centre"],
            "township_code": ["310117002", "310117101", "310117101"],
            "township_name": ["永丰街道", XSS_TOWNSHIP, XSS_TOWNSHIP],
            "newly_covered_pop60": [420.0, 310.0, 150.0],
            "newly_covered_pop": [1500.0, 900.0, 400],
            "marginal_gain": [420.0, 310.0, 150.0],
            "forced": [False, True, False],
            "road_name": ["青石路", "", "柳岸路"],
        },
        geometry=[Point(121.36, 31.015), Point(121.32, 30.985), Point(121.31, 30.99)],
        crs="EPSG:4326",
    )

    villages = gpd.GeoDataFrame(
        {
            "code": ["310117101201", "310117101202"],
            "name": ["<i>东村</i>", "西村"],
            "level": "village",
            "unit_kind": "村",
            "parent_code": "310117101",
        },
        geometry=[box(121.32, 30.97, 121.34, 31.00), box(121.30, 30.97, 121.32, 31.00)],
        crs="EPSG:4326",
    )

    # what the maps show per target (coverage.views on the fixture's frames; the uncovered
    # cells of a kind's walk are the fixture's cells of that threshold in townships of the kind)
    walks = target_walks(gaps, WALK_MODEL, ["street", "town"])
    kind_of = dict(zip(townships["code"], townships["kind"], strict=True))
    unc_kind = uncovered.assign(kind=uncovered["township_code"].map(kind_of))
    keys = walks[["category", "kind", "threshold_min"]].drop_duplicates()
    walk_uncovered = unc_kind.merge(keys, on=["category", "kind", "threshold_min"])

    return RunResult(
        study_name="示范区 2025",
        lang=lang,
        townships=townships,
        facilities=facilities,
        categories=CATEGORIES,
        service_areas=service_areas,
        township_metrics=township_metrics,
        gaps=gaps,
        gap_summary=summary,
        rejected=pd.DataFrame(columns=list(REJECT_COLUMNS)),
        proposed_sites=sites,
        run_info={"walk": WALK},
        units={"village": villages},
        target_walks=walks,
        walk_areas=clipped_walk_areas(service_areas, townships, walks),
        walk_uncovered=gpd.GeoDataFrame(walk_uncovered, geometry="geometry", crs="EPSG:4326"),
    )


def bounds_box(code: str) -> shapely.Polygon:
    """The rectangle of a fixture township."""
    return box(*next(t[4] for t in TOWNSHIPS if t[0] == code))
