"""Benchmark: maximal covering by lifecircle's siting solver vs spopt's MCLP, same instances.

Run as ``python -m benchmarks.siting``. Each instance is a coverage structure (candidates ×
demand cells, covered when within the threshold) with demand weights; spopt's MCLP has no
notion of existing facilities, so both solvers get the same *reduced* demand (cells already
covered by existing facilities weigh 0). Instances:

* ``sample_meal_point``: the bundled sample district, meal points, 15 min, p=5,
  candidates and walking times exactly as :func:`lifecircle.coverage.siting.propose_sites`
  builds them (network nodes near uncovered seniors, thinned to 200 m);
* ``sample_greenfield``: the same district with no existing facility, 10 min, p=10;
* ``synthetic_small``: 200 candidates × 4,000 cells, 700 m radius, p=10;
* ``synthetic_medium``: 600 candidates × 12,000 cells, 700 m radius, p=10;
* ``synthetic_large``: 5,000 candidates × 100,000 cells, 700 m radius, p=50.

Ours is :func:`lifecircle.coverage.siting_solvers.solve_max_cover` with ``method="auto"``
(HiGHS MILP up to the nonzero limit; beyond it lazy greedy plus interchange, bounded by a
Lagrangian relaxation). spopt is ``MCLP.from_cost_matrix(cost, weights, service_radius,
p_facilities=p).solve(pulp.HiGHS(msg=False, threads=1))`` (the same HiGHS engine), run in a
child process under a wall-clock limit and a memory cap: its dense cost matrix and per-client
``lpSum`` over every candidate do not fit the large instance, which is then recorded as not
finished (with the ratio's lower bound, limit / ours). Both timings exclude building the cost
matrix; spopt's objective is recomputed from its chosen sites with our coverage structure.
Results go to ``bench-results/siting.json``.
"""

from __future__ import annotations

import json
import logging
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import scipy.sparse as sp
from scipy.spatial import cKDTree

from lifecircle.coverage.siting_solvers import solve_max_cover

OUT = Path("bench-results") / "siting.json"
SPOPT_TIME_LIMIT_S = 150.0
SPOPT_MEMORY_BYTES = 12 * 2**30
logger = logging.getLogger("benchmarks.siting")


@dataclass
class Instance:
    name: str
    cost: sp.csr_matrix  # candidates × demand, minutes or metres; stored pairs only
    weights: np.ndarray
    radius: float
    p: int
    note: str = ""

    @property
    def cover(self) -> sp.csr_matrix:
        keep = self.cost.data <= self.radius
        rows = np.repeat(np.arange(self.cost.shape[0]), np.diff(self.cost.indptr))
        return sp.csr_matrix(
            (np.ones(int(keep.sum()), dtype=bool), (rows[keep], self.cost.indices[keep])),
            shape=self.cost.shape,
        )


# ---------------------------------------------------------------- instances


def synthetic_instance(
    name: str,
    n_candidates: int,
    n_demand: int,
    p: int,
    *,
    seed: int,
    radius_m: float = 700.0,
    cell_m: float = 100.0,
) -> Instance:
    """Clustered population on a square grid of 100 m cells; candidates in populated cells."""
    rng = np.random.default_rng(seed)
    side = int(np.ceil(np.sqrt(n_demand)))
    xs, ys = np.meshgrid(np.arange(side) * cell_m, np.arange(side) * cell_m)
    cells = np.column_stack([xs.ravel(), ys.ravel()])[:n_demand]
    centres = rng.random((max(4, n_demand // 4000), 2)) * side * cell_m
    nearest_centre_m, _ = cKDTree(centres).query(cells)
    intensity = 60.0 * np.exp(-nearest_centre_m / 1200.0)
    pop = rng.poisson(intensity).astype(float)
    pop[intensity < 3.0] = 0.0  # fields and water between settlements
    populated = np.flatnonzero(pop > 0)
    picks = rng.choice(populated, size=n_candidates, replace=populated.size < n_candidates)
    candidates = cells[picks] + rng.uniform(-cell_m / 2, cell_m / 2, (n_candidates, 2))
    pairs = cKDTree(candidates).sparse_distance_matrix(
        cKDTree(cells), radius_m, output_type="coo_matrix"
    )
    cost = sp.csr_matrix(pairs)
    cost.sort_indices()
    return Instance(
        name,
        cost,
        pop,
        radius_m,
        p,
        note=f"synthetic, seed {seed}, {radius_m:.0f} m euclidean radius",
    )


def _sample_inputs():  # -> (Plan, Inputs)
    """Load the sample district through the pipeline's loader."""
    from lifecircle.pipeline import load_inputs
    from lifecircle.plan import SAMPLE_PLAN, load_plan

    plan = load_plan(SAMPLE_PLAN)
    return plan, load_inputs(plan)


def sample_instances() -> list[Instance]:
    """The sample district's meal-point siting instance, and a greenfield variant."""
    import shapely

    from lifecircle.coverage.reach import (
        nearest_point_distances,
        nearest_sources,
        point_cover_matrix,
    )
    from lifecircle.coverage.siting import candidate_nodes
    from lifecircle.geo.network import snap_points

    plan, inputs = _sample_inputs()
    network, demand, walk = inputs.network, inputs.demand, plan.walk
    geoms = demand.geometry.to_numpy()
    cell_x, cell_y = network.project_lonlat(shapely.get_x(geoms), shapely.get_y(geoms))
    cells = snap_points(network, cell_x, cell_y, max_snap_m=walk.max_snap_m)
    kinds = demand["kind"].to_numpy(dtype=object)
    speeds = walk.speeds_for(kinds)
    pop60 = np.nan_to_num(demand["pop60"].to_numpy(dtype=float))
    meal = inputs.facilities[
        (inputs.facilities["category"] == "meal_point") & ~inputs.facilities.geometry.is_empty
    ]
    fx, fy = network.project_lonlat(meal.geometry.x.to_numpy(), meal.geometry.y.to_numpy())
    fac = snap_points(network, fx, fy, max_snap_m=walk.max_snap_m)
    reach = nearest_sources(network, fac, limit_m=walk.max_reach_m * 2)
    dist_m, _ = nearest_point_distances(network, reach, fac, cells)
    minutes = dist_m / speeds / 60.0

    out = []
    for name, threshold_min, p, existing in (
        ("sample_meal_point", 15.0, 5, True),
        ("sample_greenfield", 10.0, 10, False),
    ):
        weights = np.where(minutes <= threshold_min, 0.0, pop60) if existing else pop60.copy()
        nodes = candidate_nodes(network, cell_x, cell_y, weights, near_m=250.0, min_spacing_m=200.0)
        cand = snap_points(network, network.x[nodes], network.y[nodes], max_snap_m=walk.max_snap_m)
        limit_m = threshold_min * 60.0 * float(speeds.max())
        dist = point_cover_matrix(network, cand, cells, limit_m).tocsr()
        # Walking minutes at each cell's township-kind speed.
        cost = sp.csr_matrix(
            (dist.data / speeds[dist.indices] / 60.0, dist.indices, dist.indptr), shape=dist.shape
        )
        note = (
            "sample district, 200 m thinned network-node candidates, walking minutes by "
            "township kind"
            + (", existing meal points' coverage removed" if existing else ", no existing facility")
        )
        out.append(Instance(name, cost, weights, threshold_min, p, note=note))
    return out


# ---------------------------------------------------------------- solvers


def run_ours(instance: Instance) -> dict:
    cover = instance.cover
    started = time.perf_counter()
    solution = solve_max_cover(cover, instance.weights, instance.p)
    seconds = time.perf_counter() - started
    return {
        "ours_objective": solution.objective,
        "ours_bound": solution.bound,
        "ours_gap": solution.gap,
        "ours_method": solution.method,
        "ours_status": solution.status,
        "ours_s": seconds,
        "ours_sites": sorted(solution.selected.tolist()),
    }


def _spopt_worker(path: str) -> None:
    """Child process: solve one instance with spopt's MCLP and print a JSON line."""
    import resource

    resource.setrlimit(resource.RLIMIT_AS, (SPOPT_MEMORY_BYTES, SPOPT_MEMORY_BYTES))
    import pulp
    from spopt.locate import MCLP

    data = np.load(path)
    cost = sp.csr_matrix(
        (data["data"], data["indices"], data["indptr"]), shape=tuple(data["shape"])
    )
    weights, radius, p = data["weights"], float(data["radius"]), int(data["p"])
    # spopt wants a dense clients × facilities matrix; unreachable pairs get a huge cost.
    dense = np.full((cost.shape[1], cost.shape[0]), 1e12, dtype=np.float32)
    coo = cost.tocoo()
    dense[coo.col, coo.row] = coo.data
    started = time.perf_counter()
    model = MCLP.from_cost_matrix(dense, weights, service_radius=radius, p_facilities=p)
    built = time.perf_counter() - started
    model = model.solve(pulp.HiGHS(msg=False, threads=1))
    seconds = time.perf_counter() - started
    chosen = [j for j, var in enumerate(model.fac_vars) if (var.value() or 0) > 0.5]
    print(
        json.dumps(
            {
                "spopt_s": seconds,
                "spopt_build_s": built,
                "sites": chosen,
                "status": pulp.LpStatus[model.problem.status],
                "spopt_reported": pulp.value(model.problem.objective),
            }
        )
    )


def run_spopt(instance: Instance) -> dict:
    """spopt in a child process under a time limit and a memory cap."""
    dense_bytes = 8 * instance.cost.shape[0] * instance.cost.shape[1]  # spopt's float64 aij
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "instance.npz"
        np.savez(
            path,
            data=instance.cost.data,
            indices=instance.cost.indices,
            indptr=instance.cost.indptr,
            shape=np.array(instance.cost.shape),
            weights=instance.weights,
            radius=instance.radius,
            p=instance.p,
        )
        started = time.perf_counter()
        try:
            done = subprocess.run(
                [sys.executable, "-m", "benchmarks.siting", "--spopt-worker", str(path)],
                capture_output=True,
                text=True,
                timeout=SPOPT_TIME_LIMIT_S,
                check=False,
            )
        except subprocess.TimeoutExpired:
            return {
                "spopt_objective": None,
                "spopt_s": None,
                "spopt_status": f"not finished within {SPOPT_TIME_LIMIT_S:.0f} s (its "
                f"dense coverage matrix alone is "
                f"{dense_bytes / 2**30:.1f} GiB)",
            }
        wall = time.perf_counter() - started
    lines = [line for line in done.stdout.splitlines() if line.startswith("{")]
    if done.returncode != 0 or not lines:
        reason = (done.stderr.strip().splitlines() or ["no output"])[-1]
        return {
            "spopt_objective": None,
            "spopt_s": None,
            "spopt_status": f"failed after {wall:.0f} s: {reason[:200]}",
        }
    record = json.loads(lines[-1])
    sites = record["sites"]
    covered = (
        np.asarray(instance.cover[sites].sum(axis=0)).ravel() > 0
        if sites
        else np.zeros(instance.cost.shape[1], dtype=bool)
    )
    return {
        "spopt_objective": float(instance.weights[covered].sum()),
        "spopt_s": record["spopt_s"],
        "spopt_build_s": record["spopt_build_s"],
        "spopt_status": record["status"],
        "spopt_sites": sorted(sites),
    }


def main() -> None:
    logging.basicConfig(level=logging.INFO, format="%(message)s")
    instances: list[Instance] = []
    try:
        instances += sample_instances()
    except Exception as error:  # the sample needs most of the package; say why it is missing
        logger.warning(
            "sample instances skipped (%s: %s); using a synthetic stand-in",
            type(error).__name__,
            error,
        )
        stand_in = synthetic_instance("sample_standin", 1500, 3000, 5, seed=11, radius_m=900.0)
        instances.append(stand_in)
    instances.append(synthetic_instance("synthetic_small", 200, 4_000, 10, seed=3))
    instances.append(synthetic_instance("synthetic_medium", 600, 12_000, 10, seed=1))
    instances.append(synthetic_instance("synthetic_large", 5_000, 100_000, 50, seed=2))

    runs = []
    for instance in instances:
        n, m = instance.cost.shape
        logger.info(
            "%s: %d candidates × %d demand cells, %d covered pairs, p=%d",
            instance.name,
            n,
            m,
            instance.cover.nnz,
            instance.p,
        )
        record = {
            "instance": instance.name,
            "candidates": n,
            "demand": m,
            "p": instance.p,
            "cover_nonzeros": int(instance.cover.nnz),
            "note": instance.note,
        }
        record.update(run_ours(instance))
        record.update(run_spopt(instance))
        if record["spopt_s"]:
            record["speedup"] = record["spopt_s"] / record["ours_s"]
        else:  # spopt did not finish: the ratio is at least its time limit over ours
            record["speedup_at_least"] = SPOPT_TIME_LIMIT_S / record["ours_s"]
        logger.info(
            "  ours %.6g in %.2f s (%s, %s, gap %.3g); spopt %s in %s s",
            record["ours_objective"],
            record["ours_s"],
            record["ours_method"],
            record["ours_status"],
            record["ours_gap"],
            record["spopt_objective"],
            "-" if record["spopt_s"] is None else f"{record['spopt_s']:.2f}",
        )
        runs.append(record)
    OUT.parent.mkdir(parents=True, exist_ok=True)
    OUT.write_text(
        json.dumps({"runs": runs}, indent=2, ensure_ascii=False) + "\n", encoding="utf-8"
    )
    header = (
        f"{'instance':<20}{'cand':>6}{'demand':>8}{'p':>4}{'ours':>12}{'spopt':>12}"
        f"{'ours s':>9}{'spopt s':>9}{'ratio':>8}{'gap':>9}"
    )
    print(header)
    for r in runs:
        spopt_obj = "-" if r["spopt_objective"] is None else f"{r['spopt_objective']:.1f}"
        spopt_s = "-" if r["spopt_s"] is None else f"{r['spopt_s']:.2f}"
        ratio = f"{r['speedup']:.0f}x" if r.get("speedup") else f">{r['speedup_at_least']:.0f}x"
        print(
            f"{r['instance']:<20}{r['candidates']:>6}{r['demand']:>8}{r['p']:>4}"
            f"{r['ours_objective']:>12.1f}{spopt_obj:>12}{r['ours_s']:>9.2f}{spopt_s:>9}"
            f"{ratio:>8}{r['ours_gap']:>9.2e}"
        )
    print(f"written {OUT}")


if __name__ == "__main__":
    if len(sys.argv) == 3 and sys.argv[1] == "--spopt-worker":
        _spopt_worker(sys.argv[2])
    else:
        main()
