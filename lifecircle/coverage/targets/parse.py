"""Parsing and validation of ``[[targets]]`` entries (full targets and preset entries)."""

from __future__ import annotations

import difflib
import itertools
from collections.abc import Collection, Iterable, Mapping
from typing import Any

from lifecircle.coverage.targets.labels import KIND_ZH
from lifecircle.coverage.targets.model import (
    _AREA_TYPES,
    _COMMON_KEYS,
    _PRESET_KEYS,
    _REQUIRED,
    _TOWNSHIP_TYPES,
    _TYPE_KEYS,
    EVENTS,
    KINDS,
    NEW_MEASURES,
    POPULATIONS,
    RATIO_MEASURES,
    STAFF_POPULATIONS,
    TARGET_TYPES,
    Target,
    Trajectory,
    Value,
)
from lifecircle.errors import PlanError


def _suggest(key: str, allowed: Iterable[str]) -> str:
    close = difflib.get_close_matches(str(key), list(allowed), n=1)
    return f" — did you mean {close[0]!r}?" if close else ""


def _parse_value(raw: Any, key: str, where: str) -> Value:
    if isinstance(raw, Mapping):
        pairs = []
        for year, value in raw.items():
            try:
                year_int = int(year)
            except ValueError:
                raise PlanError(
                    f"{where}: {key} has key {year!r}, which is not a year — "
                    f"write {key} = {{2021 = 55, 2025 = 70}}"
                ) from None
            pairs.append((year_int, _number(value, f"{key}.{year}", where)))
        if not pairs:
            raise PlanError(f"{where}: {key} is an empty trajectory — give at least one year")
        return Trajectory(tuple(sorted(pairs)))
    return _number(raw, key, where)


def _number(raw: Any, key: str, where: str) -> float:
    if isinstance(raw, bool) or not isinstance(raw, int | float):
        raise PlanError(f"{where}: {key} must be a number, got {raw!r}")
    return float(raw)


def _values(value: Value) -> list[float]:
    return [v for _, v in value.values] if isinstance(value, Trajectory) else [value]


def _str_tuple(raw: Any, key: str, where: str) -> tuple[str, ...]:
    if isinstance(raw, str):
        return (raw,)
    if isinstance(raw, list | tuple) and all(isinstance(v, str) for v in raw):
        return tuple(raw)
    raise PlanError(f"{where}: {key} must be a name or a list of names, got {raw!r}")


def _parse_brackets(raw: Any, where: str) -> tuple[tuple[float, float, float], ...]:
    fix = "write brackets = [[0, 20000, 1], [20000, 50000, 2], [50000, inf, 3]]"
    if not isinstance(raw, list) or not raw:
        raise PlanError(f"{where}: brackets must be a list of [from, to, required] — {fix}")
    rows = []
    for item in raw:
        if not isinstance(item, list) or len(item) != 3:
            raise PlanError(f"{where}: bracket {item!r} is not [from, to, required] — {fix}")
        lo, hi, need = (_number(v, "brackets", where) for v in item)
        if not hi > lo:
            raise PlanError(f"{where}: bracket {item!r} has to ≤ from — {fix}")
        rows.append((lo, hi, need))
    rows.sort()
    for (_, hi, _), (lo, _, _) in itertools.pairwise(rows):
        if lo != hi:
            raise PlanError(
                f"{where}: brackets leave a gap or overlap at {hi:g}/{lo:g} — "
                f"each bracket must start where the previous one ends ({fix})"
            )
    return tuple(rows)


def _parse_one(
    raw: Mapping[str, Any], *, where: str, default_id: str, preset: str | None
) -> Target:
    if "type" not in raw:
        raise PlanError(
            f"{where}: missing key 'type' (one of {', '.join(TARGET_TYPES)}) — "
            'or write preset = "<name>" to include a preset'
        )
    kind_of_target = raw["type"]
    if kind_of_target not in TARGET_TYPES:
        raise PlanError(
            f"{where}: unknown target type {kind_of_target!r}"
            f"{_suggest(kind_of_target, TARGET_TYPES)} "
            f"(known: {', '.join(TARGET_TYPES)})"
        )
    allowed = (*_COMMON_KEYS, *_TYPE_KEYS[kind_of_target])
    for key in raw:
        if key not in allowed:
            other = [t for t in TARGET_TYPES if key in _TYPE_KEYS[t]]
            hint = f"; {key!r} belongs to type(s) {', '.join(other)}" if other else ""
            raise PlanError(
                f"{where}: unknown key {key!r} for a {kind_of_target} target"
                f"{_suggest(key, allowed)}{hint} (allowed: {', '.join(allowed)})"
            )
    for key in _REQUIRED[kind_of_target]:
        if key not in raw:
            raise PlanError(
                f"{where}: a {kind_of_target} target needs key {key!r} — see "
                "docs/targets.md for an example"
            )
    target_id = str(raw.get("id", default_id))
    where = f"{where} (id {target_id!r})"
    values: dict[str, Any] = {"id": target_id, "type": kind_of_target, "preset": preset}
    for key in (
        "indicator",
        "document",
        "note",
        "category",
        "service",
        "near_category",
        "staff_key",
        "measure",
        "unit_kind",
        "source_quote",
        "source_ref",
        "approximate",
        "event",
    ):
        if key in raw:
            if not isinstance(raw[key], str) or not raw[key]:
                raise PlanError(f"{where}: {key} must be a non-empty text, got {raw[key]!r}")
            values[key] = raw[key]
    level = raw.get("level", "district" if kind_of_target in _AREA_TYPES else "township")
    if not isinstance(level, str) or not level:
        raise PlanError(f"{where}: level must be a text such as 'township' or 'village'")
    if kind_of_target in _AREA_TYPES and level != "district":
        raise PlanError(
            f"{where}: a {kind_of_target} target counts the whole area, so its level "
            f"is 'district', not {level!r} — use type = \"presence\" for a count per "
            "unit"
        )
    if kind_of_target in _TOWNSHIP_TYPES and level != "township":
        raise PlanError(
            f"{where}: a {kind_of_target} target is evaluated per township "
            f"(level = 'township'), not {level!r}"
        )
    if kind_of_target not in _AREA_TYPES and level == "district":
        raise PlanError(
            f"{where}: level 'district' is for count, district_presence and "
            "new_facilities targets; a per-unit target uses 'township' or a unit level"
        )
    values["level"] = level
    if "kind" in raw:
        if raw["kind"] not in KINDS:
            raise PlanError(
                f"{where}: kind {raw['kind']!r} is not a township kind"
                f"{_suggest(raw['kind'], KINDS)} "
                "(use 'street' for 街道 or 'town' for 镇/乡)"
            )
        values["kind"] = raw["kind"]
    if "subtype" in raw:
        values["subtype"] = _str_tuple(raw["subtype"], "subtype", where)
    if "towns" in raw:
        values["towns"] = _str_tuple(raw["towns"], "towns", where)
    if "counties" in raw:
        values["counties"] = _str_tuple(raw["counties"], "counties", where)
        if not all(c.isdigit() and len(c) == 6 for c in values["counties"]):
            raise PlanError(
                f'{where}: counties must be 6-digit county codes such as "321202", '
                f"got {raw['counties']!r}"
            )
    if "opened_since" in raw:
        if isinstance(raw["opened_since"], bool) or not isinstance(raw["opened_since"], int):
            raise PlanError(
                f"{where}: opened_since must be a whole year such as 2021, got "
                f"{raw['opened_since']!r}"
            )
        values["opened_since"] = raw["opened_since"]
    for key in ("min_count", "target_pct", "min_value", "min_m2_per_100_households"):
        if key in raw:
            values[key] = _parse_value(raw[key], key, where)
    if "measure" in values:
        measures = tuple(NEW_MEASURES) if kind_of_target == "new_facilities" else RATIO_MEASURES
        if values["measure"] not in measures:
            raise PlanError(
                f"{where}: unknown measure {values['measure']!r} for a "
                f"{kind_of_target} target{_suggest(values['measure'], measures)} "
                f"(allowed: {', '.join(measures)})"
            )
    if values.get("measure") == "floor_area_m2":
        # a floor-area quota (m²) need not be whole
        if any(not v > 0 for v in _values(values["min_count"])):
            raise PlanError(
                f"{where}: min_count (m² of floor area) must be positive, got "
                f"{raw['min_count']!r} (a threshold of 0 is always met)"
            )
    elif "min_count" in values and any(v < 1 or v != int(v) for v in _values(values["min_count"])):
        raise PlanError(
            f"{where}: min_count must be a whole number ≥ 1, got {raw['min_count']!r} "
            "(a threshold of 0 is always met)"
        )
    if "target_pct" in values and any(not 1 <= v <= 100 for v in _values(values["target_pct"])):
        # below 1 is almost always a fraction written for a percentage
        raise PlanError(
            f"{where}: target_pct must be a percentage in [1, 100], got "
            f"{raw['target_pct']!r} (write 90 for 90 %, not 0.9; 0 is always met)"
        )
    for key in ("min_value", "min_m2_per_100_households"):
        if key in values and any(not v > 0 for v in _values(values[key])):
            raise PlanError(
                f"{where}: {key} must be positive, got {raw[key]!r} "
                "(a threshold of 0 is always met)"
            )
    if "threshold_min" in raw:
        values["threshold_min"] = _parse_threshold(raw["threshold_min"], where)
    for key in ("max_distance_m", "min_floor_area_m2", "min_grade", "per_1000"):
        if key in raw:
            values[key] = _number(raw[key], key, where)
            if not values[key] > 0:
                raise PlanError(f"{where}: {key} must be positive, got {raw[key]!r}")
    if kind_of_target == "service_circle" and ("threshold_min" in values) == (
        "max_distance_m" in values
    ):
        raise PlanError(
            f"{where}: a service_circle target needs exactly one of threshold_min "
            "(minutes' walk) or max_distance_m (metres along the network)"
        )
    if kind_of_target == "staffing" and ("brackets" in raw) == ("per_1000" in values):
        raise PlanError(
            f"{where}: a staffing target needs exactly one of brackets = [[from, to, "
            "required], …] or per_1000 = <staff per 1,000 of the population>"
        )
    if kind_of_target == "facility_share" and not any(
        k in raw for k in ("service", "min_floor_area_m2", "min_grade")
    ):
        raise PlanError(
            f"{where}: a facility_share target needs a condition: service, "
            "min_floor_area_m2 or min_grade"
        )
    if "event" in values and values["event"] not in EVENTS:
        raise PlanError(
            f"{where}: unknown event {values['event']!r}"
            f"{_suggest(values['event'], EVENTS)} (allowed: {', '.join(EVENTS)})"
        )
    populations = STAFF_POPULATIONS if kind_of_target == "staffing" else POPULATIONS
    if "population" in raw:
        if raw["population"] not in populations:
            raise PlanError(
                f"{where}: population must be one of {', '.join(populations)} "
                "(pop60 = seniors, pop = resident population, registered = 户籍人口), "
                f"got {raw['population']!r}{_suggest(raw['population'], populations)}"
            )
        values["population"] = raw["population"]
    elif kind_of_target == "staffing":
        values["population"] = "pop"
    if kind_of_target == "ratio":
        values.setdefault("category", "elder_care_centre")
    if "within_m" in raw:
        values["within_m"] = _number(raw["within_m"], "within_m", where)
        if not values["within_m"] > 0:
            raise PlanError(f"{where}: within_m must be positive metres, got {raw['within_m']!r}")
    if kind_of_target == "colocation":
        has_service = "service" in values
        has_near = "near_category" in values
        if has_service == has_near:
            raise PlanError(
                f"{where}: a colocation target needs exactly one of service = "
                '"<key>" (from the services column) or near_category = '
                '"<category>" with within_m'
            )
        if has_near and "within_m" not in values:
            raise PlanError(f"{where}: near_category needs within_m (metres), e.g. within_m = 100")
    if "brackets" in raw:
        values["brackets"] = _parse_brackets(raw["brackets"], where)
    if "year" in raw:
        if isinstance(raw["year"], bool) or not isinstance(raw["year"], int):
            raise PlanError(f"{where}: year must be a whole year such as 2025, got {raw['year']!r}")
        values["year"] = raw["year"]
    if "binding" in raw:
        values["binding"] = bool(raw["binding"])
    target = Target(**values)
    if target.year is not None:
        _check_year(target, target.year, where)
    return target


def _parse_threshold(raw: Any, where: str) -> float | dict[str, float]:
    if isinstance(raw, Mapping):
        out = {}
        for kind, value in raw.items():
            if kind not in KINDS:
                raise PlanError(
                    f"{where}: threshold_min.{kind} is not a township kind"
                    f"{_suggest(kind, KINDS)} (use street or town)"
                )
            out[kind] = _number(value, f"threshold_min.{kind}", where)
        values = list(out.values())
    else:
        out = _number(raw, "threshold_min", where)
        values = [out]
    if any(not v > 0 for v in values):
        raise PlanError(
            f"{where}: threshold_min must be positive minutes, got {raw!r} "
            "(a 0-minute circle covers nobody)"
        )
    return out


def _check_year(target: Target, year: int, where: str) -> None:
    for key in ("min_count", "target_pct", "min_value", "min_m2_per_100_households"):
        value = getattr(target, key)
        if isinstance(value, Trajectory) and year not in value.years:
            raise PlanError(
                f"{where}: evaluation year {year} is outside the trajectory of {key} "
                f"({value.describe()}) — set year = one of {value.years} on the target "
                "(or the preset entry), or change [study].year"
            )


def parse_targets(
    raw: list[Mapping[str, Any]], *, source: str = "plan", categories: Collection[str] | None = None
) -> list[Target]:
    """Parse the ``[[targets]]`` array of a plan file, expanding preset entries.

    Parameters
    ----------
    raw
        The TOML array: full target tables, or ``{preset = "name", year = 2025, only = [ids]}``.
    source
        The plan file's name, used in messages.
    categories
        Known category keys; when given, a user target naming another category fails.

    Raises
    ------
    PlanError
        Naming the entry, the key and the fix.
    """
    from lifecircle.coverage.presets import load_preset, preset_names

    if isinstance(raw, Mapping):
        raw = [raw]
    if not isinstance(raw, list):
        raise PlanError(f"{source}: targets must be an array of tables ([[targets]])")
    targets: list[Target] = []
    for i, item in enumerate(raw):
        where = f"{source}: [[targets]] #{i + 1}"
        if not isinstance(item, Mapping):
            raise PlanError(f"{where} must be a table, got {item!r}")
        if "preset" in item:
            for key in item:
                if key not in _PRESET_KEYS:
                    raise PlanError(
                        f"{where}: unknown key {key!r} in a preset entry"
                        f"{_suggest(key, _PRESET_KEYS)} (allowed: preset, year, only)"
                    )
            name = item["preset"]
            if name not in preset_names():
                raise PlanError(
                    f"{where}: unknown preset {name!r}{_suggest(name, preset_names())} "
                    f"(known: {', '.join(preset_names())})"
                )
            rows = load_preset(name)
            ids = [str(r["id"]) for r in rows]
            only = item.get("only")
            if only is not None:
                only = _str_tuple(only, "only", where)
                for wanted in only:
                    if wanted not in ids:
                        raise PlanError(
                            f"{where}: preset {name!r} has no row {wanted!r}"
                            f"{_suggest(wanted, ids)} (rows: {', '.join(ids)})"
                        )
                rows = [r for r in rows if str(r["id"]) in only]
            for j, row in enumerate(rows):
                row = dict(row)
                if "year" in item:
                    row["year"] = item["year"]
                row["id"] = f"{name}.{row['id']}"
                targets.append(
                    _parse_one(
                        row,
                        where=f"{where} preset {name!r} row {j + 1}",
                        default_id=f"{name}-{j + 1}",
                        preset=name,
                    )
                )
        else:
            targets.append(_parse_one(item, where=where, default_id=f"target-{i + 1}", preset=None))
    seen: set[str] = set()
    for target in targets:
        if target.id in seen:
            raise PlanError(
                f"{source}: target id {target.id!r} is used twice — give each "
                "[[targets]] entry its own id (or include a preset only once)"
            )
        seen.add(target.id)
    if categories is not None:
        validate_targets(targets, categories=categories, source=source)
    return targets


def validate_targets(
    targets: Iterable[Target],
    *,
    categories: Collection[str] | None = None,
    kinds: Collection[str] | None = None,
    levels: Collection[str] | None = None,
    year: int | None = None,
    towns: Collection[str] | None = None,
    source: str = "plan",
) -> list[str]:
    """Check targets against what the run knows; user targets fail, preset rows are noted.

    Parameters
    ----------
    categories
        Known category keys (the registry). A user target naming another one fails.
    kinds
        Township kinds present (``street``/``town``). A user target asking for another fails.
    levels
        Unit levels present besides ``township``/``district``.
    year
        The plan's evaluation year (trajectories must contain it).
    towns
        Township names (for ``towns = [...]``).

    Returns
    -------
    list of str
        Notes on preset rows that will evaluate to not-applicable.
    """
    notes = []
    for target in targets:
        where = f"{source}: target {target.id!r}"
        problems = []
        if categories is not None:
            for cat in target.categories:
                if cat not in categories:
                    problems.append(
                        f"unknown category {cat!r}{_suggest(cat, categories)} "
                        f"(known: {', '.join(sorted(categories))}; add new ones under "
                        "[categories.<key>])"
                    )
        if kinds is not None and target.kind and target.kind not in kinds:
            problems.append(
                f"kind {target.kind!r} ({KIND_ZH[target.kind]}) — no township has this "
                f"kind (present: {', '.join(sorted(kinds)) or 'none'}); remove kind or "
                "check the townships' kind column"
            )
        if levels is not None and target.level not in ("township", "district", *levels):
            problems.append(
                f"level {target.level!r} — no unit layer at this level"
                f"{_suggest(target.level, levels)} (add [[inputs.units]] with "
                f"level = {target.level!r}; present: {', '.join(levels) or 'none'})"
            )
        if towns is not None:
            for town in target.towns:
                if town not in towns:
                    problems.append(f"town {town!r} is not a township name{_suggest(town, towns)}")
        if year is not None and target.year is None:
            if target.preset is None:
                _check_year(target, year, where)
            else:
                try:
                    _check_year(target, year, where)
                except PlanError as exc:
                    raise PlanError(
                        f"{exc} [preset {target.preset!r}: write "
                        f"{{preset = {target.preset!r}, year = …}}]"
                    ) from None
        if problems:
            if target.preset is None:
                raise PlanError(f"{where}: " + "; ".join(problems))
            notes.append(f"{where}: " + "; ".join(problems))
    return notes
