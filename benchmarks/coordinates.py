"""Benchmark: GCJ-02 -> WGS-84 for 1,000,000 points, vectorised vs a pure-Python loop.

Run as ``python -m benchmarks.coordinates``. The vectorised time is the best of three runs of
``lifecircle.geo.crs.gcj02_to_wgs84`` on 1,000,000 points spread over China. The pure-Python
loop (the same formula and the same fixed-point inverse, one point at a time with ``math``) is
timed on 20,000 points and scaled linearly to 1,000,000, which the output says. Results go to
``bench-results/coordinates.json``.
"""

from __future__ import annotations

import json
import math
import time
from pathlib import Path

import numpy as np

from lifecircle.geo.crs import gcj02_to_wgs84, wgs84_to_gcj02

N_POINTS = 1_000_000
N_LOOP = 20_000
OUT = Path("bench-results") / "coordinates.json"

_A = 6378245.0
_EE = 0.00669342162296594323


def _offset_scalar(lon: float, lat: float) -> tuple[float, float]:
    x = lon - 105.0
    y = lat - 35.0
    sqrt_abs_x = math.sqrt(abs(x))
    common = (20.0 * math.sin(6.0 * x * math.pi) + 20.0 * math.sin(2.0 * x * math.pi)) * 2.0 / 3.0
    dlat = -100.0 + 2.0 * x + 3.0 * y + 0.2 * y * y + 0.1 * x * y + 0.2 * sqrt_abs_x + common
    dlat += (20.0 * math.sin(y * math.pi) + 40.0 * math.sin(y / 3.0 * math.pi)) * 2.0 / 3.0
    dlat += (160.0 * math.sin(y / 12.0 * math.pi) + 320.0 * math.sin(y * math.pi / 30.0)) * 2 / 3
    dlon = 300.0 + x + 2.0 * y + 0.1 * x * x + 0.1 * x * y + 0.1 * sqrt_abs_x + common
    dlon += (20.0 * math.sin(x * math.pi) + 40.0 * math.sin(x / 3.0 * math.pi)) * 2.0 / 3.0
    dlon += (150.0 * math.sin(x / 12.0 * math.pi) + 300.0 * math.sin(x / 30.0 * math.pi)) * 2 / 3
    rad_lat = lat / 180.0 * math.pi
    magic = 1.0 - _EE * math.sin(rad_lat) ** 2
    sqrt_magic = math.sqrt(magic)
    dlat = (dlat * 180.0) / ((_A * (1.0 - _EE)) / (magic * sqrt_magic) * math.pi)
    dlon = (dlon * 180.0) / (_A / sqrt_magic * math.cos(rad_lat) * math.pi)
    return dlon, dlat


def gcj02_to_wgs84_scalar(lon: float, lat: float, tol_deg: float = 1e-8) -> tuple[float, float]:
    """One point, pure Python: the same fixed-point inverse as the vectorised version."""
    x_lon, x_lat = lon, lat
    for _ in range(30):
        d_lon, d_lat = _offset_scalar(x_lon, x_lat)
        r_lon = lon - x_lon - d_lon
        r_lat = lat - x_lat - d_lat
        x_lon += r_lon
        x_lat += r_lat
        if max(abs(r_lon), abs(r_lat)) * 0.01 < tol_deg:
            break
    return x_lon, x_lat


def main() -> dict[str, float]:
    """Run both timings, print them and the ratio, and write the JSON record."""
    rng = np.random.default_rng(20240601)
    lon_w = rng.uniform(75.0, 134.0, N_POINTS)
    lat_w = rng.uniform(18.0, 53.0, N_POINTS)
    lon_g, lat_g = wgs84_to_gcj02(lon_w, lat_w)

    vector_s = []
    for _ in range(3):
        start = time.perf_counter()
        back_lon, back_lat = gcj02_to_wgs84(lon_g, lat_g)
        vector_s.append(time.perf_counter() - start)
    best_vector_s = min(vector_s)
    max_error_deg = float(max(np.abs(back_lon - lon_w).max(), np.abs(back_lat - lat_w).max()))

    lon_list = lon_g[:N_LOOP].tolist()
    lat_list = lat_g[:N_LOOP].tolist()
    start = time.perf_counter()
    loop_result = [gcj02_to_wgs84_scalar(a, b) for a, b in zip(lon_list, lat_list, strict=True)]
    loop_s = time.perf_counter() - start
    loop_1m_s = loop_s * N_POINTS / N_LOOP
    loop_lon = np.array([p[0] for p in loop_result])
    agree_deg = float(np.abs(loop_lon - back_lon[:N_LOOP]).max())

    print(
        f"gcj02_to_wgs84 (numpy), {N_POINTS:,} points: {best_vector_s:.3f} s "
        f"(best of 3: {', '.join(f'{t:.3f}' for t in vector_s)}); "
        f"max round-trip error {max_error_deg * 111_000:.5f} m"
    )
    print(
        f"pure-Python loop, {N_LOOP:,} points: {loop_s:.3f} s -> scaled to {N_POINTS:,}: "
        f"{loop_1m_s:.1f} s (scaled linearly, not run on 1,000,000)"
    )
    print(
        f"ratio loop / numpy: {loop_1m_s / best_vector_s:.0f}x; results agree to "
        f"{agree_deg:.1e} degrees"
    )
    record = {
        "gcj02_to_wgs84_1m_points_s": round(best_vector_s, 4),
        "python_loop_1m_points_s": round(loop_1m_s, 3),
    }
    OUT.parent.mkdir(parents=True, exist_ok=True)
    OUT.write_text(json.dumps(record, indent=2) + "\n", encoding="utf-8")
    print(f"written {OUT}")
    return record


if __name__ == "__main__":
    main()
