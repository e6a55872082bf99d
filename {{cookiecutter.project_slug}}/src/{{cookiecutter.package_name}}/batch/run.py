"""A batch scoring run's files: its work folder, each fragment's parts, and the publication of the result.

Nothing of a run is visible at the output paths until every fragment is done and the reject share is within
`batch.max_reject_share`. Until then the run works in `<stem>.partial/` beside the output:
- `run.json`: the run's id (a hash of the input files' sha256s, the model's sha256, its contract and params, and
  the reading settings: the same inputs give the same id, so a rerun resumes, and anything else starts afresh);
- per fragment `scored/<key>.parquet` and `rejected/<key>.parquet`, then `done/<key>.json` (its counts): a
  fragment is done when its counts exist, so a run killed mid-fragment redoes that fragment only.
Publishing merges the parts in fragment order into `<stem>.parquet` and `<stem>.rejected.parquet` (written beside
them, then moved into place), writes `<stem>.manifest.json` last (a reader trusts an output only with its
manifest: an older manifest is deleted first), and deletes the work folder. The parts are the same bytes on every
run and engine, and so are the published files.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Callable, Iterable, Mapping
from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime
from typing import Any

import pyarrow as pa
import pyarrow.parquet as pq

from .. import store
from ..errors import ProjectError
from ..io import filesystem
from .scoring import Scorer
from .sources import Fragment, Source, read_fragment, sha256_of

OUTPUT_SUFFIX = ".parquet"


@dataclass
class Counts:
    """Rows read, scored and rejected (by reason code), of a fragment or of a whole run."""

    rows_in: int = 0
    scored: int = 0
    rejected: int = 0
    reasons: dict[str, int] = field(default_factory=dict)

    def add(self, other: Counts) -> None:
        """Add another fragment's counts to these."""
        self.rows_in += other.rows_in
        self.scored += other.scored
        self.rejected += other.rejected
        for code, count in other.reasons.items():
            self.reasons[code] = self.reasons.get(code, 0) + count

    def check(self) -> None:
        """rows in = scored + rejected, or a bug: a row was lost or counted twice."""
        if self.rows_in != self.scored + self.rejected:
            raise AssertionError(f"rows in {self.rows_in} != scored {self.scored} + rejected {self.rejected}")

    @property
    def reject_share(self) -> float:
        """The share of rows rejected (0 for no rows)."""
        return self.rejected / self.rows_in if self.rows_in else 0.0


@dataclass(frozen=True)
class Paths:
    """Where a run writes: its output, the rejected rows, the manifest and the work folder, on one file system."""

    fs: Any
    output: str
    rejected: str
    manifest: str
    work: str

    @classmethod
    def of(cls, url: str) -> Paths:
        """The paths of `--output url` (it must end in .parquet)."""
        fs, path = filesystem(url)
        if not path.endswith(OUTPUT_SUFFIX):
            raise ProjectError(f"--output {url}: the output is a Parquet file: name it <something>{OUTPUT_SUFFIX}")
        stem = path[: -len(OUTPUT_SUFFIX)]
        return cls(fs, path, f"{stem}.rejected{OUTPUT_SUFFIX}", f"{stem}.manifest.json", f"{stem}.partial")

    def part(self, kind: str, key: str) -> str:
        """A fragment's part: kind is scored, rejected, logged (`--log`) or done."""
        return f"{self.work}/{kind}/{key}.{'json' if kind == 'done' else 'parquet'}"


def run_id(inputs: Iterable[str], identity: Mapping[str, Any]) -> str:
    """The run's id: a hash of the input files' sha256s and of what else decides its bytes."""
    payload = json.dumps({"inputs": list(inputs), **identity}, sort_keys=True).encode()
    return hashlib.sha256(payload).hexdigest()[:16]


def prepare(paths: Paths, identity: str, engine: str, started: datetime) -> set[str]:
    """Make the work folder for run `identity` (started now: `started`); the keys of the fragments a previous try
    of the same run finished (resumed: its start is kept, run_started), none when the folder was another run's
    (deleted)."""
    fs = paths.fs
    marker = f"{paths.work}/run.json"
    if fs.exists(marker):
        previous = json.loads(fs.cat_file(marker))
        if previous.get("run_id") == identity:
            return {name.rsplit("/", 1)[-1].removesuffix(".json") for name in fs.glob(f"{paths.work}/done/*.json")}
    if fs.exists(paths.work):
        fs.rm(paths.work, recursive=True)
    for kind in ("scored", "rejected", "logged", "done"):
        fs.makedirs(f"{paths.work}/{kind}", exist_ok=True)
    put(fs, marker, json.dumps({"run_id": identity, "engine": engine, "started": started.isoformat()}).encode())
    return set()


def run_started(paths: Paths, now: datetime) -> datetime:
    """When the run's first try started (its logged rows' `_ts`, the same on every try); `now` for a work folder of
    an older template, which did not record it."""
    recorded = json.loads(paths.fs.cat_file(f"{paths.work}/run.json")).get("started")
    return datetime.fromisoformat(recorded) if recorded else now


def log_parts(
    paths: Paths, keys: Iterable[str], root: str, model_version: str, when: datetime, run: str
) -> dict[str, Any]:
    """`--log`: each fragment's logged part into the monitoring store (`root`), in the predictions folder of the
    run's day and model version, named by the run's start, its id and the fragment's place: a retry rewrites the
    same files, never doubles a row. What was logged, for the manifest."""
    fs, base = store.filesystem(root)
    folder = f"{base.rstrip('/')}/{store.partition(store.PREDICTIONS, when.astimezone(UTC).date(), model_version)}"
    rows = parts = 0
    for index, key in enumerate(keys):
        with paths.fs.open(paths.part("logged", key), "rb") as stream:
            table = pq.read_table(stream)
        if table.num_rows:
            name = f"part-{when.astimezone(UTC):%Y%m%dT%H%M%S%f}-{run[:8]}_{index:05d}.parquet"
            store.write_file(fs, f"{folder}/{name}", table)
            rows, parts = rows + table.num_rows, parts + 1
    return {"store": root, "rows": rows, "parts": parts, "traffic": store.BATCH}


def put(fs: Any, path: str, data: bytes) -> None:
    """Write a small file whole or not at all: beside it first, then renamed (a kill leaves no half a marker; an
    object store's PUT is whole anyway)."""
    fs.pipe_file(f"{path}.tmp", data)
    fs.mv(f"{path}.tmp", path)


def finished(paths: Paths, key: str) -> Counts:
    """The counts of a finished fragment."""
    return Counts(**json.loads(paths.fs.cat_file(paths.part("done", key))))


def counts_done(paths: Paths, parts: Iterable[Fragment], done: set[str]) -> Counts:
    """The counts of the fragments an earlier try of the run finished (a resumed run starts from them)."""
    totals = Counts()
    for part in parts:
        if part.key in done:
            totals.add(finished(paths, part.key))
    return totals


def mark_done(paths: Paths, key: str, counts: Counts) -> None:
    """Record a fragment as finished (after its parts are written)."""
    put(paths.fs, paths.part("done", key), json.dumps(asdict(counts), sort_keys=True).encode())


class PartWriter:
    """One fragment's scored or rejected part, written batch by batch (an empty part still has its schema)."""

    def __init__(self, fs: Any, path: str, schema: pa.Schema) -> None:
        self.stream = fs.open(path, "wb")
        self.writer = pq.ParquetWriter(self.stream, schema)

    def write(self, table: pa.Table) -> None:
        """Append rows."""
        if table.num_rows:
            self.writer.write_table(table)

    def close(self) -> None:
        """Finish the file."""
        self.writer.close()
        self.stream.close()


def merge(paths: Paths, kind: str, keys: Iterable[str], target: str, schema: pa.Schema) -> str:
    """Write the parts of `kind` in order to `target` (beside it first, then moved); the sha256 of its bytes."""
    fs = paths.fs
    temporary = f"{target}.{kind}.tmp"
    with fs.open(temporary, "wb") as stream:
        writer = pq.ParquetWriter(stream, schema)
        for key in keys:
            with fs.open(paths.part(kind, key), "rb") as part:
                for group in range(pq.ParquetFile(part).num_row_groups):
                    part.seek(0)
                    writer.write_table(pq.ParquetFile(part).read_row_group(group))
        writer.close()
    digest = sha256_of(fs, temporary)
    fs.mv(temporary, target)
    return digest


def publish(
    paths: Paths,
    keys: list[str],
    schemas: tuple[pa.Schema, pa.Schema],
    manifest: dict[str, Any],
    log: Callable[[], dict[str, Any]] | None = None,
) -> dict[str, Any]:
    """Merge the parts into the output and the rejected file, then (`--log`) write the logged parts to the
    monitoring store, write the manifest last, delete the work folder; the manifest as written. A failure before
    the manifest leaves the work folder: the same run, started again, publishes the same bytes and logs the same
    parts under the same names (rewritten, never doubled)."""
    fs = paths.fs
    if fs.exists(paths.manifest):
        fs.rm(paths.manifest)  # an older run's manifest never describes this run's files
    output_sha = merge(paths, "scored", keys, paths.output, schemas[0])
    rejected_sha = merge(paths, "rejected", keys, paths.rejected, schemas[1])
    manifest = manifest | {"output_sha256": output_sha, "rejected_sha256": rejected_sha}
    if log is not None:
        manifest["logged"] = log()
    fs.pipe_file(f"{paths.manifest}.tmp", (json.dumps(manifest, indent=2) + "\n").encode())
    fs.mv(f"{paths.manifest}.tmp", paths.manifest)
    fs.rm(paths.work, recursive=True)
    return manifest


def score_fragment(
    scorer: Scorer,
    fs: Any,
    source: Source,
    fragment: Fragment,
    paths: Paths,
    batch_rows: int,
    run: str,
    on_rows: Callable[[int], None] | None = None,
) -> Counts:
    """Read, check and predict one fragment into its parts (the local engine's threads and Spark's tasks alike); its
    counts, recorded once its parts are written: the fragment is done. `on_rows`: told the rows of each batch."""
    counts = Counts()
    scored = PartWriter(paths.fs, paths.part("scored", fragment.key), scorer.output_schema())
    rejected = PartWriter(paths.fs, paths.part("rejected", fragment.key), scorer.rejected_schema())
    logged = (
        None if scorer.log is None else PartWriter(paths.fs, paths.part("logged", fragment.key), scorer.logged_schema())
    )
    for raw in read_fragment(fs, source, fragment, scorer.input_columns, batch_rows):
        outcome = scorer.score(raw, source.url, source.name, run)
        scored.write(outcome.scored)
        rejected.write(outcome.rejected)
        if logged is not None and outcome.logged is not None:
            logged.write(outcome.logged)
        rows = len(raw.rows) + len(raw.malformed)
        counts.add(Counts(rows, outcome.scored.num_rows, outcome.rejected.num_rows, _reasons(outcome.rejected)))
        if on_rows is not None:
            on_rows(rows)
    scored.close()
    rejected.close()
    if logged is not None:
        logged.close()
    counts.check()
    mark_done(paths, fragment.key, counts)
    return counts


def _reasons(rejected: pa.Table) -> dict[str, int]:
    """Rejected rows per reason code."""
    codes = rejected.column("reason_code").to_pylist()
    return {code: codes.count(code) for code in sorted(set(codes))}
