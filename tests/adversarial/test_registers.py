"""Adversarial facility registers: every case asserts the exact outcome — every data row of the
file used or rejected once (counted independently with csv/openpyxl), the message naming the
file, the sheet and row, the key and the fix, and no traceback (an ``InputError`` with one line
where the whole file is unusable)."""

from __future__ import annotations

import json
import re
import time
from pathlib import Path

import geopandas as gpd
import numpy as np
import openpyxl
import pandas as pd
import pyproj
import pytest
import shapely

from lifecircle.errors import InputError
from lifecircle.layers.categories import load_registry
from lifecircle.layers.facilities import COLOCATED_ROWS, LayerSpec, read_register
from tests.adversarial.registers_util import (
    accounted_rows,
    assert_accounted,
    csv_data_rows,
    write_xlsx,
)

REGISTRY = load_registry()
HEADER = "名称,类型,经度,纬度,床位数,所属街道"


def _read(path: Path, **kwargs):
    """``(facilities, rejected, warnings)`` of one elder-care register."""
    result = read_register(LayerSpec("elder_care_centre", path, **kwargs), REGISTRY)
    frame, rejects = result[0], result[1]
    warnings = result[2] if len(result) > 2 else frame.attrs["warnings"]
    return frame, rejects, warnings


def _csv(
    tmp_path: Path,
    lines: list[str],
    *,
    name: str = "养老.csv",
    header: str = HEADER,
    encoding: str = "utf-8",
) -> Path:
    path = tmp_path / name
    path.write_bytes(("\n".join([header, *lines]) + "\n").encode(encoding))
    return path


def _rows(n: int, *, start: int = 0) -> list[str]:
    return [
        f"站{i},日间照料中心,119.{9100 + i:04d},32.{4600 + i:04d},{i},城东街道"
        for i in range(start, start + n)
    ]


def _one_reason(rejects, row: int, sheet: str = "") -> tuple[str, str]:
    hit = rejects[(rejects["row"] == row) & (rejects["sheet"] == sheet)]
    assert len(hit) == 1
    return hit["reason"].iloc[0], hit["fix"].iloc[0]


# ------------------------------------------------------------------ workbooks


def _street_rows(street: str, n: int, offset: int) -> list[list[object]]:
    return [["名称", "类型", "经度", "纬度", "床位数"]] + [
        [
            f"{street}{i}号站",
            "日间照料中心",
            119.9 + (offset + i) * 1e-3,
            32.4 + (offset + i) * 1e-3,
            10,
        ]
        for i in range(n)
    ]


def test_every_street_sheet_is_read_and_the_instructions_sheet_is_named(tmp_path):
    path = write_xlsx(
        tmp_path / "养老服务设施.xlsx",
        {
            "填表说明": [["本表按街道分页填写"], ["经纬度为 WGS-84"]],
            "城东街道": _street_rows("城东", 17, 0),
            "城西街道": _street_rows("城西", 17, 100),
            "白鹭镇": _street_rows("白鹭", 16, 200),
        },
    )
    frame, rejects, warnings = _read(path)
    assert len(frame) == 50 and rejects.empty  # 47 of these vanished before
    assert_accounted(frame, rejects, path)
    assert frame["facility_id"].is_unique
    assert frame["facility_id"].iloc[0] == "养老服务设施:城东街道!2"
    skipped = [w for w in warnings if "填表说明" in w]
    assert len(skipped) == 1
    assert "养老服务设施.xlsx" in skipped[0] and 'sheet = "填表说明"' in skipped[0]


def test_a_bad_row_names_its_sheet(tmp_path):
    west = _street_rows("城西", 5, 100)
    west[3][2] = "abc"  # Excel row 4 of 城西街道
    path = write_xlsx(
        tmp_path / "登记.xlsx", {"城东街道": _street_rows("城东", 5, 0), "城西街道": west}
    )
    frame, rejects, _ = _read(path)
    assert len(frame) == 9
    assert_accounted(frame, rejects, path)
    reason, fix = _one_reason(rejects, 4, "城西街道")
    assert reason == "登记.xlsx 工作表“城西街道”第4行：经度 'abc' 不是数字"
    assert "十进制度数" in fix


def test_sheet_in_the_plan_still_picks_one(tmp_path):
    path = write_xlsx(
        tmp_path / "登记.xlsx",
        {"城东街道": _street_rows("城东", 3, 0), "城西街道": _street_rows("城西", 4, 100)},
    )
    frame, rejects, warnings = _read(path, sheet="城西街道")
    assert list(frame["source_sheet"].unique()) == ["城西街道"] and len(frame) == 4
    assert_accounted(frame, rejects, path, sheet="城西街道")
    assert warnings == []


def test_merged_cells_are_filled_down_and_named(tmp_path):
    path = tmp_path / "合并.xlsx"
    book = openpyxl.Workbook()
    ws = book.active
    ws.title = "名录"
    ws.append(["名称", "类型", "经度", "纬度", "所属街道"])
    for i in range(6):
        ws.append(
            [
                f"站{i}",
                "综合养老服务中心" if i == 0 else None,
                119.91 + i * 1e-3,
                32.46,
                "城东街道" if i in (0, 3) else None,
            ]
        )
    ws.merge_cells("B2:B7")  # 类型 merged down six rows
    ws.merge_cells("E2:E4")
    ws.merge_cells("E5:E7")
    book.save(path)
    frame, rejects, warnings = _read(path)
    assert rejects.empty and len(frame) == 6
    assert_accounted(frame, rejects, path)
    assert list(frame["subtype"]) == ["comprehensive"] * 6
    assert list(frame["stated_township"]) == ["城东街道"] * 6
    merged = [w for w in warnings if "合并单元格" in w]
    assert len(merged) == 1
    assert "合并.xlsx" in merged[0] and "名录" in merged[0]
    assert all(r in merged[0] for r in ("B2:B7", "E2:E4", "E5:E7"))


# ------------------------------------------------------------------ CSV text


def test_an_unbalanced_quote_costs_one_named_row(tmp_path):
    lines = _rows(17)
    lines[2] = lines[2].replace("站2,", '站2,"', 1)  # line 4: a quote that never closes
    path = _csv(tmp_path, lines)
    frame, rejects, _ = _read(path)
    assert len(frame) == 16  # 15 of 17 vanished before
    assert_accounted(frame, rejects, path)
    reason, fix = _one_reason(rejects, 4)
    assert reason.startswith('养老.csv 第4行：引号（"）没有配对')
    assert "引号" in fix and rejects["name"].iloc[0] == "站2"


def test_a_stray_quote_closed_by_another_far_below_loses_only_its_line(tmp_path):
    lines = _rows(10)
    lines[1] = lines[1].replace("城东街道", '"城东街道', 1)  # line 3 opens a quote ...
    lines[6] = lines[6].replace("城东街道", '城东街道"', 1)  # ... that line 8 seems to close
    path = _csv(tmp_path, lines)
    frame, rejects, _ = _read(path)
    assert_accounted(frame, rejects, path)
    assert list(rejects["row"]) == [3] and len(frame) == 9
    # read on its own, line 8's quote is text inside an unquoted cell, as Excel reads it
    assert frame.set_index("source_row").loc[8, "stated_township"] == '城东街道"'


def test_a_cell_over_the_csv_field_size_limit_is_one_named_row(tmp_path):
    lines = _rows(5)
    lines[1] = '站1,"' + "很长的说明" * 40_000 + ",119.92,32.46,1,城东街道"  # 200 000 chars
    path = _csv(tmp_path, lines, name="big.csv")
    frame, rejects, _ = _read(path)
    assert_accounted(frame, rejects, path)
    assert list(rejects["row"]) == [3] and "big.csv 第3行" in rejects["reason"].iloc[0]
    assert len(frame) == 4


def test_a_runaway_quote_in_a_large_file_does_not_swallow_it(tmp_path):
    lines = _rows(3000)
    lines[10] = lines[10].replace("站10,", '站10,"', 1)
    path = _csv(tmp_path, lines)
    frame, rejects, _ = _read(path)
    assert_accounted(frame, rejects, path)
    assert list(rejects["row"]) == [12] and len(frame) == 2999


def test_a_quoted_line_break_inside_an_address_is_kept(tmp_path):
    path = tmp_path / "地址.csv"
    path.write_text(
        '名称,地址,经度,纬度\n甲,"幸福路1号\n2幢",119.91,32.46\n乙,和平路,119.92,32.46\n',
        encoding="utf-8",
    )
    frame, rejects, _ = _read(path)
    assert rejects.empty and list(frame["source_row"]) == [2, 4]
    assert frame["address"].iloc[0] == "幸福路1号\n2幢"


def test_gbk_register_is_read(tmp_path):
    path = _csv(tmp_path, _rows(4), encoding="gbk")
    frame, rejects, _ = _read(path)
    assert len(frame) == 4 and frame["name"].iloc[0] == "站0"
    assert_accounted(frame, rejects, path, encoding="gbk")


def test_undecodable_bytes_name_the_file_line_and_setting(tmp_path):
    path = tmp_path / "乱码.csv"
    lines = [HEADER, *_rows(4)]
    path.write_bytes(
        b"\n".join(line.encode("gbk" if i == 2 else "utf-8") for i, line in enumerate(lines))
        + b"\n"
    )  # line 3 pasted as GBK
    with pytest.raises(InputError) as info:
        _read(path, encoding="utf-8")
    message = str(info.value)
    assert message.startswith("乱码.csv line 3: cannot decode as utf-8")
    assert 'encoding = "gb18030"' in message and "\n" not in message


def test_empty_register_has_no_rows_and_no_rejects(tmp_path):
    path = _csv(tmp_path, [])
    frame, rejects, _ = _read(path)
    assert frame.empty and rejects.empty
    assert_accounted(frame, rejects, path)


def test_a_register_without_coordinate_columns_names_them_and_the_fix(tmp_path):
    path = _csv(
        tmp_path, ["甲,日间照料中心,城东街道"], header="名称,类型,所属街道", name="无坐标.csv"
    )
    with pytest.raises(
        InputError,
        match=r"^无坐标\.csv: no 经度/纬度 column found .*"
        r"columns = \{lon = .*\}",
    ):
        _read(path)


# ------------------------------------------------------------------ coordinates: the real cause


def test_projected_metres_say_so_and_ask_for_the_crs(tmp_path):
    path = _csv(tmp_path, ["甲,日间照料中心,40512345.6,3596789.1,10,城东街道", *_rows(2)])
    frame, rejects, _ = _read(path)
    assert_accounted(frame, rejects, path)
    reason, fix = _one_reason(rejects, 2)
    assert "投影坐标（米）" in reason and "填反" not in reason + fix
    assert 'crs = "EPSG:' in fix


def test_projected_metres_with_the_crs_set_are_used(tmp_path):
    x, y = pyproj.Transformer.from_crs(4326, 4549, always_xy=True).transform(119.91, 32.46)
    path = _csv(tmp_path, [f"甲,日间照料中心,{x:.2f},{y:.2f},10,城东街道"])
    frame, rejects, _ = _read(path, crs="EPSG:4549")
    assert rejects.empty
    assert frame.geometry.x.iloc[0] == pytest.approx(119.91, abs=1e-6)


def test_a_latitude_of_92_is_out_of_range_not_swapped(tmp_path):
    path = _csv(tmp_path, ["甲,日间照料中心,119.91,92,10,城东街道"])
    frame, rejects, _ = _read(path)
    assert_accounted(frame, rejects, path)
    reason, fix = _one_reason(rejects, 2)
    assert reason == "养老.csv 第2行：纬度 '92' 超出 -90～90，不是纬度"
    assert fix.startswith("核对纬度") and "填反" not in fix


def test_swapped_columns_are_still_called_swapped(tmp_path):
    path = _csv(tmp_path, ["甲,日间照料中心,32.46,119.91,10,城东街道"])
    _, rejects, _ = _read(path)
    reason, fix = _one_reason(rejects, 2)
    assert "填反" in reason and fix == "经度和纬度是否填反？交换经度和纬度两列的值"


def test_decimal_commas_are_named_with_the_corrected_value(tmp_path):
    path = _csv(
        tmp_path,
        [
            "甲;日间照料中心;119,91;32,46;1,200;城东街道",
            "乙;日间照料中心;119.92;32.46;12,5;城东街道",
        ],
        header=HEADER.replace(",", ";"),
        name="欧式.csv",
    )
    frame, rejects, _ = _read(path)
    assert_accounted(frame, rejects, path)
    reason, fix = _one_reason(rejects, 2)
    assert "经度 '119,91' 用逗号作小数点" in reason and "纬度 '32,46' 用逗号作小数点" in reason
    assert "'119.91'" in fix and "填反" not in reason + fix
    reason, fix = _one_reason(rejects, 3)
    assert reason == "欧式.csv 第3行：床位数 '12,5' 用逗号作小数点"
    assert len(frame) == 0


def test_thousands_separators_in_counts_still_read(tmp_path):
    path = _csv(tmp_path, ['甲,日间照料中心,119.91,32.46,"1,200",城东街道'])
    frame, rejects, _ = _read(path)
    assert rejects.empty and frame["beds"].iloc[0] == 1200


def test_shapefile_without_prj_in_metres_asks_for_the_prj(tmp_path):
    path = tmp_path / "站点.shp"
    x, y = pyproj.Transformer.from_crs(4326, 4549, always_xy=True).transform(119.91, 32.46)
    gpd.GeoDataFrame(
        {"名称": ["甲", "乙"]},
        geometry=[shapely.Point(x, y), shapely.Point(x + 50, y)],
        crs="EPSG:4549",
    ).to_file(path)
    path.with_suffix(".prj").unlink()
    frame, rejects, _ = _read(path)
    assert len(frame) == 0 and sorted(rejects["row"]) == [1, 2]
    reason, fix = _one_reason(rejects, 1)
    assert "站点.shp没有坐标系文件（.prj）" in reason and "投影坐标（米）" in reason
    assert fix.startswith("补上 站点.shp 的 .prj 文件") and 'crs = "EPSG:' in fix
    frame, rejects, _ = _read(path, crs="EPSG:4549")  # the fix works
    assert rejects.empty and frame.geometry.x.iloc[0] == pytest.approx(119.91, abs=1e-6)


@pytest.mark.parametrize("value", ["EPSG:999999", "gcj2"])
def test_unknown_crs_names_the_layer_and_key(tmp_path, value):
    path = _csv(tmp_path, _rows(1), name="助餐点.csv")
    with pytest.raises(InputError) as info:
        _read(path, crs=value)
    message = str(info.value)
    assert message.startswith(f"layer 助餐点.csv (elder_care_centre): crs = {value!r}")
    assert "EPSG:32650" in message and "\n" not in message


# ------------------------------------------------------------------ many rows at one point


def test_eight_thousand_rows_at_one_point_finish_fast_and_warn(tmp_path):
    lines = [f"站{i % 4000},日间照料中心,119.912345,32.456789,10,城东街道" for i in range(8000)]
    lines += _rows(50)
    path = _csv(tmp_path, lines, name="兜底.csv")
    start = time.perf_counter()
    frame, rejects, warnings = _read(path)
    elapsed = time.perf_counter() - start
    assert elapsed < 10  # 221 s and 5.7 GB before
    assert_accounted(frame, rejects, path)
    assert len(rejects) == 4000 and len(frame) == 4050  # the second of each name repeats
    assert rejects["reason"].str.contains("与第").all()
    reason, _ = _one_reason(rejects, 4002)  # 站0 again
    assert reason.startswith("兜底.csv 第4002行：与第2行重复（同名“站0”")
    crowd = [w for w in warnings if "坐标完全相同" in w]
    assert len(crowd) == 1 and crowd[0].startswith("兜底.csv：8000 行的坐标完全相同")
    assert "默认地址" in crowd[0]


def test_a_few_rows_at_one_point_do_not_warn(tmp_path):
    lines = [
        f"站{i},日间照料中心,119.912345,32.456789,10,城东街道" for i in range(COLOCATED_ROWS - 1)
    ]
    frame, rejects, warnings = _read(_csv(tmp_path, lines))
    assert len(frame) == COLOCATED_ROWS - 1 and rejects.empty
    assert not any("坐标完全相同" in w for w in warnings)


def test_duplicates_within_ten_metres_at_distinct_points_are_found(tmp_path):
    lines = [
        "甲,日间照料中心,119.910000,32.460000,10,城东街道",
        "甲,日间照料中心,119.910050,32.460000,10,城东街道",  # ~5 m east
        "甲,日间照料中心,119.911000,32.460000,10,城东街道",  # ~94 m east
        "乙,日间照料中心,119.910000,32.460000,10,城东街道",
    ]  # same point, other name
    path = _csv(tmp_path, lines)
    frame, rejects, _ = _read(path)
    assert_accounted(frame, rejects, path)
    assert list(rejects["row"]) == [3] and "与第2行重复" in rejects["reason"].iloc[0]


def test_duplicates_agree_with_a_row_by_row_check(tmp_path):
    """Rows in clusters 1 km apart, each 0, 3 or 6 m (all within 10 m of each other) or 40 m from
    the cluster's centre, with few names: the reader finds exactly the duplicates that checking
    every pair in row order finds (an earlier row's name at the same point, else at another
    point within 10 m, unless that row is itself a duplicate)."""
    rng = np.random.default_rng(7)
    metres = 1 / (111_320 * np.cos(np.radians(32.46)))  # degrees of longitude per metre
    cells = []
    for _ in range(400):
        centre, offset = rng.integers(12), rng.choice([0.0, 3.0, 6.0, 40.0])
        lon = round(119.9 + centre * 1000 * metres + offset * metres, 7)
        cells.append((str(rng.choice(list("甲乙丙丁戊"))), lon, centre, offset))
    path = _csv(tmp_path, [f"{n},日间照料中心,{x},32.46,10,城东街道" for n, x, _, _ in cells])
    frame, rejects, _ = _read(path)
    assert_accounted(frame, rejects, path)

    def near(a, b):
        return cells[a][2] == cells[b][2] and max(cells[a][3], cells[b][3]) < 10

    duplicate: dict[int, int] = {}
    heads: dict[tuple[str, float], int] = {}
    for row, (name, lon, _, _) in enumerate(cells):
        if (name, lon) in heads:
            duplicate[row] = heads[name, lon]
        else:
            heads[name, lon] = row
    firsts = sorted(heads.values())
    for row in firsts:
        for other in firsts:
            if (
                other < row
                and cells[other][0] == cells[row][0]
                and cells[other][1] != cells[row][1]
            ):
                if near(row, other) and row not in duplicate and other not in duplicate:
                    duplicate[row] = other
    got = {
        row - 2: int(re.search(r"与第(\d+)行重复", reason).group(1)) - 2
        for row, reason in zip(rejects["row"], rejects["reason"], strict=True)
    }
    assert got == duplicate and len(duplicate) > 100
    assert len(frame) + len(rejects) == len(cells)


def test_constant_columns_share_one_block_and_read_as_text(tmp_path):
    path = _csv(tmp_path, _rows(70_000))
    frame, rejects, _ = _read(path)
    assert rejects.empty and len(frame) == 70_000
    for column, value in (
        ("category", "elder_care_centre"),
        ("layer", "养老"),
        ("source_file", "养老.csv"),
    ):
        assert frame[column].dtype == "str" and (frame[column] == value).all()
        chunks = frame[column].array._pa_array.chunks
        assert len({chunk.buffers()[2].address for chunk in chunks}) == 1 < len(chunks)
    assert (frame["source_sheet"] == "").all() and frame["source_sheet"].dtype == "str"
    together = pd.concat([frame, frame.iloc[:3]], ignore_index=True)
    assert together["category"].dtype == "str" and len(together) == 70_003


def test_data_rows_helper_counts_independently(tmp_path):
    path = _csv(tmp_path, ["", *_rows(2), ",,,,,"])
    assert csv_data_rows(path) == {("", 3), ("", 4)}


# ------------------------------------------------------------------ the shipped registers


@pytest.mark.parametrize(
    ("file", "category", "encoding"),
    [
        ("elder_care_centres.xlsx", "elder_care_centre", ""),
        ("meal_points.csv", "meal_point", "gbk"),
        ("social_work_stations.csv", "social_work_station", "utf-8-sig"),
        ("children_homes.csv", "children_home", "utf-8"),
        ("community_centres.csv", "community_centre", "utf-8"),
        ("columbaria.geojson", "columbarium", ""),
    ],
)
def test_every_row_of_the_sample_registers_is_accounted_for(file, category, encoding):
    from lifecircle.data import data_path

    path = data_path("sample", file)
    frame, rejects = read_register(LayerSpec(category, path), REGISTRY)[:2]
    if path.suffix == ".geojson":
        features = json.loads(path.read_text(encoding="utf-8"))["features"]
        assert sorted(accounted_rows(frame, rejects)) == [("", i + 1) for i in range(len(features))]
    else:
        assert_accounted(frame, rejects, path, encoding=encoding)
