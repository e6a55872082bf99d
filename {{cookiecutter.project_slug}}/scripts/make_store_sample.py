"""Write a demo monitoring store: a week of labelled live traffic made from the test split.

    python scripts/make_store_sample.py unshifted   # data/monitor/unshifted/: the test rows as they are
    python scripts/make_store_sample.py shifted     # data/monitor/shifted/: half the features shifted
    python scripts/make_store_sample.py degraded    # data/monitor/degraded/: the test rows, every label wrong

Each store holds, under store.py's layout, the test rows as live predictions of the production model (else
models/model.joblib), under the version the service answers for it, the one `monitor` judges: spread over the last
7 days, float features jittered by 0.1 % so that they are new records, not copies of the source's rows (which
`make dataset` would add as duplicates); each row's label sent as feedback a few hours later; a second copy of a
tenth of the rows under the same ids (a client's retry: counted once); and a few rows of test traffic (`_traffic:
test`), which `monitor` leaves out. `shifted` moves the features as make_drift_sample.py does. Then:

    make monitor STORE=data/monitor/unshifted   # exit 0: no finding
    make monitor STORE=data/monitor/shifted     # exit 1: data drift
    make monitor STORE=data/monitor/degraded    # exit 1: live performance degraded
"""

from __future__ import annotations

import argparse
import shutil
import sys
import tempfile
from datetime import UTC, datetime, timedelta
from pathlib import Path

import numpy as np
import pandas as pd
import pyarrow as pa
from make_drift_sample import make_sample

from {{ cookiecutter.package_name }} import io, store
from {{ cookiecutter.package_name }}.columns import feature_columns
from {{ cookiecutter.package_name }}.errors import ProjectError
from {{ cookiecutter.package_name }}.params import TEST_DATA, Params, load_params
from {{ cookiecutter.package_name }}.records import served_version
from {{ cookiecutter.package_name }}.registry import model_in_use

DAYS = 7
# `degraded`: this share of the labels is wrong. All of them: a labelling bug that inverts every class for a week
# (40 % made the model retrained on them only slightly worse, and the demo's gate passed it on some days).
WRONG_SHARE = 1.0


def wrong_labels(labels: pd.Series, params: Params, rng: np.random.Generator) -> pd.Series:
    """WRONG_SHARE of the labels replaced: another class, or the value moved by three standard deviations."""
    wrong = rng.random(len(labels)) < WRONG_SHARE
    if params.task == "regression":
        return labels.where(~wrong, labels + 3 * labels.std())
    classes = np.asarray(sorted(labels.unique(), key=str), dtype=object)
    shifted = [classes[(list(classes).index(label) + 1) % len(classes)] for label in labels]
    return labels.where(~wrong, pd.Series(shifted, index=labels.index))


def write(root: Path, kind: str, frame: pd.DataFrame, version: str | None = None) -> None:
    """One part per day of store.TS."""
    days = frame[store.TS].str[:10]
    for day in sorted(days.unique()):
        part = frame[(days == day).to_numpy()]
        when = datetime.fromisoformat(part[store.TS].iloc[0])
        store.write_part(str(root), kind, pa.Table.from_pandas(part, preserve_index=False), when, version)


def make_store(kind: str, root: Path, params: Params, now: datetime) -> int:
    """Write the sample store; the number of live records."""
    frame = io.read_table(TEST_DATA)
    features = feature_columns(frame.columns, params.data.target, params.data.id_column)
    sample = make_sample(frame, features, kind == "shifted", params.seed)
    rng = np.random.default_rng(params.seed)
    for name in sample.columns:
        # new records, as like the old as can be: a float of a few values (a scaled 0/1) keeps them (values it never
        # holds would be drift, and the drift check's domain classifier sees them)
        if pd.api.types.is_float_dtype(sample[name]) and sample[name].nunique() > 20:
            sample[name] = sample[name] * (1 + 0.001 * rng.standard_normal(len(sample)))
    rows = len(sample)
    with tempfile.TemporaryDirectory(prefix="production-") as folder:
        in_use = model_in_use(None, Path(folder), params)
        version = served_version(Path(in_use.ref.path).read_bytes(), in_use.contract, in_use.params)
    times = [now - timedelta(days=DAYS) * (1 - (i + 0.5) / rows) for i in range(rows)]
    logged = sample.assign(
        **{
            store.ID: [f"sample-{i}" for i in range(rows)],
            store.TS: [t.isoformat() for t in times],
            store.MODEL_VERSION: version,
            store.PREDICTION: in_use.model.predict(sample[features]),
            store.TRAFFIC: store.LIVE,
            store.UNKNOWN: "",
        }
    )
    if hasattr(in_use.model, "predict_proba"):  # the class probabilities, as the service logs them
        classes = [str(name) for name in in_use.model.classes_]
        probabilities = in_use.model.predict_proba(sample[features])
        logged[store.PROBABILITIES] = [dict(zip(classes, row, strict=True)) for row in probabilities]
    retried = logged.iloc[::10].assign(  # logged again a minute later under the same ids
        **{store.TS: [(t + timedelta(minutes=1)).isoformat() for t in times[::10]]}
    )
    test = logged.head(5).assign(**{store.ID: [f"smoke-{i}" for i in range(5)], store.TRAFFIC: store.TEST})
    labels = frame[params.data.target].reset_index(drop=True)
    if kind == "degraded":
        labels = wrong_labels(labels, params, rng)
    arrived = [t + timedelta(hours=int(rng.integers(1, 12))) for t in times]
    feedback = pd.DataFrame(
        {store.ID: logged[store.ID], store.LABEL: labels, store.TS: [min(t, now).isoformat() for t in arrived]}
    )
    if root.exists():
        shutil.rmtree(root)
    write(root, store.PREDICTIONS, pd.concat([logged, retried, test], ignore_index=True), version)
    write(root, store.FEEDBACK, feedback)
    return rows


def main(argv: list[str] | None = None) -> int:
    """Write the sample store; exit 2 with one line when the pipeline has not run."""
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("kind", choices=["unshifted", "shifted", "degraded"])
    parser.add_argument("--store", type=Path, help="where to write (default: data/monitor/<kind>; replaced)")
    args = parser.parse_args(argv)
    root = args.store or Path("data/monitor") / args.kind
    try:
        rows = make_store(args.kind, root, load_params(), datetime.now(UTC))
    except ProjectError as exc:
        print(f"make_store_sample: error: {exc}", file=sys.stderr)
        return 2
    print(f"make_store_sample: {rows} labelled live records over {DAYS} days ({args.kind}) -> {root}/")
    return 0


if __name__ == "__main__":
    sys.exit(main())
