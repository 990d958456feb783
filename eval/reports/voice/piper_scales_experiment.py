import json, sys, time
import numpy as np, torch
from lhotse import load_manifest
from piper.config import SynthesisConfig
from tts.data import piper_voice
from tts.audio import read_audio, resample
from tts.bench.asr import FasterWhisperASR
from tts.bench.normalize import get_normalizer
from tts.bench.scoring import aggregate, score_utterance
rows=[]
for k in ("test","dev","train"):
    for c in load_manifest(f"/tmp/vdemo/cuts_{k}.jsonl.gz"):
        if c.supervisions[0].speaker=="piper-joe": rows.append((c.id,c.supervisions[0].text,c.recording.sources[0].source))
rows=sorted(rows)[:int(sys.argv[1])]
v=piper_voice.load_voice(threads=1)
asr=FasterWhisperASR("base", beam_size=5); norm=get_normalizer("whisper")
settings={"default": None, "n333": SynthesisConfig(noise_scale=0.333, noise_w_scale=0.333), "n333_l11": SynthesisConfig(noise_scale=0.333, noise_w_scale=0.333, length_scale=1.1)}
res={k:[] for k in settings}
for uid,text,path in rows:
    for name,cfg in settings.items():
        if cfg is None:
            d,sr=read_audio(path); w=torch.from_numpy(d.mean(1).astype(np.float32))
        else:
            w=torch.from_numpy(np.concatenate([c.audio_float_array for c in v.synthesize(text, syn_config=cfg)])); sr=22050
        w=resample(w,sr,16000)
        res[name].append(score_utterance(text, asr.transcribe([w])[0], norm))
for name,sc in res.items():
    a=aggregate(sc); print(name, len(sc), round(100*a["wer_mean"],2), round(100*a["wer_corpus"],2), flush=True)
    for s in sc:
        if s["wer"]>0: print("   ", s["ref_norm"], "|", s["hyp_norm"])
