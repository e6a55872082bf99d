"""The gate wing: `compare` (the workspace's model against production's, on one holdout) and the registry's
writes (`promote`, `rollback`; `production` prints what registry.py reads)."""
