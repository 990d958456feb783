"""Duration-aligned F5 conditioning: frame expansion, data module, training through the smoke recipe,
export, `tts synth` with predicted and with oracle durations."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
import torch
from factories import tiny_vocos_dir, with_even_alignments
from lhotse import load_manifest

from tts.cli import lightning_cli
from tts.data.alignment import (
    alignment_frames,
    default_vocab,
    expand,
    frames_from_durations,
    list_alignment,
    symbol_ids,
)
from tts.data.cache import extract_to_cache
from tts.data.datamodule import UtteranceDataModule
from tts.f5 import export, load
from tts.f5.aligned import aligned_batch
from tts.f5.duration import DurationPredictor, predict_counts
from tts.features.mel import MelSpace
from tts.io import read_jsonl
from tts.synth import synthesize_list
from tts.text import TextError, Vocab, phonemize

ROOT = Path(__file__).resolve().parents[1]


# ---------------------------------------------------------------------------------- frame expansion


@pytest.mark.parametrize("rate", [93.75, 40.0])
def test_alignment_frames_sum_exactly_and_round_cumulative_boundaries(rate):
    rng = np.random.default_rng(0)
    for _ in range(50):
        k = int(rng.integers(1, 30))
        durs = rng.uniform(0.005, 0.2, k)  # some shorter than a frame
        lead = float(rng.uniform(0, 0.3))
        starts = lead + np.concatenate(([0.0], np.cumsum(durs)[:-1]))
        n = round((lead + durs.sum()) * rate) + int(rng.integers(-1, 3))  # feature length off by a frame
        counts = alignment_frames(starts.tolist(), rate, n)
        assert counts.dtype == torch.long and counts.shape == (k,)
        assert int(counts.sum()) == n and bool((counts >= 0).all())
        bounds = torch.cumsum(counts, 0)[:-1]
        expect = np.clip(np.round(starts[1:] * rate), 0, n)
        np.testing.assert_array_equal(bounds.numpy(), expect)


def test_alignment_frames_known_values_on_both_grids():
    starts = [0.05, 0.1, 0.25]  # 50 ms leading silence goes to the first token
    assert alignment_frames(starts, 40.0, 12).tolist() == [4, 6, 2]  # boundaries 0, 4, 10, 12
    assert alignment_frames(starts, 93.75, 30).tolist() == [9, 14, 7]  # round(9.375)=9, round(23.4375)=23
    # tokens past the feature end get 0 frames; non-monotonic starts are made monotonic
    assert alignment_frames([0.0, 0.5, 0.4, 9.0], 40.0, 25).tolist() == [20, 0, 5, 0]
    assert alignment_frames([0.3], 40.0, 7).tolist() == [7]


def test_frames_from_durations_cumulative_rounding_and_total():
    d = torch.tensor([0.4, 0.4, 0.4, 0.4, 0.4])  # per-token rounding would give 0 frames in all
    assert frames_from_durations(d).tolist() == [0, 1, 0, 1, 0]
    c = frames_from_durations(torch.tensor([1.0, 3.0, 0.0, 2.0]), total=13)
    assert int(c.sum()) == 13 and c.tolist() == [2, 7, 0, 4]
    assert frames_from_durations(torch.zeros(3), total=7).sum() == 7  # spread evenly


def test_aligned_batch_repeats_ids_over_frames_and_pads_with_filler():
    vocab = default_vocab("phoneme")
    alis = [[("h", 0.0, 0.1), ("ə", 0.1, 0.1), ("l", 0.2, 0.05)], [("ˈ", 0.0, 0.05), ("ɑ", 0.05, 0.2)]]
    lens = torch.tensor([12, 10])
    frames, toks, counts, mask = aligned_batch(vocab, alis, lens, 40.0, ["u0", "u1"])
    h, schwa, el, stress, a = symbol_ids(vocab, ["h", "ə", "l", "ˈ", "ɑ"])
    assert frames[0].tolist() == [h] * 4 + [schwa] * 4 + [el] * 4
    assert frames[1].tolist() == [stress] * 2 + [a] * 8 + [0] * 2  # past the length: filler
    assert toks.tolist() == [[h, schwa, el], [stress, a, 0]] and mask.tolist() == [[1, 1, 1], [1, 1, 0]]
    assert counts.tolist() == [[4, 4, 4], [2, 8, 0]]
    assert (frames[:, :10] != 0).all()  # no filler inside an utterance


def test_default_vocab_follows_the_alignment_kind_and_names_unknown_symbols():
    vocab = default_vocab("phoneme")
    assert vocab.kind == "phoneme" and vocab.symbols == Vocab(kind="phoneme").symbols
    assert default_vocab("char").symbols == Vocab().symbols
    with pytest.raises(TextError, match=r"'ʘʘ'.*'u7'"):
        symbol_ids(vocab, ["a", "ʘʘ"], "u7")
    with pytest.raises(TextError, match="filler"):
        symbol_ids(vocab, ["a", "<f>"])
    with pytest.raises(ValueError, match="ids but"):
        expand([1, 2], torch.tensor([1]))


def test_duration_predictor_learns_per_symbol_durations():
    torch.manual_seed(0)
    pred = DurationPredictor(8, dim=16, layers=1, dropout=0.0)
    ids = torch.randint(1, 8, (16, 12))
    frames = ids.float() * 2  # symbol k lasts 2k frames
    mask = torch.ones_like(ids, dtype=torch.bool)
    opt = torch.optim.Adam(pred.parameters(), lr=1e-2)
    first = pred.loss(ids, frames, mask).item()
    for _ in range(300):
        opt.zero_grad()
        loss = pred.loss(ids, frames, mask)
        loss.backward()
        opt.step()
    assert loss.item() < 0.05 * first
    pc, gc = predict_counts(pred, [1, 2], [3, 4, 5], n_prompt=9, speed=2.0)
    assert int(pc.sum()) == 9  # the prompt's own frames
    assert abs(int(gc.sum()) - (6 + 8 + 10) / 2) <= 2  # predicted frames / speed



def test_prompt_rate_predictor_speaks_at_its_prompts_rate():
    """Two speakers, one twice as slow: with the prompt's rate as input the same text is predicted longer after
    a slow prompt than after a fast one (a text-only predictor gives both the same). The rate of a short random
    prefix is a noisy estimate of the speaker's, so the prediction leans toward the mean: ~1.4-1.5x here."""
    torch.manual_seed(0)
    pred = DurationPredictor(8, dim=16, layers=1, dropout=0.0, prompt_rate=True)
    ids = torch.randint(1, 8, (32, 40))  # prompts (random prefixes) of 4-20 symbols
    slow = (torch.arange(32) % 2 == 0).float().unsqueeze(1)
    frames = ids.float() * (1 + slow)  # symbol k lasts k frames, 2k for the slow speaker
    mask = torch.ones_like(ids, dtype=torch.bool)
    opt = torch.optim.Adam(pred.parameters(), lr=1e-2)
    for _ in range(400):
        opt.zero_grad()
        pred.loss(ids, frames, mask).backward()
        opt.step()
    prompt, text = [3, 4, 5], [4, 5, 6]  # a prompt of average symbols (the rate is frames per token)
    _, fast_gc = predict_counts(pred, prompt, text, n_prompt=12)  # 3 + 4 + 5 frames: the fast speaker
    _, slow_gc = predict_counts(pred, prompt, text, n_prompt=24)
    assert abs(int(fast_gc.sum()) - 15) <= 3 and int(slow_gc.sum()) >= 1.3 * int(fast_gc.sum())
    with pytest.raises(ValueError, match="prompt's rate"):
        pred(ids)
    assert pred.args["prompt_rate"] and "prompt_rate" not in DurationPredictor(8).args

# --------------------------------------------------------------------------- corpus, training, synth


@pytest.fixture(scope="module")
def aligned_corpus(tiny_corpus, tmp_path_factory):
    """Cached mel features of the tiny corpus with 'char' and 'phoneme' alignments (+ a tiny Vocos)."""
    root = tmp_path_factory.mktemp("aligned")
    space = MelSpace()

    def compute(wavs):
        return [space.encode(w.unsqueeze(0))[0].numpy() for w in wavs]

    paths = {}
    for split in ("train", "dev"):
        cuts = load_manifest(tiny_corpus / f"cuts_{split}.jsonl.gz")
        cuts = with_even_alignments(with_even_alignments(cuts, "char"), "phoneme", skip="spk1_001-1")
        cuts.to_file(root / f"in_{split}.jsonl.gz")
        extract_to_cache(root / f"in_{split}.jsonl.gz", compute, root / f"mel_{split}", key="feats",
                         frame_rate=space.frame_rate, sample_rate=space.sample_rate)  # fmt: skip
        paths[split] = str(root / f"mel_{split}" / "cuts.jsonl.gz")
    torch.manual_seed(0)
    paths["vocos"] = str(tiny_vocos_dir(root / "vocos"))
    paths["root"] = root
    return paths


def test_datamodule_loads_alignments_and_skips_cuts_without(aligned_corpus):
    dm = UtteranceDataModule(aligned_corpus["train"], aligned_corpus["dev"], alignment="phoneme",
                             max_frames_per_batch=400, num_workers=0)  # fmt: skip
    dm.setup("fit")
    assert dm.reports["train"].counts == {"missing_alignment": 1}
    batch = next(iter(dm.train_dataloader()))
    cut = {c.id: c for c in load_manifest(aligned_corpus["train"])}[batch["ids"][0]]
    assert [a[0] for a in batch["alignments"][0]] == phonemize(cut.supervisions[0].text)
    n = int(batch["feat_lens"][0])
    assert n == cut.load_custom("feats").shape[0]


def _fit_recipe(tmp_path, aligned_corpus, kind: str, steps: int = 3, *extra: str) -> Path:
    lightning_cli([
        "fit", *(a for f in ("f5/base", "f5/aligned", "smoke/f5", "smoke/f5_aligned")
                 for a in ("-c", str(ROOT / f"recipes/{f}.yaml"))),  # the smoke aligned DiT on mel
        f"--model.init_args.alignment={kind}", f"--data.init_args.alignment={kind}",
        f"--data.init_args.train_cuts={aligned_corpus['train']}",
        f"--data.init_args.val_cuts={aligned_corpus['dev']}",
        f"--trainer.max_steps={steps}", f"--trainer.default_root_dir={tmp_path}",
        "--trainer.enable_progress_bar=false", *extra,
    ])  # fmt: skip
    ckpts = sorted(tmp_path.rglob("last.ckpt"))
    assert ckpts, "no checkpoint written"
    return ckpts[0]


@pytest.fixture(scope="module")
def phoneme_model(aligned_corpus, tmp_path_factory):
    """The smoke recipe trained a few steps on phoneme alignments, exported."""
    tmp = tmp_path_factory.mktemp("fit")
    ckpt = _fit_recipe(tmp, aligned_corpus, "phoneme")
    return ckpt, export(ckpt, tmp / "export")


def test_smoke_recipe_trains_aligned_dit_and_duration_head(phoneme_model):
    ckpt, out = phoneme_model
    saved = torch.load(ckpt, weights_only=True)
    cfg = saved["f5_config"]
    assert cfg["conditioning"] == "aligned" and cfg["alignment"] == "phoneme"
    assert saved["vocab"]["kind"] == "phoneme"
    assert cfg["duration_predictor"]["vocab_size"] == len(saved["vocab"]["symbols"])
    state = saved["state_dict"]
    assert any(k.startswith("duration.") for k in state)
    fresh = DurationPredictor(**cfg["duration_predictor"])
    moved = [k for k, v in fresh.state_dict().items() if not torch.equal(v, state[f"duration.{k}"])]
    assert moved  # the head trained
    assert all(torch.isfinite(v).all() for v in state.values() if v.is_floating_point())
    model = load(out)
    assert model.conditioning == "aligned" and model.duration is not None
    assert (out / "duration.safetensors").is_file()


def _synth_list(aligned_corpus, tmp_path, extra: list[dict] | None = None) -> tuple[str, dict]:
    cuts = {c.id: c for c in load_manifest(aligned_corpus["dev"])}
    (a, ca), (b, cb) = cuts.items()
    src = lambda c: c.recording.sources[0].source  # noqa: E731
    rows = [
        {"id": "u_pred", "text": cb.supervisions[0].text, "ref_audio": src(ca), "ref_text": ca.supervisions[0].text,
         "alignment": list_alignment(cb, "phoneme")},
        {"id": "u_refali", "text": ca.supervisions[0].text, "ref_audio": src(cb), "ref_text": cb.supervisions[0].text,
         "alignment": list_alignment(ca, "phoneme"), "ref_alignment": list_alignment(cb, "phoneme")},
    ] + (extra or [])  # fmt: skip
    path = tmp_path / "list.jsonl"
    path.write_text("".join(json.dumps(r, ensure_ascii=False) + "\n" for r in rows))
    return str(path), {"u_pred": cb, "u_refali": ca}


def test_synth_with_predicted_durations(phoneme_model, aligned_corpus, tmp_path):
    _, model = phoneme_model
    lst, _ = _synth_list(aligned_corpus, tmp_path)
    out = tmp_path / "out"
    summary = synthesize_list(str(model), lst, str(out), nfe=2, space=f"mel:vocos={aligned_corpus['vocos']}",
                              progress=False)  # fmt: skip
    assert summary["synthesized"] == 2 and summary["errors"] == 0
    rows = {r["id"]: r for r in read_jsonl(out / "results.jsonl")}
    assert rows["u_pred"]["durations"] == "predictor" and rows["u_pred"]["duration_s"] > 0
    fast = synthesize_list(str(model), lst, str(tmp_path / "fast"), nfe=2, speed=2.0, progress=False,
                           space=f"mel:vocos={aligned_corpus['vocos']}")  # fmt: skip
    assert fast["audio_s"] < summary["audio_s"]  # a higher speed factor gives shorter speech


def test_prompt_rate_duration_head_trains_exports_and_synthesizes(aligned_corpus, tmp_path):
    ckpt = _fit_recipe(tmp_path, aligned_corpus, "phoneme", 2, "--model.init_args.duration_prompt_rate=true")
    model = load(export(ckpt, tmp_path / "export"))
    assert model.duration.rate is not None and model.duration.args["prompt_rate"]
    lst, _ = _synth_list(aligned_corpus, tmp_path)
    summary = synthesize_list(str(tmp_path / "export"), lst, str(tmp_path / "out"), nfe=2, progress=False,
                              space=f"mel:vocos={aligned_corpus['vocos']}")  # fmt: skip
    assert summary["synthesized"] == 2 and summary["errors"] == 0

def test_synth_with_oracle_durations_uses_the_rows_alignment(phoneme_model, aligned_corpus, tmp_path):
    from tts.f5.aligned import align_item
    from tts.synth import read_list

    _, model_dir = phoneme_model
    some_wav = next(iter(load_manifest(aligned_corpus["dev"]))).recording.sources[0].source
    bad = {"id": "u_bad", "text": "x", "ref_audio": some_wav, "ref_text": "A.",
           "alignment": [["ʘʘ", 0.0, 0.1]]}  # fmt: skip
    lst, cuts = _synth_list(aligned_corpus, tmp_path, [bad])
    vocos = f"mel:vocos={aligned_corpus['vocos']}"
    out = tmp_path / "oracle"
    summary = synthesize_list(str(model_dir), lst, str(out), nfe=2, space=vocos, durations="oracle",
                              progress=False)  # fmt: skip
    assert summary["synthesized"] == 2 and summary["errors"] == 1
    rows = {r["id"]: r for r in read_jsonl(out / "results.jsonl")}
    assert rows["u_pred"]["durations"] == "oracle"
    for utt, cut in cuts.items():  # generated frames = the ground truth's own frames
        n = round(max(s + d for _, s, d in list_alignment(cut, "phoneme")) * 93.75)
        assert rows[utt]["duration_s"] == pytest.approx((n - 1) * 256 / 24000, abs=1e-3)
    # the frame ids of the generated part are the oracle alignment expanded on the 93.75 Hz grid
    model = load(model_dir)
    items, _ = read_list(lst)
    item = next(it for it in items if it.id == "u_refali")
    cut, ref = cuts["u_refali"], cuts["u_pred"]
    item.prompt = torch.zeros(ref.load_custom("feats").shape[0], 100)
    assert align_item(item, model, durations="oracle") is None
    gen_ids = symbol_ids(model.vocab, phonemize(cut.supervisions[0].text))
    starts = [a.start for a in cut.supervisions[0].alignment["phoneme"]]
    end = max(s + d for _, s, d in list_alignment(cut, "phoneme"))
    expect = expand(gen_ids, alignment_frames(starts, 93.75, round(end * 93.75)))
    assert item.ids[item.prompt.shape[0] :] == expect.tolist()
    ref_ids = symbol_ids(model.vocab, phonemize(ref.supervisions[0].text))
    ref_starts = [a.start for a in ref.supervisions[0].alignment["phoneme"]]
    assert item.ids[: item.prompt.shape[0]] == expand(
        ref_ids, alignment_frames(ref_starts, 93.75, item.prompt.shape[0])
    ).tolist()
    errors = [json.loads(line) for line in (out / "errors.jsonl").read_text().splitlines()]
    assert errors[0]["id"] == "u_bad" and "'ʘʘ'" in errors[0]["reason"]


def test_bench_spec_oracle_durations_need_alignments(tmp_path, phoneme_model):
    from tts.bench.runner import SpecError, prepare_spec

    _, model = phoneme_model
    wav = tmp_path / "a.wav"
    wav.write_bytes(b"")
    rows = [{"id": "a", "text": "Hi.", "ref_audio": str(wav), "ref_text": "Yo.", "alignment": [["h", 0, 0.1]]},
            {"id": "b", "text": "Hi.", "ref_audio": str(wav), "ref_text": "Yo."}]  # fmt: skip
    (tmp_path / "list.jsonl").write_text("".join(json.dumps(r) + "\n" for r in rows))
    spec = {"test_list": str(tmp_path / "list.jsonl"), "asr": [], "similarity": None,
            "systems": [{"name": "tts", "type": "tts", "model": str(model), "durations": "oracle"}]}  # fmt: skip
    with pytest.raises(SpecError, match=r"row 2 \(b\): durations: oracle needs `alignment`") as e:
        prepare_spec(spec)
    assert "row 1" not in str(e.value)
    spec["systems"][0]["durations"] = "guess"
    with pytest.raises(SpecError, match=r"durations[\s\S]*guess"):
        prepare_spec(spec)
    spec["systems"][0]["durations"] = "predictor"
    assert prepare_spec(spec)[0]["systems"][0]["durations"] == "predictor"


def test_demo_test_list_carries_the_natural_voices_alignments(tmp_path):
    from tts.corpus.build import make_test_list

    ali = [["^", 0.0, 0.1], ["h", 0.1, 0.2], ["$", 0.3, 0.05]]
    (tmp_path / "a.align.json").write_text(json.dumps(ali))
    (tmp_path / "b.align.json").write_text(json.dumps(ali[:2]))
    utts = [{"id": i, "text": t, "path": f"{i}.wav", "speaker": s, "duration": 0.35, "align_path": a}
            for i, t, s, a in (("a", "Hi.", "joe", str(tmp_path / "a.align.json")),
                               ("b", "Ho.", "joe", str(tmp_path / "b.align.json")),
                               ("c", "Ha.", "slt", None), ("d", "He.", "slt", None))]  # fmt: skip
    rows = {r["id"]: r for r in make_test_list(utts, [])}
    assert rows["a"]["alignment"] == ali and rows["a"]["ref_alignment"] == ali[:2]
    assert "alignment" not in rows["c"] and "ref_alignment" not in rows["c"]
