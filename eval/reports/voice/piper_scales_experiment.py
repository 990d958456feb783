"""Whisper-base ground-truth WER of the joe voice under three piper synthesis settings (paired sentences).

Run as: PYTHONPATH=. python eval/reports/voice/piper_scales_experiment.py /tmp/vdemo 60
(the corpus built by `tts data demo --out /tmp/vdemo --hours 0.5 --workers 2`; its first N joe utterances
by id). "default" transcribes the corpus's own wavs; the others resynthesize the same sentences.
"""

import sys

import numpy as np
import torch
from lhotse import load_manifest
from piper.config import SynthesisConfig

from tts.audio import read_audio, resample
from tts.bench.asr import FasterWhisperASR
from tts.bench.normalize import get_normalizer
from tts.bench.scoring import aggregate, score_utterance
from tts.corpus import piper_voice

corpus, n = sys.argv[1], int(sys.argv[2])
rows = []
for k in ("test", "dev", "train"):
    for c in load_manifest(f"{corpus}/cuts_{k}.jsonl.gz"):
        if c.supervisions[0].speaker == "piper-joe":
            rows.append((c.id, c.supervisions[0].text, c.recording.sources[0].source))
rows = sorted(rows)[:n]
voice = piper_voice.load_voice(threads=1)
asr = FasterWhisperASR("base", beam_size=5)
norm = get_normalizer("whisper")
settings = {
    "default": None,
    "n333": SynthesisConfig(noise_scale=0.333, noise_w_scale=0.333),
    "n333_l11": SynthesisConfig(noise_scale=0.333, noise_w_scale=0.333, length_scale=1.1),
}
res = {k: [] for k in settings}
for _uid, text, path in rows:
    for name, cfg in settings.items():
        if cfg is None:
            d, sr = read_audio(path)
            w = torch.from_numpy(d.mean(1).astype(np.float32))
        else:
            w = torch.from_numpy(np.concatenate([c.audio_float_array for c in voice.synthesize(text, syn_config=cfg)]))
            sr = voice.config.sample_rate
        res[name].append(score_utterance(text, asr.transcribe([resample(w, sr, 16000)])[0], norm))
for name, sc in res.items():
    a = aggregate(sc)
    print(name, len(sc), round(100 * a["wer_mean"], 2), round(100 * a["wer_corpus"], 2), flush=True)
    for s in sc:
        if s["wer"] > 0:
            print("   ", s["ref_norm"], "|", s["hyp_norm"])
