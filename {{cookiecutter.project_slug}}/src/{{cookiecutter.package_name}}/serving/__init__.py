"""The serving wing: the BentoML service, its request batcher, and the package and serve commands."""
