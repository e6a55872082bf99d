"""The gate wing: the production model in the registry (GTO + DVC) and the champion/challenger comparison."""
