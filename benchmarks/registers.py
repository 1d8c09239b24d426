"""Benchmark: reading a large facility register (CSV) through ``read_register``.

Run as ``python -m benchmarks.registers [--rows N]`` (default 2,000,000 rows, about 200 MB).
Two registers are generated in a temporary folder (not kept): *spread* rows at distinct points,
and *co-located* rows, 90 % of them at one point (a register geocoded to one fallback address).
Each is read in a fresh subprocess, so that its peak resident memory (``ru_maxrss``) is the
reader's own; the time is the wall time of ``read_register`` inside it (and its CPU time, the
honest figure on a shared machine). Printed as a table and
written to ``bench-results/registers.json``.
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
OUT = ROOT / "bench-results" / "registers.json"
HEADER = "序号,机构名称,类型,地址,经度,纬度,床位数,所属街道,开业年份,服务内容\n"
_BLOCK = 100_000


def write_register(path: Path, rows: int, *, colocated: float, seed: int = 0) -> int:
    """Write a register of ``rows`` rows; ``colocated`` of them share one point. Returns bytes."""
    rng = np.random.default_rng(seed)
    kinds = np.array(["综合养老服务中心", "日间照料中心", "老年助餐点", "养老机构"])
    towns = np.array(["城东街道", "城西街道", "白鹭镇", "青石街道", "新桥镇"])
    services = np.array(["助餐;日间照料", "", "志愿服务站点", "助餐"])
    with path.open("w", encoding="utf-8", newline="") as handle:
        handle.write(HEADER)
        for start in range(0, rows, _BLOCK):
            n = min(_BLOCK, rows - start)
            ids = np.arange(start, start + n)
            lon = 119.80 + rng.random(n) * 0.3
            lat = 32.30 + rng.random(n) * 0.3
            fallback = rng.random(n) < colocated
            lon[fallback], lat[fallback] = 119.912345, 32.456789
            kind = kinds[ids % len(kinds)]
            town = towns[ids % len(towns)]
            lines = [
                f"{i + 1},幸福{i}号{k},{k},{t}幸福路{i % 997}号,{x:.6f},{y:.6f},{i % 120},{t},"
                f"{2000 + i % 24},{s}\n"
                for i, k, t, x, y, s in zip(
                    ids, kind, town, lon, lat, services[ids % len(services)], strict=True
                )
            ]
            handle.write("".join(lines))
    return path.stat().st_size


STAGES = {
    # the file's cells as Arrow columns with their line numbers
    "read_table": "table = read_table(path)\nframe, rejects = table.frame, table.broken\n",
    # and every row validated, converted and built into the facilities GeoDataFrame
    "read_register": "frame, rejects = read_register(LayerSpec('elder_care_centre', path), "
    "registry)[:2]\n",
}


def _measure(path: Path, stage: str) -> dict[str, float]:
    """Run one stage on ``path`` in a fresh interpreter; its wall and CPU time and peak RSS."""
    code = (
        "import json, resource, time, sys\n"
        "from pathlib import Path\n"
        "from lifecircle.layers.categories import load_registry\n"
        "from lifecircle.layers.facilities import LayerSpec, read_register\n"
        "from lifecircle.layers.tables import read_table\n"
        f"path = Path({str(path)!r})\n"
        "registry = load_registry()\n"
        "before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss\n"
        "t = time.perf_counter()\n"
        "cpu = time.process_time()\n" + STAGES[stage] + "seconds = time.perf_counter() - t\n"
        "cpu_seconds = time.process_time() - cpu\n"
        "peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss\n"
        "print(json.dumps({'seconds': seconds, 'cpu_seconds': cpu_seconds, "
        "'peak_rss_mb': peak / 1024, "
        "'baseline_rss_mb': before / 1024, 'used': len(frame), 'rejected': len(rejects), "
        "'warnings': len(getattr(frame, 'attrs', {}).get('warnings', []))}))\n"
    )
    result = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, cwd=ROOT, check=True
    )
    return json.loads(result.stdout.strip().splitlines()[-1])


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=2_000_000, help="rows per register")
    args = parser.parse_args(argv)
    records = []
    with tempfile.TemporaryDirectory() as folder:
        for label, share in (("spread", 0.0), ("co-located", 0.9)):
            path = Path(folder) / f"{label}.csv"
            size = write_register(path, args.rows, colocated=share)
            for stage in STAGES:
                measured = _measure(path, stage)
                records.append(
                    {
                        "register": label,
                        "stage": stage,
                        "rows": args.rows,
                        "file_mb": size / 2**20,
                        "rows_per_s": args.rows / measured["seconds"],
                        **measured,
                        "peak_over_file": measured["peak_rss_mb"] / (size / 2**20),
                    }
                )
            path.unlink()
    print(
        f"{'register':<11} {'stage':<13} {'rows':>10} {'file MB':>8} {'seconds':>8} "
        f"{'CPU s':>6} "
        f"{'rows/s':>10} "
        f"{'peak RSS MB':>11} {'x file':>6} {'used':>9} {'rejected':>8}"
    )
    for r in records:
        print(
            f"{r['register']:<11} {r['stage']:<13} {r['rows']:>10,} {r['file_mb']:>8.1f} "
            f"{r['seconds']:>8.1f} "
            f"{r['cpu_seconds']:>6.1f} "
            f"{r['rows_per_s']:>10,.0f} {r['peak_rss_mb']:>11.0f} {r['peak_over_file']:>6.1f} "
            f"{r['used']:>9,} {r['rejected']:>8,}"
        )
    print(
        "peak RSS includes the interpreter and imported libraries "
        f"(about {records[0]['baseline_rss_mb']:.0f} MB before reading)"
    )
    OUT.parent.mkdir(parents=True, exist_ok=True)
    OUT.write_text(
        json.dumps(
            {"benchmark": "registers", "created": time.strftime("%Y-%m-%d"), "results": records},
            indent=2,
            ensure_ascii=False,
        )
        + "\n",
        encoding="utf-8",
    )


if __name__ == "__main__":
    main()
