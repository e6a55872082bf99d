"""Helpers of the template's tests, one job per module; fixtures and the files' run order live in conftest.py.

paths: the template and the test cache. process: commands, loopback ports, stopping servers. bake: baked and
set-up projects. system, system_packages: the Debian packages the tests install. tools: the dev environment's
checkers and kubectl. serving: a baked model served on loopback. adoption, datasets: a team's own tables.
monitoring: Prometheus and the generated monitoring files. dashboard: the dashboard drawn with matplotlib.
loop, gha/: the generated workflows run against a local origin.
"""
