"""The walk model: speed and time thresholds, optionally different per township kind.

:class:`WalkModel` is the one place that turns minutes into metres and back
(:meth:`WalkModel.time_min`, :meth:`WalkModel.distance_m`, :meth:`WalkModel.reach_m`).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import numpy as np
from numpy.typing import ArrayLike, NDArray

from lifecircle.errors import PlanError

DEFAULT_SPEED_MPS = 1.0  # a common assumption where many walkers are older (FHWA)
DEFAULT_THRESHOLDS_MIN = (5.0, 10.0, 15.0)  # GB 50180-2018 life circles
SECONDS_PER_MINUTE = 60.0


@dataclass(frozen=True)
class KindWalk:
    """Walk settings for one township kind (``street`` or ``town``)."""

    speed_mps: float = DEFAULT_SPEED_MPS
    thresholds_min: tuple[float, ...] = DEFAULT_THRESHOLDS_MIN
    mode: str = "walk"


@dataclass(frozen=True)
class WalkModel:
    """Walking speed and thresholds, with overrides per township kind.

    Parameters
    ----------
    speed_mps
        Default speed in metres per second.
    thresholds_min
        Default time thresholds in minutes.
    max_snap_m
        Points farther than this from any network edge are reported, not snapped.
    by_kind
        Overrides keyed by township kind (``"street"``, ``"town"``).
    """

    speed_mps: float = DEFAULT_SPEED_MPS
    thresholds_min: tuple[float, ...] = DEFAULT_THRESHOLDS_MIN
    max_snap_m: float = 500.0
    by_kind: dict[str, KindWalk] = field(default_factory=dict)

    def __post_init__(self) -> None:
        labelled = [("walk", self), *((f"walk.by_kind.{k}", v) for k, v in self.by_kind.items())]
        for label, walk in labelled:
            if not walk.speed_mps > 0:
                raise PlanError(f"{label}.speed_mps must be positive, got {walk.speed_mps}")
            if not walk.thresholds_min or any(not t > 0 for t in walk.thresholds_min):
                raise PlanError(
                    f"{label}.thresholds_min must be a non-empty list of positive minutes, "
                    f"got {list(walk.thresholds_min)}"
                )

    def for_kind(self, kind: str | None) -> KindWalk:
        """The settings that apply to townships of ``kind``."""
        if kind in self.by_kind:
            return self.by_kind[kind]
        return KindWalk(self.speed_mps, self.thresholds_min)

    def speeds_for(self, kinds: ArrayLike) -> NDArray[np.float64]:
        """Speed in m/s for each element of an array of township kinds."""
        kinds = np.asarray(kinds, dtype=object)
        speeds = np.full(kinds.shape, self.speed_mps, dtype=float)
        for kind, walk in self.by_kind.items():
            speeds[kinds == kind] = walk.speed_mps
        return speeds

    def time_min(
        self, distance_m: ArrayLike, kinds: ArrayLike | None = None
    ) -> NDArray[np.float64]:
        """Minutes to walk ``distance_m`` at each kind's speed (``inf`` stays ``inf``).

        ``kinds`` defaults to the default speed for every distance.

        >>> WalkModel(speed_mps=1.25).time_min([75.0, float("inf")]).tolist()
        [1.0, inf]
        """
        distance = np.asarray(distance_m, dtype=float)
        if kinds is None:
            return distance / self.speed_mps / SECONDS_PER_MINUTE
        return distance / self.speeds_for(kinds) / SECONDS_PER_MINUTE

    def distance_m(self, minutes: ArrayLike, kinds: ArrayLike | None = None) -> NDArray[np.float64]:
        """Metres walked in ``minutes`` at each kind's speed (the inverse of :meth:`time_min`).

        >>> WalkModel(speed_mps=1.25).distance_m([1.0, 15.0]).tolist()
        [75.0, 1125.0]
        """
        time = np.asarray(minutes, dtype=float)
        if kinds is None:
            return time * SECONDS_PER_MINUTE * self.speed_mps
        return time * SECONDS_PER_MINUTE * self.speeds_for(kinds)

    def reach_m(self, threshold_min: float) -> float:
        """Walking distance (m) of a threshold: minutes at the slowest speed of the kinds using it.

        A threshold no kind uses is walked at the default speed.

        >>> walk = WalkModel(thresholds_min=(15.0,),
        ...                  by_kind={"town": KindWalk(speed_mps=0.8, thresholds_min=(15.0,))})
        >>> walk.reach_m(15.0), walk.reach_m(7.0)
        (720.0, 420.0)
        """
        settings = [self.for_kind(None), *self.by_kind.values()]
        speeds = [s.speed_mps for s in settings if threshold_min in s.thresholds_min]
        speed = min(speeds) if speeds else self.speed_mps
        return float(threshold_min) * SECONDS_PER_MINUTE * speed

    def as_dict(self) -> dict[str, Any]:
        """Plain values for ``run.json``: speeds, thresholds and the per-kind overrides."""
        return {
            "speed_mps": self.speed_mps,
            "thresholds_min": list(self.thresholds_min),
            "max_snap_m": self.max_snap_m,
            "by_kind": {
                k: {
                    "speed_mps": v.speed_mps,
                    "thresholds_min": list(v.thresholds_min),
                    "mode": v.mode,
                }
                for k, v in self.by_kind.items()
            },
        }

    @property
    def all_thresholds_min(self) -> tuple[float, ...]:
        """Every threshold used by any kind, sorted."""
        values = set(self.thresholds_min)
        for walk in self.by_kind.values():
            values.update(walk.thresholds_min)
        return tuple(sorted(values))

    @property
    def max_reach_m(self) -> float:
        """The longest distance any threshold allows, bounding every search."""
        walks = [self.for_kind(None), *self.by_kind.values()]
        return max(max(w.thresholds_min) * SECONDS_PER_MINUTE * w.speed_mps for w in walks)
