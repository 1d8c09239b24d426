"""Gap report writers: csv with BOM, xlsx sheets/colours/frozen header, gpkg layer, console rows."""

from __future__ import annotations

import csv

import pandas as pd
import pytest
from openpyxl import load_workbook
from test_targets import CODES, make_context

from lifecircle.coverage.targets import evaluate_targets, parse_targets
from lifecircle.report import (
    STATUS_FILL,
    gaps_layer,
    summary_rows,
    write_gaps_csv,
    write_gaps_xlsx,
)

RAW = [
    {
        "id": "street_centre",
        "indicator": "城市街道综合性养老服务中心覆盖率",
        "document": "测试规划",
        "type": "presence",
        "category": "elder_care_centre",
        "subtype": "comprehensive",
        "kind": "street",
    },
    {
        "id": "kids",
        "indicator": "村居儿童之家覆盖率",
        "type": "unit_coverage",
        "level": "village",
        "category": "children_home",
        "target_pct": {"2024": 90, "2025": 100},
    },
    {
        "id": "beds",
        "indicator": "每千名老年人养老床位数",
        "type": "ratio",
        "measure": "beds_per_1000_seniors",
        "min_value": 20,
    },
    {
        "id": "regional",
        "indicator": "农村区域性养老服务中心数量",
        "type": "count",
        "category": "elder_care_centre",
        "subtype": "regional_rural",
        "min_count": 2,
    },
]


@pytest.fixture
def report():
    targets = [
        *parse_targets(RAW, source="t.toml"),
        *parse_targets([{"preset": "taizhou_14th", "only": ["minor_protection_station"]}]),
    ]
    return evaluate_targets(targets, make_context())


def test_csv_has_bom_and_chinese_headers(tmp_path, report):
    path = write_gaps_csv(report, tmp_path / "gaps.csv")
    data = path.read_bytes()
    assert data.startswith(b"\xef\xbb\xbf")
    with path.open(encoding="utf-8-sig", newline="") as f:
        rows = list(csv.DictReader(f))
    assert list(rows[0])[:3] == ["指标编号", "指标", "依据文件"]
    assert {"状态", "差距", "说明", "年度目标路径"} <= set(rows[0])
    assert {r["状态"] for r in rows} == {"达标", "未达标", "不适用"}
    # unit rows and one area row per target: 2 + (8 + 4 + 1) + 4 + 1 + (4 + 1) = 25 + area rows
    area = [r for r in rows if r["层级"] == "全区"]
    assert len(area) == 5
    assert len(rows) == len(report.rows) + len(report.summary)
    street = next(r for r in rows if r["指标编号"] == "street_centre" and r["单元代码"] == CODES[1])
    assert (street["状态"], street["差距"], street["差距单位"]) == ("未达标", "1.0", "处")


def test_csv_in_english(tmp_path, report):
    path = write_gaps_csv(report, tmp_path / "gaps_en.csv", lang="en")
    table = pd.read_csv(path, encoding="utf-8-sig", keep_default_na=False)
    assert list(table.columns[:3]) == ["Target id", "Indicator", "Document"]
    assert set(table["Status"]) == {"Met", "Not met", "N/A"}
    # the English table names types in words, not internal keys
    assert "presence" not in set(table["Type"]) and "Presence per unit" in set(table["Type"])
    notes = " ".join(table["Note"])
    assert "missing input" in notes and "minor_protection" in notes
    with pytest.raises(ValueError, match="lang"):
        write_gaps_csv(report, tmp_path / "x.csv", lang="fr")


def test_xlsx_sheets_colours_and_frozen_header(tmp_path, report):
    path = write_gaps_xlsx(report, tmp_path / "gaps.xlsx", lang="zh")
    wb = load_workbook(path)
    expected = [
        "汇总",
        "street_centre",
        "kids",
        "beds",
        "regional",
        "taizhou_14th.minor_protection_s",
    ]
    assert wb.sheetnames == expected  # summary first, one sheet per target (31-char titles)
    for ws in wb.worksheets:
        assert ws.freeze_panes == "A2"
        assert ws.auto_filter.ref is not None and ws.auto_filter.ref.startswith("A1:")
        assert ws.column_dimensions["B"].width > 10
    summary = wb["汇总"]
    header = [c.value for c in summary[1]]
    status_col = header.index("状态") + 1
    fills = {}
    for row in range(2, summary.max_row + 1):
        status = summary.cell(row=row, column=status_col).value
        fills[status] = summary.cell(row=row, column=status_col).fill.start_color.rgb[-6:]
    assert fills == {
        "未达标": STATUS_FILL["not_met"],
        "达标": STATUS_FILL["met"],
        "不适用": STATUS_FILL["na"],
    }
    kids = wb["kids"]
    # 8 village rows, 4 township roll-ups and the area row
    assert kids.max_row == 1 + 8 + 4 + 1
    levels = [kids.cell(row=r, column=header.index("层级") + 1).value for r in range(2, 15)]
    assert levels.count("村（社区）") == 8 and levels[-1] == "全区"


def test_xlsx_in_english(tmp_path, report):
    wb = load_workbook(write_gaps_xlsx(report, tmp_path / "gaps.xlsx", lang="en"))
    assert wb.sheetnames[0] == "Summary"
    assert wb["Summary"]["A1"].value == "Target id"


def test_gaps_layer_has_township_and_area_geometry(report):
    context = make_context()
    layer = gaps_layer(report, context.townships)
    assert layer.crs.to_epsg() == 4326
    assert set(layer["level"]) == {"township", "district"}
    district = layer[layer["level"] == "district"]
    assert len(district) == len(report.summary)
    assert district.geometry.iloc[0].area == pytest.approx(context.townships.union_all().area)
    east = layer[(layer["unit_code"] == CODES[0]) & (layer["target_id"] == "street_centre")]
    assert east.geometry.iloc[0].equals(context.townships.geometry.iloc[0])
    with_units = gaps_layer(report, context.townships, units=context.units)
    villages = with_units[with_units["level"] == "village"]
    assert len(villages) == 8 and villages.geometry.notna().all()
    first = villages[villages["unit_code"] == CODES[0] + "001"].geometry.iloc[0]
    assert first.equals(context.units["village"].geometry.iloc[0])


def test_summary_rows(report):
    rows = summary_rows(report, lang="zh")
    by_id = {r[0]: r for r in rows}
    assert by_id["street_centre"][3:8] == ("50.0%", "100.0%", "未达标", "1 处", "1/2")
    assert by_id["regional"][3:6] == ("2 处", "2 处", "达标")
    assert by_id["kids"][2] == "2025"
    en = {r[0]: r for r in summary_rows(report, lang="en")}
    assert en["beds"][3] == "26.7 beds/1000 seniors" and en["beds"][5] == "Met"
