"""W&B runs kept offline, read back for the tests: the records of each ``run-<id>.wandb`` file.

wandb 0.31 keeps no Python reader of its offline files (its ``DataStore`` went with the move of its internals
to the ``wandb-core`` binary) and ``wandb.Api`` reads only a server. What wandb does ship is the schema of
every record, ``wandb.proto.wandb_internal_pb2.Record``; the file around the records is a LevelDB-style log:
a 7-byte header (``:W&B``, magic 0xBEE1, version 0), then 32 KiB blocks of chunks, each with a 7-byte
header (CRC32-C, length, type: full, first, middle, last). This reads that framing (without checking the
CRCs) and hands each record to wandb's own protobuf class.
"""

from __future__ import annotations

import json
import struct
from dataclasses import dataclass, field
from pathlib import Path

from wandb.proto import wandb_internal_pb2

_BLOCK, _HEADER, _FILE_HEADER = 32 * 1024, 7, b":W&B\xe1\xbe\x00"
_FULL, _LAST = 1, 4


def records(path: str | Path) -> list[wandb_internal_pb2.Record]:
    """Every record of one offline ``.wandb`` file, in order."""
    data = Path(path).read_bytes()
    assert data[:_HEADER] == _FILE_HEADER, f"{path}: not a W&B transaction log"
    found, pending, pos = [], b"", _HEADER
    while pos + _HEADER <= len(data):
        left = _BLOCK - pos % _BLOCK
        if left < _HEADER:  # the rest of a block too short for a chunk header is padding
            pos += left
            continue
        _crc, length, kind = struct.unpack("<IHB", data[pos:pos + _HEADER])
        if kind == 0:  # zero padding to the end of the block
            pos += left
            continue
        pending += data[pos + _HEADER:pos + _HEADER + length]
        pos += _HEADER + length
        if kind in (_FULL, _LAST):
            record = wandb_internal_pb2.Record()
            record.ParseFromString(pending)
            found.append(record)
            pending = b""
    return found


def _key(item) -> str:
    return item.key or "/".join(item.nested_key)


@dataclass
class OfflineRun:
    """What one offline run file holds: the run's id, name, project, job type, tags and config, its
    history (one dict per logged step) and its summary (the last value of each key)."""

    run_id: str = ""
    name: str = ""
    project: str = ""
    job_type: str = ""
    tags: tuple[str, ...] = ()
    config: dict = field(default_factory=dict)
    history: list[dict] = field(default_factory=list)
    summary: dict = field(default_factory=dict)


def read_run(path: str | Path) -> OfflineRun:
    """One offline run file as an :class:`OfflineRun`."""
    run = OfflineRun()
    for record in records(path):
        kind = record.WhichOneof("record_type")
        if kind == "run":
            run.run_id, run.name, run.project = record.run.run_id, record.run.display_name, record.run.project
            run.job_type, run.tags = record.run.job_type, tuple(record.run.tags)
            run.config.update({_key(i): json.loads(i.value_json) for i in record.run.config.update})
        elif kind == "config":
            run.config.update({_key(i): json.loads(i.value_json) for i in record.config.update})
        elif kind == "history":
            run.history.append({_key(i): json.loads(i.value_json) for i in record.history.item})
        elif kind == "summary":
            run.summary.update({_key(i): json.loads(i.value_json) for i in record.summary.update})
    return run


def offline_runs(wandb_dir: str | Path) -> dict[str, list[OfflineRun]]:
    """Every offline run under ``wandb_dir`` (W&B's ``WANDB_DIR``) by run id: the files of one id in the
    order they were started (a resumed run is one more file with the same id, uploaded into the same run)."""
    runs: dict[str, list[OfflineRun]] = {}
    for folder in sorted(Path(wandb_dir, "wandb").glob("offline-run-*")):
        for path in folder.glob("run-*.wandb"):
            run = read_run(path)
            runs.setdefault(run.run_id, []).append(run)
    return runs
