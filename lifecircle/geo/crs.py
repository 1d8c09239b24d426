"""Coordinate systems used for Chinese facility data, vectorised with numpy.

WGS-84 (EPSG:4326) is the working geographic system. Registers arrive in

* ``wgs84``   GPS, OSM, Tianditu;
* ``cgcs2000`` (EPSG:4490) national surveys and Tianditu; equal to WGS-84 to well under a metre;
* ``gcj02``   Amap (高德), Tencent: WGS-84 plus an obfuscating offset of 100–700 m;
* ``bd09``    Baidu: GCJ-02 with a further offset;
* ``EPSG:xxxx`` any projected system pyproj knows.

GCJ-02 and BD-09 have closed-form forward formulas only; their inverses are solved by fixed-point
iteration to well under 0.5 m. Outside China the offsets are not applied (identity), as Amap does.

Examples
--------
>>> lon, lat = wgs84_to_gcj02(116.481499, 39.990475)
>>> round(float(lon), 5), round(float(lat), 5)
(116.48759, 39.99175)
"""

from __future__ import annotations

from typing import Any

import numpy as np
import pyproj
from numpy.typing import ArrayLike, NDArray

from lifecircle.errors import InputError

# Krasovsky 1940 ellipsoid, as in the GCJ-02 algorithm.
_A = 6378245.0
_EE = 0.00669342162296594323
_X_PI = np.pi * 3000.0 / 180.0

SYSTEMS = ("wgs84", "cgcs2000", "gcj02", "bd09")
_ALIASES = {
    "wgs84": "wgs84",
    "wgs-84": "wgs84",
    "wgs 84": "wgs84",
    "epsg:4326": "wgs84",
    "4326": "wgs84",
    "gps": "wgs84",
    "osm": "wgs84",
    "cgcs2000": "cgcs2000",
    "epsg:4490": "cgcs2000",
    "4490": "cgcs2000",
    "tianditu": "cgcs2000",
    "天地图": "cgcs2000",
    "gcj02": "gcj02",
    "gcj-02": "gcj02",
    "gcj": "gcj02",
    "amap": "gcj02",
    "高德": "gcj02",
    "tencent": "gcj02",
    "腾讯": "gcj02",
    "火星坐标": "gcj02",
    "bd09": "bd09",
    "bd-09": "bd09",
    "bd09ll": "bd09",
    "baidu": "bd09",
    "百度": "bd09",
}

Floats = NDArray[np.float64]


def normalise_system(system: str) -> str:
    """Return the canonical name of a coordinate system, or ``"EPSG:<code>"`` for a pyproj CRS.

    >>> normalise_system("GCJ-02"), normalise_system("epsg:32650")
    ('gcj02', 'EPSG:32650')
    """
    key = str(system).strip().lower()
    if key in _ALIASES:
        return _ALIASES[key]
    try:
        crs = pyproj.CRS.from_user_input(system)
    except pyproj.exceptions.CRSError:
        raise InputError(
            f"unknown coordinate system {system!r}: use one of {', '.join(SYSTEMS)} "
            "or an EPSG code such as 'EPSG:32650'"
        ) from None
    epsg = crs.to_epsg()
    return f"EPSG:{epsg}" if epsg else crs.to_wkt()


def out_of_china(lon: ArrayLike, lat: ArrayLike) -> NDArray[np.bool_]:
    """True where a point lies outside the rough bounding box in which GCJ-02 offsets apply."""
    lon = np.asarray(lon, dtype=float)
    lat = np.asarray(lat, dtype=float)
    return (lon < 72.004) | (lon > 137.8347) | (lat < 0.8293) | (lat > 55.8271)


_SHIFT_35 = 35.0 * np.pi / 60.0
_COS_35, _SIN_35 = float(np.cos(_SHIFT_35)), float(np.sin(_SHIFT_35))
# Points per block in the vectorised kernels: the temporaries of one block stay in the CPU cache.
_BLOCK = 1 << 15


def _multiple_angles(s1: Floats, c1: Floats, *, high: bool = True) -> tuple[Floats, ...]:
    """sin of 2, 5, 20, 60 (and with ``high`` 120, 360) times an angle, from its sine and cosine.

    Double-, triple- and sum-angle identities replace ten of the twelve ``np.sin`` calls of
    the textbook formula (the transcendental calls dominate its cost); rounding grows with the
    multiple, to ~1e-14 at 360, far below the formula's own precision.
    """
    s2 = 2.0 * s1 * c1
    c2 = 1.0 - 2.0 * s1 * s1
    s4 = 2.0 * s2 * c2
    c4 = 1.0 - 2.0 * s2 * s2
    s5 = s4 * c1 + c4 * s1
    c5 = c4 * c1 - s4 * s1
    s10 = 2.0 * s5 * c5
    c10 = 1.0 - 2.0 * s5 * s5
    s20 = 2.0 * s10 * c10
    c20 = 1.0 - 2.0 * s10 * s10
    s60 = s20 * (3.0 - 4.0 * s20 * s20)
    if not high:
        return s2, s5, s20, s60
    c60 = c20 * (4.0 * c20 * c20 - 3.0)
    s120 = 2.0 * s60 * c60
    s360 = s120 * (3.0 - 4.0 * s120 * s120)
    return s2, s5, s20, s60, s120, s360


def _gcj02_offset(lon: Floats, lat: Floats) -> tuple[Floats, Floats]:
    """GCJ-02 minus WGS-84 in degrees at WGS-84 ``lon``/``lat`` (the published formula).

    The formula's sines of x·π/30, x·π/12, x·π/3, x·π, 2x·π and 6x·π (x = lon − 105) are all
    multiples of θ = x·π/60; those in y = lat − 35 are multiples of y·π/60 = 3·φ − 35π/60
    with φ the latitude in radians, whose sine and cosine the formula needs anyway. So four
    transcendental calls serve all fourteen terms.
    """
    x = lon - 105.0
    y = lat - 35.0
    theta = x * (np.pi / 60.0)
    sx2, sx5, sx20, sx60, sx120, sx360 = _multiple_angles(np.sin(theta), np.cos(theta))
    rad_lat = lat * (np.pi / 180.0)
    sin_lat = np.sin(rad_lat)
    cos_lat = np.cos(rad_lat)
    s3 = sin_lat * (3.0 - 4.0 * sin_lat * sin_lat)
    c3 = cos_lat * (4.0 * cos_lat * cos_lat - 3.0)
    sy2, sy5, sy20, sy60 = _multiple_angles(
        s3 * _COS_35 - c3 * _SIN_35, c3 * _COS_35 + s3 * _SIN_35, high=False
    )
    sqrt_abs_x = np.sqrt(np.abs(x))
    common = (20.0 * sx360 + 20.0 * sx120) * (2.0 / 3.0)
    dlat = -100.0 + 2.0 * x + 3.0 * y + 0.2 * y * y + 0.1 * x * y + 0.2 * sqrt_abs_x + common
    dlat += (20.0 * sy60 + 40.0 * sy20) * (2.0 / 3.0)
    dlat += (160.0 * sy5 + 320.0 * sy2) * (2.0 / 3.0)
    dlon = 300.0 + x + 2.0 * y + 0.1 * x * x + 0.1 * x * y + 0.1 * sqrt_abs_x + common
    dlon += (20.0 * sx60 + 40.0 * sx20) * (2.0 / 3.0)
    dlon += (150.0 * sx5 + 300.0 * sx2) * (2.0 / 3.0)
    magic = 1.0 - _EE * sin_lat * sin_lat
    sqrt_magic = np.sqrt(magic)
    dlat *= (180.0 / (_A * (1.0 - _EE) * np.pi)) * magic * sqrt_magic
    dlon *= (180.0 / (_A * np.pi)) * sqrt_magic / cos_lat
    return dlon, dlat


def _gcj02_offset_reference(lon: Floats, lat: Floats) -> tuple[Floats, Floats]:
    """The textbook form of :func:`_gcj02_offset` (twelve sines), kept to test it against."""
    x = lon - 105.0
    y = lat - 35.0
    sqrt_abs_x = np.sqrt(np.abs(x))
    common = (20.0 * np.sin(6.0 * x * np.pi) + 20.0 * np.sin(2.0 * x * np.pi)) * 2.0 / 3.0
    dlat = -100.0 + 2.0 * x + 3.0 * y + 0.2 * y * y + 0.1 * x * y + 0.2 * sqrt_abs_x + common
    dlat += (20.0 * np.sin(y * np.pi) + 40.0 * np.sin(y / 3.0 * np.pi)) * 2.0 / 3.0
    dlat += (160.0 * np.sin(y / 12.0 * np.pi) + 320.0 * np.sin(y * np.pi / 30.0)) * 2.0 / 3.0
    dlon = 300.0 + x + 2.0 * y + 0.1 * x * x + 0.1 * x * y + 0.1 * sqrt_abs_x + common
    dlon += (20.0 * np.sin(x * np.pi) + 40.0 * np.sin(x / 3.0 * np.pi)) * 2.0 / 3.0
    dlon += (150.0 * np.sin(x / 12.0 * np.pi) + 300.0 * np.sin(x / 30.0 * np.pi)) * 2.0 / 3.0
    rad_lat = lat / 180.0 * np.pi
    magic = 1.0 - _EE * np.sin(rad_lat) ** 2
    sqrt_magic = np.sqrt(magic)
    dlat = (dlat * 180.0) / ((_A * (1.0 - _EE)) / (magic * sqrt_magic) * np.pi)
    dlon = (dlon * 180.0) / (_A / sqrt_magic * np.cos(rad_lat) * np.pi)
    return dlon, dlat


def _as_arrays(lon: ArrayLike, lat: ArrayLike) -> tuple[Floats, Floats]:
    lon_arr, lat_arr = np.broadcast_arrays(
        np.asarray(lon, dtype=float), np.asarray(lat, dtype=float)
    )
    return lon_arr.astype(float), lat_arr.astype(float)


def wgs84_to_gcj02(lon: ArrayLike, lat: ArrayLike) -> tuple[Floats, Floats]:
    """Shift WGS-84 longitude/latitude (degrees) to GCJ-02; identity outside China; nan passes."""
    lon, lat = _as_arrays(lon, lat)
    dlon, dlat = _gcj02_offset(lon, lat)
    outside = out_of_china(lon, lat)
    return np.where(outside, lon, lon + dlon), np.where(outside, lat, lat + dlat)


def gcj02_to_bd09(lon: ArrayLike, lat: ArrayLike) -> tuple[Floats, Floats]:
    """Shift GCJ-02 longitude/latitude (degrees) to Baidu's BD-09."""
    x, y = _as_arrays(lon, lat)
    z = np.sqrt(x * x + y * y) + 0.00002 * np.sin(y * _X_PI)
    theta = np.arctan2(y, x) + 0.000003 * np.cos(x * _X_PI)
    return z * np.cos(theta) + 0.0065, z * np.sin(theta) + 0.006


def _bd09_to_gcj02_approx(lon: Floats, lat: Floats) -> tuple[Floats, Floats]:
    x = lon - 0.0065
    y = lat - 0.006
    z = np.sqrt(x * x + y * y) - 0.00002 * np.sin(y * _X_PI)
    theta = np.arctan2(y, x) - 0.000003 * np.cos(x * _X_PI)
    return z * np.cos(theta), z * np.sin(theta)


def _invert(
    forward,
    lon: Floats,
    lat: Floats,
    start: tuple[Floats, Floats],
    tol_deg: float = 1e-10,
    max_iter: int = 30,
) -> tuple[Floats, Floats]:
    """Solve ``forward(x) = target`` by fixed-point iteration ``x += target - forward(x)``.

    The offsets change by millimetres over metres, so each step gains roughly four orders of
    magnitude; 1e-10 degrees is about 0.01 mm.
    """
    x_lon, x_lat = start
    for _ in range(max_iter):
        f_lon, f_lat = forward(x_lon, x_lat)
        d_lon = lon - f_lon
        d_lat = lat - f_lat
        x_lon = x_lon + d_lon
        x_lat = x_lat + d_lat
        if not (
            np.nanmax(np.abs(d_lon), initial=0.0) > tol_deg
            or np.nanmax(np.abs(d_lat), initial=0.0) > tol_deg
        ):
            break
    return x_lon, x_lat


def _gcj02_inverse_block(
    lon: Floats, lat: Floats, tol_deg: float, max_iter: int
) -> tuple[Floats, Floats]:
    x_lon, x_lat = lon, lat
    for step in range(max_iter):
        if step < _FLOAT32_STEPS:
            # Early steps only need the offset to ~1e-7 degrees (their error is shrunk ~200-fold
            # by every later step), so they evaluate it in float32: three times faster. The
            # iterate itself stays float64.
            d_lon, d_lat = _gcj02_offset(x_lon.astype(np.float32), x_lat.astype(np.float32))
        else:
            d_lon, d_lat = _gcj02_offset(x_lon, x_lat)
        # residual r = target - forward(x) = target - x - offset(x)
        r_lon = lon - x_lon - d_lon
        r_lat = lat - x_lat - d_lat
        x_lon = x_lon + r_lon
        x_lat = x_lat + r_lat
        if step < _FLOAT32_STEPS:
            continue
        # The offset's slope is below 0.01 (it changes by ~5e-3 of a step), so the error left
        # after this step is below 0.01 times the residual just applied.
        worst = max(np.nanmax(np.abs(r_lon), initial=0.0), np.nanmax(np.abs(r_lat), initial=0.0))
        if worst * _CONTRACTION < tol_deg:
            break
    return x_lon, x_lat


_CONTRACTION = 0.01
_FLOAT32_STEPS = 2


def gcj02_to_wgs84(
    lon: ArrayLike, lat: ArrayLike, *, tol_deg: float = 1e-8, max_iter: int = 30
) -> tuple[Floats, Floats]:
    """Invert :func:`wgs84_to_gcj02` by fixed-point iteration; identity outside China.

    Starting from the GCJ-02 point, each step removes all but ~0.5 % of the remaining error:
    two steps with the offset in float32 (to ~2e-7 degrees), then float64 steps until the error
    bound is below ``tol_deg`` (1e-8 degrees, about 1 mm; in practice ~0.1 mm), usually one.
    Points are processed in cache-sized blocks.
    """
    lon, lat = _as_arrays(lon, lat)
    shape = lon.shape
    flat_lon = lon.ravel()
    flat_lat = lat.ravel()
    out_lon = flat_lon.copy()
    out_lat = flat_lat.copy()
    inside = np.flatnonzero(~out_of_china(flat_lon, flat_lat))
    for start in range(0, inside.size, _BLOCK):
        idx = inside[start : start + _BLOCK]
        out_lon[idx], out_lat[idx] = _gcj02_inverse_block(
            flat_lon[idx], flat_lat[idx], tol_deg, max_iter
        )
    return out_lon.reshape(shape), out_lat.reshape(shape)


def bd09_to_gcj02(lon: ArrayLike, lat: ArrayLike) -> tuple[Floats, Floats]:
    """Invert :func:`gcj02_to_bd09`, starting from Baidu's closed-form approximation."""
    lon, lat = _as_arrays(lon, lat)
    return _invert(gcj02_to_bd09, lon, lat, _bd09_to_gcj02_approx(lon, lat))


def wgs84_to_bd09(lon: ArrayLike, lat: ArrayLike) -> tuple[Floats, Floats]:
    """WGS-84 to BD-09 (through GCJ-02)."""
    return gcj02_to_bd09(*wgs84_to_gcj02(lon, lat))


def bd09_to_wgs84(lon: ArrayLike, lat: ArrayLike) -> tuple[Floats, Floats]:
    """BD-09 to WGS-84 (through GCJ-02)."""
    return gcj02_to_wgs84(*bd09_to_gcj02(lon, lat))


def to_wgs84(x: ArrayLike, y: ArrayLike, system: str) -> tuple[Floats, Floats]:
    """Convert coordinates given in ``system`` to WGS-84 longitude/latitude.

    ``x``/``y`` are longitude/latitude for the geographic systems and easting/northing in metres
    for a projected EPSG system.
    """
    name = normalise_system(system)
    x, y = _as_arrays(x, y)
    if name in ("wgs84", "cgcs2000"):
        # CGCS2000 and WGS-84 (G1762) agree to a few centimetres: no datum shift is applied.
        return x, y
    if name == "gcj02":
        return gcj02_to_wgs84(x, y)
    if name == "bd09":
        return bd09_to_wgs84(x, y)
    transformer = pyproj.Transformer.from_crs(name, "EPSG:4326", always_xy=True)
    lon, lat = transformer.transform(x, y)
    return np.asarray(lon, dtype=float), np.asarray(lat, dtype=float)


def from_wgs84(lon: ArrayLike, lat: ArrayLike, system: str) -> tuple[Floats, Floats]:
    """Convert WGS-84 longitude/latitude to ``system`` (the inverse of :func:`to_wgs84`)."""
    name = normalise_system(system)
    lon, lat = _as_arrays(lon, lat)
    if name in ("wgs84", "cgcs2000"):
        return lon, lat
    if name == "gcj02":
        return wgs84_to_gcj02(lon, lat)
    if name == "bd09":
        return wgs84_to_bd09(lon, lat)
    transformer = pyproj.Transformer.from_crs("EPSG:4326", name, always_xy=True)
    x, y = transformer.transform(lon, lat)
    return np.asarray(x, dtype=float), np.asarray(y, dtype=float)


def metric_crs_for(lon: ArrayLike, lat: ArrayLike) -> pyproj.CRS:
    """The UTM zone (WGS-84) containing the median of the given points, as a metric CRS."""
    lon = np.asarray(lon, dtype=float)
    lat = np.asarray(lat, dtype=float)
    if lon.size == 0 or not np.isfinite(lon).any():
        raise InputError("cannot choose a metric CRS: no valid coordinates were given")
    mid_lon = float(np.nanmedian(lon))
    mid_lat = float(np.nanmedian(lat))
    zone = int((mid_lon + 180.0) // 6.0) % 60 + 1
    epsg = (32600 if mid_lat >= 0 else 32700) + zone
    return pyproj.CRS.from_epsg(epsg)


def frame_to_wgs84(frame: Any, what: str) -> Any:
    """A GeoDataFrame in EPSG:4326 (reprojected when needed); ``what`` names it in the error.

    Raises
    ------
    InputError
        When the frame has no CRS: a guess would put points in the wrong place unseen.
    """
    if frame.crs is None:
        raise InputError(
            f"{what} has no coordinate reference system: set one with .set_crs(), "
            "e.g. frame.set_crs('EPSG:4326')"
        )
    return frame if frame.crs.to_epsg() == 4326 else frame.to_crs(4326)
