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
>>> round(float(lon), 6), round(float(lat), 6)
(116.487585, 39.991754)
"""

from __future__ import annotations

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
    "wgs84": "wgs84", "wgs-84": "wgs84", "wgs 84": "wgs84", "epsg:4326": "wgs84", "4326": "wgs84",
    "gps": "wgs84", "osm": "wgs84",
    "cgcs2000": "cgcs2000", "epsg:4490": "cgcs2000", "4490": "cgcs2000", "tianditu": "cgcs2000",
    "天地图": "cgcs2000",
    "gcj02": "gcj02", "gcj-02": "gcj02", "gcj": "gcj02", "amap": "gcj02", "高德": "gcj02",
    "tencent": "gcj02", "腾讯": "gcj02", "火星坐标": "gcj02",
    "bd09": "bd09", "bd-09": "bd09", "bd09ll": "bd09", "baidu": "bd09", "百度": "bd09",
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


def _gcj02_offset(lon: Floats, lat: Floats) -> tuple[Floats, Floats]:
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
    lon_arr, lat_arr = np.broadcast_arrays(np.asarray(lon, dtype=float), np.asarray(lat, dtype=float))
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


def _invert(forward, lon: Floats, lat: Floats, start: tuple[Floats, Floats],
            tol_deg: float = 1e-10, max_iter: int = 30) -> tuple[Floats, Floats]:
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
        if not (np.nanmax(np.abs(d_lon), initial=0.0) > tol_deg
                or np.nanmax(np.abs(d_lat), initial=0.0) > tol_deg):
            break
    return x_lon, x_lat


def gcj02_to_wgs84(lon: ArrayLike, lat: ArrayLike) -> tuple[Floats, Floats]:
    """Invert :func:`wgs84_to_gcj02` by iteration (errors far below 0.5 m)."""
    lon, lat = _as_arrays(lon, lat)
    return _invert(wgs84_to_gcj02, lon, lat, (lon, lat))


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
