"""The serving wing: the package, serve and example commands (packaging.py), the stored model's ServiceConfig
(config.py), and the BentoML service (service.py) with its request types, limits, batcher, model runner, inference
log and Prometheus metrics."""
