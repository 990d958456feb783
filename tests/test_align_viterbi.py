"""`tts data align --method viterbi` (default): planted durations recovered; the encoder method still runs."""

from __future__ import annotations

import json

import torch

from tts.data import align, align_viterbi


def test_viterbi_training_recovers_planted_durations():
    g = torch.Generator().manual_seed(0)
    n_sym, dim = 12, 16
    centers = 3 * torch.randn(n_sym, dim, generator=g)
    xs, ids, truth = [], [], []
    for _ in range(25):
        seq = [1]
        for _ in range(int(torch.randint(4, 11, (1,), generator=g))):  # never a symbol twice in a row (the
            seq.append(1 + (seq[-1] + int(torch.randint(0, n_sym - 2, (1,), generator=g))) % (n_sym - 1))
        durs = torch.randint(3, 15, (len(seq),), generator=g)  # boundary between them is unidentifiable)
        frames = torch.cat([centers[k].repeat(int(d), 1) for k, d in zip(seq, durs)])
        xs.append(frames + 0.5 * torch.randn(frames.shape, generator=g))
        ids.append(seq)
        truth.append(durs)
    model = align_viterbi.fit(xs, ids, n_sym, iterations=6, n_states=1)
    assert model["log_likelihood"][-1] > model["log_likelihood"][0]
    found = align_viterbi.durations(xs, ids, model)
    assert all(int(f.sum()) == int(t.sum()) and (f >= 1).all() for f, t in zip(found, truth))
    err = torch.cat([(t.cumsum(0) - torch.from_numpy(f).cumsum(0)).abs() for f, t in zip(found, truth)])
    assert (err <= 1).float().mean() > 0.95
    # three states per symbol: still one count per phoneme, same total
    three = align_viterbi.durations(xs, ids, align_viterbi.fit(xs, ids, n_sym, iterations=2, n_states=3))
    assert [len(f) for f in three] == [len(i) for i in ids] and all(f.sum() == len(x) for f, x in zip(three, xs))


def test_methods_write_their_aligner_and_realign_from_it(tiny_corpus, tmp_path):
    from lhotse import load_manifest

    manifest = str(tiny_corpus / "cuts_dev.jsonl.gz")
    for method, extra in (("viterbi", ["--iterations", "2"]), ("encoder", ["--steps", "2", "--batch-size", "2"])):
        out = tmp_path / method
        assert align.main(["--cuts", manifest, "--out", str(out), "--method", method, *extra]) == 0
        assert torch.load(out / "aligner.pt", weights_only=True)["method"] == method
        assert json.loads((out / "align.json").read_text())["method"] == method
        again = tmp_path / f"{method}_again"
        assert align.main(["--cuts", manifest, "--out", str(again), "--steps", "0", "--model", str(out / "aligner.pt")]) == 0
        first = [c.supervisions[0].alignment for c in load_manifest(out / "cuts_dev.jsonl.gz")]
        assert [c.supervisions[0].alignment for c in load_manifest(again / "cuts_dev.jsonl.gz")] == first
