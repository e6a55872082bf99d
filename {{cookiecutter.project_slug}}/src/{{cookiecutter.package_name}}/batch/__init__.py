"""Batch scoring: files of records through the model, streaming, published all or nothing."""
