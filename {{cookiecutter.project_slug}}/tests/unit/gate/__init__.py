"""Unit tests of the gate wing (src/{{ cookiecutter.package_name }}/gate/), one file per module."""
