"""A notebook-style tour of lifecircle's Python API on the bundled sample district 示范区.

Run it as ``python examples/sample_district.py`` (a few seconds); the test suite runs it too.
Every step is one verb over GeoDataFrames; the same verbs serve your own district's files.
"""

from __future__ import annotations

import lifecircle as lc

# 1. The walking network (OSM extract; a .pbf, .graphml, road lines or a place name work too).
net = lc.load_walk_network(lc.sample_path("network.osm.bz2"))
print(f"walk network: {net.n_nodes} nodes, {net.n_edges} edges, CRS {net.crs.name}")

# 2. Registers: Baidu (bd09) and Amap (gcj02) coordinates are converted to WGS-84.
meals, meal_rejects = lc.read_register(
    lc.sample_path("meal_points.csv"), category="meal_point", crs="bd09"
)
centres, centre_rejects = lc.read_register(
    lc.sample_path("elder_care_centres.xlsx"), category="elder_care_centre", crs="gcj02"
)
print(f"meal points: {len(meals)} used, {len(meal_rejects)} rejected")
print(f"elder-care centres: {len(centres)} used, {len(centre_rejects)} rejected")

# 3. Townships and demand (population raster: band 1 everyone, band 2 aged 60+).
towns = lc.read_townships(lc.sample_path("townships"))
demand = lc.read_demand(towns, raster=lc.sample_path("population.tif"), seniors_band=2)

# 4. Minutes from every demand cell to the nearest meal point, on the cells' own index.
times = lc.nearest_facility_times(net, meals, demand, limit_m=2000, speed_mps=1.0)
within = demand.assign(minutes=times["time_min"])
covered = within[within["minutes"] <= 15].groupby("township_code")["pop60"].sum()
share = (covered / within.groupby("township_code")["pop60"].sum()).fillna(0.0)
print("seniors within 15 minutes of a meal point, by township:")
for code, value in share.sort_values().items():
    name = towns.loc[towns["code"] == code, "name"].iloc[0]
    print(f"  {name} ({code}): {value:.0%}")

# 5. Service areas of three centres: 15 minutes at 1 m/s is 900 m along the streets.
areas = lc.service_areas(net, centres.head(3), reach_m=900)
for label, row in areas.iterrows():
    print(f"  {label}: {row['area_m2'] / 1e6:.2f} km² within 900 m")

# 6. A plan target, evaluated per township.
report = lc.evaluate_targets(
    [
        {
            "id": "meal_circle",
            "type": "service_circle",
            "category": "meal_point",
            "threshold_min": 15,
            "population": "pop60",
            "target_pct": 80,
        }
    ],
    townships=towns,
    facilities=meals,
    demand=demand,
    network=net,
)
summary = report.summary.iloc[0]
print(
    f"target {summary['target_id']}: {summary['value']:.1f} vs {summary['target_value']:g} "
    f"-> {summary['status']}"
)

# 7. Three new meal points where they bring the most seniors within 15 minutes.
result = lc.site(net, meals, demand, towns, category="meal_point", p=3, threshold_min=15)
print(
    f"3 new meal points ({result.method}): seniors covered "
    f"{result.share_before:.1%} -> {result.share_after:.1%}"
)
print(result.sites[["rank", "township_name", "newly_covered_pop60"]].to_string(index=False))
