"""The plan file: one TOML document describing a study, its inputs, walk model and targets.

A plan is loaded once, validated up front (every problem names the key and the fix), and its
relative paths are resolved against the plan file's folder. See ``docs/plan-file.md``.

Examples
--------
>>> from lifecircle.plan import load_plan, SAMPLE_PLAN
>>> plan = load_plan(SAMPLE_PLAN)
>>> plan.study.name
'示范区'
"""

from __future__ import annotations

import dataclasses
import difflib
import functools
import logging
import math
import re
import tomllib
import types
import typing
from dataclasses import dataclass, field
from pathlib import Path
from typing import Annotated, Any, Literal, TypeVar, Union

import pydantic

from lifecircle.coverage.targets import Target, parse_targets, validate_targets
from lifecircle.coverage.walk import KindWalk, WalkModel
from lifecircle.data import SAMPLE_PLAN as SAMPLE_PLAN
from lifecircle.errors import PlanError
from lifecircle.geo.osm import NetworkSpec
from lifecircle.geo.population import PopulationSpec
from lifecircle.layers.facilities import LayerSpec
from lifecircle.layers.townships import TownshipSpec
from lifecircle.layers.units import UnitSpec

# Keys whose string values are file or folder paths, resolved against the plan's folder.
_PATH_KEYS = frozenset(
    {"path", "raster", "table", "polygon", "cache_dir", "candidates", "exclusions", "overrides"}
)
_LANGS = ("zh", "en")
_BASEMAPS = ("osm", "tianditu", "amap", "none")
_TOP_KEYS = (
    "study",
    "inputs",
    "layers",
    "categories",
    "walk",
    "targets",
    "siting",
    "maps",
    "sensitivity",
)

Spec = TypeVar("Spec")

log = logging.getLogger(__name__)

_POSITIVE = Annotated[float, pydantic.Field(gt=0)]
_COUNTY_CODE = r"^(\d{6})?$"
_PATTERN_WORDS = {_COUNTY_CODE: "must be 6 digits (the county code)"}
_MINUTES = Annotated[tuple[_POSITIVE, ...], pydantic.Field(min_length=1)]
# Ranges and choices on top of the types the spec dataclasses declare: (spec, key) -> type.
# Every other key is checked against its dataclass annotation, so a field added to a spec is
# type-checked without a line here.
_RULES: dict[tuple[str, str], Any] = {
    ("StudySpec", "name"): Annotated[str, pydantic.Field(min_length=1)],
    ("StudySpec", "county_code"): Annotated[str, pydantic.Field(pattern=_COUNTY_CODE)],
    ("StudySpec", "year"): Annotated[int, pydantic.Field(ge=1949, le=2100)],
    ("StudySpec", "lang"): Literal[_LANGS],
    ("WalkModel", "speed_mps"): _POSITIVE,
    ("WalkModel", "thresholds_min"): _MINUTES,
    ("WalkModel", "max_snap_m"): Annotated[float, pydantic.Field(ge=0)],
    ("KindWalk", "speed_mps"): _POSITIVE,
    ("KindWalk", "thresholds_min"): _MINUTES,
    ("PopulationSpec", "total_band"): Annotated[int, pydantic.Field(ge=1)],
    ("PopulationSpec", "seniors_band"): Annotated[int, pydantic.Field(ge=1)] | None,
    ("PopulationSpec", "default_senior_share"): Annotated[float, pydantic.Field(ge=0, le=1)] | None,
    ("SitingSpec", "p"): Annotated[int, pydantic.Field(ge=1)] | None,
    ("SitingSpec", "threshold_min"): _POSITIVE | dict[Literal["street", "town"], _POSITIVE],
    ("SitingSpec", "target_share"): Annotated[float, pydantic.Field(gt=0, le=1)] | None,
    ("SitingSpec", "population"): Literal["pop60", "pop"],
    ("SitingSpec", "min_spacing_m"): Annotated[float, pydantic.Field(ge=0)],
    ("MapSpec", "basemap"): Literal[_BASEMAPS],
    ("MapSpec", "service_areas"): Literal["targets", "all"],
}
# Keys where a single number stands for a list of one: thresholds_min = 15 is [15].
_ONE_OR_MORE = frozenset({"thresholds_min"})
# Plausible ranges: outside them the plan loads with a warning.
_PLAUSIBLE_SPEED_MPS = (0.3, 2.5)
_PLAUSIBLE_MINUTES = 60.0


@dataclass(frozen=True)
class StudySpec:
    """The study: its name (used for the output folder), county code, evaluation year, language."""

    name: str
    name_en: str = ""
    county_code: str = ""
    year: int = 2025
    lang: str = "zh"


@dataclass(frozen=True)
class SitingSpec:
    """The ``[siting]`` section: which category to site and how (see coverage/siting.py)."""

    category: str
    p: int | None = None
    threshold_min: float | dict[str, float] = 15.0
    target_share: float | None = None
    population: str = "pop60"
    min_spacing_m: float = 200.0
    force_presence: str | list[str] | None = None
    candidates: Path | None = None
    exclusions: Path | None = None


@dataclass(frozen=True)
class MapSpec:
    """The ``[maps]`` section: basemap and offline settings, and which service areas to build
    (``"targets"``: each category at the walks its targets judge, as the maps draw them;
    ``"all"``: every category at every threshold, for results.gpkg)."""

    basemap: str = "osm"
    offline: bool = False
    tiles_url: str | None = None
    tianditu_key: str | None = None
    service_areas: str = "targets"


@dataclass(frozen=True)
class SensitivitySpec:
    """The ``[sensitivity]`` section: the alternative walk models service circles are re-evaluated
    under (every rule set x every speed; see coverage/sensitivity.py)."""

    speeds_mps: tuple[float, ...] = (0.8, 1.0, 1.2)
    walk_rules: tuple[str, ...] = ("china", "osmnx")

    def __post_init__(self) -> None:
        from lifecircle.geo.walk_rules import RULE_SETS

        speeds = tuple(self.speeds_mps)
        if not speeds or not all(isinstance(v, int | float) and v > 0 for v in speeds):
            raise PlanError(
                f"[sensitivity].speeds_mps must be a list of positive speeds in m/s, "
                f"e.g. [0.8, 1.0, 1.2]; got {list(speeds)}"
            )
        rules = tuple(self.walk_rules)
        bad = [r for r in rules if r not in RULE_SETS]
        if not rules or bad:
            raise PlanError(
                f"[sensitivity].walk_rules must list rule sets among "
                f"{', '.join(RULE_SETS)}; got {list(rules)}"
            )
        object.__setattr__(self, "speeds_mps", tuple(float(v) for v in speeds))
        object.__setattr__(self, "walk_rules", rules)


@dataclass(frozen=True)
class Plan:
    """A validated plan with resolved paths."""

    path: Path
    study: StudySpec
    townships: TownshipSpec
    network: NetworkSpec
    population: PopulationSpec | None
    layers: tuple[LayerSpec, ...]
    walk: WalkModel
    targets: tuple[Target, ...]
    units: tuple[UnitSpec, ...] = ()
    categories: dict[str, dict[str, Any]] = field(default_factory=dict)
    siting: tuple[SitingSpec, ...] = ()
    maps: MapSpec = MapSpec()
    sensitivity: SensitivitySpec | None = None

    @property
    def folder(self) -> Path:
        """The folder the plan's relative paths are resolved against."""
        return self.path.parent

    def input_paths(self) -> list[Path]:
        """Every input file the plan names (for hashing in run.json)."""
        specs: list[Any] = [
            self.townships,
            self.network,
            self.population,
            *self.units,
            *self.layers,
        ]
        paths = []
        for spec in specs:
            if spec is None:
                continue
            for f in dataclasses.fields(spec):
                value = getattr(spec, f.name)
                if f.name in _PATH_KEYS and isinstance(value, Path) and value.is_file():
                    paths.append(value)
        return paths


def _suggest(key: str, allowed: list[str] | tuple[str, ...]) -> str:
    close = difflib.get_close_matches(key, allowed, n=1)
    return f" — did you mean {close[0]!r}?" if close else ""


def _check_keys(
    table: dict[str, Any], allowed: list[str] | tuple[str, ...], where: str, source: Path
) -> None:
    for key in table:
        if key not in allowed:
            raise PlanError(
                f"{source.name}: unknown key {key!r} in {where}{_suggest(key, allowed)} "
                f"(allowed: {', '.join(allowed)})"
            )


def _hints(cls: type) -> dict[str, Any]:
    """The annotations of a spec dataclass, with this module's ranges and choices applied."""
    hints = typing.get_type_hints(cls, include_extras=True)
    return {
        f.name: _RULES.get((cls.__name__, f.name), hints[f.name]) for f in dataclasses.fields(cls)
    }


@functools.cache
def _schema(cls: type) -> type[pydantic.BaseModel]:
    """A strict pydantic model of a spec dataclass: text is never read as a number or back."""
    fields: dict[str, Any] = {}
    for f in dataclasses.fields(cls):
        if f.default is not dataclasses.MISSING:
            default: Any = f.default
        elif f.default_factory is not dataclasses.MISSING:
            default = pydantic.Field(default_factory=f.default_factory)
        else:
            default = ...
        fields[f.name] = (_hints(cls)[f.name], default)
    config = pydantic.ConfigDict(strict=True, arbitrary_types_allowed=True, extra="forbid")
    return pydantic.create_model(f"{cls.__name__}Schema", __config__=config, **fields)


def _members(hint: Any) -> list[Any]:
    """The alternatives of a union (``Optional`` included), else ``[hint]``."""
    if typing.get_origin(hint) is Annotated:
        return _members(typing.get_args(hint)[0])
    if typing.get_origin(hint) in (Union, types.UnionType):
        return [m for arg in typing.get_args(hint) for m in _members(arg)]
    return [hint]


def _takes_list(hint: Any) -> bool:
    return any(typing.get_origin(m) in (tuple, list) for m in _members(hint))


def _describe(hint: Any) -> str:
    """What a plan author must write for a key of type ``hint``, in words."""
    words = []
    for member in _members(hint):
        origin = typing.get_origin(member)
        if member is type(None):
            continue
        if origin is Literal:
            words.append("one of " + ", ".join(f'"{c}"' for c in typing.get_args(member)))
        elif origin in (tuple, list):
            args = [a for a in typing.get_args(member) if a is not Ellipsis]
            inner = _describe(args[0]) if args else "values"
            words.append(f"a list of {inner.removeprefix('a ').removeprefix('an ')}s in [ ]")
        elif origin is dict:
            words.append("a table such as { key = value }")
        elif member is bool:
            words.append("true or false")
        elif member is int:
            words.append("a whole number")
        elif member is float:
            words.append("a number")
        elif member is str:
            words.append("text in quotes")
        elif member is Path:
            words.append("a file path in quotes")
        else:
            words.append(getattr(member, "__name__", str(member)))
    return " or ".join(dict.fromkeys(words))


def _toml(value: Any) -> str:
    """A value as it reads in the plan file."""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, str):
        return f'"{value}"'
    if isinstance(value, list | tuple):
        return "[" + ", ".join(_toml(v) for v in value) + "]"
    if isinstance(value, dict):
        return "{ " + ", ".join(f"{k} = {_toml(v)}" for k, v in value.items()) + " }"
    return str(value)


def _as_number(text: str) -> float | None:
    try:
        number = float(text.strip())
    except ValueError:
        return None
    return number if math.isfinite(number) else None


def _fix(key: str, value: Any, hint: Any) -> str:
    """How to write ``key`` right, from the value given and the type expected."""
    kinds = {typing.get_origin(m) or m for m in _members(hint)}
    if isinstance(value, str | list) and kinds & {tuple, list}:
        if isinstance(value, str):
            parts = [p for p in value.replace("，", ",").split(",") if p.strip()]
        else:
            parts = [str(p) for p in value if not isinstance(p, bool)]
        numbers = [_as_number(p) for p in parts]
        if parts and None not in numbers:
            items = ", ".join(f"{n:g}" for n in numbers)
            return f"write a list of numbers without quotes: {key} = [{items}]"
    if isinstance(value, str) and kinds & {int, float} and _as_number(value) is not None:
        return f"write the number without quotes: {key} = {value.strip()}"
    if isinstance(value, int | float) and not isinstance(value, bool) and kinds & {str, Path}:
        return f'write it in quotes: {key} = "{value}"'
    return f"write {_describe(hint)}"


def _plan_error(
    exc: pydantic.ValidationError, cls: type, table: dict[str, Any], where: str, source: Path
) -> PlanError:
    """One PlanError naming each bad key, its value, what is allowed and the fix."""
    hints = _hints(cls)
    problems = []
    for key in dict.fromkeys(str(e["loc"][0]) for e in exc.errors() if e["loc"]):
        errors = [e for e in exc.errors() if e["loc"] and e["loc"][0] == key]
        if errors[0]["type"] == "missing":
            problems.append(f"{where} is missing the required key {key}")
            continue
        value = table.get(key)
        ranged = [e for e in errors if e["type"] in _RANGE_ERRORS]
        if ranged:
            message = re.sub(r"^\w+ should", "must", ranged[0]["msg"])
            message = message.replace("greater than 0", "positive (greater than 0)")
            if ranged[0]["type"] == "literal_error":
                message = f"must be {_describe(hints[key])}"
            if ranged[0]["type"] == "too_short":
                message = "must list at least one value"
            if ranged[0]["type"] == "string_pattern_mismatch":
                message = _PATTERN_WORDS.get(ranged[0]["ctx"]["pattern"], message)
            problems.append(f"{where} {key} = {_toml(value)}: {message}")
        else:
            problems.append(
                f"{where} {key} = {_toml(value)} is not {_describe(hints[key])}: "
                f"{_fix(key, value, hints[key])}"
            )
    return PlanError(f"{source.name}: " + "; ".join(problems))


_RANGE_ERRORS = frozenset(
    {
        "greater_than",
        "greater_than_equal",
        "less_than",
        "less_than_equal",
        "too_short",
        "too_long",
        "string_too_short",
        "string_pattern_mismatch",
        "literal_error",
    }
)


def _build(cls: type[Spec], table: dict[str, Any], where: str, source: Path) -> Spec:
    """Build a spec dataclass from a TOML table: keys, types and ranges checked strictly."""
    if not isinstance(table, dict):
        raise PlanError(f"{source.name}: {where} must be a table, got {_toml(table)}")
    names = [f.name for f in dataclasses.fields(cls)]
    _check_keys(table, names, where, source)
    hints = _hints(cls)
    values = {}
    for key, value in table.items():
        if key in _PATH_KEYS and isinstance(value, str):
            value = (source.parent / value).resolve()
        elif key in _ONE_OR_MORE and isinstance(value, int | float) and not isinstance(value, bool):
            value = (value,)
        elif isinstance(value, list) and _takes_list(hints[key]):
            value = tuple(value)
        values[key] = value
    try:
        checked = _schema(cls).model_validate(values)
    except pydantic.ValidationError as exc:
        raise _plan_error(exc, cls, table, where, source) from None
    return cls(**{key: getattr(checked, key) for key in values})


def _walk_model(table: dict[str, Any], source: Path) -> WalkModel:
    if not isinstance(table, dict):
        raise PlanError(f"{source.name}: [walk] must be a table, got {_toml(table)}")
    table = dict(table)
    by_kind_raw = table.pop("by_kind", {})
    if not isinstance(by_kind_raw, dict):
        raise PlanError(f"{source.name}: [walk.by_kind] must be a table, got {_toml(by_kind_raw)}")
    by_kind = {}
    for kind, sub in by_kind_raw.items():
        if kind not in ("street", "town"):
            raise PlanError(
                f"{source.name}: [walk.by_kind.{kind}] is not a township kind"
                f"{_suggest(kind, ['street', 'town'])} "
                "(use 'street' for 街道 or 'town' for 镇/乡)"
            )
        by_kind[kind] = _build(KindWalk, sub, f"[walk.by_kind.{kind}]", source)
    _check_keys(table, ("speed_mps", "thresholds_min", "max_snap_m", "by_kind"), "[walk]", source)
    walk = _build(WalkModel, table, "[walk]", source)
    walk = dataclasses.replace(
        walk, thresholds_min=tuple(map(float, walk.thresholds_min)), by_kind=by_kind
    )
    labelled = [("[walk]", walk), *((f"[walk.by_kind.{k}]", v) for k, v in by_kind.items())]
    for label, kind_walk in labelled:
        _warn_implausible(kind_walk.speed_mps, kind_walk.thresholds_min, label, source)
    return walk


def _warn_implausible(
    speed_mps: float, minutes: tuple[float, ...], where: str, source: Path
) -> None:
    """Values a plan may hold but rarely means: logged as warnings."""
    low, high = _PLAUSIBLE_SPEED_MPS
    if not low <= speed_mps <= high:
        log.warning(
            "%s: %s speed_mps = %g m/s is not a walking speed (people walk %g–%g m/s; 1.0 is "
            "usual for older walkers): check the unit",
            source.name,
            where,
            speed_mps,
            low,
            high,
        )
    for value in minutes:
        if value > _PLAUSIBLE_MINUTES:
            log.warning(
                "%s: %s thresholds_min has %g minutes: life circles are walks of 5–15 minutes "
                "(over %g is implausible): check the unit",
                source.name,
                where,
                value,
                _PLAUSIBLE_MINUTES,
            )


def _check_file(path: Path | None, where: str, source: Path) -> None:
    if path is not None and not path.exists():
        raise PlanError(
            f"{source.name}: {where} names {path}, which does not exist — check the path "
            "(relative paths are read from the plan file's folder)"
        )


def parse_plan(doc: dict[str, Any], source: Path) -> Plan:
    """Validate a parsed TOML document and build a :class:`Plan` (paths relative to ``source``)."""
    _check_keys(doc, _TOP_KEYS, "the plan", source)
    for required in ("study", "inputs", "layers"):
        if required not in doc:
            raise PlanError(
                f"{source.name}: missing [{required}] section — see the sample "
                "lifecircle/data/sample/plan.toml"
            )
    study = _build(StudySpec, doc["study"], "[study]", source)

    inputs = doc["inputs"]
    _check_keys(inputs, ("townships", "units", "network", "population"), "[inputs]", source)
    if "townships" not in inputs or "network" not in inputs:
        raise PlanError(
            f"{source.name}: [inputs] needs both [inputs.townships] and [inputs.network]"
        )
    townships = _build(TownshipSpec, inputs["townships"], "[inputs.townships]", source)
    _check_file(townships.path, "[inputs.townships].path", source)
    network = _build(NetworkSpec, inputs["network"], "[inputs.network]", source)
    _check_file(network.path, "[inputs.network].path", source)
    population = None
    if "population" in inputs:
        population = _build(PopulationSpec, inputs["population"], "[inputs.population]", source)
        _check_file(population.raster, "[inputs.population].raster", source)
        _check_file(population.table, "[inputs.population].table", source)
    units = tuple(
        _build(UnitSpec, u, f"[[inputs.units]] #{i + 1}", source)
        for i, u in enumerate(inputs.get("units", []))
    )
    for i, unit in enumerate(units):
        _check_file(unit.path, f"[[inputs.units]] #{i + 1} path", source)

    categories = doc.get("categories", {})
    from lifecircle.layers.categories import load_registry

    registry = load_registry(categories)
    layers = []
    for i, raw in enumerate(doc["layers"]):
        layer = _build(LayerSpec, raw, f"[[layers]] #{i + 1}", source)
        if layer.category not in registry:
            known = list(registry)
            raise PlanError(
                f"{source.name}: [[layers]] #{i + 1} has unknown category {layer.category!r}"
                f"{_suggest(layer.category, known)} (known: {', '.join(known)}; "
                "add new ones under [categories.<key>])"
            )
        _check_file(layer.path, f"[[layers]] #{i + 1} path", source)
        layers.append(layer)

    walk = _walk_model(doc.get("walk", {}), source)
    targets = parse_targets(doc.get("targets", []), source=source.name, categories=list(registry))
    validate_targets(
        targets,
        categories=list(registry),
        levels=[u.level for u in units],
        year=study.year,
        source=source.name,
    )
    siting_raw = doc.get("siting", [])
    siting_tables = siting_raw if isinstance(siting_raw, list) else [siting_raw]
    siting = tuple(_build(SitingSpec, s, "[siting]", source) for s in siting_tables)
    for spec in siting:
        if spec.category not in registry:
            raise PlanError(
                f"{source.name}: [siting].category {spec.category!r} is not a known "
                f"category{_suggest(spec.category, list(registry))}"
            )
        if spec.p is None and spec.target_share is None:
            raise PlanError(
                f"{source.name}: [siting] needs p (number of new sites) or target_share"
            )
    maps = _build(MapSpec, doc.get("maps", {}), "[maps]", source)
    sensitivity = None
    if "sensitivity" in doc:
        sensitivity = _build(SensitivitySpec, doc["sensitivity"], "[sensitivity]", source)
    return Plan(
        sensitivity=sensitivity,
        path=source,
        study=study,
        townships=townships,
        network=network,
        population=population,
        layers=tuple(layers),
        walk=walk,
        targets=tuple(targets),
        units=units,
        categories=categories,
        siting=siting,
        maps=maps,
    )


def load_plan(path: str | Path) -> Plan:
    """Read and validate a plan file.

    Raises
    ------
    PlanError
        When the file is missing, is not valid TOML, or any key, value, path or category is wrong;
        the message names the key and the fix.
    """
    path = Path(path).resolve()
    if not path.is_file():
        raise PlanError(f"plan file {path} does not exist")
    try:
        # utf-8-sig: a plan saved by Windows Notepad starts with a byte-order mark.
        doc = tomllib.loads(path.read_text(encoding="utf-8-sig"))
    except tomllib.TOMLDecodeError as exc:
        raise PlanError(f"{path.name} is not valid TOML: {exc}") from None
    except UnicodeDecodeError:
        raise PlanError(f"{path.name} is not UTF-8 text: save the plan file as UTF-8") from None
    return parse_plan(doc, path)
