"""Tables of a team's own making, unlike the bundled ones: what `adopt` and the generated tests must take.

Each has the awkward parts of real data (Title Case names with symbols, nulls, booleans, categories, ids or
none, free text, string or integer classes, a count or a price to predict) and a signal a default model finds.
The template's tests read the descriptions (DATASETS); a baked project's Python writes the tables, since the
template's own environment has no pandas: `.venv/bin/python tests/support/datasets.py NAME FOLDER` prints the path.
"""

from __future__ import annotations

import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Any


def _libraries() -> tuple[Any, Any]:
    import numpy as np
    import pandas as pd

    return np, pd


def churn(rows: int = 1500, seed: int = 1) -> Any:
    """Binary string labels (churned/stayed), a string id, int, float with nulls, bool, categories with nulls."""
    np, pd = _libraries()
    rng = np.random.default_rng(seed)
    tenure = rng.integers(1, 72, rows)
    charges = rng.normal(70, 20, rows).round(2)
    contract = rng.choice(["month", "year", "two-year"], rows, p=[0.5, 0.3, 0.2])
    logit = 1.0 - 0.06 * tenure + (contract == "month") * 1.5 + (charges - 70) / 20
    frame = pd.DataFrame(
        {
            "Customer ID": [f"CU-{i:06d}" for i in range(rows)],
            "Tenure (months)": tenure,
            "Monthly Charges ($)": charges,
            "Contract": contract,
            "Paperless Billing": rng.random(rows) < 0.6,
            "Region": rng.choice(["north", "south", "east", "west", "centre"], rows),
            "Status": np.where(rng.random(rows) < 1 / (1 + np.exp(-logit)), "churned", "stayed"),
        }
    )
    frame.loc[rng.random(rows) < 0.05, "Monthly Charges ($)"] = np.nan
    frame.loc[rng.random(rows) < 0.03, "Region"] = None
    return frame


def grades(rows: int = 1200, seed: int = 2) -> Any:
    """Four integer classes, an integer id, a boolean with nulls, a category, counts."""
    np, pd = _libraries()
    rng = np.random.default_rng(seed)
    hours = rng.gamma(3.0, 2.0, rows).round(1)
    absences = rng.poisson(4, rows)
    school = rng.choice(["Aldgate", "Brixton", "Camden"], rows)
    score = hours - 0.6 * absences + (school == "Camden") * 2 + rng.normal(0, 1.5, rows)
    return pd.DataFrame(
        {
            "Student No": np.arange(10_000, 10_000 + rows),
            "Hours Studied": hours,
            "Absences": absences,
            "School": school,
            "Online Course": rng.choice([True, False, None], rows, p=[0.45, 0.45, 0.1]),
            "Grade": np.digitize(score, np.quantile(score, [0.25, 0.5, 0.75])) + 1,
        }
    )


def prices(rows: int = 1000, seed: int = 3) -> Any:
    """A float target, a string id, near-unique free text (never a feature), bool, a category, nulls."""
    np, pd = _libraries()
    rng = np.random.default_rng(seed)
    area = rng.uniform(25, 180, rows).round(1)
    rooms = np.clip((area / 30).round().astype(int) + rng.integers(-1, 2, rows), 1, None)
    district = rng.choice([f"D{n:02d}" for n in range(1, 9)], rows)
    garden = rng.random(rows) < 0.3
    central = np.isin(district, ["D01", "D02"])
    descriptions = [f"Flat {i}: {r} rooms, {a:.0f} m2" for i, r, a in zip(range(rows), rooms, area, strict=True)]
    price = 2500 * area + 15_000 * garden + 40_000 * central + rng.normal(0, 20_000, rows)
    frame = pd.DataFrame(
        {
            "Listing ID": [f"L{i:05d}" for i in range(rows)],
            "Area (m2)": area,
            "Rooms": rooms,
            "District": district,
            "Garden": garden,
            "Description": descriptions,
            "Price": price.round(0),
        }
    )
    frame.loc[rng.random(rows) < 0.04, "Area (m2)"] = np.nan
    return frame


def demand(rows: int = 1500, seed: int = 4) -> Any:
    """An integer count target with many values, no id, a long-tailed category of 40 values, nulls."""
    np, pd = _libraries()
    rng = np.random.default_rng(seed)
    hour = rng.integers(0, 24, rows)
    temperature = rng.normal(15, 8, rows).round(1)
    weekday = rng.choice(["Mon", "Tue", "Wed", "Thu", "Fri", "Sat", "Sun"], rows)
    holiday = rng.random(rows) < 0.05
    stations = [f"station {n}" for n in range(40)]
    weights = 1 / np.arange(1, 41)
    station = rng.choice(stations, rows, p=weights / weights.sum())
    rush = np.isin(hour, [8, 9, 17, 18])
    rentals = rng.poisson(np.exp(2.5 + 0.04 * temperature + 0.8 * rush - 0.5 * holiday))
    frame = pd.DataFrame(
        {
            "Hour": hour,
            "Temperature C": temperature,
            "Weekday": weekday,
            "Holiday": holiday,
            "Station": station,
            "Rentals": rentals,
        }
    )
    frame.loc[rng.random(rows) < 0.05, "Temperature C"] = np.nan
    return frame


@dataclass(frozen=True)
class Dataset:
    """A table to adopt: its file, which column to predict, which names its rows, and the task adopt must infer."""

    name: str
    task: str
    target: str  # as the file names it
    id_column: str | None = None
    suffix: str = ".csv"

    @property
    def file_name(self) -> str:
        return f"{self.name}{self.suffix}"


DATASETS = {
    "churn": Dataset("churn", "classification", "Status", "Customer ID"),
    "grades": Dataset("grades", "classification", "Grade", "Student No"),
    "prices": Dataset("prices", "regression", "Price", "Listing ID"),
    "demand": Dataset("demand", "regression", "Rentals", suffix=".parquet"),
}
MAKERS = {"churn": churn, "grades": grades, "prices": prices, "demand": demand}


def write(name: str, folder: Path) -> Path:
    """Write one table into `folder` (CSV or Parquet by its suffix); its path."""
    dataset, frame = DATASETS[name], MAKERS[name]()
    path = folder / dataset.file_name
    if dataset.suffix == ".csv":
        frame.to_csv(path, index=False)
    else:
        frame.to_parquet(path, index=False)
    return path


if __name__ == "__main__":
    print(write(sys.argv[1], Path(sys.argv[2])))
