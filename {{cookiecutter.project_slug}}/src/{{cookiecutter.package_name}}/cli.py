"""`python -m <package> <command>`: the pipeline stages and the ops commands.

Exit codes, shared by every command: 0 = go; 1 = a gate says no (invalid data, blocked model,
drift found); 2 = usage or runtime error, reported on one line on stderr.
"""

from __future__ import annotations

import argparse
import importlib
import sys
from collections.abc import Sequence

from .errors import ProjectError

# command -> (module, function, help). Modules are imported only when their command runs,
# so a heavy import (Great Expectations, BentoML) costs nothing to the other commands.
COMMANDS: dict[str, tuple[str, str, str]] = {
    "ingest": ("data", "ingest_command", "read data.source into data/raw/ with snake_case columns"),
    "schema": ("contract", "schema_command", "infer schema.yaml (the data contract) from data/raw/"),
    "validate": ("validate", "validate_command", "check data/raw/ against schema.yaml (exit 1 if it breaks)"),
    "split": ("data", "split_command", "split data/raw/ into data/processed/train and test"),
    "train": ("train", "train_command", "fit the model pipeline, write models/model.joblib"),
    "evaluate": ("evaluate", "evaluate_command", "score the model on the test split, write reports/"),
}

# command -> [(flags, argparse keyword arguments)]
ARGUMENTS: dict[str, list[tuple[tuple[str, ...], dict]]] = {}


def build_parser() -> argparse.ArgumentParser:
    """The argument parser: one subcommand per entry of COMMANDS."""
    parser = argparse.ArgumentParser(prog=f"python -m {__package__}", description=__doc__.split("\n")[0])
    commands = parser.add_subparsers(dest="command", metavar="command", required=True)
    for name, (_, _, help_text) in COMMANDS.items():
        command = commands.add_parser(name, help=help_text, description=help_text)
        for flags, options in ARGUMENTS.get(name, []):
            command.add_argument(*flags, **options)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    """Run one command and return its exit code."""
    args = build_parser().parse_args(argv)
    module_name, function_name, _ = COMMANDS[args.command]
    try:
        module = importlib.import_module(f".{module_name}", __package__)
        return getattr(module, function_name)(args)
    except ProjectError as exc:
        print(f"{args.command}: error: {exc}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print(f"{args.command}: interrupted", file=sys.stderr)
        return 130


def run() -> None:
    """Console-script entry point."""
    sys.exit(main())
