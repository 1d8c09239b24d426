"""lifecircle: life-circle (生活圈) coverage of civil-affairs facilities for Chinese planners.

The public API is a set of verbs over GeoDataFrames (see :mod:`lifecircle.api`)::

    import lifecircle as lc
    net = lc.load_walk_network("network.osm.pbf")
    meals, rejected = lc.read_register("助餐点.xlsx", category="meal_point", crs="gcj02")
    times = lc.nearest_facility_times(net, meals, homes, limit_m=1500)

They are imported on first use, so ``import lifecircle`` (and the CLI's start) stays light.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

from lifecircle.errors import InputError, LifecircleError, NetworkError, PlanError

if TYPE_CHECKING:
    from lifecircle.api import (
        assign_zones as assign_zones,
    )
    from lifecircle.api import (
        evaluate_targets as evaluate_targets,
    )
    from lifecircle.api import (
        load_walk_network as load_walk_network,
    )
    from lifecircle.api import (
        nearest_facility_times as nearest_facility_times,
    )
    from lifecircle.api import (
        read_demand as read_demand,
    )
    from lifecircle.api import (
        read_register as read_register,
    )
    from lifecircle.api import (
        read_townships as read_townships,
    )
    from lifecircle.api import (
        run as run,
    )
    from lifecircle.api import (
        sample_path as sample_path,
    )
    from lifecircle.api import (
        service_areas as service_areas,
    )
    from lifecircle.api import (
        site as site,
    )
    from lifecircle.coverage.walk import WalkModel as WalkModel
    from lifecircle.geo.network import WalkNetwork as WalkNetwork
    from lifecircle.results import RunResult as RunResult

__version__ = "0.1.0"

_API = {
    "assign_zones": "lifecircle.api",
    "evaluate_targets": "lifecircle.api",
    "load_walk_network": "lifecircle.api",
    "nearest_facility_times": "lifecircle.api",
    "read_demand": "lifecircle.api",
    "read_register": "lifecircle.api",
    "read_townships": "lifecircle.api",
    "run": "lifecircle.api",
    "sample_path": "lifecircle.api",
    "service_areas": "lifecircle.api",
    "site": "lifecircle.api",
    "WalkModel": "lifecircle.coverage.walk",
    "WalkNetwork": "lifecircle.geo.network",
    "RunResult": "lifecircle.results",
}

__all__ = [
    "InputError",
    "LifecircleError",
    "NetworkError",
    "PlanError",
    "__version__",
    *_API,
]


def __getattr__(name: str) -> Any:
    if name in _API:
        value = getattr(importlib.import_module(_API[name]), name)
        globals()[name] = value
        return value
    raise AttributeError(f"module 'lifecircle' has no attribute {name!r}")


def __dir__() -> list[str]:
    return sorted(__all__)
