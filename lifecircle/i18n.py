"""Every user-facing word of lifecircle, in Chinese (default) and English, in one place.

The bottom of the stack: it imports nothing from lifecircle but :mod:`lifecircle.errors`, so
every module may use it. Every visible label goes through :func:`label`; templates with
``{name}`` fields are filled with :meth:`str.format`. Registry names (category
``name_zh``/``name_en``) come from the result, not from here.
"""

from __future__ import annotations

from lifecircle.errors import InputError

LANGS = ("zh", "en")

_LABELS: dict[str, tuple[str, str]] = {
    # province batch pages
    "province_title": (
        "{province}：各县（市、区）规划目标达标情况",
        "{province}: plan targets by county",
    ),
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
    "province_lead": (
        "共 {counties} 个县（市、区）：{done} 个完成，{failed} 个失败。"
        "计算引擎：{engine}，用时 {seconds:.0f} 秒。生成日期：{date}。",
        "{counties} counties: {done} finished, {failed} failed. Engine: {engine}, "
        "{seconds:.0f} s. Generated {date}.",
    ),
    "batch_done": ("已完成", "finished"),
    "batch_skipped": ("未变化，沿用上次结果", "unchanged, previous result kept"),
    "batch_failed": ("失败", "failed"),
    # map layers
    "townships": ("乡镇（街道）", "Townships"),
    "target_status": ("乡镇目标达标情况", "Township target status"),
    "target": ("规划目标", "Plan target"),
    "no_target": ("（无乡镇级目标）", "(no township-level target)"),
    "facilities_layer": ("设施 · {category}", "Facilities · {category}"),
    "service_area_layer": (
        "步行{threshold}分钟服务范围 · {category}",
        "{threshold}-min walk area · {category}",
    ),
    "uncovered_layer": (
        "未覆盖老年人 · {category}（{threshold}分钟）",
        "Uncovered seniors · {category} ({threshold} min)",
    ),
    "sites_layer": ("建议新增站点", "Proposed sites"),
    "dropped_ways_layer": ("步行规则剔除的道路", "Ways the walk rules dropped"),
    "units_layer": ("{level}边界", "{level} boundaries"),
    "level_village": ("村（社区）", "Village/community"),
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
    "township": ("所属乡镇（街道）", "Township"),
    "township_code": ("乡镇代码", "Township code"),
    "address": ("地址", "Address"),
    "rank": ("序号", "Rank"),
    "newly_covered_pop60": ("新增覆盖60岁及以上人口", "Newly covered people aged 60+"),
    "newly_covered_pop": ("新增覆盖人口", "Newly covered people"),
    "forced": ("必设", "Required"),
    "yes": ("是", "yes"),
    "pop60": ("60岁及以上人口", "People aged 60+"),
    "pop60_pooled": (
        "60岁及以上人口（{block}米方格合计）",
        "People aged 60+ (summed over {block} m blocks)",
    ),
    "pop": ("人口", "Population"),
    "proposed_site": ("建议新增站点", "Proposed site"),
    # briefing
    "briefing_title": ("{study}：生活圈设施覆盖简报", "{study}: life-circle coverage briefing"),
    "area_summary": ("全区目标汇总", "Area summary of targets"),
    "coverage_chart": (
        "各乡镇（街道）步行可达覆盖率（60岁及以上人口）",
        "Walking coverage of people aged 60+ by township",
    ),
    "chart_caption": (
        "{category}：步行{threshold}分钟内可达的60岁及以上人口占比",
        "{category}: share of people aged 60+ within a {threshold}-min walk",
    ),
    "townships_section": ("乡镇（街道）分述", "Townships"),
    "targets": ("规划目标", "Targets"),
    "gaps": ("差距", "Gaps"),
    "unit_gaps": ("村（社区）未达标", "Villages and communities not meeting targets"),
    "proposed_sites": ("建议新增站点", "Proposed sites"),
    "no_gaps": ("本乡镇（街道）所有适用目标均已达标。", "Every applicable target is met here."),
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
    "interactive_map": ("交互地图（屏幕查看）", "Interactive map (on screen)"),
    "static_map": ("{name}设施分布", "Facilities in {name}"),
    "generated": ("生成于", "Generated"),
    "summary_counts": (
        "乡镇(街道){n_townships}个,设施{n_facilities}处,目标{n_targets}项,"
        "其中达标{n_met}项、未达标{n_not_met}项、不适用{n_na}项。",
        "{n_townships} townships, {n_facilities} facilities, {n_targets} targets: "
        "{n_met} met, {n_not_met} not met, {n_na} not applicable.",
    ),
    "street": ("街道", "street"),
    "town": ("镇/乡", "town"),
    "minutes": ("{threshold}分钟", "{threshold} min"),
    # print-ready pictures (maps/static.py)
    "static_title": ("{study}：生活圈设施覆盖总览", "{study}: life-circle coverage overview"),
    "static_subtitle": (
        "目标：{indicator}（依据：{document}）",
        "Target: {indicator} (source: {document})",
    ),
    "static_status": ("乡镇（街道）{status}", "Township {status}"),
    "static_area": ("{category}步行服务范围（{minutes}）", "{category} walking area ({minutes})"),
    "static_uncovered": (
        "未覆盖老年人（共{total}人，圆越大人越多）",
        "Uncovered people aged 60+ ({total}; larger circle, more people)",
    ),
    "static_sites": (
        "建议新增站点（{n}处，数字为序号）",
        "Proposed sites ({n}; numbers are ranks)",
    ),
    "static_count": ("{name}（{n}）", "{name} ({n})"),
    "static_shortfall": ("缺口{shortfall}{unit}", "short by {shortfall} {unit}"),
    "static_source": (
        "数据来源：{files}。制图：lifecircle {version}，{date}。",
        "Sources: {files}. Drawn by lifecircle {version}, {date}.",
    ),
    "north": ("北", "N"),
    # briefing: summary, pictures, sources (maps/briefing.py)
    "summary": ("摘要", "Summary"),
    "briefing_meta": (
        "生成日期：{date}；评估年度：{year}；",
        "Generated {date}; assessment year {year};",
    ),
    "targets_met_of": ("{met}/{total} 项达标", "{met} of {total} targets met"),
    "targets_not_met_n": ("{n} 项未达标", "{n} not met"),
    "uncovered_seniors_fig": (
        "名老年人不在步行圈内（{indicator}）",
        "people aged 60+ beyond the walk ({indicator})",
    ),
    "sites_n": ("{n} 处建议新增站点", "{n} proposed sites"),
    "sites_gain": ("新增覆盖老年人 {n} 人", "newly covering {n} people aged 60+"),
    "value_vs_target": ("现状 / 目标", "Current / target"),
    "targets_not_met": ("未达标目标（{n} 项）", "Targets not met ({n})"),
    "targets_met": ("达标目标（{n} 项）", "Targets met ({n})"),
    "worst_townships": ("差距最大的乡镇（街道）", "Townships furthest behind"),
    "not_met_of_assessed": ("未达标 / 已评估目标", "Not met / assessed"),
    "uncovered_seniors": ("未覆盖老年人", "People aged 60+ uncovered"),
    "sites_effect": ("建议新增站点及效果", "Proposed sites and their effect"),
    "sites_effect_line": (
        "建议新增{category}{n}处，新增覆盖老年人{gain}人，覆盖率由{before}%提高到"
        "{after}%（求解方法：{method}）。",
        "{n} new {category} sites cover {gain} more people aged 60+: "
        "{before}% → {after}% (method: {method}).",
    ),
    "target_moves": (
        "{indicator}：{before} → {after}（目标{target}；{status_before} → {status_after}）",
        "{indicator}: {before} → {after} (target {target}; {status_before} → {status_after})",
    ),
    "overview_map": ("全区总览图", "Overview map"),
    "overview_caption": (
        "点击图片打开交互地图（overview.html）；300 dpi 打印版见 overview.png",
        "Click to open the interactive map (overview.html); the 300-dpi print file is overview.png",
    ),
    "township_caption": (
        "点击图片打开本乡镇交互地图；300 dpi 打印版见 townships 文件夹",
        "Click to open this township's interactive map; 300-dpi print files "
        "are in the townships folder",
    ),
    "township_light_caption": (
        "简报内为压缩图；点击图片打开本乡镇交互地图；300 dpi 打印版见 townships 文件夹",
        "A lighter copy to keep the briefing small; click to open this township's interactive "
        "map; 300-dpi print files are in the townships folder",
    ),
    "no_picture": ("（未生成地图图片）", "(no map picture)"),
    "documents": ("依据文件", "Plan documents cited"),
    "sources": ("数据来源", "Data sources"),
    "file": ("文件", "File"),
    "layer_category": ("设施类别", "Facility category"),
    "modified": ("修改日期", "Modified"),
    "bytes": ("字节", "Bytes"),
    "sha256": ("SHA-256（前16位）", "SHA-256 (first 16)"),
    "no_sources": ("运行记录中没有输入文件。", "The run record lists no input files."),
    "walk_settings": (
        "步行设定：默认 {speed} m/s，{thresholds} 分钟；分类：{kinds}。",
        "Walk: default {speed} m/s, {thresholds} min; by kind: {kinds}.",
    ),
    "made_by": (
        "由 lifecircle {version} 于 {date} 生成。",
        "Made by lifecircle {version} on {date}.",
    ),
    "at_a_glance": ("要点", "At a glance"),
    "na_targets": (
        "不适用的目标（{n} 项，原因见全区目标汇总表）：{names}",
        "Targets that do not apply here ({n}; reasons in the area table): {names}",
    ),
    "not_met_of_assessed_line": (
        "已评估目标{total}项，其中未达标{n}项",
        "{n} of {total} assessed targets not met",
    ),
    "story_line": (
        "{indicator}：{status}，{value}；未覆盖老年人{uncovered}人",
        "{indicator}: {status}, {value}; {uncovered} people aged 60+ uncovered",
    ),
    "unit_gap_line": (
        "{indicator}：{names}（{n}个，缺口{shortfall}{unit}）",
        "{indicator}: {names} ({n}; short by {shortfall} {unit})",
    ),
    "site_line": (
        "#{rank} {category}：新增覆盖老年人{pop60}人（WGS-84 经度 {lon}，纬度 {lat}）",
        "#{rank} {category}: {pop60} more people aged 60+ covered (WGS-84 lon {lon}, lat {lat})",
    ),
    "page_of": ("第 {page} 页，共 {pages} 页", "Page {page} of {pages}"),
    # page and control text
    "overview_title": ("{study}：生活圈设施覆盖总览", "{study}: life-circle coverage overview"),
    "township_title": ("{name}（{code}）：生活圈设施覆盖", "{name} ({code}): life-circle coverage"),
    "layers": ("图层", "Layers"),
    "zoom_in": ("放大", "Zoom in"),
    "zoom_out": ("缩小", "Zoom out"),
    "group_target": ("所选目标", "Selected target"),
    "group_other": ("其他", "Other"),
    "labels_layer": ("乡镇（街道）名称与缺口", "Township names and shortfalls"),
    "facilities_all": ("该目标的设施", "The target's facilities"),
    "areas_all": ("步行服务范围", "Walking service areas"),
    "uncovered_all": ("未覆盖老年人", "Uncovered seniors"),
    "walk_area": ("步行{walks}服务范围", "{walks} walking service area"),
    "uncovered_legend": (
        "未覆盖老年人（圆越大人越多）",
        "Uncovered people aged 60+ (larger: more)",
    ),
    "panel_hint": (
        "点击一行在地图上定位该乡镇（街道），点击名称打开其地图。",
        "Click a row to zoom to the township; click its name to open its map.",
    ),
    # status table and shortfalls
    "shortfall_is": ("缺口{shortfall}", "short by {shortfall}"),
    "status_table": ("各乡镇（街道）目标达标情况", "Target status by township"),
    # console (lifecircle.cli)
    "cli_township": ("乡镇", "Township"),
    "cli_code": ("代码", "Code"),
    "cli_kind": ("类型", "Kind"),
    "cli_unmet_targets": ("未达标指标", "Targets not met"),
    "cli_indicator": ("指标", "Indicator"),
    "cli_value": ("现状", "Value"),
    "cli_target": ("目标", "Target"),
    "cli_status": ("状态", "Status"),
    "cli_layer": ("图层", "Layer"),
    "cli_used": ("采用", "used"),
    "cli_rejected": ("剔除", "rejected"),
    "cli_per_township": ("各乡镇目标达成情况", "Targets per township"),
    "cli_area": ("全区目标", "District targets"),
    "cli_layers": ("登记表", "Registers"),
    "cli_written": ("结果已写入", "Outputs written to"),
    "cli_warnings": ("提示", "Warnings"),
    "cli_rejected_rows": ("条记录被剔除，见", "rows rejected, see"),
    "cli_coverage": (
        "老年人步行可达率（各类乡镇最长步行时间内）",
        "Seniors within walking reach (longest threshold of each kind)",
    ),
    "cli_minutes": ("分钟", "min"),
    "cli_timings": ("耗时", "Time"),
    # progress steps the library reports (``key`` or ``key:detail``), shown by the CLI
    "progress_townships": ("读取乡镇边界", "Reading townships"),
    "progress_network": ("读取步行路网", "Reading the walking network"),
    "progress_registers": ("读取设施登记表", "Reading facility registers"),
    "progress_population": ("读取人口", "Reading population"),
    "progress_inputs_done": ("输入读取完成", "Inputs read"),
    "progress_sensitivity": ("敏感性分析", "Sensitivity"),
    "progress_snapping": ("吸附到路网", "Snapping to the network"),
    "progress_coverage": ("覆盖分析", "Coverage"),
    "progress_service_areas": ("服务范围", "Service areas"),
    "progress_coverage_done": ("覆盖分析完成", "Coverage done"),
    "progress_siting": ("选址", "Siting"),
    "progress_outputs": (
        "绘制地图和图片，写出表格和 GeoPackage",
        "Drawing maps and pictures, writing the tables and the GeoPackage",
    ),
    "progress_briefing": ("写出简报", "Writing the briefing"),
    "progress_done": ("完成", "Done"),
    "progress_detail_demand": ("需求", "demand"),
    "progress_detail_candidates": ("候选点", "candidates"),
    "progress_detail_coverage_sets": ("覆盖集合", "coverage sets"),
    "progress_detail_solving": ("求解", "solving"),
    "progress_detail_done": ("完成", "done"),
    "cli_peak_memory": ("峰值内存", "peak memory"),
    "cli_cache_hit": ("路网读自缓存", "network read from the cache"),
    "cli_stage_townships": ("乡镇边界", "townships"),
    "cli_stage_network": ("路网", "network"),
    "cli_stage_registers": ("登记表", "registers"),
    "cli_stage_population": ("人口", "population"),
    "cli_stage_coverage": ("覆盖分析", "coverage"),
    "cli_stage_accessibility": ("可达性", "accessibility"),
    "cli_stage_service_areas": (
        "服务范围（可达性、地图图层、选址同时进行）",
        "service areas (accessibility, map layers and siting alongside)",
    ),
    "cli_stage_targets": ("目标评估", "targets"),
    "cli_stage_map_layers": ("地图图层", "map layers"),
    "cli_stage_siting": ("选址", "siting"),
    "cli_stage_write": ("写出", "write"),
    "cli_stage_total": ("合计", "total"),
    "cli_interrupted": (
        "已中断（Ctrl-C）：没有写出任何结果，{out} 中原有的结果保持不变",
        "interrupted (Ctrl-C): nothing was written; the previous output in {out} is untouched",
    ),
    "cli_siting": (
        "拟建{name} {sites} 处（{method}，最优性差距 {gap:.1%}）："
        "覆盖率 {before:.1%} → {after:.1%}，见 proposed_sites.csv",
        "Proposed {name}: {sites} sites ({method}, optimality gap {gap:.1%}): "
        "coverage {before:.1%} -> {after:.1%}, see proposed_sites.csv",
    ),
    "cli_audit": (
        "步行路网（{rules} 规则）：保留 {kept:.1f} km，剔除 {dropped:.1f} km{by_rule}；"
        "连通部分 {parts} 个（主网含 {share:.1%} 节点）；"
        "距道路超过 {snap:g} 米的设施 {far_fac} 个、老年人 {far_pop60:.0f} 人；"
        "区外设施 {outside} 个（服务区内居民，不计入乡镇数量）",
        "Walk network ({rules} rules): kept {kept:.1f} km, dropped {dropped:.1f} km"
        "{by_rule}; {parts} connected part(s) (main part {share:.1%} of nodes); farther than "
        "{snap:g} m from any road: {far_fac} facilities, {far_pop60:.0f} seniors; {outside} "
        "facilities outside the area serve residents inside (not counted for townships)",
    ),
    "cli_sensitivity": (
        "敏感性：{settings} 下，{total} 个乡镇×指标结论中 {fragile} 个不稳定",
        "Sensitivity over {settings}: {fragile} of {total} township x target statuses are fragile",
    ),
    "briefing_sensitivity": (
        "敏感性：在 {settings} 下重算，{total} 个乡镇中 {robust} 个达标结论不变，{fragile} 个会变"
        "（{listed}）；全区 {low}～{high}。",
        "Sensitivity over {settings}: the status of {robust} of {total} townships holds, "
        "{fragile} change ({listed}); district {low} to {high}.",
    ),
    "briefing_sensitivity_none": ("无", "none"),
    "cli_sensitivity_col_target": ("指标", "Target"),
    "cli_sensitivity_col_robust": ("稳健", "Robust"),
    "cli_sensitivity_col_fragile": ("不稳定", "Fragile"),
    "cli_sensitivity_col_townships": ("不稳定的乡镇（最低–最高）", "Fragile townships (low–high)"),
    "cli_counties": ("县（市、区）", "Counties"),
    "cli_county": ("县（市、区）", "County"),
    "cli_state": ("状态", "Status"),
    "cli_error": ("错误", "Error"),
    "cli_seconds": ("用时（秒）", "Time (s)"),
    "cli_done": ("已完成", "finished"),
    "cli_skipped": ("未变化，跳过", "unchanged, skipped"),
    "cli_failed": ("失败", "failed"),
    # gap report (gaps.csv, gaps.xlsx, the console's area table)
    "col_target_id": ("指标编号", "Target id"),
    "col_indicator": ("指标", "Indicator"),
    "col_document": ("依据文件", "Document"),
    "col_target_type": ("指标类型", "Type"),
    "col_level": ("层级", "Level"),
    "col_unit_code": ("单元代码", "Unit code"),
    "col_unit_name": ("单元名称", "Unit"),
    "col_parent_code": ("上级代码", "Parent code"),
    "col_kind": ("乡镇类型", "Kind"),
    "col_year": ("评估年份", "Year"),
    "col_value": ("现状值", "Value"),
    "col_target_value": ("目标值", "Target"),
    "col_unit": ("单位", "Unit of value"),
    "col_status": ("状态", "Status"),
    "col_shortfall": ("差距", "Shortfall"),
    "col_shortfall_unit": ("差距单位", "Shortfall unit"),
    "col_met_units": ("达标单元数", "Units met"),
    "col_total_units": ("单元总数", "Units"),
    "col_trajectory": ("年度目标路径", "Trajectory"),
    "col_note": ("说明", "Note"),
    "summary_sheet": ("汇总", "Summary"),
    "type_presence": ("逐单元配置", "Presence per unit"),
    "type_unit_coverage": ("单元覆盖率", "Share of units covered"),
    "type_count": ("设施数量", "Facility count"),
    "type_district_presence": ("全区配置", "Presence in the district"),
    "type_service_circle": ("服务圈覆盖", "Walking service circle"),
    "type_ratio": ("床位比例", "Bed ratio"),
    "type_colocation": ("共建率", "Co-location share"),
    "type_new_facilities": ("年度新增", "New facilities per year"),
    "type_floor_area": ("每百户面积", "Floor area per 100 households"),
    "type_staffing": ("人员配备", "Staffing"),
    "type_facility_share": ("设施达标率", "Share of facilities up to standard"),
    # rejected rows (rejected.csv; the English headers are the frame's own column names)
    "rej_layer": ("图层", "layer"),
    "rej_file": ("文件", "file"),
    "rej_sheet": ("工作表", "sheet"),
    "rej_row": ("行号", "row"),
    "rej_name": ("名称", "name"),
    "rej_reason": ("原因", "reason"),
    "rej_fix": ("建议", "fix"),
    # siting before/after (siting_before_after.csv)
    "target_id": ("目标编号", "Target id"),
    "value_before": ("新增前现状", "Current before"),
    "status_before": ("新增前状态", "Status before"),
    "value_after": ("新增后现状", "Current after"),
    "status_after": ("新增后状态", "Status after"),
    # proposed sites (table, csv and popups)
    "road": ("最近道路", "Nearest road"),
    "lon_wgs84": ("经度（WGS-84，天地图/OSM）", "Longitude (WGS-84: Tianditu, OSM)"),
    "lat_wgs84": ("纬度（WGS-84，天地图/OSM）", "Latitude (WGS-84: Tianditu, OSM)"),
    "lon_gcj02": ("经度（GCJ-02，高德/腾讯）", "Longitude (GCJ-02: Amap, Tencent)"),
    "lat_gcj02": ("纬度（GCJ-02，高德/腾讯）", "Latitude (GCJ-02: Amap, Tencent)"),
    "lon_bd09": ("经度（BD-09，百度）", "Longitude (BD-09: Baidu)"),
    "lat_bd09": ("纬度（BD-09，百度）", "Latitude (BD-09: Baidu)"),
}


def check_lang(lang: str) -> str:
    """Return ``lang`` if it is a supported language, else raise naming the choices."""
    if lang not in LANGS:
        raise InputError(f"unknown language {lang!r}: use one of {', '.join(LANGS)}")
    return lang


def has_label(key: str) -> bool:
    """Whether ``key`` is a known label."""
    return key in _LABELS


def progress_text(step: str, lang: str = "zh") -> str:
    """What the console shows for a progress step the library reports: ``key`` or
    ``key:detail`` (a category key, a rule set, a siting phase), in ``lang``.

    >>> progress_text("coverage:meal_point"), progress_text("siting:solving", "en")
    ('覆盖分析：meal_point', 'Siting: solving')
    """
    key, _, detail = step.partition(":")
    text = label(f"progress_{key}", lang) if has_label(f"progress_{key}") else key
    if not detail:
        return text
    if has_label(f"progress_detail_{detail}"):
        detail = label(f"progress_detail_{detail}", lang)
    return f"{text}：{detail}" if lang == "zh" else f"{text}: {detail}"


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
    subtypes = (
        (entry.get("subtypes") if isinstance(entry, dict) else getattr(entry, "subtypes", None))
        if entry is not None
        else None
    )
    sub = (subtypes or {}).get(subtype)
    if sub is None:
        return str(subtype)
    field = "name_en" if lang == "en" else "name_zh"
    value = sub.get(field) if isinstance(sub, dict) else getattr(sub, field, None)
    return str(value) if value else str(subtype)
