"""What OpenMP's passive waits cost a training run on an idle machine: active and passive, alternated.

tts demo runs every demo fit with ``OMP_WAIT_POLICY=PASSIVE`` (recipes/demo/pipeline.yaml ``train_env``) so that a
CPU-time budget is not spent by spinning threads on a loaded machine (eval/reports/budget). On an idle machine
sleeping threads wake later than spinning ones, which may cost steps. This trains eval/bench_budget.py's fit (the
cpu scale's duration-aligned DiT on real piper batches, Lightning's Trainer, 2 torch threads) for ``--wall``
seconds per run, ``--rounds`` times under each policy, alternating (active, passive, active, ...) so that a drift
of the machine falls on both; each run is its own process (OpenMP reads the policy once, at start).

    OMP_NUM_THREADS=2 python -m eval.bench_wait_policy --out eval/reports/wait_policy

Run it on an otherwise idle machine. Writes OUT/report.md and OUT/report.json.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]

CHILD = """
import argparse, json, sys
from eval.bench_budget import fit_batches, run
a = argparse.Namespace(**json.loads(sys.argv[1]))
r = run(fit_batches(a), a.size, "wall", a.wall, 1.0, a.seed)
print("RESULT " + json.dumps(r), flush=True)
"""


def one(policy: str, args: dict) -> dict:
    env = {**os.environ, "OMP_WAIT_POLICY": policy, "PYTHONPATH": str(ROOT)}
    out = subprocess.run([sys.executable, "-c", CHILD, json.dumps(args)], env=env, cwd=ROOT,
                         capture_output=True, text=True, check=True, timeout=args["wall"] + 600)
    (line,) = [x for x in out.stdout.splitlines() if x.startswith("RESULT ")]
    r = json.loads(line[len("RESULT "):])
    return {"policy": policy, **r, "steps_per_s": round(r["steps"] / r["wall_s"], 3),
            "cpu_s_per_step": round(r["cpu_s"] / max(1, r["steps"]), 3)}


def main(argv: list[str] | None = None) -> int:
    from eval.bench_budget import add_fit_args, check_fit_args
    from tts.bench.timing import describe_machine, machine_info
    from tts.io import atomic_write_json, atomic_write_text, git_commit

    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    add_fit_args(p)
    p.add_argument("--wall", default=45.0, type=float, help="wall-clock seconds per fit (1-3600, default 45)")
    p.add_argument("--rounds", default=4, type=int, help="fits per policy (1-50, default 4)")
    a = p.parse_args(argv)
    if not 1 <= a.wall <= 3600 or not 1 <= a.rounds <= 50:
        p.error("--wall in [1, 3600], --rounds in [1, 50]")
    check_fit_args(p, a)
    args = {"size": a.size, "wall": a.wall, "sentences": a.sentences, "batch_frames": a.batch_frames, "seed": a.seed}
    t0 = time.monotonic()
    rows = []
    for i in range(a.rounds):
        for policy in ("ACTIVE", "PASSIVE"):
            rows.append({"round": i, **one(policy, args)})
            print(rows[-1], flush=True)
    ratios = [p["steps_per_s"] / q["steps_per_s"] for q, p in zip(rows[0::2], rows[1::2])]
    mean = {pol: statistics.mean(r["steps_per_s"] for r in rows if r["policy"] == pol) for pol in ("ACTIVE", "PASSIVE")}
    report = {"commit": git_commit(ROOT), "machine": machine_info(), "size": a.size, "wall_s": a.wall,
              "batch_frames": a.batch_frames, "sentences": a.sentences,
              "rounds": a.rounds, "omp_num_threads": os.environ.get("OMP_NUM_THREADS"), "rows": rows,
              "passive_over_active": [round(x, 3) for x in ratios],
              "passive_over_active_mean": round(statistics.mean(ratios), 3),
              "passive_over_active_sd": round(statistics.stdev(ratios), 3) if len(ratios) > 1 else None,
              "steps_per_s_mean": {k: round(v, 3) for k, v in mean.items()},
              "elapsed_s": round(time.monotonic() - t0, 1)}
    md = [f"# OpenMP wait policy on an idle machine: {a.rounds} alternating rounds of {a.wall:.0f} s fits", "",
          f"Commit {report['commit']}; {describe_machine(report['machine'])}; OMP_NUM_THREADS="
          f"{report['omp_num_threads']}; the `{a.size}` aligned DiT (eval/bench_budget.py's fit) on {a.sentences} "
          f"piper sentences in batches of <= {a.batch_frames} mel frames; "
          f"{report['elapsed_s']:.0f} s in all.", "",
          "| round | policy | steps | wall s | CPU s | steps / s | CPU s / step |", "|---|---|---|---|---|---|---|"]
    md += [f"| {r['round']} | {r['policy']} | {r['steps']} | {r['wall_s']} | {r['cpu_s']} | {r['steps_per_s']} | "
           f"{r['cpu_s_per_step']} |" for r in rows]
    sd = report["passive_over_active_sd"]
    md += ["", f"Passive / active steps per second, by round: {', '.join(f'{x:.3f}' for x in ratios)}; mean "
           f"**{report['passive_over_active_mean']:.3f}**" + (f" (sd {sd:.3f})" if sd is not None else "") + "."]
    a.out.mkdir(parents=True, exist_ok=True)
    atomic_write_json(a.out / "report.json", report)
    atomic_write_text(a.out / "report.md", "\n".join(md) + "\n")
    print("\n".join(md))
    return 0


if __name__ == "__main__":
    sys.exit(main())
