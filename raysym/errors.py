"""Exceptions raysym raises for bad input, so callers can tell user errors from bugs."""

import errno


class DataError(ValueError):
    """Jet data that cannot be used: a missing or malformed file, NaN momenta, an empty class.

    The message always names the file (or data set) and the problem, in one sentence.
    """


class ConfigError(ValueError):
    """A setting that cannot work (negative λ, unknown task, batch size 0, ...)."""


class Interrupted(KeyboardInterrupt):
    """Ctrl-C (SIGINT) ended a study: ``stage`` says during which stage.

    A ``KeyboardInterrupt``, so ``except Exception`` never swallows it. Raised where the signal was caught
    by someone else and would otherwise read as a normal return (a Tune run stops its trials and returns),
    and by the study for a plain ``KeyboardInterrupt``, to name the stage it cut short.
    """

    def __init__(self, message: str, stage: str | None = None):
        super().__init__(message)
        self.stage = stage


class TaskError(RuntimeError):
    """A Ray task (or its serial stand-in) failed for a reason other than bad input.

    The message names the item the task worked on; the original error, with its traceback, is the cause.
    """


def disk_full(error: BaseException | None) -> OSError | None:
    """The "no space left on device" (or over quota) error behind ``error``: itself, or one it was raised
    from or during (libraries such as Tune and PIL wrap it); None when the disk is not the cause."""
    seen = set()
    while error is not None and id(error) not in seen:
        seen.add(id(error))
        if isinstance(error, OSError) and error.errno in (errno.ENOSPC, errno.EDQUOT):
            return error
        error = error.__cause__ or error.__context__
    return None


def disk_full_message(full: OSError) -> str:
    """One sentence for a full disk: where, and that nothing half-written was kept."""
    where = f" writing {full.filename}" if full.filename else ""
    return (f"no space left on the disk{where}; what finished is stored and nothing half-written is: free "
            "some space and run the same command again to resume")


def positive_int(name: str, value) -> int:
    """``value`` if it is a positive integer (not a bool), else a ``ConfigError`` naming ``name``."""
    if isinstance(value, bool) or not isinstance(value, int) or value <= 0:
        raise ConfigError(f"{name} must be a positive integer, got {value!r}")
    return value
