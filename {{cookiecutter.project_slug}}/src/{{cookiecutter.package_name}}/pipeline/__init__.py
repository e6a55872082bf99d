"""The pipeline wing: the DVC stages ingest, validate, split, train, evaluate, and the data contract."""
