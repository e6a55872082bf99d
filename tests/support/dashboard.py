"""Draw the dashboard's panels from Prometheus query_range data with matplotlib (Grafana cannot run here).

Run by tests/test_monitoring_e2e.py with the baked project's Python (which has matplotlib):
`python tests/support/dashboard.py data.json out.png`. data.json holds the title, a note, the phases of the run and,
per panel of deploy/monitoring/dashboard.json, its title, unit, threshold, grid position and the series that
its queries returned, each with its legend already filled in.
"""

from __future__ import annotations

import json
import sys
import textwrap
from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
from matplotlib.gridspec import GridSpec  # noqa: E402

SCALE = {"percentunit": (100.0, "%"), "s": (1000.0, "ms"), "reqps": (1.0, "req/s"), "short": (1.0, "")}


def main(source: str, target: str) -> int:
    data = json.loads(Path(source).read_text(encoding="utf-8"))
    panels = data["panels"]
    rows = max(p["gridPos"]["y"] + p["gridPos"]["h"] for p in panels)
    figure = plt.figure(figsize=(18, 3.1 * rows / 8 * 1.45 + 1.6), dpi=80)
    grid = GridSpec(rows // 8 * 8, 24, figure=figure, hspace=9, wspace=6, top=0.9, bottom=0.03, left=0.04, right=0.99)
    figure.suptitle(data["title"], fontsize=15, x=0.01, ha="left")
    note = "\n".join(textwrap.fill(line, 200) for line in data["note"].splitlines())
    figure.text(0.01, 0.935, note, fontsize=9.5, color="#555555", ha="left", va="center")
    for panel in panels:
        g = panel["gridPos"]
        axes = figure.add_subplot(grid[g["y"] : g["y"] + g["h"] - 1, g["x"] : g["x"] + g["w"]])
        factor, unit = SCALE.get(panel["unit"], (1.0, panel["unit"]))
        for series in panel["series"]:
            values = [None if v is None else v * factor for v in series["v"]]
            axes.plot(series["t"], values, linewidth=1.4, label=series["legend"] or "value")
        if panel.get("threshold") is not None:
            axes.axhline(panel["threshold"] * factor, color="#d62728", linestyle="--", linewidth=1)
        for phase in data["phases"]:
            axes.axvline(phase["t"], color="#999999", linewidth=0.8, linestyle=":")
        axes.set_title(panel["title"], fontsize=10.5, loc="left")
        axes.set_ylabel(unit, fontsize=8)
        axes.tick_params(labelsize=7.5)
        axes.grid(alpha=0.3)
        axes.set_xlabel("seconds since Prometheus started", fontsize=7.5)
        if panel["series"]:
            axes.legend(fontsize=7, loc="best", ncol=2 if len(panel["series"]) > 4 else 1, framealpha=0.7)
        else:
            axes.text(0.5, 0.5, "no data", ha="center", va="center", transform=axes.transAxes, color="#999999")
    figure.savefig(target)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1], sys.argv[2]))
