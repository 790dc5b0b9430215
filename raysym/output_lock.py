"""One study at a time per output location: a lock at ``<out>/.raysym-lock``, local folder or object store.

Two studies writing the same ``--out`` at once each train every trial (both find none stored), doubling
the work, and a report made meanwhile would show half a run. So a study takes the lock before any work
and gives it back when it ends, however it ends; a second study finds it taken and stops with one error
that says who holds it. A holder that died without giving it back (kill -9, a lost head node) must not
lock the location for ever:

- in a local folder the lock is an advisory ``flock`` on the file, which the kernel drops when the
  holding process dies, so a dead holder never blocks;
- at a URI (``s3://…``) there is no ``flock``: the holder rewrites the lock object every
  :data:`HEARTBEAT_S` seconds. A holder on this machine whose process is gone is dead at once; any other
  is dead once its heartbeat has not moved for :data:`STALE_S` seconds of watching. Heartbeats are
  compared by their count, not by clocks, so nodes whose clocks disagree still agree on this. Two
  studies starting within the same instant at a URI are told apart by writing, waiting and reading
  back: the object holds one token, and only its writer goes on.

The lock's content says who holds it (study, host, process, since when), for the error and for
``raysym report``, which reports only finished runs while a study is in progress.
"""

from __future__ import annotations

import contextlib
import fcntl
import json
import os
import socket
import threading
import time
import uuid
from dataclasses import dataclass

from raysym.artifacts import is_uri, join, normalise, read_bytes, resolve, write_bytes
from raysym.errors import ConfigError, DataError

LOCK_NAME = ".raysym-lock"
#: Seconds between a remote holder's heartbeats.
HEARTBEAT_S = 5.0
#: Seconds a remote lock's heartbeat must stand still before its holder counts as dead: several missed
#: beats, so a slow upload is not mistaken for a death.
STALE_S = 4 * HEARTBEAT_S
#: Seconds between writing a remote lock and reading it back (far longer than the gap between another
#: study's check and its write, so of two studies starting together exactly one reads its own token).
SETTLE_S = 1.0
#: Tries, 0.1 s apart, at a local lock before it counts as held.
LOCAL_ATTEMPTS = 10


class OutputInUse(ConfigError):
    """Another study holds the output location's lock."""


@dataclass(frozen=True)
class Holder:
    """Who holds a lock: from the lock's content."""

    study: str
    host: str
    pid: int
    started: float
    token: str = ""
    beat: int = 0

    def describe(self) -> str:
        since = time.strftime("%Y-%m-%d %H:%M:%S", time.localtime(self.started))
        return f"study {self.study!r} (process {self.pid} on {self.host}, since {since})"

    def on_this_machine_and_dead(self) -> bool:
        """Whether the holder ran on this machine and its process is gone (so it cannot give the lock back)."""
        if self.host != socket.gethostname():
            return False
        try:
            os.kill(self.pid, 0)
        except ProcessLookupError:
            return True
        except PermissionError:  # alive, another user's
            return False
        return False


def _parse(data: bytes) -> Holder | None:
    """The holder a lock's content names, or None for an empty or foreign file (a holder still writing)."""
    try:
        fields = json.loads(data.decode())
        return Holder(study=str(fields["study"]), host=str(fields["host"]), pid=int(fields["pid"]),
                      started=float(fields["started"]), token=str(fields.get("token", "")),
                      beat=int(fields.get("beat", 0)))
    except (ValueError, KeyError, TypeError, UnicodeDecodeError):
        return None


def _content(holder: Holder) -> bytes:
    return json.dumps(holder.__dict__).encode()


class OutputLock:
    """The lock of output location ``location`` for study ``study``: ``with OutputLock(out, name): ...``.

    ``acquire`` raises :class:`OutputInUse` naming the holder when a live study holds it; ``release``
    gives it back (also on Ctrl-C or an error, as a context manager).
    """

    def __init__(self, location: str | os.PathLike, study: str, *, stale_s: float = STALE_S,
                 heartbeat_s: float = HEARTBEAT_S):
        self.location = normalise(location)
        self.path = join(self.location, LOCK_NAME)
        self.study = study
        self.stale_s, self.heartbeat_s = stale_s, heartbeat_s
        self._file = None
        self._stop = threading.Event()
        self._beater: threading.Thread | None = None
        self._holder = Holder(study=study, host=socket.gethostname(), pid=os.getpid(), started=time.time(),
                              token=uuid.uuid4().hex)

    def __enter__(self) -> "OutputLock":
        self.acquire()
        return self

    def __exit__(self, *exc) -> None:
        self.release()

    def acquire(self) -> None:
        if is_uri(self.location):
            self._acquire_remote()
        else:
            self._acquire_local()

    def release(self) -> None:
        if self._file is not None:  # emptied, not removed: a study waiting on the old file would lock a ghost
            self._file.truncate(0)
            fcntl.flock(self._file, fcntl.LOCK_UN)
            self._file.close()
            self._file = None
        if self._beater is not None:
            self._stop.set()
            self._beater.join()
            self._beater = None
            fs, path = resolve(self.path)
            with contextlib.suppress(OSError):
                if self._read_remote() == self._holder.token:
                    fs.delete_file(path)

    # -- a local folder: flock --------------------------------------------------------------------

    def _acquire_local(self) -> None:
        os.makedirs(self.location, exist_ok=True)
        handle = open(self.path, "a+b")
        for _ in range(LOCAL_ATTEMPTS):  # a reader's probe (lock_holder) holds it for an instant
            try:
                fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
                break
            except BlockingIOError:
                time.sleep(0.1)
        else:
            handle.seek(0)
            holder = _parse(handle.read())
            handle.close()
            raise self._in_use(holder)
        handle.seek(0)
        handle.truncate()
        handle.write(_content(self._holder))
        handle.flush()
        self._file = handle

    # -- an object store: heartbeats ----------------------------------------------------------------

    def _read_remote(self) -> str | None:
        """The token of the remote lock's holder, or None when there is no lock."""
        holder = self._remote_holder()
        return None if holder is None else holder.token

    def _remote_holder(self) -> Holder | None:
        try:
            return _parse(read_bytes(self.path, "lock"))
        except DataError:
            return None

    def _acquire_remote(self) -> None:
        holder = self._remote_holder()
        if holder is not None and not holder.on_this_machine_and_dead() and self._alive(holder):
            raise self._in_use(holder)
        write_bytes(self.path, _content(self._holder))
        time.sleep(SETTLE_S)
        winner = self._remote_holder()
        if winner is None or winner.token != self._holder.token:
            raise self._in_use(winner)
        self._beater = threading.Thread(target=self._beat, name="raysym-lock-heartbeat", daemon=True)
        self._beater.start()

    def _alive(self, holder: Holder) -> bool:
        """Whether ``holder``'s heartbeat moves within :attr:`stale_s` seconds of watching it."""
        deadline = time.monotonic() + self.stale_s
        while time.monotonic() < deadline:
            time.sleep(min(1.0, self.stale_s / 4))
            now = self._remote_holder()
            if now is None:
                return False
            if now.token != holder.token or now.beat != holder.beat:
                return True
        return False

    def _beat(self) -> None:
        beat = 0
        while not self._stop.wait(self.heartbeat_s):
            beat += 1
            with contextlib.suppress(OSError):
                write_bytes(self.path, _content(Holder(**{**self._holder.__dict__, "beat": beat})))

    def _in_use(self, holder: Holder | None) -> OutputInUse:
        who = holder.describe() if holder is not None else "another study"
        return OutputInUse(f"output location {self.location} is in use by {who}; wait for it to end, or give "
                           "this study another --out")


def lock_holder(location: str | os.PathLike) -> Holder | None:
    """The study holding the lock of output location ``location`` now, or None: for readers such as
    ``raysym report``, which must not mistake a run in progress for a finished one. A remote lock counts as
    held while its last heartbeat is younger than :data:`STALE_S` by this machine's clock (a reader does
    not watch it)."""
    path = join(normalise(location), LOCK_NAME)
    if is_uri(path):
        try:
            holder = _parse(read_bytes(path, "lock"))
        except DataError:
            return None
        if holder is None or holder.on_this_machine_and_dead():
            return None
        fs, inner = resolve(path)
        info = fs.get_file_info(inner)
        fresh = info.mtime is not None and time.time() - info.mtime.timestamp() < STALE_S
        return holder if fresh else None
    if not os.path.isfile(path):
        return None
    with open(path, "rb") as handle:
        try:
            fcntl.flock(handle, fcntl.LOCK_SH | fcntl.LOCK_NB)
        except BlockingIOError:
            return _parse(handle.read()) or Holder(study="?", host="?", pid=0, started=0.0)
        fcntl.flock(handle, fcntl.LOCK_UN)
    return None
