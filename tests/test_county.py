"""The county generator, and the pipeline's distances at county size against networkx.

A medium county (scale 0.1: about 35,000 simplified nodes) stands in for the 330,000-node one
of ``benchmarks/pipeline.py``, which checks a sample of its cells the same way.
"""

from __future__ import annotations

import dataclasses
import gzip
import hashlib
import re

import networkx as nx
import numpy as np
import pytest
from test_reach import assert_close_inf, split_graph

from lifecircle.coverage.metrics import compute_coverage
from lifecircle.geo.cache import load_walk_network
from lifecircle.geo.network import snap_points
from lifecircle.layers.townships import read_townships
from lifecircle.pipeline import load_inputs
from lifecircle.plan import load_plan
from tools.county import generate_county

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def medium_county(tmp_path_factory):
    folder = tmp_path_factory.mktemp("county")
    figures = generate_county(folder, seed=7, scale=0.1)
    return folder, figures


def _digests(folder) -> dict[str, str]:
    return {p.name: hashlib.sha256(p.read_bytes()).hexdigest() for p in sorted(folder.iterdir())}


def test_same_seed_same_bytes_other_seed_other_network(tmp_path):
    a = generate_county(tmp_path / "a", seed=3, scale=0.005)
    b = generate_county(tmp_path / "b", seed=3, scale=0.005)
    c = generate_county(tmp_path / "c", seed=4, scale=0.005)
    assert _digests(tmp_path / "a") == _digests(tmp_path / "b")
    assert {k: v for k, v in a.items() if k != "seconds"} == {
        k: v for k, v in b.items() if k != "seconds"
    }
    assert _digests(tmp_path / "a")["network.osm.gz"] != _digests(tmp_path / "c")["network.osm.gz"]
    assert c["lattice_nodes"] > 0


def test_medium_county_has_the_parts_of_a_county(medium_county):
    folder, figures = medium_county
    plan = load_plan(folder / "plan.toml")
    assert len(plan.layers) == 6 and len(plan.targets) > 5
    townships, rejects, _ = read_townships(plan.townships, county_code=plan.study.county_code)
    assert len(townships) == figures["townships"] and rejects.empty
    assert set(townships["kind"]) == {"street", "town"}
    osm = gzip.decompress((folder / "network.osm.gz").read_bytes()).decode("utf-8")
    assert len(re.findall(r'k="bridge" v="yes"', osm)) >= 2
    assert 'v="trunk"' in osm  # the expressway the walk filter drops
    # registers in the forms planners keep them
    meal = (folder / "meal_points.csv").read_bytes()
    with pytest.raises(UnicodeDecodeError):
        meal.decode("utf-8")
    assert meal.decode("gbk").startswith("名称,类型")
    assert (folder / "social_work_stations.csv").read_bytes().startswith(b"\xef\xbb\xbf")
    assert figures["populated_cells"] > 20_000
    assert figures["facilities"] == sum(
        figures[k]
        for k in (
            "elder_care_centre",
            "meal_point",
            "columbarium",
            "social_work_station",
            "children_home",
            "community_centre",
        )
    )


def test_sampled_cells_equal_networkx(medium_county, tmp_path):
    folder, _ = medium_county
    plan = load_plan(folder / "plan.toml")
    plan = dataclasses.replace(
        plan, network=dataclasses.replace(plan.network, cache_dir=tmp_path / "cache")
    )
    load_inputs(plan)  # parses and writes the cache
    inputs = load_inputs(plan)  # the cached network, as a second run sees it
    assert inputs.network_summary.cache == "hit"
    assert inputs.network.n_nodes > 20_000
    assert len(inputs.rejected) > 0  # the planted bad rows are reported, not dropped silently
    categories = ["meal_point", "columbarium"]
    coverage = compute_coverage(
        inputs.network,
        inputs.facilities,
        inputs.demand,
        plan.walk,
        categories=categories,
        service_areas=False,
    )

    # the reference: the network parsed again without the cache, points inserted on their
    # edges, distances by networkx
    net = load_walk_network(plan.network, use_cache=False).network
    rng = np.random.default_rng(0)
    pick = rng.choice(len(inputs.demand), 400, replace=False)
    cells = inputs.demand.iloc[pick]
    dsnaps = snap_points(
        net,
        *net.project_lonlat(cells.geometry.x, cells.geometry.y),
        max_snap_m=plan.walk.max_snap_m,
    )
    limit = coverage.search_limit_m
    for category in categories:
        fac = inputs.facilities[
            (inputs.facilities["category"] == category) & inputs.facilities.geometry.notna()
        ]
        fsnaps = snap_points(
            net,
            *net.project_lonlat(fac.geometry.x, fac.geometry.y),
            max_snap_m=plan.walk.max_snap_m,
        )
        graph = split_graph(net, [("f", fsnaps), ("d", dsnaps)])
        ref = nx.multi_source_dijkstra_path_length(
            graph, [("f", int(i)) for i in np.flatnonzero(fsnaps.ok)], cutoff=limit, weight="weight"
        )
        expected = np.array([ref.get(("d", i), np.inf) for i in range(len(pick))])
        expected[expected > limit] = np.inf
        ours = coverage.demand[f"dist_m__{category}"].to_numpy()[pick]
        assert np.isfinite(expected).sum() > 50  # enough cells in reach to mean something
        assert_close_inf(ours, expected)
