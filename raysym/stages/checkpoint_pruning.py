"""A bound on a running trial's checkpoints that never deletes one a resume needs (docs/methods.md §5).

A trial writes a checkpoint every epoch, so keeping them all costs epochs × checkpoint size (2 GB for a
paper-preset trial). Tune's own bound (``CheckpointConfig(num_to_keep)``) deletes a checkpoint as soon as
newer ones are registered, but the experiment state a restore reads from storage is a snapshot saved every
10 s or more and uploaded in the background: after a killed driver it can name a checkpoint Tune already
deleted, and Tune then refuses to restore the trial ("does not exist on storage anymore"; measured on the
loopback S3 server, 1 of 4 killed-driver runs).

So Tune deletes nothing, and :class:`CheckpointPruner`, a Tune callback on the driver, deletes a checkpoint
only when the experiment state *on storage* names a later one for its trial. The state uploads happen one
after another, each carrying a later snapshot, so what storage names only moves forward: a checkpoint
older than it is never needed again, whichever snapshot a restore reads next. Of the rest, the newest
:data:`KEEP_CHECKPOINTS` are kept (a fall-back when the newest was cut short by a lost worker). The bound
is therefore the kept ones plus those made since the last upload of the state: about one more for epochs
of a minute, more for epochs of a fraction of a second.

Which checkpoints a state names is read from its JSON (each trial's ``relative_logdir`` and the
``checkpoint_NNNNNN`` names in its run metadata, including Tune's pickled checkpoint bookkeeping, whose
bytes hold the paths); a state that cannot be read that way names nothing, and then nothing is deleted.
"""

from __future__ import annotations

import json
import logging
import posixpath
import re
import time

import pyarrow.fs as pafs
from ray import tune

log = logging.getLogger(__name__)

#: Checkpoints a running trial keeps besides those the stored experiment state still needs: the newest and
#: two to fall back on when the newest was cut short by a lost worker.
KEEP_CHECKPOINTS = 3
#: Seconds between pruning passes (each lists the trial folders and reads the experiment state once).
PRUNE_EVERY_S = 10.0

_NAME = re.compile(r"checkpoint_(\d{6})")
_HEX = re.compile(r'"value": "([0-9a-f]{16,})"')


def checkpoint_index(path: str) -> int | None:
    """The number of Tune's checkpoint folder ``…/checkpoint_NNNNNN``, or None."""
    match = _NAME.fullmatch(posixpath.basename(path))
    return int(match.group(1)) if match else None


def _indices(text: str) -> set[int]:
    """Checkpoint numbers named in ``text``, and in the hex-encoded pickles inside it."""
    found = {int(n) for n in _NAME.findall(text)}
    for blob in _HEX.findall(text):
        try:
            found |= {int(n) for n in _NAME.findall(bytes.fromhex(blob).decode("latin-1"))}
        except ValueError:
            continue
    return found


def stored_state_names(fs: pafs.FileSystem, experiment: str) -> dict[str, int]:
    """Trial folder name -> the latest checkpoint number the newest experiment state on storage names for
    it (the file a restore reads: Tune takes the greatest ``experiment_state-*.json``); empty when there is
    none or it cannot be read."""
    infos = fs.get_file_info(pafs.FileSelector(experiment, allow_not_found=True))
    states = sorted(i.path for i in infos if i.type == pafs.FileType.File
                    and i.base_name.startswith("experiment_state-") and i.base_name.endswith(".json"))
    if not states:
        return {}
    try:
        with fs.open_input_stream(states[-1]) as stream:
            state = json.loads(stream.read().decode())
        named = {}
        for trial_text, metadata_text in state["trial_data"]:
            folder = json.loads(trial_text).get("relative_logdir")
            numbers = _indices(metadata_text)
            if folder and numbers:
                named[folder] = max(numbers)
        return named
    except (OSError, ValueError, KeyError, TypeError) as err:
        log.warning("experiment state %s cannot be read (%s): no checkpoint is deleted", states[-1], err)
        return {}


def prune_trial_folder(fs: pafs.FileSystem, folder: str, named: int | None, keep: int = KEEP_CHECKPOINTS) -> list[str]:
    """Delete the checkpoints of one trial folder older than ``named`` (the stored state's latest for it)
    and not among its newest ``keep``; return the deleted folders. Nothing without a ``named``."""
    if named is None:
        return []
    infos = fs.get_file_info(pafs.FileSelector(folder, allow_not_found=True))
    numbered = sorted((checkpoint_index(i.path), i.path) for i in infos
                      if i.type == pafs.FileType.Directory and checkpoint_index(i.path) is not None)
    deleted = []
    for number, path in numbered[:-keep] if keep else numbered:
        if number < named:
            fs.delete_dir(path)
            deleted.append(path)
    return deleted


class CheckpointPruner(tune.Callback):
    """Keeps each running trial's checkpoints to :data:`KEEP_CHECKPOINTS` plus those the experiment state
    on storage may still need (see the module's docstring), checking at most every ``every_s`` seconds."""

    def __init__(self, keep: int = KEEP_CHECKPOINTS, every_s: float = PRUNE_EVERY_S):
        self.keep, self.every_s = keep, every_s
        self._last = float("-inf")

    def on_checkpoint(self, iteration: int, trials: list, trial, checkpoint, **info) -> None:
        if time.monotonic() - self._last < self.every_s:
            return
        self._last = time.monotonic()
        fs, experiment = checkpoint.filesystem, posixpath.dirname(posixpath.dirname(checkpoint.path))
        named = stored_state_names(fs, experiment)
        for other in trials:
            name = posixpath.basename(other.path or "")
            if name:
                prune_trial_folder(fs, posixpath.join(experiment, name), named.get(name), self.keep)
