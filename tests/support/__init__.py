"""Helpers of the template's tests (fixtures live in tests/conftest.py)."""
