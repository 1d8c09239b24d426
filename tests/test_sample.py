"""Tests of the fictional sample district generator and of the committed sample files."""

from __future__ import annotations

import bz2
import csv
import io
import json
import re

import geopandas as gpd
import networkx as nx
import numpy as np
import openpyxl
import osmnx as ox
import pytest
import rasterio
import shapely
from shapely.geometry import Point, shape

from lifecircle.data import data_path
from lifecircle.geo.crs import bd09_to_wgs84, gcj02_to_wgs84
from tools.sample import generate_sample

DATA = data_path()
SAMPLE = DATA / "sample"
UTM = "EPSG:32650"
GENERATED = [
    "boundaries/sample_townships.geojson",
    "sample/network.osm.bz2",
    "sample/population.tif",
    "sample/river.geojson",
    "sample/villages.geojson",
    "sample/elder_care_centres.xlsx",
    "sample/meal_points.csv",
    "sample/columbaria.geojson",
    "sample/social_work_stations.csv",
    "sample/children_homes.csv",
    "sample/community_centres.csv",
    "sample/FAULTS.md",
    "sample/README.md",
]
EC_HEADER = [
    "序号",
    "机构名称",
    "类型",
    "地址",
    "经度",
    "纬度",
    "床位数",
    "护理型床位",
    "所属街道",
    "开业年份",
    "建筑面积（㎡）",
]


# --------------------------------------------------------------------------- fixtures


@pytest.fixture(scope="module")
def regenerated(tmp_path_factory):
    out = tmp_path_factory.mktemp("sample")
    figures = generate_sample(out)
    return out, figures


@pytest.fixture(scope="module")
def graph():
    return ox.graph_from_xml(SAMPLE / "network.osm.bz2", simplify=True, retain_all=True)


@pytest.fixture(scope="module")
def edges_m(graph):
    edges = ox.graph_to_gdfs(graph, nodes=False)
    return edges.to_crs(UTM)


@pytest.fixture(scope="module")
def road_tree(edges_m):
    return shapely.STRtree(edges_m.geometry.values)


@pytest.fixture(scope="module")
def townships_m():
    return gpd.read_file(DATA / "boundaries" / "sample_townships.geojson").to_crs(UTM)


@pytest.fixture(scope="module")
def river():
    return gpd.read_file(SAMPLE / "river.geojson").to_crs(UTM)


@pytest.fixture(scope="module")
def faults():
    rows = []
    for line in (SAMPLE / "FAULTS.md").read_text(encoding="utf-8").splitlines():
        m = re.match(r"^\| (\S+\.(?:csv|xlsx|geojson)) \| (\d+) \| ([^|]*) \| ([^|]+) \|$", line)
        if m:
            rows.append({"file": m[1], "row": int(m[2]), "name": m[3].strip(), "fault": m[4]})
    return rows


def road_distance_m(tree, lon, lat) -> np.ndarray:
    pts = gpd.GeoSeries(gpd.points_from_xy(lon, lat), crs="EPSG:4326").to_crs(UTM)
    _, dist = tree.query_nearest(pts.values, return_distance=True, all_matches=False)
    return dist


def read_csv(name: str, encoding: str) -> list[dict[str, str]]:
    text = (SAMPLE / name).read_bytes().decode(encoding)
    return list(csv.DictReader(io.StringIO(text)))


def fault_lines(faults, name: str) -> set[int]:
    return {f["row"] for f in faults if f["file"] == name}


# --------------------------------------------------------------------------- determinism


@pytest.mark.parametrize("relpath", GENERATED)
def test_regenerating_reproduces_committed_file_byte_for_byte(regenerated, relpath):
    out, _ = regenerated
    assert (out / relpath).read_bytes() == (DATA / relpath).read_bytes(), (
        f"{relpath} differs from a fresh `python -m tools.sample`: regenerate and commit"
    )


def test_generator_writes_nothing_else(regenerated):
    out, _ = regenerated
    written = sorted(str(p.relative_to(out)) for p in out.rglob("*") if p.is_file())
    assert written == sorted(GENERATED)


def test_figures_match_the_files(regenerated):
    _, fig = regenerated
    with rasterio.open(SAMPLE / "population.tif") as src:
        assert fig["pop"] == pytest.approx(float(src.read(1).sum(dtype=np.float64)), abs=1)
        assert fig["pop60"] == pytest.approx(float(src.read(2).sum(dtype=np.float64)), abs=1)
    text = bz2.decompress((SAMPLE / "network.osm.bz2").read_bytes()).decode("utf-8")
    assert fig["osm_nodes"] == text.count("<node ")
    assert fig["osm_ways"] == text.count("<way ")


# --------------------------------------------------------------------------- network


def test_network_file_is_small_bz2_osm_xml_with_node_count_in_range():
    raw = (SAMPLE / "network.osm.bz2").read_bytes()
    assert raw[:3] == b"BZh"
    assert len(raw) < 3_000_000
    text = bz2.decompress(raw).decode("utf-8")
    assert text.startswith("<?xml") and '<osm version="0.6"' in text
    ids = [int(i) for i in re.findall(r'<node id="(\d+)"', text)]
    assert 20_000 <= len(ids) <= 60_000
    assert min(ids) > 0 and len(set(ids)) == len(ids)
    refs = {int(i) for i in re.findall(r'<nd ref="(\d+)"', text)}
    assert refs == set(ids), "every node is used by a way and every way node exists"


def test_network_tags_are_realistic():
    text = bz2.decompress((SAMPLE / "network.osm.bz2").read_bytes()).decode("utf-8")
    highways = set(re.findall(r'<tag k="highway" v="([a-z_]+)"/>', text))
    assert {"primary", "tertiary", "residential", "service", "footway", "path", "track"} <= highways
    names = set(re.findall(r'<tag k="name" v="([^"]+)"/>', text))
    assert len(names) >= 10 and all(re.search(r"[\u4e00-\u9fff]", n) for n in names)
    assert text.count('<tag k="bridge" v="yes"/>') == 3


def test_graph_loads_with_osmnx_as_one_main_component_plus_fragments(graph):
    sizes = sorted((len(c) for c in nx.weakly_connected_components(graph)), reverse=True)
    assert 2_000 <= len(graph) <= 20_000
    assert sizes[0] >= 0.99 * len(graph)
    assert 1 <= len(sizes) - 1 <= 3, "a couple of deliberately disconnected fragments"
    assert all(s < 50 for s in sizes[1:])


def test_no_edge_crosses_the_river_except_on_a_bridge(edges_m, river):
    water = river[river["kind"] == "river"].geometry.union_all().buffer(-1.0)
    crossing = edges_m[edges_m.intersects(water)]
    assert len(crossing) > 0, "the bridges cross the river"

    def is_bridge(v) -> bool:
        return v == "yes" or (isinstance(v, list) and "yes" in v)

    assert crossing["bridge"].map(is_bridge).all(), crossing.drop(columns="geometry").head()
    # every bridge of river.geojson carries a network edge, and there are exactly three
    bridges = river[river["kind"] == "bridge"]
    assert len(bridges) == 3
    for geom in bridges.geometry:
        assert crossing.intersects(geom.buffer(2.0)).any()


def test_river_is_80_m_wide_and_crosses_the_district(river, townships_m):
    water = river[river["kind"] == "river"].geometry.union_all()
    width_m = 2 * water.area / water.length
    assert 60 <= width_m <= 100
    district = townships_m.union_all()
    banks = shapely.get_parts(district.difference(water.buffer(0.5)))
    assert len(banks) == 2, "the river runs from edge to edge, cutting the district in two"
    assert min(b.area for b in banks) > 20e6


# --------------------------------------------------------------------------- townships


def test_townships_tile_the_district(townships_m):
    assert list(townships_m["code"]) == [
        "329901001",
        "329901002",
        "329901003",
        "329901004",
        "329901100",
        "329901101",
        "329901102",
        "329901103",
    ]
    assert list(townships_m["name"]) == [
        "青石街道",
        "柳岸街道",
        "文昌街道",
        "东湖街道",
        "白鹭镇",
        "稻香镇",
        "青山镇",
        "桃源镇",
    ]
    assert townships_m.is_valid.all()
    geoms = list(townships_m.geometry)
    for i in range(len(geoms)):
        for j in range(i + 1, len(geoms)):
            assert geoms[i].intersection(geoms[j]).area < 1.0, (i, j)
    union = shapely.union_all(geoms)
    assert union.geom_type == "Polygon" and len(union.interiors) == 0, "no gaps"
    assert abs(union.area - sum(g.area for g in geoms)) < 5.0
    assert 60e6 <= union.area <= 100e6


def test_townships_have_integer_households():
    doc = json.loads((DATA / "boundaries" / "sample_townships.geojson").read_text("utf-8"))
    for feat in doc["features"]:
        assert set(feat["properties"]) == {"code", "name", "households", "staff_social_assistance"}
        assert isinstance(feat["properties"]["staff_social_assistance"], int)
        assert isinstance(feat["properties"]["households"], int)
        assert feat["properties"]["households"] > 1000


def test_township_boundary_follows_the_river(townships_m, river):
    water = river[river["kind"] == "river"].geometry.union_all()
    by_name = townships_m.set_index("name").geometry
    shared = by_name["青石街道"].boundary.intersection(by_name["文昌街道"].boundary)
    assert shared.length > 1000
    assert shared.difference(water.buffer(1.0)).length < 1.0


def test_coordinates_are_rounded_to_7_decimals():
    text = (DATA / "boundaries" / "sample_townships.geojson").read_text("utf-8")
    decimals = [len(d) for d in re.findall(r"\d+\.(\d+)", text)]
    assert max(decimals) <= 7


# --------------------------------------------------------------------------- units


def test_village_units_codes_names_and_parents(townships_m):
    units = gpd.read_file(SAMPLE / "villages.geojson").to_crs(UTM)
    assert units["code"].str.fullmatch(r"\d{12}").all()
    seq = units["code"].str[9:].astype(int)
    assert (units["name"].str.endswith("社区") == (seq < 200)).all()
    assert (units["name"].str.endswith("村") == (seq >= 200) & (seq < 400)).all()
    assert units["parent_code"].isna().sum() >= 3, "some units must be linked by code or place"
    by_code = townships_m.set_index("code").geometry
    inside = [by_code.index[by_code.contains(g.representative_point())][0] for g in units.geometry]
    wrong = units[units["code"].str[:9] != np.array(inside)]
    assert list(wrong["name"]) == ["新垛村"], "exactly one unit has a misleading code prefix"
    assert {c[:9] for c in inside} >= {"329901100", "329901101", "329901001"}
    # the units of a township tile it
    for code in ("329901100", "329901101", "329901001"):
        parts = units.geometry[np.array(inside) == code]
        assert abs(shapely.union_all(parts.values).area - by_code[code].area) < 2.0
    assert (units["households"] > 0).all()


# --------------------------------------------------------------------------- population


def test_population_raster_layout_and_totals(townships_m):
    with rasterio.open(SAMPLE / "population.tif") as src:
        assert src.crs.to_epsg() == 32650
        assert src.res == (100.0, 100.0)
        assert src.count == 2 and src.dtypes == ("float32", "float32")
        assert src.descriptions == ("pop", "pop60")
        assert src.profile["compress"].lower() == "deflate"
        assert src.transform.c % 100 == 0 and src.transform.f % 100 == 0
        pop, pop60 = src.read(1).astype(float), src.read(2).astype(float)
        rows, cols = np.nonzero(pop > 0)
        xs, ys = rasterio.transform.xy(src.transform, rows, cols)
    xs, ys = np.asarray(xs), np.asarray(ys)
    kind = np.where(townships_m["code"].str[6] == "0", "street", "town")
    urban = shapely.union_all(townships_m.geometry[kind == "street"].values)
    in_urban = shapely.contains_xy(urban, xs, ys)
    people = pop[rows, cols]
    assert people[in_urban].sum() == pytest.approx(250_000, rel=0.02)
    assert people[~in_urban].sum() == pytest.approx(60_000, rel=0.05)
    # small cells carry rounding (0.7 people, 0.1 of them seniors); judge cells of 10+ people
    big = people >= 10
    share = pop60[rows, cols][big] / people[big]
    in_urban = in_urban[big]
    assert share.min() >= 0.145 and share.max() <= 0.355
    assert share[~in_urban].mean() > share[in_urban].mean() + 0.05, "older in the villages"


def test_people_live_only_near_roads(road_tree):
    with rasterio.open(SAMPLE / "population.tif") as src:
        pop = src.read(1)
        rows, cols = np.nonzero(pop > 0)
        xs, ys = rasterio.transform.xy(src.transform, rows, cols)
    _, dist = road_tree.query_nearest(
        shapely.points(xs, ys), return_distance=True, all_matches=False
    )
    assert dist.max() < 110.0


# --------------------------------------------------------------------------- registers


def test_elder_care_register_layout_and_gcj02_coordinates(road_tree, faults):
    wb = openpyxl.load_workbook(SAMPLE / "elder_care_centres.xlsx")
    assert wb.sheetnames == ["养老服务设施"]
    ws = wb["养老服务设施"]
    assert ws["A1"].value == "示范区养老服务设施名录（2025年）"
    assert [c.value for c in ws[2]] == EC_HEADER
    bad = fault_lines(faults, "elder_care_centres.xlsx")
    rows = [
        (i, r)
        for i, r in enumerate(ws.iter_rows(min_row=3, values_only=True), start=3)
        if i not in bad
    ]
    assert 40 <= ws.max_row - 2 <= 60
    lon, lat = gcj02_to_wgs84([r[4] for _, r in rows], [r[5] for _, r in rows])
    assert road_distance_m(road_tree, lon, lat).max() < 30.0


def test_elder_care_targets_are_a_mix(townships_m, faults):
    wb = openpyxl.load_workbook(SAMPLE / "elder_care_centres.xlsx")
    bad = fault_lines(faults, "elder_care_centres.xlsx")
    rows = [
        r
        for i, r in enumerate(wb.active.iter_rows(min_row=3, values_only=True), start=3)
        if i not in bad
    ]
    types = {r[2] for r in rows}
    assert types == {
        "综合性养老服务中心",
        "区域性养老服务中心",
        "日间照料中心",
        "居家养老服务站",
        "养老机构",
        "敬老院",
        "护理院",
    }
    comprehensive = {r[8] for r in rows if r[2] == "综合性养老服务中心"}
    assert len(comprehensive) == 2 and all(t.endswith("街道") for t in comprehensive)
    regional = [r[8] for r in rows if r[2] == "区域性养老服务中心"]
    assert len(regional) == 3 and all(t.endswith("镇") for t in regional)
    beds = sum(r[6] or 0 for r in rows)
    nursing = sum(r[7] or 0 for r in rows)
    with rasterio.open(SAMPLE / "population.tif") as src:
        seniors = float(src.read(2).sum(dtype=np.float64))
    per_1000 = 1000 * beds / seniors
    assert 40.0 <= per_1000 < 45.0, per_1000
    assert 0.60 <= nursing / beds < 0.70


def test_meal_points_are_gbk_bd09_near_roads(road_tree, faults, townships_m):
    raw = (SAMPLE / "meal_points.csv").read_bytes()
    with pytest.raises(UnicodeDecodeError):
        raw.decode("utf-8")
    rows = read_csv("meal_points.csv", "gbk")
    assert list(rows[0]) == ["名称", "类型", "地址", "经度", "纬度", "所属街道", "开业年份"]
    assert 60 <= len(rows) <= 90
    bad = fault_lines(faults, "meal_points.csv")
    good = [r for line, r in enumerate(rows, start=2) if line not in bad]
    assert {r["类型"] for r in good} == {"助餐点", "长者食堂", "社区食堂", "中央厨房"}
    lon, lat = bd09_to_wgs84([float(r["经度"]) for r in good], [float(r["纬度"]) for r in good])
    assert road_distance_m(road_tree, lon, lat).max() < 30.0
    years = [int(r["开业年份"]) for r in rows]
    assert min(years) >= 2019 and max(years) <= 2025
    assert years.count(2024) >= 10 and years.count(2025) < 10
    per_township = {t: sum(r["所属街道"] == t for r in good) for t in townships_m["name"]}
    dense = sorted(per_township.values(), reverse=True)
    assert dense[1] >= 2 * dense[2], "dense in two 街道, sparse elsewhere"


def test_social_work_stations_utf8_bom_gcj02(road_tree, faults, townships_m):
    raw = (SAMPLE / "social_work_stations.csv").read_bytes()
    assert raw.startswith(b"\xef\xbb\xbf")
    rows = read_csv("social_work_stations.csv", "utf-8-sig")
    assert list(rows[0]) == ["序号", "站点名称", "类型", "所属街道", "地址", "经度", "纬度"]
    stations = [r for r in rows if r["类型"] == "社工站"]
    assert len({r["所属街道"] for r in stations}) == 6
    names = set(townships_m["name"])
    empty_ok = [r for r in rows if not r["经度"] and r["所属街道"] in names]
    assert len(empty_ok) == 2, "two rows without coordinates still count by township name"
    located = [r for r in rows if r["经度"]]
    lon, lat = gcj02_to_wgs84(
        [float(r["经度"]) for r in located], [float(r["纬度"]) for r in located]
    )
    assert road_distance_m(road_tree, lon, lat).max() < 30.0
    assert all(r["站点名称"].endswith("社工室") for r in rows if r["类型"] == "社工室")


def test_children_homes_and_community_centres_utf8_wgs84(road_tree, faults):
    for name, header in (
        ("children_homes.csv", ["名称", "所属村居", "地址", "经度", "纬度"]),
        (
            "community_centres.csv",
            ["名称", "地址", "经度", "纬度", "建筑面积（㎡）", "志愿服务站点", "开业年份"],
        ),
    ):
        raw = (SAMPLE / name).read_bytes()
        assert not raw.startswith(b"\xef\xbb\xbf")
        rows = read_csv(name, "utf-8")
        assert list(rows[0]) == header
        bad = fault_lines(faults, name)
        good = [r for line, r in enumerate(rows, start=2) if line not in bad]
        dist = road_distance_m(
            road_tree, [float(r["经度"]) for r in good], [float(r["纬度"]) for r in good]
        )
        assert dist.max() < 30.0, name
    centres = read_csv("community_centres.csv", "utf-8")
    share_yes = np.mean([r["志愿服务站点"] == "是" for r in centres])
    assert 0.45 <= share_yes <= 0.65
    units = gpd.read_file(SAMPLE / "villages.geojson")
    homes = {r["所属村居"] for r in read_csv("children_homes.csv", "utf-8")}
    covered = units["name"].isin(homes).mean()
    assert 0.7 <= covered < 1.0, "most but not all units have a 儿童之家"


def test_columbaria_wgs84_in_three_towns(road_tree):
    doc = json.loads((SAMPLE / "columbaria.geojson").read_text("utf-8"))
    props = [f["properties"] for f in doc["features"]]
    assert {p["type"] for p in props} == {"骨灰堂", "公益性公墓", "立体式骨灰安放设施"}
    assert len({p["township"] for p in props}) == 3
    assert all(p["township"].endswith("镇") for p in props)
    pts = [shape(f["geometry"]) for f in doc["features"]]
    dist = road_distance_m(road_tree, [p.x for p in pts], [p.y for p in pts])
    assert dist.max() < 30.0


def test_some_facilities_sit_by_the_river(river, faults):
    water = river[river["kind"] == "river"].geometry.union_all()
    wb = openpyxl.load_workbook(SAMPLE / "elder_care_centres.xlsx")
    rows = list(wb.active.iter_rows(min_row=3, values_only=True))
    lon, lat = gcj02_to_wgs84([r[4] for r in rows], [r[5] for r in rows])
    pts = gpd.GeoSeries(gpd.points_from_xy(lon, lat), crs="EPSG:4326").to_crs(UTM)
    bridges = river[river["kind"] == "bridge"].geometry.union_all()
    # by the water but far from a bridge: a hull-based isochrone would leak across
    by_river = (pts.distance(water) < 200) & (pts.distance(bridges) > 600)
    assert by_river.sum() >= 2


# --------------------------------------------------------------------------- faults


def test_faults_cover_every_kind(faults):
    text = " ".join(f["fault"] for f in faults)
    for needle in ("swapped", "outside", "duplicate", "约50", "名称 is empty", "empty"):
        assert needle in text
    assert len({f["file"] for f in faults}) >= 4


def _row(file: str, row: int) -> list:
    if file.endswith(".xlsx"):
        ws = openpyxl.load_workbook(SAMPLE / file).active
        return [c.value for c in ws[row]]
    enc = {"meal_points.csv": "gbk", "social_work_stations.csv": "utf-8-sig"}.get(file, "utf-8")
    lines = list(csv.reader(io.StringIO((SAMPLE / file).read_bytes().decode(enc))))
    return lines[row - 1]


def test_each_listed_fault_is_really_in_its_row(faults, townships_m):
    district = townships_m.to_crs("EPSG:4326").union_all()
    assert faults
    for f in faults:
        row = _row(f["file"], f["row"])
        header = _row(f["file"], 2 if f["file"].endswith(".xlsx") else 1)
        cells = dict(zip(header, row, strict=True))
        name_key = next(k for k in ("名称", "机构名称", "站点名称") if k in cells)
        assert (cells[name_key] or "") == f["name"], f
        lon, lat = cells["经度"], cells["纬度"]
        if "swapped" in f["fault"]:
            assert float(lat) > 90 and 0 < float(lon) < 90
        elif "outside" in f["fault"]:
            conv = {"meal_points.csv": bd09_to_wgs84}.get(f["file"])
            x, y = conv(float(lon), float(lat)) if conv else (float(lon), float(lat))
            assert not district.buffer(0.05).contains(Point(float(x), float(y)))
        elif "duplicate" in f["fault"]:
            assert row == _row(f["file"], f["row"] - 1)
        elif "约50" in f["fault"]:
            assert cells["床位数"] == "约50"
        elif "名称 is empty" in f["fault"]:
            assert cells["名称"] == ""
        elif "empty" in f["fault"]:
            assert lon in ("", None) and lat in ("", None)
            assert cells.get("所属街道", "") == ""
        else:
            pytest.fail(f"unrecognised fault description {f}")


# --------------------------------------------------------------------------- generator internals


def test_noding_shares_crossings_trims_overshoots_and_drops_strays():
    from shapely.geometry import LineString

    from tools.sample import Way, _node_ways, _overshoot

    ways = [
        Way(LineString([(0, 0), (100, 0)]), {"highway": "residential"}),
        Way(LineString([(50, -50), (50, 50)]), {"highway": "residential"}),
        # a T-junction drawn 1.5 m past the street it joins
        Way(_overshoot(LineString([(20, 40), (20, 0)]), end_m=1.5), {"highway": "footway"}),
        Way(LineString([(500, 500), (600, 500)]), {"highway": "track"}),
        Way(LineString([(800, 800), (900, 800)]), {"highway": "path"}, fragment=True),
    ]
    net = _node_ways(ways)
    xy = {(float(x), float(y)) for x, y in zip(net.x, net.y, strict=True)}
    assert (500.0, 500.0) not in xy, "a stray piece is dropped"
    assert (800.0, 800.0) in xy, "a deliberate fragment is kept"
    assert (20.0, -1.5) not in xy, "the overshoot is trimmed"
    by_tag = {tags["highway"]: ids for ids, tags in net.ways}
    node_at = {(float(net.x[i]), float(net.y[i])): i for i in range(len(net.x))}
    assert node_at[(50.0, 0.0)] in by_tag["residential"]
    assert by_tag["footway"][-1] == node_at[(20.0, 0.0)]
    shared = [set(ids) for ids, tags in net.ways if tags["highway"] == "residential"]
    assert node_at[(50.0, 0.0)] in shared[0] & shared[1]
    assert node_at[(20.0, 0.0)] in shared[0]
    for ids, _ in net.ways:
        seg = np.hypot(np.diff(net.x[ids]), np.diff(net.y[ids]))
        assert seg.max() <= 25.0 + 1e-9


def test_river_cut_makes_bridges_only_where_allowed():
    from shapely.geometry import LineString, box

    from tools.sample import District, Way, _cut_at_river

    river_line = LineString([(-100, 0), (1100, 0)])
    river = river_line.buffer(40, cap_style="flat").intersection(box(0, -500, 1000, 500))
    district = District(
        origin=(0.0, 0.0),
        boundary=box(0, -500, 1000, 500),
        core=box(0, -500, 1000, 500),
        river_line=river_line,
        river=river,
    )
    ways = [
        Way(LineString([(200, -300), (200, 300)]), {"highway": "primary"}, bridge_ok=True),
        Way(LineString([(600, -300), (600, 300)]), {"highway": "residential"}),
    ]
    out = _cut_at_river(district, ways)
    bridges = [w for w in out if w.tags.get("bridge") == "yes"]
    assert len(bridges) == 1 and bridges[0].tags["highway"] == "primary"
    assert bridges[0].line.length == pytest.approx(2 * (40 + 12))
    others = [w for w in out if w.tags.get("bridge") != "yes"]
    assert len(others) == 4
    assert not any(w.line.intersects(river) for w in others)
    # the bridge meets its approaches end to end
    ends = {tuple(np.round(c, 6)) for w in others for c in (w.line.coords[0], w.line.coords[-1])}
    assert tuple(np.round(bridges[0].line.coords[0], 6)) in ends
    assert tuple(np.round(bridges[0].line.coords[-1], 6)) in ends


def test_command_line_passes_the_output_folder(monkeypatch, tmp_path):
    import tools.sample as sample

    seen = []
    monkeypatch.setattr(sample, "generate_sample", lambda out: seen.append(out))
    sample.main(["--out", str(tmp_path)])
    assert seen == [tmp_path]


@pytest.mark.parametrize("road", ["源鹭公路", "稻山公路"])
def test_county_roads_stop_on_both_banks_without_a_bridge(edges_m, river, road):
    water = river[river["kind"] == "river"].geometry.union_all()

    def named(v) -> bool:
        return v == road or (isinstance(v, list) and road in v)

    geom = edges_m[edges_m["name"].map(named)].geometry.union_all()
    assert not geom.intersects(water)
    near = shapely.get_parts(geom.intersection(water.buffer(25.0)))
    assert len(near) >= 2
    gaps = [a.distance(b) for i, a in enumerate(near) for b in near[i + 1 :]]
    assert max(gaps) > 80.0, "the road reaches the water on both banks"
