"""The rejected-row record every loader returns, so that every input row is accounted for."""

from __future__ import annotations

from collections.abc import Iterable, Mapping

import pandas as pd

REJECT_COLUMNS = ("layer", "file", "row", "name", "reason", "fix")


def rejection_frame(records: Iterable[Mapping[str, object]] = ()) -> pd.DataFrame:
    """Build a rejected-rows frame with exactly :data:`REJECT_COLUMNS` (missing keys are empty).

    >>> rejection_frame([{"layer": "meal_point", "row": 7, "reason": "经度为空"}]).shape
    (1, 6)
    """
    frame = pd.DataFrame(list(records), columns=list(REJECT_COLUMNS))
    frame["row"] = pd.array(frame["row"], dtype="Int64")
    for column in ("layer", "file", "name", "reason", "fix"):
        frame[column] = frame[column].fillna("").astype(str)
    return frame


def concat_rejections(frames: Iterable[pd.DataFrame]) -> pd.DataFrame:
    """Concatenate rejected-row frames, keeping the column order."""
    frames = [f for f in frames if len(f)]
    if not frames:
        return rejection_frame()
    return rejection_frame(pd.concat(frames, ignore_index=True).to_dict("records"))
