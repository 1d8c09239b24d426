"""Which OSM ways are walkable: named rule sets, highway lists and per-way overrides, as data.

A rule set decides for each way's tags whether pedestrians may use it and, when not, *which rule*
dropped it, so the network audit can report kilometres dropped per rule
(see docs/walk-model.md for the table of highway values and tags):

``"china"`` (default)
    osmnx's walk filter read value by value (not as a regular expression), with these
    changes for Chinese cities:

    * cycleways are kept unless ``foot=no``: most 非机动车道 are shared with pedestrians;
    * ``access=no`` drops a way unless ``foot`` allows walking; ``motorroad=yes`` (汽车专用道)
      drops any way unless ``foot`` allows walking;
    * ``trunk``/``trunk_link`` are kept (urban 主干道 with pavements) unless the way shows the
      signs of an urban expressway (快速路) and says nothing of pavements or foot access:
      a bridge or tunnel, a dual carriageway (``oneway=yes``), a posted ``maxspeed`` above
      60 km/h (CJJ 37-2012: 快速路 60–100 km/h, 主干路 40–60 km/h) or an expressway name
      (快速路, 高架, 内环/中环/外环, 绕城, 隧道).

``"osmnx"``
    Exactly osmnx 2.x's ``network_type="walk"`` Overpass filter
    (``osmnx._overpass._get_network_filter``): each clause ``[key!~"regex"]`` drops a way whose
    value *contains* a match of the regex, case-sensitively, as Overpass evaluates it.

Then, in this order of precedence: an override file (``way_id, action, note``; ``action``
``include`` or ``exclude``) decides single ways; ``exclude_highways`` drops whole highway classes;
``include_highways`` keeps whole classes the rule set dropped, except ways that forbid walking
(``foot=no``, ``access=no``/``private`` without foot access).

Examples
--------
>>> rules = WalkRules()
>>> rules.decide(1, {"highway": "trunk", "name": "中山路"})
''
>>> rules.decide(2, {"highway": "trunk", "name": "内环西线", "oneway": "yes"})
'expressway_oneway'
>>> WalkRules(rule_set="osmnx").decide(3, {"highway": "cycleway"})
'highway_class'
"""

from __future__ import annotations

import csv
import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from lifecircle.errors import NetworkError
from lifecircle.text import detect_encoding

RULE_SETS = ("china", "osmnx")

# osmnx 2.x, osmnx/_overpass.py::_get_network_filter("walk") with settings.default_access
# '["access"!~"private"]': every clause as (key, regex the value must NOT contain, rule code).
# A way without the key passes its clause; a way without a highway tag fails.
OSMNX_WALK_CLAUSES: tuple[tuple[str, str, str], ...] = (
    ("area", "yes", "area"),
    ("access", "private", "access_private"),
    (
        "highway",
        "abandoned|bus_guideway|construction|cycleway|motor|no|planned|platform|proposed"
        "|raceway|razed|rest_area|services",
        "highway_class",
    ),
    ("foot", "no", "foot_no"),
    ("service", "private", "service_private"),
    ("sidewalk", "separate", "sidewalk_separate"),
    ("sidewalk:both", "separate", "sidewalk_separate"),
    ("sidewalk:left", "separate", "sidewalk_separate"),
    ("sidewalk:right", "separate", "sidewalk_separate"),
)
_OSMNX_COMPILED = tuple((key, re.compile(regex), rule) for key, regex, rule in OSMNX_WALK_CLAUSES)

# "china": highway values never walkable (osmnx's list read as values; cycleway kept).
CHINA_EXCLUDED_HIGHWAY = frozenset(
    {
        "abandoned",
        "bus_guideway",
        "construction",
        "motorway",
        "motorway_link",
        "no",
        "planned",
        "platform",
        "proposed",
        "raceway",
        "razed",
        "rest_area",
        "services",
    }
)
TRUNK = frozenset({"trunk", "trunk_link"})
FOOT_ALLOWED = frozenset({"yes", "designated", "permissive", "official"})
SIDEWALK_PRESENT = frozenset({"yes", "both", "left", "right"})
NO_ACCESS = frozenset({"private", "no"})
SIDEWALK_KEYS = ("sidewalk", "sidewalk:both", "sidewalk:left", "sidewalk:right")
# Urban expressways (快速路) are designed for 60–100 km/h, main roads (主干路) for 40–60 km/h
# (CJJ 37-2012 城市道路工程设计规范, 3.2.2): a posted limit above 60 means an expressway.
EXPRESSWAY_MIN_MAXSPEED_KPH = 60.0
EXPRESSWAY_NAME = re.compile(r"快速|高架|内环|中环|外环|绕城|隧道")

# The tags any rule reads: loaders keep these (and only these) to decide.
RULE_TAGS = (
    "highway",
    "area",
    "access",
    "foot",
    "service",
    "motorroad",
    "bridge",
    "tunnel",
    "oneway",
    "maxspeed",
    "name",
    *SIDEWALK_KEYS,
)

# Rule codes and what they mean, for outputs (run.json, results.gpkg, docs/walk-model.md).
RULES_ZH = {
    "no_highway": "没有 highway 标签",
    "highway_class": "道路等级不可步行（如高速公路 motorway、施工中 construction）",
    "area": "面状道路（area=yes）",
    "access_private": "禁止通行（access=private/no）",
    "foot_no": "禁止行人（foot=no）",
    "service_private": "专用道路（service=private）",
    "sidewalk_separate": "人行道另行绘制（sidewalk=separate）",
    "motorroad": "汽车专用道（motorroad=yes）",
    "expressway_bridge_tunnel": "快速路：无人行道的桥梁或隧道",
    "expressway_oneway": "快速路：无人行道的分向行驶道路（oneway=yes）",
    "expressway_speed": "快速路：限速高于 60 km/h",
    "expressway_name": "快速路：名称含快速/高架/环线/绕城/隧道",
    "exclude_highways": "规划文件 exclude_highways 排除的道路等级",
    "override_exclude": "路段覆盖文件排除",
}
RULES_EN = {
    "no_highway": "no highway tag",
    "highway_class": "highway class not walkable (motorway, construction, ...)",
    "area": "area (area=yes)",
    "access_private": "no access (access=private/no)",
    "foot_no": "pedestrians barred (foot=no)",
    "service_private": "private service road",
    "sidewalk_separate": "sidewalks mapped as separate ways",
    "motorroad": "motor road (motorroad=yes)",
    "expressway_bridge_tunnel": "expressway: bridge or tunnel without a pavement",
    "expressway_oneway": "expressway: dual carriageway (oneway=yes) without a pavement",
    "expressway_speed": "expressway: speed limit above 60 km/h",
    "expressway_name": "expressway: name says 快速/高架/ring road/tunnel",
    "exclude_highways": "highway class excluded by the plan (exclude_highways)",
    "override_exclude": "excluded by the override file",
}
OVERRIDE_ACTIONS = {
    "include": "include",
    "exclude": "exclude",
    "纳入": "include",
    "保留": "include",
    "排除": "exclude",
    "删除": "exclude",
}


def tag_text(tags: Mapping[str, Any], key: str) -> str:
    """A tag's value as stripped lower-case text ('' when absent or nan; lists joined by ';')."""
    value = tags.get(key)
    if value is None or (isinstance(value, float) and np.isnan(value)):
        return ""
    if isinstance(value, list):  # merged edges of a simplified graph
        return ";".join(str(v) for v in value).strip().lower()
    return str(value).strip().lower()


def _raw(tags: Mapping[str, Any], key: str) -> str | None:
    """A tag's value exactly as stored (None when absent), for the regex rules of osmnx."""
    value = tags.get(key)
    if value is None or (isinstance(value, float) and np.isnan(value)):
        return None
    if isinstance(value, list):
        return ";".join(str(v) for v in value)
    return str(value)


def osmnx_walk_rule(tags: Mapping[str, Any]) -> str:
    """The rule code by which osmnx's walk filter drops a way, or ``''`` when it keeps it.

    >>> osmnx_walk_rule({"highway": "footway"}), osmnx_walk_rule({"highway": "motorway_link"})
    ('', 'highway_class')
    """
    if _raw(tags, "highway") is None:
        return "no_highway"
    for key, regex, rule in _OSMNX_COMPILED:
        value = _raw(tags, key)
        if value is not None and regex.search(value):
            return rule
    return ""


def _maxspeed_kph(text: str) -> float:
    match = re.match(r"\s*(\d+(?:\.\d+)?)\s*(mph)?", text)
    if not match:
        return float("nan")
    value = float(match.group(1))
    return value * 1.609344 if match.group(2) else value


def _is_flagged(text: str) -> bool:
    return text not in ("", "no", "false", "0")


def china_walk_rule(tags: Mapping[str, Any]) -> str:
    """The rule code by which the ``"china"`` rules drop a way, or ``''`` when they keep it.

    >>> china_walk_rule({"highway": "cycleway"}), china_walk_rule({"highway": "trunk"})
    ('', '')
    >>> china_walk_rule({"highway": "trunk", "bridge": "yes"})
    'expressway_bridge_tunnel'
    """
    highway = tag_text(tags, "highway")
    if not highway:
        return "no_highway"
    if highway in CHINA_EXCLUDED_HIGHWAY:
        return "highway_class"
    if tag_text(tags, "area") == "yes":
        return "area"
    foot = tag_text(tags, "foot")
    if foot == "no":
        return "foot_no"
    if tag_text(tags, "service") == "private":
        return "service_private"
    if any(tag_text(tags, key) == "separate" for key in SIDEWALK_KEYS):
        return "sidewalk_separate"
    foot_ok = foot in FOOT_ALLOWED
    if tag_text(tags, "access") in NO_ACCESS and not foot_ok:
        return "access_private"
    if tag_text(tags, "motorroad") == "yes" and not foot_ok:
        return "motorroad"
    if highway in TRUNK and not foot_ok:
        if any(tag_text(tags, key) in SIDEWALK_PRESENT for key in SIDEWALK_KEYS):
            return ""
        if _is_flagged(tag_text(tags, "bridge")) or _is_flagged(tag_text(tags, "tunnel")):
            return "expressway_bridge_tunnel"
        if tag_text(tags, "oneway") in ("yes", "1", "true", "-1"):
            return "expressway_oneway"
        if _maxspeed_kph(tag_text(tags, "maxspeed")) > EXPRESSWAY_MIN_MAXSPEED_KPH:
            return "expressway_speed"
        if EXPRESSWAY_NAME.search(tag_text(tags, "name")):
            return "expressway_name"
    return ""


def _walking_banned(tags: Mapping[str, Any]) -> str:
    """``foot_no`` or ``access_private`` where the tags forbid walking outright, else ``''``."""
    foot = tag_text(tags, "foot")
    if foot == "no":
        return "foot_no"
    if tag_text(tags, "access") in NO_ACCESS and foot not in FOOT_ALLOWED:
        return "access_private"
    return ""


@dataclass(frozen=True)
class WalkRules:
    """A rule set plus the plan's highway lists and per-way overrides.

    Attributes
    ----------
    rule_set
        ``"china"`` or ``"osmnx"``.
    include_highways, exclude_highways
        Highway values kept (unless the way forbids walking) or dropped whatever the rule set says.
    overrides
        OSM way id -> ``"include"`` or ``"exclude"`` (from :func:`read_overrides`).
    """

    rule_set: str = "china"
    include_highways: tuple[str, ...] = ()
    exclude_highways: tuple[str, ...] = ()
    overrides: Mapping[int, str] = field(default_factory=dict)

    def __post_init__(self) -> None:
        if self.rule_set not in RULE_SETS:
            raise NetworkError(
                "[inputs.network].walk_rules must be one of "
                f"{', '.join(RULE_SETS)}, got {self.rule_set!r}"
            )

    def decide(self, way_id: int | None, tags: Mapping[str, Any]) -> str:
        """``''`` when the way is walkable, else the code of the rule that drops it."""
        action = self.overrides.get(way_id) if way_id is not None else None
        if action == "include":
            return ""
        if action == "exclude":
            return "override_exclude"
        highway = tag_text(tags, "highway")
        if highway and highway in self.exclude_highways:
            return "exclude_highways"
        if highway and highway in self.include_highways:
            return _walking_banned(tags)
        return (osmnx_walk_rule if self.rule_set == "osmnx" else china_walk_rule)(tags)

    def decide_all(
        self, way_ids: Iterable[int | None], tag_records: Iterable[Mapping[str, Any]]
    ) -> np.ndarray:
        """:meth:`decide` for many ways: an object array of rule codes (``''`` = kept)."""
        return np.array(
            [self.decide(w, t) for w, t in zip(way_ids, tag_records, strict=True)], dtype=object
        )


def read_overrides(path: Path | str) -> dict[int, str]:
    """Read an override file: CSV with columns ``way_id, action, note`` (UTF-8 or GBK).

    ``action`` is ``include`` (纳入/保留) or ``exclude`` (排除/删除); ``note`` is free text.

    Raises
    ------
    NetworkError
        Naming the file, the row and the fix, for every bad row at once.
    """
    path = Path(path)
    if not path.is_file():
        raise NetworkError(
            f"[inputs.network].overrides names {path}, which does not exist — "
            "give a CSV with columns way_id, action, note"
        )
    raw = path.read_bytes()
    text = raw.decode(detect_encoding(raw))
    rows = list(csv.reader(text.splitlines()))
    header = [h.strip().lower().lstrip("\ufeff") for h in rows[0]] if rows else []
    if "way_id" not in header or "action" not in header:
        raise NetworkError(
            f"{path.name}: the first row must name the columns way_id, action, note "
            f"(found {', '.join(header) or 'nothing'})"
        )
    id_col, action_col = header.index("way_id"), header.index("action")
    overrides: dict[int, str] = {}
    problems = []
    for number, row in enumerate(rows[1:], start=2):
        if not any(cell.strip() for cell in row):
            continue
        cells = row + [""] * (len(header) - len(row))
        way_text, action_text = cells[id_col].strip(), cells[action_col].strip().lower()
        if not re.fullmatch(r"w?\d+", way_text):
            problems.append(f"row {number}: way_id {way_text!r} is not an OSM way id (digits)")
            continue
        action = OVERRIDE_ACTIONS.get(action_text)
        if action is None:
            problems.append(f"row {number}: action {action_text!r} must be include or exclude")
            continue
        overrides[int(way_text.lstrip("w"))] = action
    if problems:
        raise NetworkError(
            f"{path.name}: "
            + "; ".join(problems)
            + " — fix these rows (columns way_id, action, note)"
        )
    return overrides
