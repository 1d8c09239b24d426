"""Tests for lifecircle.geo.walk_rules: the "osmnx" rules against osmnx's own filter, the "china"
rules, highway lists and the override file."""

from __future__ import annotations

import bz2
import re
from pathlib import Path
from xml.etree.ElementTree import iterparse

import pytest
from osmnx import _overpass, settings

from lifecircle.data import SAMPLE_PLAN
from lifecircle.errors import NetworkError
from lifecircle.geo.osm import NetworkSpec, load_walk_graph_and_ways
from lifecircle.geo.walk_rules import WalkRules, read_overrides

OSM_DIR = Path(__file__).parent / "fixtures" / "osm"
EXTRACTS = [*sorted(OSM_DIR.glob("*.osm")), Path(SAMPLE_PLAN).parent / "network.osm.bz2"]


def _overpass_clauses() -> list[tuple[str, str | None, str | None]]:
    """osmnx's walk filter string, split into (key, operator, regex) clauses."""
    text = _overpass._get_network_filter("walk")
    assert settings.default_access in text
    clauses = re.findall(r'\["([^"]+)"(?:(!?~)"([^"]*)")?\]', text)
    assert "".join(f'["{k}"' + (f'{op}"{rx}"' if op else "") + "]" for k, op, rx in clauses) == text
    return [(k, op or None, rx if op else None) for k, op, rx in clauses]


def _overpass_keeps(tags: dict[str, str], clauses) -> bool:
    """Evaluate Overpass tag clauses as Overpass does (unanchored, case-sensitive regex)."""
    for key, op, regex in clauses:
        value = tags.get(key)
        if op is None:
            if value is None:
                return False
        elif op == "!~":
            if value is not None and re.search(regex, value):
                return False
        elif value is None or not re.search(regex, value):
            return False
    return True


def _ways(path: Path) -> dict[int, dict[str, str]]:
    opener = bz2.open if path.suffix == ".bz2" else open
    ways = {}
    with opener(path, "rb") as stream:
        for _, elem in iterparse(stream):
            if elem.tag == "way":
                ways[int(elem.get("id"))] = {t.get("k"): t.get("v") for t in elem.iter("tag")}
                elem.clear()
    return ways


@pytest.mark.parametrize("path", EXTRACTS, ids=lambda p: p.name)
def test_osmnx_rules_keep_exactly_what_osmnx_walk_filter_keeps(path):
    clauses = _overpass_clauses()
    expected = {w for w, tags in _ways(path).items() if _overpass_keeps(tags, clauses)}
    G, ways = load_walk_graph_and_ways(NetworkSpec(path=path, walk_rules="osmnx"))
    kept = set(ways.loc[ways["kept"], "way_id"].astype(int))
    assert kept == expected
    # and every edge of the graph comes from such a way
    osmids = set()
    for _, _, d in G.edges(data=True):
        osmids.update(d["osmid"] if isinstance(d["osmid"], list) else [d["osmid"]])
    assert osmids <= expected
    assert len(osmids) > 0.9 * len(expected)  # ways of one node or outside the extract aside


def test_osmnx_rules_are_regex_rules():
    rules = WalkRules(rule_set="osmnx")
    # Overpass regexes match anywhere in the value, case-sensitively
    assert rules.decide(1, {"highway": "footway", "foot": "no;yes"}) == "foot_no"
    assert rules.decide(1, {"highway": "motorway_junction"}) == "highway_class"
    assert rules.decide(1, {"highway": "footway", "access": "Private"}) == ""
    assert rules.decide(1, {"building": "yes"}) == "no_highway"


def test_china_rules_on_nanjing_drop_the_expressways_only():
    _, ways = load_walk_graph_and_ways(NetworkSpec(path=OSM_DIR / "nanjing_xuanwu.osm"))
    trunk = ways[ways["highway"].isin(["trunk", "trunk_link"])]
    dropped = trunk[~trunk["kept"]]
    # 内环西线 (the elevated inner ring) and 水西门隧道 (a tunnel) are expressways
    assert set(dropped["name"]) >= {"内环西线", "水西门隧道"}
    assert dropped["rule"].str.startswith("expressway").all()
    assert ways.loc[ways["highway"] == "primary", "kept"].all()


def test_highway_lists_and_overrides(tmp_path):
    csv = tmp_path / "overrides.csv"
    csv.write_text(
        "way_id,action,note\n101,exclude,gated 小区 path\n108,纳入,footbridge\n", encoding="utf-8"
    )
    assert read_overrides(csv) == {101: "exclude", 108: "include"}
    path = Path(__file__).parent / "fixtures" / "network" / "tiny_walk.osm"
    _, ways = load_walk_graph_and_ways(
        NetworkSpec(path=path, overrides=csv, exclude_highways=["footway"])
    )
    rule = dict(zip(ways["way_id"].astype(int), ways["rule"], strict=True))
    assert rule[101] == "override_exclude"
    assert rule[108] == ""  # an expressway carriageway, included by the override
    assert rule[102] == "exclude_highways"
    assert rule[103] == "highway_class"  # the motorway stays out
    rules = WalkRules(include_highways=("motorway",))
    assert rules.decide(5, {"highway": "motorway"}) == ""
    assert rules.decide(5, {"highway": "motorway", "foot": "no"}) == "foot_no"


def test_bad_override_rows_are_named(tmp_path):
    csv = tmp_path / "o.csv"
    csv.write_text("way_id,action,note\nabc,include,\n12,maybe,\n", encoding="utf-8")
    with pytest.raises(NetworkError, match=r"row 2: way_id 'abc'.*row 3: action 'maybe'"):
        read_overrides(csv)
    with pytest.raises(NetworkError, match="walk_rules must be one of china, osmnx"):
        NetworkSpec(path=csv, walk_rules="osm")
