"""Exceptions raysym raises for bad input, so callers can tell user errors from bugs."""


class DataError(ValueError):
    """Jet data that cannot be used: a missing or malformed file, NaN momenta, an empty class.

    The message always names the file (or data set) and the problem, in one sentence.
    """


class ConfigError(ValueError):
    """A setting that cannot work (negative λ, unknown task, batch size 0, ...)."""
