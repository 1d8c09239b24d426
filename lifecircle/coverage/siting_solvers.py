"""Pure array core of siting: maximal covering, minimum sites, lazy greedy, 2SFCA.

Everything here works on a *coverage structure*: a sparse boolean matrix ``cover`` of shape
(candidates × demand) where ``cover[i, j]`` is true when candidate site ``i`` would serve
demand cell ``j``, and a weight per demand cell (seniors or people not yet served).  Demand
that existing facilities already cover is given weight 0 (or left out) by the caller, so it
contributes nothing.  This is spopt's ``from_cost_matrix`` habit: the geography lives in a
thin wrapper (:mod:`lifecircle.coverage.siting`).

Two exact reductions keep the models small: demand cells no candidate reaches or with zero
weight are dropped, and cells reached by exactly the same candidates are merged (their
weights summed).  Weights are held as fixed-point integers inside the solvers so that sums are
exact and independent of the order of the demand rows, which makes ties (broken by the lowest
candidate index) and therefore the results deterministic.

The exact solver is a MILP solved with HiGHS (``highspy``, one thread, fixed seed), warm-started
from the greedy solution; beyond ``max_milp_nonzeros`` the lazy greedy is used alone, and its
bound is the data-dependent submodularity bound ``f(S) + sum of the p largest marginal gains
given S`` (never weaker than needed; see :func:`lazy_greedy`).
"""

from __future__ import annotations

import contextlib
import heapq
import logging
import math
import os
import time
from collections.abc import Iterable, Sequence
from dataclasses import dataclass

import numpy as np
import scipy.sparse as sp
from numpy.typing import ArrayLike, NDArray

from lifecircle.errors import InputError

logger = logging.getLogger(__name__)

METHODS = ("auto", "milp", "greedy")
# Reduced cover nonzeros (after merging identical demand columns) up to which the MILP is
# tried: the sample district's instances have ~20,000 and solve in under a second, while
# 600 candidates x 12,000 cells (57,000 reduced) with p=20 needs about a minute.
DEFAULT_MAX_MILP_NONZEROS = 250_000
# Up to this many, the greedy's bound is tightened by the LP relaxation (interior point).
DEFAULT_MAX_LP_NONZEROS = 2_000_000
LP_BOUND_MARGIN = 1e-6
DEFAULT_TIME_LIMIT_S = 60.0
DEFAULT_MIP_REL_GAP = 1e-6


@dataclass(frozen=True)
class SitingSolution:
    """What a siting solver chose, and how good that is known to be.

    Attributes
    ----------
    selected
        Candidate indices (rows of ``cover``) in ranking order: the greedy order of the
        selected set, i.e. each site is the one adding most to those ranked before it.
    gains
        The weight each selected site adds to those ranked before it (same order).  In
        capacity mode, the weight it serves in the solution's assignment.
    forced
        True for the site that satisfies a forced group (one per group).
    objective
        Maximal covering: newly covered weight.  Minimum sites: the number of sites.
    covered_weight
        Newly covered weight of the selection (equals ``objective`` for maximal covering).
    bound
        A proven bound on the optimum: upper bound (maximal covering), lower bound (minimum
        sites).
    gap
        ``|bound - objective| / |objective|`` (HiGHS's definition; 0 when both are 0).
    method
        ``"milp"`` or ``"greedy"``.
    status
        ``"optimal"``, ``"time_limit"``, ``"greedy"``, ``"target_unreachable"`` (minimum sites
        when the candidates cannot reach the target: the sites reach as much as they can) or
        ``"empty"`` (nothing to cover).
    solve_s
        Wall time spent in the solver, seconds.
    """

    selected: NDArray[np.int64]
    gains: NDArray[np.float64]
    forced: NDArray[np.bool_]
    objective: float
    covered_weight: float
    bound: float
    gap: float
    method: str
    status: str
    solve_s: float = 0.0


# ---------------------------------------------------------------- checking and reduction


@dataclass
class _Instance:
    """A reduced instance: unique demand columns, fixed-point integer weights."""

    cover: sp.csr_matrix  # candidates × unique demand columns, int64 ones
    w_int: NDArray[np.int64]
    scale: float  # w_int = rint(weight * scale)
    n_candidates: int
    n_demand: int  # before reduction
    groups: list[NDArray[np.int64]]

    @property
    def w(self) -> NDArray[np.float64]:
        return self.w_int / self.scale


def _check_method(method: str) -> None:
    if method not in METHODS:
        raise InputError(f"method must be one of {', '.join(METHODS)}, got {method!r}")


def _prepare(
    cover: ArrayLike | sp.spmatrix, weights: ArrayLike, forced_groups: Iterable[Sequence[int]]
) -> _Instance:
    """Check the inputs, drop useless demand, merge identical columns, quantise weights."""
    if sp.issparse(cover):
        matrix = sp.csr_matrix(cover, dtype=bool)
    else:
        dense = np.asarray(cover)
        if dense.ndim != 2:
            raise InputError(
                f"cover must be a 2-D (candidates × demand) matrix, got shape {dense.shape}"
            )
        matrix = sp.csr_matrix(dense.astype(bool))
    matrix.eliminate_zeros()
    n, m = matrix.shape
    w = np.asarray(weights, dtype=float).ravel()
    if w.shape != (m,):
        raise InputError(
            f"weights has {w.size} values but cover has {m} demand columns; "
            "give one weight per demand cell"
        )
    bad = ~np.isfinite(w) | (w < 0)
    if bad.any():
        j = int(np.flatnonzero(bad)[0])
        raise InputError(
            f"weights[{j}] = {w[j]!r}: demand weights must be finite and >= 0 "
            f"({int(bad.sum())} bad values); fill missing population with 0"
        )
    groups = []
    for k, group in enumerate(forced_groups):
        members = np.unique(np.asarray(group, dtype=np.int64))
        if members.size == 0:
            raise InputError(
                f"forced group {k} has no candidate: a site cannot be forced there; "
                "add candidates inside it or drop it from force_presence"
            )
        if members.min() < 0 or members.max() >= n:
            raise InputError(
                f"forced group {k} names candidate {int(members.max())}, but there "
                f"are only {n} candidates (indices 0..{n - 1})"
            )
        groups.append(members)

    total = float(w.sum())
    # Largest power of two keeping every partial sum below 2**62: exact int64 arithmetic.
    exponent = min(40, math.floor(math.log2(2.0**62 / total))) if total > 0 else 0
    scale = 2.0**exponent
    w_int = np.rint(w * scale).astype(np.int64)
    reached = np.diff(matrix.tocsc().indptr) > 0
    keep = np.flatnonzero((w_int > 0) & reached)
    csc = matrix[:, keep].tocsc()
    csc.sort_indices()
    merged: dict[bytes, int] = {}
    indptr, indices = csc.indptr, csc.indices.astype(np.int32)
    for col, weight in zip(range(keep.size), w_int[keep].tolist(), strict=True):
        key = indices[indptr[col] : indptr[col + 1]].tobytes()
        merged[key] = merged.get(key, 0) + weight
    keys = sorted(merged)  # canonical column order: independent of demand row order
    lengths = np.fromiter((len(k) // 4 for k in keys), dtype=np.int64, count=len(keys))
    col_ptr = np.concatenate([[0], np.cumsum(lengths)])
    rows = np.frombuffer(b"".join(keys), dtype=np.int32) if keys else np.zeros(0, dtype=np.int32)
    reduced = sp.csc_matrix(
        (np.ones(rows.size, dtype=np.int64), rows, col_ptr), shape=(n, len(keys))
    ).tocsr()
    reduced.sort_indices()
    w_merged = np.fromiter((merged[k] for k in keys), dtype=np.int64, count=len(keys))
    logger.debug(
        "siting instance: %d candidates, %d demand cells -> %d unique columns, %d nonzeros",
        n,
        m,
        len(keys),
        reduced.nnz,
    )
    return _Instance(reduced, w_merged, scale, n, m, groups)


def _gap(objective: float, bound: float) -> float:
    diff = abs(bound - objective)
    if diff <= 1e-9 * max(1.0, abs(bound)):
        return 0.0
    return diff / abs(objective) if objective != 0 else math.inf


# ---------------------------------------------------------------- greedy


@dataclass
class _GreedyRun:
    selected: list[int]
    gains: list[float]  # scaled units
    forced: list[bool]
    residual: NDArray


def _greedy_core(
    inst: _Instance,
    *,
    p: int | None,
    target_int: float | None,
    capacity_int: float | None,
    stop_at_zero: bool = True,
) -> _GreedyRun:
    """Lazy greedy in scaled units; forced groups are filled first, best site first."""
    cover = inst.cover
    indptr, indices = cover.indptr, cover.indices
    capacitated = capacity_int is not None
    residual: NDArray = inst.w_int.astype(float) if capacitated else inst.w_int.copy()
    selected: list[int] = []
    gains: list[float] = []
    forced: list[bool] = []
    covered = 0.0
    chosen = np.zeros(inst.n_candidates, dtype=bool)

    def gain_of(i: int) -> float:
        total = residual[indices[indptr[i] : indptr[i + 1]]].sum()
        return min(float(total), capacity_int) if capacitated else int(total)

    def take(i: int, is_forced: bool) -> None:
        nonlocal covered
        cells = indices[indptr[i] : indptr[i + 1]]
        if capacitated:
            total = float(residual[cells].sum())
            served = min(total, capacity_int)
            if total > 0:  # serve the same share of every cell's remaining weight
                residual[cells] *= 1.0 - served / total
            gain = served
        else:
            gain = int(residual[cells].sum())
            residual[cells] = 0
        chosen[i] = True
        selected.append(i)
        gains.append(gain)
        forced.append(is_forced)
        covered += gain

    def done() -> bool:
        if p is not None and len(selected) >= p:
            return True
        return target_int is not None and covered >= target_int

    # Phase 1: each forced group gets its best site (exact gains; groups are few).
    open_groups = list(range(len(inst.groups)))
    while open_groups:
        members = np.unique(np.concatenate([inst.groups[g] for g in open_groups]))
        members = members[~chosen[members]]
        values = np.array([gain_of(int(i)) for i in members], dtype=float)
        best = int(members[int(np.argmax(values))])  # first maximum: lowest index on ties
        take(best, True)
        open_groups = [g for g in open_groups if not np.isin(inst.groups[g], best).any()]

    # Phase 2: lazy greedy; marginal gains only shrink, so stale values are upper bounds.
    start = cover @ residual
    if capacitated:
        start = np.minimum(start, capacity_int)
    heap = [
        (-(float(g) if capacitated else int(g)), i, len(selected))
        for i, g in enumerate(start.tolist())
        if not chosen[i]
    ]
    heapq.heapify(heap)
    while heap and not done():
        neg_gain, i, stamp = heapq.heappop(heap)
        if stamp == len(selected):
            if -neg_gain <= 0 and stop_at_zero:
                break
            take(i, False)
        else:
            heapq.heappush(heap, (-gain_of(i), i, len(selected)))
    return _GreedyRun(selected, gains, forced, residual)


def _swap_improve(inst: _Instance, run: _GreedyRun, *, max_swaps: int = 500) -> _GreedyRun:
    """Interchange local search (Teitz-Bart): swap a chosen site for an unchosen one while
    that strictly increases coverage; the best swap of each round is taken.

    Sites in forced groups stay.  Each round costs one sparse product per chosen site, so it
    is cheap next to the MILP; coverage is exact (integer weights), so the search terminates.
    """
    if not run.selected:
        return run
    cover = inst.cover
    csc = cover.tocsc()
    w = inst.w_int
    in_group = np.zeros(inst.n_candidates, dtype=bool)
    for group in inst.groups:
        in_group[group] = True
    chosen = list(run.selected)
    count = np.asarray(cover[chosen].sum(axis=0)).ravel()
    for _ in range(max_swaps):
        is_chosen = np.zeros(inst.n_candidates, dtype=bool)
        is_chosen[chosen] = True
        base = cover @ np.where(count == 0, w, 0)  # what each candidate adds as things are
        best = (0, -1, -1)  # (delta, position in chosen, candidate)
        for position, site in enumerate(chosen):
            if in_group[site]:
                continue
            cells = cover.indices[cover.indptr[site] : cover.indptr[site + 1]]
            alone = cells[count[cells] == 1]
            loss = int(w[alone].sum())
            # Cells only this site covers become open again for the replacement.
            regain = csc[:, alone] @ w[alone] if alone.size else 0
            delta = base + regain - loss
            delta[is_chosen] = np.iinfo(np.int64).min
            candidate = int(np.argmax(delta))  # lowest index among ties
            if delta[candidate] > best[0]:
                best = (int(delta[candidate]), position, candidate)
        if best[0] <= 0:
            break
        _, position, candidate = best
        old = chosen[position]
        count[cover.indices[cover.indptr[old] : cover.indptr[old + 1]]] -= 1
        count[cover.indices[cover.indptr[candidate] : cover.indptr[candidate + 1]]] += 1
        chosen[position] = candidate
    else:
        logger.info("interchange search stopped after %d swaps", max_swaps)
    if sorted(chosen) == sorted(run.selected):
        return run
    logger.debug("interchange search: %d -> %d", int(sum(run.gains)), int(w[count > 0].sum()))
    return _order(inst, chosen, inst.groups, None)


def _top_sum(values: NDArray, k: int) -> float:
    if k <= 0 or values.size == 0:
        return 0.0
    k = min(k, values.size)
    return float(np.partition(values, values.size - k)[values.size - k :].sum())


def _greedy_upper_bound(
    inst: _Instance, run: _GreedyRun, p: int, capacity_int: float | None
) -> float:
    """A proven upper bound on the best p-site coverage (scaled units)."""
    covered = float(sum(run.gains))
    if capacity_int is not None:
        # Each site serves at most min(capacity, weight it reaches).
        single = np.minimum(inst.cover @ inst.w_int.astype(float), capacity_int)
        return min(_top_sum(single, p), float(inst.w_int.sum()))
    # Submodularity: f(OPT) <= f(S) + sum_{i in OPT} gain(i | S) <= f(S) + top-p gains.
    final_gains = (inst.cover @ run.residual).astype(float)
    bound = covered + _top_sum(final_gains, p)
    start_gains = (inst.cover @ inst.w_int).astype(float)
    bound = min(bound, _top_sum(start_gains, p), float(inst.w_int.sum()))
    if not inst.groups and p > 0 and len(run.selected) == p:
        # Classical (1 - (1 - 1/p)^p) >= 1 - 1/e guarantee of greedy without side constraints.
        bound = min(bound, covered / (1.0 - (1.0 - 1.0 / p) ** p))
    return max(bound, covered)


def _disjoint(groups: list[NDArray[np.int64]]) -> bool:
    if not groups:
        return True
    joined = np.concatenate(groups)
    return np.unique(joined).size == joined.size


def _min_sites_lower_bound(inst: _Instance, target_int: float) -> int:
    """Fewest sites that could possibly reach ``target_int``: top singleton gains (submodular)."""
    start = np.sort((inst.cover @ inst.w_int).astype(float))[::-1]
    reach = np.searchsorted(np.cumsum(start), target_int - 1e-9 * max(1.0, target_int)) + 1
    needed = int(reach) if target_int > 0 else 0
    if _disjoint(inst.groups):
        needed = max(needed, len(inst.groups))
    return needed


def _order(
    inst: _Instance,
    chosen: Sequence[int],
    groups: list[NDArray[np.int64]],
    capacity_int: float | None,
    served: dict[int, float] | None = None,
) -> _GreedyRun:
    """Rank a chosen set: greedy order within it; mark the best member of each forced group."""
    chosen = sorted(set(int(i) for i in chosen))
    if served is not None:  # capacity mode from a MILP assignment: rank by weight served
        ranked = sorted(chosen, key=lambda i: (-served[i], i))
        gains = [served[i] for i in ranked]
    else:
        sub = _Instance(inst.cover, inst.w_int, inst.scale, inst.n_candidates, inst.n_demand, [])
        mask = np.zeros(inst.n_candidates, dtype=bool)
        mask[chosen] = True
        restricted = sp.diags(mask.astype(np.int64), dtype=np.int64) @ inst.cover
        sub.cover = sp.csr_matrix(restricted)
        run = _greedy_core(
            sub, p=len(chosen), target_int=None, capacity_int=capacity_int, stop_at_zero=False
        )
        ranked = [i for i in run.selected if mask[i]]
        gains = [g for i, g in zip(run.selected, run.gains, strict=True) if mask[i]]
        missing = [i for i in chosen if i not in set(ranked)]  # zero-gain members, if any
        ranked += missing
        gains += [0.0] * len(missing)
    forced = [False] * len(ranked)
    position = {i: k for k, i in enumerate(ranked)}
    for group in groups:
        inside = [position[int(i)] for i in group if int(i) in position]
        if inside:
            forced[min(inside)] = True
    return _GreedyRun(ranked, gains, forced, np.zeros(0))


def _drop_useless(run: _GreedyRun) -> _GreedyRun:
    """Drop sites that add nothing and satisfy no forced group (a MILP may leave them in)."""
    keep = [k for k, (g, f) in enumerate(zip(run.gains, run.forced, strict=True)) if g > 0 or f]
    if len(keep) < len(run.selected):
        logger.info(
            "dropped %d selected sites that cover no new demand", len(run.selected) - len(keep)
        )
    return _GreedyRun(
        [run.selected[k] for k in keep],
        [run.gains[k] for k in keep],
        [run.forced[k] for k in keep],
        run.residual,
    )


def _solution(
    inst: _Instance,
    run: _GreedyRun,
    *,
    objective: float | None,
    bound: float,
    method: str,
    status: str,
    started: float,
    scaled: bool = True,
) -> SitingSolution:
    gains = np.asarray(run.gains, dtype=float) / inst.scale
    covered = float(gains.sum())
    value = covered if objective is None else objective
    bound_value = bound / inst.scale if scaled else bound
    return SitingSolution(
        selected=np.asarray(run.selected, dtype=np.int64),
        gains=gains,
        forced=np.asarray(run.forced, dtype=bool),
        objective=value,
        covered_weight=covered,
        bound=bound_value,
        gap=_gap(value, bound_value),
        method=method,
        status=status,
        solve_s=time.perf_counter() - started,
    )


def lazy_greedy(
    cover: ArrayLike | sp.spmatrix,
    weights: ArrayLike,
    p: int | None = None,
    *,
    target_weight: float | None = None,
    forced_groups: Iterable[Sequence[int]] = (),
    capacity: float | None = None,
) -> SitingSolution:
    """Greedy siting with lazy re-evaluation of marginal gains (a priority queue).

    Sites are added one at a time, each the candidate adding the most uncovered weight (ties:
    lowest candidate index).  Because marginal gains only shrink as sites are added, a stale
    gain in the queue is an upper bound, and only the top of the queue needs re-evaluating.
    Forced groups are served first, each by its best member.  Stops after ``p`` sites, on
    reaching ``target_weight``, or when no candidate adds anything.

    Parameters
    ----------
    cover
        Sparse boolean (candidates × demand) matrix: candidate ``i`` serves cell ``j``.
    weights
        Uncovered weight per demand cell (already-covered demand: 0).
    p
        Most sites to choose (``None``: no limit, for ``target_weight``).
    target_weight
        Stop when this much weight is covered.
    forced_groups
        Candidate index groups each needing at least one chosen site.
    capacity
        Weight one site can serve; a site reaching more serves the same share of each cell.

    Returns
    -------
    SitingSolution
        ``method="greedy"``; ``bound`` is an upper bound when ``p`` is given (the smallest of
        ``f(S) + top-p gains given S``, the sum of the ``p`` best single sites, the total, and
        without forced groups ``f(S) / (1 - (1 - 1/p)^p)``) and a lower bound on the number
        of sites when only ``target_weight`` is given.
    """
    started = time.perf_counter()
    if p is None and target_weight is None:
        raise InputError("lazy_greedy needs p (number of sites) or target_weight")
    inst = _prepare(cover, weights, forced_groups)
    capacity_int = _capacity_int(capacity, inst)
    target_int = None if target_weight is None else float(target_weight) * inst.scale
    if p is not None:
        _check_p(p, inst)
    run = _greedy_core(inst, p=p, target_int=target_int, capacity_int=capacity_int)
    if p is not None:
        bound = _greedy_upper_bound(inst, run, p, capacity_int)
        return _solution(
            inst,
            run,
            objective=None,
            bound=bound,
            method="greedy",
            status="greedy",
            started=started,
        )
    count = float(len(run.selected))
    lower = float(_min_sites_lower_bound(inst, min(target_int, float(inst.w_int.sum()))))
    status = "greedy" if sum(run.gains) >= target_int else "target_unreachable"
    return _solution(
        inst,
        run,
        objective=count,
        bound=lower,
        method="greedy",
        status=status,
        started=started,
        scaled=False,
    )


def _capacity_int(capacity: float | None, inst: _Instance) -> float | None:
    if capacity is None:
        return None
    if not (np.isfinite(capacity) and capacity > 0):
        raise InputError(f"capacity must be a positive number of people per site, got {capacity!r}")
    return float(capacity) * inst.scale


def _check_p(p: int, inst: _Instance) -> None:
    if int(p) != p or p < 0:
        raise InputError(f"p (number of new sites) must be a whole number >= 0, got {p!r}")
    if len(inst.groups) > p:
        raise InputError(
            f"{len(inst.groups)} forced groups (townships needing a site) but only "
            f"p={p} sites: raise p to at least {len(inst.groups)} or force fewer"
        )


# ---------------------------------------------------------------- HiGHS


_BANNER_SHOWN = False


def _new_highs(time_limit_s: float, mip_rel_gap: float, seed: int):  # -> highspy.Highs
    """A silent single-threaded HiGHS instance (the one-time C-level banner is swallowed)."""
    global _BANNER_SHOWN
    import highspy

    if _BANNER_SHOWN:
        h = highspy.Highs()
    else:  # HiGHS prints its banner from C on first construction: route fd 1 to /dev/null
        _BANNER_SHOWN = True
        with contextlib.ExitStack() as stack:
            try:
                saved = os.dup(1)
                devnull = os.open(os.devnull, os.O_WRONLY)
            except OSError:
                saved = None
            if saved is not None:
                stack.callback(os.close, saved)
                stack.callback(os.close, devnull)
                stack.callback(os.dup2, saved, 1)
                os.dup2(devnull, 1)
            h = highspy.Highs()
    for name, value in (
        ("output_flag", False),
        ("threads", 1),
        ("random_seed", int(seed)),
        ("time_limit", float(time_limit_s)),
        ("mip_rel_gap", float(mip_rel_gap)),
        ("presolve", "on"),
        # Covering LPs are highly degenerate: dual simplex stalls on the root
        # LP where the interior point method takes seconds (measured 28 s vs
        # 3 s on 600 x 12,000), and the MIP then finds better incumbents.
        ("mip_lp_solver", "ipm"),
    ):
        h.setOptionValue(name, value)
    return h


def _solve_highs(
    *,
    cost: NDArray,
    col_lower: NDArray,
    col_upper: NDArray,
    integer_cols: int,
    matrix: sp.csc_matrix,
    row_lower: NDArray,
    row_upper: NDArray,
    maximise: bool,
    start: NDArray | None,
    time_limit_s: float,
    mip_rel_gap: float,
    seed: int,
    relax: bool = False,
) -> tuple[str, NDArray | None, float, float]:
    """Solve a MILP whose first ``integer_cols`` columns are integer (or its LP relaxation).

    Returns status, column values (None without a solution), objective and dual bound (for
    the LP relaxation: its objective).
    """
    import highspy

    h = _new_highs(time_limit_s, mip_rel_gap, seed)
    if relax:  # a bound only: interior point without crossover is fastest
        h.setOptionValue("solver", "ipm")
        h.setOptionValue("run_crossover", "off")
        integer_cols = 0
    lp = highspy.HighsLp()
    lp.num_col_ = matrix.shape[1]
    lp.num_row_ = matrix.shape[0]
    lp.col_cost_ = np.asarray(cost, dtype=float)
    lp.col_lower_ = np.asarray(col_lower, dtype=float)
    lp.col_upper_ = np.asarray(col_upper, dtype=float)
    lp.row_lower_ = np.asarray(row_lower, dtype=float)
    lp.row_upper_ = np.asarray(row_upper, dtype=float)
    lp.a_matrix_.format_ = highspy.MatrixFormat.kColwise
    lp.a_matrix_.start_ = matrix.indptr.astype(np.int32)
    lp.a_matrix_.index_ = matrix.indices.astype(np.int32)
    lp.a_matrix_.value_ = matrix.data.astype(float)
    lp.integrality_ = [highspy.HighsVarType.kInteger] * integer_cols + [
        highspy.HighsVarType.kContinuous
    ] * (lp.num_col_ - integer_cols)
    lp.sense_ = highspy.ObjSense.kMaximize if maximise else highspy.ObjSense.kMinimize
    h.passModel(lp)
    if start is not None:
        solution = highspy.HighsSolution()
        solution.col_value = np.asarray(start, dtype=float).tolist()
        solution.value_valid = True
        h.setSolution(solution)
    h.run()
    model_status = h.getModelStatus()
    info = h.getInfo()
    status = {
        highspy.HighsModelStatus.kOptimal: "optimal",
        highspy.HighsModelStatus.kTimeLimit: "time_limit",
        highspy.HighsModelStatus.kInfeasible: "infeasible",
    }.get(model_status, h.modelStatusToString(model_status))
    has_solution = info.primal_solution_status == 2  # kSolutionStatusFeasible
    values = np.asarray(h.getSolution().col_value) if has_solution else None
    bound = float(info.objective_function_value if relax else info.mip_dual_bound)
    logger.info(
        "HiGHS: %s, objective %.6g, dual bound %.6g, gap %.3g, %.2f s",
        status,
        info.objective_function_value,
        bound,
        info.mip_gap,
        h.getRunTime(),
    )
    return status, values, float(info.objective_function_value), bound


def _group_rows(inst: _Instance) -> sp.csr_matrix:
    n = inst.n_candidates
    if not inst.groups:
        return sp.csr_matrix((0, n))
    rows = np.concatenate([np.full(g.size, k) for k, g in enumerate(inst.groups)])
    cols = np.concatenate(inst.groups)
    return sp.csr_matrix((np.ones(cols.size), (rows, cols)), shape=(len(inst.groups), n))


def _free_upper(inst: _Instance) -> NDArray:
    """x upper bounds: candidates that reach nothing and are in no group stay closed."""
    upper = (np.diff(inst.cover.indptr) > 0).astype(float)
    for group in inst.groups:
        upper[group] = 1.0
    return upper


def _milp_max_cover(
    inst: _Instance,
    p: int,
    start: _GreedyRun,
    *,
    time_limit_s: float,
    mip_rel_gap: float,
    seed: int,
) -> tuple[str, list[int] | None, float]:
    """Maximal covering MILP: max sum w_j y_j, y_j <= sum_{i covers j} x_i, sum x <= p."""
    n, m = inst.cover.shape
    groups = _group_rows(inst)
    g = groups.shape[0]
    top = sp.hstack([-inst.cover.T.astype(float), sp.identity(m)])
    p_row = sp.hstack([sp.csr_matrix(np.ones((1, n))), sp.csr_matrix((1, m))])
    group_block = sp.hstack([groups, sp.csr_matrix((g, m))])
    matrix = sp.vstack([top, p_row, group_block]).tocsc()
    row_lower = np.concatenate([np.full(m, -np.inf), [-np.inf], np.ones(g)])
    row_upper = np.concatenate([np.zeros(m), [float(p)], np.full(g, np.inf)])
    x0 = np.zeros(n)
    x0[start.selected] = 1.0
    y0 = np.minimum(inst.cover.T @ x0, 1.0)
    status, values, _, bound = _solve_highs(
        cost=np.concatenate([np.zeros(n), inst.w]),
        col_lower=np.zeros(n + m),
        col_upper=np.concatenate([np.maximum(_free_upper(inst), x0), np.ones(m)]),
        integer_cols=n,
        matrix=matrix,
        row_lower=row_lower,
        row_upper=row_upper,
        maximise=True,
        start=np.concatenate([x0, y0]),
        time_limit_s=time_limit_s,
        mip_rel_gap=mip_rel_gap,
        seed=seed,
    )
    chosen = None if values is None else np.flatnonzero(values[:n] > 0.5).tolist()
    return status, chosen, bound * inst.scale


def _lagrangian_bound(
    inst: _Instance,
    p: int,
    lower: float,
    *,
    iterations: int = 400,
) -> tuple[float, list[int] | None]:
    """Upper bound (scaled units) by Lagrangian relaxation of the covering rows, subgradient.

    For multipliers ``0 <= u_j <= w_j`` on ``y_j <= sum_{i covers j} x_i``::

        L(u) = sum_j max(0, w_j - u_j) + (sum of the p largest (C u)_i)

    bounds the optimum for *any* such ``u`` (forced groups are dropped, which only relaxes
    further); the subgradient method (Held-Karp step towards the best known value ``lower``)
    drives it down, usually close to the LP bound, at one sparse product per iteration.  The
    ``p`` sites of each iteration are also a feasible answer: the best is returned when it
    beats ``lower``.
    """
    cover = inst.cover
    n = cover.shape[0]
    if p <= 0 or n == 0:
        return float(inst.w_int.sum()) if p > 0 else 0.0, None
    w = inst.w_int.astype(float)
    u = w.copy()
    best_bound, best_value, best_set = math.inf, lower, None
    theta, stale = 2.0, 0
    indptr, indices = cover.indptr, cover.indices
    for _ in range(iterations):
        reduced = cover @ u
        top = np.argpartition(-reduced, p - 1)[:p] if p < n else np.arange(n)
        value = float(np.maximum(w - u, 0.0).sum() + reduced[top].sum())
        if value < best_bound - 1e-9 * abs(best_bound if np.isfinite(best_bound) else 1.0):
            best_bound, stale = value, 0
        else:
            stale += 1
            if stale >= 15:
                theta, stale = theta / 2.0, 0
        cells = np.concatenate([indices[indptr[i] : indptr[i + 1]] for i in top])
        count = np.bincount(cells, minlength=w.size)
        covered = float(w[count > 0].sum())
        if covered > best_value:
            best_value, best_set = covered, sorted(int(i) for i in top)
        gap = best_bound - best_value
        if gap <= 1e-9 * max(1.0, best_bound) or theta < 1e-5:
            break
        step = count - (u < w)
        norm = float(step @ step)
        if norm == 0:
            break
        u = np.clip(u - theta * (value - best_value) / norm * step, 0.0, w)
    # Float sums of up to ~1e5 terms: a relative margin far above their rounding error.
    return best_bound * (1.0 + 1e-9), best_set


def _lp_bound_max_cover(inst: _Instance, p: int, *, time_limit_s: float, seed: int) -> float:
    """Upper bound from the LP relaxation (scaled units); ``inf`` when not solved in time."""
    n, m = inst.cover.shape
    groups = _group_rows(inst)
    g = groups.shape[0]
    matrix = sp.vstack(
        [
            sp.hstack([-inst.cover.T.astype(float), sp.identity(m)]),
            sp.hstack([sp.csr_matrix(np.ones((1, n))), sp.csr_matrix((1, m))]),
            sp.hstack([groups, sp.csr_matrix((g, m))]),
        ]
    ).tocsc()
    status, _, objective, _ = _solve_highs(
        cost=np.concatenate([np.zeros(n), inst.w]),
        col_lower=np.zeros(n + m),
        col_upper=np.concatenate([_free_upper(inst), np.ones(m)]),
        integer_cols=n,
        matrix=matrix,
        row_lower=np.concatenate([np.full(m + 1, -np.inf), np.ones(g)]),
        row_upper=np.concatenate([np.zeros(m), [float(p)], np.full(g, np.inf)]),
        maximise=True,
        start=None,
        time_limit_s=time_limit_s,
        mip_rel_gap=0.0,
        seed=seed,
        relax=True,
    )
    if status != "optimal":
        logger.info("LP relaxation bound not available (%s)", status)
        return math.inf
    # Interior point without crossover stops within ~1e-8 relative of the LP optimum: a
    # margin keeps the bound valid.
    return objective * (1.0 + LP_BOUND_MARGIN) * inst.scale


def _milp_max_cover_capacity(
    inst: _Instance,
    p: int,
    capacity_int: float,
    start: _GreedyRun,
    *,
    time_limit_s: float,
    mip_rel_gap: float,
    seed: int,
) -> tuple[str, list[int] | None, float, dict[int, float]]:
    """Capacitated maximal covering: assignment z_ij (share of cell j served by site i).

    max sum w_j z_ij  s.t.  sum_i z_ij <= 1,  sum_j w_j z_ij <= capacity x_i,  sum x <= p.
    """
    n, m = inst.cover.shape
    coo = inst.cover.tocoo()
    k = coo.nnz
    w = inst.w
    cap = capacity_int / inst.scale
    z = np.arange(k)
    demand_rows = sp.csr_matrix((np.ones(k), (coo.col, z)), shape=(m, k))
    site_rows = sp.hstack(
        [sp.diags(np.full(n, -cap)), sp.csr_matrix((w[coo.col], (coo.row, z)), shape=(n, k))]
    )
    groups = _group_rows(inst)
    g = groups.shape[0]
    matrix = sp.vstack(
        [
            sp.hstack([sp.csr_matrix((m, n)), demand_rows]),
            site_rows,
            sp.hstack([sp.csr_matrix(np.ones((1, n))), sp.csr_matrix((1, k))]),
            sp.hstack([groups, sp.csr_matrix((g, k))]),
        ]
    ).tocsc()
    row_lower = np.concatenate([np.full(m + n + 1, -np.inf), np.ones(g)])
    row_upper = np.concatenate([np.ones(m), np.zeros(n), [float(p)], np.full(g, np.inf)])
    x0 = np.zeros(n)
    x0[start.selected] = 1.0
    status, values, _, bound = _solve_highs(
        cost=np.concatenate([np.zeros(n), w[coo.col]]),
        col_lower=np.zeros(n + k),
        col_upper=np.concatenate([np.maximum(_free_upper(inst), x0), np.ones(k)]),
        integer_cols=n,
        matrix=matrix,
        row_lower=row_lower,
        row_upper=row_upper,
        maximise=True,
        start=None,
        time_limit_s=time_limit_s,
        mip_rel_gap=mip_rel_gap,
        seed=seed,
    )
    if values is None:
        return status, None, bound * inst.scale, {}
    chosen = np.flatnonzero(values[:n] > 0.5).tolist()
    served_by = np.bincount(coo.row, weights=w[coo.col] * values[n:], minlength=n) * inst.scale
    return status, chosen, bound * inst.scale, {i: float(served_by[i]) for i in chosen}


def _use_milp(method: str, nonzeros: int, max_milp_nonzeros: int) -> bool:
    _check_method(method)
    if method == "milp":
        return True
    if method == "greedy":
        return False
    if nonzeros > max_milp_nonzeros:
        logger.info(
            "cover has %d nonzeros (> %d): using lazy greedy instead of the MILP",
            nonzeros,
            max_milp_nonzeros,
        )
        return False
    return True


def solve_max_cover(
    cover: ArrayLike | sp.spmatrix,
    weights: ArrayLike,
    p: int,
    *,
    forced_groups: Iterable[Sequence[int]] = (),
    capacity: float | None = None,
    method: str = "auto",
    time_limit_s: float = DEFAULT_TIME_LIMIT_S,
    mip_rel_gap: float = DEFAULT_MIP_REL_GAP,
    max_milp_nonzeros: int = DEFAULT_MAX_MILP_NONZEROS,
    lp_bound: bool = False,
    max_lp_nonzeros: int = DEFAULT_MAX_LP_NONZEROS,
    local_search: bool = True,
    seed: int = 0,
) -> SitingSolution:
    """Choose at most ``p`` new sites covering the most uncovered weight (MCLP).

    Parameters
    ----------
    cover
        Sparse boolean (candidates × demand) matrix: candidate ``i`` reaches cell ``j`` within
        the threshold.
    weights
        Weight of each demand cell not yet covered (seniors or people); 0 for covered demand.
    p
        Number of new sites (at most; sites adding nothing are not proposed unless forced).
    forced_groups
        Groups of candidate indices (e.g. the candidates inside a township lacking the
        facility); at least one chosen site in each (``sum x_i over the group >= 1``).  They
        count towards ``p``.
    capacity
        Optional weight each new site can serve (e.g. seniors per elder-care centre); switches
        to the capacitated model with assignment variables, one per nonzero of ``cover``.
    method
        ``"auto"`` (MILP when the reduced cover has at most ``max_milp_nonzeros`` nonzeros,
        lazy greedy beyond), ``"milp"`` or ``"greedy"``.
    time_limit_s, mip_rel_gap
        HiGHS limits; on a time limit the best solution found (or the greedy one if better)
        is returned with HiGHS's dual bound.
    max_milp_nonzeros
        Largest reduced cover (nonzeros after merging identical demand cells) given to the
        MILP under ``method="auto"``.
    local_search
        Improve the greedy sites by interchange (swap one chosen site for another while
        coverage strictly grows) before the MILP warm start or as the greedy answer.
    lp_bound, max_lp_nonzeros
        When the greedy runs alone, its bound is the best of the submodularity bounds and a
        Lagrangian relaxation (subgradient, a few hundred sparse products); ``lp_bound=True``
        also solves the LP relaxation (HiGHS interior point, within ``time_limit_s``) when
        the reduced cover has at most ``max_lp_nonzeros`` nonzeros.
    seed
        HiGHS random seed (HiGHS runs on one thread, so results repeat).

    Returns
    -------
    SitingSolution
        ``objective`` is the newly covered weight.

    Examples
    --------
    >>> import scipy.sparse as sp
    >>> cover = sp.csr_matrix([[1, 1, 0, 0], [0, 1, 1, 0], [0, 0, 1, 1]], dtype=bool)
    >>> solution = solve_max_cover(cover, [5, 1, 1, 5], 2)
    >>> solution.selected.tolist(), solution.objective, solution.status
    ([0, 2], 12.0, 'optimal')
    """
    started = time.perf_counter()
    inst = _prepare(cover, weights, forced_groups)
    _check_p(p, inst)
    capacity_int = _capacity_int(capacity, inst)
    greedy = _greedy_core(inst, p=p, target_int=None, capacity_int=capacity_int)
    greedy_bound = _greedy_upper_bound(inst, greedy, p, capacity_int)
    if capacity_int is None and local_search:
        greedy = _swap_improve(inst, greedy)
    if inst.cover.shape[1] == 0:
        return _solution(
            inst,
            greedy,
            objective=None,
            bound=0.0,
            method="greedy",
            status="empty",
            started=started,
        )
    nonzeros = inst.cover.nnz * (2 if capacity is not None else 1)
    if not _use_milp(method, nonzeros, max_milp_nonzeros):
        if capacity is None:
            lagrange, better = _lagrangian_bound(inst, p, float(sum(greedy.gains)))
            if better is not None and not inst.groups:
                greedy = _swap_improve(inst, _order(inst, better, inst.groups, None))
            greedy_bound = min(greedy_bound, lagrange)
        if capacity is None and lp_bound and inst.cover.nnz <= max_lp_nonzeros:
            lp = _lp_bound_max_cover(inst, p, time_limit_s=time_limit_s, seed=seed)
            greedy_bound = min(greedy_bound, lp)
        greedy_bound = max(greedy_bound, float(sum(greedy.gains)))
        return _solution(
            inst,
            greedy,
            objective=None,
            bound=greedy_bound,
            method="greedy",
            status="greedy",
            started=started,
        )
    served: dict[int, float] | None = None
    if capacity_int is None:
        status, chosen, bound = _milp_max_cover(
            inst, p, greedy, time_limit_s=time_limit_s, mip_rel_gap=mip_rel_gap, seed=seed
        )
    else:
        status, chosen, bound, served = _milp_max_cover_capacity(
            inst,
            p,
            capacity_int,
            greedy,
            time_limit_s=time_limit_s,
            mip_rel_gap=mip_rel_gap,
            seed=seed,
        )
    if chosen is None:
        logger.warning("HiGHS ended %s without a solution: keeping the greedy sites", status)
        return _solution(
            inst,
            greedy,
            objective=None,
            bound=greedy_bound,
            method="greedy",
            status="greedy",
            started=started,
        )
    run = _drop_useless(_order(inst, chosen, inst.groups, capacity_int, served))
    if sum(run.gains) < sum(greedy.gains):  # possible only on a time limit
        run = greedy
    # Both bounds are valid; exact integer sums decide the objective, which no bound is below.
    bound = max(min(bound, greedy_bound), float(sum(run.gains)))
    return _solution(
        inst, run, objective=None, bound=bound, method="milp", status=status, started=started
    )


def solve_min_sites(
    cover: ArrayLike | sp.spmatrix,
    weights: ArrayLike,
    target_weight: float,
    *,
    forced_groups: Iterable[Sequence[int]] = (),
    method: str = "auto",
    time_limit_s: float = DEFAULT_TIME_LIMIT_S,
    mip_rel_gap: float = DEFAULT_MIP_REL_GAP,
    max_milp_nonzeros: int = DEFAULT_MAX_MILP_NONZEROS,
    seed: int = 0,
) -> SitingSolution:
    """Fewest new sites that cover at least ``target_weight`` of the uncovered weight.

    min sum x_i  s.t.  sum_j w_j y_j >= target,  y_j <= sum_{i covers j} x_i,  y_j in [0, 1],
    plus ``sum x_i over each forced group >= 1``.

    When the candidates cannot reach the target at all, the sites reaching the most they can
    are returned with ``status="target_unreachable"`` (and a warning is logged).

    Returns
    -------
    SitingSolution
        ``objective`` is the number of sites, ``bound`` a lower bound on it, and
        ``covered_weight`` the weight the sites cover.
    """
    started = time.perf_counter()
    inst = _prepare(cover, weights, forced_groups)
    if not (np.isfinite(target_weight) and target_weight >= 0):
        raise InputError(f"target_weight must be a number >= 0, got {target_weight!r}")
    target_int = float(target_weight) * inst.scale
    reachable = float(inst.w_int.sum())
    unreachable = target_int > reachable + 0.5
    if unreachable:
        logger.warning(
            "the candidates can newly cover at most %.6g, below the target %.6g: "
            "proposing the sites that cover the most they can",
            reachable / inst.scale,
            target_weight,
        )
        target_int = reachable
    # Fixed-point rounding may leave the target a hair above the reachable total.
    target_int = min(target_int, reachable)
    greedy = _greedy_core(inst, p=None, target_int=target_int, capacity_int=None)
    lower = float(_min_sites_lower_bound(inst, target_int))
    final_status = "target_unreachable" if unreachable else None
    if not _use_milp(method, inst.cover.nnz, max_milp_nonzeros) or inst.cover.shape[1] == 0:
        return _solution(
            inst,
            greedy,
            objective=float(len(greedy.selected)),
            bound=lower,
            method="greedy",
            status=final_status or "greedy",
            started=started,
            scaled=False,
        )
    n, m = inst.cover.shape
    groups = _group_rows(inst)
    g = groups.shape[0]
    matrix = sp.vstack(
        [
            sp.hstack([-inst.cover.T.astype(float), sp.identity(m)]),
            sp.hstack([sp.csr_matrix((1, n)), sp.csr_matrix(inst.w_int[None, :].astype(float))]),
            sp.hstack([groups, sp.csr_matrix((g, m))]),
        ]
    ).tocsc()
    # The target row is in scaled integer units so HiGHS's tolerance is far below one person.
    row_lower = np.concatenate([np.full(m, -np.inf), [target_int - 0.5], np.ones(g)])
    row_upper = np.concatenate([np.zeros(m), [np.inf], np.full(g, np.inf)])
    x0 = np.zeros(n)
    x0[greedy.selected] = 1.0
    y0 = np.minimum(inst.cover.T @ x0, 1.0)
    status, values, _, bound = _solve_highs(
        cost=np.concatenate([np.ones(n), np.zeros(m)]),
        col_lower=np.zeros(n + m),
        col_upper=np.concatenate([np.maximum(_free_upper(inst), x0), np.ones(m)]),
        integer_cols=n,
        matrix=matrix,
        row_lower=row_lower,
        row_upper=row_upper,
        maximise=False,
        start=np.concatenate([x0, y0]),
        time_limit_s=time_limit_s,
        mip_rel_gap=mip_rel_gap,
        seed=seed,
    )
    run = greedy
    if values is not None:
        chosen = np.flatnonzero(values[:n] > 0.5).tolist()
        candidate = _drop_useless(_order(inst, chosen, inst.groups, None))
        if sum(candidate.gains) >= target_int - 0.5 and len(candidate.selected) <= len(
            greedy.selected
        ):
            run = candidate
    lower = max(lower, math.ceil(bound - 1e-6)) if np.isfinite(bound) else lower
    lower = min(lower, len(run.selected))
    return _solution(
        inst,
        run,
        objective=float(len(run.selected)),
        bound=float(lower),
        method="milp",
        status=final_status or status,
        started=started,
        scaled=False,
    )


# ---------------------------------------------------------------- 2SFCA


def two_step_fca(
    supply: ArrayLike, demand: ArrayLike, distance: ArrayLike | sp.spmatrix, threshold: float
) -> NDArray[np.float64]:
    """Two-step floating catchment area accessibility (Luo & Wang 2003), per demand point.

    Step 1: each facility's supply-to-demand ratio ``R_i = S_i / sum_{j: d_ij <= d0} P_j``.
    Step 2: each demand point's accessibility ``A_j = sum_{i: d_ij <= d0} R_i``.

    Parameters
    ----------
    supply
        Supply per facility ``S_i`` (e.g. beds), shape (facilities,).
    demand
        Population per demand point ``P_j``, shape (demand,).
    distance
        Facilities × demand distances or times.  Dense: ``inf``/``nan`` is unreachable.
        Sparse: stored entries are the distances (explicit zeros included), absent pairs
        are unreachable.
    threshold
        Catchment size ``d0`` in the units of ``distance`` (pairs with ``d <= d0`` count).

    Returns
    -------
    numpy.ndarray
        ``A_j`` in supply per person (e.g. beds per senior); 0 where no facility is in reach.
        Facilities whose catchment holds no population contribute nothing.

    Examples
    --------
    >>> import numpy as np
    >>> d = np.array([[1.0, 2.0, np.inf], [np.inf, 1.0, 1.0]])
    >>> two_step_fca([10, 4], [10, 10, 30], d, 2.0).round(3).tolist()
    [0.5, 0.6, 0.1]
    """
    s = np.asarray(supply, dtype=float).ravel()
    pop = np.asarray(demand, dtype=float).ravel()
    if sp.issparse(distance):
        coo = sp.coo_matrix(distance)
        shape = coo.shape
        ok = coo.data <= threshold
        within = sp.csr_matrix((np.ones(int(ok.sum())), (coo.row[ok], coo.col[ok])), shape=shape)
    else:
        d = np.asarray(distance, dtype=float)
        shape = d.shape
        with np.errstate(invalid="ignore"):
            within = sp.csr_matrix((d <= threshold).astype(float))
    if shape != (s.size, pop.size):
        raise InputError(
            f"distance has shape {shape} but there are {s.size} facilities and "
            f"{pop.size} demand points; give a facilities × demand matrix"
        )
    catchment_pop = within @ pop
    ratio = np.divide(s, catchment_pop, out=np.zeros_like(s), where=catchment_pop > 0)
    return np.asarray(within.T @ ratio, dtype=float)
