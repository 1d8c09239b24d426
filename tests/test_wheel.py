"""A plain (non-editable) install runs: the wheel carries its data and `lifecircle demo` works
from another folder, in a fresh virtual environment that shares only the already-installed
dependencies."""

from __future__ import annotations

import os
import subprocess
import sys
import zipfile
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def wheel(tmp_path_factory) -> Path:
    dist = tmp_path_factory.mktemp("dist")
    subprocess.run(
        [
            sys.executable,
            "-m",
            "pip",
            "wheel",
            "--no-deps",
            "--no-build-isolation",
            "-q",
            "-w",
            str(dist),
            str(ROOT),
        ],
        check=True,
        capture_output=True,
        text=True,
    )
    (built,) = dist.glob("lifecircle-*.whl")
    return built


def test_wheel_ships_runtime_data_and_no_build_tools(wheel):
    names = set(zipfile.ZipFile(wheel).namelist())
    assert "lifecircle/data/sample/plan.toml" in names
    assert "lifecircle/data/sample/network.osm.bz2" in names
    assert "lifecircle/data/boundaries/nbs_township_codes_2023.csv" in names
    assert "lifecircle/maps/assets/leaflet.js" in names
    assert not any(n.startswith(("tools/", "tests/", "benchmarks/")) for n in names)
    assert "lifecircle/sample.py" not in names


def test_wheel_installs_and_runs_demo_from_another_folder(wheel, tmp_path):
    venv = tmp_path / "venv"
    # The fresh environment sees the test environment's packages (the dependencies) but not the
    # source tree: lifecircle itself comes only from the wheel.
    subprocess.run([sys.executable, "-m", "venv", "--system-site-packages", str(venv)], check=True)
    python = venv / "bin" / "python"
    base_site = subprocess.run(
        [sys.executable, "-c", "import sysconfig; print(sysconfig.get_paths()['purelib'])"],
        check=True,
        capture_output=True,
        text=True,
    ).stdout.strip()
    env = {k: v for k, v in os.environ.items() if k not in ("PYTHONPATH", "VIRTUAL_ENV")}
    # --system-site-packages points at the base interpreter; add the test venv's packages.
    site = subprocess.run(
        [str(python), "-c", "import site; print(site.getsitepackages()[0])"],
        check=True,
        capture_output=True,
        text=True,
        env=env,
    ).stdout.strip()
    (Path(site) / "deps.pth").write_text(base_site + "\n")
    subprocess.run(
        [str(python), "-m", "pip", "install", "--no-deps", "--force-reinstall", "-q", str(wheel)],
        check=True,
        env=env,
    )
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    where = subprocess.run(
        [str(python), "-c", "import lifecircle; print(lifecircle.__file__)"],
        check=True,
        capture_output=True,
        text=True,
        cwd=elsewhere,
        env=env,
    )
    assert str(ROOT) not in where.stdout, where.stdout
    out = tmp_path / "demo-out"
    run = subprocess.run(
        [str(venv / "bin" / "lifecircle"), "demo", "--out", str(out)],
        capture_output=True,
        text=True,
        cwd=elsewhere,
        env=env,
    )
    assert run.returncode == 0, run.stdout + run.stderr
    assert (out / "gaps.csv").is_file()
    assert (out / "overview.html").is_file()
