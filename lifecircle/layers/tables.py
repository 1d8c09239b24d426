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
import io
import logging
import re
import unicodedata
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import geopandas as gpd
import numpy as np
import pandas as pd
import pyogrio
import pyproj

from lifecircle.errors import InputError
from lifecircle.text import detect_encoding

logger = logging.getLogger(__name__)

VECTOR_SUFFIXES = (".geojson", ".json", ".gpkg", ".shp", ".zip", ".kml", ".fgb", ".gml")
TABLE_SUFFIXES = (".csv", ".txt", ".tsv", ".xlsx", ".xlsm")

# Canonical register fields and the headers planners use for them (compared after
# normalise_header, so full-width brackets, units in brackets, spaces and case do not matter).
FIELD_ALIASES: dict[str, tuple[str, ...]] = {
    "name": ("名称", "机构名称", "站点名称", "设施名称", "单位名称", "场所名称", "服务点名称",
             "中心名称", "机构全称", "name", "facility_name"),
    "lon": ("经度", "lng", "lon", "long", "longitude", "x", "x坐标", "经度坐标", "东经"),
    "lat": ("纬度", "lat", "latitude", "y", "y坐标", "纬度坐标", "北纬"),
    "address": ("地址", "详细地址", "机构地址", "所在地址", "地点", "位置", "address", "addr"),
    "type": ("类型", "类别", "设施类型", "机构类型", "站点类型", "设施类别", "type", "subtype",
             "kind"),
    "beds": ("床位数", "床位", "总床位数", "床位总数", "床位数量", "核定床位数", "beds"),
    "nursing_beds": ("护理型床位", "护理型床位数", "护理床位", "护理床位数", "nursing_beds"),
    "township": ("所属街道", "所属乡镇", "所属镇街", "所属街镇", "所属乡镇(街道)", "所属镇(街道)",
                 "所在街道", "所在乡镇", "乡镇(街道)", "镇(街道)", "乡镇街道", "街道", "乡镇",
                 "镇街", "township", "town"),
    "village": ("所属村居", "所属村", "所属社区", "所属村(社区)", "所属村(居)", "所在村(社区)",
                "村居", "村(社区)", "村(居)", "village", "community"),
    "opened": ("开业年份", "建成年份", "投用年份", "开业时间", "建成时间", "投入使用时间",
               "成立时间", "设立时间", "opened", "year_opened"),
    "floor_area_m2": ("建筑面积", "面积", "服务面积", "使用面积", "floor_area_m2", "floor_area",
                      "area_m2"),
    "renovated": ("改建年份", "改造年份", "改造提升年份", "提升改造年份", "改扩建年份", "改建时间",
                  "改造时间", "renovated", "year_renovated"),
    "dementia_beds": ("认知障碍照护床位", "认知障碍照护床位数", "认知症照护床位", "失智照护床位",
                      "dementia_beds"),
    "grade": ("等级", "机构等级", "评定等级", "等级评定", "星级", "grade"),
    "public_beds": ("公益性床位", "公益性床位数", "公益性养老床位", "公益性养老床位数",
                    "public_beds"),
    "services": ("附设服务", "服务内容", "服务项目", "服务模式", "services"),
    "volunteer_station": ("志愿服务站点", "志愿服务站", "是否设志愿服务站点", "是否设志愿服务站",
                          "志愿服务", "volunteer_station"),
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


def map_columns(headers: Sequence[object], aliases: Mapping[str, Sequence[str]],
                overrides: Mapping[str, str] | None = None, *, file: str = "") -> dict[str, str]:
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
            match = exact.get("".join(unicodedata.normalize("NFKC", header).lower().split())) \
                or folded.get(normalise_header(header))
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


def header_score(row: Sequence[object], aliases: Mapping[str, Sequence[str]]) -> int:
    """How many distinct fields a candidate header row matches."""
    return len(map_columns([("" if v is None else str(v)) for v in row], aliases))


def find_header_row(rows: Sequence[Sequence[object]], aliases: Mapping[str, Sequence[str]],
                    *, scan_rows: int = _HEADER_SCAN_ROWS) -> tuple[int, int]:
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


@dataclass
class RawTable:
    """Cells of one table as read, with the planner's row numbers.

    Attributes
    ----------
    frame
        One row per data row, columns as in the file (object values).
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
        The file path; ``sheet`` the sheet or layer read.
    """

    frame: pd.DataFrame
    rows: np.ndarray
    columns: dict[str, str]
    file: Path
    geometry: gpd.GeoSeries | None = None
    crs: pyproj.CRS | None = None
    sheet: str | None = None

    def values(self, field_name: str) -> pd.Series:
        """The column mapped to ``field_name`` (all-None when the file has no such column)."""
        header = self.columns.get(field_name)
        if header is None:
            return pd.Series([None] * len(self.frame), index=self.frame.index, dtype=object)
        return self.frame[header]


def _is_blank(value: object) -> bool:
    if value is None:
        return True
    if isinstance(value, float) and np.isnan(value):
        return True
    return isinstance(value, str) and not value.strip()


def _rows_to_table(rows: list[list[object]], numbers: list[int], file: Path,
                   aliases: Mapping[str, Sequence[str]], overrides: Mapping[str, str] | None,
                   sheet: str | None = None) -> RawTable:
    search = dict(aliases)
    for field_name, header in (overrides or {}).items():
        search[field_name] = (header, *search.get(field_name, ()))
    header_index, _ = find_header_row(rows, search)
    header = ["" if v is None else str(v).strip() for v in (rows[header_index] if rows else [])]
    # Unnamed or repeated headers get unique names so pandas keeps every column.
    seen: dict[str, int] = {}
    names = []
    for i, h in enumerate(header):
        h = h or f"column_{i + 1}"
        if h in seen:
            seen[h] += 1
            h = f"{h}.{seen[h]}"
        else:
            seen[h] = 0
        names.append(h)
    width = len(names)
    data, kept_numbers = [], []
    for row, number in zip(rows[header_index + 1:], numbers[header_index + 1:], strict=True):
        if all(_is_blank(v) for v in row):
            continue  # blank lines are layout, not register rows
        cells = list(row[:width]) + [None] * max(0, width - len(row))
        data.append(cells)
        kept_numbers.append(number)
    frame = pd.DataFrame(data, columns=names, dtype=object)
    mapping = map_columns(names, aliases, overrides, file=file.name)
    logger.debug("%s: header on row %d, columns %s", file.name, numbers[header_index]
                 if numbers else 1, mapping)
    return RawTable(frame=frame, rows=np.asarray(kept_numbers, dtype=np.int64), columns=mapping,
                    file=file, sheet=sheet)


def _csv_rows(text: str, dialect: Any) -> tuple[list[list[str]], list[int]]:
    """Rows and the line each starts on (a quoted field with line breaks spans several)."""
    reader = csv.reader(io.StringIO(text, newline=""), dialect)
    rows, numbers = [], []
    line = 1
    for row in reader:
        rows.append(row)
        numbers.append(line)
        line = reader.line_num + 1
    return rows, numbers


def _read_csv(path: Path, encoding: str | None, aliases: Mapping[str, Sequence[str]],
              overrides: Mapping[str, str] | None) -> RawTable:
    data = path.read_bytes()
    encoding = encoding or detect_encoding(data)
    try:
        text = data.decode(encoding)
    except (UnicodeDecodeError, LookupError) as exc:
        raise InputError(f"{path.name}: cannot decode as {encoding} ({exc}) — set encoding = "
                         "\"gb18030\" or \"utf-8\" for this layer in the plan") from None
    if text.startswith("\ufeff"):
        text = text[1:]
    sample = text[:4096]
    candidates: list[Any] = []
    try:
        candidates.append(csv.Sniffer().sniff(sample, delimiters=",\t;|"))
    except csv.Error:
        pass
    candidates += [csv.excel, csv.excel_tab]
    best: tuple[int, list[list[str]], list[int]] | None = None
    for dialect in candidates:
        rows, numbers = _csv_rows(text, dialect)
        _, score = find_header_row(rows, aliases)
        if best is None or score > best[0]:
            best = (score, rows, numbers)
        if score >= 2:
            break  # the sniffed (or comma) dialect finds a header: keep it
    assert best is not None
    _, rows, numbers = best
    return _rows_to_table(rows, numbers, path, aliases, overrides)


def _read_xlsx(path: Path, sheet: str | int | None, aliases: Mapping[str, Sequence[str]],
               overrides: Mapping[str, str] | None) -> RawTable:
    import openpyxl

    try:
        book = openpyxl.load_workbook(path, data_only=True)
    except Exception as exc:  # openpyxl raises many types for a broken or foreign file
        raise InputError(f"{path.name}: cannot open as an Excel workbook ({exc}) — save it as "
                         ".xlsx (Excel 2007+)") from None
    try:
        if sheet is not None:
            if isinstance(sheet, int) or (isinstance(sheet, str) and sheet.isdigit()
                                          and sheet not in book.sheetnames):
                index = int(sheet)
                if not 0 <= index < len(book.worksheets):
                    raise InputError(f"{path.name}: sheet index {index} does not exist (the "
                                     f"workbook has {len(book.worksheets)} sheets, from 0)")
                candidates = [book.worksheets[index]]
            elif sheet in book.sheetnames:
                candidates = [book[sheet]]
            else:
                raise InputError(f"{path.name}: no sheet named {sheet!r} (sheets: "
                                 f"{', '.join(book.sheetnames)}) — correct sheet = \"…\"")
        else:
            candidates = list(book.worksheets)
        best = None
        for ws in candidates:
            rows = [list(r) for r in ws.iter_rows(min_row=1, values_only=True)]
            _, score = find_header_row(rows, aliases)
            if best is None or score > best[0]:
                best = (score, ws.title, rows)
            if score >= 3:
                break  # the first sheet that clearly holds a register
    finally:
        book.close()
    assert best is not None
    _, title, rows = best
    return _rows_to_table(rows, list(range(1, len(rows) + 1)), path, aliases, overrides,
                          sheet=title)


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


def read_vector(path: Path, *, layer: str | None = None,
                encoding: str | None = None) -> gpd.GeoDataFrame:
    """Read a vector file with pyogrio, honouring ``.cpg`` files and GBK shapefiles.

    Raises
    ------
    InputError
        When the file or layer cannot be read.
    """
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
        raise InputError(f"{path.name}: cannot read {'layer ' + repr(layer) + ' ' if layer else ''}"
                         f"({exc})" + (f" — layers in the file: {layers}" if layers else "")) \
            from None


def read_table(path: str | Path, *, aliases: Mapping[str, Sequence[str]] = FIELD_ALIASES,
               columns: Mapping[str, str] | None = None, sheet: str | int | None = None,
               encoding: str | None = None, layer: str | None = None) -> RawTable:
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
        raise InputError(f"{path} does not exist — check the path in the plan (relative paths "
                         "are read from the plan file's folder)")
    suffix = path.suffix.lower()
    if suffix in (".csv", ".txt", ".tsv"):
        return _read_csv(path, encoding, aliases, columns)
    if suffix in (".xlsx", ".xlsm"):
        return _read_xlsx(path, sheet, aliases, columns)
    if suffix == ".xls":
        raise InputError(f"{path.name}: old .xls workbooks are not read — open it in Excel or WPS "
                         "and save as .xlsx")
    if suffix in VECTOR_SUFFIXES:
        gdf = read_vector(path, layer=layer, encoding=encoding)
        frame = pd.DataFrame(gdf.drop(columns=gdf.geometry.name)).astype(object)
        frame.index = pd.RangeIndex(len(frame))
        mapping = map_columns(list(frame.columns), aliases, columns, file=path.name)
        geometry = gpd.GeoSeries(gdf.geometry.values, index=frame.index, crs=gdf.crs)
        return RawTable(frame=frame, rows=np.arange(1, len(frame) + 1, dtype=np.int64),
                        columns=mapping, file=path, geometry=geometry, crs=gdf.crs, sheet=layer)
    raise InputError(f"{path.name}: unknown file type {suffix!r} — use one of "
                     f"{', '.join(TABLE_SUFFIXES + VECTOR_SUFFIXES)}")
