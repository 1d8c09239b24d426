"""lifecircle: life-circle (生活圈) coverage of civil-affairs facilities for Chinese planners."""

from lifecircle.errors import InputError, LifecircleError, NetworkError, PlanError

__version__ = "0.1.0"

__all__ = ["InputError", "LifecircleError", "NetworkError", "PlanError", "__version__"]
