"""Labels of the maps and the briefing in Chinese (default) and English.

Every visible label goes through :func:`label`; templates with ``{name}`` fields are filled with
:meth:`str.format`. Registry names (category ``name_zh``/``name_en``) come from the result, not
from here.
"""

from __future__ import annotations

from lifecircle.errors import InputError

LANGS = ("zh", "en")

_LABELS: dict[str, tuple[str, str]] = {
    # province batch pages
    "province_title": ("{province}：各县（市、区）规划目标达标情况",
                       "{province}: plan targets by county"),
    "province_counties": ("县（市、区）达标比例", "Counties: share of targets met"),
    "province_county": ("县（市、区）", "County"),
    "province_code": ("县级代码", "Code"),
    "province_state": ("运行状态", "Run"),
    "province_share": ("达标比例", "Share met"),
    "province_met": ("达标", "Met"),
    "province_not_met": ("未达标", "Not met"),
    "province_na": ("不适用", "N/a"),
    "province_links": ("成果", "Outputs"),
    "province_overview": ("总览地图", "overview map"),
    "province_briefing": ("简报", "briefing"),
    "province_map_link": ("打开全省（市）总览地图", "Open the province overview map"),
    "province_lead": ("共 {counties} 个县（市、区）：{done} 个完成，{failed} 个失败。"
                      "计算引擎：{engine}，用时 {seconds:.0f} 秒。生成日期：{date}。",
                      "{counties} counties: {done} finished, {failed} failed. Engine: {engine}, "
                      "{seconds:.0f} s. Generated {date}."),
    "batch_done": ("已完成", "finished"),
    "batch_skipped": ("未变化，沿用上次结果", "unchanged, previous result kept"),
    "batch_failed": ("失败", "failed"),
    # map layers
    "townships": ("乡镇(街道)", "Townships"),
    "target_status": ("乡镇目标达标情况", "Township target status"),
    "target": ("规划目标", "Plan target"),
    "no_target": ("(无乡镇级目标)", "(no township-level target)"),
    "facilities_layer": ("设施 · {category}", "Facilities · {category}"),
    "service_area_layer": ("步行{threshold}分钟服务范围 · {category}",
                           "{threshold}-min walk area · {category}"),
    "uncovered_layer": ("未覆盖老年人 · {category}({threshold}分钟)",
                        "Uncovered seniors · {category} ({threshold} min)"),
    "sites_layer": ("建议新增站点", "Proposed sites"),
    "dropped_ways_layer": ("步行规则剔除的道路", "Ways the walk rules dropped"),
    "units_layer": ("{level}边界", "{level} boundaries"),
    "level_village": ("村(社区)", "Village/community"),
    "legend": ("图例", "Legend"),
    "fullscreen": ("全屏", "Full screen"),
    "exit_fullscreen": ("退出全屏", "Exit full screen"),
    "selected_township": ("本乡镇", "This township"),
    # statuses
    "met": ("达标", "Met"),
    "not_met": ("未达标", "Not met"),
    "na": ("不适用", "N/A"),
    "no_data": ("未评估", "Not assessed"),
    # popups
    "name": ("名称", "Name"),
    "category": ("类别", "Category"),
    "subtype": ("子类", "Subtype"),
    "beds": ("床位", "Beds"),
    "township": ("所属乡镇(街道)", "Township"),
    "township_code": ("乡镇代码", "Township code"),
    "address": ("地址", "Address"),
    "rank": ("序号", "Rank"),
    "newly_covered_pop60": ("新增覆盖60岁及以上人口", "Newly covered people aged 60+"),
    "newly_covered_pop": ("新增覆盖人口", "Newly covered people"),
    "forced": ("必设", "Required"),
    "yes": ("是", "yes"),
    "pop60": ("60岁及以上人口", "People aged 60+"),
    "pop": ("人口", "Population"),
    "proposed_site": ("建议新增站点", "Proposed site"),
    # briefing
    "briefing_title": ("{study}:生活圈设施覆盖简报", "{study}: life-circle coverage briefing"),
    "area_summary": ("全区目标汇总", "Area summary of targets"),
    "coverage_chart": ("各乡镇(街道)步行可达覆盖率(60岁及以上人口)",
                       "Walking coverage of people aged 60+ by township"),
    "chart_caption": ("{category}:步行{threshold}分钟内可达的60岁及以上人口占比",
                      "{category}: share of people aged 60+ within a {threshold}-min walk"),
    "townships_section": ("乡镇(街道)分述", "Townships"),
    "targets": ("规划目标", "Targets"),
    "gaps": ("差距", "Gaps"),
    "unit_gaps": ("村(社区)未达标", "Villages and communities not meeting targets"),
    "proposed_sites": ("建议新增站点", "Proposed sites"),
    "no_gaps": ("本乡镇(街道)所有适用目标均已达标。", "Every applicable target is met here."),
    "no_sites": ("无建议新增站点。", "No proposed sites."),
    "no_targets": ("无乡镇级目标。", "No township-level targets."),
    "indicator": ("指标", "Indicator"),
    "document": ("依据文件", "Document"),
    "value": ("现状", "Current"),
    "target_value": ("目标值", "Target"),
    "unit": ("单位", "Unit"),
    "status": ("状态", "Status"),
    "met_units": ("达标单元", "Units met"),
    "shortfall": ("缺口", "Shortfall"),
    "note": ("说明", "Note"),
    "unit_name": ("单元", "Unit"),
    "interactive_map": ("交互地图(屏幕查看)", "Interactive map (on screen)"),
    "static_map": ("{name}设施分布", "Facilities in {name}"),
    "generated": ("生成于", "Generated"),
    "summary_counts": ("乡镇(街道){n_townships}个,设施{n_facilities}处,目标{n_targets}项,"
                       "其中达标{n_met}项、未达标{n_not_met}项、不适用{n_na}项。",
                       "{n_townships} townships, {n_facilities} facilities, {n_targets} targets: "
                       "{n_met} met, {n_not_met} not met, {n_na} not applicable."),
    "street": ("街道", "street"),
    "town": ("镇/乡", "town"),
    "minutes": ("{threshold}分钟", "{threshold} min"),
}


def check_lang(lang: str) -> str:
    """Return ``lang`` if it is a supported language, else raise naming the choices."""
    if lang not in LANGS:
        raise InputError(f"unknown language {lang!r}: use one of {', '.join(LANGS)}")
    return lang


def has_label(key: str) -> bool:
    """Whether ``key`` is a known label."""
    return key in _LABELS


def label(key: str, lang: str = "zh", **fields: object) -> str:
    """The label ``key`` in ``lang``, with ``{field}`` placeholders filled.

    >>> label("met"), label("met", "en")
    ('达标', 'Met')
    >>> label("minutes", "en", threshold=15)
    '15 min'
    """
    zh, en = _LABELS[key]
    text = en if check_lang(lang) == "en" else zh
    return text.format(**fields) if fields else text


def category_name(categories: dict, key: str, lang: str = "zh") -> str:
    """The display name of a registry category (``name_zh``/``name_en``), or its key."""
    entry = categories.get(key)
    if entry is None:
        return str(key)
    field = "name_en" if lang == "en" else "name_zh"
    value = entry.get(field) if isinstance(entry, dict) else getattr(entry, field, None)
    return str(value) if value else str(key)


def subtype_name(categories: dict, category: str, subtype: str, lang: str = "zh") -> str:
    """The display name of a subtype when the registry entry lists it, else the raw text."""
    if not subtype:
        return ""
    entry = categories.get(category)
    subtypes = (entry.get("subtypes") if isinstance(entry, dict)
                else getattr(entry, "subtypes", None)) if entry is not None else None
    sub = (subtypes or {}).get(subtype)
    if sub is None:
        return str(subtype)
    field = "name_en" if lang == "en" else "name_zh"
    value = sub.get(field) if isinstance(sub, dict) else getattr(sub, field, None)
    return str(value) if value else str(subtype)
