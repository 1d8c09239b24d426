"""Accessibility: the two-step floating catchment (2SFCA) score of a category, per township.

Each facility's supply (beds, or one per facility) is shared among the people within a walk of
it; each demand cell sums the shares of the facilities it reaches; a township gets the
population-weighted mean. The numpy core is
:func:`lifecircle.coverage.siting_solvers.two_step_fca`; reach comes from the same bounded
searches as siting.
"""

from __future__ import annotations

from collections.abc import Sequence

import geopandas as gpd
import numpy as np
import pandas as pd
import scipy.sparse as sp
import shapely

from lifecircle.coverage.metrics import _point_xy
from lifecircle.coverage.siting import POPULATIONS, _cover
from lifecircle.coverage.siting_solvers import two_step_fca
from lifecircle.coverage.walk import WalkModel
from lifecircle.errors import InputError
from lifecircle.geo.crs import frame_to_wgs84
from lifecircle.geo.network import Snaps, WalkNetwork, snap_points

__all__ = ["township_access", "township_access_2sfca"]


def township_access_2sfca(
    network: WalkNetwork,
    demand: gpd.GeoDataFrame,
    facilities: gpd.GeoDataFrame,
    *,
    category: str,
    threshold_min: float,
    walk: WalkModel,
    population: str = "pop60",
    supply: str | None = "beds",
    per: float = 1000.0,
    cell_snaps: Snaps | None = None,
) -> pd.DataFrame:
    """Two-step floating catchment accessibility of ``category``, averaged per township.

    Each facility's supply (column ``supply``; 1 per facility when ``None`` or missing
    values) is shared among the ``population`` within ``threshold_min`` walking of it
    (speed of each cell's township kind); each cell sums the shares of the facilities in
    reach (:func:`two_step_fca`).  Townships get the population-weighted mean.
    ``cell_snaps`` are the demand cells already snapped (:func:`snap_points` with
    ``walk.max_snap_m``), shared by the categories of :func:`township_access`.

    Returns
    -------
    pandas.DataFrame
        ``township_code, population, access_2sfca`` (supply per ``per`` people, e.g. beds
        per 1,000 seniors), one row per township code in ``demand``.
    """
    if population not in POPULATIONS:
        raise InputError(f"population must be one of {', '.join(POPULATIONS)}, got {population!r}")
    demand = frame_to_wgs84(demand, "the demand frame")
    own = facilities[facilities["category"] == category]
    own = frame_to_wgs84(own, "the facility frame") if len(own) else own
    pop = np.maximum(np.nan_to_num(demand[population].to_numpy(dtype=float), nan=0.0), 0.0)
    if supply is not None and supply in own.columns:
        values = np.nan_to_num(own[supply].to_numpy(dtype=float), nan=0.0)
    else:
        values = np.ones(len(own))
    if cell_snaps is None:
        cell_snaps = _snapped_cells(network, demand, walk)
    kinds = (
        demand["kind"].to_numpy(dtype=object)
        if "kind" in demand
        else np.full(len(demand), None, dtype=object)
    )
    limits = walk.distance_m(np.full(len(kinds), float(threshold_min)), kinds)
    fac_geoms = own.geometry.to_numpy() if len(own) else np.array([], dtype=object)
    fx, fy = (
        network.project_lonlat(shapely.get_x(fac_geoms), shapely.get_y(fac_geoms))
        if len(own)
        else (np.zeros(0), np.zeros(0))
    )
    cover, _ = _cover(network, fx, fy, cell_snaps, limits, walk.max_snap_m)
    # Boolean cover as distances of zero: two_step_fca keeps explicit stored entries.
    distance = sp.csr_matrix((np.zeros(cover.nnz), cover.indices, cover.indptr), shape=cover.shape)
    access = two_step_fca(values, pop, distance, 0.0) * per
    frame = pd.DataFrame(
        {
            "township_code": demand["township_code"].astype(str).to_numpy(),
            "population": pop,
            "weighted": access * pop,
        }
    )
    out = frame.groupby("township_code", sort=True)[["population", "weighted"]].sum()
    out["access_2sfca"] = np.where(
        out["population"] > 0,
        out["weighted"] / out["population"].where(out["population"] > 0, 1.0),
        0.0,
    )
    return out.drop(columns="weighted").reset_index()


def township_access(
    network: WalkNetwork,
    demand: gpd.GeoDataFrame,
    facilities: gpd.GeoDataFrame,
    townships: gpd.GeoDataFrame,
    *,
    categories: Sequence[str],
    walk: WalkModel,
    cell_snaps: Snaps | None = None,
) -> gpd.GeoDataFrame:
    """``townships`` with an ``access_2sfca__<category>`` column per category that has facilities.

    The score is beds (or facilities, when the category records no beds) per 1,000 seniors
    within the longest threshold of the default walk settings
    (:func:`township_access_2sfca`). Facilities without a location are left out. The demand
    is snapped once for every category (or ``cell_snaps`` given, as
    :attr:`CoverageResult.demand_snaps`).
    """
    townships = townships.copy()
    threshold_min = max(walk.thresholds_min)
    if cell_snaps is None:
        cell_snaps = _snapped_cells(network, frame_to_wgs84(demand, "the demand frame"), walk)
    geoms = facilities.geometry
    located = facilities[geoms.notna().to_numpy() & ~geoms.is_empty.to_numpy()]
    for category in categories:
        own = located[located["category"] == category]
        if own.empty:
            continue
        has_beds = "beds" in own and own["beds"].fillna(0).gt(0).any()
        access = township_access_2sfca(
            network,
            demand,
            own,
            category=category,
            threshold_min=threshold_min,
            walk=walk,
            population="pop60",
            supply="beds" if has_beds else None,
            cell_snaps=cell_snaps,
        )
        townships[f"access_2sfca__{category}"] = townships["code"].map(
            access.set_index("township_code")["access_2sfca"]
        )
    return townships


def _snapped_cells(network: WalkNetwork, demand: gpd.GeoDataFrame, walk: WalkModel) -> Snaps:
    """The WGS-84 demand cells snapped to the network, as the coverage snaps them."""
    cx, cy = _point_xy(network, demand.geometry)
    return snap_points(network, cx, cy, max_snap_m=walk.max_snap_m)
