"""Benchmark report: report.json (everything), report.md (tables + embedded plots), PNG plots (Agg)."""

from __future__ import annotations

from pathlib import Path

from tts.bench.timing import describe_machine
from tts.io import atomic_write, atomic_write_json, atomic_write_text


def _pct(x: float | None) -> str:
    return "-" if x is None else f"{100 * x:.2f}"


def _ci_pct(ci: dict | None) -> str:
    if not ci or ci.get("value") is None:
        return "-"
    return f"{100 * ci['value']:.2f} [{100 * ci['low']:.2f}, {100 * ci['high']:.2f}]"


def _ci(ci: dict | None, digits: int = 3) -> str:
    if not ci or ci.get("value") is None:
        return "-"
    return f"{ci['value']:.{digits}f} [{ci['low']:.{digits}f}, {ci['high']:.{digits}f}]"


def _delta(d: dict | None, scale: float = 100.0, digits: int = 2) -> str:
    if not d or d.get("delta") is None:
        return "-"
    return f"{scale * d['delta']:+.{digits}f} [{scale * d['low']:+.{digits}f}, {scale * d['high']:+.{digits}f}] p={d['p']:.3f}"


def _num(x: float | None, digits: int = 3) -> str:
    return "-" if x is None else f"{x:.{digits}f}"


def voices_tables(voices: dict, asrs: list[str]) -> dict[str, tuple[list[str], list[list[str]]]]:
    """The voices section's tables as (header, rows) of text, for report.md and report.html: "groups" (per
    speaker group each system, then the two SIM reference rows) and "deltas" (the comparisons per group)."""
    head = ["speakers", "system", "n"] + [f"WER {a} (%)" for a in asrs] + ["SIM to prompt"]
    rows = []
    for g in voices["groups"]:
        rows += [[g["speakers"], s["name"], str(s["n"])] + [_ci_pct(s["wer_mean"].get(a)) for a in asrs]
                 + [_ci(s.get("sim"))] for s in g["systems"]]  # fmt: skip
        for ref, what in (("sim_ceiling", "same speaker's ground truth"), ("sim_no_cloning", "nearest training speaker")):
            rows.append([g["speakers"], f"reference {ref} ({what})", str(g[ref]["n"])] + ["-" for _ in asrs]
                        + [_ci(g[ref])])  # fmt: skip
    delta_head = ["speakers", "a - b"] + [f"WER {a}" for a in asrs] + ["SIM"]
    deltas = []
    for g in voices["groups"]:
        for c in g["comparisons"]:
            if c.get("error"):
                deltas.append([g["speakers"], f"{c['a']} - {c['b']}"] + ["-" for _ in asrs] + [c["error"]])
            else:
                deltas.append([g["speakers"], f"{c['a']} - {c['b']}"] + [_delta(c["wer_mean"].get(a)) for a in asrs]
                              + [_delta(c.get("sim"), 1.0, 3)])  # fmt: skip
    return {"groups": (head, rows), "deltas": (delta_head, deltas)}


def voices_notes(voices: dict) -> list[str]:
    """The voices section's prose, one item a line: the speakers, the nearest training voices, a failure."""
    groups = {g["speakers"]: g for g in voices["groups"]}
    unseen = groups.get("unseen")
    lines = [f"Unseen speakers (held out of training, {len(voices['unseen_speakers'])}): "
             + (", ".join(voices["unseen_speakers"]) or "none")]  # fmt: skip
    if "seen" in groups:
        lines.append(f"Seen speakers ({len(groups['seen']['speaker_ids'])}): " + (", ".join(groups["seen"]["speaker_ids"]) or "-"))
    lines.append(f"Training speakers of the no-cloning reference: {voices.get('training_speakers') or 'not given (spec key training_speakers), so no sim_no_cloning'}")
    if unseen and unseen["nearest_training_speaker"]:
        lines.append("Nearest training speaker to each unseen speaker's prompts: " + ", ".join(
            f"{spk} -> {x['speaker']} ({x['prompts']} of {x['of']})" for spk, x in unseen["nearest_training_speaker"].items()))  # fmt: skip
    if voices.get("error"):
        lines.append(f"The reference rows could not be computed: {voices['error']['error']}")
    return lines


def _markdown_table(head: list[str], rows: list[list[str]]) -> list[str]:
    return ["| " + " | ".join(head) + " |", "|" + "---|" * len(head)] + ["| " + " | ".join(r) + " |" for r in rows]


def _save_fig(fig, path: Path) -> None:
    import matplotlib.pyplot as plt

    atomic_write(path, lambda tmp: fig.savefig(tmp, dpi=110, bbox_inches="tight", format="png"))
    plt.close(fig)


def plot_wer(report: dict, path: Path) -> None:
    """Grouped bars: mean-of-utterance WER per system and ASR, 95% bootstrap CI error bars."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    import numpy as np

    systems = [s for s in report["systems"] if s["status"] == "ok"]
    asrs = [a["name"] for a in report["asr"]]
    fig, ax = plt.subplots(figsize=(max(5.0, 1.3 * len(systems) * max(1, len(asrs)) / 1.5), 3.6))
    width = 0.8 / max(1, len(asrs))
    x = np.arange(len(systems))
    for k, asr in enumerate(asrs):
        vals, lo, hi = [], [], []
        for s in systems:
            ci = s["asr"][asr]["wer_mean"]
            v = 100 * (ci["value"] or 0.0)
            vals.append(v)
            lo.append(v - 100 * (ci["low"] if ci["low"] is not None else 0.0))
            hi.append(100 * (ci["high"] if ci["high"] is not None else 0.0) - v)
        ax.bar(x + (k - (len(asrs) - 1) / 2) * width, vals, width, yerr=[lo, hi], capsize=3, label=asr)
    ax.set_xticks(x, [s["name"] for s in systems], rotation=20, ha="right")
    ax.set_ylabel("WER % (mean of utterances)")
    ax.set_title("WER with 95% bootstrap CI")
    ax.legend(fontsize=8)
    _save_fig(fig, path)


def plot_wer_distribution(report: dict, utterances: list[dict], path: Path) -> None:
    """Per-utterance WER (first ASR, pooled over seeds) per system: box plot with jittered points."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    import numpy as np

    asr = report["asr"][0]["name"]
    names = [s["name"] for s in report["systems"] if s["status"] == "ok"]
    data = [[100 * u["wer"] for u in utterances if u["system"] == n and u["asr"] == asr] for n in names]
    fig, ax = plt.subplots(figsize=(max(5.0, 1.1 * len(names)), 3.6))
    ax.boxplot(data, showfliers=False)
    rng = np.random.default_rng(0)
    for k, d in enumerate(data):
        ax.scatter(k + 1 + rng.uniform(-0.15, 0.15, len(d)), d, s=6, alpha=0.5, color="k")
    ax.set_xticks(range(1, len(names) + 1), names, rotation=20, ha="right")
    ax.set_ylabel(f"per-utterance WER % ({asr})")
    ax.set_title("Per-utterance WER distribution")
    _save_fig(fig, path)


def plot_rtf(report: dict, path: Path) -> None:
    """Bars: mean real-time factor (synthesis seconds / audio seconds) per system that has one."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    rows = [
        (s["name"], s["rtf"]) for s in report["systems"] if s["status"] == "ok" and s.get("rtf") is not None
    ]
    fig, ax = plt.subplots(figsize=(max(4.0, 1.1 * len(rows)), 3.2))
    ax.bar([r[0] for r in rows], [r[1] for r in rows])
    ax.set_ylabel("RTF (lower is faster)")
    ax.set_title(f"Real-time factor ({report['spec'].get('device', 'cpu')})")
    ax.tick_params(axis="x", rotation=20)
    _save_fig(fig, path)


def plot_curves(report: dict, path: Path) -> None:
    """WER (mean of utterances) against training steps and training wall-clock, per system with a curve."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, axes = plt.subplots(1, 2, figsize=(9.0, 3.4), sharey=True)
    for s in report["systems"]:
        points = [p for p in (s.get("curve") or {}).get("points", []) if p.get("wer_mean") is not None]
        if not points:
            continue
        wer = [100 * p["wer_mean"] for p in points]
        axes[0].plot([p["step"] for p in points], wer, marker="o", ms=3, label=s["name"])
        axes[1].plot([p["wall_s"] / 60 for p in points], wer, marker="o", ms=3, label=s["name"])
    axes[0].set_xlabel("training step")
    axes[1].set_xlabel("training wall-clock (min, evaluations excluded)")
    axes[0].set_ylabel("WER % (validation curve)")
    axes[0].legend(fontsize=8)
    for ax in axes:
        ax.grid(alpha=0.3)
    fig.suptitle("WER during training (WERCallback)")
    _save_fig(fig, path)


def render_markdown(report: dict, plots: list[str]) -> str:
    """report.md text: header (scale, spec, date, versions, protocol), tables, plots, failures."""
    asrs = [a["name"] for a in report["asr"]]
    lines = [f"# Benchmark report: {report['name']}", ""]
    lines += [
        f"- **Date**: {report['date']}",
        f"- **Spec**: `{report.get('spec_path') or 'dict (run_bench)'}`",
    ]
    speakers = report["spec"].get("speakers")
    only = f", speakers {', '.join(speakers)}" if speakers else ""
    lines += [f"- **Test list**: `{report['spec'].get('test_list')}` ({report['n_utterances']} utterances{only})"]
    lines += [f"- **Seeds**: {report['seeds']}", f"- **Baseline**: {report.get('baseline') or '-'}"]
    if report.get("scale"):
        lines += [f"- **Scale**: {report['scale']}"]
    if report.get("notes"):
        lines += ["", "> " + str(report["notes"]).strip().replace("\n", "\n> ")]
    versions = ", ".join(f"{k} {v}" for k, v in report["versions"].items() if v)
    lines += ["", f"- **Versions**: {versions}"]
    if report.get("machine"):  # reports before 2026-12-03 do not record it
        lines += [f"- **Machine**: {describe_machine(report['machine'])}"]
    lines += ["", "## Protocol", ""]
    lines += [f"- **{k}**: {v}" for k, v in report["protocol"].items()]
    for a in report["asr"]:
        cfg = ", ".join(f"{k}={v}" for k, v in a["config"].items())
        lines += [
            f"- **ASR `{a['name']}`**: {cfg}"
            + (f" (sha256 {a['model_sha256']})" if a.get("model_sha256") else "")
        ]
    if report.get("similarity"):
        sim = report["similarity"]
        lines += [
            f"- **SIM model**: {sim['name']} ({sim.get('model_path')}, sha256 {sim.get('model_sha256')})"
        ]
    ok = [s for s in report["systems"] if s["status"] == "ok"]
    for asr in asrs:
        lines += ["", f"## WER / CER - ASR `{asr}`", ""]
        lines += ["WER and CER in %; 95% bootstrap CI in brackets; delta = system - baseline (paired).", ""]
        lines += [
            "| system | type | n | WER (mean of utt.) | corpus WER | CER (mean) | delta WER vs baseline |"
        ]
        lines += ["|---|---|---|---|---|---|---|"]
        for s in ok:
            e = s["asr"][asr]
            lines += [
                f"| {s['name']} | {s['type']} | {e['n']} | {_ci_pct(e['wer_mean'])} | {_ci_pct(e['wer_corpus'])} "
                f"| {_ci_pct(e['cer_mean'])} | {_delta(e.get('delta_wer_mean'))} |"
            ]
        if any(len(s["seeds"]) > 1 for s in ok):
            lines += ["", "Per seed (WER mean of utterances, %): " + "; ".join(
                f"{s['name']}: " + ", ".join(f"s{k}={_pct(v['wer_mean'])}" for k, v in s["asr"][asr]["per_seed"].items())
                for s in ok if len(s["seeds"]) > 1
            )]  # fmt: skip
    lines += ["", "## SIM, RTF, resynthesis quality", ""]
    lines += [
        "| system | SIM-o | delta SIM vs baseline | RTF | PESQ (wb) | STOI | missing utts |",
        "|---|---|---|---|---|---|---|",
    ]
    for s in ok:
        lines += [
            f"| {s['name']} | {_ci(s.get('sim'))} | {_delta(s.get('delta_sim'), 1.0, 3)} | {_num(s.get('rtf'))} "
            f"| {_ci(s.get('pesq'), 2)} | {_ci(s.get('stoi'), 3)} | {len(s['missing'])} |"
        ]
    if report.get("comparisons"):
        lines += ["", "## Paired comparisons", ""]
        lines += ["a - b on the utterances both have; WER in points (%), SIM in cosine; 95% paired bootstrap CI.", ""]
        lines += ["| a - b | " + " | ".join(f"WER `{a}`" for a in asrs) + " | SIM |"]
        lines += ["|---|" + "---|" * (len(asrs) + 1)]
        for c in report["comparisons"]:
            if c.get("error"):
                lines += [f"| {c['a']} - {c['b']} | " + " | ".join("-" for _ in asrs) + f" | {c['error']} |"]
                continue
            wers = " | ".join(_delta(c["wer_mean"].get(a)) for a in asrs)
            lines += [f"| {c['a']} - {c['b']} | {wers} | {_delta(c.get('sim'), 1.0, 3)} |"]
    if report.get("voices"):
        voices, tables = report["voices"], voices_tables(report["voices"], asrs)
        lines += ["", "## Voice cloning: seen and unseen speakers", ""]
        lines += [f"- {line}" for line in voices_notes(voices)] + [""]
        lines += [f"- **{k}**: {v}" for k, v in voices["definitions"].items()] + [""]
        lines += ["Cloning happens where a system's SIM to the prompt on unseen speakers rises above sim_no_cloning "
                  "toward sim_ceiling. WER in %, SIM in cosine; 95% bootstrap CI in brackets.", ""]  # fmt: skip
        lines += _markdown_table(*tables["groups"])
        if tables["deltas"][1]:
            lines += ["", "### Paired deltas per speaker group", ""]
            lines += ["a - b on the group's utterances both have; WER in points (%), SIM in cosine; 95% paired "
                      "bootstrap CI.", ""] + _markdown_table(*tables["deltas"])  # fmt: skip
    curves = [s for s in report["systems"] if s.get("curve")]
    if curves:
        lines += ["", "## WER during training", ""]
        lines += ["Validation WER logged by `tts.wer_callback.WERCallback` while the model trained (its own "
                  "small list and settings; monitoring only, nothing was selected on it).", ""]
        lines += ["| system | points | last step | last wall-clock (min) | last WER | file |", "|---|---|---|---|---|---|"]
        for s in curves:
            c = s["curve"]
            pts = c.get("points") or []
            last = pts[-1] if pts else {}
            lines += [f"| {s['name']} | {len(pts)} | {last.get('step', '-')} | "
                      f"{_num(last['wall_s'] / 60, 1) if last.get('wall_s') is not None else '-'} | "
                      f"{_pct(last.get('wer_mean'))} | `{c['path']}`" + (f" ({c['error']})" if c.get("error") else "") + " |"]
    failed = [s for s in report["systems"] if s["status"] != "ok"]
    if failed:
        lines += ["", "## Failed systems", ""]
        lines += [f"- **{s['name']}** ({s['type']}): `{s['error']}`" for s in failed]
    if plots:
        lines += ["", "## Plots", ""] + [f"![{p}]({p})" for p in plots]
    lines += ["", "## Models and timings", ""]
    for s in ok:
        hashes = ", ".join(
            f"{k}: {v[:12]}" for k, v in (s.get("model_sha256") or {}).items() if isinstance(v, str)
        )
        model = s["config"].get("model") or s["config"].get("space") or "-"
        asr_s = ", ".join(f"{a} {t:.1f} s" for a, t in s["asr_seconds"].items())
        durations = {"oracle": "; durations: oracle (the test utterance's own alignment)",
                     "predictor": "; durations: the model's duration predictor"}.get(s.get("durations"), "")
        lines += [f"- **{s['name']}**: `{model}`" + (f" (sha256 {hashes})" if hashes else "") + durations
                  + f"; audio {s['audio_seconds']:.1f} s; ASR time (this run, cache hits ~0) {asr_s}"]  # fmt: skip
    lines += [""]
    lines += [
        f"Per-utterance transcripts and scores: `{report['utterances_file']}`; everything: `report.json`.",
        "",
    ]
    return "\n".join(lines)


def write_report(report: dict, out_dir: str | Path, utterances: list[dict]) -> None:
    """Write the plots, report.json and report.md into ``out_dir``."""
    out_dir = Path(out_dir)
    plots = []
    if any(s["status"] == "ok" for s in report["systems"]) and report["asr"]:
        plot_wer(report, out_dir / "wer.png")
        plot_wer_distribution(report, utterances, out_dir / "wer_dist.png")
        plots = ["wer.png", "wer_dist.png"]
        if any(s.get("rtf") is not None for s in report["systems"]):
            plot_rtf(report, out_dir / "rtf.png")
            plots.append("rtf.png")
    if any((s.get("curve") or {}).get("points") for s in report["systems"]):
        plot_curves(report, out_dir / "wer_curves.png")
        plots.append("wer_curves.png")
    report["plots"] = plots
    atomic_write_json(out_dir / "report.json", report)
    atomic_write_text(out_dir / "report.md", render_markdown(report, plots))
