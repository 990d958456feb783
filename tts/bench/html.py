"""report.html: the benchmark as a page you can listen to (offline, self-contained, opened from file://).

The page holds the summary tables of report.md (WER/CER with CIs and paired deltas per ASR, SIM, RTF,
PESQ/STOI), the plots, the protocol, versions and model hashes, and one entry per test utterance: its text,
the prompt and ground-truth players, and per system (and seed) a player, the transcript of every ASR with
the word errors of jiwer's alignment marked (substitution, deletion, insertion), WER and SIM.

Utterances are embedded as JSON and drawn a page at a time by a few lines of plain JavaScript (sort by any
system's WER or SIM, by the WER difference of two systems, by text; filter by text and by a value range).
Nothing is loaded from outside the folder: audio and plots by relative paths (``preload="none"``), prompts and
ground truth linked (hard link, else copied) into ``audio/_prompt`` and ``audio/_gt`` so the folder can be
zipped and shared; each link is recorded in ``written.jsonl`` (``tts.bench.written``) before it is made.

``python -m tts.bench.html DIR`` rebuilds DIR/report.html from a finished benchmark folder.
"""

from __future__ import annotations

import argparse
import html
import json
import os
import shutil
import sys
from collections.abc import Iterable
from pathlib import Path
from urllib.parse import quote

from tts.bench.report import _ci, _ci_pct, _delta, _num, _pct, voices_notes, voices_tables
from tts.bench.written import Written
from tts.io import atomic_write_text, path_under, read_jsonl

PROMPT_DIR, GT_DIR = "_prompt", "_gt"
PAGE_SIZE = 50


# ------------------------------------------------------------------------------------------ alignment


def mark_errors(ref_norm: str, hyp_norm: str) -> list:
    """jiwer's word alignment as render ops: runs of correct words as strings, errors as [kind, ref, hyp].

    kind is "s" (substitution: ref word heard as hyp word), "d" (deletion: ref word missing) or
    "i" (insertion: hyp word with no ref word); one op per word.
    """
    import jiwer

    ref_words, hyp_words = ref_norm.split(), hyp_norm.split()
    if not ref_words:
        return [["i", "", w] for w in hyp_words]
    if not hyp_words:
        return [["d", w, ""] for w in ref_words]
    out = jiwer.process_words(ref_norm, hyp_norm)
    ref, hyp = out.references[0], out.hypotheses[0]
    ops: list = []
    for chunk in out.alignments[0]:
        r = ref[chunk.ref_start_idx : chunk.ref_end_idx]
        h = hyp[chunk.hyp_start_idx : chunk.hyp_end_idx]
        if chunk.type == "equal":
            ops.append(" ".join(h))
        elif chunk.type == "substitute":
            ops += [["s", a, b] for a, b in zip(r, h)]
        elif chunk.type == "delete":
            ops += [["d", a, ""] for a in r]
        else:
            ops += [["i", "", b] for b in h]
    return ops


# ---------------------------------------------------------------------------------------------- media


def _url(path: Path, out_dir: Path) -> str:
    """A relative URL from the page to ``path`` (percent-encoded, forward slashes)."""
    return quote(Path(os.path.relpath(path, out_dir)).as_posix())


def _link_into(src: Path, dest: Path) -> Path:
    """Hard-link ``src`` to ``dest`` (copy across file systems); an up-to-date ``dest`` is kept."""
    if dest.exists():
        s, d = src.stat(), dest.stat()
        if os.path.samefile(src, dest) or (s.st_size, int(s.st_mtime)) == (d.st_size, int(d.st_mtime)):
            return dest
        dest.unlink()
    dest.parent.mkdir(parents=True, exist_ok=True)
    try:
        os.link(src, dest)
    except OSError:
        shutil.copy2(src, dest)
    return dest


def _inside(path: Path, folder: Path) -> bool:
    try:
        path.resolve().relative_to(folder.resolve())
        return True
    except ValueError:
        return False


class _Media:
    """Relative URLs of audio files, bringing files from outside the report folder into it (recorded)."""

    def __init__(self, out_dir: Path):
        self.out_dir = out_dir
        self.names: dict[Path, str] = {}
        self.written = Written(out_dir)

    def url(self, path: str | Path | None, sub: str, name: str | None = None) -> str | None:
        if not path:
            return None
        path = Path(path)
        if not path.is_file():
            return None
        if _inside(path, self.out_dir):
            return _url(path, self.out_dir)
        key = path.resolve()
        if key not in self.names:
            stem = name or path.stem
            taken = set(self.names.values())
            k, fname = 1, f"{sub}/{stem}{path.suffix}"
            while fname in taken:
                k, fname = k + 1, f"{sub}/{stem}-{k}{path.suffix}"
            self.names[key] = fname
        dest = _link_into(path, self.written.add(path_under(self.out_dir, "audio", self.names[key])))
        return _url(dest, self.out_dir)


# ----------------------------------------------------------------------------------------------- data


def page_data(report: dict, out_dir: Path, rows: list[dict], utterances: list[dict], results: dict) -> dict:
    """The JSON the page draws from: systems, ASR names and one entry per test utterance.

    ``results``: {system: {"per_seed": {seed: {"audio": {id: path}, "sim": {id: float}}}}} (the runner's
    per-system results; systems without one show no audio).
    """
    media = _Media(out_dir)
    asrs = [a["name"] for a in report["asr"]]
    systems = [
        {"name": s["name"], "type": s["type"], "seeds": s.get("seeds", [0])}
        for s in report["systems"]
        if s["status"] == "ok"
    ]
    scores: dict[tuple, dict] = {(u["system"], u["seed"], u["asr"], u["id"]): u for u in utterances}
    utts = []
    for row in rows:
        uid = row["id"]
        entry = {
            "id": uid,
            "text": row.get("text", ""),
            "ref_text": row.get("ref_text", ""),
            "prompt": media.url(row.get("ref_audio"), PROMPT_DIR),
            "gt": media.url(row.get("gt_audio"), GT_DIR, uid),
            "s": {},
        }
        entry.update({k: row[k] for k in ("speaker", "seen") if k in row})
        for s in systems:
            per_seed = (results.get(s["name"]) or {}).get("per_seed") or {}
            seeds = []
            for seed in s["seeds"]:
                got = per_seed.get(seed) or per_seed.get(str(seed)) or {}
                audio = (got.get("audio") or {}).get(uid)
                sim = (got.get("sim") or {}).get(uid)
                asr_out = {}
                for a in asrs:
                    u = scores.get((s["name"], seed, a, uid))
                    if u is not None:
                        asr_out[a] = {
                            "wer": u["wer"], "cer": u["cer"], "hyp": u["hyp"],
                            "al": mark_errors(u["ref_norm"], u["hyp_norm"]),
                        }  # fmt: skip
                if audio is None and not asr_out:
                    continue
                url = (
                    entry["gt"]
                    if s["type"] == "ground_truth" and entry["gt"]
                    else media.url(audio, f"{s['name']}/seed{seed}", uid)
                )
                seeds.append({"seed": seed, "audio": url, "sim": sim, "asr": asr_out})
            if seeds:
                entry["s"][s["name"]] = seeds
        utts.append(entry)
    pairs = [[c["a"], c["b"]] for c in report.get("comparisons") or [] if not c.get("error")]
    return {"asr": asrs, "systems": systems, "baseline": report.get("baseline"), "pairs": pairs, "utts": utts,
            "page_size": PAGE_SIZE}  # fmt: skip


# ---------------------------------------------------------------------------------------------- render


def _e(x) -> str:
    return html.escape(str(x), quote=True)


def _table(head: Iterable[str], body: Iterable[Iterable[str]], cls: str = "") -> str:
    h = "".join(f"<th>{_e(c)}</th>" for c in head)
    b = "".join("<tr>" + "".join(f"<td>{_e(c)}</td>" for c in row) + "</tr>" for row in body)
    return f'<table class="{cls}"><thead><tr>{h}</tr></thead><tbody>{b}</tbody></table>'


def _summary(report: dict) -> str:
    """The tables of report.md: WER/CER per ASR, per-seed WERs, SIM/RTF/PESQ/STOI, failed systems."""
    ok = [s for s in report["systems"] if s["status"] == "ok"]
    parts = []
    for a in report["asr"]:
        asr = a["name"]
        parts.append(f"<h3>WER / CER &mdash; ASR <code>{_e(asr)}</code></h3>")
        parts.append(
            "<p class=note>WER and CER in %; 95% bootstrap CI in brackets; delta = system &minus; baseline "
            f"(paired bootstrap; baseline: {_e(report.get('baseline') or '-')}).</p>"
        )
        rows = []
        for s in ok:
            e = s["asr"][asr]
            rows.append([s["name"], s["type"], e["n"], _ci_pct(e["wer_mean"]), _ci_pct(e["wer_corpus"]),
                         _ci_pct(e["cer_mean"]), _ci_pct(e["cer_corpus"]), _delta(e.get("delta_wer_mean"))])  # fmt: skip
        parts.append(_table(["system", "type", "n", "WER (mean of utt.)", "corpus WER", "CER (mean)",
                             "corpus CER", "delta WER vs baseline"], rows, "summary wer"))  # fmt: skip
        multi = [s for s in ok if len(s["seeds"]) > 1]
        if multi:
            seeds = sorted({str(k) for s in multi for k in s["asr"][asr]["per_seed"]})
            parts.append(_table(
                ["system"] + [f"WER seed {k} (%)" for k in seeds],
                [[s["name"]] + [_pct((s["asr"][asr]["per_seed"].get(k) or {}).get("wer_mean")) for k in seeds]
                 for s in multi], "summary seeds"))  # fmt: skip
    parts.append("<h3>SIM, RTF, resynthesis quality</h3>")
    parts.append(_table(
        ["system", "SIM-o", "delta SIM vs baseline", "RTF", "PESQ (wb)", "STOI", "missing utts"],
        [[s["name"], _ci(s.get("sim")), _delta(s.get("delta_sim"), 1.0, 3), _num(s.get("rtf")),
          _ci(s.get("pesq"), 2), _ci(s.get("stoi"), 3), len(s["missing"])] for s in ok], "summary sim"))  # fmt: skip
    asrs = [a["name"] for a in report["asr"]]
    if report.get("comparisons"):
        parts.append("<h3>Paired comparisons</h3>")
        parts.append("<p class=note>a &minus; b on the utterances both have; WER in points (%), SIM in cosine; "
                     "95% paired bootstrap CI.</p>")  # fmt: skip
        rows = [
            [f"{c['a']} - {c['b']}"] + ["-" for _ in asrs] + [c["error"]]
            if c.get("error")
            else [f"{c['a']} - {c['b']}"]
            + [_delta(c["wer_mean"].get(a)) for a in asrs]
            + [_delta(c.get("sim"), 1.0, 3)]
            for c in report["comparisons"]
        ]
        parts.append(_table(["a - b"] + [f"WER {a}" for a in asrs] + ["SIM"], rows, "summary comparisons"))
    if report.get("voices"):
        voices, tables = report["voices"], voices_tables(report["voices"], asrs)
        parts.append("<h3>Voice cloning: seen and unseen speakers</h3><ul class=note>")
        parts += [f"<li>{_e(line)}</li>" for line in voices_notes(voices)]
        parts.append("</ul><dl class=note>")
        parts += [f"<dt>{_e(k)}</dt><dd>{_e(v)}</dd>" for k, v in voices["definitions"].items()]
        parts.append("</dl><p class=note>Cloning happens where a system's SIM to the prompt on unseen speakers rises "
                     "above sim_no_cloning toward sim_ceiling. WER in %, SIM in cosine; 95% bootstrap CI.</p>")  # fmt: skip
        parts.append(_table(*tables["groups"], "summary voices"))
        if tables["deltas"][1]:
            parts.append("<h3>Paired deltas per speaker group</h3>")
            parts.append(_table(*tables["deltas"], "summary voice-deltas"))
    curves = [s for s in report["systems"] if s.get("curve")]
    if curves:
        parts.append("<h3>WER during training</h3>")
        parts.append("<p class=note>Validation WER logged by tts.wer_callback.WERCallback while the model trained "
                     "(its own small list and settings; monitoring only).</p>")  # fmt: skip
        rows = []
        for s in curves:
            pts = s["curve"].get("points") or []
            last = pts[-1] if pts else {}
            wall = last.get("wall_s")
            rows.append([s["name"], len(pts), last.get("step", "-"), _num(wall / 60, 1) if wall is not None else "-",
                         _pct(last.get("wer_mean")), s["curve"].get("path", "-") + (
                             f" ({s['curve']['error']})" if s["curve"].get("error") else "")])  # fmt: skip
        parts.append(_table(["system", "points", "last step", "last wall-clock (min)", "last WER %", "file"],
                            rows, "summary curves"))  # fmt: skip
    failed = [s for s in report["systems"] if s["status"] != "ok"]
    if failed:
        parts.append("<h3>Failed systems</h3><ul>")
        parts += [f"<li><b>{_e(s['name'])}</b> ({_e(s['type'])}): <code>{_e(s.get('error'))}</code></li>"
                  for s in failed]  # fmt: skip
        parts.append("</ul>")
    return "\n".join(parts)


def _player(src: str | None, label: str) -> str:
    if not src:
        return '<span class="missing">no audio</span>'
    return f'<audio controls preload="none" src="{_e(src)}" title="{_e(label)}"></audio>'


def _side_by_side(data: dict, voices: dict | None) -> str:
    """The unseen-speaker rows as a table: the prompt's player next to the ground truth's (with its SIM to the
    prompt, the row's ceiling) and each TTS system's output (every seed, with its SIM to the prompt); the
    no-cloning reference's training speaker named per row; "" when no row is unseen."""
    unseen = [u for u in data["utts"] if u.get("seen") is False]
    if not unseen:
        return ""
    refs = {r["id"]: r for r in (voices or {}).get("references", [])}
    systems = [s for s in data["systems"] if s["type"] == "tts"]
    head = "".join(f"<th>{_e(c)}</th>" for c in ["utterance", "prompt", "ground truth"] + [s["name"] for s in systems])
    body = []
    for u in unseen:
        ref = refs.get(u["id"]) or {}
        nearest = (f'<br><span class="uid">no-cloning reference: {_e(ref["nearest_training_speaker"])}, SIM '
                   f'{_num(ref.get("sim_no_cloning"))}</span>' if ref.get("nearest_training_speaker") else "")  # fmt: skip
        cells = [f'<td><span class="uid">{_e(u["id"])} &middot; speaker {_e(u.get("speaker", "-"))}</span><br>'
                 f'<span class="text">{_e(u["text"])}</span><br><span class="uid">prompt: '
                 f'&ldquo;{_e(u["ref_text"])}&rdquo;</span>{nearest}</td>',
                 f'<td class="prompt"><span class="uid">the prompt</span><br>{_player(u["prompt"], "prompt")}</td>',
                 f'<td class="gt"><span class="uid">SIM {_num(ref.get("sim_ceiling"))}</span><br>'
                 f'{_player(u["gt"], "ground truth")}</td>']  # fmt: skip
        for s in systems:
            outs = [f'<span class="uid">seed {r["seed"]} &middot; SIM {_num(r["sim"])}</span><br>'
                    f'{_player(r["audio"], s["name"])}' for r in u["s"].get(s["name"], [])]
            cells.append(f'<td data-system="{_e(s["name"])}">' + ("<br>".join(outs) or "-") + "</td>")
        body.append(f'<tr data-id="{_e(u["id"])}">' + "".join(cells) + "</tr>")
    return (f'<section id="unseen"><h2>Unseen speakers: prompt and output side by side</h2>'
            f'<p class=note>{len(unseen)} test rows whose speaker was never in training: the prompt the model was '
            'given, the speaker\'s own recording of the text, and each TTS system\'s output (SIM to the prompt).</p>'
            f'<div class="scroll"><table class="side"><thead><tr>{head}</tr></thead><tbody>{"".join(body)}</tbody>'
            "</table></div></section>")  # fmt: skip


def _details(report: dict) -> str:
    """Protocol, ASR and SIM models with hashes, system models with hashes and timings, versions."""
    parts = ["<h2>Protocol</h2>", "<dl>"]
    parts += [f"<dt>{_e(k)}</dt><dd>{_e(v)}</dd>" for k, v in report["protocol"].items()]
    parts.append("</dl><h2>Models</h2>")
    rows = []
    for a in report["asr"]:
        cfg = ", ".join(f"{k}={v}" for k, v in (a.get("config") or {}).items())
        rows.append([f"ASR {a['name']}", cfg, a.get("model_path") or "-", a.get("model_sha256") or "-"])
    sim = report.get("similarity")
    if sim:
        rows.append([f"SIM {sim['name']}", json.dumps(sim.get("spec")), sim.get("model_path") or "-",
                     sim.get("model_sha256") or "-"])  # fmt: skip
    for s in report["systems"]:
        model = s["config"].get("model") or s["config"].get("space") or "-"
        hashes = s.get("model_sha256") or {}
        flat = "\n".join(
            f"{k}: {v}"
            if isinstance(v, str)
            else f"{k}:\n" + "\n".join(f"  {kk}: {vv}" for kk, vv in v.items())
            for k, v in hashes.items()
        )
        cfg = ", ".join(
            f"{k}={v}" for k, v in s["config"].items() if k not in ("name", "type", "model", "space")
        )
        rows.append([f"{s['type']} {s['name']}", cfg or "-", model, flat or "-"])
    parts.append(_table(["role", "configuration", "path", "sha256"], rows, "models"))
    timings = report.get("timings") or {}
    if timings.get("systems_seconds"):
        parts.append("<h2>Timings</h2>")
        t_rows = [[n, f"{t:.1f}"] for n, t in timings["systems_seconds"].items()]
        t_rows.append(["total", f"{timings.get('total_seconds', 0):.1f}"])
        parts.append(_table(["system", "seconds (this run; cached work ~0)"], t_rows, "timings"))
    parts.append("<h2>Versions</h2>")
    parts.append(
        _table(["package", "version"], [[k, v or "-"] for k, v in report["versions"].items()], "versions")
    )
    return "\n".join(parts)


def render_html(report: dict, data: dict) -> str:
    """The whole page as one string (CSS and JavaScript inline; data as JSON)."""
    head = [
        f"<li><b>Date</b>: {_e(report['date'])}</li>",
        f"<li><b>Spec</b>: <code>{_e(report.get('spec_path') or 'dict (run_bench)')}</code></li>",
        f"<li><b>Test list</b>: <code>{_e(report['spec'].get('test_list'))}</code> "
        f"({report['n_utterances']} utterances)</li>",
        f"<li><b>Seeds</b>: {_e(report['seeds'])}; <b>baseline</b>: {_e(report.get('baseline') or '-')}</li>",
    ]
    if report.get("scale"):
        head.append(f"<li><b>Scale</b>: {_e(report['scale'])}</li>")
    notes = f"<blockquote>{_e(str(report['notes']).strip())}</blockquote>" if report.get("notes") else ""
    plots = "".join(
        f'<figure><img src="{_e(quote(p))}" alt="{_e(p)}"><figcaption>{_e(p)}</figcaption></figure>'
        for p in report.get("plots") or []
    )
    payload = json.dumps(data, ensure_ascii=False, separators=(",", ":")).replace("<", "\\u003c")
    return f"""<!DOCTYPE html>
<html lang="en"><head><meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>Benchmark report: {_e(report["name"])}</title>
<style>{_CSS}</style></head>
<body>
<h1>Benchmark report: {_e(report["name"])}</h1>
<ul class="meta">{"".join(head)}</ul>
{notes}
<nav><a href="#summary">Summary</a> · {'<a href="#unseen">Unseen speakers</a> · ' if any(u.get("seen") is False for u in data["utts"]) else ""}<a href="#plots">Plots</a> · <a href="#utterances">Utterances</a> ·
<a href="#protocol">Protocol, models, versions</a> · <a href="report.md">report.md</a> ·
<a href="report.json">report.json</a></nav>
<section id="summary"><h2>Summary</h2>
{_summary(report)}
</section>
{_side_by_side(data, report.get("voices"))}
<section id="plots"><h2>Plots</h2><div class="plots">{plots or "<p>No plots.</p>"}</div></section>
<section id="utterances"><h2>Utterances</h2>
<noscript><p>The utterance list is drawn by JavaScript; per-utterance data: utterances.jsonl.</p></noscript>
<div id="controls">
<label>ASR <select id="asr"></select></label>
<label>sort by <select id="key"></select></label>
<label id="diff-ab" hidden>A <select id="sys-a"></select> &minus; B <select id="sys-b"></select></label>
<label><select id="dir"><option value="1">ascending</option><option value="-1">descending</option></select></label>
<label>text <input id="q" type="search" placeholder="words in text, id or transcript"></label>
<label>value from <input id="vmin" type="number" step="any" size="5"> to
<input id="vmax" type="number" step="any" size="5"></label>
<label>rows/page <select id="size"><option>25</option><option>50</option><option>100</option>
<option>200</option><option value="0">all</option></select></label>
</div>
<p class="legend">Transcripts are the normalized text that was scored; errors from jiwer's alignment:
<span class="sub"><del>reference</del><ins>heard</ins></span> substitution,
<del class="del">missing</del> deletion, <ins class="ins">extra</ins> insertion. Hover a transcript for the
raw ASR output. WER/SIM sort values are means over seeds; WER values in %.</p>
<div class="pager"><button id="prev" type="button">&larr; previous</button> <span id="status"></span>
<button id="next" type="button">next &rarr;</button></div>
<table id="utts"><thead></thead></table>
<div class="pager"><button id="prev2" type="button">&larr; previous</button>
<button id="next2" type="button">next &rarr;</button></div>
</section>
<section id="protocol">
{_details(report)}
</section>
<script type="application/json" id="data">{payload}</script>
<script>{_JS}</script>
</body></html>
"""


_CSS = """
body{font:14px/1.4 system-ui,-apple-system,"Segoe UI",Roboto,sans-serif;margin:1.5em;color:#222;max-width:1800px}
h1{font-size:1.5em;margin:.2em 0}h2{border-bottom:1px solid #ccc;margin-top:1.6em}h3{margin-bottom:.3em}
table{border-collapse:collapse;margin:.4em 0}
th,td{border:1px solid #ddd;padding:3px 6px;vertical-align:top;text-align:left}
th{background:#f3f3f3}table.summary td{font-variant-numeric:tabular-nums;white-space:nowrap}
blockquote{background:#f8f8f8;border-left:4px solid #bbb;margin:.6em 0;padding:.4em .8em;max-width:1100px}
.note,.legend{color:#555;font-size:.92em}.meta{padding-left:1.2em}
.plots{display:flex;flex-wrap:wrap;gap:1em}.plots img{max-height:330px}figure{margin:0}
#controls{display:flex;flex-wrap:wrap;gap:.4em 1.2em;background:#f3f6fa;padding:.5em;border:1px solid #d8e0ea}
.pager{margin:.4em 0}
#utts{width:100%}#utts tbody.utt{border-top:3px solid #888}
#utts tr.head td{background:#fafaf0}#utts .uid{color:#777;font-size:.85em}
#utts .text{font-size:1.08em;font-weight:600}
audio{height:30px;width:230px;vertical-align:middle}
td.sys{white-space:nowrap;font-weight:600}td.num{text-align:right;font-variant-numeric:tabular-nums}
tr.gt td{background:#f6fbf6}
del,ins{text-decoration:none;padding:0 2px;border-radius:2px}
.sub del{color:#888;text-decoration:line-through;background:none}.sub ins{background:#ffd79a}
del.del{background:#f7b3b3;text-decoration:line-through}ins.ins{background:#b7d4ff;text-decoration:underline}
.missing{color:#a00;white-space:nowrap}
.scroll{overflow-x:auto}table.side audio{width:200px}table.side td:first-child{min-width:220px;max-width:420px}
#controls input[type=number]{width:6em}
table.models td{white-space:pre-wrap}table.models td:last-child{font:12px monospace;word-break:break-all;min-width:480px}
dt{font-weight:600}dd{margin:0 0 .4em 1.5em}
"""

_JS = r"""
"use strict";
const D = JSON.parse(document.getElementById("data").textContent);
const $ = (id) => document.getElementById(id);
const el = (tag, attrs, ...kids) => {
  const n = document.createElement(tag);
  for (const [k, v] of Object.entries(attrs || {})) if (v !== null && v !== undefined) n.setAttribute(k, v);
  for (const k of kids) n.append(k);
  return n;
};
const names = D.systems.map((s) => s.name);
const mean = (xs) => { const v = xs.filter((x) => x !== null && x !== undefined); return v.length ? v.reduce((a, b) => a + b, 0) / v.length : null; };
const pct = (x) => (x === null || x === undefined ? "-" : (100 * x).toFixed(1));
function werOf(u, sys, asr) { return mean((u.s[sys] || []).map((r) => (r.asr[asr] ? r.asr[asr].wer : null))); }
function simOf(u, sys) { return mean((u.s[sys] || []).map((r) => r.sim)); }
function fill(sel, opts) { for (const [v, t] of opts) sel.append(el("option", {value: v}, t)); }
fill($("asr"), D.asr.map((a) => [a, a]));
fill($("key"), [["order", "test-list order"], ["text", "text"]]
  .concat(names.map((n) => ["wer:" + n, "WER of " + n]))
  .concat(names.map((n) => ["sim:" + n, "SIM of " + n]))
  .concat([["diff", "WER difference A \u2212 B"]]));
fill($("sys-a"), names.map((n) => [n, n]));
fill($("sys-b"), names.map((n) => [n, n]));
if (D.pairs.length) { $("sys-a").value = D.pairs[0][0]; $("sys-b").value = D.pairs[0][1]; }
else if (names.length > 1) $("sys-b").value = D.baseline && D.baseline !== names[0] ? D.baseline : names[1];
$("size").value = String(D.page_size);
let page = 0;
D.utts.forEach((u, i) => { u.order = i; });
function keyValue(u, key, asr) {
  if (key === "order") return u.order;
  if (key === "text") return u.text.toLowerCase();
  if (key.startsWith("wer:")) { const w = werOf(u, key.slice(4), asr); return w === null ? null : 100 * w; }
  if (key.startsWith("sim:")) return simOf(u, key.slice(4));
  const a = werOf(u, $("sys-a").value, asr), b = werOf(u, $("sys-b").value, asr);
  return a === null || b === null ? null : 100 * (a - b);
}
function haystack(u) {
  const parts = [u.id, u.text, u.ref_text];
  for (const rs of Object.values(u.s)) for (const r of rs) for (const x of Object.values(r.asr)) parts.push(x.hyp);
  return parts.join(" ").toLowerCase();
}
function selected() {
  const asr = $("asr").value, key = $("key").value, dir = Number($("dir").value);
  const q = $("q").value.trim().toLowerCase();
  const lo = $("vmin").value === "" ? null : Number($("vmin").value);
  const hi = $("vmax").value === "" ? null : Number($("vmax").value);
  const numeric = key !== "text";
  let rows = D.utts.map((u) => ({u, v: keyValue(u, key, asr)}));
  if (q) rows = rows.filter((r) => q.split(/\s+/).every((w) => haystack(r.u).includes(w)));
  if (numeric && (lo !== null || hi !== null))
    rows = rows.filter((r) => r.v !== null && (lo === null || r.v >= lo) && (hi === null || r.v <= hi));
  rows.sort((x, y) => {
    if (x.v === null || y.v === null) return (x.v === null) - (y.v === null);
    const c = x.v < y.v ? -1 : x.v > y.v ? 1 : 0;
    return c ? dir * c : x.u.order - y.u.order;
  });
  return rows;
}
function transcript(x) {
  const td = el("td", {class: "tr", title: "raw: " + x.hyp});
  for (const op of x.al) {
    if (typeof op === "string") { td.append(op, " "); continue; }
    const [k, r, h] = op;
    if (k === "s") td.append(el("span", {class: "sub", title: "substitution: '" + r + "' heard as '" + h + "'"}, el("del", {}, r), el("ins", {}, h)), " ");
    else if (k === "d") td.append(el("del", {class: "del", title: "deletion"}, r), " ");
    else td.append(el("ins", {class: "ins", title: "insertion"}, h), " ");
  }
  return td;
}
function player(src, label) {
  if (!src) return el("span", {class: "missing"}, "no audio");
  const a = el("audio", {controls: "", preload: "none", src: src, title: label});
  return a;
}
function head() {
  const tr = el("tr", {}, el("th", {}, "system"), el("th", {}, "audio"));
  for (const a of D.asr) tr.append(el("th", {}, "transcript (" + a + ")"), el("th", {}, "WER %"));
  tr.append(el("th", {}, "SIM"));
  const th = $("utts").tHead; th.replaceChildren(tr);
}
function utterance(u, rank, asr, key) {
  const tb = el("tbody", {class: "utt", "data-id": u.id});
  const ncol = 3 + 2 * D.asr.length;
  const info = el("td", {colspan: String(ncol)});
  const who = u.speaker === undefined ? "" : "speaker " + u.speaker + (u.seen === false ? " (unseen)" : "") + " \u00b7 ";
  info.append(el("span", {class: "uid"}, "#" + (rank + 1) + " \u00b7 " + who + u.id + " "), el("span", {class: "text"}, u.text));
  const v = keyValue(u, key, asr);
  if (key !== "order" && key !== "text") info.append(el("span", {class: "uid"}, "  [" + $("key").selectedOptions[0].text + ": " + (v === null ? "-" : v.toFixed(key.startsWith("sim:") ? 3 : 1)) + "]"));
  info.append(el("br"));
  if (u.prompt || u.ref_text) info.append("prompt ", player(u.prompt, "prompt"), el("span", {class: "uid"}, u.ref_text ? " \u201c" + u.ref_text + "\u201d  " : "  "));
  if (u.gt) info.append(" ground truth ", player(u.gt, "ground truth"));
  tb.append(el("tr", {class: "head"}, info));
  for (const s of D.systems) {
    for (const r of u.s[s.name] || []) {
      const label = s.name + (s.seeds.length > 1 ? " \u00b7 seed " + r.seed : "");
      const tr = el("tr", {class: s.type === "ground_truth" ? "gt" : "", "data-system": s.name, "data-seed": String(r.seed)});
      tr.append(el("td", {class: "sys"}, label), el("td", {}, player(r.audio, label)));
      for (const a of D.asr) {
        const x = r.asr[a];
        if (x) tr.append(transcript(x), el("td", {class: "num"}, pct(x.wer)));
        else tr.append(el("td", {}, "-"), el("td", {}, "-"));
      }
      tr.append(el("td", {class: "num"}, r.sim === null || r.sim === undefined ? "-" : r.sim.toFixed(3)));
      tb.append(tr);
    }
  }
  return tb;
}
function render() {
  const asr = $("asr").value, key = $("key").value;
  $("diff-ab").hidden = key !== "diff";
  const rows = selected();
  const size = Number($("size").value) || rows.length || 1;
  const pages = Math.max(1, Math.ceil(rows.length / size));
  page = Math.min(page, pages - 1);
  const start = page * size, shown = rows.slice(start, start + size);
  const t = $("utts");
  for (const b of Array.from(t.tBodies)) b.remove();
  shown.forEach((r, i) => t.append(utterance(r.u, start + i, asr, key)));
  $("status").textContent = rows.length ? `utterances ${start + 1}\u2013${start + shown.length} of ${rows.length}` +
    (rows.length < D.utts.length ? ` (filtered from ${D.utts.length})` : "") + ` \u00b7 page ${page + 1}/${pages}` : "no utterance matches";
  for (const id of ["prev", "prev2"]) $(id).disabled = page === 0;
  for (const id of ["next", "next2"]) $(id).disabled = page >= pages - 1;
}
for (const id of ["asr", "key", "sys-a", "sys-b", "dir", "size"]) $(id).addEventListener("change", () => { page = 0; render(); });
for (const id of ["q", "vmin", "vmax"]) $(id).addEventListener("input", () => { page = 0; render(); });
for (const id of ["prev", "prev2"]) $(id).addEventListener("click", () => { page -= 1; render(); });
for (const id of ["next", "next2"]) $(id).addEventListener("click", () => { page += 1; render(); });
head();
render();
"""


# ----------------------------------------------------------------------------------------------- write


def write_html(
    report: dict, out_dir: str | Path, rows: list[dict], utterances: list[dict], results: dict
) -> Path:
    """Write ``out_dir/report.html`` (see the module docstring); returns its path."""
    out_dir = Path(out_dir)
    path = out_dir / "report.html"
    atomic_write_text(path, render_html(report, page_data(report, out_dir, rows, utterances, results)))
    return path


def results_from_dir(out_dir: Path, report: dict, rows: list[dict]) -> dict:
    """The runner's per-seed audio and SIM maps read back from a benchmark folder's layout and caches."""
    sim_name = (report.get("similarity") or {}).get("name")
    results: dict = {}
    for s in report["systems"]:
        if s["status"] != "ok":
            continue
        per_seed = {}
        for seed in s.get("seeds", [0]):
            if s["type"] == "ground_truth":
                audio = {r["id"]: r["gt_audio"] for r in rows if r.get("gt_audio")}
            else:
                folder = out_dir / "audio" / s["name"] / f"seed{seed}"
                audio = {r["id"]: folder / f"{r['id']}.wav" for r in rows}
            sim_file = out_dir / "cache" / s["name"] / f"seed{seed}" / f"sim_{sim_name}.jsonl"
            sim = (
                {r["id"]: r["value"] for r in read_jsonl(sim_file) if r.get("sig") == sim_name}
                if sim_name
                else {}
            )
            per_seed[seed] = {"audio": audio, "sim": sim}
        results[s["name"]] = {"per_seed": per_seed}
    return results


def rebuild(out_dir: str | Path) -> Path:
    """report.html of a finished benchmark folder (report.json, utterances.jsonl, test_list.jsonl, audio/)."""
    out_dir = Path(out_dir)
    if not (out_dir / "report.json").is_file():
        raise FileNotFoundError(
            f"{out_dir / 'report.json'} not found: is {out_dir} a `tts bench --out` folder?"
        )
    report = json.loads((out_dir / "report.json").read_text(encoding="utf-8"))
    utterances = read_jsonl(out_dir / report.get("utterances_file", "utterances.jsonl"))
    rows = read_jsonl(out_dir / "test_list.jsonl")
    if not rows:  # a published report without its test list: the ids and texts of the scored rows
        seen: dict[str, dict] = {}
        for u in utterances:
            seen.setdefault(u["id"], {"id": u["id"], "text": u["text"]})
        rows = list(seen.values())
    return write_html(report, out_dir, rows, utterances, results_from_dir(out_dir, report, rows))


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(
        prog="python -m tts.bench.html",
        description="Rebuild report.html (players, marked transcripts, sortable per-utterance table) from a "
        "finished `tts bench --out DIR` folder; optionally render a PNG of it in headless Chromium.",
    )
    p.add_argument("dir", help="benchmark output folder (holds report.json and utterances.jsonl)")
    p.add_argument("--screenshot", help="also write a PNG of the page's top (needs Debian `chromium`)")
    p.add_argument(
        "--from",
        dest="start",
        help="CSS selector the screenshot starts at (default: the top), e.g. '#utterances'",
    )
    p.add_argument("--width", type=int, default=1400, help="screenshot width in CSS pixels")
    p.add_argument("--height", type=int, default=1800, help="screenshot height in CSS pixels")
    args = p.parse_args(argv)
    try:
        page = rebuild(args.dir)
    except FileNotFoundError as e:
        print(f"tts.bench.html: {e}", file=sys.stderr)
        return 2
    print(f"report: {page} ({page.stat().st_size / 1024:.0f} KiB)")
    if args.screenshot:
        from tts.bench.browser import Chromium

        with Chromium(width=args.width, height=args.height) as browser:
            browser.open(page)
            browser.screenshot(args.screenshot, height=args.height, selector=args.start)
        print(f"screenshot: {args.screenshot}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
