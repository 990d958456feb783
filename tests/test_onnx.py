"""``tts export onnx`` + ``tts synth --backend onnx``: every graph and the whole synthesis equal the torch path
within 1e-4 (max abs, fp32, the same noise), on tiny models with random (not zero-initialised) weights: a
phoneme-aligned DiT on mel + Vocos, and a character DiT on normalized VAE latents (log-mel encoder, Vocos-style
decoder)."""

from __future__ import annotations

import json

import numpy as np
import pytest
import soundfile as sf
import torch
from factories import TINY_VOCOS, tiny_aligned_f5_export, tiny_dit

TOL = 1e-4


def _randomize(net: torch.nn.Module, seed: int) -> None:
    """Every parameter drawn anew (the adaLN-zero and output layers start at zero: a zero DiT proves nothing)."""
    g = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        for p in net.parameters():
            p.copy_(0.1 * torch.randn(p.shape, generator=g))


def _mel_model(root):
    from tts.f5.export import load, save

    path = tiny_aligned_f5_export(root / "mel")
    model = load(path)
    _randomize(model.net, 1)
    return save(model, path)


def _latent_model(root):
    from safetensors.torch import save_file

    from tts.f5.export import F5Model, save
    from tts.text import Vocab
    from tts.vae import build_vae

    torch.manual_seed(0)
    enc = {"class_path": "tts.vae.model.MelEncoder", "init_args": {"dim": 16, "intermediate_dim": 32,
           "layers_fine": 1, "layers_coarse": 1}}  # fmt: skip
    dec = {"class_path": "tts.vae.model.VocosDecoder", "init_args": dict(TINY_VOCOS)}
    vae = build_vae(enc, dec)
    vdir = root / "vae"
    vdir.mkdir(parents=True)
    (vdir / "config.json").write_text(json.dumps({"encoder": enc, "decoder": dec}))
    save_file({k: v.contiguous() for k, v in vae.state_dict().items()}, vdir / "model.safetensors")
    stats = root / "stats.json"
    stats.write_text(json.dumps({"mean": (0.1 * torch.randn(64)).tolist(), "std": (1 + 0.5 * torch.rand(64)).tolist()}))
    vocab = Vocab()
    net = tiny_dit(feat_dim=64, vocab_size=len(vocab), null_text="zero")
    _randomize(net, 2)
    return save(F5Model(net, vocab, f"latent:vae={vdir},normalize={stats}", 40.0, max_duration_s=8.0), root / "latent")


@pytest.fixture(scope="module", params=["mel", "latent"])
def exported(request, tmp_path_factory):
    """(torch export dir, ONNX export dir) of one tiny model."""
    from tts.onnx.export import export_onnx

    root = tmp_path_factory.mktemp(f"onnx_{request.param}")
    path = _mel_model(root) if request.param == "mel" else _latent_model(root)
    export_onnx(path, root / "onnx")
    return path, root / "onnx"


def _batch(f5, n=(37, 29), n_ref=(11, 8), seed=0):
    """A padded batch of 2: prompt features, frame ids and lengths."""
    g = torch.Generator().manual_seed(seed)
    d, b, big = f5.net.feat_dim, len(n), max(n)
    cond = torch.randn(b, max(n_ref), d, generator=g)
    text = torch.randint(1, len(f5.vocab), (b, big), generator=g)
    for i, k in enumerate(n):
        text[i, k:] = 0
    return cond, torch.tensor(n_ref), text, torch.tensor(n)


def test_context_and_step_graphs_equal_the_torch_dit(exported):
    from tts.f5 import load
    from tts.f5.cfm import lens_to_mask
    from tts.onnx.runtime import load as load_onnx

    f5, (onnx_f5, _) = load(exported[0]), load_onnx(exported[1], threads=1)
    cond, n_ref, text, total = _batch(f5)
    n = int(total.max())
    mask = lens_to_mask(total, n)
    cond_full = torch.zeros(2, n, f5.net.feat_dim)
    cond_full[:, : cond.shape[1]] = cond
    cond_full *= lens_to_mask(n_ref, n).unsqueeze(-1)
    with torch.no_grad():
        ctx = f5.net.sampling_context(cond_full, text, mask, cfg=True)
        got = onnx_f5.cfm.context(cond_full.numpy(), text.numpy(), mask.numpy())
        assert got.shape == tuple(ctx.shape)
        valid = torch.cat((mask, mask)).unsqueeze(-1).numpy()
        assert np.abs((got - ctx.numpy()) * valid).max() < TOL
        x = torch.randn(2, n, f5.net.feat_dim, generator=torch.Generator().manual_seed(3))
        for t in (0.0, 0.37, 0.9):
            flow = f5.net.forward_context(x, ctx, torch.tensor([t]), torch.cat((mask, mask)))
            out = onnx_f5.cfm.step(x.numpy(), ctx.numpy(), t, torch.cat((mask, mask)).numpy())
            assert flow.abs().max() > 1e-2  # a DiT that computes something
            assert np.abs((out - flow.numpy()) * valid).max() < TOL


def test_the_onnx_sampler_equals_cfm_sample_with_the_same_noise(exported):
    from tts.f5 import load
    from tts.onnx.runtime import initial_noise
    from tts.onnx.runtime import load as load_onnx

    f5, (onnx_f5, _) = load(exported[0]), load_onnx(exported[1], threads=1)
    cond, n_ref, text, total = _batch(f5, seed=1)
    seeds = [5, 9]
    for nfe, cfg, method in ((6, 2.0, "euler"), (4, 0.0, "midpoint")):
        ref = f5.cfm.sample(cond, n_ref, text, total, nfe=nfe, cfg=cfg, method=method, seeds=seeds)
        got = onnx_f5.cfm.sample(cond, n_ref, text, total, nfe=nfe, cfg=cfg, method=method, seeds=seeds)
        valid = (torch.arange(int(total.max()))[None, :] < total[:, None]).unsqueeze(-1)
        assert float(((got - ref).abs() * valid).max()) < TOL
    # the same initial noise: what CFM.sample draws for each seed
    noise = initial_noise(seeds, total.tolist(), int(total.max()), f5.net.feat_dim)
    first = torch.randn(int(total[0]), f5.net.feat_dim, generator=torch.Generator().manual_seed(seeds[0]))
    assert np.array_equal(noise[0, : int(total[0])], first.numpy())


def test_prompt_encoder_decoder_and_duration_graphs_equal_torch(exported):
    from tts.f5 import load
    from tts.features import load_space
    from tts.onnx.runtime import load as load_onnx

    f5 = load(exported[0])
    space = load_space(f5.space)
    onnx_f5, onnx_space = load_onnx(exported[1], threads=1)
    g = torch.Generator().manual_seed(4)
    wav = 0.3 * torch.randn(1, int(0.77 * space.sample_rate), generator=g)  # not a multiple of the hop
    feats = space.encode(wav)
    assert np.abs(onnx_space.encode(wav).numpy() - feats.numpy()).max() < TOL
    ref = space.decode(feats[:, :20])
    got = onnx_space.decode(feats[:, :20])
    assert got.shape == ref.shape and float((got - ref).abs().max()) < TOL
    if f5.duration is not None:
        ids = torch.randint(1, len(f5.vocab), (23,), generator=g)
        assert float((onnx_f5.duration.frames(ids) - f5.duration.frames(ids)).abs().max()) < TOL


def test_tts_synth_backends_give_the_same_audio(exported, tiny_corpus, tmp_path):
    from tts.synth import synthesize_list

    rows = [json.loads(line) for line in (tiny_corpus / "test_list.jsonl").read_text().splitlines()][:2]
    lst = tmp_path / "list.jsonl"
    lst.write_text("".join(json.dumps(r) + "\n" for r in rows))
    out = {}
    for backend, model in (("torch", exported[0]), ("onnx", exported[1])):
        summary = synthesize_list(str(model), str(lst), str(tmp_path / backend), nfe=4, progress=False, backend=backend)
        assert summary["synthesized"] == 2 and summary["errors"] == 0, summary
        out[backend] = {r["id"]: sf.read(tmp_path / backend / f"{r['id']}.wav", dtype="float32")[0] for r in rows}
    for utt in out["torch"]:
        a, b = out["torch"][utt], out["onnx"][utt]
        assert a.shape == b.shape and np.abs(a).max() > 1e-3
        assert np.abs(a - b).max() < TOL + 2 / 32768  # + the 16-bit wav's rounding of either


def test_the_onnx_backend_refuses_a_folder_without_graphs(exported, tiny_corpus, tmp_path, capsys):
    from tts.synth import SynthError, main, synthesize_list

    with pytest.raises(SynthError, match="tts export onnx"):
        synthesize_list(str(exported[0]), str(tiny_corpus / "test_list.jsonl"), str(tmp_path / "o"), backend="onnx")
    assert main(["--model", str(exported[0]), "--input", str(tiny_corpus / "test_list.jsonl"), "--out",
                 str(tmp_path / "o2"), "--backend", "onnx"]) == 2  # fmt: skip
    assert "run `tts export onnx" in capsys.readouterr().err


def test_the_paper_vae_networks_export_too(tmp_path):
    """The DAC-style waveform encoder (conv and Semantic-VAE attention bottlenecks) and the BigVGAN decoder:
    ONNX graphs at two lengths equal the torch modules (the demo's log-mel encoder + Vocos decoder: above)."""
    from tts.onnx.export import _export, _session
    from tts.onnx.graphs import VAEDecoderGraph, VAEEncoderGraph
    from tts.vae.model import BigVGANDecoder, Encoder

    torch.manual_seed(0)
    for i, enc in enumerate((Encoder(channels=2), Encoder(channels=8, bottleneck="attn", attn_heads=1))):
        path = tmp_path / f"enc{i}.onnx"
        _export(VAEEncoderGraph(enc.eval()).eval(), (0.1 * torch.randn(1, 8000),), path, ["wav"], ["mean", "logvar"],
                {"wav": {1: "t"}, "mean": {1: "n"}, "logvar": {1: "n"}})  # fmt: skip
        wav = 0.1 * torch.randn(1, 12000)
        with torch.no_grad():
            mean, logvar = enc(wav.unsqueeze(1))
        got = _session(path).run(None, {"wav": wav.numpy()})
        assert np.abs(got[0] - mean.transpose(1, 2).numpy()).max() < TOL
        assert np.abs(got[1] - logvar.transpose(1, 2).numpy()).max() < TOL
    dec = BigVGANDecoder(channels=64, resblock_kernel_sizes=(3,), resblock_dilations=(1,)).eval()
    path = tmp_path / "bigvgan.onnx"
    _export(VAEDecoderGraph(dec).eval(), (torch.randn(1, 10, 64),), path, ["feats"], ["wav"],
            {"feats": {0: "b", 1: "n"}, "wav": {0: "b", 1: "t"}})  # fmt: skip
    z = torch.randn(2, 13, 64)
    with torch.no_grad():
        ref = dec(z.transpose(1, 2))
    got = _session(path).run(None, {"feats": z.numpy()})[0]
    assert got.shape == tuple(ref.shape) and np.abs(got - ref.numpy()).max() < TOL
