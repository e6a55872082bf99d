"""Write a demo sample of "production" data for the drift check, from the test split.

    python scripts/make_drift_sample.py unshifted   # data/drift/unshifted.jsonl: the test rows as they are
    python scripts/make_drift_sample.py shifted     # data/drift/shifted.jsonl: half the features shifted

The sample looks like the service's inference logs (JSON lines: the feature columns, and the model's
`prediction` once `make pipeline` has trained one). In `shifted`, every other numeric feature moves by
one reference standard deviation and every other categorical feature has half its rows moved to its
rarest category; the rest is untouched. Then:

    make drift CURRENT=data/drift/unshifted.jsonl   # exit 0: no drift
    make drift CURRENT=data/drift/shifted.jsonl     # exit 1: drift found, see reports/drift.md
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

import numpy as np
import pandas as pd

from {{ cookiecutter.package_name }} import io
from {{ cookiecutter.package_name }}.columns import feature_columns
from {{ cookiecutter.package_name }}.errors import ProjectError
from {{ cookiecutter.package_name }}.monitor.drift import model_predictions
from {{ cookiecutter.package_name }}.params import MODEL_FILE, TEST_DATA, load_params


def make_sample(frame: pd.DataFrame, features: list[str], shifted: bool, seed: int) -> pd.DataFrame:
    """The feature columns of `frame`; with `shifted`, every other feature moved (see the module doc)."""
    sample = frame[features].copy()
    if not shifted:
        return sample
    rng = np.random.default_rng(seed)
    for name in features[::2]:
        column = sample[name]
        if pd.api.types.is_numeric_dtype(column) and not pd.api.types.is_bool_dtype(column):
            sample[name] = column.astype("float64") + column.std()
        else:
            rarest = column.value_counts().index[-1]
            moved = rng.random(len(sample)) < 0.5
            sample[name] = column.where(~moved, rarest)
    return sample


def main(argv: list[str] | None = None) -> int:
    """Write the sample; exit 2 with one line when the pipeline has not run."""
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("kind", choices=["shifted", "unshifted"])
    parser.add_argument("--output", type=Path, help="where to write (default: data/drift/<kind>.jsonl)")
    args = parser.parse_args(argv)
    output = args.output or Path("data/drift") / f"{args.kind}.jsonl"
    try:
        params = load_params()
        frame = io.read_table(TEST_DATA)
        features = feature_columns(frame.columns, params.data.target, params.data.id_column)
        sample = make_sample(frame, features, args.kind == "shifted", params.seed)
        if MODEL_FILE.is_file():  # what the service would have predicted, and logged, for these rows
            column = params.drift.prediction_column
            sample[column] = model_predictions(io.load_model(MODEL_FILE), sample, column)
        if output.suffix in (".jsonl", ".ndjson"):
            # json.dumps writes floats that read back exactly (pandas' to_json keeps 15 digits at most)
            records = sample.astype(object).where(sample.notna(), None).to_dict(orient="records")
            io.write_text("".join(json.dumps(record) + "\n" for record in records), output)
        else:
            io.write_table(sample, output)  # .parquet or .csv
    except ProjectError as exc:
        print(f"make_drift_sample: error: {exc}", file=sys.stderr)
        return 2
    print(f"make_drift_sample: {len(sample)} rows ({args.kind}) -> {output}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
