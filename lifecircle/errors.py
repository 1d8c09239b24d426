"""The package's exceptions: one root type, combined with builtins (as rasterio does).

The CLI catches :class:`LifecircleError` once and prints its message as one line.
Messages name the file, row, field, bad value, what is allowed and the fix.
"""


class LifecircleError(Exception):
    """Root of every error lifecircle raises on purpose."""


class InputError(LifecircleError, ValueError):
    """An input file or one of its rows cannot be used as given."""


class PlanError(LifecircleError, ValueError):
    """The plan file is malformed or refers to something that does not exist."""


class NetworkError(LifecircleError, ValueError):
    """The walking network is missing, empty or cannot serve the study area."""


class OutputError(LifecircleError, OSError):
    """The output folder cannot be written, or is not lifecircle's to replace."""
