"""bf16-mixed forward + backward of every trained network, and the attention kernel SDPA picks.

Each test runs under ``torch.autocast(bf16)`` as Lightning's ``precision=bf16-mixed`` does: weights stay
float32, matmuls/convs run in bf16, and the gradients must come back finite and float32.
"""

from __future__ import annotations

import pytest
import torch
from factories import tiny_dit

from tts.f5.cfm import CFM
from tts.f5.dit import DiT
from tts.vae.discriminators import Discriminator
from tts.vae.loss import MultiScaleMelLoss, feature_matching_loss, generator_adversarial_loss, kl_loss
from tts.vae.model import build_vae
from tts.vocoder import VocosConfig, VocosGAN

pytestmark = pytest.mark.cuda

ENCODER = {"class_path": "tts.vae.model.Encoder", "init_args": {"channels": 8, "latent_dim": 64}}
DECODERS = {
    "bigvgan": {
        "class_path": "tts.vae.model.BigVGANDecoder",
        "init_args": {"channels": 64, "resblock_kernel_sizes": [3, 7]},
    },
    "vocos": {
        "class_path": "tts.vae.model.VocosDecoder",
        "init_args": {"dim": 64, "intermediate_dim": 128, "num_layers": 2, "n_fft": 1600, "hop_length": 400},
    },
}


def autocast(device: str):
    return torch.autocast(torch.device(device).type, dtype=torch.bfloat16)


def assert_grads(module: torch.nn.Module) -> None:
    grads = [p.grad for p in module.parameters() if p.requires_grad]
    assert grads and all(g is not None for g in grads), "some parameters got no gradient"
    for g in grads:
        assert g.dtype == torch.float32
        assert torch.isfinite(g).all()


def bf16_outputs(module: torch.nn.Module, kinds=(torch.nn.Linear, torch.nn.Conv1d)) -> list[torch.dtype]:
    """Register hooks that record the output dtype of every Linear/Conv1d (returns the live list)."""
    seen: list[torch.dtype] = []
    for m in module.modules():
        if isinstance(m, kinds):
            m.register_forward_hook(lambda _m, _i, out: seen.append(out.dtype))
    return seen


def small_dit(feat_dim: int) -> DiT:
    return tiny_dit(feat_dim=feat_dim, vocab_size=64, dim=128, depth=2, heads=4, dim_head=32, ff_mult=2,
                    text_dim=64, conv_layers=2, dropout=0.1)


@pytest.mark.parametrize("feat_dim", [100, 64], ids=["mel", "latent"])
def test_dit_bf16_forward_backward_on_a_padded_batch(device, feat_dim):
    torch.manual_seed(0)
    cfm = CFM(small_dit(feat_dim)).to(device)
    dtypes = bf16_outputs(cfm)
    lens = torch.tensor([120, 77, 40], device=device)
    feats = torch.randn(3, 120, feat_dim, device=device)
    text = torch.randint(1, 64, (3, 30), device=device)
    with autocast(device):
        loss, extras = cfm(feats, lens, text)
    assert torch.bfloat16 in dtypes
    assert loss.dtype == torch.float32 and torch.isfinite(loss)
    loss.backward()
    assert_grads(cfm)
    with autocast(device):  # the sampler (CFG, sway) under autocast as synthesis runs it
        out = cfm.sample(feats[:1, :20], torch.tensor([20], device=device), text[:1], torch.tensor([60], device=device),
                         nfe=2, seeds=0)
    assert out.shape[:2] == (1, 60) and torch.isfinite(out.float()).all()


@pytest.mark.parametrize("decoder", sorted(DECODERS))
def test_vae_bf16_forward_backward(device, decoder):
    torch.manual_seed(0)
    vae = build_vae(ENCODER, DECODERS[decoder]).to(device)
    disc = Discriminator(periods=[2, 3], fft_sizes=[512], period_channels=4, period_max_channels=16,
                         stft_channels=4).to(device)
    mel = MultiScaleMelLoss(16000, (64, 256, 1024), (10, 40, 80)).to(device)
    dtypes = bf16_outputs(vae)
    wav = 0.1 * torch.randn(2, 8000, device=device)
    with autocast(device):
        out = vae(wav)
        recon = out["recon"][..., : wav.shape[-1]]
        (_, real_fmaps), (fake, fake_fmaps) = disc(wav), disc(recon)
        loss = (15 * mel(recon, wav) + 0.01 * kl_loss(out["mean"], out["logvar"])
                + generator_adversarial_loss(fake) + 2 * feature_matching_loss(real_fmaps, fake_fmaps))
    assert torch.bfloat16 in dtypes
    assert out["recon"].shape == (2, 8000)
    assert torch.isfinite(loss)
    loss.backward()
    assert_grads(vae)


def test_vocos_bf16_forward_backward(device):
    torch.manual_seed(0)
    gan = VocosGAN(generator=VocosConfig(dim=64, intermediate_dim=128, num_layers=2)).to(device)
    dtypes = bf16_outputs(gan.generator.backbone)
    wav = 0.1 * torch.randn(2, 8192, device=device)
    with autocast(device):
        audio = gan(wav)
        loss = gan.loss.melspec_loss(audio, wav) + sum(
            torch.mean(x.float() ** 2) for x in gan.discriminator.mpd(y=wav, y_hat=audio)[1]
        )
    assert torch.bfloat16 in dtypes
    assert audio.shape == wav.shape and torch.isfinite(audio.float()).all()
    assert torch.isfinite(loss)
    loss.backward()
    for part in (gan.generator.backbone, gan.generator.head):
        assert_grads(part)


def _attention_kernels(fn) -> list[str]:
    """Names of the attention kernels/ops the profiler saw while ``fn`` ran."""
    from torch.profiler import ProfilerActivity, profile

    acts = [ProfilerActivity.CPU] + ([ProfilerActivity.CUDA] if torch.cuda.is_available() else [])
    with profile(activities=acts) as prof:
        fn()
    names = {e.name for e in prof.events()}
    return sorted(n for n in names if any(k in n.lower() for k in ("flash", "efficient", "cudnn_attention",
                                                                     "fmha", "_scaled_dot_product")))


def test_sdpa_uses_a_fused_kernel_for_padded_batches(device):
    """A padded batch (boolean key mask) must not fall back to the math kernel on the GPU.

    On CUDA the math backend is switched off: the call fails if neither flash, memory-efficient nor
    cuDNN attention accepts the mask. The kernel names the profiler saw are printed for the report.
    """
    from torch.nn.attention import SDPBackend, sdpa_kernel

    torch.manual_seed(0)
    cfm = CFM(small_dit(100)).to(device)
    lens = torch.tensor([96, 50], device=device)
    feats = torch.randn(2, 96, 100, device=device)
    text = torch.randint(1, 64, (2, 20), device=device)

    def step():
        with autocast(device):
            loss, _ = cfm(feats, lens, text)
        loss.backward()

    fused = [SDPBackend.FLASH_ATTENTION, SDPBackend.EFFICIENT_ATTENTION, SDPBackend.CUDNN_ATTENTION]
    if device == "cuda":
        with sdpa_kernel(fused):
            kernels = _attention_kernels(step)
        assert any(k for k in kernels if "math" not in k), kernels
    else:  # CPU: only the check's plumbing; the CPU has its own flash kernel
        kernels = _attention_kernels(step)
    print("SDPA kernels (padded batch):", kernels)
    assert kernels
