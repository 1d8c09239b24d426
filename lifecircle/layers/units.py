"""Unit layers below the township (村/社区 and any other level) and their parent townships.

A unit's parent township is found, in order, from a parent field (a township code or name), from
the unit's 12-digit NBS code (its first 9 digits are the township's code), or from the township
polygon it overlaps most. Where the code prefix and the polygons disagree the disagreement is
reported; a unit whose parent cannot be found is kept with an empty ``parent_code`` and reported.

Examples
--------
>>> unit_kind_from("青山村", "329901100201"), unit_kind_from("东门社区", "")
('村', '社区')
"""

from __future__ import annotations

import logging
import re
from dataclasses import dataclass
from functools import partial
from pathlib import Path
from typing import Any

import geopandas as gpd
import numpy as np
import pandas as pd
import pyproj
import shapely

from lifecircle.errors import InputError
from lifecircle.geo.crs import metric_crs_for
from lifecircle.layers.rejects import rejection_frame
from lifecircle.layers.tables import map_columns, pick_field, read_vector
from lifecircle.text import clean_code, parse_numbers

logger = logging.getLogger(__name__)

UNIT_ALIASES: dict[str, tuple[str, ...]] = {
    "name": (
        "name",
        "名称",
        "村名",
        "村名称",
        "社区名称",
        "村居名称",
        "村(社区)",
        "村（社区）",
        "村社区",
        "xzqmc",
        "cjmc",
        "name_zh",
        "village",
    ),
    "code": (
        "code",
        "代码",
        "区划代码",
        "统计用区划代码",
        "村代码",
        "村居代码",
        "xzqdm",
        "cjdm",
        "village_code",
    ),
    "parent": (
        "parent_code",
        "township_code",
        "乡镇代码",
        "所属乡镇代码",
        "所属乡镇",
        "所属街道",
        "乡镇",
        "乡镇(街道)",
        "township",
    ),
    "kind": ("unit_kind", "类型", "村居类型", "城乡分类", "kind"),
    "households": ("households", "户数", "总户数", "常住户数", "户籍户数"),
    "population": ("population", "人口", "常住人口", "总人口", "pop"),
    "population_registered": (
        "population_registered",
        "户籍人口",
        "户籍人口数",
        "registered_population",
    ),
    "population_60": ("population_60", "60岁以上人口", "60岁及以上人口", "老年人口", "pop60"),
}
UNIT_COLUMNS = (
    "code",
    "name",
    "level",
    "unit_kind",
    "parent_code",
    "parent_method",
    "households",
    "population",
    "population_60",
    "population_registered",
    "geometry",
)
# Overlap below this share of the unit's area does not make a township its parent.
MIN_PARENT_OVERLAP = 0.5


@dataclass(frozen=True)
class UnitSpec:
    """The plan's ``[[inputs.units]]``: a vector file of unit polygons at one level.

    Fields are found by alias unless named (name/名称/村名, code/代码/区划代码, …).
    """

    level: str
    path: Path
    name_field: str | None = None
    code_field: str | None = None
    parent_field: str | None = None
    kind_field: str | None = None
    households_field: str | None = None
    population_field: str | None = None
    population_60_field: str | None = None
    layer: str | None = None
    encoding: str | None = None

    def __post_init__(self) -> None:
        object.__setattr__(self, "path", Path(self.path))
        if (
            not isinstance(self.level, str)
            or not re.fullmatch(r"[a-z][a-z0-9_]*", self.level)
            or self.level in ("township", "district")
        ):
            raise InputError(
                f"[[inputs.units]] level = {self.level!r}: use a lower-case name such as "
                "'village' or 'community' ('township' and 'district' are built in)"
            )


def unit_kind_from(name: str, code: str = "", kind_value: object = None) -> str:
    """``'村'`` or ``'社区'`` from a kind value, the name's suffix or the code ('' if unknown).

    NBS village codes number 居委会 001–199 and 村委会 200–399 in digits 10–12.
    """
    text = clean_code(kind_value) if kind_value is not None else ""
    if text:
        if "社区" in text or "居" in text or text.lower() in ("community", "urban"):
            return "社区"
        if "村" in text or text.lower() in ("village", "rural"):
            return "村"
    name = str(name or "")
    if re.search(r"(社区|居委会|居民委员会)$", name):
        return "社区"
    if re.search(r"(村|村委会|村民委员会)$", name):
        return "村"
    if re.fullmatch(r"\d{12}", code or ""):
        serial = int(code[9:])
        if 1 <= serial <= 199:
            return "社区"
        if 200 <= serial <= 399:
            return "村"
    return ""


def _largest_overlap(
    units: gpd.GeoSeries, townships: gpd.GeoDataFrame
) -> tuple[np.ndarray, np.ndarray]:
    """For each unit, the township code it overlaps most and the overlap's share of its area."""
    codes = np.full(len(units), "", dtype=object)
    shares = np.zeros(len(units))
    if len(units) == 0 or len(townships) == 0:
        return codes, shares
    bounds = townships.total_bounds
    crs = metric_crs_for([bounds[0], bounds[2]], [bounds[1], bounds[3]])
    unit_m = units.to_crs(crs).reset_index(drop=True)
    town_m = townships.geometry.to_crs(crs).reset_index(drop=True)
    town_codes = townships["code"].to_numpy()
    left, right = town_m.sindex.query(unit_m, predicate="intersects")
    if len(left) == 0:
        return codes, shares
    overlap = shapely.area(shapely.intersection(unit_m.to_numpy()[left], town_m.to_numpy()[right]))
    unit_area = shapely.area(unit_m.to_numpy())
    frame = pd.DataFrame({"unit": left, "town": right, "overlap": overlap})
    best = frame.sort_values("overlap", ascending=False).drop_duplicates("unit")
    codes[best["unit"].to_numpy()] = town_codes[best["town"].to_numpy()]
    with np.errstate(invalid="ignore", divide="ignore"):
        shares[best["unit"].to_numpy()] = best["overlap"].to_numpy() / unit_area[best["unit"]]
    return codes, np.nan_to_num(shares)


def read_units(
    spec: UnitSpec, townships: gpd.GeoDataFrame
) -> tuple[gpd.GeoDataFrame, pd.DataFrame, list[str]]:
    """Read a unit layer and find each unit's parent township.

    Parameters
    ----------
    spec
        The level, the file and optional field names.
    townships
        The study's townships (``code, name, geometry``, EPSG:4326).

    Returns
    -------
    units
        GeoDataFrame EPSG:4326 ``code, name, level, unit_kind (村/社区 or ''), parent_code
        (township code or ''), parent_method ('field'/'code'/'spatial'/''), households,
        population, population_60, geometry``.
    rejects
        Features that cannot be used (no geometry, duplicate code).
    warnings
        Units without a parent, parent conflicts, codes made up for units without one.

    Raises
    ------
    InputError
        When the file cannot be read or has no name field.
    """
    file = spec.path.name
    gdf = read_vector(spec.path, layer=spec.layer, encoding=spec.encoding)
    warnings: list[str] = []
    if len(gdf) == 0:
        raise InputError(
            f"{file}: the file has no features (no unit polygons) — check path "
            f'under the [[inputs.units]] entry with level = "{spec.level}"'
        )
    if gdf.crs is None:
        warnings.append(f"{file} 没有坐标系信息，按 WGS-84 经纬度读取")
        gdf = gdf.set_crs("EPSG:4326")
    elif not pyproj.CRS(gdf.crs).equals(pyproj.CRS("EPSG:4326")):
        gdf = gdf.to_crs("EPSG:4326")
    columns = [str(c) for c in gdf.columns if c != gdf.geometry.name]
    mapping = map_columns(columns, UNIT_ALIASES, file=file)
    pick = partial(pick_field, mapping, columns=columns, file=file, section="[[inputs.units]]")
    name_col = pick(spec.name_field, "name", setting="name_field")
    code_col = pick(spec.code_field, "code", setting="code_field")
    parent_col = pick(spec.parent_field, "parent", setting="parent_field")
    kind_col = pick(spec.kind_field, "kind", setting="kind_field")
    fields = {
        "households": pick(spec.households_field, "households", setting="households_field"),
        "population": pick(spec.population_field, "population", setting="population_field"),
        "population_60": pick(
            spec.population_60_field, "population_60", setting="population_60_field"
        ),
        "population_registered": mapping.get("population_registered"),
    }
    # staff counts a staffing target reads per unit (staff_<key>) pass through
    staff_columns = [c for c in columns if c.startswith("staff_")]
    if name_col is None:
        raise InputError(
            f"{file}: no unit name field found (fields: {', '.join(columns)}) — set "
            'name_field = "…" under [[inputs.units]]'
        )

    town_codes = {clean_code(c) for c in townships["code"]}
    town_by_name = {
        str(n).strip(): clean_code(c)
        for n, c in zip(townships["name"], townships["code"], strict=True)
    }
    rejects: list[dict[str, Any]] = []
    records: list[dict[str, Any]] = []
    seen: set[str] = set()
    attributes = pd.DataFrame(gdf.drop(columns=gdf.geometry.name)).to_dict("records")
    counts = {
        key: parse_numbers(gdf[col]) if col else np.full(len(gdf), np.nan)
        for key, col in fields.items()
    }
    staff = {col: parse_numbers(gdf[col]) for col in staff_columns}
    for i, values in enumerate(attributes):
        number = i + 1
        name = str(values.get(name_col) or "").strip()
        name = "" if name.lower() == "nan" else name
        code = clean_code(values.get(code_col)) if code_col else ""
        base = {"layer": f"units_{spec.level}", "file": file, "row": number, "name": name}
        geom = gdf.geometry.iloc[i]
        if geom is None or geom.is_empty:
            rejects.append(
                {
                    **base,
                    "reason": f"{file} 第{number}个要素“{name}”没有边界",
                    "fix": "补画该单元的边界面",
                }
            )
            continue
        if not geom.is_valid:
            geom = shapely.make_valid(geom)
            warnings.append(f"{file} 第{number}个要素“{name}”的边界自相交，已自动修复")
        if not code:
            code = f"{spec.level}-{number}"
            warnings.append(
                f"{file} 第{number}个要素“{name}”没有代码，暂以 {code} 标识"
                "（填写12位统计用区划代码可按代码确定所属乡镇）"
            )
        if code in seen:
            rejects.append(
                {
                    **base,
                    "reason": f"{file} 第{number}个要素“{name}”的代码 {code} 与前面的要素重复",
                    "fix": "核对代码，每个单元一个代码",
                }
            )
            continue
        seen.add(code)
        parent_value = clean_code(values.get(parent_col)) if parent_col else ""
        records.append(
            {
                "code": code,
                "name": name or code,
                "level": spec.level,
                "unit_kind": unit_kind_from(name, code, values.get(kind_col) if kind_col else None),
                "parent_value": parent_value,
                **{key: counts[key][i] for key in fields},
                **{col: staff[col][i] for col in staff_columns},
                "geometry": geom,
                "row": number,
            }
        )
    units = gpd.GeoDataFrame(
        records,
        columns=[*UNIT_COLUMNS, *staff_columns, "parent_value", "row"],
        geometry="geometry",
        crs="EPSG:4326",
    )

    spatial, share = _largest_overlap(units.geometry, townships)
    parents, methods = [], []
    for j, unit in enumerate(units.itertuples()):
        label = f"{file} 第{unit.row}个要素“{unit.name}”（{unit.code}）"
        prefix = unit.code[:9] if re.fullmatch(r"\d{12}", unit.code) else ""
        contained = spatial[j] if share[j] >= MIN_PARENT_OVERLAP else ""
        parent, method = "", ""
        if unit.parent_value:
            parent = (
                unit.parent_value
                if unit.parent_value in town_codes
                else town_by_name.get(unit.parent_value, "")
            )
            method = "field" if parent else ""
            if not parent:
                warnings.append(
                    f"{label}：所属乡镇“{unit.parent_value}”不是本区的乡镇代码或名称，"
                    "改按代码或位置确定"
                )
        if not parent and prefix in town_codes:
            parent, method = prefix, "code"
        if not parent and contained:
            parent, method = contained, "spatial"
        if parent and contained and contained != parent:
            warnings.append(
                f"{label}：按{'所属乡镇字段' if method == 'field' else '代码'}属于 "
                f"{parent}，但边界大部分位于 {contained} 内——请核对代码或边界"
                f"（采用 {parent}）"
            )
        if not parent:
            warnings.append(
                f"{label}：无法确定所属乡镇（无所属乡镇字段、代码前9位不是本区乡镇、"
                "且不在任何乡镇边界内）——保留该单元，但不计入乡镇汇总；请补充 "
                "parent_field 或核对代码"
            )
        parents.append(parent)
        methods.append(method)
    units["parent_code"] = pd.Series(parents, index=units.index, dtype=object)
    units["parent_method"] = pd.Series(methods, index=units.index, dtype=object)
    units = units.drop(columns=["parent_value", "row"])
    logger.info(
        "%s: %d %s units read, %d rejected, %d without parent",
        file,
        len(units),
        spec.level,
        len(rejects),
        sum(1 for p in parents if not p),
    )
    return units, rejection_frame(rejects), warnings
