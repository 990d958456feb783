"""CUDA tests (marker ``cuda``): they run where ``torch.cuda.is_available()``, else they are skipped.

``TTS_CUDA_TESTS_ON_CPU=1`` runs them on the CPU instead (bf16 autocast works there too): that is how
``eval/gpu_check.sh --dry-run`` proves the tests themselves work before any GPU is seen.
"""

from __future__ import annotations

import os

import pytest
import torch


def on_cpu_requested() -> bool:
    return os.environ.get("TTS_CUDA_TESTS_ON_CPU") == "1"


@pytest.fixture
def device() -> str:
    """"cuda", or "cpu" under TTS_CUDA_TESTS_ON_CPU=1; skips the test otherwise."""
    if torch.cuda.is_available():
        return "cuda"
    if on_cpu_requested():
        return "cpu"
    pytest.skip("needs CUDA (TTS_CUDA_TESTS_ON_CPU=1 runs the CUDA tests on the CPU)")
