"""Fixtures of the bad-input suite (defined in robust_helpers.py)."""

from robust_helpers import bench, f5_model, model_copy  # noqa: F401
