"""The monitor wing: data drift (`drift`), live performance against the production model (`monitor`), and the
labelled production rows as a new data version (`dataset`), all read from the monitoring store's traffic."""
