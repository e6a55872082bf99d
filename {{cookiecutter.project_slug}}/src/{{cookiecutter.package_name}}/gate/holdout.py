"""The holdout both models are scored on: the challenger's test rows that the champion never trained on.

With a seeded split, refreshed data reshuffles which rows are held out, so most new test rows may be in
the champion's training split: its score there is inflated and an honest retrain looks worse. Rows are
matched by `data.id_column` when the data has one, else by a hash of the columns both tables share.
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
