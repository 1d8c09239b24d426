"""Basemaps for the web maps: which tiles, their attribution and their coordinate system.

OpenStreetMap and Tianditu (天地图, CGCS2000 ≈ WGS-84 on web-mercator tiles) draw WGS-84
coordinates where they belong; Amap (高德) tiles are in GCJ-02, so every overlay coordinate must be
shifted to GCJ-02 before it is drawn on them (:func:`overlay_system`). ``none`` draws no tiles.
"""

from __future__ import annotations

import logging
import os
from dataclasses import dataclass
from pathlib import Path

from lifecircle.errors import InputError

log = logging.getLogger(__name__)

BASEMAPS = ("osm", "tianditu", "amap", "none")
TIANDITU_ENV = "TIANDITU_KEY"

_TIANDITU_URL = (
    "https://t{s}.tianditu.gov.cn/{layer}_w/wmts?SERVICE=WMTS&REQUEST=GetTile&VERSION=1.0.0"
    "&LAYER={layer}&STYLE=default&TILEMATRIXSET=w&FORMAT=tiles"
    "&TILECOL={x}&TILEROW={y}&TILEMATRIX={z}&tk={key}"
)


@dataclass(frozen=True)
class TileSource:
    """One tile layer: a Leaflet URL template, its attribution and options."""

    name: str
    url: str
    attribution: str
    subdomains: str = "abc"
    max_zoom: int = 19


@dataclass(frozen=True)
class Basemap:
    """The tiles drawn under the overlays and the coordinate system the overlays must use.

    Attributes
    ----------
    key
        ``osm``, ``tianditu``, ``amap``, ``none`` or ``custom`` (a user's ``tiles_url``).
    tiles
        Tile layers bottom first (Tianditu has a vector layer and a label layer); empty for none.
    system
        ``"wgs84"`` or ``"gcj02"``: the coordinates overlays are drawn in.
    """

    key: str
    tiles: tuple[TileSource, ...]
    system: str


def _tianditu_key(key: str | None) -> str:
    key = key or os.environ.get(TIANDITU_ENV, "")
    if not key.strip():
        raise InputError(
            "basemap 'tianditu' needs a Tianditu (天地图) developer key: pass tianditu_key "
            f"(plan [maps].tianditu_key or --tianditu-key) or set the environment variable "
            f"{TIANDITU_ENV}; or choose basemap 'osm' or 'none'"
        )
    return key.strip()


def _local_tiles_url(tiles_url: str) -> str:
    """Accept a URL template or a local folder template; require {z}, {x} and {y}."""
    missing = [p for p in ("{z}", "{x}", "{y}") if p not in tiles_url]
    if missing:
        raise InputError(
            f"tiles_url {tiles_url!r} lacks {', '.join(missing)}: give a template such as "
            "'file:///data/tiles/{z}/{x}/{y}.png' or 'http://tiles.intranet/{z}/{x}/{y}.png'"
        )
    if "://" in tiles_url:
        return tiles_url
    # A plain folder path: make it an absolute file:// URL (braces kept for Leaflet).
    return "file://" + str(Path(tiles_url).expanduser().resolve())


def overlay_system(basemap: str) -> str:
    """The coordinate system overlays must be drawn in on ``basemap`` (``gcj02`` for Amap).

    >>> overlay_system("amap"), overlay_system("osm")
    ('gcj02', 'wgs84')
    """
    return "gcj02" if basemap == "amap" else "wgs84"


def resolve_basemap(
    basemap: str = "osm",
    *,
    offline: bool = False,
    tiles_url: str | None = None,
    tianditu_key: str | None = None,
) -> Basemap:
    """Choose the tiles and overlay coordinate system for a map.

    Parameters
    ----------
    basemap
        One of ``osm`` (default), ``tianditu``, ``amap``, ``none``.
    offline
        When true, no public tile server is used: the basemap is ``tiles_url`` if given, else none.
    tiles_url
        A tile URL template (a local folder ``file:///…/{z}/{x}/{y}.png`` or an intranet server)
        that replaces the basemap's public tiles; overlays still follow ``basemap``'s system
        (so an Amap tile cache keeps GCJ-02 overlays).
    tianditu_key
        Tianditu key; falls back to the ``TIANDITU_KEY`` environment variable.

    Raises
    ------
    InputError
        Unknown basemap, a Tianditu basemap without a key, or a tiles_url without placeholders.
    """
    if basemap not in BASEMAPS:
        raise InputError(f"unknown basemap {basemap!r}: use one of {', '.join(BASEMAPS)}")
    system = overlay_system(basemap)
    if tiles_url:
        url = _local_tiles_url(tiles_url)
        return Basemap(
            "custom", (TileSource("custom", url, "local tiles", subdomains="abc"),), system
        )
    if offline or basemap == "none":
        if offline and basemap != "none":
            log.info(
                "offline map: basemap %r needs the internet, drawing no tiles "
                "(give tiles_url for a local tile folder)",
                basemap,
            )
        return Basemap("none", (), system)
    if basemap == "osm":
        return Basemap(
            "osm",
            (
                TileSource(
                    "osm",
                    "https://tile.openstreetmap.org/{z}/{x}/{y}.png",
                    '&copy; <a href="https://www.openstreetmap.org/copyright">OpenStreetMap</a> '
                    "contributors",
                ),
            ),
            system,
        )
    if basemap == "tianditu":
        key = _tianditu_key(tianditu_key)
        attribution = '&copy; <a href="https://www.tianditu.gov.cn/">天地图 Tianditu</a>'
        tiles = tuple(
            TileSource(
                f"tianditu_{layer}",
                _TIANDITU_URL.replace("{layer}", layer).replace("{key}", key),
                attribution,
                subdomains="01234567",
                max_zoom=18,
            )
            for layer in ("vec", "cva")
        )
        return Basemap("tianditu", tiles, system)
    return Basemap(
        "amap",
        (
            TileSource(
                "amap",
                "https://webrd0{s}.is.autonavi.com/appmaptile?lang=zh_cn&size=1&scale=1"
                "&style=8&x={x}&y={y}&z={z}",
                '&copy; <a href="https://www.amap.com/">高德地图 AutoNavi</a> (GCJ-02)',
                subdomains="1234",
                max_zoom=18,
            ),
        ),
        system,
    )
