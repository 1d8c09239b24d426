"""The rejected-row record every loader returns, so that every input row is accounted for."""

from __future__ import annotations

from collections.abc import Iterable, Mapping

import pandas as pd

# ``sheet`` is the workbook sheet of the row (empty for CSV and vector files): a register with
# one sheet per 街道 repeats row numbers across sheets.
REJECT_COLUMNS = ("layer", "file", "sheet", "row", "name", "reason", "fix")


def row_label(file: str, row: object, sheet: object = None, *, unit: str = "行") -> str:
    """Where a row is, as the planner finds it: ``养老.xlsx 工作表“城东街道”第12行``.

    >>> row_label("a.csv", 7), row_label("b.xlsx", 12, "城东街道")
    ('a.csv 第7行', 'b.xlsx 工作表“城东街道”第12行')
    """
    if sheet:
        return f"{file} 工作表“{sheet}”第{row}{unit}"
    return f"{file} 第{row}{unit}"


def rejection_frame(records: Iterable[Mapping[str, object]] = ()) -> pd.DataFrame:
    """Build a rejected-rows frame with exactly :data:`REJECT_COLUMNS` (missing keys are empty).

    >>> rejection_frame([{"layer": "meal_point", "row": 7, "reason": "经度为空"}]).shape
    (1, 7)
    """
    frame = pd.DataFrame(list(records), columns=list(REJECT_COLUMNS))
    frame["row"] = pd.array(frame["row"], dtype="Int64")
    for column in ("layer", "file", "sheet", "name", "reason", "fix"):
        frame[column] = frame[column].astype(object).fillna("").astype(str)
    return frame


def concat_rejections(frames: Iterable[pd.DataFrame]) -> pd.DataFrame:
    """Concatenate rejected-row frames, keeping the column order."""
    frames = [f for f in frames if len(f)]
    if not frames:
        return rejection_frame()
    return rejection_frame(pd.concat(frames, ignore_index=True).to_dict("records"))
