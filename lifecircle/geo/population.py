"""Population as demand points: raster cells, zone tables spread over the network, or a stand-in.

:func:`demand_points` returns one point per populated cell (``cell_id, pop, pop60, geometry`` in
WGS-84), from the first of these that the plan gives:

1. a population raster (GeoTIFF, any CRS): cells are reprojected/resampled to a metric grid of
   ``cell_size_m`` with a *sum* resampling, so head counts are preserved, then cells outside the
   zones are dropped (and the people in them reported);
2. a table of head counts per zone (CSV/XLSX, by code or name): each zone's count is shared
   equally among the network nodes inside it (nodes follow where streets, and so homes, are
   dense; road length would over-weight long rural roads), or among the cells of a regular grid
   when no network is given;
3. the zones' own ``population``/``population_60`` columns, spread the same way;
4. nothing: one person per network node (a uniform stand-in so that coverage shares are still
   defined; the warning says they are estimates).

Every fallback adds a warning (Chinese, for the run report) to the list returned.
"""

from __future__ import annotations

import io
import logging
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import geopandas as gpd
import numpy as np
import pandas as pd
import pyproj
import shapely
from affine import Affine
from numpy.typing import ArrayLike, NDArray

from lifecircle.errors import InputError
from lifecircle.geo.crs import metric_crs_for
from lifecircle.text import detect_encoding, parse_numbers, township_code

logger = logging.getLogger(__name__)

# Share of people aged 60+ in China's 2020 census (第七次全国人口普查: 18.70 %), used when neither a
# seniors band/field nor default_senior_share is given.
NATIONAL_SENIOR_SHARE = 0.187
# A projected raster whose cells are within this fraction of cell_size_m is used as it is.
_CELL_SIZE_TOLERANCE = 0.1
_EDGE_PAD = 2  # empty source cells added around a raster window before resampling

Floats = NDArray[np.float64]


@dataclass(frozen=True)
class PopulationSpec:
    """Where population comes from (``[inputs.population]`` in the plan file).

    Attributes
    ----------
    raster
        GeoTIFF of head counts per cell (e.g. WorldPop), any CRS.
    total_band, seniors_band
        1-based band numbers of all people and of people aged 60+ (``None``: no seniors band).
    table
        CSV or XLSX with head counts per zone (township).
    table_code_field, table_name_field
        Columns holding the zone code (9-digit NBS township code) or name; code wins when both.
    total_field, seniors_field
        Columns holding all people and people aged 60+.
    default_senior_share
        Share of people aged 60+ (0–1) when no seniors band/field exists; without it the national
        2020 census share (18.7 %) is used, with a warning.
    """

    raster: Path | str | None = None
    total_band: int = 1
    seniors_band: int | None = None
    table: Path | str | None = None
    table_code_field: str | None = None
    table_name_field: str | None = None
    total_field: str | None = None
    seniors_field: str | None = None
    default_senior_share: float | None = None


def _senior_share(spec: PopulationSpec | None, warnings: list[str], what: str) -> float:
    share = spec.default_senior_share if spec is not None else None
    if share is not None:
        share = float(share)
        if not 0.0 <= share <= 1.0:
            raise InputError(
                f"[inputs.population].default_senior_share is {share}: give a share between 0 and "
                "1 (e.g. 0.22 for 22 %)"
            )
        warnings.append(
            f"{what}没有 60 岁及以上人口数据：按 default_senior_share = {share:.1%} 估算"
        )
        return share
    warnings.append(
        f"{what}没有 60 岁及以上人口数据：按全国第七次人口普查 60 岁及以上占比 "
        f"{NATIONAL_SENIOR_SHARE:.1%} 估算（可在 [inputs.population] 设 default_senior_share）"
    )
    return NATIONAL_SENIOR_SHARE


def _frame(
    lon: ArrayLike,
    lat: ArrayLike,
    pop: ArrayLike,
    pop60: ArrayLike,
    cell_id: ArrayLike | None = None,
) -> gpd.GeoDataFrame:
    lon = np.asarray(lon, dtype=float)
    ids = np.arange(len(lon), dtype=np.int64) if cell_id is None else np.asarray(cell_id, np.int64)
    return gpd.GeoDataFrame(
        {
            "cell_id": ids,
            "pop": np.asarray(pop, dtype=float),
            "pop60": np.asarray(pop60, dtype=float),
        },
        geometry=gpd.points_from_xy(lon, np.asarray(lat, dtype=float)),
        crs="EPSG:4326",
    )


def _zones_union(zones: gpd.GeoDataFrame) -> shapely.Geometry:
    if len(zones) == 0:
        raise InputError("no township polygons were given to place the population in")
    union = zones.to_crs("EPSG:4326").geometry.union_all()
    shapely.prepare(union)
    return union


def _metric_crs(zones: gpd.GeoDataFrame) -> pyproj.CRS:
    west, south, east, north = zones.to_crs("EPSG:4326").total_bounds
    return metric_crs_for([(west + east) / 2], [(south + north) / 2])


# ---------------------------------------------------------------------------------------------
# raster


def _read_band(src: Any, band: int, window: Any, path: Path) -> Floats:
    if not 1 <= band <= src.count:
        raise InputError(
            f"{path.name}: band {band} does not exist (the raster has {src.count} band(s)); "
            "fix total_band / seniors_band in [inputs.population]"
        )
    data = src.read(band, window=window, masked=True).astype(np.float64)
    values = data.filled(0.0)
    # nodata, NaN and negative fill values (e.g. -3.4e38) all mean "nobody here"
    values[~np.isfinite(values) | (values < 0)] = 0.0
    return values


# Affine arithmetic written out: affine's ``*`` operator (used inside rasterio's helpers) is
# deprecated and warns.
def _shifted(transform: Affine, col_off: float, row_off: float) -> Affine:
    """The transform of a window starting at (``col_off``, ``row_off``)."""
    a, b, c, d, e, f = transform[:6]
    return Affine(a, b, c + a * col_off + b * row_off, d, e, f + d * col_off + e * row_off)


def _cell_centres(
    transform: Affine, rows: NDArray[np.int64], cols: NDArray[np.int64]
) -> tuple[Floats, Floats]:
    a, b, c, d, e, f = transform[:6]
    col = cols.astype(np.float64) + 0.5
    row = rows.astype(np.float64) + 0.5
    return a * col + b * row + c, d * col + e * row + f


def _cell_size_ok(src: Any, cell_size_m: float, lon: float, lat: float, metric: pyproj.CRS) -> bool:
    """Whether the raster's cells are already ~``cell_size_m`` on the ground at (lon, lat).

    Measured in the metric CRS, so web-mercator "metres" (1/cos(latitude) too long) count as
    what they are on the ground.
    """
    if src.crs is None or src.crs.is_geographic:
        return False
    to_src = pyproj.Transformer.from_crs("EPSG:4326", src.crs, always_xy=True)
    to_metric = pyproj.Transformer.from_crs(src.crs, metric, always_xy=True)
    x, y = to_src.transform(lon, lat)
    res_x, res_y = (abs(float(r)) for r in src.res)
    mx, my = to_metric.transform([x, x + res_x, x], [y, y, y + res_y])
    ground_m = np.array(
        [np.hypot(mx[1] - mx[0], my[1] - my[0]), np.hypot(mx[2] - mx[0], my[2] - my[0])]
    )
    return bool(np.all(np.abs(ground_m - cell_size_m) <= _CELL_SIZE_TOLERANCE * cell_size_m))


def _raster_cells(
    spec: PopulationSpec, zones: gpd.GeoDataFrame, cell_size_m: float, warnings: list[str]
) -> gpd.GeoDataFrame:
    import rasterio
    from rasterio.warp import Resampling, reproject, transform_bounds
    from rasterio.windows import Window, from_bounds

    path = Path(spec.raster)
    if not path.exists():
        raise InputError(
            f"population raster {path} does not exist — check [inputs.population]"
            ".raster (relative paths are read from the plan file's folder)"
        )
    union = _zones_union(zones)
    metric = _metric_crs(zones)
    try:
        src = rasterio.open(path)
    except rasterio.errors.RasterioIOError as exc:
        raise InputError(f"{path}: cannot read as a raster ({exc}); give a GeoTIFF") from exc
    with src:
        if src.crs is None:
            raise InputError(
                f"{path.name}: the raster has no coordinate system; set it (e.g. gdal_edit.py "
                "-a_srs EPSG:4326) or export it again with its CRS"
            )
        full = Window(0, 0, src.width, src.height)
        centre = union.centroid
        as_is = _cell_size_ok(src, cell_size_m, centre.x, centre.y, metric)
        if as_is:
            # zone bounds (plus a cell) in the raster's CRS, read as they are
            bounds = transform_bounds("EPSG:4326", src.crs, *union.bounds, densify_pts=21)
            pad = abs(src.res[0])
            bounds = (bounds[0] - pad, bounds[1] - pad, bounds[2] + pad, bounds[3] + pad)
        else:
            # the metric grid: zone bounds snapped outward to whole cells
            mb = transform_bounds("EPSG:4326", metric, *union.bounds, densify_pts=21)
            west = np.floor(mb[0] / cell_size_m) * cell_size_m - cell_size_m
            south = np.floor(mb[1] / cell_size_m) * cell_size_m - cell_size_m
            east = np.ceil(mb[2] / cell_size_m) * cell_size_m + cell_size_m
            north = np.ceil(mb[3] / cell_size_m) * cell_size_m + cell_size_m
            bounds = transform_bounds(metric, src.crs, west, south, east, north, densify_pts=21)
            pad = 2 * max(abs(src.res[0]), abs(src.res[1]))
            bounds = (bounds[0] - pad, bounds[1] - pad, bounds[2] + pad, bounds[3] + pad)
        try:
            window = from_bounds(*bounds, transform=src.transform)
            window = window.round_offsets(op="floor").round_lengths(op="ceil")
            window = window.intersection(full)
        except rasterio.errors.WindowError:
            window = None
        if window is None or window.width < 1 or window.height < 1:
            raster_bounds = transform_bounds(src.crs, "EPSG:4326", *src.bounds)
            raise InputError(
                f"{path.name}: the population raster does not overlap the townships (raster "
                f"{np.round(raster_bounds, 4).tolist()}, townships "
                f"{np.round(union.bounds, 4).tolist()} in degrees) — check the raster's CRS"
            )
        bands = [_read_band(src, spec.total_band, window, path)]
        if spec.seniors_band is not None:
            bands.append(_read_band(src, spec.seniors_band, window, path))
        window_transform = _shifted(src.transform, window.col_off, window.row_off)
        src_crs = src.crs
        src_res = src.res

    if as_is:
        grid_crs, transform = src_crs, window_transform
        grids = bands
    else:
        width = int(np.rint((east - west) / cell_size_m))
        height = int(np.rint((north - south) / cell_size_m))
        transform = Affine(cell_size_m, 0.0, west, 0.0, -cell_size_m, north)
        grid_crs = metric
        grids = []
        # GDAL's sum resampling loses people from cells at the source array's own edge when
        # it upsamples (13 % of a one-row 1 km raster): a border of empty cells avoids that.
        padded_transform = _shifted(window_transform, -_EDGE_PAD, -_EDGE_PAD)
        for band in bands:
            dst = np.zeros((height, width), dtype=np.float64)
            reproject(
                np.pad(band, _EDGE_PAD),
                dst,
                src_transform=padded_transform,
                src_crs=src_crs,
                dst_transform=transform,
                dst_crs=metric,
                resampling=Resampling.sum,
                src_nodata=None,
                dst_nodata=0.0,
            )
            grids.append(dst)
        logger.info(
            "%s: resampled cells of %s (%s) to %g m cells in %s (sum)",
            path.name,
            tuple(round(r, 6) for r in src_res),
            src_crs.to_string(),
            cell_size_m,
            metric.to_string(),
        )

    pop_grid = grids[0]
    rows, cols = np.nonzero(pop_grid > 0)
    xs, ys = _cell_centres(transform, rows, cols)
    to_wgs = pyproj.Transformer.from_crs(grid_crs, "EPSG:4326", always_xy=True)
    lon, lat = to_wgs.transform(xs, ys)
    lon, lat = np.asarray(lon, dtype=float), np.asarray(lat, dtype=float)
    pop = pop_grid[rows, cols]
    inside = shapely.contains_xy(union, lon, lat)
    outside_pop = float(pop[~inside].sum())
    if len(grids) > 1:
        pop60 = grids[1][rows, cols]
    else:
        pop60 = pop * _senior_share(spec, warnings, f"人口栅格 {path.name} ")
    cell_id = rows.astype(np.int64) * pop_grid.shape[1] + cols
    frame = _frame(lon[inside], lat[inside], pop[inside], pop60[inside], cell_id[inside])
    total = float(frame["pop"].sum())
    logger.info(
        "%s: %d populated cells inside the townships, %.0f people (%.0f aged 60+); "
        "%.0f people in cells outside the townships dropped",
        path.name,
        len(frame),
        total,
        float(frame["pop60"].sum()),
        outside_pop,
    )
    if total <= 0:
        raise InputError(
            f"{path.name}: no populated cell lies inside the townships — check that the raster "
            f"covers the study area and that band {spec.total_band} holds head counts"
        )
    if outside_pop > 0:
        warnings.append(
            f"人口栅格 {path.name}：乡镇边界内 {total:,.0f} 人，"
            f"边界外的 {outside_pop:,.0f} 人未计入"
        )
    zone_of = _nodes_by_zone(zones, frame.geometry.x.to_numpy(), frame.geometry.y.to_numpy())
    empty = np.flatnonzero(np.bincount(zone_of[zone_of >= 0], minlength=len(zones)) == 0)
    for i in empty:
        warnings.append(
            f"{zones['name'].iloc[i]}（{zones['code'].iloc[i]}）内人口栅格 {path.name} 没有人口："
            "该乡镇的覆盖率无法计算——请检查栅格是否覆盖该乡镇"
        )
    return frame


# ---------------------------------------------------------------------------------------------
# tables


def read_table(path: Path | str) -> pd.DataFrame:
    """Read a CSV (UTF-8 with or without BOM, GBK/GB18030, ...) or an Excel sheet, all as text."""
    path = Path(path)
    if not path.exists():
        raise InputError(
            f"population table {path} does not exist — check [inputs.population]"
            ".table (relative paths are read from the plan file's folder)"
        )
    suffix = path.suffix.lower()
    if suffix in (".xlsx", ".xlsm", ".xls"):
        return pd.read_excel(path, dtype=str, engine="openpyxl")
    if suffix not in (".csv", ".txt", ".tsv"):
        raise InputError(f"{path.name}: population tables must be .csv or .xlsx, not {suffix!r}")
    data = path.read_bytes()
    try:
        text = data.decode(detect_encoding(data))
    except InputError as exc:
        raise InputError(f"{path.name}: {exc}") from None
    return pd.read_csv(io.StringIO(text), dtype=str, sep=None, engine="python")


def _table_counts(
    spec: PopulationSpec, zones: gpd.GeoDataFrame, warnings: list[str]
) -> tuple[Floats, Floats | None]:
    """Head counts per zone (aligned to ``zones``) from the table; nan where the table has none."""
    path = Path(spec.table)
    table = read_table(path)
    columns = list(table.columns)
    key_field = spec.table_code_field or spec.table_name_field
    for label, field in (
        ("table_code_field or table_name_field", key_field),
        ("total_field", spec.total_field),
    ):
        if field is None:
            raise InputError(
                f"[inputs.population] has a table but no {label}: name the column "
                f"(the table's columns: {', '.join(map(str, columns))})"
            )
    for field in (
        spec.table_code_field,
        spec.table_name_field,
        spec.total_field,
        spec.seniors_field,
    ):
        if field is not None and field not in table.columns:
            raise InputError(
                f"{path.name}: no column {field!r} (columns: "
                f"{', '.join(map(str, columns))}) — fix [inputs.population]"
            )
    total = parse_numbers(table[spec.total_field])
    seniors = parse_numbers(table[spec.seniors_field]) if spec.seniors_field else None
    bad = np.isnan(total) | (total < 0)
    for i in np.flatnonzero(bad):
        warnings.append(
            f"{path.name} 第 {i + 2} 行：{spec.total_field} 值 "
            f"{table[spec.total_field].iloc[i]!r} 不是人数，该行已跳过"
        )
    if spec.table_code_field:
        keys = table[spec.table_code_field].map(township_code)
        zone_keys = zones["code"].map(township_code)
        by = "code"
    else:
        keys = table[spec.table_name_field].astype("string").str.strip().fillna("")
        zone_keys = zones["name"].astype("string").str.strip().fillna("")
        by = "name"
    ok = ~bad
    sums = pd.DataFrame(
        {
            "key": keys[ok].to_numpy(),
            "pop": total[ok],
            "pop60": seniors[ok] if seniors is not None else np.nan,
        }
    )
    duplicated = sums["key"][sums["key"].duplicated()].unique()
    if len(duplicated):
        warnings.append(f"{path.name}：{', '.join(map(str, duplicated))} 出现多行，人数已相加")
    grouped = sums.groupby("key", sort=False).sum(min_count=1)
    unknown = [k for k in grouped.index if k not in set(zone_keys)]
    if unknown:
        warnings.append(
            f"{path.name}：{len(unknown)} 行的{'代码' if by == 'code' else '名称'}"
            f"不属于任何乡镇，未计入：{', '.join(map(str, unknown[:10]))}"
            f"{'…' if len(unknown) > 10 else ''}"
        )
    pop = grouped["pop"].reindex(zone_keys.to_numpy()).to_numpy(dtype=float)
    missing = zones["name"][np.isnan(pop)].tolist()
    if missing:
        warnings.append(f"{path.name} 中没有这些乡镇的人口：{', '.join(map(str, missing))}")
    pop60 = (
        grouped["pop60"].reindex(zone_keys.to_numpy()).to_numpy(dtype=float)
        if seniors is not None
        else None
    )
    return pop, pop60


def _grid_in_zone(
    geom: shapely.Geometry, cell_size_m: float, metric: pyproj.CRS
) -> tuple[Floats, Floats]:
    """Centres of a regular metric grid inside one zone (its representative point if none)."""
    zone_m = gpd.GeoSeries([geom], crs="EPSG:4326").to_crs(metric).iloc[0]
    west, south, east, north = zone_m.bounds
    xs = np.arange(np.floor(west / cell_size_m), np.ceil(east / cell_size_m)) * cell_size_m
    ys = np.arange(np.floor(south / cell_size_m), np.ceil(north / cell_size_m)) * cell_size_m
    gx, gy = np.meshgrid(xs + cell_size_m / 2, ys + cell_size_m / 2)
    gx, gy = gx.ravel(), gy.ravel()
    inside = shapely.contains_xy(zone_m, gx, gy)
    if not inside.any():
        point = zone_m.representative_point()
        gx, gy, inside = np.array([point.x]), np.array([point.y]), np.array([True])
    to_wgs = pyproj.Transformer.from_crs(metric, "EPSG:4326", always_xy=True)
    lon, lat = to_wgs.transform(gx[inside], gy[inside])
    return np.asarray(lon, dtype=float), np.asarray(lat, dtype=float)


def _nodes_by_zone(zones: gpd.GeoDataFrame, lon: Floats, lat: Floats) -> NDArray[np.int64]:
    """The zone position of each node (-1 outside all; a node on a shared edge goes to one)."""
    zone_of = np.full(len(lon), -1, dtype=np.int64)
    if len(lon) == 0:
        return zone_of
    tree = shapely.STRtree(shapely.points(lon, lat))
    zone_pos, node_pos = tree.query(
        zones.to_crs("EPSG:4326").geometry.to_numpy(), predicate="intersects"
    )
    # reversed assignment so the first zone listed wins a shared boundary node
    zone_of[node_pos[::-1]] = zone_pos[::-1]
    return zone_of


def _spread(
    zones: gpd.GeoDataFrame,
    pop: Floats,
    pop60: Floats,
    *,
    node_lon: Floats | None,
    node_lat: Floats | None,
    cell_size_m: float,
    warnings: list[str],
    what: str,
) -> gpd.GeoDataFrame:
    """Share each zone's counts equally among its network nodes (or grid cells without nodes)."""
    pieces_lon, pieces_lat, pieces_pop, pieces_pop60 = [], [], [], []
    has = ~np.isnan(pop) & (pop > 0)
    if node_lon is not None and node_lat is not None:
        node_lon = np.asarray(node_lon, dtype=float)
        node_lat = np.asarray(node_lat, dtype=float)
        zone_of = _nodes_by_zone(zones, node_lon, node_lat)
        counts = np.bincount(zone_of[zone_of >= 0], minlength=len(zones))
        with_nodes = has & (counts > 0)
        sel = np.flatnonzero(np.isin(zone_of, np.flatnonzero(with_nodes)))
        share = 1.0 / counts[zone_of[sel]]
        pieces_lon.append(node_lon[sel])
        pieces_lat.append(node_lat[sel])
        pieces_pop.append(pop[zone_of[sel]] * share)
        pieces_pop60.append(pop60[zone_of[sel]] * share)
        gridded = np.flatnonzero(has & (counts == 0))
        for i in gridded:
            warnings.append(
                f"{zones['name'].iloc[i]}（{zones['code'].iloc[i]}）有{what}人口 {pop[i]:,.0f} "
                "但其中没有路网节点：人口按规则网格放置，可能无法步行到达"
            )
    else:
        gridded = np.flatnonzero(has)
    if len(gridded):
        metric = _metric_crs(zones)
        for i in gridded:
            lon, lat = _grid_in_zone(zones.geometry.iloc[i], cell_size_m, metric)
            pieces_lon.append(lon)
            pieces_lat.append(lat)
            pieces_pop.append(np.full(len(lon), pop[i] / len(lon)))
            pieces_pop60.append(np.full(len(lon), pop60[i] / len(lon)))
    if not pieces_lon:
        return _frame([], [], [], [])
    return _frame(
        np.concatenate(pieces_lon),
        np.concatenate(pieces_lat),
        np.concatenate(pieces_pop),
        np.concatenate(pieces_pop60),
    )


def _zone_column(zones: gpd.GeoDataFrame, name: str) -> Floats | None:
    if name not in zones.columns:
        return None
    values = pd.to_numeric(zones[name], errors="coerce").to_numpy(dtype=float, na_value=np.nan)
    return values if np.isfinite(values).any() else None


# ---------------------------------------------------------------------------------------------
# entry point


def demand_points(
    spec: PopulationSpec | None,
    zones: gpd.GeoDataFrame,
    *,
    node_lon: ArrayLike | None = None,
    node_lat: ArrayLike | None = None,
    cell_size_m: float = 100.0,
) -> tuple[gpd.GeoDataFrame, list[str]]:
    """Demand cells with head counts, inside the zones.

    Parameters
    ----------
    spec
        The population source, or ``None`` when the plan gives none.
    zones
        Township polygons, EPSG:4326, with ``code`` and ``name`` columns (and optionally
        ``population``, ``population_60``, used when ``spec`` gives nothing).
    node_lon, node_lat
        Walk network node coordinates (degrees), to spread table counts over.
    cell_size_m
        Side of the metric grid cells (rasters are resampled to it; tables without a network are
        spread over it).

    Returns
    -------
    demand : geopandas.GeoDataFrame
        ``cell_id`` (int), ``pop``, ``pop60`` (float, people), ``geometry`` (Point at the cell
        centre or network node), EPSG:4326; only cells with ``pop > 0`` inside the zones.
        ``demand.attrs["population_source"]`` is ``raster``, ``table``, ``zones`` or ``uniform``
        and ``demand.attrs["estimate"]`` is True for the uniform stand-in.
    warnings : list of str
        Fallbacks and dropped data, in Chinese, for the run report.

    Raises
    ------
    InputError
        Missing or unreadable files, absent bands or columns, a raster that misses the zones.
    """
    warnings: list[str] = []
    if cell_size_m <= 0:
        raise InputError(f"cell_size_m must be positive, got {cell_size_m}")
    if zones.crs is None:
        raise InputError("the township polygons have no CRS; they must be EPSG:4326")
    lon = None if node_lon is None else np.asarray(node_lon, dtype=float)
    lat = None if node_lat is None else np.asarray(node_lat, dtype=float)

    if spec is not None and spec.raster is not None:
        demand = _raster_cells(spec, zones, cell_size_m, warnings)
        source, estimate = "raster", False
    elif spec is not None and spec.table is not None:
        pop, pop60 = _table_counts(spec, zones, warnings)
        if pop60 is None:
            pop60 = pop * _senior_share(spec, warnings, f"人口表 {Path(spec.table).name} ")
        else:
            missing60 = np.isnan(pop60) & ~np.isnan(pop)
            if missing60.any():
                pop60 = np.where(
                    missing60,
                    pop * _senior_share(spec, warnings, f"人口表中 {int(missing60.sum())} 个乡镇"),
                    pop60,
                )
        demand = _spread(
            zones,
            pop,
            pop60,
            node_lon=lon,
            node_lat=lat,
            cell_size_m=cell_size_m,
            warnings=warnings,
            what="",
        )
        source, estimate = "table", False
    elif (zone_pop := _zone_column(zones, "population")) is not None:
        warnings.append(
            "未提供人口数据：使用乡镇边界文件中的 population（常住人口）字段，"
            "在每个乡镇的路网节点上平均分布"
        )
        zone_pop60 = _zone_column(zones, "population_60")
        if zone_pop60 is None:
            zone_pop60 = zone_pop * _senior_share(spec, warnings, "乡镇边界文件")
        elif (missing60 := np.isnan(zone_pop60) & ~np.isnan(zone_pop)).any():
            zone_pop60 = np.where(
                missing60,
                zone_pop
                * _senior_share(spec, warnings, f"乡镇边界文件中 {int(missing60.sum())} 个乡镇"),
                zone_pop60,
            )
        demand = _spread(
            zones,
            zone_pop,
            zone_pop60,
            node_lon=lon,
            node_lat=lat,
            cell_size_m=cell_size_m,
            warnings=warnings,
            what="",
        )
        source, estimate = "zones", False
    else:
        share = (
            spec.default_senior_share
            if spec is not None and spec.default_senior_share is not None
            else NATIONAL_SENIOR_SHARE
        )
        if lon is not None and lat is not None and len(lon):
            zone_of = _nodes_by_zone(zones, lon, lat)
            keep = zone_of >= 0
            demand = _frame(
                lon[keep], lat[keep], np.ones(int(keep.sum())), np.full(int(keep.sum()), share)
            )
            basis = "路网节点（每个节点计 1 人）"
        else:
            metric = _metric_crs(zones)
            parts = [_grid_in_zone(g, cell_size_m, metric) for g in zones.geometry]
            glon = np.concatenate([p[0] for p in parts])
            glat = np.concatenate([p[1] for p in parts])
            demand = _frame(glon, glat, np.ones(len(glon)), np.full(len(glon), share))
            basis = f"{cell_size_m:g} 米网格（每格计 1 人）"
        warnings.append(
            f"未提供人口数据：以均匀分布代替，人口按{basis}计，60 岁及以上按 {share:.1%}；"
            "覆盖率为估算值，仅反映路网覆盖范围"
        )
        source, estimate = "uniform", True

    demand = demand[demand["pop"] > 0].reset_index(drop=True)
    demand.attrs["population_source"] = source
    demand.attrs["estimate"] = estimate
    logger.info(
        "demand: %d cells from %s, %.0f people, %.0f aged 60+",
        len(demand),
        source,
        float(demand["pop"].sum()),
        float(demand["pop60"].sum()),
    )
    return demand, warnings
