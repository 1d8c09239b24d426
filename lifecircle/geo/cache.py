"""A binary cache of the walking network, so that a second run skips parsing OpenStreetMap.

:func:`load_walk_network` is :func:`lifecircle.geo.osm.load_walk_arrays_and_ways` followed by
:meth:`WalkNetwork.from_lonlat` and the blocks the streets enclose (:attr:`WalkNetwork.faces`),
with the result kept as arrays in one ``.npz`` file: the CSR adjacency, node and edge arrays,
edge shapes as packed vertices, the blocks' rings, and node longitudes/latitudes, with the
table of ways the walk rules kept or dropped beside it (GeoParquet). On a
330,000-node county the parse and conversion take about 10 s of CPU and the cache reads back
in a few seconds (``benchmarks/pipeline.py`` measures both).

The cache file's name is a hash of everything the network depends on: the contents of the
network file and of every other file the spec names (clipping polygon, rule overrides), every
field of the :class:`NetworkSpec` (walk rules included), the source of the ``lifecircle.geo``
modules that read and convert the network, and a format number. Any change gives another
name, so a stale file is never read; a file that cannot be read (truncated, corrupt, another
format) is reported in the log and the network is parsed again. Files are written through a
temporary file and a rename, so a crashed run never leaves half a cache behind. Online sources
keep osmnx's GraphML cache and are not cached here.

The cache lives in ``[inputs.network].cache_dir`` when the plan gives one, else in
``$XDG_CACHE_HOME/lifecircle/networks`` (``~/.cache/lifecircle/networks``).
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
import logging
import os
import tempfile
import zipfile
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import geopandas as gpd
import numpy as np
import pyproj
import shapely
from numpy.typing import NDArray
from pyarrow import ArrowException
from shapely.geometry.base import BaseGeometry

from lifecircle.geo.network import Faces, WalkNetwork
from lifecircle.geo.osm import NetworkSpec, default_cache_dir, load_walk_arrays_and_ways
from lifecircle.hashing import file_sha256

logger = logging.getLogger(__name__)

# Bump when the layout of the arrays below changes.
CACHE_FORMAT = 2

__all__ = ["LoadedNetwork", "load_walk_network", "network_cache_path"]


@dataclass(frozen=True)
class LoadedNetwork:
    """A walking network with what a run reports about it.

    Attributes
    ----------
    network
        The network (its :attr:`WalkNetwork.faces` already traced).
    node_lon, node_lat
        Node coordinates in degrees (WGS-84), in node order.
    components
        :meth:`WalkNetwork.describe_components` of the network.
    ways
        Every way the walk rules decided on, kept or dropped
        (:func:`lifecircle.geo.ways.ways_frame`), for the network audit.
    cache
        ``"hit"`` (read from the cache), ``"miss"`` (parsed, then cached) or ``"off"`` (not
        cached: an online source, or caching turned off).
    cache_path
        The cache file, when there is one.
    """

    network: WalkNetwork
    node_lon: NDArray[np.float64]
    node_lat: NDArray[np.float64]
    components: dict[str, Any]
    ways: gpd.GeoDataFrame
    cache: str
    cache_path: Path | None = None


def _plain(value: Any) -> Any:
    """A spec field as JSON-able text that changes whenever the value does."""
    if isinstance(value, BaseGeometry):
        return shapely.to_wkt(value, rounding_precision=-1)
    if isinstance(value, Path):
        return str(value)
    if isinstance(value, (str, int, float, bool)) or value is None:
        return value
    return repr(value)


def _code_hash() -> str:
    """Hash of the code that decides the network: every module of ``lifecircle.geo`` (reader,
    walk rules, simplification, CSR, blocks, this cache)."""
    digest = hashlib.sha256()
    for path in sorted(Path(__file__).parent.glob("*.py")):
        digest.update(path.name.encode())
        digest.update(path.read_bytes())
    return digest.hexdigest()


def _cache_key(spec: NetworkSpec) -> str:
    fields = {f.name: _plain(getattr(spec, f.name)) for f in dataclasses.fields(spec)}
    fields.pop("cache_dir", None)  # where the cache lives does not change the network
    # the contents of every file the spec names (network, clipping polygon, rule overrides)
    files = {
        name: file_sha256(value)
        for name, value in vars(spec).items()
        if name != "cache_dir" and isinstance(value, (str, Path)) and Path(value).is_file()
    }
    record = {"format": CACHE_FORMAT, "code": _code_hash(), "spec": fields, "files": files}
    return hashlib.sha256(json.dumps(record, sort_keys=True).encode()).hexdigest()[:32]


def network_cache_path(spec: NetworkSpec) -> Path | None:
    """Where the network of ``spec`` is (or will be) cached; None for online sources.

    The name hashes the network file's contents, so this reads the whole file.
    """
    if spec.path is None or not Path(spec.path).is_file():
        return None
    folder = Path(spec.cache_dir) if spec.cache_dir else default_cache_dir() / "networks"
    return folder / f"network-{_cache_key(spec)}.npz"


def _arrays(loaded: LoadedNetwork) -> dict[str, NDArray[Any]]:
    """Every field of the network (whatever fields it has), its blocks and the run's extras."""
    net = loaded.network
    arrays: dict[str, NDArray[Any]] = {}
    for field in dataclasses.fields(WalkNetwork):
        value = getattr(net, field.name)
        if field.name == "crs":
            arrays["crs_wkt"] = np.array(value.to_wkt())
        elif field.name == "edge_geometry":
            coords, owner = shapely.get_coordinates(value, return_index=True)
            arrays["edge_coords"] = coords
            arrays["edge_vertex_count"] = np.bincount(owner, minlength=net.n_edges)
        elif value is None:
            arrays[f"none__{field.name}"] = np.array(True)
        elif value.dtype == object:  # text, e.g. street names
            arrays[f"text__{field.name}"] = np.asarray(value, dtype=str)
        else:
            arrays[f"field__{field.name}"] = value
    faces = net.faces
    arrays.update(
        {
            "components": np.array(json.dumps(loaded.components)),
            "node_lon": loaded.node_lon,
            "node_lat": loaded.node_lat,
            "face_of": faces.face_of,
            "face_n_sides": faces.n_sides,
            "face_ring_xy": faces.ring_xy,
            "face_ring_start": faces.ring_start,
        }
    )
    return arrays


def _ways_path(path: Path) -> Path:
    return path.with_name(path.name.removesuffix(".npz") + ".ways.parquet")


def _from_arrays(data: Any, ways: gpd.GeoDataFrame, path: Path) -> LoadedNetwork:
    counts = data["edge_vertex_count"]
    geometry = shapely.linestrings(
        data["edge_coords"], indices=np.repeat(np.arange(counts.size), counts)
    )
    values: dict[str, Any] = {
        "crs": pyproj.CRS.from_wkt(str(data["crs_wkt"])),
        "edge_geometry": np.asarray(geometry, dtype=object),
    }
    for field in dataclasses.fields(WalkNetwork):
        name = field.name
        if name in values:
            continue
        if f"none__{name}" in data.files:
            values[name] = None
        elif f"text__{name}" in data.files:
            values[name] = data[f"text__{name}"].astype(object)
        else:  # a field this file lacks (written by other code) raises KeyError: parse again
            values[name] = data[f"field__{name}"]
    network = WalkNetwork(**values)
    # cached_property stores into the instance dict: the blocks come from the cache too
    network.__dict__["faces"] = Faces(
        data["face_of"], data["face_n_sides"], data["face_ring_xy"], data["face_ring_start"]
    )
    return LoadedNetwork(
        network,
        data["node_lon"],
        data["node_lat"],
        json.loads(str(data["components"])),
        ways,
        "hit",
        path,
    )


def _read(path: Path) -> LoadedNetwork | None:
    """The cached network, or None (with a log line) when the file is unusable."""
    try:
        ways = gpd.read_parquet(_ways_path(path))
        # opened here, so that a file np.load rejects is closed too
        with path.open("rb") as handle, np.load(handle, allow_pickle=False) as data:
            return _from_arrays(data, ways, path)
    except (
        OSError,
        ValueError,
        KeyError,
        EOFError,
        zipfile.BadZipFile,
        shapely.errors.GEOSException,
        pyproj.exceptions.CRSError,
        ArrowException,
    ) as exc:
        logger.warning(
            "network cache %s cannot be read (%s: %s); parsing the network again",
            path,
            type(exc).__name__,
            exc,
        )
        return None


def _write_atomic(path: Path, write: Any) -> None:
    """``write(handle)`` into a temporary file in ``path``'s folder, then rename it to ``path``."""
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    try:
        with os.fdopen(fd, "wb") as handle:
            write(handle)
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def _write(path: Path, loaded: LoadedNetwork) -> None:
    """Write the cache atomically: the ways table first, the arrays last (a cache is read only
    when its arrays file exists, and each file appears whole by a rename)."""
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        _write_atomic(_ways_path(path), loaded.ways.to_parquet)
        _write_atomic(path, lambda handle: np.savez(handle, **_arrays(loaded)))
    except OSError as exc:
        logger.warning(
            "cannot write the network cache in %s (%s); runs will parse the network",
            path.parent,
            exc,
        )
        return
    logger.info("walk network cached at %s", path)


def _parse(spec: NetworkSpec) -> LoadedNetwork:
    source, ways = load_walk_arrays_and_ways(spec)
    network = WalkNetwork.from_lonlat(source)
    del source
    network.faces  # noqa: B018 - traced once here, so that the cache holds the blocks
    lon, lat = network.lonlat
    return LoadedNetwork(network, lon, lat, network.describe_components(), ways, "off")


def load_walk_network(spec: NetworkSpec, *, use_cache: bool = True) -> LoadedNetwork:
    """Load the walking network of ``spec`` as a :class:`WalkNetwork`, through the cache.

    Parameters
    ----------
    spec
        Where the network comes from (see :class:`lifecircle.geo.osm.NetworkSpec`).
    use_cache
        Read the cached arrays when they match the inputs, and write them after parsing.

    Returns
    -------
    LoadedNetwork
        The network, node longitudes/latitudes, the component summary and the cache status.

    Raises
    ------
    NetworkError
        As :func:`lifecircle.geo.osm.load_walk_arrays_and_ways`.
    """
    path = network_cache_path(spec) if use_cache else None
    if path is not None and path.exists():
        cached = _read(path)
        if cached is not None:
            logger.info("walk network read from the cache %s", path)
            return cached
    loaded = _parse(spec)
    if path is None:
        return loaded
    _write(path, loaded)
    return dataclasses.replace(loaded, cache="miss", cache_path=path)
