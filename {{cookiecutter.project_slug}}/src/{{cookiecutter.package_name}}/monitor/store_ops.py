"""`compact`, `retention` and `erase --id`: the monitoring store, rewritten atomically (its layout: store.py).

- compact: in each folder (a day's predictions of one model version, or a day's feedback), the files smaller
  than half of `monitor.compact_mb` are merged, in name (time) order, into files of about `monitor.compact_mb`
  MB of Parquet: a service writing a part a minute per pod leaves tens of thousands of small objects a week,
  which cost a reader one request each.
- retention: whole `date=` folders older than `monitor.retention_days` days are deleted (null: keep everything).
- erase --id ID: every row of these ids (`_id`, as sent, or hashed as the service stores it with
  serve.log_hash_id) leaves the predictions and the feedback; each file that holds one is rewritten without it.

Every rewrite writes its new file first, whole (a local file renamed into place, one PUT on an object store),
recording in its footer the names of the files it replaces (store.MERGED, store.REPLACES), then deletes them.
Readers leave out the files a merged file records, so between the two steps (or after a crash between them)
each row is read once; a part the service writes meanwhile is recorded by nothing and read as ever (compact
leaves it for its next run). Each command first deletes what an interrupted run left. Run one of them at a time
per store (a schedule, not overlapping jobs): two compactions of one folder at once could merge the same parts
twice.
"""

from __future__ import annotations

import argparse
import os
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from typing import Any

import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq

from .. import store
from ..errors import ProjectError
from ..params import load_params

HASH_KEY_VARIABLE = store.KEY_ENV  # the key the service hashes ids with (serve.log_hash_id)


def remove_leftovers(listing: store.Listing) -> int:
    """Delete the files a merged file replaced that an interrupted run left behind; how many."""
    if listing.superseded:
        listing.fs.rm([part.path for part in listing.superseded])
    return len(listing.superseded)


# --- compact -------------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Compaction:
    """What `compact` did: files merged into files written, their rows, and leftovers of earlier runs deleted."""

    merged: int = 0
    written: int = 0
    rows: int = 0
    leftovers: int = 0

    def __add__(self, other: Compaction) -> Compaction:
        return Compaction(
            self.merged + other.merged,
            self.written + other.written,
            self.rows + other.rows,
            self.leftovers + other.leftovers,
        )


def merge_groups(parts: Sequence[store.Part], target_bytes: int) -> list[list[store.Part]]:
    """One folder's files to merge: those under half the target, in name (time) order, in groups of about the
    target; a file alone is left as it is. A file of half the target or more is done: never rewritten again."""
    small = sorted((part for part in parts if part.size < target_bytes / 2), key=lambda part: part.name)
    groups: list[list[store.Part]] = [[]]
    size = 0
    for part in small:
        if size >= target_bytes:
            groups.append([])
            size = 0
        groups[-1].append(part)
        size += part.size
    return [group for group in groups if len(group) > 1]


def merge(fs: Any, group: Sequence[store.Part]) -> int:
    """Merge one group of a folder's files into one file (written, then the group deleted); its rows."""
    table = store.read_files(fs, group, union=True)
    if table is None:  # pragma: no cover - a group has files
        return 0
    folder = group[0].folder
    store.write_file(fs, f"{folder}/{store.merged_name(part.name for part in group)}", table, [p.name for p in group])
    fs.rm([part.path for part in group])
    return len(table)


def compact(root: str, target_bytes: int) -> Compaction:
    """Merge the small files of every folder of the store (both kinds, every day) into files of about
    `target_bytes`."""
    done = Compaction()
    for kind in store.KINDS:
        listing = store.list_parts(root, kind)
        done += Compaction(leftovers=remove_leftovers(listing))
        by_folder: dict[str, list[store.Part]] = {}
        for part in listing.parts:
            by_folder.setdefault(part.folder, []).append(part)
        for parts in by_folder.values():
            for group in merge_groups(parts, target_bytes):
                done += Compaction(merged=len(group), written=1, rows=merge(listing.fs, group))
    return done


# --- retention -----------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Expired:
    """What `retention` deleted: whole days (one per kind and day) and their files."""

    days: int = 0
    files: int = 0
    kept: int = 0  # days kept


def expire(root: str, days: int, now: datetime) -> Expired:
    """Delete the `date=` folders of both kinds older than `days` days before `now` (the day `days` days ago is
    kept)."""
    fs, base = store.filesystem(root)
    cutoff = (now.astimezone(UTC) - timedelta(days=days)).date()
    removed = files = kept = 0
    for kind in store.KINDS:
        top = f"{base.rstrip('/')}/{kind}"
        try:
            folders = fs.ls(top, detail=False)
        except FileNotFoundError:
            continue
        for folder in sorted(str(path).rstrip("/") for path in folders):
            day = folder_day(folder)
            if day is None:
                continue
            if day >= cutoff:
                kept += 1
                continue
            files += len(fs.find(folder))
            fs.rm(folder, recursive=True)
            removed += 1
    return Expired(removed, files, kept)


def folder_day(folder: str) -> date | None:
    """The day of a `date=YYYY-MM-DD` folder, None for anything else."""
    key, _, value = folder.rpartition("/")[2].partition("=")
    if key != "date":
        return None
    try:
        return date.fromisoformat(value)
    except ValueError:
        return None


# --- erase ---------------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Erasure:
    """What `erase` removed: rows per kind, files rewritten without them and files deleted (all their rows went)."""

    rows: dict[str, int]
    rewritten: int = 0
    deleted: int = 0
    leftovers: int = 0


def stored_ids(ids: Sequence[str], key: str | None) -> list[str]:
    """The values the store may hold for these ids: as sent, and hashed with `key` (store.hash_value) when there
    is one."""
    hashed = [store.hash_value(value, key) for value in ids] if key else []
    return sorted({*ids, *hashed})


def holding(fs: Any, parts: Sequence[store.Part], values: pa.Array) -> list[tuple[store.Part, pa.Table]]:
    """The files holding a row whose `_id` is one of `values`, each with its table (read whole, as written)."""
    found = []
    stores = None if store.is_local(fs) else store.object_stores(fs, [part.path for part in parts])
    for start in range(0, len(parts), 256):
        batch = parts[start : start + 256]
        if store.is_local(fs):
            sources: list[Any] = [part.path for part in batch]
        else:  # one GET each, the bytes kept for the few rewritten
            sources = [pa.BufferReader(pa.py_buffer(blob)) for blob in store.fetch(fs, stores, [p.path for p in batch])]
        for part, source in zip(batch, sources, strict=True):
            if store.ID not in pq.read_schema(source).names:
                continue
            ids = pq.read_table(source, columns=[store.ID])[store.ID]
            if pc.any(pc.is_in(ids.cast(pa.string()), value_set=values)).as_py():
                found.append((part, pq.read_table(source).replace_schema_metadata(None)))
    return found


def erase(root: str, ids: Sequence[str], key: str | None) -> Erasure:
    """Remove every row of these ids from both kinds of the store, every day; each file that holds one is
    rewritten without it (or deleted when nothing is left)."""
    values = pa.array(stored_ids(ids, key), pa.string())
    rows = dict.fromkeys(store.KINDS, 0)
    rewritten = deleted = leftovers = 0
    for kind in store.KINDS:
        listing = store.list_parts(root, kind)
        leftovers += remove_leftovers(listing)
        for part, table in holding(listing.fs, listing.parts, values):
            keep = pc.invert(pc.fill_null(pc.is_in(table[store.ID].cast(pa.string()), value_set=values), False))
            kept = table.filter(keep)
            rows[kind] += len(table) - len(kept)
            if len(kept):
                store.write_file(listing.fs, f"{part.folder}/{store.merged_name([part.name])}", kept, [part.name])
                rewritten += 1
            else:
                deleted += 1
            listing.fs.rm(part.path)
    return Erasure(rows, rewritten, deleted, leftovers)


# --- the commands --------------------------------------------------------------------------------------------


def _store_errors(root: str, exc: OSError) -> ProjectError:
    return ProjectError(f"the monitoring store {root}: {type(exc).__name__}: {exc}")


def compact_command(args: argparse.Namespace) -> int:
    """`compact`: merge the store's small parts into files of about monitor.compact_mb."""
    params = load_params(estimator=False)
    root = args.store or params.monitor.store
    try:
        done = compact(root, int(params.monitor.compact_mb * 2**20))
    except OSError as exc:
        raise _store_errors(root, exc) from None
    print(
        f"compact: {done.merged} files merged into {done.written} ({done.rows} rows) in {root}, files of about "
        f"monitor.compact_mb {params.monitor.compact_mb:g} MB"
        + (f"; {done.leftovers} files an interrupted run left deleted" if done.leftovers else "")
    )
    return 0


def retention_command(args: argparse.Namespace) -> int:
    """`retention`: delete the store's days older than monitor.retention_days."""
    params = load_params(estimator=False)
    root = args.store or params.monitor.store
    days = params.monitor.retention_days
    if days is None:
        print(f"retention: monitor.retention_days is null: everything in {root} is kept")
        return 0
    try:
        done = expire(root, days, datetime.now(UTC))
    except OSError as exc:
        raise _store_errors(root, exc) from None
    print(
        f"retention: {done.days} day folders ({done.files} files) older than {days} days deleted from {root}; "
        f"{done.kept} kept"
    )
    return 0


def erase_command(args: argparse.Namespace) -> int:
    """`erase --id ID ...`: remove these records' rows (predictions and feedback) from the store."""
    params = load_params(estimator=False)
    root = args.store or params.monitor.store
    key = os.environ.get(HASH_KEY_VARIABLE) or None
    if getattr(params.serve, "log_hash_id", False) and key is None:
        raise ProjectError(f"serve.log_hash_id is on: set ${HASH_KEY_VARIABLE} (the service's key) to find the ids")
    ids = [value for value in args.id if value]
    if not ids:
        raise ProjectError("--id: give at least one non-empty id")
    try:
        done = erase(root, ids, key)
    except OSError as exc:
        raise _store_errors(root, exc) from None
    total = sum(done.rows.values())
    print(
        f"erase: {total} rows of {len(ids)} ids removed from {root} ({done.rows[store.PREDICTIONS]} predictions, "
        f"{done.rows[store.FEEDBACK]} feedback): {done.rewritten} files rewritten, {done.deleted} deleted"
        + (" (ids also matched hashed with $MONITOR_HASH_KEY)" if key else "")
    )
    return 0
