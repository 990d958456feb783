"""WER/SIM benchmark harness (`tts bench`): spec, audio production, scoring, statistics, report.

Entry points: ``tts.bench.runner.run_bench(spec: dict, out_dir, resume=True) -> dict`` (Python) and
``tts bench -c eval/<name>.yaml --out DIR [--resume]`` (CLI, ``tts.bench.runner.main``).

Modules, in the order a run uses them:
  spec       the spec as typed dataclasses; YAML reading, $VAR expansion, every key and path checked
  runner     the orchestrator and the CLI: load scorers, per system produce -> score, then summarize
  produce    each system's audio per seed (ground truth / resynthesis / tts.synth), model hashes, versions
  score      transcripts (asr), WER/CER (scoring, normalize), SIM-o (similarity, ecapa), PESQ/STOI
             (quality), each cached per system and seed
  summarize  bootstrap CIs and paired deltas (stats), comparisons, training curves, report.json
  compare    paired deltas of two systems over their common utterances (summarize and voices use it)
  voices     seen / unseen speaker groups, the SIM ceiling and no-cloning reference rows, summary.json
  report     report.md and the PNG plots; html + browser: report.html and its headless-browser check
  timing     best-of-N wall times (device-synchronized) for the speed benchmarks in eval/
"""
