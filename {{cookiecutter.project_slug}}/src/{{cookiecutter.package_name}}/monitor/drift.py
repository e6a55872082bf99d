"""The `drift` command and its decisions: current data against the reference (the training split), column by column.

The statistics are stats.py's (numeric: KS and PSI on reference-quantile bins; categorical: chi-square, Jensen-Shannon,
new categories; Cramer's V reported, never judged). At large n every tiny change is significant, so a column
drifts only when its p-value, adjusted across all tested columns, is below alpha AND one of its effect
sizes reaches its threshold (params.yaml `drift:`); every effect size judged is independent of n. The
data has drifted when the share of drifted features reaches `drift.share`, or when a domain classifier tells the
current rows from the reference rows (multivariate.py, `drift.multivariate`): a change in how the features go
together, with every column's own distribution unchanged, is drift too and exits 1. Fewer distinct current rows
than `drift.min_rows` is no verdict: "not enough data", exit 0.

The current data is, by default, the live predictions in the monitoring store over `monitor.window`
(traffic.py); the store's own `_` fields are never tested, but its `_prediction` is.
"""

from __future__ import annotations

import argparse
import os
from collections.abc import Mapping, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import replace
from datetime import UTC, datetime
from typing import Any, Literal

import pandas as pd

from .. import io, store
from ..columns import Treatment, dtype_treatment, treatment
from ..contract import Contract, load_contract
from ..errors import DriftInputError, ProjectError
from ..multiple import adjust
from ..params import (
    MODEL_FILE,
    SCHEMA_FILE,
    TEST_DATA,
    TRAIN_DATA,
    DriftParams,
    Params,
    ServeParams,
    load_params,
    window_start,
)
from .drift_report import write_reports
from .drift_result import ColumnDrift, DriftResult, NumericStatistics, RowCounts, Sources, Statistics
from .multivariate import domain_classifier
from .stats import column_statistics
from .traffic import LABEL_TS, LiveRows, latest_per_id, live_predictions

# Never tested: the store's own fields (besides the prediction) and the time a joined label arrived.
LOG_COLUMNS = (*store.LOG_FIELDS, store.LABEL, LABEL_TS)

# What detect() reads of a table: .columns, .dtypes, table[name] and len(table).
Table = pd.DataFrame | io.ParquetColumns | LiveRows

# --- columns and their kinds ---------------------------------------------------------------------


def split_columns(reference: Table, current: Table, non_features: Sequence[str]) -> tuple[list[str], list[str]]:
    """(features, ignored): the columns to test and the columns of either side left out.

    Non-feature columns (target, id, prediction, log fields) may be on one side only; any other
    column must be on both sides, else DriftInputError.
    """
    skip = set(non_features)
    ref_features = [column for column in reference.columns if column not in skip]
    cur_features = {column for column in current.columns if column not in skip}
    only_ref = [column for column in ref_features if column not in cur_features]
    only_cur = sorted(cur_features - set(ref_features))
    if only_ref or only_cur:
        sides = (("reference", only_ref), ("current", only_cur))
        parts = [f"only in {side}: {', '.join(names)}" for side, names in sides if names]
        raise DriftInputError(f"the tables have different columns ({'; '.join(parts)})")
    if not ref_features:
        raise DriftInputError("the tables have no feature column in common")
    ignored = sorted((set(reference.columns) | set(current.columns)) & skip)
    return ref_features, ignored


def contract_kinds(
    contract: Contract | None, columns: Sequence[str], typed_as: Mapping[str, str] | None = None
) -> dict[str, Treatment] | None:
    """Kinds from the data contract when it lists every column, else None (then infer from the data).

    `typed_as` maps a column the contract does not list to one it does (the prediction to the target).
    """
    typed_as = typed_as or {}
    if contract is None or not {typed_as.get(name, name) for name in columns} <= set(contract.names):
        return None
    kinds: dict[str, Treatment] = {}
    for name in columns:
        spec = contract.column(typed_as.get(name, name))
        kinds[name] = treatment(spec.kind, spec.categories)
    return kinds


# --- decisions -----------------------------------------------------------------------------------


def limits(settings: DriftParams) -> dict[str, float]:
    """The configured threshold of each effect size judged (Cramer's V is reported, never judged: it shrinks as the
    sample sizes grow apart)."""
    return {
        "ks_statistic": settings.ks_statistic,
        "psi": settings.psi,
        "js_distance": settings.js_distance,
        "new_category_share": settings.new_category_share,
    }


def effects(statistics: Statistics) -> dict[str, float]:
    """The effect sizes judged, by name."""
    if isinstance(statistics, NumericStatistics):
        return {"ks_statistic": statistics.ks_statistic, "psi": statistics.psi}
    return {"js_distance": statistics.js_distance, "new_category_share": statistics.new_category_share}


def thresholds(statistics: Statistics, settings: DriftParams) -> dict[str, float]:
    """Each effect size's threshold at the column's sample sizes: the configured one, or what the effect size
    reaches by chance alone at these sizes (its null quantile, calibration.py) where that is larger."""
    configured = limits(settings)
    return {name: max(configured[name], statistics.null_quantiles.get(name, 0.0)) for name in effects(statistics)}


def judged(name: str, statistics: Statistics, p_adjusted: float, settings: DriftParams) -> ColumnDrift:
    """A column's verdict: its adjusted p-value below alpha and an effect size at its threshold at its n."""
    bars = thresholds(statistics, settings)
    severity = max(value / bars[effect] for effect, value in effects(statistics).items())
    drift = bool(p_adjusted < settings.alpha and severity >= 1.0)
    return ColumnDrift(name, statistics, p_adjusted, severity, drift, bars)


def not_enough_data(reference: Table, current: Table, settings: DriftParams) -> DriftResult:
    """The result when the current data has fewer distinct rows than settings.min_rows: no verdict."""
    return DriftResult(
        verdict="not enough data",
        drift=False,
        dataset_drift=False,
        share_drifted=0.0,
        drifted_features=(),
        features={},
        target=None,
        prediction=None,
        ignored_columns=(),
        rows=RowCounts(len(reference), len(current)),
        types_from="",
        settings=settings,
    )


def detect(
    reference: Table,
    current: Table,
    settings: DriftParams,
    *,
    target: str | None = None,
    id_column: str | None = None,
    contract: Contract | None = None,
    reference_predictions: pd.Series | None = None,
) -> DriftResult:
    """Compare two tables column by column; the verdicts and statistics.

    Column kinds come from the data contract when it lists every tested column (the prediction is
    typed as the target), else from the reference's dtypes. `reference_predictions` stands in for a
    prediction column that only the current table has. `current` holds one row per record (count
    repeats once first: traffic.latest_per_id); fewer rows than settings.min_rows is "not enough data"
    (different columns are an error whatever the count, but an empty table has no columns to compare).
    """
    if not len(current):
        return not_enough_data(reference, current, settings)
    prediction = settings.prediction_column
    roles = {name: role for name, role in ((target, "target"), (prediction, "prediction")) if name}
    non_features = [*roles, *LOG_COLUMNS, *settings.ignore_columns, *([id_column] if id_column else [])]
    features, ignored = split_columns(reference, current, non_features)
    if len(current) < settings.min_rows:
        return not_enough_data(reference, current, settings)
    stand_ins = {}
    if reference_predictions is not None and prediction not in reference.columns:
        stand_ins[prediction] = reference_predictions
    extra = [name for name in roles if name in current.columns and (name in reference.columns or name in stand_ins)]
    tested = features + extra
    kinds = contract_kinds(contract, tested, {prediction: target} if target else None)
    types_from: Literal["data", "contract"] = "data" if kinds is None else "contract"

    def dtype(name: str) -> Any:
        return stand_ins[name].dtype if name in stand_ins else reference.dtypes[name]

    kinds = kinds or {name: dtype_treatment(dtype(name)) for name in tested}

    def statistics(name: str) -> Statistics:
        ref = stand_ins[name] if name in stand_ins else reference[name]
        return column_statistics(ref, current[name], kinds[name], settings.bins, settings.alpha, limits(settings))

    if max(len(reference), len(current)) < 50_000:  # threads pay off only where sorting a large side dominates
        results = [statistics(name) for name in tested]
    else:
        # numpy's sorts release the GIL: cores + 1 threads keep all busy, at most 4 (each holds ~100 bytes a row)
        with ThreadPoolExecutor(max_workers=min(len(tested), (os.cpu_count() or 1) + 1, 4)) as pool:
            results = list(pool.map(statistics, tested))
    adjusted = adjust([result.p_value for result in results], settings.correction)
    columns = {
        name: judged(name, result, float(p_adjusted), settings)
        for name, result, p_adjusted in zip(tested, results, adjusted, strict=True)
    }
    drifted = sorted((n for n in features if columns[n].drift), key=lambda n: -columns[n].severity)
    share = len(drifted) / len(features)
    by_role = {role: columns.get(name) for name, role in roles.items()}
    multivariate = None
    if settings.multivariate:
        inputs = {name: kinds[name] for name in features}
        multivariate = domain_classifier(
            reference, current, features, inputs, settings.alpha, settings.multivariate_auc
        )
    dataset_drift = share >= settings.share
    roles_drift = any(entry and entry.drift for entry in by_role.values())
    drift = bool(dataset_drift or roles_drift or (multivariate and multivariate.drifted))
    return DriftResult(
        verdict="drift found" if drift else "no drift",
        drift=drift,
        dataset_drift=dataset_drift,
        share_drifted=share,
        drifted_features=tuple(drifted),
        features={name: columns[name] for name in features},
        target=by_role.get("target"),
        prediction=by_role.get("prediction"),
        ignored_columns=tuple(name for name in ignored if name not in extra),
        rows=RowCounts(len(reference), len(current)),
        types_from=types_from,
        settings=settings,
        multivariate=multivariate,
    )


# --- the command ---------------------------------------------------------------------------------


def load_contract_if_any() -> Contract | None:
    """The data contract if schema.yaml exists (a broken one is an error), else None."""
    if not SCHEMA_FILE.is_file():
        return None
    return load_contract(SCHEMA_FILE)


def model_predictions(model: Any, frame: pd.DataFrame, column: str) -> pd.Series:
    """The fitted pipeline's predictions on the rows of `frame`, as the column `column`."""
    try:
        features = frame[list(model.feature_names_in_)]
    except (AttributeError, KeyError) as exc:
        raise ProjectError(f"{MODEL_FILE} cannot score these rows: {exc}") from None
    return pd.Series(model.predict(features), name=column, index=frame.index)


def private_columns(serve: ServeParams) -> dict[str, str]:
    """Model inputs the inference log keeps no comparable value of, and why: personal data it drops or hashes.
    The store's rows are compared without them (drift, monitor) and `dataset` writes them as missing."""
    private = dict.fromkeys(serve.log_drop_columns, "left out of the inference log (serve.log_drop_columns)")
    return private | dict.fromkeys(serve.log_hash_columns, "hashed in the inference log (serve.log_hash_columns)")


def without(settings: DriftParams, private: Mapping[str, str]) -> DriftParams:
    """The drift settings with the private columns ignored too."""
    return settings.model_copy(update={"ignore_columns": (*settings.ignore_columns, *private)})


def current_data(args: argparse.Namespace, params: Params) -> tuple[Table, str]:
    """The current data, one row per id: --current (a table, glob or URL), else drift.current, else the
    store's live predictions over --since or monitor.window; and a description of where it came from."""
    source = args.current or params.drift.current
    if source is None:
        now = datetime.now(UTC)
        since = window_start(args.since or params.monitor.window, now)
        rows = live_predictions(params.monitor.store, since, now).rows
        return rows, f"{params.monitor.store} (live predictions since {since:%Y-%m-%d %H:%M} UTC)"
    frame = io.read_columns(source)
    key = next((name for name in (store.ID, params.data.id_column) if name and name in frame.columns), None)
    if key is not None:  # a record logged twice counts once
        table = frame if isinstance(frame, pd.DataFrame) else io.read_records(source)
        frame = latest_per_id(table, key)
    return frame, str(source)


def summary(result: DriftResult, params: Params) -> str:
    """The command's one-line verdict."""
    if result.verdict == "not enough data":
        return (
            f"not enough data: {result.rows.current} distinct current rows, fewer than drift.min_rows "
            f"{params.drift.min_rows}; no verdict"
        )
    roles = "".join(f"; the {role} {'drifted' if entry.drift else 'did not drift'}" for role, entry in result.roles())
    if result.multivariate is not None:  # before the roles: the data's verdicts first
        found = result.multivariate
        roles = f"; multivariate AUC {found.auc:.3f} ({'drifted' if found.drifted else 'no drift'})" + roles
    return (
        f"{result.verdict}: {len(result.drifted_features)} of {len(result.features)} features drifted "
        f"({result.share_drifted:.0%}, threshold {params.drift.share:.0%}){roles}"
    )


def drift_command(args: argparse.Namespace) -> int:
    """`drift`: reference vs current -> reports/drift.json, drift.md, drift/<feature>.png; exit 1 on drift."""
    params = load_params(estimator=False)
    reference = io.read_columns(str(args.reference or TRAIN_DATA))
    if not len(reference):
        raise ProjectError(f"{args.reference or TRAIN_DATA}: the reference data has no rows")
    current, described = current_data(args, params)
    sources = Sources(reference=str(args.reference or TRAIN_DATA), current=described)
    prediction = params.drift.prediction_column
    predictions = None
    if (  # the training data has no predictions: the logged ones are compared with the model's on the
        # test split. Out-of-sample, as production's are: on its own training rows a model predicts more
        # sharply than it ever will live, which would look like drift.
        args.reference is None
        and prediction in current.columns
        and prediction not in reference.columns
        and MODEL_FILE.is_file()
        and TEST_DATA.is_file()
    ):
        predictions = model_predictions(io.load_model(MODEL_FILE), io.read_table(TEST_DATA), prediction)
        sources = replace(sources, prediction_model=str(MODEL_FILE), prediction_rows=str(TEST_DATA))
    from_store = args.current is None and params.drift.current is None
    private = private_columns(params.serve) if from_store else {}
    result = detect(
        reference,
        current,
        without(params.drift, private),
        target=params.data.target,
        id_column=params.data.id_column,
        contract=load_contract_if_any(),
        reference_predictions=predictions,
    )
    result = replace(result, sources=sources, non_features=private)
    paths = write_reports(result)
    print(f"drift: {summary(result, params)} -> {', '.join(map(str, paths))}")
    return 1 if result.drift else 0
