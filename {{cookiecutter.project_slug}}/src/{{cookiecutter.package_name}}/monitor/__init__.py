"""The monitor wing: drift of production data against the training data."""
