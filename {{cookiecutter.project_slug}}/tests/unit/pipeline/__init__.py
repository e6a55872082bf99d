"""Unit tests of the pipeline wing (src/{{ cookiecutter.package_name }}/pipeline/), one file per module."""
