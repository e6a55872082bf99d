"""Domain errors: the command layer (cli.main) turns each into one clear line on stderr and exit code 2."""

from __future__ import annotations

from pydantic import ValidationError


class ProjectError(Exception):
    """A usage or runtime problem the user can fix: reported on one line, exit code 2."""


class ContractError(ProjectError):
    """The data cannot be described by a contract, or schema.yaml cannot be read as one."""


class DriftInputError(ProjectError):
    """Two tables cannot be compared for drift (different columns, values of the wrong type)."""


class RegistryError(ProjectError):
    """Git, DVC or GTO refused, or the repository is not in a state that can be promoted."""


def first_error(exc: ValidationError) -> str:
    """A pydantic error as one line: where the first problem is, what it is, and how many more there are."""
    first = exc.errors()[0]
    where = ".".join(str(part) for part in first["loc"]) or "(top level)"
    more = f" (and {exc.error_count() - 1} more)" if exc.error_count() > 1 else ""
    return f"{where}: {first['msg']}{more}"
