"""How much each service-circle figure depends on the walk model's assumptions.

Every coverage figure rests on a walking speed and a set of road rules. :func:`evaluate_sensitivity`
re-evaluates the service-circle targets under alternative settings (by default every speed of
0.8 / 1.0 / 1.2 m/s under each rule set given) and reports, per unit (township) and target, the
range of values (lowest–highest) and whether the 达标 status is *robust* (the same under every
setting) or *fragile* (it changes with the assumptions).

Only the reach changes between settings: the walking distances of every demand cell to its nearest
facility are computed once per rule set (one bounded search, with the network, snapping and
blocks of that rule set's network), and each speed turns them into minutes. Pure computation: the
caller builds the networks and the distances.

Examples
--------
>>> import pandas as pd
>>> values = pd.DataFrame({"target_id": ["t"] * 3, "unit_code": ["1"] * 3, "unit_name": ["A"] * 3,
...                        "setting": ["0.8", "1.0", "1.2"], "value": [70.0, 85.0, 92.0],
...                        "status": ["not_met", "met", "met"]})
>>> row = summarise_ranges(values).iloc[0]
>>> float(row["low"]), float(row["high"]), row["robustness"]
(70.0, 92.0, 'fragile')
"""

from __future__ import annotations

import dataclasses
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pandas as pd

from lifecircle.coverage.targets import EvaluationContext, Target, evaluate_targets
from lifecircle.coverage.walk import KindWalk, WalkModel

__all__ = [
    "DEFAULT_SPEEDS_MPS",
    "SensitivityResult",
    "Setting",
    "evaluate_sensitivity",
    "summarise_ranges",
    "with_speed",
]

# Older pedestrians ~0.8–1.0 m/s, adults ~1.2 m/s (docs/walk-model.md gives the sources).
DEFAULT_SPEEDS_MPS = (0.8, 1.0, 1.2)
ROBUSTNESS_ZH = {"robust": "稳健", "fragile": "不稳定", "na": "不适用"}


@dataclass(frozen=True)
class Setting:
    """One alternative walk model: a rule set and one speed for everyone (m/s)."""

    walk_rules: str
    speed_mps: float

    @property
    def label(self) -> str:
        """``"china 1.0 m/s"``."""
        return f"{self.walk_rules} {self.speed_mps:g} m/s"


@dataclass
class SensitivityResult:
    """What :func:`evaluate_sensitivity` found.

    Attributes
    ----------
    settings
        The settings evaluated, in order.
    values
        Long table ``target_id, indicator, level, unit_code, unit_name, setting, walk_rules,
        speed_mps, value, status`` (value in %, status ``met``/``not_met``/``na``) for every unit
        row and the area row (``level == "district"``).
    ranges
        Per target and unit: ``target_id, indicator, level, unit_code, unit_name, low, high,
        statuses, robustness`` (``robust``/``fragile``/``na``), ``robustness_zh``
        (稳健/不稳定/不适用).
    """

    settings: list[Setting]
    values: pd.DataFrame
    ranges: pd.DataFrame
    timings_s: dict[str, float] = field(default_factory=dict)

    def fragile_count(self, level: str = "township") -> int:
        """Number of unit × target statuses at ``level`` that change with the settings."""
        rows = self.ranges[self.ranges["level"] == level]
        return int((rows["robustness"] == "fragile").sum())

    def as_record(self) -> dict[str, Any]:
        """A plain dict for run.json: settings, counts per target, fragile units."""
        township = self.ranges[self.ranges["level"] == "township"]
        per_target = {}
        for target_id, rows in township.groupby("target_id", sort=False):
            per_target[str(target_id)] = {
                "robust": int((rows["robustness"] == "robust").sum()),
                "fragile": int((rows["robustness"] == "fragile").sum()),
                "na": int((rows["robustness"] == "na").sum()),
                "fragile_units": [
                    f"{r.unit_name} ({r.low:.1f}–{r.high:.1f} %)"
                    for r in rows[rows["robustness"] == "fragile"].itertuples()
                ],
            }
        return {
            "settings": [s.label for s in self.settings],
            "fragile": self.fragile_count(),
            "statuses": len(township),
            "targets": per_target,
        }


def with_speed(walk: WalkModel, speed_mps: float) -> WalkModel:
    """The walk model with every kind walking at ``speed_mps`` (thresholds unchanged)."""
    return dataclasses.replace(
        walk,
        speed_mps=float(speed_mps),
        by_kind={
            kind: KindWalk(speed_mps=float(speed_mps), thresholds_min=k.thresholds_min, mode=k.mode)
            for kind, k in walk.by_kind.items()
        },
    )


def search_limit_m(walk: WalkModel, speeds_mps: Iterable[float]) -> float:
    """The bound a distance search needs to serve every speed: longest threshold x fastest."""
    return max(walk.all_thresholds_min) * 60.0 * max(speeds_mps)


def summarise_ranges(values: pd.DataFrame) -> pd.DataFrame:
    """Per target and unit: lowest and highest value, statuses seen, robust or fragile.

    A status is *robust* when every setting gives the same one (``na`` when all are not
    applicable), *fragile* otherwise.
    """
    keys = [
        c
        for c in ("target_id", "indicator", "level", "unit_code", "unit_name")
        if c in values.columns
    ]
    rows = []
    for key, group in values.groupby(keys, sort=False, dropna=False):
        seen = list(dict.fromkeys(group["status"]))
        finite = group["value"].astype(float)
        finite = finite[np.isfinite(finite)]
        robustness = "na" if seen == ["na"] else "robust" if len(seen) == 1 else "fragile"
        rows.append(
            {
                **dict(zip(keys, key if isinstance(key, tuple) else (key,), strict=True)),
                "low": float(finite.min()) if len(finite) else np.nan,
                "high": float(finite.max()) if len(finite) else np.nan,
                "statuses": "/".join(seen),
                "robustness": robustness,
                "robustness_zh": ROBUSTNESS_ZH[robustness],
            }
        )
    return pd.DataFrame(rows)


def evaluate_sensitivity(
    targets: Sequence[Target],
    context: EvaluationContext,
    distances_by_rules: Mapping[str, pd.DataFrame],
    *,
    speeds_mps: Sequence[float] = DEFAULT_SPEEDS_MPS,
) -> SensitivityResult:
    """Re-evaluate the service-circle targets under every rule set x speed.

    Parameters
    ----------
    targets
        The plan's targets; only ``service_circle`` ones are evaluated.
    context
        The evaluation context of the run (its ``coverage.demand`` gives the cells' zones,
        kinds and people; its ``walk`` the thresholds per kind and ``max_snap_m``).
    distances_by_rules
        Per rule set, a frame aligned with ``context.coverage.demand`` holding ``snap_m`` and
        ``dist_m__<category>`` (walking metres to the nearest facility, ``inf`` beyond the
        search bound, which must reach :func:`search_limit_m`).
    speeds_mps
        Walking speeds to try (one for everyone).

    Returns
    -------
    SensitivityResult
    """
    circles = [t for t in targets if t.type == "service_circle"]
    base = context.coverage.demand
    settings = [
        Setting(rules, float(speed)) for rules in distances_by_rules for speed in speeds_mps
    ]
    frames = []
    for setting in settings:
        distances = distances_by_rules[setting.walk_rules]
        walk = with_speed(context.walk, setting.speed_mps)
        demand = base.copy()
        demand["snap_m"] = distances["snap_m"].to_numpy()
        for column in distances.columns:
            if column.startswith("dist_m__"):
                category = column.removeprefix("dist_m__")
                demand[f"time_min__{category}"] = (
                    distances[column].to_numpy() / setting.speed_mps / 60.0
                )
        coverage = (
            dataclasses.replace(context.coverage, demand=demand)
            if dataclasses.is_dataclass(context.coverage)
            else _Coverage(demand)
        )
        report = evaluate_targets(
            circles, dataclasses.replace(context, coverage=coverage, walk=walk)
        )
        rows = pd.concat([report.rows, report.summary], ignore_index=True)
        frames.append(
            rows[
                ["target_id", "indicator", "level", "unit_code", "unit_name", "value", "status"]
            ].assign(
                setting=setting.label, walk_rules=setting.walk_rules, speed_mps=setting.speed_mps
            )
        )
    values = (
        pd.concat(frames, ignore_index=True)
        if frames
        else pd.DataFrame(
            columns=[
                "target_id",
                "indicator",
                "level",
                "unit_code",
                "unit_name",
                "value",
                "status",
                "setting",
                "walk_rules",
                "speed_mps",
            ]
        )
    )
    values["unit_code"] = values["unit_code"].fillna("").astype(str)
    return SensitivityResult(settings=settings, values=values, ranges=summarise_ranges(values))


@dataclass
class _Coverage:
    demand: pd.DataFrame
