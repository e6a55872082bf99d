"""Unit tests of the monitor wing (src/{{ cookiecutter.package_name }}/monitor/), one file per module."""
