"""CFM: infilling masks, CFG dropout rates, masked loss, sampler, duration rule."""

from __future__ import annotations

import math

import pytest
import torch
from factories import tiny_dit

from tts.f5.cfm import CFM, estimate_frames, flow_loss, lens_to_mask, span_mask, sway_timesteps
from tts.f5.dit import DiT


def tiny_net(feat_dim: int = 8, seed: int = 0) -> DiT:
    torch.manual_seed(seed)
    net = tiny_dit(feat_dim=feat_dim, depth=2)
    for p in net.parameters():  # undo adaLN-zero so the output depends on every input
        if p.dim() > 1 and not p.any():
            torch.nn.init.normal_(p, std=0.05)
    return net.eval()


def test_span_mask_is_contiguous_70_to_100_percent_within_valid_length():
    g = torch.Generator().manual_seed(0)
    lens = torch.randint(5, 200, (4000,), generator=g)
    m = span_mask(lens, 200, (0.7, 1.0), generator=g)
    n_masked = m.sum(1)
    assert (m & ~lens_to_mask(lens, 200)).sum() == 0
    frac = n_masked / lens
    assert frac.min() >= 0.7 - 1 / 5 and frac.max() <= 1.0
    assert ((frac >= 0.68) & (frac <= 1.0)).float().mean() > 0.99
    edges = (m[:, 1:] != m[:, :-1]).sum(1) + m[:, 0].long() + m[:, -1].long()
    assert (edges == 2).all()  # exactly one run of True per row
    assert abs(frac.mean().item() - 0.85) < 0.02


def test_cfg_dropout_rates():
    cfm = CFM(tiny_net())
    g = torch.Generator().manual_seed(1)
    drop_audio, drop_text = cfm.drop_flags(100_000, generator=g)
    assert abs(drop_text.float().mean().item() - 0.2) < 0.01
    assert abs(drop_audio.float().mean().item() - (1 - 0.7 * 0.8)) < 0.01  # 0.3 alone, or with the text
    assert not (drop_text & ~drop_audio).any()


class Recorder(torch.nn.Module):
    """Stands in for the DiT: records its inputs, predicts zeros."""

    feat_dim = 8

    def forward(self, x, cond, text, t, mask=None, drop_audio=None, drop_text=None):
        self.seen = dict(x=x, cond=cond, t=t, drop_audio=drop_audio, drop_text=drop_text)
        return torch.zeros_like(x)


def test_training_target_and_cond_masking():
    rec = Recorder()
    cfm = CFM(rec)
    feats = torch.randn(3, 30, 8)
    lens = torch.tensor([30, 20, 10])
    feats = feats * lens_to_mask(lens, 30).unsqueeze(-1)
    loss, ex = cfm(feats, lens, torch.ones(3, 5, dtype=torch.long), torch.Generator().manual_seed(0))
    x0 = feats - ex["target"]  # target = x1 - x0
    t = rec.seen["t"][:, None, None]
    torch.testing.assert_close(rec.seen["x"], (1 - t) * x0 + t * feats)
    m = ex["loss_mask"].unsqueeze(-1)
    assert (rec.seen["cond"] * m).abs().sum() == 0  # masked span hidden from the network
    torch.testing.assert_close(rec.seen["cond"] * ~m, feats * ~m)
    torch.testing.assert_close(loss, flow_loss(torch.zeros_like(feats), ex["target"], ex["loss_mask"]))


def test_loss_ignores_unmasked_and_padded_frames():
    g = torch.Generator().manual_seed(0)
    pred, target = torch.randn(2, 40, 8, generator=g), torch.randn(2, 40, 8, generator=g)
    mask = span_mask(torch.tensor([40, 25]), 40, generator=g)
    base = flow_loss(pred, target, mask)
    changed = torch.where(mask.unsqueeze(-1), pred, pred + 100.0)
    assert torch.equal(flow_loss(changed, target, mask), base)
    assert not torch.equal(flow_loss(pred + 1.0, target, mask), base)


def test_cfm_loss_backpropagates_through_dit():
    cfm = CFM(tiny_net()).train()
    loss, _ = cfm(torch.randn(2, 24, 8), torch.tensor([24, 16]), torch.randint(1, 20, (2, 10)))
    loss.backward()
    assert torch.isfinite(loss) and cfm.net.input_proj.weight.grad.abs().sum() > 0


def _sample_inputs():
    g = torch.Generator().manual_seed(3)
    cond = torch.randn(3, 12, 8, generator=g)
    cond_lens = torch.tensor([12, 8, 5])
    text = torch.randint(1, 20, (3, 15), generator=g)
    text[2, 9:] = 0
    total = torch.tensor([40, 31, 22])
    return cond, cond_lens, text, total


@pytest.mark.parametrize("nfe", [1, 32])
def test_sampler_shapes_and_prompt_kept(nfe):
    cfm = CFM(tiny_net())
    cond, cond_lens, text, total = _sample_inputs()
    out = cfm.sample(cond, cond_lens, text, total, nfe=nfe, seeds=[1, 2, 3])
    assert out.shape == (3, 40, 8) and torch.isfinite(out).all()
    torch.testing.assert_close(out[1, :8], cond[1, :8])


def test_sampler_is_deterministic_for_a_seed():
    cfm = CFM(tiny_net())
    args = _sample_inputs()
    a = cfm.sample(*args, nfe=4, seeds=7)
    assert torch.equal(a, cfm.sample(*args, nfe=4, seeds=7))
    assert not torch.equal(a, cfm.sample(*args, nfe=4, seeds=8))


@pytest.mark.parametrize("method", ["euler", "midpoint"])
def test_batched_sampling_equals_unbatched(method):
    cfm = CFM(tiny_net())
    cond, cond_lens, text, total = _sample_inputs()
    batched = cfm.sample(cond, cond_lens, text, total, nfe=6, seeds=[5, 6, 7], method=method)
    for i in range(3):
        n = int(total[i])
        single = cfm.sample(
            cond[i : i + 1],
            cond_lens[i : i + 1],
            text[i : i + 1],
            total[i : i + 1],
            nfe=6,
            seeds=[5 + i],
            method=method,
        )
        torch.testing.assert_close(batched[i, :n], single[0], atol=1e-4, rtol=1e-4)


def test_text_encoded_once_and_cfg_packed_in_one_batch():
    net = tiny_net()
    calls = {"text": 0, "dit": []}
    net.text_encoder.register_forward_hook(lambda *a: calls.__setitem__("text", calls["text"] + 1))
    orig = net.forward_context

    def spy(x, context, t, mask=None):
        calls["dit"].append((x.shape[0], context.shape[0]))
        return orig(x, context, t, mask)

    net.forward_context = spy
    cond, cond_lens, text, total = _sample_inputs()
    CFM(net).sample(cond, cond_lens, text, total, nfe=8, cfg=2.0)
    assert calls["text"] == 1
    assert calls["dit"] == [(3, 6)] * 8  # one packed (cond + uncond) call per step
    calls["dit"].clear()
    CFM(net).sample(cond, cond_lens, text, total, nfe=8, cfg=0.0)
    assert calls["dit"] == [(3, 3)] * 8


def test_sway_timesteps():
    t = sway_timesteps(32, -1.0)
    assert t[0] == 0 and abs(t[-1] - 1) < 1e-6 and (t[1:] > t[:-1]).all()
    assert t[1] < 1 / 32  # s = -1 puts more steps early
    torch.testing.assert_close(sway_timesteps(4, 0.0), torch.linspace(0, 1, 5))


def test_duration_rule():
    # F5-TTS counts the prompt text with the space it appends ("abcd " = 5 bytes)
    assert estimate_frames(100, "abcd", "abcdabcd") == 100 + 160
    assert estimate_frames(100, "abcd", "abcdabcd", speed=2.0) == 100 + 80
    assert estimate_frames(100, "ab", "é") == 100 + 66  # UTF-8 bytes, not characters
    assert estimate_frames(100, "aé", "abc") == 100 + 100  # a multi-byte last character: no space added
    assert estimate_frames(100, "x", "y", duration_s=2.0, frame_rate=40.0) == 180


@pytest.mark.parametrize("steps", [5, 6, 7, 10, 12, 16])
def test_epss_grids_for_low_nfe(steps):
    """F5-TTS' pruned grids (multiples of 1/32, denser early), then sway-sampled like the even grid."""
    from tts.f5.cfm import EPSS_GRIDS

    grid = sway_timesteps(steps, None, epss=True)
    assert len(grid) == steps + 1 and grid[0] == 0 and grid[-1] == 1
    torch.testing.assert_close(grid * 32, torch.tensor(EPSS_GRIDS[steps], dtype=torch.float32))
    assert not torch.allclose(grid, torch.linspace(0, 1, steps + 1))
    swayed = sway_timesteps(steps, -1.0, epss=True)
    torch.testing.assert_close(swayed, grid - (torch.cos(math.pi / 2 * grid) - 1 + grid))


def test_epss_is_the_sampler_default_and_only_for_its_step_counts():
    torch.testing.assert_close(sway_timesteps(32, -1.0, epss=True), sway_timesteps(32, -1.0))
    torch.testing.assert_close(sway_timesteps(8, None, epss=True), torch.linspace(0, 1, 9))
    net = tiny_net()
    seen = []
    orig = net.forward_context

    def spy(x, context, t, mask=None):
        seen.append(float(t))
        return orig(x, context, t, mask)

    net.forward_context = spy
    args = _sample_inputs()
    CFM(net).sample(*args, nfe=6, sway=None)
    assert seen == pytest.approx([0, 2 / 32, 4 / 32, 6 / 32, 8 / 32, 16 / 32])
    seen.clear()
    CFM(net).sample(*args, nfe=6, sway=None, epss=False)
    assert seen == pytest.approx([i / 6 for i in range(6)])


def test_prompt_gain_raises_quiet_prompts_to_rms_0_1():
    from tts.f5.cfm import prompt_gain

    wav = torch.sin(torch.linspace(0, 200, 16000))  # RMS ~0.707
    assert prompt_gain(wav) == 1.0 and prompt_gain(torch.zeros(100)) == 1.0
    quiet = wav * 0.01
    gain = prompt_gain(quiet)
    assert float((quiet * gain).square().mean().sqrt()) == pytest.approx(0.1, rel=1e-5)
