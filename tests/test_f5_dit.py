"""The DiT's two forms: ``tts.f5.fastpath`` (folded attention biases, in-place rotary, adaLN folded into
the LayerNorm, fused CPU epilogues, cheap dropout masks) computes what the plain layers of ``tts.f5.dit``
compute, layer by layer and for the whole network (outputs and gradients); and the structure both share:
the text encoder run over the characters only, padded frames left unzeroed."""

import pytest
import torch
import torch.nn.functional as F
from factories import tiny_dit

from tts.f5 import dit, fastpath
from tts.f5.dit import DiT, TextEncoder, text_positions
from tts.f5.fastpath import dropout, keep_mask

BOTH = pytest.mark.parametrize("fast", [True, False], ids=["fast", "plain"])


def attention_pair(seed: int = 0, **size) -> tuple[fastpath.Attention, dit.Attention]:
    """A fast and a plain attention with the same (non-zero) weights."""
    torch.manual_seed(seed)
    fast = fastpath.Attention(**size).eval()
    for p in fast.parameters():
        torch.nn.init.normal_(p, std=0.3)  # non-zero biases
    plain = dit.Attention(**size).eval()
    plain.load_state_dict(fast.state_dict())
    return fast, plain


@pytest.mark.parametrize("grad", [False, True])
def test_attention_with_folded_biases_equals_plain(grad):
    fast, plain = attention_pair(dim=32, heads=2, dim_head=16)
    x = torch.randn(3, 20, 32)
    mask = (torch.arange(20)[None] < torch.tensor([20, 15, 9])[:, None])[:, None, None, :]
    rope_fast, rope_plain = fastpath.RotaryEmbedding(16)(20, x.dtype), dit.RotaryEmbedding(16)(20, x.dtype)
    with torch.set_grad_enabled(grad):
        got = fast(x, rope_fast, mask)
        want = plain(x, rope_plain, mask)
    torch.testing.assert_close(got, want, atol=1e-5, rtol=1e-4)
    if grad:  # the biases still get their gradients
        got.square().sum().backward()
        want.square().sum().backward()
        g_ref = plain.to_qkv.bias.grad
        torch.testing.assert_close(
            fast.to_qkv.bias.grad, g_ref, atol=1e-4 * g_ref.abs().max().item(), rtol=1e-3
        )


def test_rotary_in_place_and_roll_forms_agree_with_plain():
    x = torch.randn(2, 3, 10, 8)
    cos, sin = fastpath.RotaryEmbedding(8)(10, x.dtype)
    base = torch.randn(10, 8)
    with torch.no_grad():
        fast = fastpath.apply_rotary(x, cos, sin, base)
    xg = x.clone().requires_grad_()
    slow = fastpath.apply_rotary(xg, cos, sin, base)
    torch.testing.assert_close(fast, slow)
    plain = dit.apply_rotary(x, *dit.RotaryEmbedding(8)(10, x.dtype)) + base
    torch.testing.assert_close(fast, plain)
    # position 0 is not rotated
    torch.testing.assert_close(fastpath.apply_rotary(x, cos, sin)[..., 0, :], x[..., 0, :])


@BOTH
def test_shared_time_gives_the_per_row_result(fast):
    """t of shape (1,) (sampling; fast: modulation folded into the LayerNorm, fused CPU epilogues) gives
    the same flow as the same t repeated per row."""
    torch.manual_seed(0)
    net = tiny_dit(feat_dim=8, depth=2, dropout=0.1, fast=fast)
    for p in net.parameters():
        torch.nn.init.normal_(p, std=0.2)  # adaLN-zero init would hide the modulation
    net.eval()
    x, context = torch.randn(2, 12, 8), torch.randn(4, 12, 32)  # 2 utterances x 2 CFG contexts
    t = torch.tensor([0.3])
    with torch.no_grad():
        shared = net.forward_context(x, context, t)
        per_row = net.forward_context(x, context, t.expand(4))
    torch.testing.assert_close(shared, per_row, atol=1e-5, rtol=1e-4)


def test_folded_bias_cache_follows_weight_updates():
    fast, plain = attention_pair(dim=16, heads=2, dim_head=8)
    x = torch.randn(1, 6, 16)
    rope = fastpath.RotaryEmbedding(8)(6, x.dtype)
    with torch.no_grad():
        before = fast(x, rope, None)
        fast.to_qkv.bias.add_(0.5)  # in place, like an optimizer step
        plain.to_qkv.bias.add_(0.5)
        after = fast(x, rope, None)
        want = plain(x, dit.RotaryEmbedding(8)(6, x.dtype), None)
    assert not torch.allclose(before, after)
    torch.testing.assert_close(after, want, atol=1e-5, rtol=1e-4)


def tiny_pair(dropout: float = 0.0) -> tuple[DiT, DiT]:
    """The same tiny DiT (same seed) in both forms, with non-zero weights everywhere."""
    nets = []
    for fast in (True, False):
        torch.manual_seed(0)
        nets.append(tiny_dit(feat_dim=6, depth=2, text_dim=8, conv_layers=2, dropout=dropout, fast=fast))
    fast_net, plain_net = nets
    assert list(fast_net.state_dict()) == list(plain_net.state_dict())
    for a, b in zip(fast_net.state_dict().values(), plain_net.state_dict().values()):
        assert torch.equal(a, b)  # same initialisation: same random draws in the same order
    torch.manual_seed(1)
    with torch.no_grad():
        for p in fast_net.parameters():
            p.normal_(std=0.2)  # adaLN-zero init would hide the blocks
    plain_net.load_state_dict(fast_net.state_dict())
    return fast_net, plain_net


def test_fast_and_plain_dit_agree_in_training_and_sampling():
    """Train mode (autograd; dropout 0: the two forms draw dropout masks from different random streams,
    same law, tested below) on a padded batch: same loss-side output and same gradients. Sampling (eval,
    no autograd, one shared t, CFG contexts): same flow."""
    fast_net, plain_net = tiny_pair(dropout=0.0)
    lens = torch.tensor([40, 27, 13])
    n = 40
    mask = torch.arange(n)[None] < lens[:, None]
    g = torch.Generator().manual_seed(2)
    x, cond = torch.randn(3, n, 6, generator=g), torch.randn(3, n, 6, generator=g)
    text, t = torch.randint(1, 20, (3, 18), generator=g), torch.rand(3, generator=g)
    drop = torch.tensor([False, True, False])
    outs, grads = [], []
    for net in (fast_net, plain_net):
        net.train()
        out = net(x, cond, text, t, mask=mask, drop_audio=drop, drop_text=drop)
        (out[mask].square().mean()).backward()
        outs.append(out[mask].detach())
        grads.append({k: p.grad for k, p in net.named_parameters()})
    torch.testing.assert_close(outs[0], outs[1], atol=1e-5, rtol=1e-4)
    for k, g_plain in grads[1].items():
        scale = g_plain.abs().max().item() + 1e-12
        torch.testing.assert_close(grads[0][k], g_plain, atol=1e-5 * scale, rtol=1e-4, msg=k)
    flows = []
    for net in (fast_net, plain_net):
        net.eval()
        with torch.inference_mode():
            context = net.sampling_context(cond[:2], text[:2], None, cfg=True)
            flows.append(net.forward_context(x[:2], context, t[:1]))
    torch.testing.assert_close(flows[0], flows[1], atol=1e-5, rtol=1e-4)


@pytest.mark.parametrize("p", [0.1, 0.5])
def test_keep_mask_rate_shape_and_seed(p):
    x = torch.empty(501, 403)  # numel not a multiple of 4
    torch.manual_seed(1)
    m = keep_mask(x, p)
    assert m.shape == x.shape and m.dtype == torch.bool
    assert abs(m.float().mean().item() - (1 - p)) < 0.005
    # each of the four 16-bit lanes of a 64-bit draw drops at rate p
    lanes = m.view(-1)[: (m.numel() // 4) * 4].view(-1, 4).float().mean(0)
    assert torch.all((lanes - (1 - p)).abs() < 0.01)
    torch.manual_seed(1)
    assert torch.equal(keep_mask(x, p), m)


def test_dropout_scales_kept_values_and_is_identity_in_eval():
    x = torch.ones(1000, 100)
    y = dropout(x, 0.2, training=True)
    kept = y != 0
    torch.testing.assert_close(y[kept], torch.full_like(y[kept], 1 / 0.8))
    assert abs(y.mean().item() - 1.0) < 0.01
    assert dropout(x, 0.2, training=False) is x


def test_dropout_gradient_is_the_scaled_mask():
    torch.manual_seed(3)
    x = torch.randn(64, 50, requires_grad=True)
    y = dropout(x, 0.3, training=True)
    y.backward(torch.ones_like(y))
    kept = y.detach() != 0
    torch.testing.assert_close(x.grad, kept.float() / 0.7)
    torch.testing.assert_close(y.detach()[kept], x.detach()[kept] / 0.7)


def full_length_text_encoder(enc: TextEncoder, text, n, mask):
    """The textbook encoder: every ConvNeXt-V2 block over all N frames, the filler zeroed after each."""
    text = F.pad(text[:, :n], (0, max(0, n - text.shape[1])), value=0)
    frames = (
        torch.ones(text.shape[0], n, 1, dtype=torch.float64) if mask is None else mask[..., None].double()
    )
    if mask is not None:
        text = text.masked_fill(~mask, 0)
    keep = (text != 0)[..., None].double()
    x = (enc.embed(text) + text_positions(n, enc.text_dim).double()) * keep
    for blk in enc.blocks:
        h = blk.act(blk.pwconv1(blk.norm(blk.dwconv(x.transpose(1, 2)).transpose(1, 2))))
        gx = torch.norm(h * frames, p=2, dim=1, keepdim=True)
        h = blk.grn.gamma * (h * (gx / (gx.mean(dim=-1, keepdim=True) + 1e-6))) + blk.grn.beta + h
        x = (x + blk.pwconv2(h)) * keep
    return x


@pytest.mark.parametrize("block", [dit.ConvNeXtV2Block, fastpath.ConvNeXtV2Block], ids=["plain", "fast"])
@pytest.mark.parametrize("masked", [False, True])
def test_text_encoder_over_characters_equals_full_length(masked, block):
    """Running the blocks over the characters (+ conv radius) only, with the all-filler frames entering the
    response norm in closed form, gives the full-length result and gradients (float64: to rounding)."""
    torch.manual_seed(0)
    enc = TextEncoder(vocab_size=30, text_dim=8, conv_layers=3, block=block).double()
    for q in enc.parameters():
        torch.nn.init.normal_(q, std=0.5)  # GRN gamma/beta and all biases non-zero
    n = 60
    text = torch.randint(1, 30, (4, 20))
    text[1, 12:] = 0  # shorter text
    text[2] = 0  # dropped text (CFG)
    lens = torch.tensor([60, 45, 30, 15])  # row 3: text (20) cut at its 15 valid frames
    mask = (torch.arange(n)[None] < lens[:, None]) if masked else None
    got = enc(text, n, mask)
    assert got.shape[1] == 20 + 3 < n  # characters + conv radius, not N frames
    want = full_length_text_encoder(enc, text, n, mask)
    torch.testing.assert_close(F.pad(got, (0, 0, 0, n - got.shape[1])), want, atol=1e-10, rtol=1e-10)
    assert torch.all(got[2] == 0)
    w = torch.randn_like(want)
    g_got = torch.autograd.grad((got * w[:, : got.shape[1]]).sum(), list(enc.parameters()))
    g_want = torch.autograd.grad((want * w).sum(), list(enc.parameters()))
    for a, b in zip(g_got, g_want):
        torch.testing.assert_close(a, b, atol=1e-10, rtol=1e-8)


@BOTH
def test_padded_frames_never_reach_valid_ones(fast):
    """Batched training forward (padded frames not zeroed in the blocks) equals each row run alone."""
    torch.manual_seed(0)
    net = tiny_dit(feat_dim=6, depth=2, text_dim=8, conv_layers=2, fast=fast)
    for q in net.parameters():
        torch.nn.init.normal_(q, std=0.2)  # adaLN-zero init would hide the blocks
    lens = torch.tensor([40, 27, 13])
    n = 40
    mask = torch.arange(n)[None] < lens[:, None]
    x, cond = torch.randn(3, n, 6) * 3, torch.randn(3, n, 6)  # noise on padded frames too
    text, t = torch.randint(1, 20, (3, 18)), torch.rand(3)
    batched = net(x, cond, text, t, mask=mask)
    for i, k in enumerate(lens.tolist()):
        alone = net(x[i : i + 1, :k], cond[i : i + 1, :k], text[i : i + 1], t[i : i + 1])
        torch.testing.assert_close(batched[i, :k], alone[0], atol=1e-4, rtol=1e-4)


def test_null_text_modes():
    """``f5``: dropped characters become the filler but keep their frames (the null text carries the text's
    length, F5-TTS); ``zero``: a dropped row embeds to zero. Kept rows are the same in both modes."""
    torch.manual_seed(0)
    enc = TextEncoder(vocab_size=30, text_dim=8, conv_layers=2).double()
    for q in enc.parameters():
        torch.nn.init.normal_(q, std=0.5)
    text = torch.randint(1, 30, (3, 12))
    text[1, 7:] = 0
    drop = torch.tensor([False, True, True])
    n = 40
    zero = enc(text, n, drop=drop, null="zero")
    f5 = enc(text, n, drop=drop, null="f5")
    torch.testing.assert_close(zero[0], f5[0])
    assert torch.all(zero[1:] == 0)
    # f5: the embedding of an all-filler text over the kept frames, zero on the filler frames
    x = F.pad(enc.embed(torch.zeros_like(text)) + text_positions(12, 8).double(), (0, 0, 0, 3))
    keep = F.pad(text != 0, (0, 3))[..., None].double()
    x = x * keep
    for blk in enc.blocks:
        x = blk(x, None, torch.full((3,), n - 15)) * keep
    torch.testing.assert_close(f5[1:], x[1:])
    assert (f5[1, :7] != 0).all() and torch.all(f5[1, 7:] == 0)
    with pytest.raises(ValueError, match="null_text"):
        DiT(null_text="none")
