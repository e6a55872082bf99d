"""Unit tests of the serving wing (src/{{ cookiecutter.package_name }}/serving/), one file per module."""
