"""Chinese labels of the target report: township kinds, statuses, levels and units."""

KIND_ZH = {"street": "街道", "town": "镇/乡"}
STATUS_ZH = {"met": "达标", "not_met": "未达标", "na": "不适用"}
LEVEL_ZH = {
    "township": "乡镇（街道）",
    "district": "全区",
    "village": "村（社区）",
    "community": "社区",
    "year": "年度",
    "new_residential": "新建住宅区",
}
# The value/shortfall units, in English; report.py translates them.
UNIT_ZH = {
    "facilities": "处",
    "%": "%",
    "beds/1000 seniors": "张/千名老人",
    "m²/100 households": "㎡/百户",
    "staff": "名",
    "seniors": "人（老年人）",
    "people": "人",
    "beds": "张",
    "nursing beds": "张（护理型）",
    "public beds": "张（公益性）",
    "m²": "㎡",
    "units": "个",
    "dementia-care beds": "张（认知障碍照护）",
}
