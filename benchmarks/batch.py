"""Benchmark: a synthetic province run serially without dask, then on 1 and 2 dask workers.

Writes bench-results/batch.json: ``{"counties", "nodes_per_county", "engine", "serial_s",
"workers": {"1": s, "2": s}, "identical", "per_county_s", "peak_mb_per_worker"}`` where
``identical`` means every county's gaps.csv is byte-identical to its serial run. Times cover
the counties' runs and the province roll-up; starting the cluster is not counted (it is reported
apart), and each worker imports lifecircle before the clock starts, as a long-lived cluster
would have.

Run ``python -m benchmarks.batch [--counties 6] [--scale 0.03]``.
"""

from __future__ import annotations

import argparse
import json
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
OUT = ROOT / "bench-results" / "batch.json"


def _gaps(out: Path) -> dict[str, bytes]:
    return {p.parent.name: p.read_bytes() for p in sorted((out / "counties").glob("*/gaps.csv"))}


def main(argv: list[str] | None = None) -> None:
    import distributed

    from lifecircle.batch import load_province, run_batch, start_client
    from tools.province import generate_province

    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--counties", type=int, default=6)
    parser.add_argument("--scale", type=float, default=0.03)
    args = parser.parse_args(argv)
    with tempfile.TemporaryDirectory(prefix="lc-batch-") as tmp:
        tmp = Path(tmp)
        started = time.perf_counter()
        figures = generate_province(tmp / "province", counties=args.counties, scale=args.scale)
        print(f"generated {args.counties} counties in {time.perf_counter() - started:.1f} s")
        province = load_province(tmp / "province" / "province.toml")
        serial = run_batch(province, tmp / "serial", siting=False)
        print(f"serial: {serial.seconds:.1f} s")
        timings, identical, peaks, cluster_s = {}, True, {}, {}
        for workers in (1, 2):
            t0 = time.perf_counter()
            client = start_client(workers, memory_limit="6GiB")
            client.run(__import__, "lifecircle.pipeline")
            cluster_s[str(workers)] = round(time.perf_counter() - t0, 2)
            try:
                result = run_batch(province, tmp / f"w{workers}", client=client, siting=False)
            finally:
                client.close()
            timings[str(workers)] = result.seconds
            peaks[str(workers)] = max(o.peak_mb for o in result.outcomes)
            identical &= _gaps(tmp / f"w{workers}") == _gaps(tmp / "serial")
            print(
                f"{workers} worker(s): {result.seconds:.1f} s "
                f"({serial.seconds / result.seconds:.2f}x serial)"
            )
    record = {
        "counties": args.counties,
        "nodes_per_county": {name: f["lattice_nodes"] for name, f in figures.items()},
        "engine": f"dask.distributed {distributed.__version__}",
        "serial_s": serial.seconds,
        "workers": timings,
        "speedup_2_over_1": round(timings["1"] / timings["2"], 2),
        "cluster_start_s": cluster_s,
        "per_county_s": {o.name: o.seconds for o in serial.outcomes},
        "peak_mb_per_worker": peaks,
        "identical": identical,
    }
    OUT.parent.mkdir(exist_ok=True)
    OUT.write_text(json.dumps(record, ensure_ascii=False, indent=2) + "\n", encoding="utf-8")
    print(json.dumps(record, ensure_ascii=False, indent=2))
    print(f"written {OUT.relative_to(ROOT)}")


if __name__ == "__main__":
    main()
