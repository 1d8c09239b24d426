"""Read planners' tables and vector files: encodings, sheets, header rows, column aliases.

Registers arrive as CSV (UTF-8, UTF-8 with BOM, GBK/GB18030), XLSX (any sheet, often with a title
row above the header), GeoJSON, GeoPackage or Shapefile (GBK ``.dbf`` common). This module turns
any of them into a :class:`RawTable`: the cells as read, the row numbers as the planner sees
them, the mapping from canonical field names to the file's headers and, for vector files, the
geometries and their CRS. What the values mean is decided by the callers (facilities, townships).

Examples
--------
>>> normalise_header("建筑面积（㎡）")
'建筑面积'
>>> map_columns(["序号", "机构名称", "经度", "纬度"], {"name": ("名称", "机构名称")})
{'name': '机构名称'}
"""

from __future__ import annotations

import csv
import logging
import re
import unicodedata
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import geopandas as gpd
import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc
import pyogrio
import pyproj

from lifecircle.errors import InputError
from lifecircle.text import detect_file_encoding

logger = logging.getLogger(__name__)

VECTOR_SUFFIXES = (".geojson", ".json", ".gpkg", ".shp", ".zip", ".kml", ".fgb", ".gml")
TABLE_SUFFIXES = (".csv", ".txt", ".tsv", ".xlsx", ".xlsm")

# Canonical register fields and the headers planners use for them (compared after
# normalise_header, so full-width brackets, units in brackets, spaces and case do not matter).
FIELD_ALIASES: dict[str, tuple[str, ...]] = {
    "name": (
        "名称",
        "机构名称",
        "站点名称",
        "设施名称",
        "单位名称",
        "场所名称",
        "服务点名称",
        "中心名称",
        "机构全称",
        "name",
        "facility_name",
    ),
    "lon": ("经度", "lng", "lon", "long", "longitude", "x", "x坐标", "经度坐标", "东经"),
    "lat": ("纬度", "lat", "latitude", "y", "y坐标", "纬度坐标", "北纬"),
    "address": ("地址", "详细地址", "机构地址", "所在地址", "地点", "位置", "address", "addr"),
    "type": (
        "类型",
        "类别",
        "设施类型",
        "机构类型",
        "站点类型",
        "设施类别",
        "type",
        "subtype",
        "kind",
    ),
    "beds": ("床位数", "床位", "总床位数", "床位总数", "床位数量", "核定床位数", "beds"),
    "nursing_beds": ("护理型床位", "护理型床位数", "护理床位", "护理床位数", "nursing_beds"),
    "township": (
        "所属街道",
        "所属乡镇",
        "所属镇街",
        "所属街镇",
        "所属乡镇(街道)",
        "所属镇(街道)",
        "所在街道",
        "所在乡镇",
        "乡镇(街道)",
        "镇(街道)",
        "乡镇街道",
        "街道",
        "乡镇",
        "镇街",
        "township",
        "town",
    ),
    "village": (
        "所属村居",
        "所属村",
        "所属社区",
        "所属村(社区)",
        "所属村(居)",
        "所在村(社区)",
        "村居",
        "村(社区)",
        "村(居)",
        "village",
        "community",
    ),
    "opened": (
        "开业年份",
        "建成年份",
        "投用年份",
        "开业时间",
        "建成时间",
        "投入使用时间",
        "成立时间",
        "设立时间",
        "opened",
        "year_opened",
    ),
    "floor_area_m2": (
        "建筑面积",
        "面积",
        "服务面积",
        "使用面积",
        "floor_area_m2",
        "floor_area",
        "area_m2",
    ),
    "renovated": (
        "改建年份",
        "改造年份",
        "改造提升年份",
        "提升改造年份",
        "改扩建年份",
        "改建时间",
        "改造时间",
        "renovated",
        "year_renovated",
    ),
    "dementia_beds": (
        "认知障碍照护床位",
        "认知障碍照护床位数",
        "认知症照护床位",
        "失智照护床位",
        "dementia_beds",
    ),
    "grade": ("等级", "机构等级", "评定等级", "等级评定", "星级", "grade"),
    "public_beds": (
        "公益性床位",
        "公益性床位数",
        "公益性养老床位",
        "公益性养老床位数",
        "public_beds",
    ),
    "services": ("附设服务", "服务内容", "服务项目", "服务模式", "services"),
    "volunteer_station": (
        "志愿服务站点",
        "志愿服务站",
        "是否设志愿服务站点",
        "是否设志愿服务站",
        "志愿服务",
        "volunteer_station",
    ),
}

_BRACKETED = re.compile(r"[(\[{<][^)\]}>]*[)\]}>]")
_HEADER_SCAN_ROWS = 30


def normalise_header(text: object) -> str:
    """Fold a header for matching: NFKC (full-width to half-width), lower case, no spaces,
    bracketed units or notes removed (``建筑面积（㎡）`` -> ``建筑面积``), trailing ``:`` dropped.

    >>> normalise_header(" Longitude (GCJ-02) ")
    'longitude'
    """
    if text is None:
        return ""
    folded = unicodedata.normalize("NFKC", str(text)).lower()
    folded = "".join(folded.split())
    stripped = _BRACKETED.sub("", folded).rstrip(":：*")
    return stripped or folded


def _alias_table(aliases: Mapping[str, Sequence[str]]) -> dict[str, list[str]]:
    return {field: [normalise_header(a) for a in names] for field, names in aliases.items()}


def map_columns(
    headers: Sequence[object],
    aliases: Mapping[str, Sequence[str]],
    overrides: Mapping[str, str] | None = None,
    *,
    file: str = "",
) -> dict[str, str]:
    """Map canonical fields to the file's headers.

    A header matches when its :func:`normalise_header` form equals an alias's, or equals the
    alias with brackets kept (so ``乡镇(街道)`` matches exactly before ``乡镇``). Aliases earlier
    in a field's list win; one header serves one field only. ``overrides`` (the layer's
    ``columns = {name = "单位名称"}``) take precedence and must exist in the file.

    Raises
    ------
    InputError
        When an override names a header that is not in the file.
    """
    headers = [str(h) if h is not None else "" for h in headers]
    exact = {}
    folded = {}
    for header in headers:
        exact.setdefault("".join(unicodedata.normalize("NFKC", header).lower().split()), header)
        folded.setdefault(normalise_header(header), header)
    mapping: dict[str, str] = {}
    used: set[str] = set()
    for field_name, header in (overrides or {}).items():
        if header not in headers:
            match = exact.get(
                "".join(unicodedata.normalize("NFKC", header).lower().split())
            ) or folded.get(normalise_header(header))
            if match is None:
                raise InputError(
                    f"{file}: columns.{field_name} = {header!r} is not a column of the file "
                    f"(columns: {', '.join(h for h in headers if h)}) — correct the column name "
                    "in the plan's columns = {…} setting"
                )
            header = match
        mapping[field_name] = header
        used.add(header)
    for field_name, names in aliases.items():
        if field_name in mapping:
            continue
        for alias in names:
            alias_exact = "".join(unicodedata.normalize("NFKC", alias).lower().split())
            header = exact.get(alias_exact)
            if header is None or header in used:
                header = folded.get(normalise_header(alias))
            if header is not None and header not in used:
                mapping[field_name] = header
                used.add(header)
                break
    return mapping


def pick_field(
    mapping: Mapping[str, str],
    name: str | None,
    key: str,
    columns: Sequence[str],
    *,
    file: str,
    setting: str,
    section: str,
) -> str | None:
    """The column serving ``key``: the plan's ``setting`` when it names one, else the alias match.

    Raises
    ------
    InputError
        When ``setting`` names a column the file does not have (named with the plan section).
    """
    if name is None:
        return mapping.get(key)
    if name not in columns:
        raise InputError(
            f"{file}: {setting} = {name!r} is not a field of the file (fields: "
            f"{', '.join(map(str, columns))}) — correct {setting} under {section}"
        )
    return name


def header_score(row: Sequence[object], aliases: Mapping[str, Sequence[str]]) -> int:
    """How many distinct fields a candidate header row matches."""
    return len(map_columns([("" if v is None else str(v)) for v in row], aliases))


def find_header_row(
    rows: Sequence[Sequence[object]],
    aliases: Mapping[str, Sequence[str]],
    *,
    scan_rows: int = _HEADER_SCAN_ROWS,
) -> tuple[int, int]:
    """Index (0-based, among the first ``scan_rows``) and score of the best-matching header row.

    Title rows ("2024年养老服务设施名录") and blank rows above the header match nothing, so the
    header is the first row with the best score; row 0 with score 0 when nothing matches.
    """
    best, best_score = 0, 0
    for i, row in enumerate(rows[:scan_rows]):
        score = header_score(row, aliases)
        if score > best_score:
            best, best_score = i, score
    return best, best_score


@dataclass(frozen=True)
class BrokenRow:
    """A row of a text file that cannot be split into cells (e.g. an unbalanced quote).

    Loaders reject it like any other bad row, so that it is accounted for.
    """

    row: int
    name: str
    reason: str
    fix: str


@dataclass
class RawTable:
    """Cells of one table as read, with the planner's row numbers.

    Attributes
    ----------
    frame
        One row per data row, columns as in the file (object values, or pyarrow-backed strings
        for CSV files).
    rows
        The row number the planner sees for each row: CSV line (header = line 1 when it is the
        first line), Excel row number, or 1-based feature number in a vector file.
    columns
        Canonical field -> header in ``frame``.
    geometry
        Geometries of a vector file (aligned with ``frame``), else ``None``.
    crs
        The vector file's CRS (``None`` for tables or a vector file without one).
    file
        The file path; ``sheet`` the sheet (names joined by ", " when several) or layer read.
    sheets
        The sheet of each row, for workbooks (``None`` for other files).
    broken
        Rows that could not be split into cells (CSV): to be rejected by the loader.
    warnings
        What the reader changed or left out: sheets skipped and why, merged cells filled.
    """

    frame: pd.DataFrame
    rows: np.ndarray
    columns: dict[str, str]
    file: Path
    geometry: gpd.GeoSeries | None = None
    crs: pyproj.CRS | None = None
    sheet: str | None = None
    sheets: np.ndarray | None = None
    broken: list[BrokenRow] = field(default_factory=list)
    warnings: list[str] = field(default_factory=list)

    def values(self, field_name: str) -> pd.Series:
        """The column mapped to ``field_name`` (all-None when the file has no such column)."""
        header = self.columns.get(field_name)
        if header is None:
            return pd.Series([None] * len(self.frame), index=self.frame.index, dtype=object)
        return self.frame[header]

    def sheet_of(self, i: int) -> str:
        """The sheet of row ``i`` when the table spans several sheets, else ``""``."""
        if self.sheets is None or len(set(self.sheets)) < 2:
            return ""
        return str(self.sheets[i])


def _is_blank(value: object) -> bool:
    if value is None:
        return True
    if isinstance(value, float) and np.isnan(value):
        return True
    return isinstance(value, str) and not value.strip()


def _search_aliases(
    aliases: Mapping[str, Sequence[str]], overrides: Mapping[str, str] | None
) -> dict[str, Sequence[str]]:
    search = dict(aliases)
    for field_name, header in (overrides or {}).items():
        search[field_name] = (header, *search.get(field_name, ()))
    return search


def _unique_headers(header: Sequence[object]) -> list[str]:
    """Header names made unique (unnamed or repeated headers) so pandas keeps every column."""
    seen: dict[str, int] = {}
    names = []
    for i, h in enumerate("" if v is None else str(v).strip() for v in header):
        h = h or f"column_{i + 1}"
        if h in seen:
            seen[h] += 1
            h = f"{h}.{seen[h]}"
        else:
            seen[h] = 0
        names.append(h)
    return names


def _rows_to_table(
    rows: list[list[object]],
    numbers: list[int],
    file: Path,
    aliases: Mapping[str, Sequence[str]],
    overrides: Mapping[str, str] | None,
    sheet: str | None = None,
    header_index: int | None = None,
) -> RawTable:
    if header_index is None:
        header_index, _ = find_header_row(rows, _search_aliases(aliases, overrides))
    names = _unique_headers(rows[header_index] if rows else [])
    width = len(names)
    data, kept_numbers = [], []
    for row, number in zip(rows[header_index + 1 :], numbers[header_index + 1 :], strict=True):
        if all(_is_blank(v) for v in row):
            continue  # blank lines are layout, not register rows
        cells = list(row[:width]) + [None] * max(0, width - len(row))
        data.append(cells)
        kept_numbers.append(number)
    frame = pd.DataFrame(data, columns=names, dtype=object)
    mapping = map_columns(names, aliases, overrides, file=file.name)
    logger.debug(
        "%s: header on row %d, columns %s",
        file.name,
        numbers[header_index] if numbers else 1,
        mapping,
    )
    return RawTable(
        frame=frame,
        rows=np.asarray(kept_numbers, dtype=np.int64),
        columns=mapping,
        file=file,
        sheet=sheet,
        sheets=np.full(len(kept_numbers), sheet, dtype=object) if sheet else None,
    )


# ---------------------------------------------------------------- CSV

# A quoted field may span lines (an address with a line break), but not this many: beyond it
# the quote is taken as unbalanced. Rows are converted to Arrow columns this many at a time.
_MAX_RECORD_LINES = 50
_CHUNK_ROWS = 8_192
_SAMPLE_CHARS = 1 << 16


class _Runaway(Exception):
    """A record has swallowed more lines than a quoted field plausibly spans."""


class _Lines:
    """The lines of a text file as ``csv.reader`` pulls them, numbered, with the lines of the
    record being read kept so that they can be read again after a broken line is dropped."""

    def __init__(self, lines: Iterator[str]) -> None:
        self._lines = lines
        self._again: list[tuple[int, str]] = []
        self.number = 0
        self.pending: list[tuple[int, str]] = []

    def __iter__(self) -> _Lines:
        return self

    def __next__(self) -> str:
        if self._again:
            number, text = self._again.pop()
        else:
            text = next(self._lines)
            self.number += 1
            number = self.number
        self.pending.append((number, text))
        if len(self.pending) > _MAX_RECORD_LINES:
            raise _Runaway
        return text

    def read_again(self, lines: list[tuple[int, str]]) -> None:
        self._again.extend(reversed(lines))


def _swallows_records(cells: list[str], delimiter: str, width: int) -> bool:
    """Whether a cell spanning lines holds lines that look like records of their own (a quote
    that opened a cell and closed only lines later, or never)."""
    least = max(2, width - 2)
    return any(
        "\n" in cell and any(part.count(delimiter) >= least for part in cell.split("\n"))
        for cell in cells
    )


def _csv_records(
    lines: _Lines, dialect: Any, width: int, broken: list[BrokenRow], name_column: int | None
) -> Iterator[tuple[int, list[str]]]:
    """``(line, cells)`` per record; a line whose quote never closes becomes a BrokenRow and
    the lines after it are read again, so that one stray quote costs one row, not the rest."""
    while True:
        reader = csv.reader(lines, dialect)
        try:
            for cells in reader:
                record = lines.pending
                lines.pending = []
                if len(record) > 1 and _swallows_records(cells, dialect.delimiter, width):
                    lines.pending = record
                    raise _Runaway
                yield record[0][0], cells
            return
        except (_Runaway, csv.Error) as exc:
            record = lines.pending
            lines.pending = []
            if not record:
                raise InputError(f"line {lines.number + 1}: {exc}") from None
            number, text = record[0]
            cells = text.replace(dialect.quotechar or '"', "").split(dialect.delimiter)
            name = (
                cells[name_column].strip()
                if name_column is not None and name_column < len(cells)
                else ""
            )
            if isinstance(exc, _Runaway) or "field larger than field limit" in str(exc):
                broken.append(
                    BrokenRow(
                        number,
                        name,
                        '引号（"）没有配对：从这个引号起，后面各行会被读成同一个单元格',
                        "删除多余的引号，或在该单元格结束处补上另一个引号",
                    )
                )
            else:
                broken.append(
                    BrokenRow(
                        number,
                        name,
                        f"无法按 CSV 拆分成单元格（{exc}）",
                        "检查该行的引号和分隔符，或删除其中的特殊字符",
                    )
                )
            lines.read_again(record[1:])


def _csv_dialect(sample: str, aliases: Mapping[str, Sequence[str]]) -> tuple[Any, int]:
    """The dialect whose first rows hold the best header, and that header's row index."""
    candidates: list[Any] = []
    try:
        candidates.append(csv.Sniffer().sniff(sample, delimiters=",\t;|"))
    except csv.Error:
        pass
    candidates += [csv.excel, csv.excel_tab]
    best: tuple[int, Any, int] | None = None
    lines = sample.splitlines(keepends=True)[:-1] or sample.splitlines(keepends=True)
    for dialect in candidates:
        try:
            rows = list(csv.reader(lines[: _HEADER_SCAN_ROWS * 2], dialect))
        except csv.Error:
            continue
        index, score = find_header_row(rows, aliases)
        if best is None or score > best[0]:
            best = (score, dialect, index)
        if score >= 2:
            break  # the sniffed (or comma) dialect finds a header: keep it
    if best is None:
        return csv.excel, 0
    return best[1], best[2]


def _arrow_columns(chunk: list[list[str]], width: int) -> list[pa.Array]:
    padded = [row if len(row) == width else (row + [""] * width)[:width] for row in chunk]
    columns = list(zip(*padded, strict=True)) if padded else [()] * width
    return [pa.array(column, type=pa.string()) for column in columns]


def _decode_error(path: Path, encoding: str) -> str:
    """The message for a file that does not decode: the first bad byte's line and offset."""
    data = path.read_bytes()
    try:
        data.decode(encoding)
        where, reason = "", "a decoding error"
    except UnicodeDecodeError as exc:
        line = data.count(b"\n", 0, exc.start) + 1
        where, reason = f" line {line}", f"{exc.reason} at byte {exc.start}"
    return (
        f"{path.name}{where}: cannot decode as {encoding.removesuffix('-sig')} ({reason}) — "
        'set encoding = "gb18030" or "utf-8" for this layer in the plan, or save the '
        "file as UTF-8"
    )


_SCAN_BYTES = 1 << 22


def _scan_lines(path: Path) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Per physical line: end offset (exclusive of the newline), whether it is empty, and
    whether it holds an odd number of quote bytes (a quoted cell that spans lines — or a quote
    that is never closed). Read in blocks, vectorised; valid for UTF-8 and GBK/GB18030, where
    the newline and quote bytes never occur inside a multi-byte character."""
    ends, quote_lines, quote_counts = [], [], []
    carriage_ends: list[np.ndarray] = []
    start = 0
    with path.open("rb") as handle:
        while (block := np.frombuffer(handle.read(_SCAN_BYTES), dtype=np.uint8)).size:
            newline = np.flatnonzero(block == 10)
            ends.append(newline + start)
            carriage_ends.append(
                newline[newline > 0][block[newline[newline > 0] - 1] == 13] + start
            )
            quotes = np.flatnonzero(block == 34) + start
            if quotes.size:
                quote_lines.append(quotes)
            start += block.size
    end = np.concatenate(ends) if ends else np.zeros(0, dtype=np.int64)
    if start and (end.size == 0 or end[-1] != start - 1):
        end = np.append(end, start)  # a last line without a newline
    odd = np.zeros(end.size, dtype=bool)
    for quotes in quote_lines:  # quotes per line, counted by runs (few in most files)
        line, count = np.unique(np.searchsorted(end, quotes), return_counts=True)
        quote_counts.append((line, count))
    if quote_counts:
        line = np.concatenate([q[0] for q in quote_counts])
        count = np.concatenate([q[1] for q in quote_counts])
        first = np.flatnonzero(np.concatenate([[True], line[1:] != line[:-1]]))
        odd[line[first]] = np.add.reduceat(count, first) % 2 == 1
    starts = np.concatenate([[0], end[:-1] + 1])
    length = end - starts
    carriage = (
        np.isin(end, np.concatenate(carriage_ends))
        if carriage_ends
        else np.zeros(end.size, dtype=bool)
    )
    empty = (length == 0) | ((length == 1) & carriage)
    return end, empty, odd


def _read_csv_columns(
    path: Path, encoding: str, dialect: Any, header_line: int, names: list[str]
) -> tuple[pd.DataFrame, np.ndarray] | None:
    """The data rows by pyarrow's CSV reader, with their line numbers, when every line is one
    whole record (no quote spans lines, every row has the header's width); ``None`` otherwise,
    and the exact, slower reader takes over."""
    import pyarrow.csv as pacsv

    if len(dialect.delimiter) != 1 or encoding.startswith("utf-16") or not names:
        return None
    end, empty, odd = _scan_lines(path)
    if odd.any() or header_line >= end.size:
        return None
    skipped: list[int] = []

    def invalid(row: Any) -> str:
        skipped.append(row.number)
        return "skip"

    offset = int(end[header_line]) + 1
    try:
        with pa.OSFile(str(path)) as stream:
            stream.seek(offset)
            table = pacsv.read_csv(
                stream,
                read_options=pacsv.ReadOptions(
                    column_names=names, encoding=encoding.removesuffix("-sig"), block_size=1 << 24
                ),
                parse_options=pacsv.ParseOptions(
                    delimiter=dialect.delimiter,
                    quote_char=dialect.quotechar or False,
                    double_quote=bool(dialect.doublequote),
                    escape_char=dialect.escapechar or False,
                    newlines_in_values=False,
                    invalid_row_handler=invalid,
                ),
                convert_options=pacsv.ConvertOptions(
                    column_types=dict.fromkeys(names, pa.string()),
                    strings_can_be_null=False,
                    quoted_strings_can_be_null=False,
                ),
            )
    except pa.ArrowInvalid:
        return None
    if any(number is None for number in skipped):
        return None
    # rows pyarrow skipped must be blank (spaces); a short or long row needs the exact reader
    blankish = [n + header_line + 1 for n in skipped]
    lines = np.flatnonzero(~empty) + 1
    lines = lines[lines > header_line + 1]
    if blankish:
        starts = np.concatenate([[0], end[:-1] + 1])
        with path.open("rb") as handle:
            for line in blankish:
                handle.seek(starts[line - 1])
                text = handle.read(end[line - 1] - starts[line - 1])
                if text.strip(b" \t\r" + dialect.delimiter.encode()):
                    return None
        lines = lines[~np.isin(lines, blankish)]
    if len(lines) != table.num_rows:
        return None
    blank = np.ones(table.num_rows, dtype=bool)
    for column in table.columns:
        blank &= np.asarray(
            pc.equal(pc.utf8_trim_whitespace(column), "").to_numpy(zero_copy_only=False), dtype=bool
        )
    if blank.any():  # rows of empty cells (",,,,") are layout, not register rows
        table = table.filter(pa.array(~blank))
        lines = lines[~blank]
    frame = pd.DataFrame(
        {
            name: pd.Series(table.column(j), dtype=pd.ArrowDtype(pa.string()))
            for j, name in enumerate(names)
        }
    )
    return frame, lines.astype(np.int64)


def _read_csv(
    path: Path,
    encoding: str | None,
    aliases: Mapping[str, Sequence[str]],
    overrides: Mapping[str, str] | None,
) -> RawTable:
    """Read a CSV into Arrow string columns (about the size of the file) with each row's line
    number: pyarrow's reader when every line is one record, else the csv module streaming
    ``_CHUNK_ROWS`` rows at a time, which also finds unbalanced quotes."""
    encoding = encoding or detect_file_encoding(path)
    if encoding == "utf-8":
        encoding = "utf-8-sig"
    search = _search_aliases(aliases, overrides)
    with path.open("rb") as raw:
        head = raw.read(_SAMPLE_CHARS)
    try:
        # the sample only chooses the dialect: bytes that do not decode are reported below
        sample = head.decode(encoding, errors="replace")
    except LookupError:
        raise InputError(
            f"{path.name}: unknown encoding {encoding!r} — set encoding = "
            '"gb18030" or "utf-8" for this layer in the plan'
        ) from None
    dialect, header_index = _csv_dialect(sample, search)
    sample_lines = sample.splitlines(keepends=True)
    if header_index < len(sample_lines) - 1:
        header = next(csv.reader([sample_lines[header_index]], dialect), [])
        names = _unique_headers(header)
        try:
            columns = _read_csv_columns(path, encoding, dialect, header_index, names)
        except UnicodeDecodeError:
            raise InputError(_decode_error(path, encoding)) from None
        if columns is not None:
            frame, numbers = columns
            mapping = map_columns(names, aliases, overrides, file=path.name)
            return RawTable(frame=frame, rows=numbers, columns=mapping, file=path)
    return _read_csv_streamed(path, encoding, dialect, header_index, aliases, overrides)


def _read_csv_streamed(
    path: Path,
    encoding: str,
    dialect: Any,
    header_index: int,
    aliases: Mapping[str, Sequence[str]],
    overrides: Mapping[str, str] | None,
) -> RawTable:
    """The exact reader: the csv module's records, ``_CHUNK_ROWS`` at a time into Arrow."""
    search = _search_aliases(aliases, overrides)
    broken: list[BrokenRow] = []
    chunks: list[list[pa.Array]] = []
    numbers: list[int] = []
    names: list[str] = []
    with path.open(encoding=encoding, newline="") as handle:
        lines = _Lines(iter(handle))
        # the header and the rows above it: read without a width
        records = _csv_records(lines, dialect, 0, broken, None)
        head: list[tuple[int, list[str]]] = []
        try:
            for number, cells in records:
                head.append((number, cells))
                if len(head) > header_index:
                    break
            if head:
                index, _ = find_header_row([c for _, c in head], search)
                names = _unique_headers(head[index][1])
            mapping = map_columns(names, aliases, overrides, file=path.name)
            name_column = names.index(mapping["name"]) if "name" in mapping else None
            width = len(names)
            chunk: list[list[str]] = []
            for number, cells in _csv_records(lines, dialect, width, broken, name_column):
                if not any(cells) or not "".join(cells).strip():
                    continue  # blank lines are layout, not register rows
                chunk.append(cells)
                numbers.append(number)
                if len(chunk) == _CHUNK_ROWS:
                    chunks.append(_arrow_columns(chunk, width))
                    chunk = []
            chunks.append(_arrow_columns(chunk, width))
        except UnicodeDecodeError:
            raise InputError(_decode_error(path, encoding)) from None
        except InputError as exc:
            raise InputError(f"{path.name} {exc}") from None
    frame = pd.DataFrame(
        {
            name: pd.Series(
                pa.chunked_array([c[j] for c in chunks], type=pa.string()),
                dtype=pd.ArrowDtype(pa.string()),
            )
            for j, name in enumerate(names)
        }
    )
    if broken:
        logger.debug("%s: %d lines cannot be split into cells", path.name, len(broken))
    return RawTable(
        frame=frame,
        rows=np.asarray(numbers, dtype=np.int64),
        columns=mapping,
        file=path,
        broken=broken,
    )


# ---------------------------------------------------------------- XLSX


def _fill_merged(ws: Any, rows: list[list[object]], first_data_row: int) -> list[str]:
    """Fill each merged range that reaches the data rows with its top-left value ("拆分并填充"),
    in ``rows`` (row i is Excel row i + 1); returns the ranges filled."""
    filled = []
    for merged in sorted(ws.merged_cells.ranges, key=lambda r: (r.min_row, r.min_col)):
        if merged.max_row < first_data_row or merged.min_row < first_data_row:
            continue  # titles and headers: layout, not data
        top = merged.min_row - 1
        if top >= len(rows):
            continue
        value = rows[top][merged.min_col - 1] if merged.min_col - 1 < len(rows[top]) else None
        for r in range(top, min(merged.max_row, len(rows))):
            row = rows[r]
            if len(row) < merged.max_col:
                row.extend([None] * (merged.max_col - len(row)))
            for c in range(merged.min_col - 1, merged.max_col):
                row[c] = value
        filled.append(merged.coord)
    return filled


def _is_register_header(mapping: Mapping[str, str], aliases: Mapping[str, Sequence[str]]) -> bool:
    """A sheet holds register rows when its header names the name column and one more field."""
    return ("name" in mapping or "name" not in aliases) and len(mapping) >= 2


def _merge_sheets(tables: list[RawTable], file: Path) -> RawTable:
    """One table from several sheets: columns aligned by the field they map to."""
    if len(tables) == 1:
        return tables[0]
    mapping: dict[str, str] = dict(tables[0].columns)
    frames = []
    for table in tables:
        rename = {}
        for field_name, header in table.columns.items():
            target = mapping.setdefault(field_name, header)
            rename[header] = target
        frames.append(table.frame.rename(columns=rename))
    frame = pd.concat(frames, ignore_index=True).astype(object)
    frame = frame.where(frame.notna(), None)
    return RawTable(
        frame=frame,
        rows=np.concatenate([t.rows for t in tables]),
        columns=mapping,
        file=file,
        sheet=", ".join(str(t.sheet) for t in tables),
        sheets=np.concatenate([t.sheets for t in tables if t.sheets is not None]),
        warnings=[w for t in tables for w in t.warnings],
    )


def _read_xlsx(
    path: Path,
    sheet: str | int | None,
    aliases: Mapping[str, Sequence[str]],
    overrides: Mapping[str, str] | None,
) -> RawTable:
    """Every sheet whose header matches (or the one ``sheet`` names), merged cells filled."""
    import openpyxl

    try:
        book = openpyxl.load_workbook(path, data_only=True)
    except Exception as exc:  # openpyxl raises many types for a broken or foreign file
        raise InputError(
            f"{path.name}: cannot open as an Excel workbook ({exc}) — save it as "
            ".xlsx (Excel 2007+)"
        ) from None
    search = _search_aliases(aliases, overrides)
    tables: list[RawTable] = []
    skipped: list[str] = []
    best: tuple[int, Any, list[list[object]], int] | None = None
    try:
        if sheet is not None:
            if isinstance(sheet, int) or (
                isinstance(sheet, str) and sheet.isdigit() and sheet not in book.sheetnames
            ):
                index = int(sheet)
                if not 0 <= index < len(book.worksheets):
                    raise InputError(
                        f"{path.name}: sheet index {index} does not exist (the "
                        f"workbook has {len(book.worksheets)} sheets, from 0)"
                    )
                candidates = [book.worksheets[index]]
            elif sheet in book.sheetnames:
                candidates = [book[sheet]]
            else:
                raise InputError(
                    f"{path.name}: no sheet named {sheet!r} (sheets: "
                    f'{", ".join(book.sheetnames)}) — correct sheet = "…"'
                )
        else:
            candidates = list(book.worksheets)
        for ws in candidates:
            rows = [list(r) for r in ws.iter_rows(min_row=1, values_only=True)]
            header_index, score = find_header_row(rows, search)
            header = rows[header_index] if rows else []
            try:
                mapping = map_columns(
                    ["" if v is None else str(v) for v in header],
                    aliases,
                    overrides,
                    file=path.name,
                )
            except InputError:
                mapping = {}
            if best is None or score > best[0]:
                best = (score, ws, rows, header_index)
            if sheet is None and not _is_register_header(mapping, aliases):
                why = (
                    "工作表为空"
                    if not any(not _is_blank(v) for r in rows for v in r)
                    else "表头中没有名称列"
                    if "name" not in mapping
                    else f"表头只认出 {', '.join(mapping.values())} 一列"
                )
                skipped.append(
                    f"{path.name}：工作表“{ws.title}”不是登记表（{why}），未读取——"
                    f'如需读取，请在规划文件中为该图层设置 sheet = "{ws.title}"'
                )
                continue
            tables.append(_sheet_table(ws, rows, header_index, path, aliases, overrides))
        if not tables:
            assert best is not None
            _, ws, rows, header_index = best
            tables.append(_sheet_table(ws, rows, header_index, path, aliases, overrides))
            skipped = [w for w in skipped if f"“{ws.title}”" not in w]
    finally:
        book.close()
    table = _merge_sheets(tables, path)
    table.warnings[:0] = skipped
    return table


def _sheet_table(
    ws: Any,
    rows: list[list[object]],
    header_index: int,
    path: Path,
    aliases: Mapping[str, Sequence[str]],
    overrides: Mapping[str, str] | None,
) -> RawTable:
    filled = _fill_merged(ws, rows, header_index + 2)
    table = _rows_to_table(
        rows,
        list(range(1, len(rows) + 1)),
        path,
        aliases,
        overrides,
        sheet=ws.title,
        header_index=header_index,
    )
    if filled:
        shown = ", ".join(filled[:10]) + (f" 等 {len(filled)} 处" if len(filled) > 10 else "")
        table.warnings.append(
            f"{path.name} 工作表“{ws.title}”中的合并单元格 {shown} 已拆分，"
            "并把合并区域的值填入其中每一行——请核对这些行的取值"
        )
    return table


def shapefile_encoding(path: Path) -> str | None:
    """The encoding of a shapefile's ``.dbf`` when it has no ``.cpg``: UTF-8 or GB18030.

    GDAL assumes ISO-8859-1 for a ``.dbf`` without ``.cpg`` or language byte, which turns GBK
    names into mojibake; Chinese shapefiles without ``.cpg`` are nearly always GBK.
    Returns ``None`` when a ``.cpg`` exists or the records are plain ASCII.
    """
    if path.with_suffix(".cpg").exists() or path.with_suffix(".CPG").exists():
        return None
    dbf = path.with_suffix(".dbf")
    if not dbf.exists():
        return None
    data = dbf.read_bytes()
    if len(data) < 32:
        return None
    header_len = int.from_bytes(data[8:10], "little")
    body = data[header_len:]
    if body.isascii():
        return None
    try:
        body.decode("utf-8")
        return "utf-8"
    except UnicodeDecodeError:
        return "gb18030"


def _check_not_empty(path: Path) -> None:
    if path.exists() and path.is_file() and path.stat().st_size == 0:
        raise InputError(
            f"{path.name}: the file is empty (0 bytes) — export or save it again "
            "(was it copied while still being written?)"
        )


def read_vector(
    path: Path, *, layer: str | None = None, encoding: str | None = None
) -> gpd.GeoDataFrame:
    """Read a vector file with pyogrio, honouring ``.cpg`` files and GBK shapefiles.

    Raises
    ------
    InputError
        When the file or layer cannot be read.
    """
    _check_not_empty(path)
    if encoding is None and path.suffix.lower() == ".shp":
        encoding = shapefile_encoding(path)
    try:
        return pyogrio.read_dataframe(path, layer=layer, encoding=encoding)
    except Exception as exc:  # pyogrio/GDAL raise several types for unreadable data
        layers = ""
        try:
            layers = ", ".join(str(n) for n, _ in pyogrio.list_layers(path))
        except Exception:  # listing is only a hint for the message
            pass
        raise InputError(
            f"{path.name}: cannot read {'layer ' + repr(layer) + ' ' if layer else ''}"
            f"({exc})" + (f" — layers in the file: {layers}" if layers else "")
        ) from None


def read_table(
    path: str | Path,
    *,
    aliases: Mapping[str, Sequence[str]] = FIELD_ALIASES,
    columns: Mapping[str, str] | None = None,
    sheet: str | int | None = None,
    encoding: str | None = None,
    layer: str | None = None,
) -> RawTable:
    """Read a CSV, XLSX or vector file into a :class:`RawTable`.

    Parameters
    ----------
    path
        The file; its suffix decides the reader.
    aliases
        Canonical field -> accepted headers (default :data:`FIELD_ALIASES`).
    columns
        Per-layer overrides, canonical field -> the file's header.
    sheet
        XLSX sheet name or 0-based index; by default the first sheet whose header matches best.
    encoding
        Text encoding of a CSV or a shapefile's ``.dbf``; detected when not given.
    layer
        Layer of a multi-layer vector file (GeoPackage).

    Raises
    ------
    InputError
        When the file is missing, of an unknown kind, or cannot be read.
    """
    path = Path(path)
    if not path.exists():
        raise InputError(
            f"{path} does not exist — check the path in the plan (relative paths "
            "are read from the plan file's folder)"
        )
    _check_not_empty(path)
    suffix = path.suffix.lower()
    if suffix in (".csv", ".txt", ".tsv"):
        return _read_csv(path, encoding, aliases, columns)
    if suffix in (".xlsx", ".xlsm"):
        return _read_xlsx(path, sheet, aliases, columns)
    if suffix == ".xls":
        raise InputError(
            f"{path.name}: old .xls workbooks are not read — open it in Excel or WPS "
            "and save as .xlsx"
        )
    if suffix in VECTOR_SUFFIXES:
        gdf = read_vector(path, layer=layer, encoding=encoding)
        frame = pd.DataFrame(gdf.drop(columns=gdf.geometry.name)).astype(object)
        frame.index = pd.RangeIndex(len(frame))
        mapping = map_columns(list(frame.columns), aliases, columns, file=path.name)
        geometry = gpd.GeoSeries(gdf.geometry.values, index=frame.index, crs=gdf.crs)
        return RawTable(
            frame=frame,
            rows=np.arange(1, len(frame) + 1, dtype=np.int64),
            columns=mapping,
            file=path,
            geometry=geometry,
            crs=gdf.crs,
            sheet=layer,
        )
    raise InputError(
        f"{path.name}: unknown file type {suffix!r} — use one of "
        f"{', '.join(TABLE_SUFFIXES + VECTOR_SUFFIXES)}"
    )
