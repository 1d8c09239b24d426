"""Reading tables: encodings, header rows, sheets, column aliases, row numbers."""

from __future__ import annotations

from pathlib import Path

import pytest

from lifecircle.errors import InputError
from lifecircle.layers.tables import (
    FIELD_ALIASES,
    find_header_row,
    map_columns,
    normalise_header,
    read_table,
)
from lifecircle.text import detect_encoding
from tests.adversarial.registers_util import write_xlsx

CSV_TEXT = "机构名称,经度,纬度,床位数\n甲,116.4,39.9,10\n乙,116.5,39.8,20\n"


@pytest.mark.parametrize(
    ("header", "folded"),
    [
        ("建筑面积（㎡）", "建筑面积"),
        ("建筑面积(m2)", "建筑面积"),
        (" 经 度 ", "经度"),
        ("Longitude", "longitude"),
        ("床位数（张）", "床位数"),
        ("名称：", "名称"),
        ("（备注）", "(备注)"),
    ],
)
def test_normalise_header(header, folded):
    assert normalise_header(header) == folded


@pytest.mark.parametrize("encoding", ["utf-8", "utf-8-sig", "gbk", "gb18030"])
def test_detect_encoding_reads_chinese(encoding):
    data = CSV_TEXT.encode(encoding)
    detected = detect_encoding(data)
    assert data.decode(detected).lstrip("\ufeff") == CSV_TEXT


@pytest.mark.parametrize("encoding", ["utf-8", "utf-8-sig", "gbk"])
def test_read_csv_in_each_encoding(tmp_path: Path, encoding):
    path = tmp_path / "r.csv"
    path.write_bytes(CSV_TEXT.encode(encoding))
    table = read_table(path)
    assert table.columns == {"name": "机构名称", "lon": "经度", "lat": "纬度", "beds": "床位数"}
    assert list(table.values("name")) == ["甲", "乙"]
    assert table.rows.tolist() == [2, 3]  # header is line 1


def test_csv_title_line_blank_line_and_multiline_cell(tmp_path: Path):
    path = tmp_path / "r.csv"
    path.write_text(
        '2024年助餐点名录,,\n名称,经度,纬度\n"甲\n分点",116.4,39.9\n\n乙,116.5,39.8\n',
        encoding="utf-8",
    )
    table = read_table(path)
    assert table.rows.tolist() == [3, 6]  # line numbers as an editor shows them
    assert table.values("name").iloc[1] == "乙"


def test_xlsx_header_below_title_rows_keeps_excel_row_numbers(tmp_path: Path):
    path = tmp_path / "养老服务设施.xlsx"
    write_xlsx(
        path,
        {
            "说明": [["本表为示例"], ["填表说明：经度纬度为高德坐标"]],
            "设施": [
                ["示范区养老服务设施名录（2024年）"],
                [None],
                ["填报单位：民政局"],
                ["序号", "机构名称", "经度（GCJ-02）", "纬度（GCJ-02）", "建筑面积（㎡）"],
                [1, "甲中心", 116.4, 39.9, 300],
                [None, None, None, None, None],
                [2, "乙中心", 116.5, 39.8, "约200"],
            ],
        },
    )
    table = read_table(path)
    assert table.sheet == "设施"
    assert table.columns["lon"] == "经度（GCJ-02）"
    assert table.columns["floor_area_m2"] == "建筑面积（㎡）"
    assert table.rows.tolist() == [5, 7]
    assert list(table.values("name")) == ["甲中心", "乙中心"]


def test_xlsx_named_sheet_and_missing_sheet(tmp_path: Path):
    path = tmp_path / "t.xlsx"
    write_xlsx(
        path,
        {
            "A": [["名称", "经度", "纬度"], ["甲", 1, 2]],
            "B": [["名称", "经度", "纬度"], ["乙", 1, 2], ["丙", 1, 2]],
        },
    )
    assert list(read_table(path, sheet="B").values("name")) == ["乙", "丙"]
    assert list(read_table(path, sheet=1).values("name")) == ["乙", "丙"]
    every = read_table(path)  # without sheet = every sheet whose header matches
    assert list(every.values("name")) == ["甲", "乙", "丙"]
    assert list(every.sheets) == ["A", "B", "B"] and every.rows.tolist() == [2, 2, 3]
    with pytest.raises(InputError, match=r"no sheet named 'C'.*A, B"):
        read_table(path, sheet="C")


def test_column_overrides_win_and_unknown_override_is_named(tmp_path: Path):
    path = tmp_path / "r.csv"
    path.write_text("单位名称,名称,X坐标,Y坐标\n甲,旧名,1,2\n", encoding="utf-8")
    table = read_table(path, columns={"name": "单位名称"})
    assert table.columns["name"] == "单位名称"
    assert table.columns["lon"] == "X坐标" and table.columns["lat"] == "Y坐标"
    with pytest.raises(InputError, match=r"columns\.name = '机构' is not a column"):
        read_table(path, columns={"name": "机构"})


def test_alias_order_and_one_header_per_field():
    headers = ["所属街道", "街道", "所属社区", "床位", "护理型床位（张）", "类别"]
    mapping = map_columns(headers, FIELD_ALIASES)
    assert mapping["township"] == "所属街道"
    assert mapping["village"] == "所属社区"
    assert mapping["beds"] == "床位"
    assert mapping["nursing_beds"] == "护理型床位（张）"
    assert mapping["type"] == "类别"
    assert len(set(mapping.values())) == len(mapping)


def test_find_header_row_prefers_the_row_with_most_matches():
    rows = [["名称汇总表"], [], ["名称", "经度", "纬度", "地址"], ["甲", 1, 2, "x"]]
    assert find_header_row(rows, FIELD_ALIASES) == (2, 4)


def test_unknown_file_type_and_missing_file(tmp_path: Path):
    (tmp_path / "a.doc").write_text("x", encoding="utf-8")
    with pytest.raises(InputError, match="unknown file type"):
        read_table(tmp_path / "a.doc")
    with pytest.raises(InputError, match="does not exist"):
        read_table(tmp_path / "b.csv")
    (tmp_path / "c.xls").write_bytes(b"\xd0\xcf")
    with pytest.raises(InputError, match=r"save as \.xlsx"):
        read_table(tmp_path / "c.xls")
