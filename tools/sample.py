"""Deterministic generator of the fictional sample district 示范区 ("Shifan District").

Everything here is invented: the district, its county code 329901 (which does not exist in the
NBS code table), its townships, villages, roads, river, people and facilities. The road network
is drawn from a seeded random generator, not derived from any real map.

Run ``python -m tools.sample [--out DIR]`` to (re)write the files below ``DIR`` (default: the
repository's ``data/`` folder)::

    boundaries/sample_townships.geojson
    sample/network.osm.bz2  population.tif  river.geojson  villages.geojson
    sample/elder_care_centres.xlsx  meal_points.csv  columbaria.geojson
    sample/social_work_stations.csv  children_homes.csv  community_centres.csv
    sample/FAULTS.md  README.md

The output is reproducible byte for byte: every random draw comes from
``numpy.random.default_rng(20251123)`` in a fixed order, coordinates are rounded to 7 decimals,
the XLSX container carries fixed timestamps, and the GeoTIFF carries fixed tags.

The geometry is built in EPSG:32650 (UTM 50N) metres, in a local frame whose origin sits on a
100 m multiple so that the population raster cells align with round UTM coordinates.
"""

from __future__ import annotations

import argparse
import bz2
import csv
import io
import json
import logging
import re
import zipfile
from dataclasses import dataclass, field
from pathlib import Path
from xml.sax.saxutils import quoteattr

import numpy as np
import pyproj
import shapely
from scipy.sparse import coo_matrix
from scipy.sparse.csgraph import connected_components, minimum_spanning_tree
from shapely.geometry import LineString, MultiPoint, Point, Polygon
from shapely.ops import nearest_points, polygonize, substring, unary_union

from lifecircle.geo.crs import wgs84_to_bd09, wgs84_to_gcj02

logger = logging.getLogger(__name__)

SEED = 20251123
COUNTY_CODE = "329901"
DISTRICT_NAME = "示范区"
DISTRICT_NAME_EN = "Shifan District (fictional sample)"
CENTRE_LON, CENTRE_LAT = 119.93, 32.46
METRIC_EPSG = 32650
SIZE_M = 9000.0
CELL_M = 100.0
RIVER_HALF_WIDTH_M = 40.0
# Roads stop this far from the water unless they are bridges.
RIVER_CLEARANCE_M = 12.0
URBAN_PEOPLE = 250_000
RURAL_PEOPLE = 60_000
BEDS_PER_1000_SENIORS = 42.0
NURSING_SHARE = 0.62
FIXED_TIME = (2025, 1, 1, 0, 0, 0)
DEFAULT_OUT = Path(__file__).resolve().parent.parent / "lifecircle" / "data"

# (code, name, kind, position) — position names the face of the layout described in _townships.
TOWNSHIPS = (
    ("329901001", "青石街道", "street", "core_nw"),
    ("329901002", "柳岸街道", "street", "core_ne"),
    ("329901003", "文昌街道", "street", "core_sw"),
    ("329901004", "东湖街道", "street", "core_se"),
    ("329901100", "白鹭镇", "town", "north"),
    ("329901101", "稻香镇", "town", "east"),
    ("329901102", "青山镇", "town", "south"),
    ("329901103", "桃源镇", "town", "west"),
)
VILLAGE_NAMES = {
    "白鹭镇": ("芦湾村", "荷塘村", "沙洲村", "柳庄村", "杏花村", "渔港村"),
    "稻香镇": ("禾丰村", "麦田村", "仓头村", "丰收村", "金穗村", "新垛村"),
    "青山镇": ("松岭村", "竹园村", "石桥村", "枫林村", "茶坡村", "云溪村"),
    "桃源镇": ("桃花村", "李园村", "梅岭村", "樱桥村", "杨湾村", "溪口村"),
}
COMMUNITY_NAMES = {
    "青石街道": ("青石社区", "文华社区", "石坊社区", "南巷社区", "书院社区", "梧桐社区"),
    "柳岸街道": ("柳岸社区", "望江社区", "新桥社区", "春晖社区"),
    "文昌街道": ("文昌社区", "学府社区", "金台社区", "秀水社区"),
    "东湖街道": ("东湖社区", "湖滨社区", "月湖社区", "景明社区"),
}
ROAD_NAMES_EW = ("人民路", "解放路", "文华路", "和平路", "建设路", "中山路", "长江路", "振兴路")
ROAD_NAMES_NS = ("青石路", "柳岸路", "书院路", "东湖路", "学府路", "望江路", "金台路", "梧桐路")
UNIT_LAYER_TOWNSHIPS = ("白鹭镇", "稻香镇", "青石街道")
# 社会救助协管员 per township, for the staffing target (50–100k people need 3, under 20k 1):
# 柳岸街道 and 青山镇 fall short on purpose.
SOCIAL_ASSISTANCE_STAFF = {
    "青石街道": 3,
    "柳岸街道": 2,
    "文昌街道": 3,
    "东湖街道": 4,
    "白鹭镇": 1,
    "稻香镇": 2,
    "青山镇": 0,
    "桃源镇": 1,
}


@dataclass
class Way:
    """A road drawn in local metres, before noding."""

    line: LineString
    tags: dict[str, str]
    bridge_ok: bool = False  # may cross the river (becomes a bridge there)
    fragment: bool = False  # deliberately disconnected piece
    keep_short: bool = False


@dataclass
class District:
    """The district's geometry in local metres plus everything derived from it."""

    origin: tuple[float, float]
    boundary: Polygon
    core: Polygon
    river_line: LineString
    river: Polygon
    townships: dict[str, Polygon] = field(default_factory=dict)
    town_centres: dict[str, tuple[float, float]] = field(default_factory=dict)
    villages: dict[str, list[tuple[str, float, float]]] = field(default_factory=dict)
    parks: list[Polygon] = field(default_factory=list)
    bridges: list[LineString] = field(default_factory=list)


# --------------------------------------------------------------------------- small helpers


def _to_lonlat(district: District, x: np.ndarray, y: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    transformer = pyproj.Transformer.from_crs(METRIC_EPSG, 4326, always_xy=True)
    lon, lat = transformer.transform(
        np.asarray(x) + district.origin[0], np.asarray(y) + district.origin[1]
    )
    return np.asarray(lon, dtype=float), np.asarray(lat, dtype=float)


def _wiggly(p0, p1, rng: np.random.Generator, *, amp_m: float, step_m: float = 40.0) -> LineString:
    """A gently curving line from p0 to p1 (exact endpoints)."""
    p0 = np.asarray(p0, dtype=float)
    p1 = np.asarray(p1, dtype=float)
    length = float(np.hypot(*(p1 - p0)))
    n = max(2, int(length // step_m) + 1)
    t = np.linspace(0.0, 1.0, n)
    normal = np.array([-(p1 - p0)[1], (p1 - p0)[0]]) / max(length, 1e-9)
    a1, a2 = rng.uniform(-amp_m, amp_m, 2)
    phase = rng.uniform(0, np.pi)
    off = a1 * np.sin(np.pi * t) + a2 * np.sin(2 * np.pi * t) * np.sin(phase)
    pts = p0[None, :] + t[:, None] * (p1 - p0)[None, :] + off[:, None] * normal[None, :]
    pts[0], pts[-1] = p0, p1
    return LineString(pts)


def _overshoot(line: LineString, *, start_m: float = 0.0, end_m: float = 0.0) -> LineString:
    """Extend a line straight past its ends so that T-junctions really cross (trimmed later)."""
    c = np.asarray(line.coords, dtype=float)
    if start_m:
        d = c[0] - c[1]
        c = np.vstack([c[0] + d / np.hypot(*d) * start_m, c])
    if end_m:
        d = c[-1] - c[-2]
        c = np.vstack([c, c[-1] + d / np.hypot(*d) * end_m])
    return LineString(c)


def _parts(geom) -> list[LineString]:
    return (
        [
            g
            for g in shapely.get_parts(shapely.line_merge(geom))
            if isinstance(g, LineString) and not g.is_empty
        ]
        if not geom.is_empty
        else []
    )


# --------------------------------------------------------------------------- the layout


def _layout(rng: np.random.Generator) -> District:
    transformer = pyproj.Transformer.from_crs(4326, METRIC_EPSG, always_xy=True)
    cx, cy = transformer.transform(CENTRE_LON, CENTRE_LAT)
    origin = (
        round((cx - SIZE_M / 2) / CELL_M) * CELL_M,
        round((cy - SIZE_M / 2) / CELL_M) * CELL_M,
    )

    s = SIZE_M
    corners = np.array([[0, 0], [s, 0], [s, s], [0, s]], dtype=float)
    corners += rng.uniform(-120, 120, (4, 2))
    sides = []
    for k in range(4):
        a, b = corners[k], corners[(k + 1) % 4]
        t = np.array([0.25, 0.5, 0.75])
        normal = np.array([-(b - a)[1], (b - a)[0]]) / np.hypot(*(b - a))
        mids = a + t[:, None] * (b - a) + rng.uniform(-180, 180, 3)[:, None] * normal
        sides.append(np.vstack([a, mids]))
    boundary = Polygon(np.vstack(sides))

    core_corners = np.array([[2500, 2300], [6700, 2400], [6600, 6700], [2400, 6600]], dtype=float)
    core_corners += rng.uniform(-100, 100, (4, 2))
    core = Polygon(core_corners)

    xs = np.arange(-400.0, s + 401.0, 20.0)
    ph1, ph2 = rng.uniform(0, 2 * np.pi, 2)
    ys = (
        4550 + 380 * np.sin(2 * np.pi * xs / 5400 + ph1) + 130 * np.sin(2 * np.pi * xs / 2100 + ph2)
    )
    river_line = LineString(np.column_stack([xs, ys]))
    river = river_line.buffer(RIVER_HALF_WIDTH_M, cap_style="flat").intersection(boundary)

    divider = _wiggly((4550, 1500), (4650, 7500), rng, amp_m=80)
    linework = [
        boundary.exterior,
        core.exterior,
        river_line.intersection(core.buffer(5)),
        divider.intersection(core.buffer(5)),
    ]
    for k in range(4):
        linework.append(LineString([corners[k], core_corners[k]]))
    faces = list(polygonize(unary_union(linework)))
    if len(faces) != 8:
        raise RuntimeError(f"sample layout produced {len(faces)} township faces, expected 8")
    centre = np.array([s / 2, s / 2])
    district = District(
        origin=origin, boundary=boundary, core=core, river_line=river_line, river=river
    )
    for face in faces:
        p = face.representative_point()
        if core.contains(p):
            north = p.y > np.interp(p.x, xs, ys)
            div = np.asarray(divider.coords)
            west = p.x < np.interp(p.y, div[:, 1], div[:, 0])
            pos = "core_" + ("n" if north else "s") + ("w" if west else "e")
        else:
            dx, dy = p.x - centre[0], p.y - centre[1]
            if abs(dy) > abs(dx):
                pos = "north" if dy > 0 else "south"
            else:
                pos = "east" if dx > 0 else "west"
        name = next(t[1] for t in TOWNSHIPS if t[3] == pos)
        if name in district.townships:
            raise RuntimeError(f"two faces claim township position {pos}")
        # vertices every 100 m keep the polygons faithful (and still tiling) in lon/lat
        district.townships[name] = shapely.segmentize(shapely.normalize(face), 100.0)
    return district


def _river_y(district: District, x: float) -> float:
    c = np.asarray(district.river_line.coords)
    return float(np.interp(x, c[:, 0], c[:, 1]))


def _sample_point(rng, region, *, avoid, min_gap_m: float, edge_m: float, tries: int = 4000):
    """Rejection-sample a point inside region at least edge_m from its edge and min_gap_m from
    every point in avoid (a list that is extended)."""
    minx, miny, maxx, maxy = region.bounds
    inner = region.buffer(-edge_m)
    for _ in range(tries):
        x, y = rng.uniform(minx, maxx), rng.uniform(miny, maxy)
        if not inner.contains(Point(x, y)):
            continue
        if avoid and min(np.hypot(x - ax, y - ay) for ax, ay in avoid) < min_gap_m:
            continue
        avoid.append((x, y))
        return x, y
    raise RuntimeError("could not place a sample point; loosen the constraints")


# --------------------------------------------------------------------------- the road network


def _lattice_ways(rng, district: District) -> list[Way]:
    """Dense, irregular urban street blocks over the core."""
    core = district.core
    inner = core.buffer(-25.0)
    clip = core.buffer(-23.5)
    minx, miny, maxx, maxy = core.bounds
    spacing = 140.0
    # the grid overhangs the core so that its slight rotation still reaches every edge
    gx = np.arange(minx - 3 * spacing, maxx + 4 * spacing, spacing)
    gy = np.arange(miny - 3 * spacing, maxy + 4 * spacing, spacing)
    nx, ny = len(gx), len(gy)
    px = gx[None, :] + rng.uniform(-22, 22, (ny, nx))
    py = gy[:, None] + rng.uniform(-22, 22, (ny, nx))
    # a slight rotation of the whole grid makes it look less drawn with a ruler
    ang = np.deg2rad(4.0)
    cxm, cym = (minx + maxx) / 2, (miny + maxy) / 2
    rx = cxm + (px - cxm) * np.cos(ang) - (py - cym) * np.sin(ang)
    ry = cym + (px - cxm) * np.sin(ang) + (py - cym) * np.cos(ang)

    bridge_cols = {int(np.argmin(np.abs(gx - 3500))), int(np.argmin(np.abs(gx - 5850)))}
    primary_rows = {int(np.argmin(np.abs(gy - 6000))), int(np.argmin(np.abs(gy - 3150)))}
    main_cols = {i for i in range(nx) if i % 4 == 1} | bridge_cols
    main_rows = {j for j in range(ny) if j % 4 == 2} | primary_rows
    ways: list[Way] = []
    name_ns = iter(ROAD_NAMES_NS)
    name_ew = iter(ROAD_NAMES_EW)
    primary_ns = iter(("书院大道", "金台大道"))
    primary_ew = iter(("解放大道", "长江大道"))
    inside_cols = {
        i for i in range(nx) if LineString(np.column_stack([rx[:, i], ry[:, i]])).intersects(clip)
    }
    inside_rows = {
        j for j in range(ny) if LineString(np.column_stack([rx[j, :], ry[j, :]])).intersects(clip)
    }

    for i in sorted(inside_cols):
        if i in bridge_cols:
            tags = {"highway": "primary", "name": next(primary_ns)}
        elif i in main_cols:
            tags = {"highway": "tertiary", "name": next(name_ns, f"纬{i}路")}
        else:
            tags = {"highway": "residential"}
        keep = np.ones(ny - 1, dtype=bool) if i in main_cols else rng.random(ny - 1) > 0.12
        _add_runs(ways, rx[:, i], ry[:, i], keep, tags, clip, bridge_ok=i in bridge_cols)
    for j in sorted(inside_rows):
        if j in primary_rows:
            tags = {"highway": "primary", "name": next(primary_ew)}
        elif j in main_rows:
            tags = {"highway": "tertiary", "name": next(name_ew, f"经{j}路")}
        else:
            tags = {"highway": "residential"}
        keep = np.ones(nx - 1, dtype=bool) if j in main_rows else rng.random(nx - 1) > 0.12
        _add_runs(ways, rx[j, :], ry[j, :], keep, tags, clip, bridge_ok=False)

    # ring road just inside the core boundary
    ways.append(Way(LineString(inner.exterior.coords), {"highway": "tertiary", "name": "环城路"}))
    # two diagonal avenues
    for (a, b), name in (
        (((2700, 6300), (4500, 5000)), "青石斜街"),
        (((4900, 2600), (6500, 4000)), "东湖斜街"),
    ):
        line = LineString([a, b]).intersection(clip)
        for part in _parts(line):
            ways.append(Way(part, {"highway": "tertiary", "name": name}))
    # riverside roads on both banks
    for off, name in ((75.0, "滨河北路"), (-75.0, "滨河南路")):
        bank = district.river_line.offset_curve(off).intersection(clip)
        for part in _parts(bank):
            ways.append(Way(part, {"highway": "tertiary", "name": name}))

    # compounds: service roads, alleys and footpaths inside the blocks
    block_zone = inner.buffer(-10)
    river_zone = district.river.buffer(60)
    park_cell = None
    # the park (with its unconnected footpath loop) takes the block nearest this spot in 柳岸街道
    park_at = (5300.0, 5900.0)
    park_ij = min(
        ((j, i) for j in range(ny - 1) for i in range(nx - 1)),
        key=lambda ji: np.hypot(rx[ji] - park_at[0], ry[ji] - park_at[1]),
    )
    for j in range(ny - 1):
        for i in range(nx - 1):
            quad = np.array(
                [
                    [rx[j, i], ry[j, i]],
                    [rx[j, i + 1], ry[j, i + 1]],
                    [rx[j + 1, i + 1], ry[j + 1, i + 1]],
                    [rx[j + 1, i], ry[j + 1, i]],
                ]
            )
            cell = Polygon(quad)
            if not block_zone.contains(cell):
                continue
            if cell.intersects(river_zone):
                continue
            draw = rng.random(6)
            if (j, i) == park_ij:
                park_cell = cell
                continue
            if draw[0] > 0.65:
                continue
            centre = np.asarray(cell.centroid.coords[0])
            mids = (quad + np.roll(quad, -1, axis=0)) / 2
            side = int(draw[1] * 4)
            entry = LineString([mids[side], centre + rng.uniform(-15, 15, 2)])
            ways.append(
                Way(_overshoot(entry, start_m=1.5), {"highway": "service", "service": "driveway"})
            )
            end = np.asarray(entry.coords[-1])
            if draw[2] < 0.4:
                # a small loop road round a courtyard
                loop = Point(end).buffer(22, quad_segs=2).exterior
                ways.append(Way(LineString(loop.coords), {"highway": "service"}))
                hub = np.asarray(loop.coords[0])
                ways.append(
                    Way(_overshoot(LineString([end, hub]), end_m=0.0), {"highway": "footway"})
                )
            other = (side + 2) % 4
            if draw[3] < 0.55:
                ways.append(
                    Way(
                        _overshoot(LineString([end, mids[other]]), end_m=1.5),
                        {"highway": "footway"},
                    )
                )
            if draw[4] < 0.5:
                side_b = (side + 1) % 4
                tip = end + 0.6 * (mids[side_b] - end)
                ways.append(Way(LineString([end, tip]), {"highway": "footway"}, keep_short=True))
            if draw[5] < 0.25:
                ways.append(
                    Way(
                        _overshoot(LineString([mids[(side + 3) % 4], end]), start_m=1.5),
                        {"highway": "path"},
                    )
                )
    if park_cell is not None:
        park = park_cell.buffer(-28)
        district.parks.append(park)
        ring = park.buffer(-8, quad_segs=3).exterior
        ways.append(Way(LineString(ring.coords), {"highway": "footway"}, fragment=True))
        # a spur to the pavilion gives the loop endpoints, else osmnx's simplification drops
        # an isolated ring altogether
        hub = ring.coords[0]
        ctr = park.centroid
        ways.append(Way(LineString([hub, (ctr.x, ctr.y)]), {"highway": "footway"}, fragment=True))
    return ways


def _add_runs(ways, xs, ys, keep, tags, clip, *, bridge_ok):
    """Add the runs of consecutive kept lattice edges as ways clipped to the core."""
    start = 0
    n = len(xs)
    for k in range(n - 1):
        if not keep[k]:
            if k - start >= 1:
                _add_clipped(ways, xs[start : k + 1], ys[start : k + 1], tags, clip, bridge_ok)
            start = k + 1
    if n - 1 - start >= 1:
        _add_clipped(ways, xs[start:], ys[start:], tags, clip, bridge_ok)


def _add_clipped(ways, xs, ys, tags, clip, bridge_ok):
    for part in _parts(LineString(np.column_stack([xs, ys])).intersection(clip)):
        ways.append(Way(part, dict(tags), bridge_ok=bridge_ok))


def _rural_ways(rng, district: District, urban: list[Way]) -> list[Way]:
    """Town centres, villages, country roads and farm tracks in the four towns."""
    ways: list[Way] = []
    core = district.core
    ring = core.buffer(-25.0).exterior
    boundary_inner = district.boundary.buffer(-6.0)
    # primaries leaving the core: continue the urban primaries to the district edge
    prim = [w for w in urban if w.tags.get("highway") == "primary"]
    exits = []
    for w in prim:
        c = np.asarray(w.line.coords)
        for end, nxt in ((c[0], c[1]), (c[-1], c[-2])):
            if ring.distance(Point(end)) < 3.0:
                d = (end - nxt) / np.hypot(*(end - nxt))
                far = end + d * 6000.0
                line = _wiggly(end, far, rng, amp_m=120).intersection(boundary_inner)
                for part in _parts(line):
                    exits.append(
                        Way(part, {"highway": "primary", "name": w.tags["name"]}, bridge_ok=False)
                    )
    ways.extend(exits)

    occupied: list[tuple[float, float]] = []
    for _code, name, kind, _pos in TOWNSHIPS:
        if kind != "town":
            continue
        poly = district.townships[name]
        safe = poly.difference(district.river.buffer(450))
        x, y = _sample_point(rng, safe, avoid=occupied, min_gap_m=900, edge_m=650)
        district.town_centres[name] = (x, y)
        ways.extend(_town_grid(rng, name, x, y))
        vill = []
        safe_v = poly.difference(district.river.buffer(250)).difference(core.buffer(300))
        for vname in VILLAGE_NAMES[name]:
            vx, vy = _sample_point(rng, safe_v, avoid=occupied, min_gap_m=750, edge_m=250)
            vill.append((vname, vx, vy))
            ways.extend(_village_lanes(rng, vx, vy))
        district.villages[name] = vill

    # country roads: a spanning tree over each town's places on each side of the river,
    # anchored on the town centre or on the nearest primary road on that side
    exit_lines = unary_union([w.line for w in exits] + [ring])
    for _code, name, kind, _pos in TOWNSHIPS:
        if kind != "town":
            continue
        tx, ty = district.town_centres[name]
        centre_side = ty > _river_y(district, tx)
        # town centre to the nearest primary or the ring road
        target = nearest_points(Point(tx, ty), exit_lines)[1]
        road = _overshoot(_wiggly((tx, ty), (target.x, target.y), rng, amp_m=150), end_m=2.0)
        ways.append(Way(road, {"highway": "tertiary", "name": name[:-1] + "大道"}))
        for side in (True, False):
            places = [
                (vx, vy)
                for _, vx, vy in district.villages[name]
                if (vy > _river_y(district, vx)) == side
            ]
            if not places:
                continue
            if side == centre_side:
                anchor = (tx, ty)
                anchor_is_road = False
            else:
                cxm, cym = np.mean(places, axis=0)
                side_lines = [
                    w.line
                    for w in exits
                    if (w.line.centroid.y > _river_y(district, w.line.centroid.x)) == side
                ]
                pt = nearest_points(Point(cxm, cym), unary_union([*side_lines, ring]))[1]
                anchor = (pt.x, pt.y)
                anchor_is_road = True
            pts = np.array([anchor, *places])
            diff = pts[:, None, :] - pts[None, :, :]
            dist = np.hypot(diff[..., 0], diff[..., 1])
            tree = minimum_spanning_tree(dist).tocoo()
            pairs = sorted(zip(tree.row.tolist(), tree.col.tolist(), strict=True))
            # one extra link per group closes a loop
            if len(places) >= 3:
                dd = dist.copy()
                dd[np.tril_indices(len(pts))] = np.inf
                for a, b in pairs:
                    dd[min(a, b), max(a, b)] = np.inf
                a, b = np.unravel_index(np.argmin(dd), dd.shape)
                pairs.append((int(a), int(b)))
            for a, b in pairs:
                p, q = pts[a], pts[b]
                line = _wiggly(p, q, rng, amp_m=min(200.0, 0.12 * float(dist[a, b])))
                if anchor_is_road and 0 in (a, b):
                    line = _overshoot(line, end_m=2.0) if b == 0 else _overshoot(line, start_m=2.0)
                hw = "tertiary" if 0 in (a, b) and not anchor_is_road else "track"
                if hw == "track" and rng.random() < 0.4:
                    hw = "residential"
                ways.append(Way(line, {"highway": hw}))

    # county roads between neighbouring towns, round the outside of the core; the two that meet
    # the river have no bridge and end on both banks (a trap for hull-based service areas)
    core_xy = np.asarray(core.exterior.coords)[:4]
    ring_pairs = (
        ("白鹭镇", "稻香镇", 2, "鹭稻公路"),
        ("稻香镇", "青山镇", 1, "稻山公路"),
        ("青山镇", "桃源镇", 0, "山源公路"),
        ("桃源镇", "白鹭镇", 3, "源鹭公路"),
    )
    keep_out = core.buffer(60)
    for a, b, corner, road_name in ring_pairs:
        pa, pb = np.asarray(district.town_centres[a]), np.asarray(district.town_centres[b])
        c = core_xy[corner]
        outward = c - np.asarray(core.centroid.coords[0])
        via = c + outward / np.hypot(*outward) * 900.0
        for p, q in ((pa, via), (via, pb)):
            line = _wiggly(p, q, rng, amp_m=150).difference(keep_out)
            for part in _parts(line):
                ways.append(Way(part, {"highway": "tertiary", "name": road_name}))

    # the third bridge: a county road through 稻香镇
    bx = 7900.0
    ways.append(
        Way(
            _wiggly((bx, -50), (bx + 60, SIZE_M + 50), rng, amp_m=60).intersection(boundary_inner),
            {"highway": "tertiary", "name": "县道X301"},
            bridge_ok=True,
        )
    )

    # sparse farm tracks hanging off the rural roads
    rural_lines = [w.line for w in ways if w.line.length > 200]
    for _ in range(90):
        base = rural_lines[int(rng.integers(len(rural_lines)))]
        p = np.asarray(base.interpolate(rng.uniform(0.1, 0.9), normalized=True).coords[0])
        ang = rng.uniform(0, 2 * np.pi)
        length = rng.uniform(300, 800)
        q = p + length * np.array([np.cos(ang), np.sin(ang)])
        line = _overshoot(_wiggly(p, q, rng, amp_m=40), start_m=2.0)
        line = line.difference(core.buffer(10))
        for part in _parts(line):
            ways.append(Way(part, {"highway": "track" if rng.random() < 0.7 else "path"}))
    return ways


def _town_grid(rng, name: str, x: float, y: float) -> list[Way]:
    ways = []
    ang = rng.uniform(-0.5, 0.5)
    n, sp = 6, 110.0
    g = (np.arange(n) - (n - 1) / 2) * sp
    gx, gy = np.meshgrid(g, g)
    gx = gx + rng.uniform(-12, 12, gx.shape)
    gy = gy + rng.uniform(-12, 12, gy.shape)
    px = x + gx * np.cos(ang) - gy * np.sin(ang)
    py = y + gx * np.sin(ang) + gy * np.cos(ang)
    mid = n // 2
    for k in range(n):
        for xs, ys, main in ((px[k, :], py[k, :], k == mid), (px[:, k], py[:, k], k == mid)):
            tags = (
                {"highway": "tertiary", "name": name[:-1] + "街"}
                if main
                else {"highway": "residential"}
            )
            keep = np.ones(n - 1, dtype=bool) if main else rng.random(n - 1) > 0.15
            start = 0
            for e in range(n - 1):
                if not keep[e]:
                    if e > start:
                        ways.append(
                            Way(
                                LineString(np.column_stack([xs[start : e + 1], ys[start : e + 1]])),
                                tags,
                            )
                        )
                    start = e + 1
            if n - 1 > start:
                ways.append(Way(LineString(np.column_stack([xs[start:], ys[start:]])), tags))
    # the town centre point itself sits on the main street crossing
    ways.append(
        Way(
            LineString([(x, y), (px[mid, mid], py[mid, mid])]),
            {"highway": "tertiary"},
            keep_short=True,
        )
    )
    return ways


def _village_lanes(rng, x: float, y: float) -> list[Way]:
    ways = []
    k = int(rng.integers(4, 8))
    angles = np.sort(rng.uniform(0, 2 * np.pi, k))
    tips = []
    for a in angles:
        length = rng.uniform(90, 240)
        tip = (x + length * np.cos(a), y + length * np.sin(a))
        tips.append(tip)
        hw = "residential" if rng.random() < 0.6 else ("track" if rng.random() < 0.5 else "path")
        ways.append(Way(_wiggly((x, y), tip, rng, amp_m=15, step_m=25), {"highway": hw}))
    # one lane linking two neighbouring lanes halfway closes a small loop
    a, b = 0, 1
    pa = (x + 0.5 * (tips[a][0] - x), y + 0.5 * (tips[a][1] - y))
    pb = (x + 0.5 * (tips[b][0] - x), y + 0.5 * (tips[b][1] - y))
    ways.append(Way(_overshoot(LineString([pa, pb]), start_m=15, end_m=15), {"highway": "path"}))
    return ways


def _rural_fragment(rng, district: District, ways: list[Way]) -> list[Way]:
    """An isolated track loop in a fenced nursery of 青山镇 (deliberately unreachable)."""
    poly = district.townships["青山镇"].buffer(-400)
    tree = shapely.STRtree([w.line for w in ways])
    minx, miny, maxx, maxy = poly.bounds
    for _ in range(5000):
        x, y = rng.uniform(minx, maxx), rng.uniform(miny, maxy)
        p = Point(x, y)
        if not poly.contains(p):
            continue
        idx = tree.query_nearest(p)
        if ways[int(idx[0])].line.distance(p) > 260:
            loop = p.buffer(110, quad_segs=4).exterior
            district.parks.append(p.buffer(130))
            spur = LineString([loop.coords[0], (x, y)])
            return [
                Way(LineString(loop.coords), {"highway": "track"}, fragment=True),
                Way(spur, {"highway": "track"}, fragment=True),
            ]
    raise RuntimeError("no room for the isolated nursery track")


def _cut_at_river(district: District, ways: list[Way]) -> list[Way]:
    """Split bridge roads into approach + bridge + approach; cut every other road at the bank."""
    cut = district.river.buffer(RIVER_CLEARANCE_M)
    out: list[Way] = []
    for w in ways:
        if not w.line.intersects(cut):
            out.append(w)
            continue
        if w.bridge_ok:
            inside = w.line.intersection(cut)
            parts = _parts(inside)
            if len(parts) != 1:
                raise RuntimeError("a bridge road crosses the river more than once")
            d0 = w.line.project(Point(parts[0].coords[0]))
            d1 = w.line.project(Point(parts[0].coords[-1]))
            d0, d1 = min(d0, d1), max(d0, d1)
            out.append(Way(substring(w.line, 0, d0), dict(w.tags)))
            tags = dict(w.tags) | {"bridge": "yes", "layer": "1"}
            bridge = substring(w.line, d0, d1)
            out.append(Way(bridge, tags, keep_short=True))
            district.bridges.append(bridge)
            out.append(Way(substring(w.line, d1, w.line.length), dict(w.tags)))
        else:
            for part in _parts(w.line.difference(cut)):
                out.append(Way(part, dict(w.tags), fragment=w.fragment))
    return out


def _finish_lines(district: District, ways: list[Way]) -> list[Way]:
    inner = district.boundary.buffer(-6.0)
    parks = unary_union([p.buffer(6) for p in district.parks]) if district.parks else None
    out = []
    for w in ways:
        geom = w.line
        if not inner.contains(geom):
            geom = geom.intersection(inner)
        if parks is not None and not w.fragment and geom.intersects(parks):
            geom = geom.difference(parks)
        for part in _parts(geom):
            if part.length < 20.0 and not (w.keep_short or w.fragment):
                continue
            out.append(Way(part, w.tags, fragment=w.fragment, keep_short=w.keep_short))
    return out


@dataclass
class Network:
    """The noded network: node coordinates (local metres) and ways as node-index lists."""

    x: np.ndarray
    y: np.ndarray
    ways: list[tuple[list[int], dict[str, str]]]
    fragment_nodes: np.ndarray

    def lines(self) -> list[LineString]:
        return [LineString(np.column_stack([self.x[n], self.y[n]])) for n, _ in self.ways]


def _node_ways(ways: list[Way], *, densify_m: float = 25.0, trim_m: float = 2.5) -> Network:
    """Insert every crossing as a shared node, trim overshoots, densify, drop stray pieces."""
    lines = np.array([w.line for w in ways], dtype=object)
    tree = shapely.STRtree(lines)
    a, b = tree.query(lines, predicate="intersects")
    keep = a < b
    a, b = a[keep], b[keep]
    inter = shapely.intersection(lines[a], lines[b])
    coords, which = shapely.get_coordinates(inter, return_index=True)
    ia, ib = a[which], b[which]
    pts = shapely.points(coords)
    da = shapely.line_locate_point(lines[ia], pts)
    db = shapely.line_locate_point(lines[ib], pts)
    cuts: list[list[tuple[float, float, float]]] = [[] for _ in ways]
    for k in range(len(coords)):
        cuts[ia[k]].append((float(da[k]), coords[k, 0], coords[k, 1]))
        cuts[ib[k]].append((float(db[k]), coords[k, 0], coords[k, 1]))

    keys: dict[tuple[int, int], int] = {}
    nx_: list[float] = []
    ny_: list[float] = []
    node_ways: list[tuple[list[int], dict[str, str]]] = []
    frag_flags: list[bool] = []

    def node(x: float, y: float) -> int:
        key = (round(x * 100), round(y * 100))
        idx = keys.get(key)
        if idx is None:
            idx = len(nx_)
            keys[key] = idx
            nx_.append(key[0] / 100.0)
            ny_.append(key[1] / 100.0)
        return idx

    for k, w in enumerate(ways):
        c = np.asarray(w.line.coords)
        seg = np.hypot(*np.diff(c, axis=0).T)
        dist = np.concatenate([[0.0], np.cumsum(seg)])
        total = float(dist[-1])
        entries = [(float(d), float(x), float(y), 0) for d, (x, y) in zip(dist, c, strict=True)]
        crossings = sorted(cuts[k])
        entries += [(d, x, y, 1) for d, x, y in crossings]
        entries.sort(key=lambda e: (e[0], -e[3]))
        if crossings:
            first, last = crossings[0][0], crossings[-1][0]
            if 0.0 < first <= trim_m:
                entries = [e for e in entries if e[0] >= first]
            if 0.0 < total - last <= trim_m:
                entries = [e for e in entries if e[0] <= last]
        # merge entries closer than 5 cm, preferring crossings
        merged: list[tuple[float, float, float, int]] = []
        for e in entries:
            if merged and e[0] - merged[-1][0] < 0.05:
                if e[3] and not merged[-1][3]:
                    merged[-1] = e
                continue
            merged.append(e)
        ids: list[int] = []
        for i, e in enumerate(merged):
            if i:
                prev = merged[i - 1]
                gap = e[0] - prev[0]
                n_extra = int(np.ceil(gap / densify_m)) - 1
                for t in np.arange(1, n_extra + 1) / (n_extra + 1):
                    ids.append(node(prev[1] + t * (e[1] - prev[1]), prev[2] + t * (e[2] - prev[2])))
            ids.append(node(e[1], e[2]))
        ids = [n for i, n in enumerate(ids) if i == 0 or n != ids[i - 1]]
        if len(ids) >= 2:
            node_ways.append((ids, w.tags))
            frag_flags.append(w.fragment)

    n_nodes = len(nx_)
    rows = np.concatenate([np.asarray(ids[:-1]) for ids, _ in node_ways])
    cols = np.concatenate([np.asarray(ids[1:]) for ids, _ in node_ways])
    graph = coo_matrix((np.ones(len(rows)), (rows, cols)), shape=(n_nodes, n_nodes))
    _, label = connected_components(graph, directed=False)
    sizes = np.bincount(label)
    main = int(np.argmax(sizes))
    keep_labels = {main} | {
        int(label[ids[0]]) for (ids, _), f in zip(node_ways, frag_flags, strict=True) if f
    }
    kept = [(ids, tags) for ids, tags in node_ways if int(label[ids[0]]) in keep_labels]
    dropped = len(node_ways) - len(kept)
    logger.info(
        "noded %d ways into %d nodes; dropped %d stray ways", len(node_ways), n_nodes, dropped
    )
    used = np.zeros(n_nodes, dtype=bool)
    for ids, _ in kept:
        used[ids] = True
    new_index = np.cumsum(used) - 1
    x = np.asarray(nx_)[used]
    y = np.asarray(ny_)[used]
    kept = [([int(new_index[i]) for i in ids], tags) for ids, tags in kept]
    frag = np.zeros(len(x), dtype=bool)
    for n in np.flatnonzero(used & (label != main)):
        frag[new_index[n]] = True
    return Network(x=x, y=y, ways=kept, fragment_nodes=frag)


def _build_network(rng, district: District) -> Network:
    urban = _lattice_ways(rng, district)
    rural = _rural_ways(rng, district, urban)
    ways = urban + rural
    ways += _rural_fragment(rng, district, ways)
    ways = _cut_at_river(district, ways)
    ways = _finish_lines(district, ways)
    return _node_ways(ways)


def _osm_xml(district: District, net: Network) -> bytes:
    lon, lat = _to_lonlat(district, net.x, net.y)
    minlon, maxlon = float(lon.min()), float(lon.max())
    minlat, maxlat = float(lat.min()), float(lat.max())
    out = io.StringIO()
    out.write("<?xml version='1.0' encoding='UTF-8'?>\n")
    out.write(
        '<osm version="0.6" generator="lifecircle.sample (fictional 示范区, not real data)">\n'
    )
    out.write(
        f'  <bounds minlat="{minlat:.7f}" minlon="{minlon:.7f}" maxlat="{maxlat:.7f}" '
        f'maxlon="{maxlon:.7f}"/>\n'
    )
    for i in range(len(lon)):
        out.write(f'  <node id="{i + 1}" version="1" lat="{lat[i]:.7f}" lon="{lon[i]:.7f}"/>\n')
    for k, (ids, tags) in enumerate(net.ways):
        out.write(f'  <way id="{k + 1}" version="1">\n')
        for n in ids:
            out.write(f'    <nd ref="{n + 1}"/>\n')
        for key in sorted(tags):
            out.write(f"    <tag k={quoteattr(key)} v={quoteattr(tags[key])}/>\n")
        out.write("  </way>\n")
    out.write("</osm>\n")
    return out.getvalue().encode("utf-8")


# --------------------------------------------------------------------------- population


@dataclass
class Population:
    x0: float  # local x of the raster's west edge
    y1: float  # local y of the raster's north edge
    pop: np.ndarray  # (rows, cols) float32, row 0 = north
    pop60: np.ndarray
    cx: np.ndarray  # local cell centres, same shape
    cy: np.ndarray


def _population(rng, district: District, net: Network) -> Population:
    x0, y0, ncols, nrows = -200.0, -200.0, 94, 94
    y1 = y0 + nrows * CELL_M
    cols = x0 + (np.arange(ncols) + 0.5) * CELL_M
    rows = y1 - (np.arange(nrows) + 0.5) * CELL_M
    cx, cy = np.meshgrid(cols, rows)
    fx, fy = cx.ravel(), cy.ravel()

    main = ~net.fragment_nodes
    # road length per cell from the segments' midpoints
    seg_len = []
    mx = []
    my = []
    for ids, _ in net.ways:
        ids_a = np.asarray(ids)
        xa, ya = net.x[ids_a], net.y[ids_a]
        seg_len.append(np.hypot(np.diff(xa), np.diff(ya)))
        mx.append((xa[1:] + xa[:-1]) / 2)
        my.append((ya[1:] + ya[:-1]) / 2)
    seg_len_a, mx_a, my_a = np.concatenate(seg_len), np.concatenate(mx), np.concatenate(my)
    road_m, _, _ = np.histogram2d(
        my_a,
        mx_a,
        bins=[np.arange(nrows + 1) * CELL_M + y0, np.arange(ncols + 1) * CELL_M + x0],
        weights=seg_len_a,
    )
    road_m = road_m[::-1].ravel()  # histogram rows run south->north; raster rows north->south

    lines = [ln for ln, (ids, _) in zip(net.lines(), net.ways, strict=True) if main[ids[0]]]
    tree = shapely.STRtree(lines)
    pts = shapely.points(fx, fy)
    _, dist = tree.query_nearest(pts, return_distance=True, all_matches=False)

    inside = shapely.contains_xy(district.boundary, fx, fy)
    inside &= ~shapely.contains_xy(district.river.buffer(20), fx, fy)
    for park in district.parks:
        inside &= ~shapely.contains_xy(park, fx, fy)
    urban = shapely.contains_xy(district.core, fx, fy)
    near = dist < 90.0

    w = np.zeros(len(fx))
    noise = rng.lognormal(0.0, 0.35, len(fx))
    # denser (and older) towards the old town in the middle of the core
    core_c = district.core.centroid
    old_town = np.exp(-((fx - core_c.x) ** 2 + (fy - core_c.y) ** 2) / 1800.0**2)
    w_urban = road_m * noise * (0.55 + 0.9 * old_town)
    w[urban] = w_urban[urban]
    vill = np.array([(vx, vy) for v in district.villages.values() for _, vx, vy in v])
    dv = np.min(np.hypot(fx[:, None] - vill[None, :, 0], fy[:, None] - vill[None, :, 1]), axis=1)
    tc = np.array(list(district.town_centres.values()))
    dt = np.min(np.hypot(fx[:, None] - tc[None, :, 0], fy[:, None] - tc[None, :, 1]), axis=1)
    w_rural = np.where(dv < 280, 3.0 * (1.0 - dv / 320.0), 0.0)
    w_rural += np.where(dt < 450, 8.0 * (1.0 - dt / 500.0), 0.0)
    w_rural += np.where(road_m > 0, 0.08, 0.0)
    w_rural *= noise
    w[~urban] = w_rural[~urban]
    w *= inside & near
    pop = np.zeros(len(fx))
    pop[urban] = w[urban] / w[urban].sum() * URBAN_PEOPLE
    pop[~urban] = w[~urban] / w[~urban].sum() * RURAL_PEOPLE
    pop = np.round(pop, 1)

    # senior share: a smooth field, older in villages
    ph = rng.uniform(0, 2 * np.pi, 3)
    smooth = (
        np.sin(fx / 1700 + ph[0]) + np.sin(fy / 2300 + ph[1]) + np.sin((fx + fy) / 3100 + ph[2]) + 3
    ) / 6
    share = np.where(urban, 0.15 + 0.06 * smooth + 0.05 * old_town, 0.24 + 0.06 * smooth)
    share = np.where((~urban) & (dv < 320), 0.28 + 0.07 * smooth, share)
    share = np.where((~urban) & (dt < 500), 0.22 + 0.05 * smooth, share)
    pop60 = np.round(pop * share, 1)
    shape = (nrows, ncols)
    return Population(
        x0=x0,
        y1=y1,
        pop=pop.reshape(shape).astype(np.float32),
        pop60=pop60.reshape(shape).astype(np.float32),
        cx=cx,
        cy=cy,
    )


def _sum_in(poly, popu: Population) -> tuple[float, float]:
    m = shapely.contains_xy(poly, popu.cx.ravel(), popu.cy.ravel())
    return float(popu.pop.ravel()[m].sum(dtype=np.float64)), float(
        popu.pop60.ravel()[m].sum(dtype=np.float64)
    )


# --------------------------------------------------------------------------- writers


def _round_coords(geom) -> list:
    def rnd(obj):
        if isinstance(obj, (list, tuple)):
            if obj and isinstance(obj[0], float):
                return [round(v, 7) for v in obj]
            return [rnd(o) for o in obj]
        return obj

    return rnd(shapely.geometry.mapping(geom)["coordinates"])


def _geom_lonlat(district: District, geom):
    return shapely.transform(
        geom, lambda c: np.column_stack(_to_lonlat(district, c[:, 0], c[:, 1]))
    )


def _feature(district: District, geom, props: dict) -> dict:
    g = _geom_lonlat(district, geom)
    return {
        "type": "Feature",
        "properties": props,
        "geometry": {"type": g.geom_type, "coordinates": _round_coords(g)},
    }


def _write_geojson(path: Path, name: str, features: list[dict]) -> None:
    doc = {
        "type": "FeatureCollection",
        "name": name,
        "crs": {"type": "name", "properties": {"name": "urn:ogc:def:crs:OGC:1.3:CRS84"}},
        "features": features,
    }
    text = json.dumps(doc, ensure_ascii=False, separators=(",", ":"))
    # one feature per line keeps diffs readable
    text = text.replace(',{"type":"Feature"', ',\n{"type":"Feature"')
    path.write_text(text + "\n", encoding="utf-8")


def _write_csv(path: Path, header: list[str], rows: list[list], *, encoding: str) -> None:
    buf = io.StringIO(newline="")
    writer = csv.writer(buf, lineterminator="\r\n")
    writer.writerow(header)
    writer.writerows(rows)
    path.write_bytes(buf.getvalue().encode(encoding))


def _write_xlsx(path: Path, sheet: str, title: str, header: list[str], rows: list[list]) -> None:
    import datetime as dt

    from openpyxl import Workbook
    from openpyxl.styles import Font

    wb = Workbook()
    ws = wb.active
    ws.title = sheet
    ws.append([title])
    ws.merge_cells(start_row=1, start_column=1, end_row=1, end_column=len(header))
    ws.cell(row=1, column=1).font = Font(bold=True, size=14)
    ws.append(header)
    for r in rows:
        ws.append(r)
    fixed = dt.datetime(*FIXED_TIME)
    wb.properties.creator = "lifecircle.sample"
    wb.properties.created = fixed
    wb.properties.modified = fixed
    raw = io.BytesIO()
    wb.save(raw)
    # openpyxl stamps the save time into core.xml and the zip entries: pin both
    stamp = "2025-01-01T00:00:00Z"
    out = io.BytesIO()
    with (
        zipfile.ZipFile(io.BytesIO(raw.getvalue())) as src,
        zipfile.ZipFile(out, "w", zipfile.ZIP_DEFLATED) as dst,
    ):
        for info in src.infolist():
            data = src.read(info.filename)
            if info.filename == "docProps/core.xml":
                text = data.decode("utf-8")
                text = re.sub(
                    r"(<dcterms:(created|modified)[^>]*>)[^<]*(</dcterms)",
                    lambda m: m.group(1) + stamp + m.group(3),
                    text,
                )
                data = text.encode("utf-8")
            zi = zipfile.ZipInfo(info.filename, date_time=FIXED_TIME)
            zi.compress_type = zipfile.ZIP_DEFLATED
            zi.external_attr = 0o600 << 16
            dst.writestr(zi, data)
    path.write_bytes(out.getvalue())


def _write_raster(path: Path, district: District, popu: Population) -> None:
    import rasterio
    from affine import Affine

    transform = Affine(
        CELL_M, 0.0, district.origin[0] + popu.x0, 0.0, -CELL_M, district.origin[1] + popu.y1
    )
    profile = {
        "driver": "GTiff",
        "height": popu.pop.shape[0],
        "width": popu.pop.shape[1],
        "count": 2,
        "dtype": "float32",
        "crs": f"EPSG:{METRIC_EPSG}",
        "transform": transform,
        "compress": "deflate",
        "predictor": 2,
        "nodata": None,
    }
    with rasterio.open(path, "w", **profile) as dst:
        dst.write(popu.pop, 1)
        dst.write(popu.pop60, 2)
        dst.set_band_description(1, "pop")
        dst.set_band_description(2, "pop60")
        dst.update_tags(
            DESCRIPTION="示范区 fictional sample population (people per 100 m cell)",
            SOURCE="lifecircle.sample, seed 20251123; invented, not census data",
        )
        dst.update_tags(1, UNIT="people")
        dst.update_tags(2, UNIT="people aged 60+")


# --------------------------------------------------------------------------- facilities


class _Placer:
    """Picks points on or next to the main network's roads inside a region."""

    def __init__(self, rng, district: District, net: Network):
        self.rng = rng
        self.district = district
        road_nodes = np.zeros(len(net.x), dtype=bool)
        bridge = np.zeros(len(net.x), dtype=bool)
        for ids, tags in net.ways:
            if tags.get("highway") in {"primary", "tertiary", "residential", "service"}:
                road_nodes[ids] = True
            if tags.get("bridge") == "yes":
                bridge[ids] = True
        ok = road_nodes & ~bridge & ~net.fragment_nodes
        ok &= ~shapely.contains_xy(district.river.buffer(25), net.x, net.y)
        self.x = net.x[ok]
        self.y = net.y[ok]
        self.river_m = shapely.distance(shapely.points(self.x, self.y), district.river)
        self.used: list[tuple[float, float]] = []
        self._inside: dict[bytes, np.ndarray] = {}
        self._gap_m = np.full(len(self.x), np.inf)

    def place(
        self,
        region,
        *,
        near=None,
        radius_m: float = 200.0,
        gap_m: float = 80.0,
        river_bank: bool = False,
    ) -> tuple[float, float]:
        key = region.wkb
        if key not in self._inside:
            self._inside[key] = shapely.contains_xy(region.buffer(-15), self.x, self.y)
        inside = self._inside[key].copy()
        if near is not None:
            inside &= np.hypot(self.x - near[0], self.y - near[1]) < radius_m
        if river_bank:
            inside &= (self.river_m < 140) & (self.river_m > 40)
        cand = np.flatnonzero(inside)
        if self.used and len(cand):
            far = cand[self._gap_m[cand] > gap_m]
            cand = far if len(far) else cand
        if not len(cand):
            raise RuntimeError("no road node to place a sample facility on")
        k = int(cand[int(self.rng.integers(len(cand)))])
        ang = self.rng.uniform(0, 2 * np.pi)
        r = self.rng.uniform(4, 18)
        px, py = self.x[k] + r * np.cos(ang), self.y[k] + r * np.sin(ang)
        if self.district.river.buffer(5).contains(Point(px, py)):
            px, py = self.x[k], self.y[k]
        self.used.append((px, py))
        # distance from every road node to the nearest facility placed so far
        self._gap_m = np.minimum(self._gap_m, np.hypot(self.x - px, self.y - py))
        return float(px), float(py)


def _fmt(v: float, nd: int = 6) -> str:
    return f"{v:.{nd}f}"


def _units(rng, district: District, popu: Population) -> list[dict]:
    """Village/community units of 白鹭镇, 稻香镇 and 青石街道 (Voronoi cells clipped)."""
    units = []
    for code, name, kind, _ in TOWNSHIPS:
        if name not in UNIT_LAYER_TOWNSHIPS:
            continue
        poly = district.townships[name]
        seeds = []
        if kind == "town":
            seeds.append((code + "001", name[:-1] + "社区", "社区", district.town_centres[name]))
            for k, (vname, vx, vy) in enumerate(district.villages[name]):
                seeds.append((code + f"{200 + k:03d}", vname, "村", (vx, vy)))
        else:
            avoid: list[tuple[float, float]] = []
            for k, cname in enumerate(COMMUNITY_NAMES[name]):
                p = _sample_point(rng, poly, avoid=avoid, min_gap_m=550, edge_m=150)
                seeds.append((code + f"{k + 1:03d}", cname, "社区", p))
        mp = MultiPoint([s[3] for s in seeds])
        cells = shapely.voronoi_polygons(mp, extend_to=poly.envelope.buffer(500), ordered=True)
        for seed, cell in zip(seeds, shapely.get_parts(cells), strict=True):
            geom = shapely.normalize(cell.intersection(poly))
            units.append(
                {
                    "code": seed[0],
                    "name": seed[1],
                    "unit_kind": seed[2],
                    "township": name,
                    "township_code": code,
                    "geometry": geom,
                    "seed": seed[3],
                }
            )
    # a unit of 稻香镇 carries a wrong code prefix (that of 青山镇): a conflict to report
    for u in units:
        if u["name"] == "新垛村":
            u["code"] = "329901102209"
            u["wrong_prefix"] = True
    for u in units:
        pop, _ = _sum_in(u["geometry"], popu)
        size = 2.7 if u["unit_kind"] == "社区" and u["township"].endswith("街道") else 3.1
        u["households"] = round(pop / size)
    return units


def _registers(
    rng, district: District, net: Network, popu: Population, units: list[dict], seniors_total: float
) -> dict:
    placer = _Placer(rng, district, net)
    tw = district.townships
    to_ll = lambda x, y: tuple(float(v) for v in _to_lonlat(district, np.array(x), np.array(y)))  # noqa: E731

    named = [
        (LineString(np.column_stack([net.x[ids], net.y[ids]])), tags["name"])
        for ids, tags in net.ways
        if "name" in tags and tags.get("bridge") != "yes"
    ]
    named_tree = shapely.STRtree([g for g, _ in named])
    places = {t: [(n, vx, vy) for n, vx, vy in v] for t, v in district.villages.items()}
    for t, (cx, cy) in district.town_centres.items():
        places[t].append((t[:-1] + "社区", cx, cy))

    def addr(township: str, xy: tuple[float, float] | None) -> str:
        """A plausible address: the nearest named road, else the nearest village."""
        number = int(rng.integers(1, 300))
        if xy is None:
            return f"{DISTRICT_NAME}{township}"
        k = int(named_tree.query_nearest(Point(xy))[0])
        reach_m = 120.0 if township in places else 1000.0
        if named[k][0].distance(Point(xy)) < reach_m:
            return f"{DISTRICT_NAME}{township}{named[k][1]}{number}号"
        n, _, _ = min(places[township], key=lambda p: np.hypot(p[1] - xy[0], p[2] - xy[1]))
        return f"{DISTRICT_NAME}{township}{n}{number % 12 + 1}组{number}号"

    faults: list[dict] = []
    streets = [t[1] for t in TOWNSHIPS if t[2] == "street"]
    towns = [t[1] for t in TOWNSHIPS if t[2] == "town"]

    # ---- elder-care centres (xlsx, GCJ-02)
    ec: list[dict] = []

    def ec_add(
        name, typ, township, beds, nursing, area, year, *, near=None, bank=False, radius=250.0
    ):
        x, y = placer.place(tw[township], near=near, radius_m=radius, river_bank=bank)
        ec.append(
            {
                "name": name,
                "type": typ,
                "township": township,
                "beds": beds,
                "nursing": nursing,
                "area": area,
                "year": year,
                "xy": (x, y),
            }
        )

    ec_add("青石街道综合性养老服务中心", "综合性养老服务中心", "青石街道", 60, 40, 3200, 2021)
    ec_add(
        "柳岸街道综合性养老服务中心",
        "综合性养老服务中心",
        "柳岸街道",
        50,
        30,
        2800,
        2022,
        bank=True,
    )
    for t in ("白鹭镇", "稻香镇", "青山镇"):
        ec_add(
            f"{t}区域性养老服务中心",
            "区域性养老服务中心",
            t,
            int(rng.integers(40, 61)),
            int(rng.integers(20, 31)),
            int(rng.integers(1500, 2500)),
            2020 + int(rng.integers(4)),
            near=district.town_centres[t],
            radius=400,
        )
    for t in streets:
        for k, cname in enumerate(COMMUNITY_NAMES[t][:3]):
            ec_add(
                f"{cname}日间照料中心",
                "日间照料中心",
                t,
                int(rng.integers(0, 11)),
                0,
                int(rng.integers(300, 800)),
                2016 + int(rng.integers(9)),
                bank=(k == 0),
            )
    for t in ("白鹭镇", "桃源镇"):
        ec_add(
            f"{t[:-1]}社区日间照料中心",
            "日间照料中心",
            t,
            0,
            0,
            int(rng.integers(300, 600)),
            2018 + int(rng.integers(6)),
            near=district.town_centres[t],
            radius=400,
        )
    for t in streets:
        for cname in COMMUNITY_NAMES[t][1:4]:
            ec_add(
                f"{cname}居家养老服务站",
                "居家养老服务站",
                t,
                None,
                None,
                int(rng.integers(100, 300)),
                2015 + int(rng.integers(10)),
            )
    for t in towns:
        ec_add(
            f"{t[:-1]}社区居家养老服务站",
            "居家养老服务站",
            t,
            None,
            None,
            int(rng.integers(100, 250)),
            2017 + int(rng.integers(8)),
            near=district.town_centres[t],
            radius=450,
        )
    inst = [
        ("颐康养老院", "青石街道"),
        ("福寿康养中心", "柳岸街道"),
        ("松鹤养老公寓", "文昌街道"),
        ("安康颐养院", "东湖街道"),
        ("悦心养老中心", "文昌街道"),
        ("白鹭湾颐养院", "白鹭镇"),
        ("青山康养园", "青山镇"),
    ]
    for name, t in inst:
        near = district.town_centres.get(t)
        ec_add(
            name,
            "养老机构",
            t,
            0,
            0,
            int(rng.integers(3000, 9000)),
            2010 + int(rng.integers(15)),
            near=near,
            radius=600,
        )
    for t in towns:
        ec_add(
            f"{t}敬老院",
            "敬老院",
            t,
            int(rng.integers(60, 121)),
            0,
            int(rng.integers(1800, 3500)),
            2005 + int(rng.integers(10)),
            near=district.town_centres[t],
            radius=600,
        )
    ec_add("康宁护理院", "护理院", "东湖街道", 120, 120, 5200, 2019)
    ec_add("仁和护理院", "护理院", "柳岸街道", 150, 150, 6100, 2023)
    # institutions carry the rest of the beds so that the district lands on its ratios
    target_beds = round(BEDS_PER_1000_SENIORS * seniors_total / 1000.0)
    target_nursing = round(NURSING_SHARE * target_beds)
    for r in ec:
        if r["type"] == "敬老院":
            r["nursing"] = round(0.3 * r["beds"])
    fixed_beds = sum(r["beds"] or 0 for r in ec if r["type"] != "养老机构")
    fixed_nursing = sum(r["nursing"] or 0 for r in ec if r["type"] != "养老机构")
    inst_rows = [r for r in ec if r["type"] == "养老机构"]
    raw = rng.uniform(0.6, 1.4, len(inst_rows))
    beds = np.floor(raw / raw.sum() * (target_beds - fixed_beds)).astype(int)
    beds[0] += target_beds - fixed_beds - int(beds.sum())
    nursing = np.floor(beds / beds.sum() * (target_nursing - fixed_nursing)).astype(int)
    nursing[0] += target_nursing - fixed_nursing - int(nursing.sum())
    for r, b, n in zip(inst_rows, beds, nursing, strict=True):
        r["beds"], r["nursing"] = int(b), int(n)

    order = rng.permutation(len(ec))
    ec = [ec[i] for i in order]
    ec_rows = []
    for k, r in enumerate(ec):
        lon, lat = to_ll(*r["xy"])
        glon, glat = wgs84_to_gcj02(lon, lat)
        ec_rows.append(
            [
                k + 1,
                r["name"],
                r["type"],
                addr(r["township"], r["xy"]),
                float(_fmt(float(glon))),
                float(_fmt(float(glat))),
                r["beds"],
                r["nursing"],
                r["township"],
                r["year"],
                r["area"],
            ]
        )
    # faults: a non-numeric bed count, and an exact duplicate row
    x, y = placer.place(tw["东湖街道"])
    lon, lat = to_ll(x, y)
    glon, glat = wgs84_to_gcj02(lon, lat)
    pos = 17
    ec_rows.insert(
        pos,
        [
            0,
            "东湖夕阳红养老院",
            "养老机构",
            addr("东湖街道", (x, y)),
            float(_fmt(float(glon))),
            float(_fmt(float(glat))),
            "约50",
            20,
            "东湖街道",
            2012,
            1800,
        ],
    )
    dup_src = next(i for i, r in enumerate(ec_rows) if r[2] == "居家养老服务站" and i > 30)
    ec_rows.insert(dup_src + 1, list(ec_rows[dup_src]))
    seq = 0
    for i, r in enumerate(ec_rows):
        if i == dup_src + 1:
            continue
        seq += 1
        r[0] = seq
    ec_rows[dup_src + 1][0] = ec_rows[dup_src][0]
    faults.append(
        {
            "file": "elder_care_centres.xlsx",
            "row": pos + 3,
            "name": "东湖夕阳红养老院",
            "fault": "床位数 is the text '约50', not a number",
        }
    )
    faults.append(
        {
            "file": "elder_care_centres.xlsx",
            "row": dup_src + 1 + 3,
            "name": ec_rows[dup_src][1],
            "fault": f"exact duplicate of Excel row {dup_src + 3}",
        }
    )

    # ---- meal points (csv GBK, BD-09)
    mp: list[dict] = []
    counts = {
        "青石街道": 18,
        "柳岸街道": 16,
        "文昌街道": 7,
        "东湖街道": 5,
        "白鹭镇": 4,
        "稻香镇": 4,
        "青山镇": 3,
        "桃源镇": 3,
    }
    kinds = ("助餐点", "助餐点", "助餐点", "长者食堂", "社区食堂")
    for t, n in counts.items():
        for k in range(n):
            typ = kinds[int(rng.integers(len(kinds)))]
            if t in COMMUNITY_NAMES:
                names = COMMUNITY_NAMES[t]
                x, y = placer.place(
                    tw[t], gap_m=60, river_bank=(t in ("青石街道", "文昌街道") and k < 2)
                )
                suffix = "" if k < len(names) else f"第{k // len(names) + 1}"
                name = f"{names[k % len(names)]}{suffix}{typ}"
            elif k < 2:
                x, y = placer.place(tw[t], near=district.town_centres[t], radius_m=500, gap_m=60)
                name = f"{t[:-1]}社区{'' if k == 0 else '第2'}{typ}"
            else:
                vname, vx, vy = district.villages[t][k - 2]
                x, y = placer.place(tw[t], near=(vx, vy), radius_m=350, gap_m=60)
                name = f"{vname}{typ}"
            name = name.replace("社区社区食堂", "社区食堂")
            mp.append({"name": name, "type": typ, "township": t, "xy": (x, y)})
    mp[0]["type"] = "中央厨房"
    mp[0]["name"] = "示范区中央厨房(青石)"
    years = np.array([2024] * 12 + [2025] * 7 + list(rng.integers(2019, 2024, len(mp) - 19)))
    years = years[rng.permutation(len(mp))]
    mp_rows = []
    for r, yv in zip(mp, years, strict=True):
        lon, lat = to_ll(*r["xy"])
        blon, blat = wgs84_to_bd09(lon, lat)
        mp_rows.append(
            [
                r["name"],
                r["type"],
                addr(r["township"], r["xy"]),
                _fmt(float(blon)),
                _fmt(float(blat)),
                r["township"],
                int(yv),
            ]
        )
    # faults: latitude/longitude swapped; a point outside the district
    swap_at, out_at = 23, 51
    x, y = placer.place(tw["柳岸街道"])
    lon, lat = to_ll(x, y)
    blon, blat = wgs84_to_bd09(lon, lat)
    mp_rows.insert(
        swap_at,
        [
            "望江社区第二助餐点",
            "助餐点",
            addr("柳岸街道", (x, y)),
            _fmt(float(blat)),
            _fmt(float(blon)),
            "柳岸街道",
            2024,
        ],
    )
    blon, blat = wgs84_to_bd09(120.2950, 32.3110)
    mp_rows.insert(
        out_at,
        [
            "江滨老年助餐点",
            "助餐点",
            "邻县滨江镇江滨路8号",
            _fmt(float(blon)),
            _fmt(float(blat)),
            "文昌街道",
            2023,
        ],
    )
    faults.append(
        {
            "file": "meal_points.csv",
            "row": swap_at + 2,
            "name": "望江社区第二助餐点",
            "fault": "经度 and 纬度 swapped (经度 holds the latitude)",
        }
    )
    faults.append(
        {
            "file": "meal_points.csv",
            "row": out_at + 2,
            "name": "江滨老年助餐点",
            "fault": "point lies outside the district (about 35 km east)",
        }
    )

    # ---- columbaria (geojson, WGS-84)
    col = []
    col_spec = [
        ("白鹭镇公益性公墓", "公益性公墓", "白鹭镇", None),
        ("稻香镇骨灰堂", "骨灰堂", "稻香镇", None),
        ("青山镇立体式骨灰安放设施", "立体式骨灰安放设施", "青山镇", None),
    ]
    for vname in ("芦湾村", "沙洲村", "杏花村"):
        col_spec.append((f"{vname}骨灰堂", "骨灰堂", "白鹭镇", vname))
    for vname in ("禾丰村", "金穗村"):
        col_spec.append((f"{vname}骨灰堂", "骨灰堂", "稻香镇", vname))
    for name, typ, t, vname in col_spec:
        if vname is None:
            near, radius = district.town_centres[t], 1200.0
        else:
            near = next((vx, vy) for n, vx, vy in district.villages[t] if n == vname)
            radius = 400.0
        x, y = placer.place(tw[t], near=near, radius_m=radius, gap_m=100)
        col.append({"name": name, "type": typ, "township": t, "village": vname, "xy": (x, y)})

    # ---- social work stations (csv UTF-8 BOM, GCJ-02)
    sw_rows = []
    seq = 0
    for t in ("青石街道", "柳岸街道", "文昌街道", "白鹭镇", "稻香镇", "青山镇"):
        seq += 1
        if t in ("文昌街道", "青山镇"):
            sw_rows.append([seq, f"{t}社会工作服务站", "社工站", t, addr(t, None), "", ""])
            continue
        x, y = placer.place(tw[t], near=district.town_centres.get(t), radius_m=500)
        lon, lat = to_ll(x, y)
        glon, glat = wgs84_to_gcj02(lon, lat)
        sw_rows.append(
            [
                seq,
                f"{t}社会工作服务站",
                "社工站",
                t,
                addr(t, (x, y)),
                _fmt(float(glon)),
                _fmt(float(glat)),
            ]
        )
    rooms = [u for u in units if u["name"] not in ("南巷社区", "麦田村", "柳庄村")][:10]
    for u in rooms:
        seq += 1
        x, y = placer.place(u["geometry"], gap_m=40)
        lon, lat = to_ll(x, y)
        glon, glat = wgs84_to_gcj02(lon, lat)
        sw_rows.append(
            [
                seq,
                f"{u['name']}社工室",
                "社工室",
                u["township"],
                addr(u["township"], (x, y)),
                _fmt(float(glon)),
                _fmt(float(glat)),
            ]
        )
    seq += 1
    sw_rows.append([seq, "荷塘村社工室", "社工室", "", "荷塘村村委会", "", ""])
    faults.append(
        {
            "file": "social_work_stations.csv",
            "row": len(sw_rows) + 1,
            "name": "荷塘村社工室",
            "fault": "经度/纬度 empty and 所属街道 empty: cannot be located at all",
        }
    )

    # ---- children homes (csv UTF-8, WGS-84)
    ch_rows = []
    skip = {"石坊社区", "沙洲村", "仓头村", "新垛村"}
    for u in units:
        if u["name"] in skip:
            continue
        x, y = placer.place(u["geometry"], gap_m=40)
        lon, lat = to_ll(x, y)
        ch_rows.append(
            [f"{u['name']}儿童之家", u["name"], addr(u["township"], (x, y)), _fmt(lon), _fmt(lat)]
        )
    u = next(u for u in units if u["name"] == "沙洲村")
    x, y = placer.place(u["geometry"], gap_m=40)
    lon, lat = to_ll(x, y)
    empty_at = 9
    ch_rows.insert(empty_at, ["", "沙洲村", addr(u["township"], (x, y)), _fmt(lon), _fmt(lat)])
    faults.append(
        {"file": "children_homes.csv", "row": empty_at + 2, "name": "", "fault": "名称 is empty"}
    )

    # ---- community centres (csv UTF-8, WGS-84)
    cc_rows = []
    for u in units:
        x, y = placer.place(u["geometry"], near=u["seed"], radius_m=600, gap_m=40)
        lon, lat = to_ll(x, y)
        area = (
            int(rng.integers(400, 1300))
            if u["unit_kind"] == "社区"
            else int(rng.integers(200, 650))
        )
        cc_rows.append(
            [
                f"{u['name']}党群服务中心",
                addr(u["township"], (x, y)),
                _fmt(lon),
                _fmt(lat),
                area,
                "是" if rng.random() < 0.55 else "否",
                2012 + int(rng.integers(13)),
            ]
        )
    for t in ("柳岸街道", "文昌街道", "东湖街道"):
        for cname in COMMUNITY_NAMES[t]:
            x, y = placer.place(tw[t], gap_m=150)
            lon, lat = to_ll(x, y)
            cc_rows.append(
                [
                    f"{cname}党群服务中心",
                    addr(t, (x, y)),
                    _fmt(lon),
                    _fmt(lat),
                    int(rng.integers(400, 1300)),
                    "是" if rng.random() < 0.55 else "否",
                    2012 + int(rng.integers(13)),
                ]
            )
    for t in ("青山镇", "桃源镇"):
        x, y = placer.place(tw[t], near=district.town_centres[t], radius_m=400)
        lon, lat = to_ll(x, y)
        cc_rows.append(
            [
                f"{t[:-1]}社区党群服务中心",
                addr(t, (x, y)),
                _fmt(lon),
                _fmt(lat),
                int(rng.integers(400, 900)),
                "否",
                2015 + int(rng.integers(9)),
            ]
        )
    # volunteer stations in 55 % of the centres, exactly (a co-location target reads this)
    hosts = set(rng.permutation(len(cc_rows))[: round(0.55 * len(cc_rows))].tolist())
    for i, r in enumerate(cc_rows):
        r[5] = "是" if i in hosts else "否"
    miss_at, swap2_at = 12, 30
    cc_rows.insert(miss_at, ["学府社区邻里中心", addr("文昌街道", None), "", "", 450, "是", 2021])
    x, y = placer.place(tw["东湖街道"], gap_m=150)
    lon, lat = to_ll(x, y)
    cc_rows.insert(
        swap2_at,
        ["湖滨社区邻里中心", addr("东湖街道", (x, y)), _fmt(lat), _fmt(lon), 380, "否", 2020],
    )
    faults.append(
        {
            "file": "community_centres.csv",
            "row": miss_at + 2,
            "name": "学府社区邻里中心",
            "fault": "经度 and 纬度 empty (and the register has no 所属街道 to fall back on)",
        }
    )
    faults.append(
        {
            "file": "community_centres.csv",
            "row": swap2_at + 2,
            "name": "湖滨社区邻里中心",
            "fault": "经度 and 纬度 swapped",
        }
    )

    return {
        "ec_rows": ec_rows,
        "mp_rows": mp_rows,
        "col": col,
        "sw_rows": sw_rows,
        "ch_rows": ch_rows,
        "cc_rows": cc_rows,
        "faults": faults,
    }


# --------------------------------------------------------------------------- main entry


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
MP_HEADER = ["名称", "类型", "地址", "经度", "纬度", "所属街道", "开业年份"]
SW_HEADER = ["序号", "站点名称", "类型", "所属街道", "地址", "经度", "纬度"]
CH_HEADER = ["名称", "所属村居", "地址", "经度", "纬度"]
CC_HEADER = ["名称", "地址", "经度", "纬度", "建筑面积（㎡）", "志愿服务站点", "开业年份"]


def generate_sample(out_dir: str | Path | None = None) -> dict[str, float]:
    """Write the fictional sample district below ``out_dir`` and return its key figures.

    Parameters
    ----------
    out_dir
        Folder that receives ``boundaries/`` and ``sample/`` (default: ``lifecircle/data/``).

    Returns
    -------
    dict
        Figures of the generated district: ``area_km2``, ``osm_nodes``, ``osm_ways``, ``pop``,
        ``pop60``, ``beds``, ``nursing_beds`` and facility counts per register.
    """
    out = Path(out_dir) if out_dir is not None else DEFAULT_OUT
    (out / "sample").mkdir(parents=True, exist_ok=True)
    (out / "boundaries").mkdir(parents=True, exist_ok=True)
    rng = np.random.default_rng(SEED)
    district = _layout(rng)
    net = _build_network(rng, district)
    popu = _population(rng, district, net)
    units = _units(rng, district, popu)
    pop_total = float(popu.pop.sum(dtype=np.float64))
    pop60_total = float(popu.pop60.sum(dtype=np.float64))
    reg = _registers(rng, district, net, popu, units, pop60_total)
    sample = out / "sample"

    (sample / "network.osm.bz2").write_bytes(bz2.compress(_osm_xml(district, net), 9))
    _write_raster(sample / "population.tif", district, popu)

    feats = []
    for code, name, kind, _ in TOWNSHIPS:
        pop, _ = _sum_in(district.townships[name], popu)
        hh = round(pop / (2.7 if kind == "street" else 3.1))
        feats.append(
            _feature(
                district,
                district.townships[name],
                {
                    "code": code,
                    "name": name,
                    "households": hh,
                    "staff_social_assistance": SOCIAL_ASSISTANCE_STAFF[name],
                },
            )
        )
    _write_geojson(out / "boundaries" / "sample_townships.geojson", "sample_townships", feats)
    town_feats = feats

    feats = [
        _feature(district, shapely.normalize(district.river), {"kind": "river", "name": "玉带河"})
    ]
    for k, b in enumerate(sorted(district.bridges, key=lambda g: g.centroid.x)):
        feats.append(
            _feature(district, b, {"kind": "bridge", "name": ("西大桥", "东大桥", "稻香桥")[k]})
        )
    _write_geojson(sample / "river.geojson", "river", feats)

    feats = []
    for k, u in enumerate(units):
        props = {"code": u["code"], "name": u["name"], "households": u["households"]}
        # parent_code is left out on every third unit and on the miscoded one: those must be
        # linked by code prefix or containment
        if k % 3 != 2 and not u.get("wrong_prefix"):
            props["parent_code"] = u["township_code"]
        feats.append(_feature(district, u["geometry"], props))
    _write_geojson(sample / "villages.geojson", "villages", feats)

    feats = []
    for c in reg["col"]:
        feats.append(
            _feature(
                district,
                Point(c["xy"]),
                {"name": c["name"], "type": c["type"], "township": c["township"]},
            )
        )
    _write_geojson(sample / "columbaria.geojson", "columbaria", feats)

    _write_xlsx(
        sample / "elder_care_centres.xlsx",
        "养老服务设施",
        "示范区养老服务设施名录（2025年）",
        EC_HEADER,
        reg["ec_rows"],
    )
    _write_csv(sample / "meal_points.csv", MP_HEADER, reg["mp_rows"], encoding="gbk")
    _write_csv(sample / "social_work_stations.csv", SW_HEADER, reg["sw_rows"], encoding="utf-8-sig")
    _write_csv(sample / "children_homes.csv", CH_HEADER, reg["ch_rows"], encoding="utf-8")
    _write_csv(sample / "community_centres.csv", CC_HEADER, reg["cc_rows"], encoding="utf-8")

    faulty = {(f["file"], f["row"]) for f in reg["faults"]}
    valid_ec = [
        r for i, r in enumerate(reg["ec_rows"]) if ("elder_care_centres.xlsx", i + 3) not in faulty
    ]
    beds = sum(int(r[6] or 0) for r in valid_ec)
    nursing = sum(int(r[7] or 0) for r in valid_ec)
    area_km2 = district.boundary.area / 1e6
    figures = {
        "area_km2": round(area_km2, 2),
        "osm_nodes": len(net.x),
        "osm_ways": len(net.ways),
        "pop": round(pop_total, 1),
        "pop60": round(pop60_total, 1),
        "urban_pop": round(
            sum(_sum_in(district.townships[t[1]], popu)[0] for t in TOWNSHIPS if t[2] == "street"),
            1,
        ),
        "beds": beds,
        "nursing_beds": nursing,
        "beds_per_1000_seniors": round(1000 * beds / pop60_total, 2),
        "nursing_share": round(nursing / beds, 3),
        "elder_care_rows": len(reg["ec_rows"]),
        "meal_point_rows": len(reg["mp_rows"]),
        "columbaria": len(reg["col"]),
        "social_work_rows": len(reg["sw_rows"]),
        "children_home_rows": len(reg["ch_rows"]),
        "community_centre_rows": len(reg["cc_rows"]),
        "units": len(units),
    }
    figures["households"] = sum(f["properties"]["households"] for f in town_feats)
    figures["outcomes"] = _outcomes(reg, units, faulty, figures)
    (sample / "FAULTS.md").write_text(_faults_md(reg["faults"]), encoding="utf-8")
    (sample / "README.md").write_text(_readme(figures), encoding="utf-8")
    logger.info("sample district written to %s: %s", out, figures)
    return figures


def _outcomes(reg: dict, units: list[dict], faulty: set, fig: dict) -> list[str]:
    """What the sample's registers give for the plan targets (so their status is by design)."""

    def valid(key: str, file: str, first_row: int) -> list:
        return [r for i, r in enumerate(reg[key], start=first_row) if (file, i) not in faulty]

    ec = valid("ec_rows", "elder_care_centres.xlsx", 3)
    mp = valid("mp_rows", "meal_points.csv", 2)
    sw = valid("sw_rows", "social_work_stations.csv", 2)
    ch = valid("ch_rows", "children_homes.csv", 2)
    cc = valid("cc_rows", "community_centres.csv", 2)
    streets = [t[1] for t in TOWNSHIPS if t[2] == "street"]
    towns = [t[1] for t in TOWNSHIPS if t[2] == "town"]
    comp = sorted({r[8] for r in ec if r[2] == "综合性养老服务中心"})
    regional = sum(r[2] == "区域性养老服务中心" for r in ec)
    years = [int(r[6]) for r in mp]
    stations = sorted({r[3] for r in sw if r[2] == "社工站"})
    col_towns = sorted({c["township"] for c in reg["col"]})
    villages = [u for u in units if u["unit_kind"] == "村"]
    col_villages = {c["village"] for c in reg["col"] if c["village"]}
    homes = {r[1] for r in ch}
    yes = sum(r[5] == "是" for r in cc)
    area = sum(float(r[4]) for r in cc if r[2])
    return [
        f"综合性养老服务中心 in {len(comp)} of {len(streets)} 街道 ({'、'.join(comp)})",
        f"区域性养老服务中心: {regional} in the towns",
        f"beds per 1,000 seniors {fig['beds_per_1000_seniors']}; nursing share "
        f"{fig['nursing_share']:.0%}",
        f"meal points opened in 2024: {years.count(2024)}, in 2025: {years.count(2025)}",
        f"社工站 in {len(stations)} of 8 townships (missing: "
        f"{'、'.join(t for t in streets + towns if t not in stations)}; two without coordinates)",
        f"columbaria in {len(col_towns)} of {len(towns)} 镇 and in {len(col_villages)} of "
        f"{len(villages)} 村 of the unit layer",
        f"儿童之家 in {sum(u['name'] in homes for u in units)} of {len(units)} units",
        f"volunteer stations in {yes} of {len(cc)} community centres ({yes / len(cc):.0%})",
        f"community-centre floor area (located rows) {area:.0f} m² for {fig['households']} "
        f"households: {100 * area / fig['households']:.1f} m² per 100 households",
    ]


def _faults_md(faults: list[dict]) -> str:
    lines = [
        "# Deliberately faulty register rows of the sample district",
        "",
        "Generated by `python -m tools.sample`; do not edit by hand.",
        "`row` is the row as the planner sees it: the Excel row number (row 1 is the title,",
        "row 2 the header) or the CSV line number counting the header as line 1.",
        "Every row below must be rejected (reported in the rejected-rows frame), not used.",
        "",
        "| file | row | name | fault |",
        "|---|---|---|---|",
    ]
    for f in sorted(faults, key=lambda f: (f["file"], f["row"])):
        lines.append(f"| {f['file']} | {f['row']} | {f['name']} | {f['fault']} |")
    lines += [
        "",
        "## Rows that look incomplete but are valid",
        "",
        "- `social_work_stations.csv`: 文昌街道社会工作服务站 and 青山镇社会工作服务站 have empty",
        "  经度/纬度 but a valid 所属街道; they cannot be mapped but still count for presence per",
        "  township (by township name).",
        "- `villages.geojson`: 新垛村 lies inside 稻香镇 (329901101) but its code "
        "329901102209 carries",
        "  the prefix of 青山镇: a code/containment conflict to report.",
        "- `villages.geojson`: every third unit has no `parent_code`; link those by code prefix",
        "  (or containment).",
        "",
    ]
    return "\n".join(lines)


def _readme(fig: dict) -> str:
    files = [
        (
            "../boundaries/sample_townships.geojson",
            "8 townships: 4 街道 (329901001–004), 4 镇 (329901100–103); "
            "`code`, `name`, `households`, "
            "`staff_social_assistance` (社会救助协管员)",
            "UTF-8",
            "WGS-84",
        ),
        (
            "villages.geojson",
            f"{fig['units']} 村/社区 units of 白鹭镇, 稻香镇, 青石街道; "
            "`code` (12 digits), `name`, "
            "`households`, `parent_code` (left out on purpose on some)",
            "UTF-8",
            "WGS-84",
        ),
        (
            "river.geojson",
            "the river 玉带河 (`kind` = river, ~80 m wide polygon) and its 3 bridges "
            "(`kind` = bridge, lines)",
            "UTF-8",
            "WGS-84",
        ),
        (
            "network.osm.bz2",
            f"walking network, OSM XML 0.6 in bz2; {fig['osm_nodes']} nodes, "
            f"{fig['osm_ways']} ways; only bridges cross the river",
            "UTF-8",
            "WGS-84",
        ),
        (
            "population.tif",
            "100 m cells, band 1 `pop` (people), band 2 `pop60` (aged 60+), float32, deflate",
            "GeoTIFF",
            "EPSG:32650",
        ),
        (
            "elder_care_centres.xlsx",
            f"sheet 养老服务设施: title on row 1, header on row 2; {fig['elder_care_rows']} rows",
            "XLSX",
            "GCJ-02",
        ),
        (
            "meal_points.csv",
            f"助餐点/长者食堂/社区食堂/中央厨房; {fig['meal_point_rows']} rows",
            "**GBK**",
            "**BD-09**",
        ),
        (
            "columbaria.geojson",
            f"骨灰堂/公益性公墓/立体式骨灰安放设施; {fig['columbaria']} points",
            "UTF-8",
            "WGS-84",
        ),
        (
            "social_work_stations.csv",
            f"社工站/社工室; {fig['social_work_rows']} rows",
            "UTF-8 with BOM",
            "GCJ-02",
        ),
        ("children_homes.csv", f"儿童之家; {fig['children_home_rows']} rows", "UTF-8", "WGS-84"),
        (
            "community_centres.csv",
            "社区综合服务设施 with floor area and 志愿服务站点; "
            f"{fig['community_centre_rows']} rows",
            "UTF-8",
            "WGS-84",
        ),
        ("FAULTS.md", "the deliberately faulty register rows (each must be rejected)", "UTF-8", ""),
        ("plan.toml", "the plan file run by `lifecircle demo` (maintained by hand)", "UTF-8", ""),
    ]
    table = "\n".join(f"| `{f}` | {what} | {enc} | {crs} |" for f, what, enc, crs in files)
    outcomes = "\n".join(f"- {line}" for line in fig["outcomes"])
    return f"""# The sample district 示范区 (fictional)

Everything in this folder is **invented**: the district 示范区 ("Shifan District"), its county
code 329901 (not a real NBS code), its townships, villages, river, roads, people and facilities.
The road network was drawn by a seeded random generator and is derived from nothing real; the
location (around 119.93 E, 32.46 N) only gives the coordinate conversions realistic offsets.

Regenerate with `python -m tools.sample` (seed 20251123); the output is byte-for-byte
reproducible and `tests/test_sample.py` checks that it matches these committed files.

| file | content | encoding | coordinates |
|---|---|---|---|
{table}

Layout: the four 街道 form the urban core (about 4 km × 4 km of dense, irregular blocks with
compound roads, alleys, footpaths and dead ends); the river 玉带河 runs west–east through it
and is the boundary between 青石街道/柳岸街道 (north) and 文昌街道/东湖街道 (south). The towns
surround the core: 白鹭镇 (north), 稻香镇 (east), 青山镇 (south), 桃源镇 (west), each with a
town-centre grid, six villages and sparse country roads. Only three bridges cross the river:
西大桥 (书院大道) and 东大桥 (金台大道) in the core, 稻香桥 (县道X301) in 稻香镇. 桃源镇 has no
bridge of its own, and the county
roads 源鹭公路 and 稻山公路 stop on both banks, so straight-line or hull-based service areas leak
across the water where the network does not. Two pieces of the network are deliberately cut off:
a footpath loop in a park of 柳岸街道 and a track loop in a nursery of 青山镇.

Designed outcomes (valid rows only), so that the plan's targets give a mix of met and unmet:

{outcomes}

Figures: area {fig["area_km2"]} km², population {fig["pop"]:.0f} (urban {fig["urban_pop"]:.0f}),
aged 60+ {fig["pop60"]:.0f}; elder-care beds {fig["beds"]} in valid rows
({fig["beds_per_1000_seniors"]} per 1,000 seniors), nursing beds {fig["nursing_beds"]}
(share {fig["nursing_share"]:.1%}).
"""


def main(argv: list[str] | None = None) -> None:
    """Command-line entry: ``python -m tools.sample [--out DIR]``."""
    parser = argparse.ArgumentParser(description="Write the fictional sample district 示范区.")
    parser.add_argument(
        "--out",
        type=Path,
        default=DEFAULT_OUT,
        help="folder receiving boundaries/ and sample/ (default: lifecircle/data/)",
    )
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(message)s")
    generate_sample(args.out)


if __name__ == "__main__":
    main()
