"""The `predict` command: score files of records with the production model, streaming, and publish all or nothing.

`predict --input PATH|GLOB|URL --output Y.parquet [--engine local|spark] [--model PATH] [--log]`:
1. the model: `--model PATH`, else the production model (GTO model#prod, with the contract and params of its
   commit), else the workspace's models/model.joblib;
2. the input's files (sources.py) hashed, cut into fragments; the run's id from both (run.py);
3. each fragment read in record batches, checked by the service's rules and predicted (scoring.py), its parts
   written to the work folder: one after the other here, or as Spark tasks (`--engine spark`, spark.py);
4. past `batch.max_reject_share` rejected rows: exit 1 and nothing published (the work folder stays, with the
   rejected rows to look at); else the output, the rejected rows and the manifest published (exit 0);
5. `--log`: before the manifest, the scored rows written to the monitoring store (monitor.store) as the service
   logs predictions, marked `_traffic: batch` (run.log_parts), so that `monitor` covers batch traffic too.
A killed run, started again with the same inputs, skips the fragments it finished and publishes the same bytes.
Progress: a bar on a terminal, else a line every `batch.progress_seconds`.
"""

from __future__ import annotations

import argparse
import hashlib
import os
import sys
import tempfile
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from dataclasses import replace
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from ..errors import ProjectError
from ..params import BatchParams, ServeParams, load_params
from ..records import IdColumn, served_version
from ..registry import ModelInUse, model_in_use
from ..store import hash_key
from .run import Counts, Paths, counts_done, log_parts, prepare, publish, run_id, run_started, score_fragment
from .scoring import LogRules, Scorer
from .sources import Fragment, Source, fragments, resolve, sha256_of


def scorer_of(chosen: ModelInUse) -> Scorer:
    """The model with its record rules and version (the service's version of the same model and settings)."""
    params = chosen.params
    features = chosen.contract.feature_specs(params.data.id_column)
    names = [str(name) for name in getattr(chosen.model, "feature_names_in_", [])]
    if names and sorted(names) != sorted(spec.name for spec in features):
        raise ProjectError(f"the model's inputs {sorted(names)} are not the features of its schema.yaml")
    id_column = IdColumn.of(chosen.contract, params.data.id_column)
    version = served_version(Path(chosen.ref.path).read_bytes(), chosen.contract, params)
    return Scorer(chosen.model, features, id_column, params.serve, version)


class Progress:
    """Rows done so far: a tqdm bar on a terminal, else one line every `seconds`."""

    def __init__(self, total: int | None, seconds: float, done: int = 0) -> None:
        self.total, self.seconds, self.done = total, seconds, done
        self.start = self.last = time.monotonic()
        self.bar: Any = None
        self.lock = threading.Lock()
        if sys.stderr.isatty():
            from tqdm import tqdm

            self.bar = tqdm(total=total, initial=done, unit="rows", unit_scale=True, desc="predict", file=sys.stderr)

    def update(self, rows: int) -> None:
        """Count more rows done (from any of the scoring threads)."""
        with self.lock:
            self._update(rows)

    def _update(self, rows: int) -> None:
        self.done += rows
        if self.bar is not None:
            self.bar.update(rows)
            return
        now = time.monotonic()
        if now - self.last >= self.seconds:
            self.last = now
            rate = self.done / max(now - self.start, 1e-9)
            of = f" of {self.total:,} ({self.done / self.total:.0%})" if self.total else ""
            eta = f", about {(self.total - self.done) / rate:.0f} s to go" if self.total and rate else ""
            print(f"predict: {self.done:,} rows{of}, {rate:,.0f} rows/s{eta}", file=sys.stderr, flush=True)

    def close(self) -> None:
        """End the bar."""
        if self.bar is not None:
            self.bar.close()


def predict_command(args: argparse.Namespace) -> int:
    """`predict`: score --input into --output (exit 1: too many rejected rows, nothing published)."""
    started = datetime.now(UTC)
    clock = time.monotonic()
    params = load_params(estimator=False)
    settings = params.batch
    paths = Paths.of(args.output)
    with tempfile.TemporaryDirectory(prefix="predict-") as folder:
        chosen = model_in_use(args.model, Path(folder), params)
        scorer = scorer_of(chosen)
        fs, sources = resolve(args.input)
        print(f"predict: {len(sources)} input file(s), model {scorer.model_version} ({chosen.ref.source})", flush=True)
        hashes = [sha256_of(fs, source.path) for source in sources]
        parts = fragments(fs, sources, settings.fragment_rows)
        identity = {
            "model_sha256": chosen.ref.sha256,
            "params_sha256": chosen.params_sha256,
            "batch_rows": settings.batch_rows,
            "fragment_rows": settings.fragment_rows,
        } | ({"log": True} if args.log else {})
        run = run_id(hashes, identity)
        done = prepare(paths, run, args.engine, started)
        first_started = run_started(paths, started)
        if args.log:
            scorer = replace(scorer, log=log_rules(chosen.params.serve, first_started))
        if done:
            print(f"predict: resuming run {run}: {len(done)} of {len(parts)} fragment(s) already scored", flush=True)
        if args.engine == "spark":
            from .spark import score_on_spark

            totals = score_on_spark(scorer, args.input, parts, paths, settings, run, done)
        else:
            totals = score_locally(scorer, fs, sources, parts, paths, settings, run, done)
    totals.check()
    seconds = time.monotonic() - clock
    summary = (
        f"{totals.rows_in:,} rows in, {totals.scored:,} scored, {totals.rejected:,} rejected "
        f"({totals.reject_share:.2%}{', ' + _reason_text(totals) if totals.rejected else ''})"
    )
    if totals.reject_share > settings.max_reject_share:
        print(
            f"predict: {summary}: over batch.max_reject_share {settings.max_reject_share:.2%}, nothing published; "
            f"the rejected rows are in {paths.work}/rejected/",
            file=sys.stderr,
        )
        return 1
    manifest = {
        "rows_in": totals.rows_in,
        "scored": totals.scored,
        "rejected": totals.rejected,
        "rejected_by_reason": totals.reasons,
        "model_version": scorer.model_version,
        "model_sha256": chosen.ref.sha256,
        "model_source": chosen.ref.source,
        "params_sha256": chosen.params_sha256,
        "input_sha256": hashlib.sha256("".join(hashes).encode()).hexdigest(),
        "inputs": [{"url": source.url, "sha256": sha} for source, sha in zip(sources, hashes, strict=True)],
        "output": args.output,
        "run_id": run,
        "engine": args.engine,
        "started": started.isoformat(),
        "seconds": round(seconds, 3),
        "rows_per_second": round(totals.rows_in / seconds, 1) if seconds else None,
    }
    keys = [part.key for part in parts]
    log = None
    if args.log:
        root = args.store or params.monitor.store

        def log() -> dict[str, Any]:
            return log_parts(paths, keys, root, scorer.model_version, first_started, run)

    written = publish(paths, keys, (scorer.output_schema(), scorer.rejected_schema()), manifest, log)
    print(f"predict: {summary} in {seconds:.1f} s -> {args.output}, its rejected rows and manifest beside it")
    if "logged" in written:
        rows, root = written["logged"]["rows"], written["logged"]["store"]
        print(f"predict: {rows:,} predictions logged to the monitoring store {root} (_traffic: batch)")
    return 0


def log_rules(serve: ServeParams, started: datetime) -> LogRules:
    """`--log`: the run's time and the serve settings' personal-data rules (the service's), with their key."""
    key = hash_key(serve.log_hash_columns, serve.log_hash_id)
    return LogRules(
        started.isoformat(), tuple(serve.log_drop_columns), tuple(serve.log_hash_columns), key, serve.log_hash_id
    )


def score_locally(
    scorer: Scorer,
    fs: Any,
    sources: list[Source],
    parts: list[Fragment],
    paths: Paths,
    settings: BatchParams,
    run: str,
    done: set[str],
) -> Counts:
    """Every fragment not done yet, `batch.workers` at a time in threads of this process (reading, Arrow, numpy and
    the Parquet writer release the GIL; each fragment writes parts of its own, so the output is the same bytes with
    any number of workers); the run's counts."""
    totals = counts_done(paths, parts, done)
    known = [part.rows for part in parts]
    total = sum(rows for rows in known if rows is not None) if all(rows is not None for rows in known) else None
    progress = Progress(total, settings.progress_seconds, totals.rows_in)
    todo = [part for part in parts if part.key not in done]
    workers = min(settings.workers or os.cpu_count() or 1, max(len(todo), 1))
    pool = ThreadPoolExecutor(max_workers=workers, thread_name_prefix="predict")
    try:
        futures = [
            pool.submit(
                score_fragment, scorer, fs, sources[part.source], part, paths, settings.batch_rows, run, progress.update
            )
            for part in todo
        ]
        for future in futures:
            totals.add(future.result())
    finally:
        pool.shutdown(cancel_futures=True)  # an error: the fragments not started are not
        progress.close()
    return totals


def _reason_text(counts: Counts) -> str:
    """The reasons of the rejected rows, most frequent first."""
    ranked = sorted(counts.reasons.items(), key=lambda item: (-item[1], item[0]))
    return ", ".join(f"{code} {count:,}" for code, count in ranked)
