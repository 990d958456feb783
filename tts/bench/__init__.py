"""WER/SIM benchmark harness (`tts bench`): ASR backends, normalization, scoring, bootstrap, report.

Entry points: ``run_bench(spec: dict, out_dir, resume=True) -> dict`` (Python) and
``tts bench -c eval/<name>.yaml --out DIR [--resume]`` (CLI, ``tts.bench.runner.main``).
"""

from tts.bench.runner import SpecError, run_bench

__all__ = ["SpecError", "run_bench"]
