"""Shared fixtures for the coverage-engine tests: small metric graphs and the real OSM extracts."""

from __future__ import annotations

import os
import warnings
from pathlib import Path

import networkx as nx
import numpy as np
import pytest
from hypothesis import settings

from lifecircle.data import data_path
from lifecircle.geo.network import WalkNetwork

# Property tests in CI run a fixed, derandomised set of examples (the same on every run, so a
# failure reproduces and a green run stays green); locally they explore new examples each run.
# Loaded here, before any test module builds its @settings, so those inherit the profile.
settings.register_profile("ci", derandomize=True, database=None, print_blob=True)
if os.environ.get("CI") or os.environ.get("HYPOTHESIS_PROFILE") == "ci":
    settings.load_profile("ci")

ROOT = Path(__file__).resolve().parents[1]
OSM_FIXTURES = sorted((ROOT / "tests" / "fixtures" / "osm").glob("*.osm"))
SAMPLE_NETWORK = data_path("sample", "network.osm.bz2")
SAMPLE_RIVER = data_path("sample", "river.geojson")

# A metric origin in UTM zone 50N (EPSG:32650), near 117 E 31.6 N.
X0, Y0 = 500_000.0, 3_500_000.0


def grid_network(
    rows: int,
    cols: int,
    *,
    spacing_m: float = 100.0,
    x0: float = X0,
    y0: float = Y0,
    gap_after_col: int | None = None,
    gap_m: float = 0.0,
    bridge_rows: tuple[int, ...] = (),
) -> WalkNetwork:
    """A ``rows x cols`` street grid; optionally split by a gap (a river) after a column,
    joined across it only at ``bridge_rows``."""
    ii, jj = np.meshgrid(np.arange(rows), np.arange(cols), indexing="ij")
    x = x0 + jj * spacing_m
    if gap_after_col is not None:
        x = x + np.where(jj > gap_after_col, gap_m - spacing_m, 0.0)
    y = y0 + ii * spacing_m
    idx = ii * cols + jj
    u = [idx[:, :-1].ravel(), idx[:-1, :].ravel()]
    v = [idx[:, 1:].ravel(), idx[1:, :].ravel()]
    u, v = np.concatenate(u), np.concatenate(v)
    if gap_after_col is not None:
        crossing = ((u % cols) == gap_after_col) & ((v % cols) == gap_after_col + 1)
        keep = ~crossing | np.isin(u // cols, bridge_rows)
        u, v = u[keep], v[keep]
    return WalkNetwork.from_arrays(x.ravel(), y.ravel(), u, v, crs="EPSG:32650")


def load_osm(path: Path, *, simplify: bool) -> nx.MultiDiGraph:
    """A real OSM extract as ``osmnx.graph_from_xml`` reads it (all ways both directions)."""
    import osmnx as ox

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return ox.graph_from_xml(path, bidirectional=True, retain_all=True, simplify=simplify)


@pytest.fixture(autouse=True, scope="session")
def _session_cache_home(tmp_path_factory):
    """Runs keep their network cache (lifecircle.geo.cache) in the session's temporary folder,
    not in the user's ~/.cache."""
    patch = pytest.MonkeyPatch()
    patch.setenv("XDG_CACHE_HOME", str(tmp_path_factory.mktemp("xdg-cache")))
    yield
    patch.undo()


@pytest.fixture(scope="session")
def osm_graphs() -> dict[str, nx.MultiDiGraph]:
    """Every real extract under tests/fixtures/osm, loaded once; the smallest one simplified
    (curved edges with ``geometry``), the others unsimplified (faster to load)."""
    return {
        path.stem: load_osm(path, simplify=path.stem == "shu_shanghai_baoshan")
        for path in OSM_FIXTURES
    }


@pytest.fixture(scope="session")
def sample_graph() -> nx.MultiDiGraph:
    """The sample district's walking network, read by lifecircle's own loader."""
    from lifecircle.geo.osm import NetworkSpec, load_walk_graph

    assert SAMPLE_NETWORK.exists(), f"{SAMPLE_NETWORK} is missing: run python -m tools.sample"
    return load_walk_graph(NetworkSpec(path=SAMPLE_NETWORK))


@pytest.fixture(scope="session")
def demo_run(tmp_path_factory):
    """The sample district's plan run once per session into a temporary folder (about 20 s):
    ``(RunResult, output folder)``. Pictures at full print resolution (300 dpi)."""
    from lifecircle.pipeline import run_plan
    from lifecircle.plan import SAMPLE_PLAN, load_plan

    out = tmp_path_factory.mktemp("demo_run") / "示范区"
    return run_plan(load_plan(SAMPLE_PLAN), out)
