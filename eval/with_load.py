"""Run a command beside ``--load`` busy single-thread torch processes: a reproducible loaded machine.

The load is eval/bench_budget.py's (matmul loops, started detached so that the command's CPU-time budgets do not
count them) and is killed when the command ends, however it ends. The exit status is the command's.

    python -m eval.with_load --load 2 -- .venv/bin/tts demo --scale demo --out work/demo_loaded

This is how eval/reports/demo/loaded/ was made: make demo's pipeline on CPU-time budgets beside 2 busy processes.
"""

from __future__ import annotations

import argparse
import subprocess
import sys

from eval.bench_budget import start_load, stop_load


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--load", type=int, default=2, help="busy single-thread processes beside the command (0-64, default 2)")
    p.add_argument("command", nargs=argparse.REMAINDER, help="the command, after --")
    a = p.parse_args(argv)
    command = a.command[1:] if a.command[:1] == ["--"] else a.command
    if not command:
        p.error("no command: give it after --")
    if not 0 <= a.load <= 64:
        p.error(f"--load {a.load}: must be in [0, 64]")
    pids = start_load(a.load)
    print(f"with_load: {a.load} busy processes {pids} beside: {' '.join(command)}", flush=True)
    try:
        return subprocess.run(command).returncode
    finally:
        stop_load(pids)


if __name__ == "__main__":
    sys.exit(main())
