"""What a workflow run gives back: each job's and step's status, outputs and log, and the GitHub-only steps it
recorded instead of running."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any


@dataclass
class StepResult:
    name: str
    status: str  # success | failure | skipped | recorded
    exit_code: int | None = None
    outputs: dict[str, str] = field(default_factory=dict)
    log: str = ""


@dataclass
class Recorded:
    """A GitHub-only step: what would have run."""

    job: str
    step: str
    uses: str | None
    script: str | None
    env: dict[str, str]
    with_: dict[str, Any]


@dataclass
class JobResult:
    job: str
    status: str  # success | failure | skipped
    steps: list[StepResult] = field(default_factory=list)
    outputs: dict[str, str] = field(default_factory=dict)
    summary: str = ""

    def step(self, name: str) -> StepResult:
        """The result of the step with this name (or id)."""
        for result in self.steps:
            if result.name == name:
                return result
        raise KeyError(f"{self.job}: no step {name!r}; steps: {[s.name for s in self.steps]}")

    def describe(self) -> str:
        """A readable account for assertion messages."""
        lines = [f"job {self.job}: {self.status}"]
        for result in self.steps:
            lines.append(f"  - {result.name}: {result.status} (exit {result.exit_code})")
            if result.status == "failure":
                lines.append("    " + result.log[-3000:].replace("\n", "\n    "))
        return "\n".join(lines)
