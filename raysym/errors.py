"""Exceptions raysym raises for bad input, so callers can tell user errors from bugs."""


class DataError(ValueError):
    """Jet data that cannot be used: a missing or malformed file, NaN momenta, an empty class.

    The message always names the file (or data set) and the problem, in one sentence.
    """


class ConfigError(ValueError):
    """A setting that cannot work (negative λ, unknown task, batch size 0, ...)."""


class TaskError(RuntimeError):
    """A Ray task (or its serial stand-in) failed for a reason other than bad input.

    The message names the item the task worked on; the original error, with its traceback, is the cause.
    """


def positive_int(name: str, value) -> int:
    """``value`` if it is a positive integer (not a bool), else a ``ConfigError`` naming ``name``."""
    if isinstance(value, bool) or not isinstance(value, int) or value <= 0:
        raise ConfigError(f"{name} must be a positive integer, got {value!r}")
    return value
