"""Benchmarks of the project (speed, budgets, ground-truth floors, the GPU check) and their specs and reports.

A package: run a script from the repository root as a module, ``python -m eval.bench_f5 --out ...``; scripts
import each other as ``eval.<name>`` (no ``sys.path`` edits).
"""
