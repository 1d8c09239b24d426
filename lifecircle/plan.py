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
import tomllib
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, TypeVar

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
    {"path", "raster", "table", "polygon", "cache_dir", "candidates", "exclusions",
     "overrides"}
)
_LANGS = ("zh", "en")
_BASEMAPS = ("osm", "tianditu", "amap", "none")
_TOP_KEYS = ("study", "inputs", "layers", "categories", "walk", "targets", "siting", "maps",
             "sensitivity")

Spec = TypeVar("Spec")


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
    """The ``[maps]`` section: basemap and offline settings."""

    basemap: str = "osm"
    offline: bool = False
    tiles_url: str | None = None
    tianditu_key: str | None = None


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
            raise PlanError(f"[sensitivity].speeds_mps must be a list of positive speeds in m/s, "
                            f"e.g. [0.8, 1.0, 1.2]; got {list(speeds)}")
        rules = tuple(self.walk_rules)
        bad = [r for r in rules if r not in RULE_SETS]
        if not rules or bad:
            raise PlanError(f"[sensitivity].walk_rules must list rule sets among "
                            f"{', '.join(RULE_SETS)}; got {list(rules)}")
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


def _build(cls: type[Spec], table: dict[str, Any], where: str, source: Path) -> Spec:
    """Build a spec dataclass from a TOML table, naming unknown or missing keys."""
    if not isinstance(table, dict):
        raise PlanError(f"{source.name}: {where} must be a table, got {type(table).__name__}")
    names = [f.name for f in dataclasses.fields(cls)]
    _check_keys(table, names, where, source)
    values = {}
    for key, value in table.items():
        if key in _PATH_KEYS and isinstance(value, str):
            value = (source.parent / value).resolve()
        elif isinstance(value, list) and key not in ("columns",):
            value = tuple(value) if key in ("thresholds_min", "bbox") else value
        values[key] = value
    try:
        return cls(**values)
    except TypeError as exc:
        required = [
            f.name
            for f in dataclasses.fields(cls)
            if f.default is dataclasses.MISSING and f.default_factory is dataclasses.MISSING
        ]
        missing = [k for k in required if k not in table]
        raise PlanError(
            f"{source.name}: {where} is missing required key(s) {', '.join(missing) or '?'} ({exc})"
        ) from None


def _walk_model(table: dict[str, Any], source: Path) -> WalkModel:
    table = dict(table)
    by_kind_raw = table.pop("by_kind", {})
    _check_keys(table, ("speed_mps", "thresholds_min", "max_snap_m"), "[walk]", source)
    by_kind = {}
    for kind, sub in by_kind_raw.items():
        if kind not in ("street", "town"):
            raise PlanError(
                f"{source.name}: [walk.by_kind.{kind}] is not a township kind"
                f"{_suggest(kind, ['street', 'town'])} "
                "(use 'street' for 街道 or 'town' for 镇/乡)"
            )
        by_kind[kind] = _build(KindWalk, sub, f"[walk.by_kind.{kind}]", source)
    kwargs = {
        k: (tuple(float(t) for t in v) if k == "thresholds_min" else v) for k, v in table.items()
    }
    return WalkModel(**kwargs, by_kind=by_kind)


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
    if study.lang not in _LANGS:
        raise PlanError(f"{source.name}: [study].lang must be one of {_LANGS}, got {study.lang!r}")

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
    if maps.basemap not in _BASEMAPS:
        raise PlanError(
            f"{source.name}: [maps].basemap must be one of {_BASEMAPS}, got {maps.basemap!r}"
        )
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
        doc = tomllib.loads(path.read_text(encoding="utf-8"))
    except tomllib.TOMLDecodeError as exc:
        raise PlanError(f"{path.name} is not valid TOML: {exc}") from None
    except UnicodeDecodeError:
        raise PlanError(f"{path.name} is not UTF-8 text: save the plan file as UTF-8") from None
    return parse_plan(doc, path)
