"""Township (乡镇级) boundaries: fields, kind (街道/镇/乡), NBS codes, geometry checks.

Examples
--------
>>> township_kind("城东街道"), township_kind("新桥镇"), township_kind("长寿乡")
(('street', '街道'), ('town', '镇'), ('town', '乡'))
"""

from __future__ import annotations

import difflib
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

from lifecircle.data import NBS_CODES_PATH
from lifecircle.errors import InputError
from lifecircle.geo.crs import metric_crs_for
from lifecircle.layers.categories import normalise_text
from lifecircle.layers.facilities import normalise_place_name
from lifecircle.layers.rejects import rejection_frame
from lifecircle.layers.tables import map_columns, pick_field, read_vector
from lifecircle.text import parse_numbers, township_code

logger = logging.getLogger(__name__)

OVERLAP_TOLERANCE_M2 = 100.0
GAP_TOLERANCE_M2 = 100.0

TOWNSHIP_ALIASES: dict[str, tuple[str, ...]] = {
    "name": (
        "name",
        "名称",
        "乡镇名称",
        "街道名称",
        "乡镇街道名称",
        "乡镇(街道)",
        "乡镇",
        "街道",
        "镇街",
        "xzqmc",
        "xzmc",
        "name_zh",
        "township",
        "town_name",
    ),
    "code": (
        "code",
        "代码",
        "区划代码",
        "统计用区划代码",
        "乡镇代码",
        "行政区划代码",
        "xzqdm",
        "xzdm",
        "adcode",
        "township_code",
    ),
    "kind": ("kind", "类型", "乡镇类型", "类别", "type"),
    "households": ("households", "户数", "总户数", "常住户数", "户籍户数"),
    "population": ("population", "人口", "常住人口", "总人口", "pop"),
    # 户籍人口 is another base than the resident population (some staffing rules count it)
    "population_registered": (
        "population_registered",
        "户籍人口",
        "户籍人口数",
        "registered_population",
    ),
    "population_60": (
        "population_60",
        "60岁以上人口",
        "60岁及以上人口",
        "老年人口",
        "老年人数",
        "pop60",
        "pop_60",
    ),
}


@dataclass(frozen=True)
class TownshipSpec:
    """The plan's ``[inputs.townships]``: a vector file of township polygons.

    Fields are found by alias (name/名称/乡镇名称/XZQMC, code/代码/区划代码/XZQDM, …) unless named.
    """

    path: Path
    name_field: str | None = None
    code_field: str | None = None
    kind_field: str | None = None
    layer: str | None = None
    encoding: str | None = None

    def __post_init__(self) -> None:
        object.__setattr__(self, "path", Path(self.path))


def township_kind(name: str, code: str = "", kind_value: object = None) -> tuple[str, str] | None:
    """``(kind, kind_zh)`` from a kind value, the name's suffix, or the NBS code's digits 7–9.

    NBS codes number 街道 001–099, 镇 100–199, 乡 200–399 within a county. Returns ``None``
    when nothing decides (e.g. 开发区, 农场).
    """
    if kind_value is not None and not (isinstance(kind_value, float) and np.isnan(kind_value)):
        value = normalise_text(kind_value)
        if value in ("street", "街道", "城市街道", "urban", "subdistrict"):
            return "street", "街道"
        if value in ("town", "镇", "建制镇"):
            return "town", "镇"
        if value in ("乡", "township", "民族乡", "苏木", "农村", "rural"):
            return "town", "乡"
    text = normalise_text(name)
    text = re.sub(r"(办事处|办)$", "", text)
    if text.endswith("街道"):
        return "street", "街道"
    if text.endswith("镇"):
        return "town", "镇"
    if text.endswith(("乡", "苏木")):
        return "town", "乡"
    if len(code) == 9 and code.isdigit():
        serial = int(code[6:])
        if serial < 100:
            return "street", "街道"
        if serial < 200:
            return "town", "镇"
        if serial < 400:
            return "town", "乡"
    return None


def load_nbs_codes(path: str | Path | None = None) -> pd.DataFrame:
    """The NBS township code table (``code, name, areaCode, …`` as strings)."""
    return pd.read_csv(path or NBS_CODES_PATH, dtype=str, encoding="utf-8")


def _polygonal(geom: shapely.Geometry) -> shapely.Geometry:
    """Keep only the polygonal parts of a geometry (make_valid may add lines or points)."""
    if geom is None or geom.is_empty:
        return geom
    if geom.geom_type in ("Polygon", "MultiPolygon"):
        return geom
    parts = [g for g in shapely.get_parts(geom) if g.geom_type in ("Polygon", "MultiPolygon")]
    if not parts:
        return shapely.Polygon()
    return shapely.union_all(parts)


def closest_official(name: str, county_nbs: pd.DataFrame) -> tuple[str, str] | None:
    """The NBS ``(code, name)`` of the county whose name is closest to ``name``, or ``None``.

    Names are compared without their 街道/镇/乡 suffix (:func:`normalise_place_name`), by
    ``difflib``'s similarity ratio (at least 0.5).

    >>> table = pd.DataFrame({"code": ["320102002", "320102003"],
    ...                       "name": ["梅园新村街道", "玄武门街道"]})
    >>> closest_official("玄武门", table)
    ('320102003', '玄武门街道')
    """
    folded = county_nbs["name"].map(normalise_place_name).tolist()
    match = difflib.get_close_matches(normalise_place_name(name), folded, n=1, cutoff=0.5)
    if not match:
        return None
    row = county_nbs.iloc[folded.index(match[0])]
    return str(row["code"]), str(row["name"])


def _unofficial_code_warning(
    file: str, number: int, name: str, code: str, county_nbs: pd.DataFrame
) -> str:
    closest = closest_official(name, county_nbs)
    hint = (
        f"名称最接近的官方乡镇是“{closest[1]}”（{closest[0]}）——请核对代码"
        if closest
        else "请核对代码（官方名单中没有名称相近的乡镇）"
    )
    county = county_nbs["areaCode"].iloc[0]
    return (
        f"{file} 第{number}个要素“{name}”的代码 {code} 不在本县（{county}）的"
        f"统计用区划代码中；{hint}"
    )


def read_townships(
    spec: TownshipSpec,
    *,
    county_code: str | None = None,
    nbs_path: str | Path | None = None,
    overlap_tolerance_m2: float = OVERLAP_TOLERANCE_M2,
    gap_tolerance_m2: float = GAP_TOLERANCE_M2,
) -> tuple[gpd.GeoDataFrame, pd.DataFrame, list[str]]:
    """Read township polygons, find names, codes and kinds, and check the geometry.

    Parameters
    ----------
    spec
        File and optional field names.
    county_code
        6-digit county code: features without a code are matched to the NBS table by name
        within this county, and codes outside it are reported.
    nbs_path
        Another NBS code table (default ``lifecircle/data/boundaries/nbs_township_codes_2023.csv``).
    overlap_tolerance_m2, gap_tolerance_m2
        Overlaps between townships and holes in their union smaller than this are digitising
        noise and not reported.

    Returns
    -------
    townships
        GeoDataFrame EPSG:4326 ``code, name, kind, kind_zh, county_code`` (+ ``households``,
        ``population``, ``population_60`` when the file has them, and any other attribute of
        the file under its own name), ``geometry``.
    rejects
        Features that cannot be used (no name, no geometry, duplicate code with another name).
    warnings
        Repaired geometries, unmatched names, unknown kinds, overlaps and gaps.

    Raises
    ------
    InputError
        When the file cannot be read, has no name field, or no usable township.
    """
    path = spec.path
    file = path.name
    gdf = read_vector(path, layer=spec.layer, encoding=spec.encoding)
    warnings: list[str] = []
    rejects: list[dict[str, Any]] = []
    if len(gdf) == 0:
        raise InputError(
            f"{file}: the file has no features (no township polygons) — check "
            "[inputs.townships].path"
            + (" and layer" if spec.layer else "")
            + " (a county's boundaries can be fetched with lifecircle fetch)"
        )
    if gdf.crs is None:
        bounds = gdf.total_bounds if len(gdf) else np.zeros(4)
        if np.all(np.abs(bounds[[0, 2]]) <= 180) and np.all(np.abs(bounds[[1, 3]]) <= 90):
            warnings.append(f"{file} 没有坐标系信息，按 WGS-84 经纬度读取")
            gdf = gdf.set_crs("EPSG:4326")
        else:
            raise InputError(
                f"{file}: the file has no coordinate system and its coordinates are "
                "not longitude/latitude — save it with its projection (.prj)"
            )
    elif not pyproj.CRS(gdf.crs).equals(pyproj.CRS("EPSG:4326")):
        gdf = gdf.to_crs("EPSG:4326")
    columns = [c for c in gdf.columns if c != gdf.geometry.name]
    mapping = map_columns(columns, TOWNSHIP_ALIASES, file=file)
    pick = partial(pick_field, mapping, columns=columns, file=file, section="[inputs.townships]")
    name_col = pick(spec.name_field, "name", setting="name_field")
    code_col = pick(spec.code_field, "code", setting="code_field")
    kind_col = pick(spec.kind_field, "kind", setting="kind_field")
    if name_col is None:
        raise InputError(
            f"{file}: no township name field found (fields: {', '.join(columns)}) — "
            'set name_field = "…" under [inputs.townships]'
        )
    nbs = load_nbs_codes(nbs_path)
    nbs_by_code = dict(zip(nbs["code"], nbs["name"], strict=True))
    if county_code:
        county_nbs = nbs[nbs["areaCode"] == str(county_code)]
        if county_nbs.empty:
            logger.info(
                "county %s is not in the NBS table: names cannot be matched to codes", county_code
            )
    else:
        county_nbs = nbs.iloc[0:0]
    exact = dict(zip(county_nbs["name"].map(normalise_text), county_nbs["code"], strict=True))
    county_official = set(county_nbs["code"])
    folded: dict[str, str | None] = {}
    for nm, cd in zip(
        county_nbs["name"].map(normalise_place_name), county_nbs["code"], strict=True
    ):
        folded[nm] = None if nm in folded else cd

    records = []
    seen_codes: dict[str, int] = {}
    synthetic = 0
    attributes = pd.DataFrame(gdf.drop(columns=gdf.geometry.name)).to_dict("records")
    counts = {
        key: parse_numbers(gdf[mapping[key]])
        for key in ("households", "population", "population_60")
        if key in mapping
    }
    # Other attributes (e.g. staff counts a target needs) pass through under their own names.
    used = {
        name_col,
        code_col,
        kind_col,
        *(
            mapping.get(k)
            for k in ("households", "population", "population_60", "population_registered")
        ),
    }
    reserved = {
        "code",
        "name",
        "kind",
        "kind_zh",
        "county_code",
        "households",
        "population",
        "population_60",
        "population_registered",
        "geometry",
        "_row",
    }
    extra_columns = [c for c in columns if c not in used and c not in reserved]
    for i, values in enumerate(attributes):
        number = i + 1
        base = {"layer": "townships", "file": file, "row": number}
        name = str(values.get(name_col) or "").strip() if name_col else ""
        if name.lower() == "nan":
            name = ""
        geom = gdf.geometry.iloc[i]
        if not name:
            rejects.append(
                {
                    **base,
                    "name": "",
                    "reason": f"{file} 第{number}个要素：乡镇名称为空",
                    "fix": f"在 {name_col} 字段中填写乡镇名称",
                }
            )
            continue
        if geom is None or geom.is_empty:
            rejects.append(
                {
                    **base,
                    "name": name,
                    "reason": f"{file} 第{number}个要素“{name}”没有边界",
                    "fix": "补画该乡镇的边界面",
                }
            )
            continue
        if geom.geom_type not in ("Polygon", "MultiPolygon"):
            rejects.append(
                {
                    **base,
                    "name": name,
                    "reason": f"{file} 第{number}个要素“{name}”不是面（{geom.geom_type}）",
                    "fix": "乡镇边界应为面要素（Polygon/MultiPolygon）",
                }
            )
            continue
        if not shapely.is_valid(geom):
            why = shapely.is_valid_reason(geom)
            geom = _polygonal(shapely.make_valid(geom))
            warnings.append(f"{file} 第{number}个要素“{name}”的边界无效（{why}），已自动修复")
        code = township_code(values.get(code_col)) if code_col else ""
        code = code if re.fullmatch(r"\d{9}", code) else ""
        if (
            code_col
            and not code
            and values.get(code_col) not in (None, "")
            and str(values.get(code_col)).lower() != "nan"
        ):
            warnings.append(
                f"{file} 第{number}个要素“{name}”的代码 '{values.get(code_col)}' 不是"
                "9位统计用区划代码，已按名称匹配"
            )
        if not code:
            code = exact.get(normalise_text(name)) or folded.get(normalise_place_name(name)) or ""
            if not code:
                synthetic += 1
                prefix = str(county_code) if county_code else "000000"
                code = f"{prefix}{900 + synthetic:03d}"
                warnings.append(
                    f"{file} 第{number}个要素“{name}”未匹配到统计用区划代码"
                    f"（{'县级代码 ' + str(county_code) if county_code else '未给出县级代码'}），"
                    f"暂用编码 {code}——请在边界文件中补充代码字段或设置 [study].county_code"
                )
        else:
            official = nbs_by_code.get(code)
            if official and normalise_place_name(official) != normalise_place_name(name):
                warnings.append(
                    f"{file} 第{number}个要素“{name}”的代码 {code} 在统计用区划代码中"
                    f"是“{official}”——请核对名称或代码"
                )
            if county_code and not code.startswith(str(county_code)):
                warnings.append(
                    f"{file} 第{number}个要素“{name}”的代码 {code} 不属于县级代码 {county_code}"
                )
            if not county_nbs.empty and code not in county_official:
                warnings.append(_unofficial_code_warning(file, number, name, code, county_nbs))
        kind = township_kind(name, code, values.get(kind_col) if kind_col else None)
        if kind is None:
            kind = ("street", "街道")
            warnings.append(
                f"{file} 第{number}个要素“{name}”无法判断是街道还是镇/乡，按街道处理"
                "——如需更正，请在边界文件中加类型字段并设置 kind_field"
            )
        if code in seen_codes:
            first = records[seen_codes[code]]
            if normalise_text(first["name"]) == normalise_text(name):
                # One township split into several features: merge the parts.
                first["geometry"] = shapely.union_all([first["geometry"], geom])
                warnings.append(
                    f"{file} 第{number}个要素与第{first['_row']}个要素同为“{name}”"
                    f"（{code}），已合并为一个乡镇"
                )
            else:
                rejects.append(
                    {
                        **base,
                        "name": name,
                        "reason": f"{file} 第{number}个要素“{name}”的代码 {code} 与第"
                        f"{first['_row']}个要素“{first['name']}”重复",
                        "fix": "更正其中一个乡镇的代码",
                    }
                )
            continue
        seen_codes[code] = len(records)
        record = {
            "code": code,
            "name": name,
            "kind": kind[0],
            "kind_zh": kind[1],
            "county_code": code[:6],
            "geometry": geom,
            "_row": number,
        }
        for key in ("households", "population", "population_60", "population_registered"):
            if key in mapping:
                record[key] = counts[key][i]
        for column in extra_columns:
            record[column] = values.get(column)
        records.append(record)
    if not records:
        raise InputError(
            f"{file}: no usable township polygon (see the rejected rows) — check the "
            "file and name_field"
        )
    towns = gpd.GeoDataFrame(records, geometry="geometry", crs="EPSG:4326").drop(columns="_row")
    warnings.extend(_geometry_warnings(towns, file, overlap_tolerance_m2, gap_tolerance_m2))
    logger.info(
        "%s: %d townships (%d streets, %d towns), %d rejected, %d warnings",
        file,
        len(towns),
        int((towns["kind"] == "street").sum()),
        int((towns["kind"] == "town").sum()),
        len(rejects),
        len(warnings),
    )
    return towns, rejection_frame(rejects), warnings


def _geometry_warnings(
    towns: gpd.GeoDataFrame, file: str, overlap_m2: float, gap_m2: float
) -> list[str]:
    """Overlaps between townships and gaps (holes in their union) larger than the tolerances."""
    warnings: list[str] = []
    centroid = towns.geometry.union_all().representative_point()
    metric = towns.to_crs(metric_crs_for([centroid.x], [centroid.y]))
    geoms = metric.geometry.to_numpy()
    tree = shapely.STRtree(geoms)
    left, right = tree.query(geoms, predicate="intersects")
    pairs = left < right
    for a, b in zip(left[pairs], right[pairs], strict=True):
        area = shapely.area(shapely.intersection(geoms[a], geoms[b]))
        if area > overlap_m2:
            warnings.append(
                f"{file}：“{towns['name'].iloc[a]}”与“{towns['name'].iloc[b]}”的边界"
                f"重叠约 {area:,.0f} 平方米——重叠处的设施和人口只计入其中一个乡镇，"
                "请修正边界"
            )
    union = shapely.union_all(geoms)
    holes = [
        shapely.Polygon(ring)
        for part in shapely.get_parts(union)
        for ring in getattr(part, "interiors", [])
    ]
    for hole in holes:
        if hole.area > gap_m2:
            point = (
                gpd.GeoSeries([hole.representative_point()], crs=metric.crs).to_crs(4326).iloc[0]
            )
            warnings.append(
                f"{file}：乡镇边界之间有约 {hole.area:,.0f} 平方米的空隙（约在 "
                f"{point.x:.5f}, {point.y:.5f}）——空隙中的设施会被判为不在研究区域内，"
                "请修正边界"
            )
    return warnings
