"""Facility registers: read, map columns, convert coordinates, validate every row, locate.

Choices made here (documented for planners in the rejected-rows report):

* **Swapped longitude/latitude** rows are *rejected* with the fix "经度和纬度是否填反？", never
  silently swapped: a register with a few swapped rows usually has other copy errors too.
* **Rows without coordinates** but with 所属街道/所属乡镇 are *kept* with an empty geometry: they
  count for presence by township name (and for beds), and are excluded from walking coverage.
  Without a stated township they are rejected.
* **Non-numeric beds, areas or years** ("约50") reject the row with the fix "改为数字": a bed
  count dropped silently would lower every beds-per-1000-seniors figure unseen. Blank values
  are allowed (nan). Every input row is either used or rejected, once.
* **Coordinates outside China** are rejected naming the real cause: projected metres ("set
  crs = \"EPSG:…\""; for a shapefile without ``.prj``, "add the .prj or set crs"), a decimal
  comma ("31,5": use a point), a latitude beyond ±90, or swapped columns — only the last gets
  the advice to swap.
* **Duplicates** (same name and coordinates within 10 m, or same name and township without
  coordinates) are rejected as "与第N行重复". The check is near-linear: rows at one exact point
  are grouped and their names hashed; the KD-tree pair search runs over distinct points only.
  :data:`COLOCATED_ROWS` or more rows at one exact point are reported as a warning (a register
  geocoded to a fallback address, e.g. the district government's).

Columns are parsed whole with pyarrow compute (no Python object per cell), so a register of
two million rows is read in one pass. Each column leaves the file's table once parsed, the output
is built from the parsed arrays without copies (the points, its largest part, last) and constant
columns share one Arrow block, so memory stays within about five times the file's size; see
``benchmarks/registers.py``.

Warnings (kept rows with a problem) are returned as a list, the third item of each loader's
``(frame, rejected, warnings)``.
"""

from __future__ import annotations

import logging
import re
from collections import defaultdict
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import date, datetime
from pathlib import Path
from typing import Any

import geopandas as gpd
import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc
import pyproj
import shapely
from scipy.spatial import cKDTree

from lifecircle.geo import crs as geocrs
from lifecircle.layers.categories import CategoryRegistry, normalise_text
from lifecircle.layers.rejects import rejection_frame, row_label
from lifecircle.layers.tables import FIELD_ALIASES, RawTable, read_table

logger = logging.getLogger(__name__)

FACILITY_COLUMNS = (
    "facility_id",
    "category",
    "subtype",
    "name",
    "address",
    "stated_township",
    "stated_village",
    "beds",
    "nursing_beds",
    "floor_area_m2",
    "opened",
    "services",
    "renovated",
    "grade",
    "public_beds",
    "dementia_beds",
    "layer",
    "source_file",
    "source_sheet",
    "source_row",
    "geometry",
)
DUPLICATE_RADIUS_M = 10.0
# This many rows at one exact coordinate are reported: likely geocoded to a fallback address.
COLOCATED_ROWS = 10
# Rough box of China (incl. islands) for plausibility: a coordinate outside is not a Chinese one.
_CHINA_LON = (73.0, 136.0)
_CHINA_LAT = (3.0, 54.0)
_TRUE_WORDS = {"是", "有", "√", "✓", "✔", "1", "y", "yes", "true", "t", "已设", "已建", "设有"}
# Extra services a register can flag, from a yes/no column or words in a 服务内容 column.
SERVICE_FLAGS: dict[str, tuple[str, ...]] = {
    "volunteer_station": ("志愿服务站点", "志愿服务站", "志愿服务"),
    "meal_service": ("助餐", "老年助餐", "长者食堂"),
    "day_care": ("日间照料", "日托"),
    "elder_care": ("养老服务", "居家养老"),
    "children": ("儿童之家", "儿童"),
    "general_service_model": ("全科服务模式", "全科服务", "全科+网格", "一门受理"),
    "general_service_window": ("全科社工服务窗口", "全科社工窗口", "全科窗口"),
    "medical_care": ("医养结合", "医养康养", "内设医疗机构", "医务室", "护理站"),
}
_NUMBER_UNITS = re.compile(r"(张|个|床|人|户|㎡|m2|m²|平方米|平米|平方|年|元|处|间)$")
_DMS = re.compile(
    r"^\s*(\d+(?:\.\d+)?)\s*[°度]\s*(?:(\d+(?:\.\d+)?)\s*['′分])?\s*"
    r"(?:(\d+(?:\.\d+)?)\s*(?:\"|″|′′|''|秒))?\s*([nsewNSEW东西南北])?\s*$"
)


@dataclass(frozen=True)
class LayerSpec:
    """One facility register named in the plan (``[[layers]]``).

    Attributes
    ----------
    category
        Registry key (``elder_care_centre``, ``meal_point``, ...).
    path
        CSV, XLSX, GeoJSON, GeoPackage or Shapefile.
    crs
        Coordinate system of the coordinates: ``wgs84``, ``cgcs2000``, ``gcj02``, ``bd09`` or an
        EPSG code (x/y columns in metres). A vector file's own projected CRS takes precedence.
        When omitted, the system is detected from how the points fit the walk network
        (:func:`layer_system_issue`); a run stops when the detection is not confident.
    columns
        Header overrides, canonical field -> the file's header (``{name = "单位名称"}``).
    sheet
        XLSX sheet name or 0-based index (default: the sheet whose header matches best).
    encoding
        Text encoding of a CSV or a shapefile ``.dbf`` (default: detected).
    layer_name
        Layer inside a GeoPackage.
    subtype
        Subtype for rows whose 类型 and name match none (e.g. a register of only 社工室).
    crs_check
        ``False`` keeps a declared ``crs`` even when the points fit another system far better
        (a notice instead of an error).
    key
        The layer's name in facility ids (``"<key>:<row>"``) and rejected rows; default the
        file stem (the pipeline makes keys unique when two registers share a file name).
    """

    category: str
    path: Path
    crs: str | None = None
    columns: dict[str, str] = field(default_factory=dict)
    sheet: str | int | None = None
    encoding: str | None = None
    layer_name: str | None = None
    subtype: str | None = None
    crs_check: bool = True
    key: str | None = None

    def __post_init__(self) -> None:
        object.__setattr__(self, "path", Path(self.path))


# ---------------------------------------------------------------- value parsing (vectorised)

_NUMBER = r"^[-+]?(\d+\.?\d*|\.\d+)([eE][-+]?\d+)?$"
_THOUSANDS = r"^[-+]?\d{1,3}(,\d{3})+(\.\d+)?$"
_DECIMAL_COMMA = r"^[-+]?\d+,\d+$"


def _cell_text(value: object) -> str | None:
    if value is None or value is pd.NA or (isinstance(value, float) and np.isnan(value)):
        return None
    if isinstance(value, float) and value.is_integer():
        value = int(value)
    return str(value)


def _text_array(values: pd.Series) -> pa.Array:
    """Cells as Arrow strings: stripped, NFKC-folded, ``""`` for blanks (vectorised)."""
    if isinstance(values.dtype, pd.ArrowDtype) and pa.types.is_string(values.dtype.pyarrow_dtype):
        array = pa.array(values)
        if isinstance(array, pa.ChunkedArray):
            array = array.combine_chunks()
    elif values.isna().all():  # a field the file does not have
        array = pa.nulls(len(values), pa.string())
    else:
        array = pa.array([_cell_text(v) for v in values], type=pa.string())
    array = pc.fill_null(array, "")
    return pc.utf8_trim_whitespace(pc.utf8_normalize(array, "NFKC"))


def _clean_text(values: pd.Series) -> pd.Series:
    """Strings stripped and NFKC-folded; blanks and NaN become ``""``."""
    return pd.Series(_text_array(values), index=values.index, dtype=pd.ArrowDtype(pa.string()))


def _fold(text: pa.Array) -> pa.Array:
    """:func:`normalise_text` over an array of NFKC text (lower case, no whitespace)."""
    return pc.replace_substring_regex(pc.utf8_lower(text), r"\s+", "")


def _mask(array: pa.Array | pa.ChunkedArray) -> np.ndarray:
    return np.asarray(array.to_numpy(zero_copy_only=False), dtype=bool)


def _text_at(array: pa.Array, i: int) -> str:
    """Row ``i`` of an Arrow string array as Python text (for messages)."""
    return array[int(i)].as_py()


_SHARED_ROWS = 1 << 16


def _repeated_text(value: str, n: int) -> pd.Series:
    """``value`` in each of ``n`` rows as a pandas ``str`` column whose Arrow chunks are all one
    shared block of :data:`_SHARED_ROWS` rows: a register's constant columns (category, layer,
    file) then cost one block, not ``n`` copies of the text."""
    block = pa.repeat(pa.scalar(value, pa.large_string()), min(n, _SHARED_ROWS))
    whole, rest = divmod(n, _SHARED_ROWS)
    chunks = [block] * whole + ([block.slice(0, rest)] if rest else [])
    return pd.Series(pa.chunked_array(chunks, pa.large_string()), dtype="str")


def _match_subtypes(registry: CategoryRegistry, category: str, folded: pa.Array) -> np.ndarray:
    """:meth:`CategoryRegistry.match_subtype` over a column of folded text: each distinct value
    once, one vectorised pass per alias."""
    encoded = pc.dictionary_encode(folded)
    values = encoded.dictionary
    matched = np.full(len(values), "", dtype=object)
    open_ = np.ones(len(values), dtype=bool)
    for alias, key in registry.subtype_aliases(category):
        hit = open_ & _mask(pc.match_substring(values, alias))
        matched[hit] = key
        open_ &= ~hit
    return (
        matched[encoded.indices.to_numpy(zero_copy_only=False)]
        if len(folded)
        else np.array([], dtype=object)
    )


def _floats(text: pa.Array) -> np.ndarray:
    """Parse plain numbers; NaN where the text is not one."""
    valid = pc.match_substring_regex(text, _NUMBER)
    number = pc.cast(pc.if_else(valid, text, pa.scalar(None, pa.string())), pa.float64())
    return number.to_numpy(zero_copy_only=False).astype(float)


def _parse_numbers(
    values: pd.Series, *, degrees: bool = False
) -> tuple[np.ndarray, np.ndarray, pd.Series, np.ndarray]:
    """Numbers written with units (``50张``) or thousands separators (``1,200``):
    ``(value, blank, text, decimal_comma)``.

    ``31,5`` is a decimal comma, not a thousands separator (only groups of three digits are),
    so it is not read as 315 but marked in ``decimal_comma`` (value NaN). With ``degrees``
    every comma between digits is a decimal comma: degrees have no thousands.
    """
    text = _text_array(values)
    stripped = pc.utf8_trim_whitespace(pc.replace_substring_regex(text, _NUMBER_UNITS.pattern, ""))
    thousands = pc.match_substring_regex(stripped, _THOUSANDS)
    comma = pc.match_substring_regex(stripped, _DECIMAL_COMMA)
    if degrees:
        comma = pc.or_(comma, thousands)
        thousands = pc.and_not(thousands, thousands)
    plain = pc.if_else(thousands, pc.replace_substring(stripped, ",", ""), stripped)
    number = _floats(plain)
    decimal_comma = np.asarray(
        pc.and_not(comma, thousands).to_numpy(zero_copy_only=False), dtype=bool
    )
    number[decimal_comma] = np.nan
    blank = np.asarray(pc.equal(text, "").to_numpy(zero_copy_only=False), dtype=bool)
    return number, blank, pd.Series(text, dtype=pd.ArrowDtype(pa.string())), decimal_comma


def _parse_coordinates(
    values: pd.Series, *, degrees: bool = True
) -> tuple[np.ndarray, np.ndarray, pd.Series, np.ndarray]:
    """Decimal degrees (or metres), also from 116°28′53.4″ notation."""
    number, blank, text, decimal_comma = _parse_numbers(values, degrees=degrees)
    for i in np.flatnonzero(np.isnan(number) & ~blank & ~decimal_comma):
        match = _DMS.match(text.iloc[i])
        if match:
            deg, minutes, seconds, hemi = match.groups()
            value = float(deg) + float(minutes or 0) / 60.0 + float(seconds or 0) / 3600.0
            number[i] = -value if hemi and hemi.upper() in ("S", "W", "西", "南") else value
    return number, blank, text, decimal_comma


def _parse_years(values: pd.Series) -> tuple[np.ndarray, np.ndarray, pd.Series]:
    """Four-digit years found in the text (``2019年``, ``2019-05``) or dates' years."""
    text = _text_array(values)
    found = pc.extract_regex(text, r"(?P<year>19\d{2}|20\d{2})")
    years = pc.cast(pc.struct_field(found, [0]), pa.float64()).to_numpy(zero_copy_only=False)
    years = np.asarray(years, dtype=float)
    if values.dtype == object:
        for i, v in enumerate(values):
            if isinstance(v, datetime | date | pd.Timestamp):
                years[i] = float(v.year)
    blank = _mask(pc.equal(text, ""))
    return years, blank, pd.Series(text, dtype=pd.ArrowDtype(pa.string()))


def _truthy(values: pd.Series) -> np.ndarray:
    text = _clean_text(values).str.lower()
    negative = text.str.match(r"^(无|否|没有|未|不|n|no|false|0)").to_numpy(dtype=bool)
    # a cell naming the station ("志愿服务站点") counts as yes; "无志愿服务站点" does not
    return (
        text.isin(_TRUE_WORDS).to_numpy(dtype=bool)
        | text.str.contains("志愿", regex=False).to_numpy(dtype=bool)
    ) & ~negative


# ---------------------------------------------------------------- reading a register


class _Collector:
    """Rejections and warnings of one file, with the planner's row numbers (and sheets)."""

    def __init__(self, layer: str, file: str, rows: np.ndarray, table: RawTable) -> None:
        self.layer, self.file, self.rows, self.table = layer, file, rows, table
        self.rejects: list[dict[str, Any]] = []
        self.warnings: list[str] = []

    def where(self, i: int) -> str:
        """The planner's reference for row ``i``: file, sheet (when several) and row number."""
        return row_label(self.file, int(self.rows[i]), self.table.sheet_of(i))

    def reject(self, i: int, name: str, reason: str, fix: str) -> None:
        sheet = "" if self.table.sheets is None else str(self.table.sheets[i])
        self.rejects.append(
            {
                "layer": self.layer,
                "file": self.file,
                "sheet": sheet,
                "row": int(self.rows[i]),
                "name": name,
                "reason": f"{self.where(i)}：{reason}",
                "fix": fix,
            }
        )

    def warn(self, i: int, message: str) -> None:
        self.warnings.append(f"{self.where(i)}：{message}")


def _layer_key(spec: LayerSpec) -> str:
    if spec.key:
        return spec.key
    stem = spec.path.stem
    return f"{stem}/{spec.layer_name}" if spec.layer_name else stem


def unique_layer_keys(layers: Sequence[LayerSpec]) -> list[str]:
    """A distinct key per register for facility ids (``"<key>:<row>"``) and rejected rows.

    The file stem when it is unique; registers sharing a stem (same file name in different
    folders) become ``<category>/<stem>``, and a ``#2``, ``#3`` … is added if that still collides.

    >>> from pathlib import Path
    >>> unique_layer_keys([LayerSpec("meal_point", Path("a/2024.csv")),
    ...                    LayerSpec("elder_care_centre", Path("b/2024.csv")),
    ...                    LayerSpec("meal_point", Path("c/2024.csv")),
    ...                    LayerSpec("meal_point", Path("c/other.csv"))])
    ['meal_point/2024', 'elder_care_centre/2024', 'meal_point/2024#2', 'other']
    """
    stems = [_layer_key(spec) for spec in layers]
    keys: list[str] = []
    for spec, stem in zip(layers, stems, strict=True):
        key = stem if stems.count(stem) == 1 else f"{spec.category}/{stem}"
        base, n = key, 1
        while key in keys:
            n += 1
            key = f"{base}#{n}"
        keys.append(key)
    return keys


def _vector_coordinates(
    table: RawTable, system: str, notes: list[str]
) -> tuple[np.ndarray, np.ndarray, np.ndarray, str]:
    """x, y, has-geometry and the system they are in, from a vector file's own geometries.

    Non-point geometries are represented by a point inside them. A projected file CRS wins
    over the layer's ``crs``; a geographic one (WGS-84/CGCS2000 or none) is taken as the
    layer's ``crs``, because Amap/Baidu coordinates are routinely saved labelled as EPSG:4326.
    """
    geoms = table.geometry
    assert geoms is not None
    values = geoms.values
    present = ~(shapely.is_missing(values) | shapely.is_empty(values))
    points = np.where(present, values, None)
    not_point = present & (shapely.get_type_id(points) != 0)
    if not_point.any():
        points[not_point] = shapely.point_on_surface(points[not_point])
        notes.append(f"{int(not_point.sum())} 个要素不是点，取其内部一点作为设施位置")
    x = np.where(present, shapely.get_x(points), np.nan)
    y = np.where(present, shapely.get_y(points), np.nan)
    file_crs = pyproj.CRS(table.crs) if table.crs is not None else None
    # WGS-84 and CGCS2000 agree to centimetres; any other datum (Beijing 1954, Xian 1980) or a
    # projection is converted with pyproj, and the file's CRS wins over the layer's crs.
    same_datum = (
        file_crs is None
        or file_crs.to_epsg() in (4326, 4490, 4979, 4480)
        or (
            file_crs.is_geographic
            and file_crs.datum is not None
            and any(
                k in file_crs.datum.name
                for k in ("WGS", "World Geodetic System 1984", "China 2000")
            )
        )
    )
    if not same_datum:
        lon, lat = geocrs.to_wgs84(x, y, file_crs.to_string())
        if geocrs.normalise_system(system) not in ("wgs84", "cgcs2000"):
            notes.append(
                f'文件自带坐标系 {file_crs.name}，已按文件坐标系转换，忽略图层设置 crs = "{system}"'
            )
        return lon, lat, present, "wgs84"
    return x, y, present, system


def _layer_system(spec: LayerSpec) -> str:
    """The layer's ``crs`` in canonical form; an unknown one names the layer and the key."""
    from lifecircle.errors import InputError

    try:
        # no crs: read as WGS-84, then detected from the walk network by the pipeline
        return geocrs.normalise_system(spec.crs or "wgs84")
    except InputError as exc:
        raise InputError(
            f"layer {spec.path.name} ({spec.category}): crs = {spec.crs!r} — {exc}; "
            "set crs for this [[layers]] entry in the plan"
        ) from None


_PROJECTED_FIX = (
    '在规划文件中为该图层设置 crs = "EPSG:…"（数据的投影坐标系代码，可在数据来源或 '
    "GIS 软件的图层属性中查到，如 CGCS2000 3度带 120°E 为 EPSG:4549）"
)


def _coordinate_problems(
    x: np.ndarray,
    y: np.ndarray,
    x_text: pd.Series,
    y_text: pd.Series,
    lon_hdr: str,
    lat_hdr: str,
    candidates: np.ndarray,
    *,
    no_prj: str = "",
) -> dict[int, tuple[str, str]]:
    """Reason and fix for each geographic coordinate pair outside China, naming the real cause:
    projected metres, swapped columns, a latitude beyond ±90, or a place outside China."""
    problems: dict[int, tuple[str, str]] = {}
    lon_ok = (x >= _CHINA_LON[0]) & (x <= _CHINA_LON[1])
    lat_ok = (y >= _CHINA_LAT[0]) & (y <= _CHINA_LAT[1])
    swapped = (
        (y >= _CHINA_LON[0]) & (y <= _CHINA_LON[1]) & (x >= _CHINA_LAT[0]) & (x <= _CHINA_LAT[1])
    )
    metres = (np.abs(x) > 1000) & (np.abs(y) > 1000)
    for i in np.flatnonzero(candidates & ~(lon_ok & lat_ok)):
        pair = f"({x_text.iloc[i]}, {y_text.iloc[i]})"
        if metres[i]:
            if no_prj:
                problems[i] = (
                    f"坐标 {pair} 是投影坐标（米），而{no_prj}没有坐标系文件（.prj）",
                    f"补上 {no_prj} 的 .prj 文件，或{_PROJECTED_FIX.removeprefix('在')}",
                )
            else:
                problems[i] = (f"坐标 {pair} 是投影坐标（米），不是经纬度", _PROJECTED_FIX)
        elif swapped[i]:
            problems[i] = (
                f"{lat_hdr} '{y_text.iloc[i]}' 不是纬度——经度和纬度是否填反？",
                f"经度和纬度是否填反？交换{lon_hdr}和{lat_hdr}两列的值",
            )
        elif abs(y[i]) > 90:
            problems[i] = (
                f"{lat_hdr} '{y_text.iloc[i]}' 超出 -90～90，不是纬度",
                f"核对{lat_hdr}（中国境内约 {_CHINA_LAT[0]:g}～{_CHINA_LAT[1]:g}）",
            )
        elif abs(x[i]) > 180:
            problems[i] = (
                f"{lon_hdr} '{x_text.iloc[i]}' 超出 -180～180，不是经度",
                f"核对{lon_hdr}（中国境内约 {_CHINA_LON[0]:g}～{_CHINA_LON[1]:g}）",
            )
        else:
            problems[i] = (
                f"坐标 {pair} 不在中国境内",
                "检查坐标是否为十进制度数（不是度分秒），以及图层的 crs 设置",
            )
    return problems


def _names_in_both(
    pairs: np.ndarray, head_code: np.ndarray, width: int
) -> tuple[np.ndarray, np.ndarray]:
    """Positions ``(i, j)`` in ``head_code`` (sorted ``group * width + name`` codes, one per
    name and group) of a name found in both groups of a pair: each name of the group with fewer
    names is looked up in the other group."""
    head_group = head_code // width
    start = np.searchsorted(head_group, np.arange(int(pairs.max()) + 2))
    count = np.diff(start)
    a, b = pairs[:, 0], pairs[:, 1]
    swap = count[a] > count[b]
    a, b = np.where(swap, b, a), np.where(swap, a, b)
    names = count[a]
    pair = np.repeat(np.arange(len(a)), names)
    i = np.repeat(start[a] - (np.cumsum(names) - names), names) + np.arange(pair.size)
    wanted = b[pair] * width + head_code[i] % width
    j = np.minimum(np.searchsorted(head_code, wanted), head_code.size - 1)
    found = head_code[j] == wanted
    return i[found], j[found]


def _duplicates(
    lon: np.ndarray, lat: np.ndarray, keys: np.ndarray, candidates: np.ndarray
) -> tuple[dict[int, int], list[np.ndarray]]:
    """Rows that repeat an earlier row's name within :data:`DUPLICATE_RADIUS_M`: row -> first.

    ``keys`` are integer name codes (equal names, equal codes). Near-linear: rows at one exact
    coordinate form a group (found by sorting), and within a group equal names are found by
    sorting integer (group, name) codes; the KD-tree pair search runs only over the distinct
    coordinates, and for each pair of nearby groups the names of the smaller group are looked
    up in the other. Also returns the groups of at least :data:`COLOCATED_ROWS` rows.
    """
    idx = np.flatnonzero(candidates & np.isfinite(lon) & np.isfinite(lat))
    if idx.size < 2:
        return {}, []
    x, y = lon[idx], lat[idx]
    # exact coordinates: rows sorted by point, in file order within a point
    by_point = np.lexsort((y, x))
    new_point = np.ones(idx.size, dtype=bool)
    new_point[1:] = (np.diff(x[by_point]) != 0) | (np.diff(y[by_point]) != 0)
    point_start = np.flatnonzero(new_point)
    del new_point
    point_size = np.diff(np.append(point_start, idx.size))
    crowds = [
        idx[by_point[start : start + size]]
        for start, size in zip(point_start.tolist(), point_size.tolist(), strict=True)
        if size >= COLOCATED_ROWS
    ]
    crowds.sort(key=lambda crowd: int(crowd[0]))
    # groups numbered in file order of their first row
    first_of_group = by_point[point_start]
    rank = np.empty(point_start.size, dtype=np.int64)
    rank[np.argsort(first_of_group)] = np.arange(point_start.size)
    group = np.empty(idx.size, dtype=np.int64)
    group[by_point] = np.repeat(rank, point_size)
    del by_point, point_start, point_size, rank
    first_of_group.sort()
    key = keys[idx].astype(np.int64)
    width = int(key.max()) + 1
    # the first row of each name at each point; the others repeat it
    code = group * width + key
    del group, key
    order = np.argsort(code, kind="stable")
    code = code[order]
    starts = np.ones(code.size, dtype=bool)
    starts[1:] = code[1:] != code[:-1]
    first_row = idx[order[np.maximum.accumulate(np.where(starts, np.arange(code.size), 0))]]
    duplicate = dict(zip(idx[order[~starts]].tolist(), first_row[~starts].tolist(), strict=True))
    del first_row
    if first_of_group.size > 1:
        gx, gy = x[first_of_group], y[first_of_group]
        del x, y, first_of_group
        metric = geocrs.metric_crs_for(gx, gy)
        mx, my = pyproj.Transformer.from_crs("EPSG:4326", metric, always_xy=True).transform(gx, gy)
        del gx, gy
        pairs = cKDTree(np.column_stack([mx, my])).query_pairs(
            DUPLICATE_RADIUS_M, output_type="ndarray"
        )
        del mx, my
        if len(pairs):
            head_row = idx[order[starts]]
            i, j = _names_in_both(pairs, code[starts], width)
            row_i, row_j = head_row[i], head_row[j]
            rows, others = np.maximum(row_i, row_j), np.minimum(row_i, row_j)
            # in row order, as a planner reads the file: a row already found a duplicate
            # is no longer the original of another
            for k in np.lexsort((others, rows)):
                row, other = int(rows[k]), int(others[k])
                if row not in duplicate and other not in duplicate:
                    duplicate[row] = other
    return duplicate, crowds


def read_register(
    spec: LayerSpec, registry: CategoryRegistry
) -> tuple[gpd.GeoDataFrame, pd.DataFrame, list[str]]:
    """Read one facility register, map its columns, convert to WGS-84 and validate every row.

    Every data row of the file (of every register sheet of a workbook) ends either in the
    facilities or in the rejected rows, once.

    Parameters
    ----------
    spec
        The layer (file, category, coordinate system, column overrides, sheet, encoding).
    registry
        The category registry (subtypes are recognised from 类型/类别 or the name).

    Returns
    -------
    facilities
        GeoDataFrame EPSG:4326 with :data:`FACILITY_COLUMNS` (see docs/architecture.md); rows
        without coordinates but with a stated township have a missing geometry.
    rejects
        One row per unusable register row (``layer, file, sheet, row, name, reason, fix``),
        every problem of the row in its reason.
    warnings
        Kept rows with a problem (no coordinates, more nursing beds than beds, non-point
        geometries), sheets skipped, merged cells filled and many rows at one exact point, one
        message each.

    Raises
    ------
    InputError
        When the file cannot be read at all, it has no name column or no coordinates, or the
        layer's ``crs`` is unknown.
    """
    from lifecircle.errors import InputError

    system = _layer_system(spec)
    table = read_table(
        spec.path,
        aliases=FIELD_ALIASES,
        columns=spec.columns,
        sheet=spec.sheet,
        encoding=spec.encoding,
        layer=spec.layer_name,
    )
    file = spec.path.name
    layer = _layer_key(spec)
    n = len(table.frame)
    rows = table.rows
    out = _Collector(layer, file, rows, table)
    is_vector = table.geometry is not None
    if "name" not in table.columns:
        raise InputError(
            f"{file}: no name column found (looked for {', '.join(FIELD_ALIASES['name'][:6])} …; "
            f"columns: {', '.join(map(str, table.frame.columns))}) — rename the column to 名称 "
            'or set columns = {name = "<your header>"} for this layer'
        )
    if not is_vector and not {"lon", "lat"} <= set(table.columns):
        missing = [z for z, k in (("经度", "lon"), ("纬度", "lat")) if k not in table.columns]
        raise InputError(
            f"{file}: no {'/'.join(missing)} column found (columns: "
            f"{', '.join(map(str, table.frame.columns))}) — name them 经度 and 纬度 or set "
            'columns = {lon = "…", lat = "…"} for this layer'
        )
    # each column leaves the table once it is parsed, so that the file's cells are not all
    # held while the next columns are parsed and the output is built
    unparsed = dict(table.columns)
    table.frame = table.frame[list(dict.fromkeys(unparsed.values()))]

    def take(field_name: str) -> pd.Series:
        values = table.values(field_name)
        header = unparsed.pop(field_name, None)
        if header is not None and header not in unparsed.values():
            del table.frame[header]
        return values

    names = _text_array(take("name"))
    stated = _text_array(take("township"))
    stated_blank = _mask(pc.equal(stated, ""))

    bad = np.zeros(n, dtype=bool)
    reasons: dict[int, list[str]] = defaultdict(list)
    fixes: dict[int, list[str]] = defaultdict(list)

    def flag(i: int, reason: str, fix: str) -> None:
        bad[i] = True
        reasons[i].append(reason)
        if fix not in fixes[i]:
            fixes[i].append(fix)

    for i in np.flatnonzero(_mask(pc.equal(names, ""))):
        flag(i, "名称为空", "填写设施名称")

    # -- coordinates
    notes: list[str] = []
    lon_hdr = table.columns.get("lon", "经度")
    lat_hdr = table.columns.get("lat", "纬度")
    geographic_in = system in ("wgs84", "cgcs2000", "gcj02", "bd09")
    x_comma = y_comma = np.zeros(n, dtype=bool)
    if is_vector:
        x, y, present, sys_in = _vector_coordinates(table, system, notes)
        if {"lon", "lat"} <= set(table.columns):
            # Features without geometry may still carry coordinate columns.
            cx, cblank, _, _ = _parse_coordinates(take("lon"), degrees=geographic_in)
            cy, cblank_y, _, _ = _parse_coordinates(take("lat"), degrees=geographic_in)
            use = ~present & ~cblank & ~cblank_y & np.isfinite(cx) & np.isfinite(cy)
            if sys_in == system:
                x[use], y[use] = cx[use], cy[use]
                present = present | use
        x_blank = y_blank = ~present
        x_text = pd.Series(x).map(lambda v: f"{v:g}")
        y_text = pd.Series(y).map(lambda v: f"{v:g}")
    else:
        x, x_blank, x_text, x_comma = _parse_coordinates(take("lon"), degrees=geographic_in)
        y, y_blank, y_text, y_comma = _parse_coordinates(take("lat"), degrees=geographic_in)
        sys_in = system
    geographic = sys_in in ("wgs84", "cgcs2000", "gcj02", "bd09")

    no_coords = x_blank & y_blank
    keep_without_geometry = no_coords & ~stated_blank
    for i in np.flatnonzero(no_coords & stated_blank):
        flag(
            i,
            "经度和纬度为空，也没有填写所属街道（乡镇）",
            "补充坐标；或至少填写所属街道/乡镇（无坐标的设施只计入所在乡镇的数量，不参与步行覆盖）",
        )
    for i in np.flatnonzero(x_blank & ~y_blank):
        flag(i, f"{lon_hdr}为空", f"补充{lon_hdr}")
    for i in np.flatnonzero(y_blank & ~x_blank):
        flag(i, f"{lat_hdr}为空", f"补充{lat_hdr}")
    for header, text, comma in ((lon_hdr, x_text, x_comma), (lat_hdr, y_text, y_comma)):
        for i in np.flatnonzero(comma):
            flag(
                i,
                f"{header} '{text.iloc[i]}' 用逗号作小数点",
                f"把{header}中的逗号改为小数点（'{text.iloc[i].replace(',', '.')}'）",
            )
    x_bad = ~x_blank & ~np.isfinite(x) & ~x_comma
    y_bad = ~y_blank & ~np.isfinite(y) & ~y_comma
    for i in np.flatnonzero(x_bad):
        flag(i, f"{lon_hdr} '{x_text.iloc[i]}' 不是数字", f"把{lon_hdr}改为十进制度数，如 116.4813")
    for i in np.flatnonzero(y_bad):
        flag(i, f"{lat_hdr} '{y_text.iloc[i]}' 不是数字", f"把{lat_hdr}改为十进制度数，如 39.9905")
    numeric = np.isfinite(x) & np.isfinite(y)
    if geographic:
        no_prj = file if is_vector and table.crs is None else ""
        for i, (reason, fix) in _coordinate_problems(
            x, y, x_text, y_text, lon_hdr, lat_hdr, numeric, no_prj=no_prj
        ).items():
            flag(i, reason, fix)
    lon = np.full(n, np.nan)
    lat = np.full(n, np.nan)
    convert = numeric & ~bad
    if convert.any():
        lon[convert], lat[convert] = geocrs.to_wgs84(x[convert], y[convert], sys_in)
        if not geographic:
            outside = convert & (
                (lon < _CHINA_LON[0])
                | (lon > _CHINA_LON[1])
                | (lat < _CHINA_LAT[0])
                | (lat > _CHINA_LAT[1])
                | ~np.isfinite(lon)
            )
            degrees_given = outside & (np.abs(x) <= 180) & (np.abs(y) <= 90)
            for i in np.flatnonzero(outside):
                if degrees_given[i]:
                    flag(
                        i,
                        f"坐标 ({x_text.iloc[i]}, {y_text.iloc[i]}) 是经纬度，但图层设为投影"
                        f'坐标系 crs = "{spec.crs}"',
                        "把该图层的 crs 改为经纬度坐标系（wgs84、cgcs2000、gcj02 或 bd09）",
                    )
                else:
                    flag(
                        i,
                        f'坐标 ({x_text.iloc[i]}, {y_text.iloc[i]}) 按 crs = "{spec.crs}" '
                        "换算后不在中国境内",
                        "检查图层的 crs 设置（投影坐标系的 EPSG 代码）以及 x/y 是否填反",
                    )
    del x, y, x_text, y_text

    # -- attributes: a value that is not a number rejects the row (a bed count the planner
    # cannot see would silently lower every beds-per-1000-seniors figure)
    numbers: dict[str, np.ndarray] = {}
    labels = {
        "beds": "床位数",
        "nursing_beds": "护理型床位",
        "floor_area_m2": "建筑面积",
        "public_beds": "公益性床位",
        "dementia_beds": "认知障碍照护床位",
    }
    for key, label in labels.items():
        header = table.columns.get(key, label)
        if key not in table.columns:
            numbers[key] = np.full(n, np.nan)
            continue
        value, blank, text, comma = _parse_numbers(take(key))
        for i in np.flatnonzero(comma):
            flag(
                i,
                f"{header} '{text.iloc[i]}' 用逗号作小数点",
                f"把{header}中的逗号改为小数点（'{text.iloc[i].replace(',', '.')}'）",
            )
        for i in np.flatnonzero(~blank & ~np.isfinite(value) & ~comma):
            flag(
                i, f"{header} '{text.iloc[i]}' 不是数字", f"把{header}改为数字（如 50），不详时留空"
            )
        for i in np.flatnonzero(np.isfinite(value) & (value < 0)):
            flag(i, f"{header} '{text.iloc[i]}' 是负数", f"把{header}改为不小于 0 的数字")
        numbers[key] = value
    if "opened" in table.columns:
        opened, blank, text = _parse_years(take("opened"))
        opened_header = table.columns["opened"]
        for i in np.flatnonzero(~blank & np.isnan(opened)):
            flag(
                i,
                f"{opened_header} '{text.iloc[i]}' 不是年份",
                f"把{opened_header}改为四位年份（如 2023），不详时留空",
            )
    else:
        opened = np.full(n, np.nan)
    numbers["opened"] = opened
    renovated, blank, text = _parse_years(take("renovated"))
    for i in np.flatnonzero(~blank & np.isnan(renovated)):
        flag(
            i,
            f"{table.columns.get('renovated', '改建年份')} '{text.iloc[i]}' 不是年份",
            "把改建（改造提升）年份改为四位年份（如 2023），未改建时留空",
        )
    numbers["renovated"] = renovated
    del opened, renovated
    has_both = np.isfinite(numbers["beds"]) & np.isfinite(numbers["nursing_beds"])
    for i in np.flatnonzero(has_both & (numbers["nursing_beds"] > numbers["beds"]) & ~bad):
        out.warn(
            i,
            f"护理型床位 {numbers['nursing_beds'][i]:g} 多于床位数 {numbers['beds'][i]:g}——请核对",
        )
    for i in np.flatnonzero(keep_without_geometry & ~bad):
        out.warn(
            i,
            f"“{_text_at(names, i)}”没有坐标，按所属街道“{stated[int(i)].as_py()}”计入数量，"
            "不参与步行覆盖计算——请补充坐标",
        )

    # -- services hosted, in SERVICE_FLAGS order: one bit per service, one label per bit set
    service_bits = np.zeros(n, dtype=np.int64)
    service_text = _clean_text(take("services")) if "services" in table.columns else None
    for bit, (key, words) in enumerate(SERVICE_FLAGS.items()):
        hosted = np.zeros(n, dtype=bool)
        if key == "volunteer_station" and "volunteer_station" in table.columns:
            hosted |= _truthy(take("volunteer_station"))
        if service_text is not None:
            for word in words:
                hosted |= service_text.str.contains(word, regex=False).to_numpy(dtype=bool)
        service_bits |= hosted.astype(np.int64) << bit
    del service_text, text
    labels = np.array(
        [
            ";".join(k for b, k in enumerate(SERVICE_FLAGS) if code >> b & 1)
            for code in range(1 << len(SERVICE_FLAGS))
        ],
        dtype=object,
    )

    # -- subtype from 类型/类别, else the name, else the layer's default
    folded_names = _fold(names)
    subtypes = _match_subtypes(registry, spec.category, _fold(_text_array(take("type"))))
    by_name = subtypes == ""
    subtypes[by_name] = _match_subtypes(
        registry, spec.category, folded_names.filter(pa.array(by_name))
    )
    subtypes[subtypes == ""] = spec.subtype or ""
    # equal folded names, equal codes: what the duplicate checks compare
    name_keys = pc.dictionary_encode(folded_names).indices.to_numpy(zero_copy_only=False)
    del folded_names
    address = _text_array(take("address"))
    village = _text_array(take("village"))
    grade = _text_array(take("grade"))
    # every cell is parsed: the file's columns are gone (freed Arrow buffers handed back)
    table.frame = table.frame.iloc[:0]
    pa.default_memory_pool().release_unused()

    # -- duplicates among rows still good: same name within DUPLICATE_RADIUS_M, or same name
    # and township when neither has coordinates
    good = ~bad
    duplicate, crowds = _duplicates(lon, lat, name_keys, good)
    for j, i in duplicate.items():
        flag(
            j,
            f"与{out.where(i).removeprefix(file + ' ')}重复（同名“{_text_at(names, j)}”，"
            f"坐标相距不到{DUPLICATE_RADIUS_M:.0f}米）",
            "删除重复行；如确为两处设施，请在名称中加以区分",
        )
    for crowd in crowds:
        shown = "、".join(str(rows[i]) for i in crowd[:10]) + ("…" if len(crowd) > 10 else "")
        out.warnings.append(
            f"{file}：{len(crowd)} 行的坐标完全相同（{lon[crowd[0]]:.6f}, {lat[crowd[0]]:.6f}），"
            f"很可能是地理编码时退回到了同一个默认地址（如区政府）——请核对这些行的坐标"
            f"（第 {shown} 行）"
        )
    unlocated = np.flatnonzero(good & keep_without_geometry)
    if unlocated.size:
        picked = pa.array(unlocated)
        pairs = pd.DataFrame(
            {
                "name": name_keys[unlocated],
                "town": pd.Series(_fold(stated).take(picked), dtype="str"),
            }
        )
        first = pd.Series(unlocated).groupby([pairs["name"], pairs["town"]]).transform("min")
        for i, f in zip(unlocated, first.to_numpy(), strict=True):
            if i != f:
                flag(
                    i,
                    f"与{out.where(f).removeprefix(file + ' ')}重复（同名“{_text_at(names, i)}”，"
                    "所属街道相同，均无坐标）",
                    "删除重复行；如确为两处设施，请在名称中加以区分",
                )
    del duplicate, crowds, name_keys

    for broken in table.broken:
        out.rejects.append(
            {
                "layer": layer,
                "file": file,
                "sheet": "",
                "row": broken.row,
                "name": broken.name,
                "reason": f"{row_label(file, broken.row)}：{broken.reason}",
                "fix": broken.fix,
            }
        )
    for i in np.flatnonzero(bad):
        out.reject(i, _text_at(names, i), "；".join(reasons[i]), "；".join(fixes[i]))
    out.warnings[:0] = list(table.warnings)
    for note in notes:
        out.warnings.append(f"{file}：{note}")

    # -- the output, column by column, each source let go once its kept rows are copied; the
    # points (the largest part) last
    keep = ~bad
    every = bool(keep.all())

    def kept(values: np.ndarray) -> np.ndarray:
        return values if every else values[keep]

    def kept_text(array: pa.Array) -> pd.Series:
        return pd.Series(array if every else array.filter(pa.array(keep)), dtype="str")

    kept_rows = kept(rows)
    several = table.sheets is not None and len(set(table.sheets)) > 1
    sheets = kept(table.sheets).astype(str) if table.sheets is not None else None
    prefix = (
        pc.binary_join_element_wise(pa.array(sheets, type=pa.string()), "!", "") if several else ""
    )
    columns = {
        "facility_id": pd.Series(
            pc.binary_join_element_wise(
                f"{layer}:", prefix, pc.cast(pa.array(kept_rows), pa.string()), ""
            ),
            dtype="str",
        ),
        "category": _repeated_text(spec.category, len(kept_rows)),
        "subtype": pd.Series(kept(subtypes), dtype="str"),
        "name": kept_text(names),
        "address": kept_text(address),
        "stated_township": kept_text(stated),
        "stated_village": kept_text(village),
        "beds": kept(numbers.pop("beds")),
        "nursing_beds": kept(numbers.pop("nursing_beds")),
        "floor_area_m2": kept(numbers.pop("floor_area_m2")),
        "opened": kept(numbers.pop("opened")),
        "services": pd.Series(
            pa.array(labels, type=pa.large_string()).take(pa.array(kept(service_bits))),
            dtype="str",
        ),
        "renovated": kept(numbers.pop("renovated")),
        "grade": kept_text(grade),
        "public_beds": kept(numbers.pop("public_beds")),
        "dementia_beds": kept(numbers.pop("dementia_beds")),
        "layer": _repeated_text(layer, len(kept_rows)),
        "source_file": _repeated_text(file, len(kept_rows)),
        "source_sheet": (
            _repeated_text("", len(kept_rows)) if sheets is None else pd.Series(sheets, dtype="str")
        ),
        "source_row": kept_rows.astype(np.int64, copy=False),
    }
    del names, address, stated, village, grade, subtypes, service_bits, numbers, sheets, prefix
    pa.default_memory_pool().release_unused()
    lon = kept(lon)
    lat = kept(lat)
    geometry = shapely.points(lon, lat)
    geometry[~(np.isfinite(lon) & np.isfinite(lat))] = None  # kept without coordinates
    del lon, lat
    frame = gpd.GeoDataFrame(
        columns,
        geometry=gpd.array.from_shapely(geometry, crs="EPSG:4326"),
        crs="EPSG:4326",
        copy=False,
    )
    rejects = rejection_frame(out.rejects)
    logger.info(
        "%s: %d rows read, %d used (%d without coordinates), %d rejected, %d warnings",
        file,
        n + len(table.broken),
        len(frame),
        int((keep & keep_without_geometry).sum()),
        len(rejects),
        len(out.warnings),
    )
    return frame, rejects, list(out.warnings)


# ---------------------------------------------------------------- coordinate-system check


def _nearest_m(
    tree: cKDTree, transformer: pyproj.Transformer, lon: np.ndarray, lat: np.ndarray
) -> np.ndarray:
    """Distance (m) from each point to its nearest reference point; inf where not finite."""
    x, y = transformer.transform(lon, lat)
    x = np.asarray(x, dtype=float)
    y = np.asarray(y, dtype=float)
    ok = np.isfinite(x) & np.isfinite(y)
    distance = np.full(x.shape, np.inf)
    if ok.any():
        distance[ok], _ = tree.query(np.column_stack([x[ok], y[ok]]))
    return distance


_SYSTEM_NAMES = {
    "wgs84": "WGS-84",
    "cgcs2000": "CGCS2000",
    "gcj02": "GCJ-02（高德/腾讯）",
    "bd09": "BD-09（百度）",
}


def check_coordinate_system(
    lon: np.ndarray,
    lat: np.ndarray,
    declared: str,
    reference_lon: np.ndarray,
    reference_lat: np.ndarray,
    *,
    layer_name: str = "",
    min_points: int = 3,
    min_ratio: float = 3.0,
    max_median_m: float = 60.0,
    paired_min_points: int = 8,
    paired_ratio: float = 1.8,
    paired_share: float = 0.65,
) -> str | None:
    """Warn when a layer's points fit the reference far better under another coordinate system.

    ``lon``/``lat`` are the layer's points *after* conversion to WGS-84 under the declared
    system. They are converted back to the raw values, re-read as WGS-84, GCJ-02, BD-09 and
    with longitude and latitude swapped, and each point's distance to the nearest reference
    point (e.g. walk-network nodes; KD-tree in a metric CRS) is measured. The best alternative
    (lowest median distance) is reported when its median is below ``max_median_m`` and either

    * it cuts the median at least ``min_ratio`` (3) times, or
    * with at least ``paired_min_points`` points, it cuts the median ``paired_ratio`` (1.8)
      times *and* brings ``paired_share`` (65 %) of the points individually closer.

    The second rule exists because in a dense street grid (nodes every ~50 m) a point shifted
    by 300–500 m is still only 50–70 m from some node, so the median ratio of a wrong system
    is often only 2–2.5 (measured on the sample district); the paired share guards against
    chance.

    Returns
    -------
    str or None
        A warning naming the layer, the declared and the likely system, both medians and the
        fix (``crs = "gcj02"`` in the plan), or ``None``.

    Examples
    --------
    >>> import numpy as np
    >>> nodes_lon, nodes_lat = np.array([116.40, 116.41, 116.42]), np.array([39.90, 39.91, 39.92])
    >>> check_coordinate_system(nodes_lon, nodes_lat, "wgs84", nodes_lon, nodes_lat) is None
    True
    """
    fit = fit_coordinate_systems(
        lon,
        lat,
        declared,
        reference_lon,
        reference_lat,
        min_points=min_points,
        min_ratio=min_ratio,
        max_median_m=max_median_m,
        paired_min_points=paired_min_points,
        paired_ratio=paired_ratio,
        paired_share=paired_share,
    )
    if fit is None or not fit.other_fits_better:
        return None
    return _system_advice(fit, layer_name)


@dataclass(frozen=True)
class SystemFit:
    """How well a layer's points fit the reference under its declared system and the others.

    Attributes
    ----------
    declared
        The declared system (canonical name).
    declared_m, best_m
        Median distance (m) to the nearest reference point as declared, and under ``best``.
    best
        The best-fitting alternative: ``wgs84``, ``gcj02``, ``bd09`` or ``swapped``.
    share
        Share of points individually closer under ``best`` than as declared.
    other_fits_better
        ``best`` fits clearly better (the rules of :func:`check_coordinate_system`).
    declared_fits_better
        The declared system fits clearly better than every alternative, by the same rules
        read the other way round.
    """

    declared: str
    declared_m: float
    best: str
    best_m: float
    share: float
    other_fits_better: bool
    declared_fits_better: bool


def fit_coordinate_systems(
    lon: np.ndarray,
    lat: np.ndarray,
    declared: str,
    reference_lon: np.ndarray,
    reference_lat: np.ndarray,
    *,
    min_points: int = 3,
    min_ratio: float = 3.0,
    max_median_m: float = 60.0,
    paired_min_points: int = 8,
    paired_ratio: float = 1.8,
    paired_share: float = 0.65,
) -> SystemFit | None:
    """The evidence :func:`check_coordinate_system` weighs; ``None`` when there is too little
    (fewer than ``min_points`` points, no reference, or a projected declared system)."""
    lon = np.asarray(lon, dtype=float)
    lat = np.asarray(lat, dtype=float)
    ref_lon = np.asarray(reference_lon, dtype=float)
    ref_lat = np.asarray(reference_lat, dtype=float)
    ok = np.isfinite(lon) & np.isfinite(lat)
    ref_ok = np.isfinite(ref_lon) & np.isfinite(ref_lat)
    if ok.sum() < min_points or ref_ok.sum() == 0:
        return None
    name = geocrs.normalise_system(declared)
    if name not in ("wgs84", "cgcs2000", "gcj02", "bd09"):
        return None  # projected inputs: the datum offsets do not apply
    lon, lat = lon[ok], lat[ok]
    metric = geocrs.metric_crs_for(ref_lon[ref_ok], ref_lat[ref_ok])
    transformer = pyproj.Transformer.from_crs("EPSG:4326", metric, always_xy=True)
    rx, ry = transformer.transform(ref_lon[ref_ok], ref_lat[ref_ok])
    tree = cKDTree(np.column_stack([rx, ry]))
    raw_x, raw_y = geocrs.from_wgs84(lon, lat, name)
    declared_d = _nearest_m(tree, transformer, lon, lat)
    declared_m = float(np.median(declared_d))
    canonical = "wgs84" if name == "cgcs2000" else name
    candidates: dict[str, tuple[np.ndarray, np.ndarray]] = {}
    for alt in ("wgs84", "gcj02", "bd09"):
        if alt != canonical:
            candidates[alt] = geocrs.to_wgs84(raw_x, raw_y, alt)
    candidates["swapped"] = geocrs.to_wgs84(raw_y, raw_x, name)
    distances = {alt: _nearest_m(tree, transformer, *xy) for alt, xy in candidates.items()}
    medians = {alt: float(np.median(d)) for alt, d in distances.items()}
    best = min(medians, key=medians.get)
    best_m = medians[best]
    ratio = declared_m / best_m if best_m > 0 else float("inf")
    share = float(np.mean(distances[best] < declared_d))
    logger.debug(
        "crs check: declared %s %.1f m, alternatives %s, best %s closer for %.0f%%",
        name,
        declared_m,
        {k: round(v, 1) for k, v in medians.items()},
        best,
        100 * share,
    )

    def clearly(ratio: float, share: float, median_m: float) -> bool:
        return median_m < max_median_m and (
            ratio >= min_ratio
            or (lon.size >= paired_min_points and ratio >= paired_ratio and share >= paired_share)
        )

    back_ratio = best_m / declared_m if declared_m > 0 else float("inf")
    back_share = float(np.mean(declared_d < distances[best]))
    return SystemFit(
        declared=name,
        declared_m=declared_m,
        best=best,
        best_m=best_m,
        share=share,
        other_fits_better=clearly(ratio, share, best_m),
        declared_fits_better=clearly(back_ratio, back_share, declared_m),
    )


def _system_advice(fit: SystemFit, layer_name: str) -> str:
    where = layer_name or "该图层"
    declared_zh = _SYSTEM_NAMES.get(fit.declared, fit.declared)
    evidence = (
        f"{where}：按声明的坐标系 {declared_zh}，设施到最近路网节点的距离中位数为 "
        f"{fit.declared_m:.0f} 米；"
    )
    if fit.best == "swapped":
        return (
            evidence + f"若交换经度和纬度则为 {fit.best_m:.0f} 米"
            f"（{fit.share:.0%} 的设施更近）。经度和纬度两列很可能填反了——"
            "请交换这两列，或在规划文件的 columns 设置中对调 lon 和 lat。"
        )
    return (
        evidence + f"按 {_SYSTEM_NAMES[fit.best]} 则为 {fit.best_m:.0f} 米"
        f"（{fit.share:.0%} 的设施更近）。该图层的坐标很可能是 {_SYSTEM_NAMES[fit.best]}——"
        f'请在规划文件中把该图层设为 crs = "{fit.best}"。'
    )


def detect_coordinate_system(
    lon: np.ndarray, lat: np.ndarray, reference_lon: np.ndarray, reference_lat: np.ndarray
) -> tuple[str | None, SystemFit | None]:
    """The system of raw coordinates read as WGS-84, when the evidence is clear.

    Returns
    -------
    system, fit
        ``"wgs84"``, ``"gcj02"`` or ``"bd09"`` when one system fits the reference clearly better
        than every other (the rules of :func:`check_coordinate_system`); ``"swapped"`` when the
        columns are swapped; ``None`` when the evidence is not clear (too few points, points far
        from every road, or alternatives too close to call).
    """
    fit = fit_coordinate_systems(lon, lat, "wgs84", reference_lon, reference_lat)
    if fit is None:
        return None, None
    if fit.other_fits_better:
        return fit.best, fit
    if fit.declared_fits_better:
        return "wgs84", fit
    return None, fit


def with_detected_system(frame: gpd.GeoDataFrame, system: str) -> gpd.GeoDataFrame:
    """Re-read the points of a layer read as WGS-84 in the ``system`` detected for it."""
    if system == "wgs84":
        return frame
    frame = frame.copy()
    has = frame.geometry.notna() & ~frame.geometry.is_empty
    lon, lat = geocrs.to_wgs84(
        frame.geometry[has].x.to_numpy(), frame.geometry[has].y.to_numpy(), system
    )
    frame.loc[has, "geometry"] = gpd.points_from_xy(lon, lat)
    return frame


def layer_system_issue(
    lon: np.ndarray,
    lat: np.ndarray,
    declared: str | None,
    reference_lon: np.ndarray,
    reference_lat: np.ndarray,
    *,
    layer_name: str,
    crs_check: bool = True,
) -> tuple[str | None, str | None, str | None]:
    """Settle a layer's coordinate system against the walk network (the plan's crs rules).

    ``lon``/``lat`` are the points as read (under ``declared``, or as WGS-84 when the layer has no
    ``crs``). Returns ``(system, notice, error)``:

    * no ``crs``: ``system`` is the detected one (:func:`detect_coordinate_system`) with a
      ``notice`` saying so, or ``error`` (stop: set ``crs``) when detection is not confident;
    * a declared ``crs`` the detection contradicts: ``error`` with the fix, or a ``notice`` only
      when ``crs_check`` is false; otherwise ``system`` is the declared one.
    """
    where = layer_name or "该图层"
    if declared is None:
        system, fit = detect_coordinate_system(lon, lat, reference_lon, reference_lat)
        if system == "swapped":
            return None, None, _system_advice(fit, layer_name)
        if system is None:
            evidence = (
                f"（按 WGS-84 距最近路网节点中位数 {fit.declared_m:.0f} 米，按 "
                f"{_SYSTEM_NAMES.get(fit.best, fit.best)} {fit.best_m:.0f} 米，无法判断）"
                if fit is not None and fit.best != "swapped"
                else ""
            )
            return (
                None,
                None,
                (
                    f"{where} 没有设置坐标系 crs，且无法从坐标可靠地判断{evidence}——"
                    '请在规划文件的该 [[layers]] 中写明 crs = "wgs84"、'
                    '"gcj02"（高德/腾讯）或 "bd09"（百度）'
                ),
            )
        return (
            system,
            (
                f"{where} 没有设置坐标系 crs：按坐标与路网的吻合程度判断为 "
                f"{_SYSTEM_NAMES[system]}（距最近路网节点中位数 "
                f"{min(fit.declared_m, fit.best_m):.0f} 米），已按此转换；"
                f"如不对，请在规划文件中写明 crs"
            ),
            None,
        )
    message = check_coordinate_system(
        lon, lat, declared, reference_lon, reference_lat, layer_name=layer_name
    )
    if message is None:
        return declared, None, None
    if not crs_check:
        return declared, message + "（该图层设置了 crs_check = false，仍按声明的坐标系计算）", None
    return None, None, message + "如确认声明无误，可在该图层写 crs_check = false。"


# ---------------------------------------------------------------- locating in townships

_SUFFIXES = ("街道办事处", "街道办", "街道", "地区办事处", "办事处", "民族乡", "镇", "乡", "苏木")


def normalise_place_name(name: object) -> str:
    """Fold a township name for matching: NFKC, no spaces, a 街道/镇/乡 suffix removed.

    >>> normalise_place_name("城东街道办事处"), normalise_place_name("新桥镇")
    ('城东', '新桥')
    """
    text = normalise_text(name)
    for suffix in _SUFFIXES:
        if text.endswith(suffix) and len(text) > len(suffix):
            return text[: -len(suffix)]
    return text


def _match_names(stated: np.ndarray, names: pd.Series, codes: pd.Series) -> np.ndarray:
    """Code per stated name: exact name, then the normalised name (unique matches only)."""
    exact = dict(zip(names.map(normalise_text), codes, strict=True))
    folded: dict[str, str | None] = {}
    for name, code in zip(names.map(normalise_place_name), codes, strict=True):
        folded[name] = None if name in folded else code  # ambiguous when two fold alike
    code_set = set(codes)
    # once per distinct stated name: registers repeat a handful of township names
    positions, values = pd.factorize(pd.Series(stated, dtype=object))
    matched = np.array(
        [
            (
                exact.get(normalise_text(value))
                or folded.get(normalise_place_name(value))
                or (str(value) if str(value) in code_set else "")
            )
            if value
            else ""
            for value in values
        ],
        dtype=object,
    )
    result = np.full(len(stated), "", dtype=object)
    result[positions >= 0] = matched[positions[positions >= 0]]
    return result


def _polygon_join(points: gpd.GeoSeries, zones: gpd.GeoDataFrame, key: str) -> np.ndarray:
    """Value of ``zones[key]`` for the zone containing each point ('' when none)."""
    result = np.full(len(points), "", dtype=object)
    present = ~(points.isna() | points.is_empty).to_numpy()
    if not present.any() or zones.empty:
        return result
    pts = points.to_numpy()[present]
    zone_geoms = zones.geometry.to_numpy()
    tree = shapely.STRtree(zone_geoms)
    # 'intersects' keeps points lying exactly on a shared boundary; the first zone wins.
    point_idx, zone_idx = tree.query(pts, predicate="intersects")
    first = pd.Series(zone_idx).groupby(point_idx).min()
    values = zones[key].astype(str).to_numpy()
    sub = np.full(present.sum(), "", dtype=object)
    sub[first.index.to_numpy()] = values[first.to_numpy()]
    result[present] = sub
    return result


def _within_reach(points: gpd.GeoSeries, area: gpd.GeoDataFrame, reach_m: float) -> np.ndarray:
    """True for points within ``reach_m`` metres (straight line) of the area's polygons."""
    near = np.zeros(len(points), dtype=bool)
    present = ~(points.isna() | points.is_empty).to_numpy()
    if reach_m <= 0 or not present.any() or area.empty:
        return near
    bounds = area.total_bounds
    metric = geocrs.metric_crs_for([(bounds[0] + bounds[2]) / 2], [(bounds[1] + bounds[3]) / 2])
    outline = area.to_crs(metric).geometry.union_all()
    xy = points[present].to_crs(metric).to_numpy()
    near[present] = shapely.dwithin(xy, outline, reach_m)
    return near


def locate_facilities(
    facilities: gpd.GeoDataFrame,
    townships: gpd.GeoDataFrame,
    *,
    units: Mapping[str, gpd.GeoDataFrame] | None = None,
    serve_from_outside_m: float = 0.0,
) -> tuple[gpd.GeoDataFrame, pd.DataFrame, list[str]]:
    """Assign each facility its township (and unit) by location, or by stated name.

    Parameters
    ----------
    facilities
        Output of :func:`read_register` (possibly several concatenated).
    townships
        Output of ``read_townships`` (``code``, ``name``, geometry, EPSG:4326).
    units
        Unit layers by level (``{"village": GeoDataFrame}`` with ``code``, ``name``,
        ``parent_code``); adds ``unit_code__<level>`` per level and ``unit_code`` (the
        innermost, i.e. the last level given, that matched).
    serve_from_outside_m
        Points outside every township but within this distance (metres, straight line) of the
        study area are kept as 区外设施 (``outside_area`` True, empty ``township_code``): they
        serve residents inside but count for no township. Farther points are rejected.

    Returns
    -------
    facilities
        Located rows with ``township_code``, ``township_name``, ``outside_area`` (and unit codes).
    rejects
        Points outside every township ("不在研究区域内"), and rows without coordinates whose
        stated township is not one of the study's.
    warnings
        Stated townships that disagree with the location, one message each.
    """
    facilities = facilities.copy()
    if facilities.crs is None:
        facilities = facilities.set_crs("EPSG:4326")
    elif not pyproj.CRS(facilities.crs).equals(pyproj.CRS("EPSG:4326")):
        facilities = facilities.to_crs("EPSG:4326")
    towns = townships.to_crs("EPSG:4326") if townships.crs is not None else townships
    n = len(facilities)
    codes_by_polygon = _polygon_join(facilities.geometry, towns, "code")
    name_of = dict(zip(towns["code"].astype(str), towns["name"].astype(str), strict=True))
    stated = facilities.get("stated_township", pd.Series([""] * n, index=facilities.index))
    stated = stated.fillna("").astype(str).to_numpy(dtype=object)
    stated_codes = _match_names(stated, towns["name"].astype(str), towns["code"].astype(str))
    has_geometry = ~(facilities.geometry.isna() | facilities.geometry.is_empty).to_numpy()
    rejects: list[dict[str, Any]] = []
    warnings: list[str] = []
    keep = np.ones(n, dtype=bool)
    township_code = np.where(has_geometry, codes_by_polygon, stated_codes)
    known = ", ".join(towns["name"].astype(str))
    outside = has_geometry & (codes_by_polygon == "")
    nearby = outside & _within_reach(facilities.geometry, towns, serve_from_outside_m)
    outside &= ~nearby
    unknown = ~has_geometry & (stated_codes == "")
    disagree = has_geometry & ~outside & (stated != "") & (stated_codes != codes_by_polygon)
    # Only flagged rows need a message: loop over those, not over every facility.
    for i in np.flatnonzero(outside | unknown | disagree):
        row = facilities.iloc[i]
        where = f"{row.get('source_file', '')} 第{row.get('source_row', '')}行"
        base = {
            "layer": row.get("layer", ""),
            "file": row.get("source_file", ""),
            "row": row.get("source_row", None),
            "name": row.get("name", ""),
        }
        if outside[i]:
            keep[i] = False
            point = row.geometry
            rejects.append(
                {
                    **base,
                    "reason": f"{where}：坐标 ({point.x:.6f}, {point.y:.6f}) "
                    "不在研究区域内（不在任何乡镇边界内）",
                    "fix": "检查经纬度和图层的坐标系设置（crs）；如设施确在区外，请从登记表中删除",
                }
            )
        elif unknown[i]:
            keep[i] = False
            told = (
                f"所属街道“{stated[i]}”不是本区的乡镇" if stated[i] else "既没有坐标也没有所属街道"
            )
            rejects.append(
                {
                    **base,
                    "reason": f"{where}：{told}",
                    "fix": f"补充坐标，或把所属街道改为本区乡镇名称之一：{known}",
                }
            )
        else:
            warnings.append(
                f"{where}：“{row.get('name', '')}”填写的所属街道为“{stated[i]}”，但坐标位于"
                f"“{name_of.get(codes_by_polygon[i], codes_by_polygon[i])}”——已按坐标归属，"
                "请核对坐标或所属街道"
            )
    facilities["township_code"] = township_code
    facilities["township_name"] = (
        pd.Series(township_code, index=facilities.index)
        .map(name_of)
        .fillna("")
        .to_numpy(dtype=object)
    )
    facilities["outside_area"] = nearby
    innermost = np.full(n, "", dtype=object)
    for level, unit_frame in (units or {}).items():
        unit_frame = unit_frame.to_crs("EPSG:4326") if unit_frame.crs is not None else unit_frame
        by_polygon = _polygon_join(facilities.geometry, unit_frame, "code")
        villages = facilities.get("stated_village", pd.Series([""] * n, index=facilities.index))
        villages = villages.fillna("").astype(str).to_numpy(dtype=object)
        by_name = np.full(n, "", dtype=object)
        for code in np.unique(township_code[~has_geometry & (villages != "")]):
            inside = (
                unit_frame["parent_code"].astype(str) == code
                if "parent_code" in unit_frame
                else np.ones(len(unit_frame), dtype=bool)
            )
            sub = unit_frame[inside]
            mask = ~has_geometry & (township_code == code)
            by_name[mask] = _match_names(
                villages[mask], sub["name"].astype(str), sub["code"].astype(str)
            )
        column = np.where(has_geometry, by_polygon, by_name)
        facilities[f"unit_code__{level}"] = column
        innermost = np.where(column != "", column, innermost)
    if units:
        facilities["unit_code"] = innermost
    located = facilities[keep].copy()
    logger.info(
        "located %d facilities (%d of them 区外设施 serving from outside), %d outside "
        "the study area or unmatched, %d warnings",
        int(keep.sum()),
        int(nearby.sum()),
        len(rejects),
        len(warnings),
    )
    return located, rejection_frame(rejects), warnings
