"""Gap report writers: ``gaps.csv`` (UTF-8 with BOM, for Excel), ``gaps.xlsx``, the results.gpkg
layer and the rows of the console table. Chinese headers and labels by default, ``lang="en"``
switches to English. Nothing here computes a figure: the numbers come from
:func:`lifecircle.coverage.targets.evaluate_targets`.
"""

from __future__ import annotations

import io
import logging
import math
import re
import unicodedata
from pathlib import Path
from typing import Any

import geopandas as gpd
import numpy as np
import pandas as pd

from lifecircle.coverage.targets import LEVEL_ZH, SUMMARY_COLUMNS, UNIT_ZH, GapReport
from lifecircle.i18n import has_label, label
from lifecircle.output import csv_text, write_csv

logger = logging.getLogger(__name__)

LANGS = ("zh", "en")
# light blue / light orange / grey: the maps' colour-blind-safe pair (lifecircle.maps.palette)
STATUS_FILL = {"met": "BDD7EE", "not_met": "F8CBAD", "na": "D9D9D9"}
# Output columns in order; headers are the i18n labels ``col_<key>``.
COLUMNS = (
    "target_id",
    "indicator",
    "document",
    "target_type",
    "level",
    "unit_code",
    "unit_name",
    "parent_code",
    "kind",
    "year",
    "value",
    "target_value",
    "unit",
    "status",
    "shortfall",
    "shortfall_unit",
    "met_units",
    "total_units",
    "trajectory",
    "note",
)
_SUMMARY_KEYS = (
    "target_id",
    "indicator",
    "year",
    "value",
    "target_value",
    "status",
    "shortfall",
    "met_units",
)
SUMMARY_HEADERS = {lang: tuple(label(f"col_{k}", lang) for k in _SUMMARY_KEYS) for lang in LANGS}


def _word(prefix: str, value: Any, lang: str) -> Any:
    """The i18n label ``<prefix><value>`` in ``lang``, or ``value`` itself when there is none."""
    key = f"{prefix}{value}"
    return label(key, lang) if isinstance(value, str) and has_label(key) else value


def _check_lang(lang: str) -> None:
    if lang not in LANGS:
        raise ValueError(f"lang must be one of {LANGS}, got {lang!r}")


def _combined(report: GapReport) -> pd.DataFrame:
    """Every target's unit rows followed by its area row, in the order of the summary."""
    rows = report.rows.copy()
    summary = report.summary.copy()
    order = {tid: i for i, tid in enumerate(summary["target_id"])}
    rows["_target"] = rows["target_id"].map(order)
    rows["_area"] = 0
    summary["_target"] = range(len(summary))
    summary["_area"] = 1
    frames = [f for f in (rows, summary) if len(f)]
    if not frames:
        return pd.DataFrame(columns=list(SUMMARY_COLUMNS))
    both = pd.concat(frames, ignore_index=True, sort=False)
    return both.sort_values(["_target", "_area"], kind="stable").drop(columns=["_target", "_area"])


def _localise(frame: pd.DataFrame, lang: str) -> pd.DataFrame:
    """Pick the language's columns and labels, and rename the headers."""
    frame = frame.copy()
    for column in COLUMNS:
        if column not in frame:
            frame[column] = np.nan
    frame["status"] = frame["status"].map(lambda v: _word("", v, lang))
    frame["target_type"] = frame["target_type"].map(lambda v: _word("type_", v, lang))
    frame["kind"] = frame["kind"].map(lambda v: _word("", v, lang))
    if lang == "zh":
        frame["level"] = frame["level"].map(lambda v: LEVEL_ZH.get(v, v))
        for column in ("unit", "shortfall_unit"):
            frame[column] = frame[column].map(lambda v: UNIT_ZH.get(v, v))
    elif "note_en" in frame:
        frame["note"] = frame["note_en"]
    out = frame[list(COLUMNS)]
    return out.rename(columns={k: label(f"col_{k}", lang) for k in COLUMNS})


def gaps_table(report: GapReport, *, lang: str = "zh") -> pd.DataFrame:
    """The gap report as one table (unit rows then the area row of each target), localised."""
    _check_lang(lang)
    return _localise(_combined(report), lang)


def write_gaps_csv(report: GapReport, path: str | Path, lang: str = "zh") -> Path:
    """Write ``gaps.csv``: UTF-8 with BOM (so Excel shows Chinese), Chinese headers by default.

    Text cells a spreadsheet would run as formulas (``=``, ``+``, ``-``, ``@``) get a leading
    apostrophe; numbers stay numbers.

    Returns
    -------
    Path
        The file written.
    """
    path = Path(path)
    table = gaps_table(report, lang=lang)
    write_csv(table, path, lineterminator="\r\n")
    logger.info("wrote %s (%d rows)", path, len(table))
    return path


def _sheet_title(text: str, used: set[str]) -> str:
    """An Excel sheet name: no []:*?/\\, at most 31 characters, unique in the workbook."""
    title = re.sub(r"[\[\]:*?/\\]", "_", str(text)).strip("'") or "target"
    title = title[:31]
    base, n = title, 2
    while title.lower() in used:
        suffix = f"~{n}"
        title = base[: 31 - len(suffix)] + suffix
        n += 1
    used.add(title.lower())
    return title


def _display_width(value: Any) -> int:
    text = "" if value is None else str(value)
    return sum(2 if unicodedata.east_asian_width(ch) in "WF" else 1 for ch in text)


def _cell(value: Any) -> Any:
    if value is None:
        return None
    if isinstance(value, float | np.floating):
        return None if math.isnan(value) else (float(value) if math.isfinite(value) else str(value))
    if isinstance(value, np.integer):
        return int(value)
    if isinstance(value, np.bool_):
        return bool(value)
    if value is pd.NA or value is pd.NaT:
        return None
    return value


def _append_text_safe(ws: Any, values: list[Any]) -> None:
    """Append a row; text is written as text, never as a formula (openpyxl reads a string
    starting with ``=`` as one)."""
    ws.append(values)
    for cell in ws[ws.max_row]:
        if cell.data_type == "f":
            cell.data_type = "s"


def _write_sheet(ws: Any, table: pd.DataFrame, statuses: list[str], *, lead: int = 0) -> None:
    """Fill a sheet with a localised table whose COLUMNS start after ``lead`` extra columns."""
    from openpyxl.styles import Alignment, Font, PatternFill

    _append_text_safe(ws, list(table.columns))
    for cell in ws[1]:
        cell.font = Font(bold=True)
        cell.alignment = Alignment(vertical="center", wrap_text=False)
    # Localised tables keep COLUMNS' order after their lead columns.
    status_col = lead + list(COLUMNS).index("status") + 1
    number_cols = [
        lead + list(COLUMNS).index(k) + 1 for k in ("value", "target_value", "shortfall")
    ]
    for values, status in zip(table.itertuples(index=False), statuses, strict=True):
        _append_text_safe(ws, [_cell(v) for v in values])
        for column in number_cols:
            ws.cell(row=ws.max_row, column=column).number_format = "#,##0.0"
        colour = STATUS_FILL.get(status)
        if colour:
            ws.cell(row=ws.max_row, column=status_col).fill = PatternFill(
                start_color=colour, end_color=colour, fill_type="solid"
            )
    _finish_sheet(ws, table)


def _finish_sheet(ws: Any, table: pd.DataFrame) -> None:
    """Freeze and filter the header row; size the columns to their content."""
    from openpyxl.utils import get_column_letter

    ws.freeze_panes = "A2"
    ws.auto_filter.ref = ws.dimensions
    for i, column in enumerate(table.columns, start=1):
        widths = [_display_width(column), *(_display_width(v) for v in table[column].head(500))]
        ws.column_dimensions[get_column_letter(i)].width = min(max(widths) + 2, 60)


ROBUSTNESS_FILL = {"robust": "C6EFCE", "fragile": "FFEB9C", "na": "D9D9D9"}  # green/amber/grey
_SENSITIVITY_HEADERS = {
    "target_id": ("指标编号", "target"),
    "indicator": ("指标", "indicator"),
    "level": ("层级", "level"),
    "unit_code": ("代码", "code"),
    "unit_name": ("名称", "name"),
    "low": ("最低值(%)", "lowest (%)"),
    "high": ("最高值(%)", "highest (%)"),
    "statuses": ("各情景结论", "statuses"),
    "robustness": ("结论稳健性", "robustness"),
}


def sensitivity_table(sensitivity: Any, lang: str = "zh") -> pd.DataFrame:
    """Per target and unit: the value under every setting, the range and robust/fragile.

    ``sensitivity`` is a :class:`lifecircle.coverage.sensitivity.SensitivityResult`.
    """
    _check_lang(lang)
    keys = ["target_id", "unit_code"]
    wide = sensitivity.values.pivot_table(
        index=keys, columns="setting", values="value", aggfunc="first", sort=False
    )
    wide = wide[[s.label for s in sensitivity.settings if s.label in wide.columns]]
    table = sensitivity.ranges.join(wide, on=keys)
    table["statuses"] = table["statuses"].map(
        lambda v: "/".join(str(_word("", p, lang)) for p in str(v).split("/"))
    )
    if lang == "zh":
        table["level"] = table["level"].map(lambda v: LEVEL_ZH.get(v, v))
        table["robustness"] = table["robustness_zh"]
    columns = [*_SENSITIVITY_HEADERS, *wide.columns]
    table = table[columns].rename(
        columns={k: v[0 if lang == "zh" else 1] for k, v in _SENSITIVITY_HEADERS.items()}
    )
    return table


def _write_sensitivity_sheet(ws: Any, sensitivity: Any, lang: str) -> None:
    from openpyxl.styles import Font, PatternFill

    table = sensitivity_table(sensitivity, lang)
    ws.append(list(table.columns))
    for cell in ws[1]:
        cell.font = Font(bold=True)
    keys = list(_SENSITIVITY_HEADERS)
    robust_col = keys.index("robustness") + 1
    number_cols = [
        keys.index("low") + 1,
        keys.index("high") + 1,
        *range(len(keys) + 1, len(table.columns) + 1),
    ]  # then one per setting
    for values, robustness in zip(
        table.itertuples(index=False), sensitivity.ranges["robustness"], strict=True
    ):
        ws.append([_cell(v) for v in values])
        for column in number_cols:
            ws.cell(row=ws.max_row, column=column).number_format = "#,##0.0"
        colour = ROBUSTNESS_FILL.get(robustness)
        ws.cell(row=ws.max_row, column=robust_col).fill = PatternFill(
            start_color=colour, end_color=colour, fill_type="solid"
        )
    _finish_sheet(ws, table)


def write_gaps_xlsx(
    report: GapReport, path: str | Path, lang: str = "zh", *, sensitivity: Any = None
) -> Path:
    """Write ``gaps.xlsx``: a summary sheet first, then one sheet per target.

    Status cells are green (met), red (not met) or grey (not applicable); the header row is
    frozen and filtered, and columns are sized to their content. With ``sensitivity`` (a
    :class:`~lifecircle.coverage.sensitivity.SensitivityResult`) a last sheet 敏感性 gives each
    service circle's value under every setting, its range and whether 达标 is robust.

    Returns
    -------
    Path
        The file written.
    """
    from openpyxl import Workbook

    _check_lang(lang)
    path = Path(path)
    wb = Workbook()
    summary_ws = wb.active
    used: set[str] = set()
    summary_ws.title = _sheet_title(label("summary_sheet", lang), used)
    summary = report.summary
    _write_sheet(summary_ws, _localise(summary, lang), list(summary["status"]))
    combined = _combined(report)
    for target_id in summary["target_id"]:
        part = combined[combined["target_id"] == target_id]
        ws = wb.create_sheet(_sheet_title(target_id, used))
        _write_sheet(ws, _localise(part, lang), list(part["status"]))
    if sensitivity is not None:
        _write_sensitivity_sheet(
            wb.create_sheet(_sheet_title("敏感性" if lang == "zh" else "Sensitivity", used)),
            sensitivity,
            lang,
        )
    wb.save(path)
    logger.info("wrote %s (%d target sheets)", path, len(summary))
    return path


COUNTY_COLUMNS: dict[str, tuple[str, str]] = {
    "county_code": ("县级代码", "County code"),
    "county": ("县（市、区）", "County"),
}


def _no_rows() -> pd.DataFrame:
    """An empty province table (no county finished)."""
    return pd.DataFrame(
        columns=list(dict.fromkeys([*COUNTY_COLUMNS, *SUMMARY_COLUMNS, "status_zh"]))
    )


def _with_county(frame: pd.DataFrame, lang: str) -> pd.DataFrame:
    """A localised gap table with the county's code and name in front."""
    table = _localise(frame, lang)
    for key, (zh, en) in reversed(COUNTY_COLUMNS.items()):
        table.insert(0, zh if lang == "zh" else en, frame[key].astype(str).to_numpy())
    return table


def province_gaps_table(
    rows: pd.DataFrame, summary: pd.DataFrame, *, lang: str = "zh"
) -> pd.DataFrame:
    """Every county's gap rows, county by county (unit rows, then the county's area row).

    ``rows`` and ``summary`` are the gap rows and area rows of many counties, each with
    ``county_code`` and ``county`` columns.
    """
    _check_lang(lang)
    parts = []
    for county in pd.unique(summary["county"]) if len(summary) else []:
        mine = GapReport(
            rows=rows[rows["county"] == county], summary=summary[summary["county"] == county]
        )
        parts.append(_combined(mine))
    return _with_county(pd.concat(parts, ignore_index=True) if parts else _no_rows(), lang)


def province_gaps_csv(rows: pd.DataFrame, summary: pd.DataFrame, *, lang: str = "zh") -> str:
    """``province_gaps.csv`` text (write it with a UTF-8 BOM, as ``gaps.csv``)."""
    table = province_gaps_table(rows, summary, lang=lang)
    return csv_text(table, lineterminator="\r\n")


def province_gaps_xlsx(rows: pd.DataFrame, summary: pd.DataFrame, *, lang: str = "zh") -> bytes:
    """``province_gaps.xlsx``: county × target first, then township × target, both with codes."""
    from openpyxl import Workbook

    _check_lang(lang)
    wb = Workbook()
    used: set[str] = set()
    sheets = [
        ("县（市、区）×指标", "County x target", summary),
        (
            "乡镇（街道）×指标",
            "Township x target",
            rows[rows["level"] == "township"] if len(rows) else rows,
        ),
    ]
    for i, (title_zh, title_en, frame) in enumerate(sheets):
        ws = wb.active if i == 0 else wb.create_sheet()
        ws.title = _sheet_title(title_zh if lang == "zh" else title_en, used)
        frame = frame if len(frame) else _no_rows()
        _write_sheet(ws, _with_county(frame, lang), list(frame["status"]), lead=len(COUNTY_COLUMNS))
    buffer = io.BytesIO()
    wb.save(buffer)
    return buffer.getvalue()


def gaps_layer(
    report: GapReport,
    townships: gpd.GeoDataFrame,
    *,
    units: dict[str, gpd.GeoDataFrame] | None = None,
) -> gpd.GeoDataFrame:
    """The gap rows with geometry, for results.gpkg (English column names, EPSG:4326).

    Township rows get the township polygon, area rows the union of the townships, and rows of a
    unit level the unit polygon when ``units`` (by level) is given; rows of levels without
    polygons are left out.
    """
    combined = _combined(report)
    shapes = {"township": townships.set_index(townships["code"].astype(str)).geometry}
    for level, frame in (units or {}).items():
        shapes[level] = frame.to_crs(townships.crs).set_index(frame["code"].astype(str)).geometry
    keep = combined[combined["level"].isin([*shapes, "district"])].copy()
    area = townships.geometry.union_all() if len(townships) else None
    keep["geometry"] = [
        area if level == "district" else shapes[level].get(str(code))
        for level, code in zip(keep["level"], keep["unit_code"], strict=True)
    ]
    return gpd.GeoDataFrame(
        keep.reset_index(drop=True), geometry="geometry", crs=townships.crs or "EPSG:4326"
    )


def _format(value: Any, unit: str, lang: str) -> str:
    if value is None or (isinstance(value, float) and not math.isfinite(value)):
        return "—"
    label = UNIT_ZH.get(unit, unit) if lang == "zh" else unit
    if unit in ("facilities", "staff", "beds", "nursing beds", "seniors", "people", "units"):
        text = f"{value:,.0f}"
    else:
        text = f"{value:,.1f}"
    sep = "" if unit == "%" else " "
    return f"{text}{sep}{label}"


def summary_rows(report: GapReport, lang: str = "zh") -> list[tuple[str, ...]]:
    """Rows for the console's area table (headers in :data:`SUMMARY_HEADERS`).

    Each tuple: target id, indicator, year, value, target, status label, shortfall, units met.
    """
    _check_lang(lang)
    rows = []
    for r in report.summary.itertuples():
        status = _word("", r.status, lang)
        counted = isinstance(r.total_units, int | float) and math.isfinite(r.total_units)
        units = f"{r.met_units:.0f}/{r.total_units:.0f}" if counted else ""
        shortfall = "" if r.status != "not_met" else _format(r.shortfall, r.shortfall_unit, lang)
        rows.append(
            (
                str(r.target_id),
                str(r.indicator),
                str(r.year),
                _format(r.value, r.unit, lang),
                _format(r.target_value, r.unit, lang),
                status,
                shortfall,
                units,
            )
        )
    return rows
