"""`predict --engine spark`: the run's fragments as Spark tasks, through `mapInPandas`, the model broadcast once.

Each task reads its fragment with the local engine's reader, checks and predicts it with the same Scorer (scoring.py,
unpickled once per executor from the broadcast) and writes the same parts into the run's work folder; the driver
then publishes exactly as the local engine does. So the two engines publish the same rows, rejects and bytes, and
a killed Spark run resumes like a local one. On a cluster every executor must reach the input and the output: use
object-store URLs (s3://, gs://, abfs://; on Databricks also /dbfs/ paths), and install this package on the
executors (its wheel: `uv build`, then `spark-submit --py-files` or a cluster library), as docs/batch.md shows.

Under `spark-submit` or in a Databricks notebook the active session is used; otherwise a session on
`batch.spark_master` (local[2] by default) is started, its Python workers the interpreter running this command.
pyspark is the optional `spark` extra (`make setup SPARK=1`); Java 17 must be installed.
"""

from __future__ import annotations

import json
import os
import sys
import warnings
from collections.abc import Iterator
from typing import Any

import pandas as pd

from ..errors import ProjectError
from ..params import BatchParams
from .run import Counts, Paths
from .scoring import Scorer
from .sources import Fragment, Source, resolve

RESULT_SCHEMA = "key string, rows_in long, scored long, rejected long, reasons string"


def session(master: str) -> Any:
    """The active Spark session, else a new one on `master` whose Python workers run this interpreter."""
    try:
        from pyspark.sql import SparkSession
    except ImportError:
        raise ProjectError("--engine spark needs pyspark: `make setup SPARK=1` (the optional spark extra)") from None
    # PySpark 4.x warns that it does not yet fully support pandas 3: the one path used here (mapInPandas through
    # Arrow) publishes the local engine's bytes (tests/integration/batch, make test-spark).
    warnings.filterwarnings("ignore", "PySpark does not yet fully support pandas", FutureWarning)
    active = SparkSession.getActiveSession()
    if active is not None:
        return active
    os.environ.setdefault("PYSPARK_PYTHON", sys.executable)
    os.environ.setdefault("PYSPARK_DRIVER_PYTHON", sys.executable)
    builder = (
        SparkSession.builder.appName(f"{__name__.split('.')[0]}-predict")
        .master(master)
        .config("spark.ui.enabled", "false")
        .config("spark.ui.showConsoleProgress", "false")
        .config("spark.sql.execution.arrow.pyspark.enabled", "true")
    )
    if master.startswith("local"):  # one machine: the driver listens on loopback only
        os.environ.setdefault("SPARK_LOCAL_IP", "127.0.0.1")
        builder = builder.config("spark.driver.host", "127.0.0.1").config("spark.driver.bindAddress", "127.0.0.1")
    try:
        spark = builder.getOrCreate()
    except Exception as exc:  # the JVM could not start (no Java): one line, not a Java stack trace
        raise ProjectError(
            f"--engine spark: Spark could not start ({str(exc).splitlines()[0][:200]}); is Java 17 installed?"
        ) from None
    spark.sparkContext.setLogLevel("ERROR")
    return spark


def score_on_spark(
    scorer: Scorer,
    input_url: str,
    parts: list[Fragment],
    paths: Paths,
    settings: BatchParams,
    run: str,
    done: set[str],
) -> Counts:
    """Score the fragments not done yet as Spark tasks (one per fragment); the run's counts."""
    from .run import counts_done, score_fragment

    totals = counts_done(paths, parts, done)
    todo = [part for part in parts if part.key not in done]
    if not todo:
        return totals
    spark = session(settings.spark_master)
    context = spark.sparkContext
    model = context.broadcast(scorer)
    by_index = {part.index: part for part in todo}
    batch_rows = settings.batch_rows

    def score_partition(frames: Iterator[pd.DataFrame]) -> Iterator[pd.DataFrame]:
        fs, sources = resolve(input_url)
        task_scorer: Scorer = model.value
        for frame in frames:
            for index in frame["fragment"].tolist():
                part = by_index[int(index)]
                source: Source = sources[part.source]
                counts = score_fragment(task_scorer, fs, source, part, paths, batch_rows, run)
                yield pd.DataFrame(
                    {
                        "key": [part.key],
                        "rows_in": [counts.rows_in],
                        "scored": [counts.scored],
                        "rejected": [counts.rejected],
                        "reasons": [json.dumps(counts.reasons, sort_keys=True)],
                    }
                )

    print(f"predict: {len(todo)} fragment(s) as Spark tasks on {context.master}", flush=True)
    fragments = context.parallelize([(part.index,) for part in todo], numSlices=len(todo)).toDF("fragment long")
    for row in fragments.mapInPandas(score_partition, RESULT_SCHEMA).collect():
        totals.add(Counts(row["rows_in"], row["scored"], row["rejected"], json.loads(row["reasons"])))
    model.destroy()
    return totals
