"""The binary network cache: a hit gives the parsed network back exactly; any change misses."""

from __future__ import annotations

import bz2
import dataclasses
import logging
import shutil

import numpy as np
import pytest
import shapely
from conftest import SAMPLE_NETWORK

from lifecircle.geo.cache import load_walk_network, network_cache_path
from lifecircle.geo.osm import NetworkSpec


@pytest.fixture
def network_file(tmp_path):
    path = tmp_path / "network.osm.bz2"
    shutil.copy(SAMPLE_NETWORK, path)
    return path


def assert_same_network(a, b) -> None:
    na, nb = a.network, b.network
    assert na.crs == nb.crs
    for name in (
        "node_ids",
        "x",
        "y",
        "indptr",
        "indices",
        "weights_m",
        "edge_u",
        "edge_v",
        "edge_length_m",
        "component",
    ):
        np.testing.assert_array_equal(getattr(na, name), getattr(nb, name), err_msg=name)
    assert shapely.equals_exact(na.edge_geometry, nb.edge_geometry, tolerance=0).all()
    assert na.edge_name is not None and (na.edge_name != "").any()  # the sample's street names
    np.testing.assert_array_equal(na.edge_name, nb.edge_name)
    for name in ("face_of", "n_sides", "ring_xy", "ring_start"):
        np.testing.assert_array_equal(getattr(na.faces, name), getattr(nb.faces, name))
    np.testing.assert_array_equal(a.node_lon, b.node_lon)
    np.testing.assert_array_equal(a.node_lat, b.node_lat)
    assert a.components == b.components


def test_second_load_hits_and_equals_the_parse(network_file, tmp_path):
    spec = NetworkSpec(path=network_file, cache_dir=tmp_path / "cache")
    first = load_walk_network(spec)
    assert first.cache == "miss"
    assert first.cache_path is not None and first.cache_path.exists()
    second = load_walk_network(spec)
    assert second.cache == "hit"
    assert second.cache_path == first.cache_path
    assert_same_network(first, second)
    # and both equal a load that never touches the cache
    assert_same_network(load_walk_network(spec, use_cache=False), second)
    # nothing half-written is left beside the cache files (arrays and the ways table)
    stem = first.cache_path.name.removesuffix(".npz")
    assert sorted(p.name for p in (tmp_path / "cache").iterdir()) == [
        f"{stem}.npz",
        f"{stem}.ways.parquet",
    ]
    assert first.ways.equals(second.ways) and len(first.ways) > 0


def test_changed_input_misses(network_file, tmp_path):
    spec = NetworkSpec(path=network_file, cache_dir=tmp_path / "cache")
    before = load_walk_network(spec)
    text = bz2.decompress(network_file.read_bytes()).decode("utf-8")
    # drop the last way: a different network
    cut = text.rindex("<way ")
    network_file.write_bytes(bz2.compress((text[:cut] + "</osm>\n").encode("utf-8")))
    after = load_walk_network(spec)
    assert after.cache == "miss"
    assert after.cache_path != before.cache_path
    assert after.network.n_edges < before.network.n_edges


def test_changed_settings_miss_and_cache_dir_does_not(network_file, tmp_path):
    spec = NetworkSpec(path=network_file, cache_dir=tmp_path / "cache")
    path = network_cache_path(spec)
    assert (
        network_cache_path(dataclasses.replace(spec, cache_dir=tmp_path / "other")).name
        == path.name
    )
    clipped = dataclasses.replace(spec, bbox=(119.9, 32.43, 119.95, 32.48))
    assert network_cache_path(clipped) != path

    osmnx = network_cache_path(dataclasses.replace(spec, walk_rules="osmnx"))
    assert osmnx != path

    # every field of the spec counts, including fields added later
    @dataclasses.dataclass(frozen=True)
    class LaterSpec(NetworkSpec):
        later: str = "a"

    a = network_cache_path(LaterSpec(path=network_file, cache_dir=tmp_path / "cache"))
    b = network_cache_path(LaterSpec(path=network_file, cache_dir=tmp_path / "cache", later="b"))
    assert len({a, b, path, osmnx}) == 4


def test_changed_override_file_misses(network_file, tmp_path):
    overrides = tmp_path / "overrides.csv"
    overrides.write_text("way_id,action,note\n1,exclude,\n", encoding="utf-8")
    spec = NetworkSpec(path=network_file, cache_dir=tmp_path / "cache", overrides=overrides)
    before = network_cache_path(spec)
    overrides.write_text("way_id,action,note\n2,exclude,\n", encoding="utf-8")
    assert network_cache_path(spec) != before


@pytest.mark.parametrize("damage", ["garbage", "truncated", "missing_array", "no_ways"])
def test_unreadable_cache_falls_back_to_parsing(network_file, tmp_path, caplog, damage):
    spec = NetworkSpec(path=network_file, cache_dir=tmp_path / "cache")
    good = load_walk_network(spec)
    raw = good.cache_path.read_bytes()
    if damage == "garbage":
        good.cache_path.write_bytes(b"not a cache at all")
    elif damage == "truncated":
        good.cache_path.write_bytes(raw[: len(raw) // 2])
    elif damage == "no_ways":
        good.cache_path.with_name(
            good.cache_path.name.removesuffix(".npz") + ".ways.parquet"
        ).unlink()
    else:
        with np.load(good.cache_path) as data:
            arrays = {k: data[k] for k in data.files if k != "face_ring_xy"}
        with good.cache_path.open("wb") as handle:
            np.savez(handle, **arrays)
    with caplog.at_level(logging.WARNING, logger="lifecircle.geo.cache"):
        again = load_walk_network(spec)
    assert again.cache == "miss"
    assert "cannot be read" in caplog.text
    assert_same_network(good, again)
    # the rewritten cache is good again
    assert load_walk_network(spec).cache == "hit"


def test_online_sources_are_not_cached_here():
    assert network_cache_path(NetworkSpec(place="示范区")) is None
