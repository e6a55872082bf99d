"""The project's package: pipeline stages, gates and the model service (see README.md)."""
