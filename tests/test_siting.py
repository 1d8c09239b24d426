"""Tests of coverage/siting.py and coverage/siting_solvers.py.

Optima are checked against brute force over every subset of tiny random instances.
"""

from __future__ import annotations

import itertools

import geopandas as gpd
import numpy as np
import pandas as pd
import pyproj
import pytest
import scipy.sparse as sp
import shapely
from hypothesis import given, settings
from hypothesis import strategies as st
from scipy.optimize import linprog

from lifecircle.coverage.access import township_access, township_access_2sfca
from lifecircle.coverage.reach import nearest_point_distances, nearest_sources
from lifecircle.coverage.siting import (
    SITE_COLUMNS,
    candidate_nodes,
    propose_sites,
)
from lifecircle.coverage.siting_solvers import (
    lazy_greedy,
    solve_max_cover,
    solve_min_sites,
    two_step_fca,
)
from lifecircle.coverage.walk import KindWalk, WalkModel
from lifecircle.errors import InputError
from lifecircle.geo.network import WalkNetwork, snap_points

SEEDS = range(8)


def random_instance(
    seed: int, n: int = 8, m: int = 24, density: float = 0.22, integer: bool = True
) -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(seed)
    cover = rng.random((n, m)) < density
    weights = rng.integers(0, 10, m).astype(float) if integer else rng.random(m) * 10
    return cover, weights


def covered_value(cover: np.ndarray, weights: np.ndarray, subset) -> float:
    subset = list(subset)
    if not subset:
        return 0.0
    return float(weights[cover[subset].any(axis=0)].sum())


def feasible(subset, groups) -> bool:
    return all(set(subset) & set(g) for g in groups)


def brute_max(cover, weights, p, groups=()) -> float:
    n = cover.shape[0]
    best = -1.0
    for size in range(min(p, n) + 1):
        for subset in itertools.combinations(range(n), size):
            if feasible(subset, groups):
                best = max(best, covered_value(cover, weights, subset))
    return best


def brute_min_sites(cover, weights, target, groups=()) -> int:
    n = cover.shape[0]
    for size in range(n + 1):
        for subset in itertools.combinations(range(n), size):
            if feasible(subset, groups) and covered_value(cover, weights, subset) >= target - 1e-9:
                return size
    raise AssertionError("target unreachable in brute force")


def naive_greedy(cover, weights, p) -> list[int]:
    """Greedy without laziness, ties to the lowest index; stops when nothing is gained."""
    chosen: list[int] = []
    left = weights.copy()
    for _ in range(p):
        gains = cover.astype(float) @ left
        gains[chosen] = -1
        best = int(np.argmax(gains))
        if gains[best] <= 0:
            break
        chosen.append(best)
        left[cover[best]] = 0
    return chosen


# ---------------------------------------------------------------- maximal covering


@pytest.mark.parametrize("seed", SEEDS)
@pytest.mark.parametrize("p", [1, 2, 3])
def test_max_cover_milp_matches_brute_force(seed: int, p: int) -> None:
    cover, weights = random_instance(seed)
    best = brute_max(cover, weights, p)
    solution = solve_max_cover(sp.csr_matrix(cover), weights, p, method="milp")
    assert solution.status == "optimal"
    assert solution.method == "milp"
    assert solution.objective == pytest.approx(best)
    assert covered_value(cover, weights, solution.selected) == pytest.approx(best)
    assert len(solution.selected) <= p
    assert solution.bound >= best - 1e-6
    assert solution.gap == pytest.approx(0.0, abs=1e-5)


@pytest.mark.parametrize("seed", SEEDS)
@pytest.mark.parametrize("p", [2, 4])
def test_greedy_never_beats_exact_and_bounds_the_optimum(seed: int, p: int) -> None:
    cover, weights = random_instance(seed, integer=False)
    best = brute_max(cover, weights, p)
    greedy = lazy_greedy(sp.csr_matrix(cover), weights, p)
    exact = solve_max_cover(sp.csr_matrix(cover), weights, p, method="milp")
    assert greedy.method == "greedy"
    assert greedy.objective <= exact.objective + 1e-6
    assert exact.objective == pytest.approx(best, rel=1e-9)
    assert greedy.bound >= best - 1e-6  # the greedy's bound is a true upper bound
    assert greedy.objective >= (1 - 1 / np.e) * best - 1e-6
    assert greedy.gap >= 0


@pytest.mark.parametrize("seed", SEEDS)
def test_lazy_greedy_equals_plain_greedy(seed: int) -> None:
    cover, weights = random_instance(seed, n=12, m=40)
    solution = lazy_greedy(sp.csr_matrix(cover), weights, 5)
    assert solution.selected.tolist() == naive_greedy(cover, weights, 5)


@pytest.mark.parametrize("seed", SEEDS)
def test_ranking_is_greedy_order_with_gains_summing_to_objective(seed: int) -> None:
    cover, weights = random_instance(seed, n=10, m=30)
    solution = solve_max_cover(sp.csr_matrix(cover), weights, 4, method="milp")
    gains = solution.gains
    assert gains.sum() == pytest.approx(solution.objective)
    assert np.all(np.diff(gains) <= 1e-9)  # greedy order of the selected set: non-increasing
    # Each gain is what the site adds to those ranked before it.
    for k in range(len(solution.selected)):
        before = covered_value(cover, weights, solution.selected[:k])
        after = covered_value(cover, weights, solution.selected[: k + 1])
        assert gains[k] == pytest.approx(after - before)


def test_hand_checked_max_cover() -> None:
    # Cells 0 and 3 are heavy; the middle site reaches only light cells.
    cover = sp.csr_matrix([[1, 1, 0, 0], [0, 1, 1, 0], [0, 0, 1, 1]], dtype=bool)
    solution = solve_max_cover(cover, [5, 1, 1, 5], 2)
    assert solution.selected.tolist() == [0, 2]
    assert solution.gains.tolist() == [6.0, 6.0]
    assert solution.objective == 12.0


def test_existing_coverage_contributes_nothing() -> None:
    # Cell 0 is already covered (weight 0): site 0 only adds cell 1.
    cover = sp.csr_matrix([[1, 1, 0], [0, 0, 1]], dtype=bool)
    solution = solve_max_cover(cover, [0.0, 2.0, 3.0], 1)
    assert solution.selected.tolist() == [1]
    assert solution.objective == 3.0


def test_sites_that_add_nothing_are_not_proposed() -> None:
    cover = sp.csr_matrix([[1, 0], [1, 0], [0, 0]], dtype=bool)
    for method in ("milp", "greedy"):
        solution = solve_max_cover(cover, [4.0, 7.0], 3, method=method)
        assert solution.selected.tolist() == [0]
        assert solution.objective == 4.0


def test_nothing_to_cover_gives_an_empty_solution() -> None:
    cover = sp.csr_matrix([[1, 0], [0, 1]], dtype=bool)
    solution = solve_max_cover(cover, [0.0, 0.0], 2)
    assert solution.selected.size == 0
    assert solution.objective == 0.0
    assert solution.status == "empty"
    assert solution.gap == 0.0


def test_auto_uses_greedy_beyond_the_nonzero_limit() -> None:
    cover, weights = random_instance(3)
    best = brute_max(cover, weights, 2)
    solution = solve_max_cover(sp.csr_matrix(cover), weights, 2, max_milp_nonzeros=5)
    assert solution.method == "greedy"
    assert solution.status == "greedy"
    assert solution.objective <= best + 1e-9


def test_interchange_escapes_the_greedy_trap() -> None:
    # Cells a, b, c, d (5 each) and e (1). M = {b, c, e} is greedy's first pick (11), then
    # L adds only a (16); the optimum is L = {a, b} with R = {c, d} (20).
    cover = sp.csr_matrix([[0, 1, 1, 0, 1], [1, 1, 0, 0, 0], [0, 0, 1, 1, 0]], dtype=bool)
    weights = [5.0, 5.0, 5.0, 5.0, 1.0]
    assert lazy_greedy(cover, weights, 2).objective == 16.0
    improved = solve_max_cover(cover, weights, 2, method="greedy")
    assert improved.objective == 20.0
    assert sorted(improved.selected.tolist()) == [1, 2]
    assert improved.bound >= 20.0


@pytest.mark.parametrize("seed", SEEDS)
def test_greedy_method_between_plain_greedy_and_optimum(seed: int) -> None:
    cover, weights = random_instance(seed, n=10, m=30)
    best = brute_max(cover, weights, 3)
    plain = lazy_greedy(sp.csr_matrix(cover), weights, 3)
    improved = solve_max_cover(sp.csr_matrix(cover), weights, 3, method="greedy")
    assert plain.objective - 1e-9 <= improved.objective <= best + 1e-9
    assert covered_value(cover, weights, improved.selected) == pytest.approx(improved.objective)


@pytest.mark.parametrize("seed", SEEDS)
def test_lp_and_lagrangian_bounds_are_valid(seed: int) -> None:
    cover, weights = random_instance(seed, n=9, m=30, density=0.3, integer=False)
    best = brute_max(cover, weights, 3)
    with_lp = solve_max_cover(sp.csr_matrix(cover), weights, 3, method="greedy", lp_bound=True)
    without = solve_max_cover(sp.csr_matrix(cover), weights, 3, method="greedy")
    plain = lazy_greedy(sp.csr_matrix(cover), weights, 3)
    assert with_lp.selected.tolist() == without.selected.tolist()
    assert with_lp.bound >= best - 1e-6
    assert without.bound >= best - 1e-6  # the Lagrangian bound is valid
    assert with_lp.bound <= without.bound + 1e-9
    assert without.bound <= plain.bound + 1e-9  # and never weaker than the greedy's own


# ---------------------------------------------------------------- forced presence


@pytest.mark.parametrize("seed", SEEDS)
def test_forced_groups_get_a_site_and_stay_optimal(seed: int) -> None:
    cover, weights = random_instance(seed)
    groups = [[0, 1, 2], [6, 7]]
    best = brute_max(cover, weights, 3, groups)
    for method in ("milp", "greedy"):
        solution = solve_max_cover(
            sp.csr_matrix(cover), weights, 3, forced_groups=groups, method=method
        )
        chosen = set(solution.selected.tolist())
        assert all(chosen & set(g) for g in groups)
        assert solution.forced.sum() == len(groups)
        for site, is_forced in zip(solution.selected, solution.forced, strict=True):
            if is_forced:
                assert any(site in g for g in groups)
        assert solution.bound >= best - 1e-6
        if method == "milp":
            assert solution.objective == pytest.approx(best)
        else:
            assert solution.objective <= best + 1e-9


def test_forced_group_takes_its_best_member_even_if_useless_elsewhere() -> None:
    # Group {2, 3} must get a site; 3 covers more than 2 there.
    cover = sp.csr_matrix([[1, 1, 0, 0], [0, 1, 1, 0], [0, 0, 0, 1], [0, 0, 1, 1]], dtype=bool)
    solution = solve_max_cover(cover, [5, 5, 1, 1], 2, forced_groups=[[2, 3]])
    assert set(solution.selected.tolist()) == {0, 3}
    assert solution.forced[solution.selected.tolist().index(3)]


def test_forced_site_kept_even_when_it_adds_nothing() -> None:
    cover = sp.csr_matrix([[1, 1], [0, 0]], dtype=bool)
    solution = solve_max_cover(cover, [1.0, 1.0], 2, forced_groups=[[1]])
    assert 1 in solution.selected.tolist()


def test_more_forced_groups_than_sites_is_an_error() -> None:
    cover = sp.csr_matrix(np.eye(3, dtype=bool))
    with pytest.raises(InputError, match="raise p"):
        solve_max_cover(cover, [1, 1, 1], 1, forced_groups=[[0], [1]])


def test_empty_forced_group_is_an_error() -> None:
    cover = sp.csr_matrix(np.eye(3, dtype=bool))
    with pytest.raises(InputError, match="no candidate"):
        solve_max_cover(cover, [1, 1, 1], 2, forced_groups=[[]])


# ---------------------------------------------------------------- minimum sites


@pytest.mark.parametrize("seed", SEEDS)
@pytest.mark.parametrize("share", [0.5, 0.8])
def test_min_sites_reaches_target_and_is_minimal(seed: int, share: float) -> None:
    cover, weights = random_instance(seed)
    reachable = covered_value(cover, weights, range(cover.shape[0]))
    target = share * reachable
    fewest = brute_min_sites(cover, weights, target)
    exact = solve_min_sites(sp.csr_matrix(cover), weights, target, method="milp")
    assert exact.status == "optimal"
    assert exact.objective == fewest == len(exact.selected)
    assert covered_value(cover, weights, exact.selected) >= target - 1e-9
    assert exact.covered_weight >= target - 1e-9
    assert exact.bound <= fewest
    greedy = solve_min_sites(sp.csr_matrix(cover), weights, target, method="greedy")
    assert greedy.objective >= fewest
    assert greedy.bound <= fewest
    assert covered_value(cover, weights, greedy.selected) >= target - 1e-9


@pytest.mark.parametrize("seed", SEEDS)
def test_min_sites_with_forced_groups(seed: int) -> None:
    cover, weights = random_instance(seed)
    groups = [[4, 5]]
    target = 0.6 * covered_value(cover, weights, range(cover.shape[0]))
    fewest = brute_min_sites(cover, weights, target, groups)
    solution = solve_min_sites(sp.csr_matrix(cover), weights, target, forced_groups=groups)
    assert solution.objective == fewest
    assert set(solution.selected.tolist()) & {4, 5}


def test_min_sites_unreachable_target_covers_what_it_can() -> None:
    cover = sp.csr_matrix([[1, 0, 0], [0, 1, 0]], dtype=bool)  # cell 2 reachable by none
    solution = solve_min_sites(cover, [1.0, 2.0, 10.0], 12.0)
    assert solution.status == "target_unreachable"
    assert sorted(solution.selected.tolist()) == [0, 1]
    assert solution.covered_weight == 3.0


def test_min_sites_zero_target_needs_no_site() -> None:
    cover = sp.csr_matrix([[1, 0], [0, 1]], dtype=bool)
    solution = solve_min_sites(cover, [1.0, 2.0], 0.0)
    assert solution.selected.size == 0
    assert solution.objective == 0.0


# ---------------------------------------------------------------- capacity


def capacitated_value(cover: np.ndarray, weights: np.ndarray, subset, capacity: float) -> float:
    """LP of the assignment for a fixed set of open sites."""
    subset = list(subset)
    pairs = [(i, j) for i in subset for j in range(cover.shape[1]) if cover[i, j]]
    if not pairs:
        return 0.0
    c = -np.array([weights[j] for _, j in pairs])
    rows, rhs = [], []
    for j in range(cover.shape[1]):
        rows.append([1.0 if jj == j else 0.0 for _, jj in pairs])
        rhs.append(1.0)
    for i in subset:
        rows.append([weights[jj] if ii == i else 0.0 for ii, jj in pairs])
        rhs.append(capacity)
    result = linprog(c, A_ub=np.array(rows), b_ub=np.array(rhs), bounds=(0, 1), method="highs")
    return float(-result.fun)


def test_capacity_hand_checked() -> None:
    # One site reaches 100 people but serves 30; the other reaches 20.
    cover = sp.csr_matrix([[1, 1, 0], [0, 0, 1]], dtype=bool)
    solution = solve_max_cover(cover, [60.0, 40.0, 20.0], 1, capacity=30.0)
    assert solution.selected.tolist() == [0]
    assert solution.objective == pytest.approx(30.0)
    both = solve_max_cover(cover, [60.0, 40.0, 20.0], 2, capacity=30.0)
    assert both.objective == pytest.approx(50.0)
    greedy = lazy_greedy(cover, [60.0, 40.0, 20.0], 2, capacity=30.0)
    assert greedy.objective == pytest.approx(50.0)


@pytest.mark.parametrize("seed", range(4))
def test_capacity_milp_matches_brute_force(seed: int) -> None:
    cover, weights = random_instance(seed, n=6, m=14, density=0.35)
    capacity = 12.0
    best = max(
        capacitated_value(cover, weights, s, capacity) for s in itertools.combinations(range(6), 2)
    )
    solution = solve_max_cover(sp.csr_matrix(cover), weights, 2, capacity=capacity)
    assert solution.objective == pytest.approx(best, abs=1e-6)
    assert solution.gains.sum() == pytest.approx(best, abs=1e-6)
    greedy = lazy_greedy(sp.csr_matrix(cover), weights, 2, capacity=capacity)
    assert greedy.objective <= best + 1e-6
    assert greedy.bound >= best - 1e-6


# ---------------------------------------------------------------- determinism


@pytest.mark.parametrize("method", ["milp", "greedy"])
def test_same_result_twice_and_under_demand_permutation(method: str) -> None:
    rng = np.random.default_rng(42)
    n, m = 30, 400
    cover = rng.random((n, m)) < 0.05
    weights = np.round(rng.random(m) * 20, 3)
    cover[:, :40] = cover[:, 40:80]  # duplicated columns and tied gains
    weights[:40] = weights[40:80]
    first = solve_max_cover(sp.csr_matrix(cover), weights, 6, method=method)
    second = solve_max_cover(sp.csr_matrix(cover), weights, 6, method=method)
    assert first.selected.tolist() == second.selected.tolist()
    order = rng.permutation(m)
    permuted = solve_max_cover(sp.csr_matrix(cover[:, order]), weights[order], 6, method=method)
    assert permuted.selected.tolist() == first.selected.tolist()
    assert permuted.objective == pytest.approx(first.objective, rel=1e-12)


def test_ties_go_to_the_lowest_candidate_index() -> None:
    cover = sp.csr_matrix([[0, 1], [1, 0], [1, 0]], dtype=bool)
    solution = lazy_greedy(cover, [3.0, 3.0], 1)
    assert solution.selected.tolist() == [0]
    solution = lazy_greedy(cover[1:], [3.0, 3.0], 1)
    assert solution.selected.tolist() == [0]


# ---------------------------------------------------------------- input checks


def test_bad_inputs_are_named() -> None:
    cover = sp.csr_matrix(np.eye(2, dtype=bool))
    with pytest.raises(InputError, match="one weight per demand cell"):
        solve_max_cover(cover, [1.0], 1)
    with pytest.raises(InputError, match=r"weights\[1\]"):
        solve_max_cover(cover, [1.0, -2.0], 1)
    with pytest.raises(InputError, match="method must be one of"):
        solve_max_cover(cover, [1.0, 2.0], 1, method="cplex")
    with pytest.raises(InputError, match="whole number"):
        solve_max_cover(cover, [1.0, 2.0], -1)
    with pytest.raises(InputError, match=r"p .* or target_weight"):
        lazy_greedy(cover, [1.0, 2.0])


# ---------------------------------------------------------------- 2SFCA


def test_two_step_fca_by_hand() -> None:
    # Facility A (10 beds) reaches cells 0, 1 (pop 10 + 10): R_A = 0.5.
    # Facility B (4 beds) reaches cells 1, 2 (pop 10 + 30): R_B = 0.1.
    distance = np.array([[1.0, 2.0, np.inf], [np.inf, 1.0, 1.0]])
    access = two_step_fca([10, 4], [10, 10, 30], distance, 2.0)
    assert access.tolist() == pytest.approx([0.5, 0.6, 0.1])
    # Total supply is conserved: sum_j A_j P_j = sum_i S_i when every catchment has people.
    assert float(access @ np.array([10, 10, 30])) == pytest.approx(14.0)
    # A tighter threshold drops the (A, cell 1) pair: R_A = 1.0, cell 1 gets only R_B.
    tight = two_step_fca([10, 4], [10, 10, 30], distance, 1.5)
    assert tight.tolist() == pytest.approx([1.0, 0.1, 0.1])


def test_two_step_fca_sparse_matches_dense_and_keeps_explicit_zeros() -> None:
    dense = np.array([[0.0, 2.0, np.inf], [np.inf, 1.0, 1.0]])
    rows, cols = np.nonzero(np.isfinite(dense))
    sparse = sp.coo_matrix((dense[rows, cols], (rows, cols)), shape=dense.shape)
    assert sparse.nnz == 4  # the zero distance is stored explicitly
    expected = two_step_fca([10, 4], [10, 10, 30], dense, 2.0)
    assert two_step_fca([10, 4], [10, 10, 30], sparse, 2.0).tolist() == pytest.approx(
        expected.tolist()
    )
    assert expected.tolist() == pytest.approx([0.5, 0.6, 0.1])


def test_two_step_fca_empty_catchment_and_shape_check() -> None:
    access = two_step_fca([5.0], [0.0, 0.0], np.array([[1.0, 1.0]]), 2.0)
    assert access.tolist() == [0.0, 0.0]
    with pytest.raises(InputError, match="facilities × demand"):
        two_step_fca([1.0, 2.0], [1.0], np.ones((1, 2)), 1.0)


# ---------------------------------------------------------------- the geographic wrapper

X0, Y0 = 500_000.0, 3_590_000.0  # UTM 50N, near 32.4 N 117 E
WALK = WalkModel(
    speed_mps=1.0,
    max_snap_m=200.0,
    by_kind={"town": KindWalk(speed_mps=1.2, thresholds_min=(10.0,))},
)
TO_WGS = pyproj.Transformer.from_crs("EPSG:32650", "EPSG:4326", always_xy=True)


def grid_network(nx: int = 13, ny: int = 9, step_m: float = 100.0) -> WalkNetwork:
    ii, jj = np.meshgrid(np.arange(nx), np.arange(ny), indexing="ij")
    x = X0 + ii.ravel() * step_m
    y = Y0 + jj.ravel() * step_m
    pos = ii * ny + jj
    u = np.concatenate([pos[:-1, :].ravel(), pos[:, :-1].ravel()])
    v = np.concatenate([pos[1:, :].ravel(), pos[:, 1:].ravel()])
    return WalkNetwork.from_arrays(x, y, u, v, crs="EPSG:32650")


def lonlat_box(x1: float, y1: float, x2: float, y2: float) -> shapely.Polygon:
    xs = np.array([x1, x2, x2, x1]) + X0
    ys = np.array([y1, y1, y2, y2]) + Y0
    lon, lat = TO_WGS.transform(xs, ys)
    return shapely.Polygon(np.column_stack([lon, lat]))


def to_points(x_m: np.ndarray, y_m: np.ndarray) -> np.ndarray:
    lon, lat = TO_WGS.transform(x_m, y_m)
    return shapely.points(lon, lat)


def times_to(network: WalkNetwork, fac_x, fac_y, demand: gpd.GeoDataFrame) -> np.ndarray:
    """Minutes from each cell to the nearest of the given points (the coverage engine)."""
    fac = snap_points(network, np.asarray(fac_x), np.asarray(fac_y), max_snap_m=200.0)
    lon = shapely.get_x(demand.geometry.to_numpy())
    lat = shapely.get_y(demand.geometry.to_numpy())
    cells = snap_points(network, *network.project_lonlat(lon, lat), max_snap_m=200.0)
    reach = nearest_sources(network, fac, limit_m=5000.0)
    dist, _ = nearest_point_distances(network, reach, fac, cells)
    return WALK.time_min(dist, demand["kind"].to_numpy(dtype=object))


@pytest.fixture(scope="module")
def district() -> dict:
    network = grid_network()
    rng = np.random.default_rng(7)
    cx, cy = np.meshgrid(np.arange(12) * 100.0 + 50, np.arange(8) * 100.0 + 50, indexing="ij")
    x = X0 + cx.ravel() + rng.uniform(-30, 30, cx.size)
    y = Y0 + cy.ravel() + rng.uniform(-30, 30, cy.size)
    pop = rng.integers(0, 60, x.size).astype(float)
    pop60 = np.floor(pop * rng.uniform(0.1, 0.4, x.size))
    code = np.where(x - X0 < 600, "329901001", "329901100")
    kind = np.where(code == "329901001", "street", "town")
    townships = gpd.GeoDataFrame(
        {
            "code": ["329901001", "329901100"],
            "name": ["东街道", "西镇"],
            "kind": ["street", "town"],
            "geometry": [lonlat_box(-50, -50, 600, 850), lonlat_box(600, -50, 1250, 850)],
        },
        crs="EPSG:4326",
    )
    facilities = gpd.GeoDataFrame(
        {
            "facility_id": ["meal:2"],
            "category": ["meal_point"],
            "township_code": ["329901001"],
            "beds": [np.nan],
            "geometry": to_points(np.array([X0 + 120.0]), np.array([Y0 + 400.0])),
        },
        crs="EPSG:4326",
    )
    demand = gpd.GeoDataFrame(
        {
            "cell_id": np.arange(x.size),
            "pop": pop,
            "pop60": pop60,
            "township_code": code,
            "kind": kind,
            "geometry": to_points(x, y),
        },
        crs="EPSG:4326",
    )
    demand["time_min__meal_point"] = times_to(network, [X0 + 120.0], [Y0 + 400.0], demand)
    return {"network": network, "demand": demand, "facilities": facilities, "townships": townships}


def covered_after_independently(
    district: dict, sites: gpd.GeoDataFrame, threshold_min: float, population: str = "pop60"
) -> float:
    network, demand = district["network"], district["demand"]
    sx, sy = network.project_lonlat(
        shapely.get_x(sites.geometry.to_numpy()), shapely.get_y(sites.geometry.to_numpy())
    )
    minutes = times_to(
        network, np.concatenate([[X0 + 120.0], sx]), np.concatenate([[Y0 + 400.0], sy]), demand
    )
    return float(demand[population].to_numpy()[minutes <= threshold_min].sum())


def test_propose_sites_frame_and_independent_coverage(district: dict) -> None:
    result = propose_sites(
        district["network"],
        district["demand"],
        district["facilities"],
        district["townships"],
        category="meal_point",
        threshold_min=3.0,
        walk=WALK,
        p=3,
        min_spacing_m=150.0,
    )
    sites = result.sites
    assert list(sites.columns[: len(SITE_COLUMNS)]) == SITE_COLUMNS
    assert sites.crs.to_epsg() == 4326
    assert sites["rank"].tolist() == [1, 2, 3]
    assert (sites["category"] == "meal_point").all()
    assert result.method == "milp" and result.status == "optimal"
    assert result.gap == pytest.approx(0.0, abs=1e-5)
    assert np.all(np.diff(sites["marginal_gain"].to_numpy()) <= 1e-9)
    assert sites["marginal_gain"].sum() == pytest.approx(result.objective)
    assert sites["newly_covered_pop60"].sum() == pytest.approx(result.objective)
    before = float(
        district["demand"]["pop60"][district["demand"]["time_min__meal_point"] <= 3.0].sum()
    )
    assert result.covered_before == pytest.approx(before)
    # The coverage engine, run from scratch with the new sites added, agrees.
    assert covered_after_independently(district, sites, 3.0) == pytest.approx(result.covered_after)
    assert result.covered_after == pytest.approx(result.covered_before + result.objective)
    assert result.total == pytest.approx(district["demand"]["pop60"].sum())
    # Sites sit in the township that contains them.
    for point, code in zip(sites.geometry, sites["township_code"], strict=True):
        polygon = district["townships"].set_index("code").geometry[code]
        assert polygon.intersects(point)
    assert result.candidates_count > 3


def test_candidates_respect_spacing(district: dict) -> None:
    network = district["network"]
    rng = np.random.default_rng(1)
    cells_x = X0 + rng.uniform(0, 1200, 200)
    cells_y = Y0 + rng.uniform(0, 800, 200)
    weight = rng.integers(0, 5, 200).astype(float)
    nodes = candidate_nodes(network, cells_x, cells_y, weight, near_m=250.0, min_spacing_m=220.0)
    xy = np.column_stack([network.x[nodes], network.y[nodes]])
    gaps = np.hypot(*(xy[:, None, :] - xy[None, :, :]).transpose(2, 0, 1))
    np.fill_diagonal(gaps, np.inf)
    assert gaps.min() >= 220.0
    again = candidate_nodes(network, cells_x, cells_y, weight, near_m=250.0, min_spacing_m=220.0)
    assert nodes.tolist() == again.tolist()
    # The first candidate has the most uncovered weight within near_m.
    near = [
        weight[np.hypot(cells_x - network.x[k], cells_y - network.y[k]) <= 250.0].sum()
        for k in range(network.n_nodes)
    ]
    assert near[nodes[0]] == max(near)
    # Without spacing: every node with uncovered weight near it, most weight first, ties by node.
    near = np.array(near)
    expected = sorted(np.flatnonzero(near > 0), key=lambda k: (-near[k], k))
    unthinned = candidate_nodes(network, cells_x, cells_y, weight, near_m=250.0, min_spacing_m=0)
    assert unthinned.tolist() == expected


def test_forced_presence_lands_inside_the_township(district: dict) -> None:
    result = propose_sites(
        district["network"],
        district["demand"],
        district["facilities"],
        district["townships"],
        category="meal_point",
        threshold_min=3.0,
        walk=WALK,
        p=2,
        force_presence="all",
    )
    # Only 西镇 (329901100) lacks a meal point; 东街道 has one.
    forced = result.sites[result.sites["forced"]]
    assert forced["township_code"].tolist() == ["329901100"]
    town = district["townships"].set_index("code").geometry["329901100"]
    assert town.intersects(forced.geometry.iloc[0])
    only_forced = propose_sites(
        district["network"],
        district["demand"],
        district["facilities"],
        district["townships"],
        category="meal_point",
        threshold_min=3.0,
        walk=WALK,
        force_presence=["329901100"],
    )
    assert len(only_forced.sites) == 1
    assert only_forced.sites["forced"].all()


def test_exclusions_and_user_candidates(district: dict) -> None:
    # Exclude the east half: every site falls in the west.
    exclusion = gpd.GeoDataFrame(geometry=[lonlat_box(600, -100, 1300, 900)], crs="EPSG:4326")
    result = propose_sites(
        district["network"],
        district["demand"],
        district["facilities"],
        district["townships"],
        category="meal_point",
        threshold_min=3.0,
        walk=WALK,
        p=2,
        exclusions=exclusion,
    )
    assert (result.sites["township_code"] == "329901001").all()
    # A user layer of two polygons and one point: sites come from it.
    layer = gpd.GeoDataFrame(
        geometry=[
            lonlat_box(880, 380, 920, 420),
            lonlat_box(280, 80, 320, 120),
            to_points(np.array([X0 + 1100.0]), np.array([Y0 + 700.0]))[0],
        ],
        crs="EPSG:4326",
    )
    chosen = propose_sites(
        district["network"],
        district["demand"],
        district["facilities"],
        district["townships"],
        category="meal_point",
        threshold_min=3.0,
        walk=WALK,
        p=1,
        candidates=layer,
    )
    assert chosen.candidates_count == 3
    site = chosen.sites.geometry.iloc[0]
    assert any(site.distance(shapely.point_on_surface(g)) < 1e-9 for g in layer.geometry)


def test_target_share_reaches_the_target(district: dict) -> None:
    demand = district["demand"]
    before = demand["pop60"][demand["time_min__meal_point"] <= 3.0].sum() / demand["pop60"].sum()
    target = min(0.95, before + 0.4)
    result = propose_sites(
        district["network"],
        demand,
        district["facilities"],
        district["townships"],
        category="meal_point",
        threshold_min=3.0,
        walk=WALK,
        target_share=target,
    )
    assert result.share_after >= target - 1e-9
    assert result.objective == len(result.sites)
    assert result.bound <= result.objective
    assert covered_after_independently(district, result.sites, 3.0) == pytest.approx(
        result.covered_after
    )


def test_wrapper_is_deterministic(district: dict) -> None:
    kwargs = {"category": "meal_point", "threshold_min": 3.0, "walk": WALK, "p": 3}
    a = propose_sites(
        district["network"],
        district["demand"],
        district["facilities"],
        district["townships"],
        **kwargs,
    )
    shuffled = district["demand"].sample(frac=1.0, random_state=3)
    b = propose_sites(
        district["network"], shuffled, district["facilities"], district["townships"], **kwargs
    )
    assert a.sites.geometry.to_wkt().tolist() == b.sites.geometry.to_wkt().tolist()
    assert a.objective == pytest.approx(b.objective)


def test_wrapper_input_errors(district: dict) -> None:
    args = (district["network"], district["demand"], district["facilities"], district["townships"])
    with pytest.raises(InputError, match="time_min__columbarium"):
        propose_sites(*args, category="columbarium", threshold_min=3.0, walk=WALK, p=1)
    with pytest.raises(InputError, match="needs p"):
        propose_sites(*args, category="meal_point", threshold_min=3.0, walk=WALK)
    with pytest.raises(InputError, match=r"0\.9 for 90%"):
        propose_sites(*args, category="meal_point", threshold_min=3.0, walk=WALK, target_share=90)
    with pytest.raises(InputError, match="not in the township layer"):
        propose_sites(
            *args,
            category="meal_point",
            threshold_min=3.0,
            walk=WALK,
            p=1,
            force_presence=["329901999"],
        )
    with pytest.raises(InputError, match="force_presence must be one of"):
        propose_sites(
            *args,
            category="meal_point",
            threshold_min=3.0,
            walk=WALK,
            p=1,
            force_presence="village",
        )


def test_township_access_2sfca_by_hand(district: dict) -> None:
    network, demand = district["network"], district["demand"]
    facilities = district["facilities"].assign(beds=[30.0])
    table = township_access_2sfca(
        network,
        demand,
        facilities,
        category="meal_point",
        threshold_min=3.0,
        walk=WALK,
        supply="beds",
    )
    within = demand["time_min__meal_point"].to_numpy() <= 3.0
    pop60 = demand["pop60"].to_numpy()
    ratio = 30.0 / pop60[within].sum() * 1000  # one facility: beds per 1,000 in its catchment
    by_code = table.set_index("township_code")
    for code in ("329901001", "329901100"):
        mine = demand["township_code"].to_numpy() == code
        expected = ratio * pop60[mine & within].sum() / pop60[mine].sum()
        assert by_code.loc[code, "access_2sfca"] == pytest.approx(expected)


def test_township_access_shares_the_snapped_cells(district: dict) -> None:
    # every category's column is the single-category score (cells snapped once, not per
    # category); a category without located facilities gets no column
    network, demand = district["network"], district["demand"]
    facilities = district["facilities"].assign(beds=[30.0])
    walk = WalkModel(speed_mps=1.0, thresholds_min=(3.0,), max_snap_m=WALK.max_snap_m)
    townships = district["townships"]
    out = township_access(
        network,
        demand,
        facilities,
        townships,
        categories=["meal_point", "columbarium"],
        walk=walk,
    )
    alone = township_access_2sfca(
        network, demand, facilities, category="meal_point", threshold_min=3.0, walk=walk
    ).set_index("township_code")["access_2sfca"]
    got = out.set_index("code")["access_2sfca__meal_point"]
    assert got.gt(0).any()
    assert got.to_dict() == pytest.approx(alone.reindex(got.index).to_dict())
    assert "access_2sfca__columbarium" not in out


def test_pipeline_round_trip_with_compute_coverage(district: dict) -> None:
    """As the pipeline does: coverage, sites, then coverage again with the sites added."""
    from lifecircle.coverage.metrics import compute_coverage

    network, facilities = district["network"], district["facilities"]
    base = district["demand"].drop(columns="time_min__meal_point")
    before = compute_coverage(
        network, facilities, base, WALK, categories=["meal_point"], service_areas=False
    )
    result = propose_sites(
        network,
        before.demand,
        facilities,
        district["townships"],
        category="meal_point",
        threshold_min=3.0,
        walk=WALK,
        p=3,
    )
    proposed = gpd.GeoDataFrame(
        {
            "facility_id": [f"proposed:{r}" for r in result.sites["rank"]],
            "category": "meal_point",
            "geometry": result.sites.geometry,
        },
        crs="EPSG:4326",
    )
    both = gpd.GeoDataFrame(pd.concat([facilities, proposed], ignore_index=True), crs="EPSG:4326")
    after = compute_coverage(
        network, both, base, WALK, categories=["meal_point"], service_areas=False
    )
    minutes = after.demand["time_min__meal_point"].to_numpy()
    assert float(base["pop60"][minutes <= 3.0].sum()) == pytest.approx(result.covered_after)


def test_capacity_in_the_wrapper_caps_each_site(district: dict) -> None:
    args = (district["network"], district["demand"], district["facilities"], district["townships"])
    free = propose_sites(*args, category="meal_point", threshold_min=3.0, walk=WALK, p=2)
    capped = propose_sites(
        *args, category="meal_point", threshold_min=3.0, walk=WALK, p=2, capacity=10.0
    )
    assert (capped.sites["marginal_gain"] <= 10.0 + 1e-6).all()
    assert capped.objective == pytest.approx(min(20.0, free.objective), abs=1e-6)
    with pytest.raises(InputError, match="capacity works with p"):
        propose_sites(
            *args,
            category="meal_point",
            threshold_min=3.0,
            walk=WALK,
            target_share=0.5,
            capacity=10.0,
        )


def test_threshold_by_township_kind(district: dict) -> None:
    demand = district["demand"]
    by_kind = {"street": 3.0, "town": 5.0}
    result = propose_sites(
        district["network"],
        demand,
        district["facilities"],
        district["townships"],
        category="meal_point",
        threshold_min=by_kind,
        walk=WALK,
        p=2,
    )
    limit = np.where(demand["kind"] == "street", 3.0, 5.0)
    minutes = demand["time_min__meal_point"].to_numpy()
    assert result.covered_before == pytest.approx(demand["pop60"][minutes <= limit].sum())
    network = district["network"]
    sites = result.sites
    sx, sy = network.project_lonlat(
        shapely.get_x(sites.geometry.to_numpy()), shapely.get_y(sites.geometry.to_numpy())
    )
    after = times_to(
        network, np.concatenate([[X0 + 120.0], sx]), np.concatenate([[Y0 + 400.0], sy]), demand
    )
    assert float(demand["pop60"][after <= limit].sum()) == pytest.approx(result.covered_after)
    with pytest.raises(InputError, match="township kind"):
        propose_sites(
            district["network"],
            demand,
            district["facilities"],
            district["townships"],
            category="meal_point",
            threshold_min={"street": 3.0},
            walk=WALK,
            p=1,
        )
    with pytest.raises(InputError, match="positive minutes"):
        propose_sites(
            district["network"],
            demand,
            district["facilities"],
            district["townships"],
            category="meal_point",
            threshold_min=0,
            walk=WALK,
            p=1,
        )


@st.composite
def cover_instances(draw: st.DrawFn) -> tuple[np.ndarray, np.ndarray, int]:
    n = draw(st.integers(1, 6))
    m = draw(st.integers(1, 10))
    cells = draw(st.lists(st.booleans(), min_size=n * m, max_size=n * m))
    weights = draw(st.lists(st.integers(0, 20), min_size=m, max_size=m))
    p = draw(st.integers(0, n))
    return np.array(cells).reshape(n, m), np.array(weights, dtype=float), p


@settings(max_examples=40, deadline=None)
@given(cover_instances())
def test_exact_equals_brute_force_and_greedy_is_bounded(instance) -> None:
    cover, weights, p = instance
    best = brute_max(cover, weights, p)
    exact = solve_max_cover(sp.csr_matrix(cover), weights, p, method="milp")
    greedy = solve_max_cover(sp.csr_matrix(cover), weights, p, method="greedy")
    assert exact.objective == pytest.approx(best)
    assert greedy.objective <= exact.objective + 1e-9
    assert greedy.bound >= best - 1e-6
    assert len(exact.selected) <= p and len(greedy.selected) <= p


def test_township_without_candidates_is_reported_not_fatal(district: dict) -> None:
    exclusion = gpd.GeoDataFrame(geometry=[lonlat_box(600, -100, 1300, 900)], crs="EPSG:4326")
    result = propose_sites(
        district["network"],
        district["demand"],
        district["facilities"],
        district["townships"],
        category="meal_point",
        threshold_min=3.0,
        walk=WALK,
        p=2,
        force_presence="town",
        exclusions=exclusion,
    )
    assert result.unfilled_townships == ["329901100"]
    assert not result.sites["forced"].any()
    assert len(result.sites) == 2
