"""Read back what an offline W&B run wrote: its ``.wandb`` file's records, history rows and config.

wandb 0.31 ships no Python reader for its run files, so this is one: a LevelDB-style log (a 7-byte file
header, then 32 KiB blocks of records, each with a CRC-32, a length and a full/first/middle/last type)
whose payloads are wandb's own ``wandb_internal_pb2.Record`` protobufs, decoded with wandb's classes.
"""

from __future__ import annotations

import json
import struct
import time
import zlib
from pathlib import Path
from typing import Any

from wandb.proto import wandb_internal_pb2

FILE_HEADER = struct.Struct("<4sHB")  # ident b":W&B", magic 0xBEE1, version 0
RECORD_HEADER = struct.Struct("<IHB")  # crc32, length, type
BLOCK = 32 * 1024
FULL, FIRST, MIDDLE, LAST = 1, 2, 3, 4


def read_records(path: Path) -> list[wandb_internal_pb2.Record]:
    """Every record of a ``.wandb`` file, in order; a corrupt file fails an assertion."""
    data = Path(path).read_bytes()
    ident, magic, version = FILE_HEADER.unpack_from(data)
    assert (ident, magic, version) == (b":W&B", 0xBEE1, 0), f"{path}: not a W&B run file"
    records, pending, offset = [], b"", FILE_HEADER.size
    while offset < len(data):
        if BLOCK - offset % BLOCK < RECORD_HEADER.size:  # the block's tail is padding
            offset += BLOCK - offset % BLOCK
            continue
        crc, length, kind = RECORD_HEADER.unpack_from(data, offset)
        if (crc, length, kind) == (0, 0, 0):  # zero padding at the end of the file
            break
        payload = data[offset + RECORD_HEADER.size: offset + RECORD_HEADER.size + length]
        if len(payload) < length:  # the writer is mid-record
            break
        assert zlib.crc32(payload, zlib.crc32(bytes([kind]))) == crc, f"{path}: bad checksum at byte {offset}"
        offset += RECORD_HEADER.size + length
        pending += payload
        if kind in (FULL, LAST):
            record = wandb_internal_pb2.Record()
            record.ParseFromString(pending)
            records.append(record)
            pending = b""
    return records


def finished_run(wandb_dir: Path, run_id: str, timeout_s: float = 60) -> list[wandb_internal_pb2.Record]:
    """The records of offline run ``run_id`` under ``wandb_dir`` (WANDB_DIR or the run's folder), once its
    exit record is written: wandb's service process may still be writing when ``run.finish()`` returns."""
    (path,) = Path(wandb_dir).glob(f"wandb/offline-run-*-{run_id}/run-{run_id}.wandb")
    deadline = time.monotonic() + timeout_s
    while True:
        records = read_records(path)
        if any(record.WhichOneof("record_type") == "exit" for record in records) or time.monotonic() > deadline:
            return records
        time.sleep(0.1)


def history(records: list[wandb_internal_pb2.Record]) -> list[dict[str, Any]]:
    """The logged rows, each a dict of key -> decoded value (W&B's own ``_step``, ``_runtime`` included)."""
    return [{".".join(item.nested_key) or item.key: json.loads(item.value_json) for item in record.history.item}
            for record in records if record.WhichOneof("record_type") == "history"]


def config(records: list[wandb_internal_pb2.Record]) -> dict[str, Any]:
    """The run's config: the values given at init, then every later update, minus W&B's ``_wandb`` key."""
    values: dict[str, Any] = {}
    for record in records:
        kind = record.WhichOneof("record_type")
        updates = record.run.config.update if kind == "run" else record.config.update if kind == "config" else []
        for item in updates:
            values[".".join(item.nested_key) or item.key] = json.loads(item.value_json)
    values.pop("_wandb", None)
    return values


def metric_definitions(records: list[wandb_internal_pb2.Record]) -> dict[str, str]:
    """``define_metric`` calls: metric name (or glob) -> its step metric ('' when none)."""
    return {record.metric.name or record.metric.glob_name: record.metric.step_metric
            for record in records if record.WhichOneof("record_type") == "metric"}
