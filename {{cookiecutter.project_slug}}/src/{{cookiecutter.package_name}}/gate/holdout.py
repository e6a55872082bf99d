"""The holdout both models are scored on: the challenger's test rows that the champion never trained on.

With a seeded split, refreshed data reshuffles which rows are held out, so most new test rows may be in
the champion's training split: its score there is inflated and an honest retrain looks worse. Rows are
matched by `data.id_column` when the data has one, else by a hash of the columns both tables share.
When the challenger's data lacks columns the champion was trained on, the champion is scored on its own test rows
(the holdout's rows found there, the same way): never on columns filled with imputed values.
"""

from __future__ import annotations

from dataclasses import dataclass

import pandas as pd


@dataclass(frozen=True)
class Unseen:
    """Which test rows the champion never trained on, and how they were matched."""

    mask: pd.Series
    matched_by: str

    @property
    def excluded(self) -> int:
        """Test rows left out because the champion trained on them."""
        return int((~self.mask).sum())


@dataclass(frozen=True)
class OwnRows:
    """The holdout rows found in the champion's own test split, with the champion's columns for them."""

    mask: pd.Series  # over the holdout: the rows found
    features: pd.DataFrame  # the champion's test rows for them, in holdout order
    matched_by: str


def _row_keys(frame: pd.DataFrame, columns: list[str]) -> pd.Series:
    return pd.util.hash_pandas_object(frame[columns], index=False)


def rows_in_champion_test(holdout: pd.DataFrame, champion_test: pd.DataFrame, id_column: str | None) -> OwnRows:
    """Find the holdout's rows in the champion's own test split: by the id column when both have it, else by a hash
    of the columns both have. The champion is then scored on all of its own columns, never on imputed ones. A key
    that several of the champion's test rows share, rows that differ in its other columns, finds none of them: which
    one the holdout's row is cannot be told, and taking the first would score the champion on another row's values."""
    if id_column and id_column in holdout.columns and id_column in champion_test.columns:
        columns, how = [id_column], f"the id column {id_column}"
    else:
        columns = [name for name in holdout.columns if name in champion_test.columns]
        how = f"a hash of the {len(columns)} columns both have"
    if not columns:
        return OwnRows(pd.Series(False, index=holdout.index), champion_test.iloc[:0], "no shared column")
    keys = _row_keys(champion_test, columns).to_numpy()
    whole = pd.util.hash_pandas_object(champion_test, index=False).to_numpy()
    versions = pd.Series(whole).groupby(keys).nunique()  # per key, how many different rows hold it
    position = pd.Series(range(len(champion_test)), index=keys)
    position = position[~position.index.duplicated(keep="first") & ~position.index.isin(versions.index[versions > 1])]
    found = position.reindex(_row_keys(holdout, columns).to_numpy())
    mask = pd.Series(found.notna().to_numpy(), index=holdout.index)
    rows = champion_test.iloc[found.dropna().astype(int).to_numpy()].reset_index(drop=True)
    return OwnRows(mask, rows, how)


def unseen_rows(test: pd.DataFrame, champion_train: pd.DataFrame, id_column: str | None) -> Unseen:
    """Mark the rows of `test` that are absent from `champion_train`."""
    if id_column and id_column in test.columns and id_column in champion_train.columns:
        seen = test[id_column].isin(champion_train[id_column])
        return Unseen(~seen, f"the id column {id_column}")
    shared = [name for name in test.columns if name in champion_train.columns]
    if not shared:
        return Unseen(pd.Series(True, index=test.index), "no shared column: every row kept")

    def hashed(frame: pd.DataFrame) -> pd.Series:
        return pd.util.hash_pandas_object(frame[shared], index=False)

    seen = hashed(test).isin(hashed(champion_train))
    return Unseen(~seen, f"a hash of the {len(shared)} shared columns")
