"""Tests of coverage/siting.py and coverage/siting_solvers.py.

Optima are checked against brute force over every subset of tiny random instances.
"""

from __future__ import annotations

import itertools

import numpy as np
import pytest
import scipy.sparse as sp
from scipy.optimize import linprog

from lifecircle.coverage.siting_solvers import (
    lazy_greedy,
    solve_max_cover,
    solve_min_sites,
    two_step_fca,
)
from lifecircle.errors import InputError

SEEDS = range(8)


def random_instance(seed: int, n: int = 8, m: int = 24, density: float = 0.22,
                    integer: bool = True) -> tuple[np.ndarray, np.ndarray]:
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
    for k, site in enumerate(solution.selected):
        before = covered_value(cover, weights, solution.selected[:k])
        after = covered_value(cover, weights, solution.selected[: k + 1])
        assert gains[k] == pytest.approx(after - before)
        del site


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
    solution = solve_max_cover(sp.csr_matrix(cover), weights, 2, max_milp_nonzeros=5)
    assert solution.method == "greedy"
    assert solution.status == "greedy"
    assert solution.objective <= brute_max(cover, weights, 2) + 1e-9


# ---------------------------------------------------------------- forced presence


@pytest.mark.parametrize("seed", SEEDS)
def test_forced_groups_get_a_site_and_stay_optimal(seed: int) -> None:
    cover, weights = random_instance(seed)
    groups = [[0, 1, 2], [6, 7]]
    best = brute_max(cover, weights, 3, groups)
    for method in ("milp", "greedy"):
        solution = solve_max_cover(sp.csr_matrix(cover), weights, 3, forced_groups=groups,
                                   method=method)
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
    best = max(capacitated_value(cover, weights, s, capacity)
               for s in itertools.combinations(range(6), 2))
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
        expected.tolist())
    assert expected.tolist() == pytest.approx([0.5, 0.6, 0.1])


def test_two_step_fca_empty_catchment_and_shape_check() -> None:
    access = two_step_fca([5.0], [0.0, 0.0], np.array([[1.0, 1.0]]), 2.0)
    assert access.tolist() == [0.0, 0.0]
    with pytest.raises(InputError, match="facilities × demand"):
        two_step_fca([1.0, 2.0], [1.0], np.ones((1, 2)), 1.0)
