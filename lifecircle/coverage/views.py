"""What a map shows for each target, computed here so the maps only draw.

A target is judged per township kind at one walk (a service circle's ``threshold_min`` may be 15
minutes for streets and 20 for towns; other targets take the kind's longest walk threshold). For
each target the maps show its category's service area at that walk, cut to the townships of that
kind, and the seniors left outside it. The three functions give those figures:

- :func:`target_walks`: target -> category and walk (minutes) per township kind, read from the
  gap rows (the walk each service-circle row was judged at) and the walk model;
- :func:`kind_service_areas`: each category's dissolved service area at a kind's walk, inside
  the townships of that kind;
- :func:`uncovered_cells`: the demand cells of a kind with people beyond that walk.
"""

from __future__ import annotations

import logging
from collections.abc import Callable

import geopandas as gpd
import numpy as np
import pandas as pd
import pyproj
import shapely

from lifecircle.arrays import centres
from lifecircle.coverage.metrics import CoverageResult, dissolved_service_area
from lifecircle.coverage.walk import WalkModel
from lifecircle.geo.network import WalkNetwork
from lifecircle.parallel import default_workers, fork_map

logger = logging.getLogger(__name__)

WALK_COLUMNS = ["target_id", "category", "kind", "threshold_min"]
AREA_COLUMNS = ["category", "kind", "threshold_min", "geometry"]
# A county's overview pools its uncovered cells into blocks (see :func:`overview_cells`).
OVERVIEW_MAX_CELLS = 50_000
OVERVIEW_BLOCK_M = 500.0
UNCOVERED_COLUMNS = [
    "category",
    "kind",
    "threshold_min",
    "cell_id",
    "township_code",
    "pop",
    "pop60",
    "time_min",
    "geometry",
]


def target_walks(gap_rows: pd.DataFrame, walk: WalkModel, kinds: list[str]) -> pd.DataFrame:
    """The category and the walk (minutes) of every township-level target, per township kind.

    Parameters
    ----------
    gap_rows
        ``GapReport.rows`` (``target_id, level, kind, category, threshold_min``, ...).
    walk
        The run's walk model: a target without its own walk takes the kind's longest threshold.
    kinds
        The township kinds of the run (``street``, ``town``).

    Returns
    -------
    pandas.DataFrame
        ``target_id, category, kind, threshold_min``: one row per target with a category and
        each kind it has township rows of, in the gap rows' target order.
    """
    if gap_rows is None or len(gap_rows) == 0 or "category" not in gap_rows:
        return pd.DataFrame(columns=WALK_COLUMNS)
    rows = gap_rows[gap_rows["level"].astype(str) == "township"]
    judged = rows.get("threshold_min", pd.Series(np.nan, index=rows.index))
    records = []
    for target_id in pd.unique(rows["target_id"]):
        own = rows[rows["target_id"] == target_id]
        category = str(own["category"].iloc[0] or "")
        if not category:
            continue
        for kind in kinds:
            of_kind = own["kind"].astype(str) == kind
            if not of_kind.any():  # a target for streets only draws nothing in towns
                continue
            used = pd.to_numeric(judged[own.index][of_kind], errors="coerce").dropna()
            minutes = (
                float(used.iloc[0]) if len(used) else float(max(walk.for_kind(kind).thresholds_min))
            )
            records.append((str(target_id), category, kind, minutes))
    return pd.DataFrame(records, columns=WALK_COLUMNS)


def _walk_keys(walks: pd.DataFrame) -> list[tuple[str, str, float]]:
    keys = walks[["category", "kind", "threshold_min"]].drop_duplicates()
    return [(str(c), str(k), float(t)) for c, k, t in keys.itertuples(index=False)]


def kind_service_areas(
    coverage: CoverageResult,
    network: WalkNetwork,
    townships: gpd.GeoDataFrame,
    walks: pd.DataFrame,
    *,
    workers: int | None = None,
    meanwhile: Callable[[], None] | None = None,
    progress: Callable[[int, int], None] | None = None,
) -> gpd.GeoDataFrame:
    """Each category's service area at each kind's walk, inside the townships of that kind.

    Built from the coverage's searches (:func:`dissolved_service_area` with ``within`` the
    kind's townships), so a county's area is built only where it is drawn: the 15-minute area
    of the 街道, the 20-minute area of the towns.

    Parameters
    ----------
    coverage
        :func:`compute_coverage`'s result (its ``searches``).
    network
        The walking network of the coverage.
    townships
        Township polygons with ``kind`` (any CRS).
    walks
        :func:`target_walks`.
    workers
        Processes building the areas, one area each (default: :func:`default_workers`).
    meanwhile
        Run in this process while the workers build the areas (see :func:`fork_map`).
    progress
        ``progress(done, total)`` as each area is built (from a helper thread while
        ``meanwhile`` runs).

    Returns
    -------
    geopandas.GeoDataFrame
        EPSG:4326 ``category, kind, threshold_min, geometry``; a walk with no area (a category
        without facilities on the network, nothing reached) has no row.
    """
    towns = townships.to_crs(4326)
    keys = _walk_keys(walks)
    within = {
        kind: shapely.union_all(towns.geometry[towns["kind"].astype(str) == kind].to_numpy())
        for kind in {kind for _, kind, _ in keys}
    }
    # One area per process, each built whole (tiles and union) by one worker; the largest
    # (most land at the longest walk) first, so that no worker is left with one at the end.
    order = sorted(range(len(keys)), key=lambda i: -within[keys[i][1]].area * keys[i][2] ** 2)
    built = fork_map(
        _kind_area,
        (coverage, network, within),
        [keys[i] for i in order],
        workers=default_workers(workers),
        meanwhile=meanwhile,
        progress=progress,
    )
    areas = dict(zip(order, built, strict=True))
    records = []
    for i, (category, kind, minutes) in enumerate(keys):
        area = areas[i]
        if area is None or area.is_empty:
            logger.info(
                "no %s service area at %g min to show for %s townships", category, minutes, kind
            )
            continue
        records.append((category, kind, minutes, area))
    return gpd.GeoDataFrame(
        pd.DataFrame(records, columns=AREA_COLUMNS), geometry="geometry", crs="EPSG:4326"
    )


def _kind_area(state: tuple, key: tuple[str, str, float]) -> shapely.Geometry | None:
    coverage, network, within = state
    category, kind, minutes = key
    return dissolved_service_area(coverage, network, category, minutes, within=within[kind])


def uncovered_cells(demand: gpd.GeoDataFrame, walks: pd.DataFrame) -> gpd.GeoDataFrame:
    """Demand cells with people beyond each (category, kind, walk) of :func:`target_walks`.

    Parameters
    ----------
    demand
        The coverage result's demand: ``cell_id, pop, pop60, kind, township_code,
        time_min__<category>, geometry`` (EPSG:4326).
    walks
        :func:`target_walks`.

    Returns
    -------
    geopandas.GeoDataFrame
        EPSG:4326 ``category, kind, threshold_min, cell_id, township_code, pop, pop60, time_min,
        geometry``: cells of that kind with people and no facility of the category within the
        walk (unreachable cells have ``time_min`` inf).
    """
    frames = []
    kinds = demand["kind"].fillna("").astype(str).to_numpy()
    pop = demand["pop"].to_numpy(dtype=float)
    pop60 = demand["pop60"].to_numpy(dtype=float)
    people = (pop > 0) | (pop60 > 0)
    for category, kind, minutes in _walk_keys(walks):
        column = f"time_min__{category}"
        if column not in demand:
            continue
        times = demand[column].to_numpy(dtype=float)
        times = np.where(np.isnan(times), np.inf, times)
        rows = np.flatnonzero((kinds == kind) & people & ~(times <= minutes + 1e-9))
        part = demand.iloc[rows]
        frames.append(
            pd.DataFrame(
                {
                    "category": category,
                    "kind": kind,
                    "threshold_min": minutes,
                    "cell_id": part["cell_id"].to_numpy(),
                    "township_code": part["township_code"].fillna("").astype(str).to_numpy(),
                    "pop": pop[rows],
                    "pop60": pop60[rows],
                    "time_min": times[rows],
                    "geometry": part.geometry.to_numpy(),
                }
            )
        )
    frame = (
        pd.concat(frames, ignore_index=True) if frames else pd.DataFrame(columns=UNCOVERED_COLUMNS)
    )
    return gpd.GeoDataFrame(
        frame[UNCOVERED_COLUMNS], geometry="geometry", crs=demand.crs or "EPSG:4326"
    )


def overview_cells(cells: gpd.GeoDataFrame) -> tuple[gpd.GeoDataFrame, float | None]:
    """The uncovered cells an overview map draws, and the block size they were pooled into
    (None: the cells as they are, when there are at most :data:`OVERVIEW_MAX_CELLS`)."""
    if len(cells) <= OVERVIEW_MAX_CELLS:
        return cells, None
    return pooled_cells(cells, OVERVIEW_BLOCK_M), OVERVIEW_BLOCK_M


def pooled_cells(cells: gpd.GeoDataFrame, block_m: float) -> gpd.GeoDataFrame:
    """Uncovered cells (:func:`uncovered_cells`) pooled into square blocks of ``block_m``.

    A county's overview would otherwise draw hundreds of thousands of 100 m cells. Each block
    keeps the cells of one walk and township: their people summed, at their seniors' centre
    (the cells' centre where none are seniors), with the shortest ``time_min`` and the count of
    ``cells``; ``cell_id`` is the first cell's.
    """
    if len(cells) == 0:
        return cells.assign(cells=pd.Series(dtype="int64"))
    metric_crs = cells.estimate_utm_crs()
    # Coordinates projected as arrays: a county's frame reprojected whole costs seconds.
    x, y = pyproj.Transformer.from_crs(cells.crs, metric_crs, always_xy=True).transform(
        *centres(cells.geometry.values)
    )
    pop60 = cells["pop60"].to_numpy(dtype=float)
    weight = np.where(pop60 > 0, pop60, 1e-9)  # all-zero blocks fall back to the mean
    frame = pd.DataFrame(
        {
            "category": cells["category"].to_numpy(),
            "kind": cells["kind"].to_numpy(),
            "threshold_min": cells["threshold_min"].to_numpy(),
            "township_code": cells["township_code"].to_numpy(),
            "bx": np.floor(x / block_m).astype(np.int64),
            "by": np.floor(y / block_m).astype(np.int64),
            "cell_id": cells["cell_id"].to_numpy(),
            "pop": cells["pop"].to_numpy(dtype=float),
            "pop60": pop60,
            "time_min": cells["time_min"].to_numpy(dtype=float),
            "wx": x * weight,
            "wy": y * weight,
            "weight": weight,
        }
    )
    keys = ["category", "kind", "threshold_min", "township_code", "bx", "by"]
    pooled = frame.groupby(keys, sort=False).agg(
        cell_id=("cell_id", "first"),
        pop=("pop", "sum"),
        pop60=("pop60", "sum"),
        time_min=("time_min", "min"),
        wx=("wx", "sum"),
        wy=("wy", "sum"),
        weight=("weight", "sum"),
        cells=("cell_id", "size"),
    )
    pooled = pooled.reset_index()
    points = gpd.GeoSeries(
        shapely.points(pooled["wx"] / pooled["weight"], pooled["wy"] / pooled["weight"]),
        crs=metric_crs,
    ).to_crs(cells.crs)
    return gpd.GeoDataFrame(
        pooled[[*UNCOVERED_COLUMNS[:-1], "cells"]], geometry=points.to_numpy(), crs=cells.crs
    )
