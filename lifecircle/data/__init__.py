"""What the runtime needs, shipped inside the package: NBS township codes and the sample district.

Read through :func:`data_path`, which works from a source checkout and an installed wheel alike.
"""

from __future__ import annotations

from importlib.resources import files
from pathlib import Path


def data_path(*parts: str) -> Path:
    """Path of a file shipped in ``lifecircle/data`` (the package is installed unzipped)."""
    return Path(str(files("lifecircle.data").joinpath(*parts)))


SAMPLE_PLAN = data_path("sample", "plan.toml")
NBS_CODES_PATH = data_path("boundaries", "nbs_township_codes_2023.csv")
