"""Deterministic generator of a fictional county at any size, for benchmarks and batch runs.

``generate_county(out_dir, seed=..., scale=1.0)`` writes a whole plan folder: an OSM XML road
network (gzip), township boundaries (GeoJSON), a population GeoTIFF (100 m cells, total and 60+
bands), six facility registers in the forms planners keep them (GCJ-02 XLSX, BD-09 GBK CSV,
GCJ-02 UTF-8-BOM CSV, WGS-84 UTF-8 CSVs, WGS-84 GeoJSON) and ``plan.toml`` with targets.

At ``scale=1`` the county is 50 km across (about 2,300 km², a large rural county with a city
in it) and has about 330,000 network nodes after simplification, 40 townships, about 6,000
facilities and about 230,000 populated cells. ``scale`` multiplies the area (and with it the
counts): ``scale=0.01`` is a 5 km county of a few thousand nodes.

Layout (local metres, EPSG:32650): a base lattice of 40 m; each place has a street spacing level
(40 m in the city's old town and town seats, 80 m in the rest of the city, in villages and
around town seats, 320 m of farm roads elsewhere), and a lattice line is a street where its
index is a multiple of the level, so farm roads run on through towns. Some city streets and
alleys are missing (irregular blocks and dead ends), nodes are jittered, a river crosses the
county with a bridge every 7 km or so, and an expressway row is tagged closed to pedestrians
(the walk filter drops it). Townships are the Voronoi cells of jittered seats; those in the
city are 街道, the others 镇 (a few 乡). Everything comes from ``numpy.random.default_rng(seed)``
in a fixed order; all names and codes are invented (county code 329902 does not exist).

Everything is vectorised numpy, so generating the full county takes well under a minute.
Run ``python -m tools.county --out DIR [--scale S] [--seed N]``.
"""

from __future__ import annotations

import argparse
import gzip
import io
import json
import logging
import time
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pyproj
import shapely
from scipy.sparse import coo_matrix
from scipy.sparse.csgraph import connected_components
from scipy.spatial import cKDTree

from lifecircle.geo.crs import wgs84_to_bd09, wgs84_to_gcj02
from tools.sample import (
    CC_HEADER,
    CH_HEADER,
    EC_HEADER,
    MP_HEADER,
    SW_HEADER,
    _write_csv,
    _write_xlsx,
)

logger = logging.getLogger(__name__)

SEED = 20261203
COUNTY_CODE = "329902"
COUNTY_NAME = "试验县"
CENTRE_LON, CENTRE_LAT = 119.55, 32.25
METRIC_EPSG = 32650
SIDE_M = 50_000.0  # at scale 1
BASE_M = 40.0  # base lattice step
CELL_M = 100.0
RIVER_HALF_WIDTH_M = 70.0
BRIDGE_EVERY_M = 7_000.0
JITTER_M = 7.0
# (people at scale 1): the city and the countryside
URBAN_PEOPLE = 900_000
RURAL_PEOPLE = 600_000
# facilities at scale 1, per register
FACILITY_COUNTS = {
    "elder_care_centre": 900,
    "meal_point": 1_800,
    "columbarium": 150,
    "social_work_station": 1_000,
    "children_home": 1_200,
    "community_centre": 900,
}
MAX_WAY_NODES = 60

_FIRST = "青白金银东西南北新安永乐长兴和平宝丰福泰华康庆云龙凤鹤松柏梅桃杏柳莲荷禾丰盛"
_SECOND = "山溪湖桥塘林港湾岭田泉坝洲浦口集庄店埠营圩"
_ROAD_FIRST = "人民解放建设和平中山长江振兴文化胜利迎宾幸福团结光明"


@dataclass
class County:
    """The county in local metres: boundary, city, seats, villages, river and the lattice."""

    side_m: float
    origin: tuple[float, float]
    boundary: shapely.Polygon
    city_xy: tuple[float, float]
    city_r_m: float
    seeds: np.ndarray  # (n, 2) township seats
    street: np.ndarray  # bool per seed: in the city (街道)
    villages: np.ndarray  # (n, 2)
    river_phase: np.ndarray


def _river_y(county: County, x: np.ndarray) -> np.ndarray:
    s = county.side_m
    p = county.river_phase
    return (
        0.33 * s
        + 0.05 * s * np.sin(2 * np.pi * x / (0.6 * s) + p[0])
        + 0.015 * s * np.sin(2 * np.pi * x / (0.17 * s) + p[1])
    )


def _layout(rng: np.random.Generator, scale: float) -> County:
    side = max(8 * BASE_M, round(SIDE_M * np.sqrt(scale) / 400.0) * 400.0)
    transformer = pyproj.Transformer.from_crs(4326, METRIC_EPSG, always_xy=True)
    cx, cy = transformer.transform(CENTRE_LON, CENTRE_LAT)
    origin = (round((cx - side / 2) / CELL_M) * CELL_M, round((cy - side / 2) / CELL_M) * CELL_M)
    # a square with wobbly sides, inset so that the lattice reaches past it
    t = np.linspace(0, 1, 6)[:-1]
    corners = np.array([[0, 0], [1, 0], [1, 1], [0, 1]], dtype=float)
    ring = []
    for k in range(4):
        a, b = corners[k], corners[(k + 1) % 4]
        normal = np.array([-(b - a)[1], (b - a)[0]])
        wobble = rng.uniform(-0.02, 0.02, t.size)
        wobble[0] = 0.0
        ring.append(a + t[:, None] * (b - a) + wobble[:, None] * normal)
    ring = np.vstack(ring)
    ring = 0.015 + 0.97 * ring
    boundary = shapely.Polygon(ring * side)

    city = (0.42 * side, 0.6 * side)
    city_r = 0.19 * side
    k = max(2, round(6 * np.sqrt(scale)))
    step = side / k
    gi, gj = np.meshgrid(np.arange(k), np.arange(k))
    seeds = np.column_stack([(gi.ravel() + 0.5) * step, (gj.ravel() + 0.5) * step])
    seeds += rng.uniform(-0.25, 0.25, seeds.shape) * step
    extra = max(1, round(4 * np.sqrt(scale)))
    angle = rng.uniform(0, 2 * np.pi) + np.arange(extra) * 2 * np.pi / extra
    inner = np.column_stack(
        [city[0] + 0.45 * city_r * np.cos(angle), city[1] + 0.45 * city_r * np.sin(angle)]
    )
    seeds = np.vstack([seeds, inner])
    inside = shapely.contains_xy(boundary, seeds[:, 0], seeds[:, 1])
    seeds = seeds[inside]
    street = np.hypot(seeds[:, 0] - city[0], seeds[:, 1] - city[1]) < city_r
    river_phase = rng.uniform(0, 2 * np.pi, 2)
    n_villages = rng.poisson(1.8 * side * side / 1e6)
    villages = rng.uniform(0, side, (n_villages, 2))
    county = County(side, origin, boundary, city, city_r, seeds, street, villages, river_phase)
    far = np.hypot(villages[:, 0] - city[0], villages[:, 1] - city[1]) > city_r
    wet = np.abs(villages[:, 1] - _river_y(county, villages[:, 0])) < 300
    county.villages = villages[far & ~wet]
    return county


@dataclass
class Lattice:
    """The kept streets: node positions (local metres) and edges, with tags per edge."""

    n: int  # lattice points per row
    node: np.ndarray  # kept base indices (sorted)
    x: np.ndarray  # coordinates of every base point (only kept ones are used)
    y: np.ndarray
    u: np.ndarray  # edges as base indices, u < v
    v: np.ndarray
    horizontal: np.ndarray
    tag: np.ndarray  # index into TAGS
    bridge: np.ndarray


TAGS = (
    {"highway": "primary"},
    {"highway": "tertiary"},
    {"highway": "residential"},
    {"highway": "service"},
    {"highway": "footway"},
    {"highway": "unclassified"},
    {"highway": "track"},
    {"highway": "trunk", "motorroad": "yes"},
)


def _level(county: County, px: np.ndarray, py: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """Street spacing level (in base steps) at each point: 1, 2 or 8."""
    cx, cy = county.city_xy
    angle = np.arctan2(py - cy, px - cx)
    reach = county.city_r_m * (1 + 0.12 * np.sin(3 * angle + 1.0) + 0.06 * np.sin(5 * angle))
    d_city = np.hypot(px - cx, py - cy) / reach
    level = np.full(px.shape, 8, dtype=np.int8)
    level[d_city < 1.0] = 2
    level[d_city < 0.85] = 1
    towns = county.seeds[~county.street]
    if len(towns):
        d_town, _ = cKDTree(towns).query(np.column_stack([px, py]))
        level[d_town < 1500] = np.minimum(level[d_town < 1500], 2)
        level[d_town < 700] = 1
    if len(county.villages):
        radius = rng.uniform(130, 300, len(county.villages))
        d_vil, which = cKDTree(county.villages).query(np.column_stack([px, py]))
        level[d_vil < radius[which]] = np.minimum(level[d_vil < radius[which]], 2)
    return level


def _lattice(rng: np.random.Generator, county: County) -> Lattice:
    n = round(county.side_m / BASE_M) + 1
    jj, ii = np.divmod(np.arange(n * n), n)  # row j (y), column i (x)
    px, py = ii * BASE_M, jj * BASE_M
    level = _level(county, px.astype(float), py.astype(float), rng)
    inside = shapely.contains_xy(county.boundary, px, py)
    river = np.abs(py - _river_y(county, px)) < RIVER_HALF_WIDTH_M + 15
    x = px + rng.uniform(-JITTER_M, JITTER_M, n * n)
    y = py + rng.uniform(-JITTER_M, JITTER_M, n * n)

    # horizontal edges (i, j) -> (i + 1, j), then vertical (i, j) -> (i, j + 1)
    base = np.arange(n * n).reshape(n, n)
    hu, hv = base[:, :-1].ravel(), base[:, 1:].ravel()
    vu, vv = base[:-1, :].ravel(), base[1:, :].ravel()
    u = np.concatenate([hu, vu])
    v = np.concatenate([hv, vv])
    horizontal = np.r_[np.ones(hu.size, bool), np.zeros(vu.size, bool)]
    line = np.where(horizontal, jj[u], ii[u])  # the row or column the edge runs along
    k = np.minimum(level[u], level[v])
    keep = (line % k == 0) & inside[u] & inside[v]
    drop_share = np.select([k == 1, k == 2], [0.10, 0.05], 0.01)
    keep &= rng.random(u.size) >= drop_share

    # the river: only bridge columns cross it
    n_bridges = max(2, round(county.side_m / BRIDGE_EVERY_M))
    cols = np.linspace(0.08, 0.92, n_bridges) * (n - 1)
    bridge_cols = (np.round(cols / 8) * 8).astype(int)
    wet = (
        river[u]
        | river[v]
        | (np.sign(py[u] - _river_y(county, px[u])) != np.sign(py[v] - _river_y(county, px[v])))
    )
    on_bridge = wet & ~horizontal & np.isin(ii[u], bridge_cols) & inside[u] & inside[v]
    keep = (keep & ~wet) | on_bridge

    # one expressway row through the city, closed to pedestrians
    express_row = round((county.city_xy[1] - 0.3 * county.city_r_m) / BASE_M / 8) * 8
    cls = np.full(u.size, 6, dtype=np.int8)  # track
    major = line % 24 == 0
    cls[k == 8] = np.where(major[k == 8], 5, 6)
    cls[k == 2] = 2
    odd = (line % 2 == 1) & (k == 1)
    alley = (line * 2654435761 % 7) < 2  # a fixed share of lines are footways
    cls[odd] = np.where(alley[odd], 4, 3)
    cls[(k == 1) & ~odd] = 2
    cls[line % 24 == 0] = np.where(k[line % 24 == 0] == 8, 5, 1)
    cls[line % 120 == 0] = 0
    cls[on_bridge] = 0
    cls[horizontal & (line == express_row)] = 7
    keep |= horizontal & (line == express_row) & inside[u] & inside[v] & ~wet
    u, v, horizontal, cls, on_bridge = (a[keep] for a in (u, v, horizontal, cls, on_bridge))

    # the main connected part (the walk filter drops the expressway, so it does not count)
    walk = cls != 7
    graph = coo_matrix((np.ones(int(walk.sum())), (u[walk], v[walk])), shape=(n * n, n * n))
    _, label = connected_components(graph, directed=False)
    used = np.zeros(n * n, bool)
    used[u[walk]] = used[v[walk]] = True
    main = np.bincount(label[used]).argmax()
    keep = ~walk | (label[u] == main)
    u, v, horizontal, cls, on_bridge = (a[keep] for a in (u, v, horizontal, cls, on_bridge))
    node = np.unique(np.concatenate([u, v]))
    return Lattice(n, node, x, y, u, v, horizontal, cls, on_bridge)


def _ways(lat: Lattice) -> list[tuple[np.ndarray, int, bool]]:
    """Runs of consecutive edges along one lattice line with one tag: ``(base ids, tag,
    bridge)``, split at :data:`MAX_WAY_NODES`."""
    out = []
    n = lat.n
    for horizontal in (True, False):
        sel = np.flatnonzero(lat.horizontal == horizontal)
        line = lat.u[sel] // n if horizontal else lat.u[sel] % n
        pos = lat.u[sel] % n if horizontal else lat.u[sel] // n
        order = np.lexsort((pos, line))
        sel, line, pos = sel[order], line[order], pos[order]
        tag = lat.tag[sel]
        bridge = lat.bridge[sel]
        brk = np.r_[
            True,
            (line[1:] != line[:-1])
            | (pos[1:] != pos[:-1] + 1)
            | (tag[1:] != tag[:-1])
            | (bridge[1:] != bridge[:-1]),
        ]
        run = np.cumsum(brk) - 1
        start = np.flatnonzero(brk)
        within = np.arange(sel.size) - start[run]
        brk |= (within > 0) & (within % MAX_WAY_NODES == 0)
        start = np.flatnonzero(brk)
        stop = np.r_[start[1:], sel.size]
        step = 1 if horizontal else n
        for a, b in zip(start.tolist(), stop.tolist(), strict=True):
            first = int(lat.u[sel[a]])
            ids = first + step * np.arange(b - a + 1)
            out.append((ids, int(tag[a]), bool(bridge[a])))
    return out


def _to_lonlat(county: County, x: np.ndarray, y: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    transformer = pyproj.Transformer.from_crs(METRIC_EPSG, 4326, always_xy=True)
    lon, lat = transformer.transform(
        np.asarray(x, float) + county.origin[0], np.asarray(y, float) + county.origin[1]
    )
    return np.asarray(lon), np.asarray(lat)


def _write_osm(path: Path, county: County, lat: Lattice) -> int:
    """Stream the network as gzip-compressed OSM XML; returns the number of ways."""
    lon, la = _to_lonlat(county, lat.x[lat.node], lat.y[lat.node])
    ways = _ways(lat)
    road_names = [a + b + "路" for a in _ROAD_FIRST[::2] for b in "东西南北中"]
    # mtime=0: the same seed gives the same bytes
    with (
        path.open("wb") as raw,
        gzip.GzipFile(fileobj=raw, mode="wb", compresslevel=3, mtime=0) as packed,
        io.TextIOWrapper(packed, encoding="utf-8") as out,
    ):
        out.write("<?xml version='1.0' encoding='UTF-8'?>\n")
        out.write(
            f'<osm version="0.6" generator="lifecircle tools.county ({COUNTY_NAME}, fictional)">\n'
        )
        out.write(
            f'  <bounds minlat="{la.min():.7f}" minlon="{lon.min():.7f}" '
            f'maxlat="{la.max():.7f}" maxlon="{lon.max():.7f}"/>\n'
        )
        ids = (lat.node + 1).tolist()
        chunk = 200_000
        for s in range(0, len(ids), chunk):
            out.write(
                "".join(
                    f'  <node id="{i}" version="1" lat="{b:.7f}" lon="{a:.7f}"/>\n'
                    for i, a, b in zip(
                        ids[s : s + chunk],
                        lon[s : s + chunk].tolist(),
                        la[s : s + chunk].tolist(),
                        strict=True,
                    )
                )
            )
        buf = []
        for w, (refs, tag, bridge) in enumerate(ways):
            buf.append(f'  <way id="{w + 1}" version="1">\n')
            buf.append("".join(f'    <nd ref="{r}"/>\n' for r in (refs + 1).tolist()))
            tags = dict(TAGS[tag])
            if tag in (0, 1, 7):
                tags["name"] = road_names[(w * 7) % len(road_names)]
            if bridge:
                tags.update(bridge="yes", layer="1")
            for key in sorted(tags):
                buf.append(f'    <tag k="{key}" v="{tags[key]}"/>\n')
            buf.append("  </way>\n")
            if len(buf) > 50_000:
                out.write("".join(buf))
                buf.clear()
        out.write("".join(buf))
        out.write("</osm>\n")
    return len(ways)


@dataclass
class Population:
    pop: np.ndarray  # (rows, cols) float32, row 0 north
    pop60: np.ndarray
    cx: np.ndarray  # cell centres, local metres (flat)
    cy: np.ndarray


def _population(rng: np.random.Generator, county: County, lat: Lattice, scale: float) -> Population:
    side = county.side_m
    n_cells = int(side // CELL_M)
    edges = np.arange(n_cells + 1) * CELL_M
    mx = (lat.x[lat.u] + lat.x[lat.v]) / 2
    my = (lat.y[lat.u] + lat.y[lat.v]) / 2
    walkable = lat.tag != 7
    road_m, _, _ = np.histogram2d(
        my[walkable],
        mx[walkable],
        bins=[edges, edges],
        weights=np.full(int(walkable.sum()), BASE_M),
    )
    road_m = road_m[::-1].ravel()  # raster rows run north to south
    centres = (np.arange(n_cells) + 0.5) * CELL_M
    gx, gy = np.meshgrid(centres, centres[::-1])
    fx, fy = gx.ravel(), gy.ravel()
    inside = shapely.contains_xy(county.boundary, fx, fy)
    inside &= np.abs(fy - _river_y(county, fx)) > RIVER_HALF_WIDTH_M + 30
    cx, cy = county.city_xy
    d_city = np.hypot(fx - cx, fy - cy)
    urban = d_city < county.city_r_m
    noise = rng.lognormal(0.0, 0.4, fx.size)
    old_town = np.exp(-((d_city / (0.35 * county.city_r_m)) ** 2))
    w_urban = road_m * noise * (0.5 + 1.5 * old_town)
    d_vil = (
        cKDTree(county.villages).query(np.column_stack([fx, fy]))[0]
        if len(county.villages)
        else np.full(fx.size, np.inf)
    )
    towns = county.seeds[~county.street]
    d_town = (
        cKDTree(towns).query(np.column_stack([fx, fy]))[0]
        if len(towns)
        else np.full(fx.size, np.inf)
    )
    w_rural = (
        0.15
        + 0.004 * road_m
        + np.where(d_vil < 300, 4.0 * (1 - d_vil / 330), 0)
        + np.where(d_town < 1100, 10.0 * (1 - d_town / 1200), 0)
    ) * noise
    w = np.where(urban, w_urban, w_rural) * inside
    w[urban & (road_m == 0)] = 0
    pop = np.zeros(fx.size)
    for mask, total in ((urban, URBAN_PEOPLE), (~urban, RURAL_PEOPLE)):
        if w[mask].sum() > 0:
            pop[mask] = w[mask] / w[mask].sum() * total * scale
    pop = np.round(pop, 1)
    smooth = (np.sin(fx / 3700 + 1.3) + np.sin(fy / 5300 + 0.4) + 2) / 4
    share = np.where(urban, 0.15 + 0.06 * smooth + 0.06 * old_town, 0.24 + 0.08 * smooth)
    pop60 = np.round(pop * share, 1)
    shape = (n_cells, n_cells)
    return Population(
        pop.reshape(shape).astype(np.float32), pop60.reshape(shape).astype(np.float32), fx, fy
    )


def _write_raster(path: Path, county: County, popu: Population) -> None:
    import rasterio
    from affine import Affine

    rows, cols = popu.pop.shape
    transform = Affine(
        CELL_M, 0.0, county.origin[0], 0.0, -CELL_M, county.origin[1] + rows * CELL_M
    )
    profile = {
        "driver": "GTiff",
        "height": rows,
        "width": cols,
        "count": 2,
        "dtype": "float32",
        "crs": f"EPSG:{METRIC_EPSG}",
        "transform": transform,
        "compress": "deflate",
        "predictor": 2,
        "nodata": None,
        "tiled": True,
    }
    with rasterio.open(path, "w", **profile) as dst:
        dst.write(popu.pop, 1)
        dst.write(popu.pop60, 2)
        dst.set_band_description(1, "pop")
        dst.set_band_description(2, "pop60")
        dst.update_tags(DESCRIPTION=f"{COUNTY_NAME} fictional population per 100 m cell")


def _township_names(rng: np.random.Generator, county: County) -> list[tuple[str, str, str]]:
    """``(code, name, kind)`` per seed: 街道 in the city, 镇 elsewhere, every fifth town a 乡."""
    pairs = [a + b for a in _FIRST for b in _SECOND]
    chosen = rng.choice(len(pairs), size=len(county.seeds), replace=False)
    out = []
    n_street = n_town = 0
    for k, is_street in enumerate(county.street.tolist()):
        stem = pairs[chosen[k]]
        if is_street:
            n_street += 1
            out.append((f"{COUNTY_CODE}{n_street:03d}", stem + "街道", "street"))
        else:
            n_town += 1
            xiang = n_town % 5 == 0
            code = f"{COUNTY_CODE}{(200 if xiang else 100) + n_town:03d}"
            out.append((code, stem + ("乡" if xiang else "镇"), "town"))
    return out


def _township_polygons(county: County) -> list[shapely.Polygon]:
    cells = shapely.voronoi_polygons(
        shapely.multipoints(county.seeds),
        extend_to=county.boundary.buffer(county.side_m),
        ordered=True,
    )
    polys = shapely.intersection(shapely.get_parts(cells), county.boundary)
    return [shapely.normalize(p) for p in polys]


def _feature(county: County, geom, props: dict) -> dict:
    g = shapely.transform(geom, lambda c: np.column_stack(_to_lonlat(county, c[:, 0], c[:, 1])))
    g = shapely.set_precision(g, 1e-7)
    return {"type": "Feature", "properties": props, "geometry": json.loads(shapely.to_geojson(g))}


def _write_geojson(path: Path, name: str, features: list[dict]) -> None:
    doc = {
        "type": "FeatureCollection",
        "name": name,
        "crs": {"type": "name", "properties": {"name": "urn:ogc:def:crs:OGC:1.3:CRS84"}},
        "features": features,
    }
    path.write_text(json.dumps(doc, ensure_ascii=False, separators=(",", ":")), encoding="utf-8")


def _place(
    rng: np.random.Generator,
    county: County,
    lat: Lattice,
    popu: Population,
    count: int,
    *,
    urban_bias: float,
) -> tuple[np.ndarray, np.ndarray]:
    """``count`` points next to streets, drawn in proportion to population ** urban_bias."""
    weight = popu.pop.ravel().astype(float) ** urban_bias
    cells = rng.choice(weight.size, size=count, p=weight / weight.sum())
    px = popu.cx[cells] + rng.uniform(-50, 50, count)
    py = popu.cy[cells] + rng.uniform(-50, 50, count)
    walk_nodes = np.unique(np.concatenate([lat.u[lat.tag != 7], lat.v[lat.tag != 7]]))
    _, near = cKDTree(np.column_stack([lat.x[walk_nodes], lat.y[walk_nodes]])).query(
        np.column_stack([px, py])
    )
    node = walk_nodes[near]
    angle = rng.uniform(0, 2 * np.pi, count)
    r = rng.uniform(4, 18, count)
    return lat.x[node] + r * np.cos(angle), lat.y[node] + r * np.sin(angle)


def _registers(
    rng: np.random.Generator,
    county: County,
    lat: Lattice,
    popu: Population,
    townships: list[tuple[str, str, str]],
    scale: float,
    out: Path,
) -> dict[str, int]:
    """Write the six registers; returns the row count of each."""
    seat_tree = cKDTree(county.seeds)
    names = [t[1] for t in townships]
    counts = {
        key: max(len(townships), round(n * scale))
        if key != "columbarium"
        else max(2, round(n * scale))
        for key, n in FACILITY_COUNTS.items()
    }
    road_names = [a + b + "路" for a in _ROAD_FIRST[::2] for b in "东西南北中"]

    def located(key: str, bias: float) -> tuple[np.ndarray, ...]:
        x, y = _place(rng, county, lat, popu, counts[key], urban_bias=bias)
        # every township gets at least its first facility near its seat
        m = min(len(county.seeds), x.size)
        x[:m], y[:m] = (
            county.seeds[:m, 0] + rng.uniform(-200, 200, m),
            county.seeds[:m, 1] + rng.uniform(-200, 200, m),
        )
        x[:m], y[:m] = _place_near(county, lat, x[:m], y[:m])
        _, town = seat_tree.query(np.column_stack([x, y]))
        lon, la = _to_lonlat(county, x, y)
        return lon, la, town

    def address(town: int, k: int) -> str:
        return f"{COUNTY_NAME}{names[town]}{road_names[k % len(road_names)]}{k % 397 + 1}号"

    figures = {}
    # elder care (XLSX, GCJ-02), with beds
    lon, la, town = located("elder_care_centre", 0.8)
    glon, glat = wgs84_to_gcj02(lon, la)
    types = rng.choice(
        ["日间照料中心", "居家养老服务站", "养老机构", "敬老院"],
        size=lon.size,
        p=[0.35, 0.45, 0.12, 0.08],
    ).astype(object)
    for t in range(min(len(townships), lon.size)):
        street = townships[town[t]][2] == "street"
        types[t] = "综合性养老服务中心" if street else "区域性养老服务中心"
    beds = np.where(
        np.isin(types, ["养老机构", "敬老院"]),
        rng.integers(40, 300, lon.size),
        np.where(types == "日间照料中心", rng.integers(0, 12, lon.size), 0),
    )
    nursing = np.round(beds * rng.uniform(0.3, 0.8, lon.size)).astype(int)
    rows = [
        [
            k + 1,
            f"{names[town[k]]}{types[k]}{k + 1}",
            str(types[k]),
            address(town[k], k),
            round(float(glon[k]), 6),
            round(float(glat[k]), 6),
            int(beds[k]) or None,
            int(nursing[k]) or None,
            names[town[k]],
            int(2005 + k % 20),
            int(200 + k % 50 * 60),
        ]
        for k in range(lon.size)
    ]
    _write_xlsx(
        out / "elder_care_centres.xlsx",
        "养老服务设施",
        f"{COUNTY_NAME}养老服务设施名录（2025年）",
        EC_HEADER,
        rows,
    )
    figures["elder_care_centre"] = len(rows)

    # meal points (GBK CSV, BD-09), a few with swapped or missing coordinates
    lon, la, town = located("meal_point", 1.0)
    blon, blat = wgs84_to_bd09(lon, la)
    types = rng.choice(["助餐点", "长者食堂", "中央厨房"], size=lon.size, p=[0.7, 0.27, 0.03])
    rows = [
        [
            f"{names[town[k]]}{types[k]}{k + 1}",
            str(types[k]),
            address(town[k], k),
            f"{blon[k]:.6f}",
            f"{blat[k]:.6f}",
            names[town[k]],
            int(2015 + k % 11),
        ]
        for k in range(lon.size)
    ]
    for k in range(len(townships) + 3, len(rows), 397):
        rows[k][3], rows[k][4] = rows[k][4], rows[k][3]
    for k in range(len(townships) + 5, len(rows), 613):
        rows[k][3] = rows[k][4] = ""
    _write_csv(out / "meal_points.csv", MP_HEADER, rows, encoding="gbk")
    figures["meal_point"] = len(rows)

    # columbaria (GeoJSON, WGS-84): in the towns
    lon, la, town = located("columbarium", 0.3)
    types = rng.choice(["骨灰堂", "公益性公墓", "立体式骨灰安放设施"], size=lon.size)
    feats = [
        {
            "type": "Feature",
            "properties": {
                "name": f"{names[town[k]]}{types[k]}{k + 1}",
                "type": str(types[k]),
                "township": names[town[k]],
            },
            "geometry": {
                "type": "Point",
                "coordinates": [round(float(lon[k]), 7), round(float(la[k]), 7)],
            },
        }
        for k in range(lon.size)
    ]
    _write_geojson(out / "columbaria.geojson", "columbaria", feats)
    figures["columbarium"] = len(feats)

    # social work (UTF-8 with BOM, GCJ-02): a station per township, rooms elsewhere
    lon, la, town = located("social_work_station", 0.8)
    glon, glat = wgs84_to_gcj02(lon, la)
    rows = []
    for k in range(lon.size):
        station = k < len(townships)
        t = k if station else town[k]
        kind = "社工站" if station else "社工室"
        rows.append(
            [
                k + 1,
                f"{names[t]}{'社会工作服务站' if station else f'社工室{k}'}",
                kind,
                names[t],
                address(t, k),
                f"{glon[k]:.6f}",
                f"{glat[k]:.6f}",
            ]
        )
    _write_csv(out / "social_work_stations.csv", SW_HEADER, rows, encoding="utf-8-sig")
    figures["social_work_station"] = len(rows)

    # children's homes (UTF-8, WGS-84)
    lon, la, town = located("children_home", 0.6)
    rows = [
        [
            f"{names[town[k]]}第{k + 1}儿童之家",
            f"{names[town[k]]}第{k % 30 + 1}村居",
            address(town[k], k),
            f"{lon[k]:.6f}",
            f"{la[k]:.6f}",
        ]
        for k in range(lon.size)
    ]
    _write_csv(out / "children_homes.csv", CH_HEADER, rows, encoding="utf-8")
    figures["children_home"] = len(rows)

    # community centres (UTF-8, WGS-84)
    lon, la, town = located("community_centre", 0.8)
    rows = [
        [
            f"{names[town[k]]}第{k + 1}社区党群服务中心",
            address(town[k], k),
            f"{lon[k]:.6f}",
            f"{la[k]:.6f}",
            int(300 + (k * 37) % 1200),
            "是" if k % 3 else "否",
            int(2008 + k % 17),
        ]
        for k in range(lon.size)
    ]
    _write_csv(out / "community_centres.csv", CC_HEADER, rows, encoding="utf-8")
    figures["community_centre"] = len(rows)
    return figures


def _place_near(
    county: County, lat: Lattice, x: np.ndarray, y: np.ndarray
) -> tuple[np.ndarray, np.ndarray]:
    """Move points onto the nearest walkable lattice node (plus a few metres)."""
    walk = lat.tag != 7
    nodes = np.unique(np.concatenate([lat.u[walk], lat.v[walk]]))
    _, near = cKDTree(np.column_stack([lat.x[nodes], lat.y[nodes]])).query(np.column_stack([x, y]))
    return lat.x[nodes[near]] + 6.0, lat.y[nodes[near]] + 4.0


PLAN = """\
# Plan of the fictional county {name} (tools.county, seed {seed}, scale {scale:g}).
# All names, codes and data are invented.

[study]
name = "{name}"
county_code = "{code}"
year = 2025
lang = "zh"

[inputs.townships]
path = "townships.geojson"
name_field = "name"
code_field = "code"

[inputs.network]
path = "network.osm.gz"

[inputs.population]
raster = "population.tif"
total_band = 1
seniors_band = 2

[[layers]]
category = "elder_care_centre"
path = "elder_care_centres.xlsx"
crs = "gcj02"

[[layers]]
category = "meal_point"
path = "meal_points.csv"
crs = "bd09"

[[layers]]
category = "columbarium"
path = "columbaria.geojson"
crs = "wgs84"

[[layers]]
category = "social_work_station"
path = "social_work_stations.csv"
crs = "gcj02"

[[layers]]
category = "children_home"
path = "children_homes.csv"
crs = "wgs84"

[[layers]]
category = "community_centre"
path = "community_centres.csv"
crs = "wgs84"

[walk]
speed_mps = 1.0
thresholds_min = [5, 10, 15]
max_snap_m = 500

[walk.by_kind.town]
mode = "walk"
speed_mps = 1.2
thresholds_min = [10, 15, 20]

[siting]
category = "meal_point"
p = 20
threshold_min = {{ street = 15, town = 20 }}
population = "pop60"
min_spacing_m = 400  # candidate sites at least this far apart, county-wide

[[targets]]
id = "street_comprehensive_centre"
indicator = "城市街道综合性养老服务中心覆盖率"
document = "{name}“十四五”民政事业发展规划（虚构）"
type = "presence"
category = "elder_care_centre"
subtype = "comprehensive"
kind = "street"

[[targets]]
id = "social_work_station"
indicator = "乡镇（街道）社工站覆盖率"
document = "{name}“十四五”民政事业发展规划（虚构）"
type = "unit_coverage"
category = "social_work_station"
subtype = "station"
target_pct = 100

[[targets]]
id = "regional_rural_centres"
indicator = "农村区域性养老服务中心数量"
document = "{name}“十四五”民政事业发展规划（虚构）"
type = "count"
category = "elder_care_centre"
subtype = "regional_rural"
min_count = 10

[[targets]]
id = "meal_circle"
indicator = "老年助餐服务圈（街道15分钟、镇20分钟）老年人覆盖率"
document = "{name}“十四五”民政事业发展规划（虚构）"
type = "service_circle"
category = "meal_point"
threshold_min = {{street = 15, town = 20}}
population = "pop60"
target_pct = 80

[[targets]]
id = "elder_care_circle_15min"
indicator = "15分钟养老服务圈老年人覆盖率"
document = "{name}“十四五”民政事业发展规划（虚构）"
type = "service_circle"
category = "elder_care_centre"
threshold_min = 15
population = "pop60"
target_pct = 90

[[targets]]
id = "beds_per_1000"
indicator = "每千名老年人养老床位数"
document = "{name}“十四五”民政事业发展规划（虚构）"
type = "ratio"
measure = "beds_per_1000_seniors"
min_value = 45

[[targets]]
id = "town_columbarium"
indicator = "镇公益性骨灰安放设施覆盖率"
document = "{name}“十四五”民政事业发展规划（虚构）"
type = "unit_coverage"
category = "columbarium"
kind = "town"
target_pct = 70

[[targets]]
id = "volunteer_in_community_centres"
indicator = "志愿服务站点在社区综合服务设施中的覆盖率"
document = "{name}“十四五”民政事业发展规划（虚构）"
type = "colocation"
category = "community_centre"
service = "volunteer_station"
target_pct = 80

[[targets]]
id = "community_floor_area"
indicator = "社区综合服务设施每百户建筑面积不低于30平方米"
document = "{name}“十四五”民政事业发展规划（虚构）"
type = "floor_area"
category = "community_centre"
min_m2_per_100_households = 30
"""


def generate_county(
    out_dir: str | Path, *, seed: int = SEED, scale: float = 1.0
) -> dict[str, float]:
    """Write a fictional county's plan folder into ``out_dir`` and return its figures.

    Parameters
    ----------
    out_dir
        Folder to write ``plan.toml`` and its inputs into (created if needed; files of the
        same names are replaced).
    seed
        Seed of ``numpy.random.default_rng``: the same seed and scale give the same files.
    scale
        Area multiplier: 1 is a 50 km county (about 330,000 simplified nodes); 0.01 a 5 km one.

    Returns
    -------
    dict
        ``side_km``, ``area_km2``, ``lattice_nodes`` (nodes in the OSM file), ``ways``,
        ``townships``, ``streets``, ``populated_cells``, ``pop``, ``pop60``, ``facilities``,
        facility counts per category and ``seconds`` (time taken).
    """
    if not scale > 0:
        raise ValueError(f"scale must be positive, got {scale!r}")
    started = time.perf_counter()
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    rng = np.random.default_rng(seed)
    county = _layout(rng, scale)
    lat = _lattice(rng, county)
    ways = _write_osm(out / "network.osm.gz", county, lat)
    popu = _population(rng, county, lat, scale)
    _write_raster(out / "population.tif", county, popu)
    townships = _township_names(rng, county)
    polys = _township_polygons(county)
    seat_of_cell = cKDTree(county.seeds).query(np.column_stack([popu.cx, popu.cy]))[1]
    pop_by_town = np.bincount(
        seat_of_cell, weights=popu.pop.ravel().astype(float), minlength=len(townships)
    )
    feats = [
        _feature(
            county, poly, {"code": code, "name": name, "households": round(pop_by_town[k] / 2.8)}
        )
        for k, ((code, name, _), poly) in enumerate(zip(townships, polys, strict=True))
    ]
    _write_geojson(out / "townships.geojson", "townships", feats)
    facilities = _registers(rng, county, lat, popu, townships, scale, out)
    (out / "plan.toml").write_text(
        PLAN.format(name=COUNTY_NAME, code=COUNTY_CODE, seed=seed, scale=scale), encoding="utf-8"
    )
    figures = {
        "side_km": county.side_m / 1000,
        "area_km2": round(county.boundary.area / 1e6, 1),
        "lattice_nodes": int(lat.node.size),
        "ways": ways,
        "townships": len(townships),
        "streets": int(county.street.sum()),
        "populated_cells": int((popu.pop > 0).sum()),
        "pop": round(float(popu.pop.sum(dtype=np.float64))),
        "pop60": round(float(popu.pop60.sum(dtype=np.float64))),
        "facilities": sum(facilities.values()),
        **facilities,
        "seconds": round(time.perf_counter() - started, 1),
    }
    logger.info("county written to %s: %s", out, figures)
    return figures


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--out", type=Path, required=True)
    parser.add_argument("--scale", type=float, default=1.0)
    parser.add_argument("--seed", type=int, default=SEED)
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO)
    print(
        json.dumps(generate_county(args.out, seed=args.seed, scale=args.scale), ensure_ascii=False)
    )


if __name__ == "__main__":
    main()
