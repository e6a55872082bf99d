"""Exceptions that the command layer turns into one clear line and an exit code."""


class ProjectError(Exception):
    """A usage or runtime problem the user can fix: reported on one line, exit code 2."""
