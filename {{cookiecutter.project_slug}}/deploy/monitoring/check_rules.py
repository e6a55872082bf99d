"""Check the alerting rules with promtool: `make test-alerts` (python deploy/monitoring/check_rules.py).

prometheusrule.yaml is a Prometheus Operator resource, and promtool reads plain rule files: the resource's
spec.groups are written to rules.yaml in a temporary folder beside copies of the unit test files
(rules-test*.yaml), where `promtool check rules` checks them and `promtool test rules` runs the tests. First,
every alert must have a test in which it fires and one in which it does not.

promtool comes with Prometheus: `apt-get install prometheus` on Debian and Ubuntu, else the release archive
from https://prometheus.io/download/. Exit 0: all passed; 1: a check or a test failed; 2: promtool or a
file is missing or unreadable (one line on stderr).
"""

from __future__ import annotations

import argparse
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path
from typing import Any

import yaml

HERE = Path(__file__).resolve().parent


class CheckError(Exception):
    """A file or a tool this check needs is missing or not what it expects."""


def rule_groups(resource: Path) -> list[dict[str, Any]]:
    """The rule groups of a PrometheusRule manifest (its spec.groups): what a plain rule file holds."""
    try:
        document = yaml.safe_load(resource.read_text(encoding="utf-8"))
    except (OSError, yaml.YAMLError) as exc:
        raise CheckError(f"cannot read {resource}: {exc}") from None
    if not isinstance(document, dict) or document.get("kind") != "PrometheusRule":
        raise CheckError(f"{resource} is not a PrometheusRule manifest")
    return document["spec"]["groups"]


def untested(groups: list[dict[str, Any]], test_files: list[dict[str, Any]]) -> list[str]:
    """The alerts that lack a unit test where they fire, or one where they do not."""
    alerts = [rule["alert"] for group in groups for rule in group["rules"] if "alert" in rule]
    firing: set[str] = set()
    quiet: set[str] = set()
    for test in (test for spec in test_files for test in spec.get("tests") or []):
        for case in test.get("alert_rule_test") or []:
            (firing if case.get("exp_alerts") else quiet).add(case["alertname"])
    problems = [f"{alert}: no test in which it fires" for alert in alerts if alert not in firing]
    return problems + [f"{alert}: no test in which it does not fire" for alert in alerts if alert not in quiet]


def check(rules: Path, tests: list[Path], promtool: str) -> int:
    """Write the plain rule file beside copies of the tests, run promtool check and test; the exit code."""
    groups = rule_groups(rules)
    specs = []
    for path in tests:
        try:
            specs.append(yaml.safe_load(path.read_text(encoding="utf-8")))
        except (OSError, yaml.YAMLError) as exc:
            raise CheckError(f"cannot read {path}: {exc}") from None
    if len({path.name for path in tests}) < len(tests):
        raise CheckError("two test files have the same name")
    problems = untested(groups, specs)
    if problems:
        print("test-alerts: " + "; ".join(problems), file=sys.stderr)
        return 1
    with tempfile.TemporaryDirectory(prefix="test-alerts-") as folder:
        plain = Path(folder) / "rules.yaml"
        plain.write_text(yaml.safe_dump({"groups": groups}, sort_keys=False), encoding="utf-8")
        for path in tests:
            shutil.copyfile(path, Path(folder) / path.name)
        for command in (["check", "rules", plain.name], ["test", "rules", *(path.name for path in tests)]):
            result = subprocess.run([promtool, *command], cwd=folder, check=False)  # noqa: S603
            if result.returncode != 0:
                print(f"test-alerts: promtool {' '.join(command[:2])} failed (see above)", file=sys.stderr)
                return 1
    count = sum(1 for group in groups for rule in group["rules"] if "alert" in rule)
    print(f"test-alerts: {count} alerts checked; each fires, and stays quiet, in its unit tests")
    return 0


def main(argv: list[str] | None = None) -> int:
    """Command line: --rules, --tests (one or more) and --promtool default to this folder's files and PATH."""
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--rules", type=Path, default=HERE / "prometheusrule.yaml")
    parser.add_argument("--tests", type=Path, nargs="+", default=sorted(HERE.glob("rules-test*.yaml")))
    parser.add_argument("--promtool", default="promtool")
    args = parser.parse_args(argv)
    promtool = shutil.which(args.promtool)
    if promtool is None:
        print(
            "test-alerts: promtool not found: apt-get install prometheus (Debian, Ubuntu), "
            "or get it from https://prometheus.io/download/",
            file=sys.stderr,
        )
        return 2
    try:
        return check(args.rules, args.tests, promtool)
    except CheckError as exc:
        print(f"test-alerts: {exc}", file=sys.stderr)
        return 2


if __name__ == "__main__":
    sys.exit(main())
