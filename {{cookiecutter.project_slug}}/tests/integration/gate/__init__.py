"""The gate wing's commands, each run on a temporary folder with small data."""
