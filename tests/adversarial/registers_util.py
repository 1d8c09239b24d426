"""Counting a register's data rows independently of lifecircle, to prove every row is accounted
for: CSV rows are the non-blank physical lines after the header line (the fixtures have no
quoted line breaks), workbook rows the non-blank rows below the header of each register sheet
(openpyxl directly, merged cells and all)."""

from __future__ import annotations

from pathlib import Path

import openpyxl
import pandas as pd

HEADER_WORDS = ("名称", "机构名称")


def csv_data_rows(path: Path, *, encoding: str = "utf-8") -> set[tuple[str, int]]:
    """``("", line)`` for every non-blank line after the first line naming a name column."""
    lines = path.read_bytes().decode(encoding, errors="replace").splitlines()
    header = next(i for i, line in enumerate(lines) if any(w in line for w in HEADER_WORDS))
    return {("", i + 1) for i, line in enumerate(lines) if i > header and line.strip(" ,;\t")}


def xlsx_data_rows(path: Path) -> set[tuple[str, int]]:
    """``(sheet, row)`` for every non-blank row below the header of each sheet that has one."""
    book = openpyxl.load_workbook(path)
    rows = set()
    for ws in book.worksheets:
        header = None
        for cells in ws.iter_rows():
            values = [c.value for c in cells]
            if header is None:
                if any(str(v).strip() in HEADER_WORDS for v in values if v is not None):
                    header = cells[0].row
                continue
            if any(v is not None and str(v).strip() for v in values):
                rows.add((ws.title, cells[0].row))
    return rows


def write_xlsx(path: Path, sheets: dict[str, list[list[object]]]) -> Path:
    """A workbook with one sheet per item, rows as given."""
    book = openpyxl.Workbook()
    book.remove(book.active)
    for title, rows in sheets.items():
        ws = book.create_sheet(title)
        for row in rows:
            ws.append(row)
    book.save(path)
    return path


def accounted_rows(frame: pd.DataFrame, rejects: pd.DataFrame) -> list[tuple[str, int]]:
    """``(sheet, row)`` of every used and every rejected row (a list: repeats show)."""
    used = list(
        zip(frame["source_sheet"].astype(str), frame["source_row"].astype(int), strict=True)
    )
    rejected = list(zip(rejects["sheet"].astype(str), rejects["row"].astype(int), strict=True))
    return used + rejected


def assert_accounted(
    frame: pd.DataFrame,
    rejects: pd.DataFrame,
    path: Path,
    *,
    sheet: str | None = None,
    encoding: str = "utf-8",
) -> None:
    """Used + rejected rows equal the data rows of the file, each once."""
    if path.suffix == ".xlsx":
        expected = xlsx_data_rows(path)
        if sheet is not None:
            expected = {r for r in expected if r[0] == sheet}
    else:
        expected = csv_data_rows(path, encoding=encoding)
    seen = accounted_rows(frame, rejects)
    assert len(seen) == len(set(seen)), "a row was counted twice"
    assert set(seen) == expected
