import numpy as np
import pytest
import soundfile as sf
import torch

from tts.audio import AudioError, load_audio, normalize_loudness, resample, save_audio


def test_resample_preserves_tone_frequency_and_length():
    sr_in, sr_out = 24000, 16000
    t = torch.arange(sr_in) / sr_in
    wav = torch.sin(2 * torch.pi * 440 * t)
    out = resample(wav, sr_in, sr_out)
    assert out.shape[0] == sr_out
    spec = torch.fft.rfft(out[2000:-2000]).abs()
    peak_hz = spec.argmax().item() * sr_out / (out.shape[0] - 4000)
    assert abs(peak_hz - 440) < 3


def test_load_mixes_to_mono_and_resamples(tmp_path):
    path = tmp_path / "st.wav"
    stereo = np.stack([np.full(24000, 0.5), np.full(24000, -0.1)], axis=1).astype(np.float32)
    sf.write(path, stereo, 24000)
    wav = load_audio(path, 16000)
    assert wav.shape == (16000,)
    assert torch.allclose(wav[4000:12000], torch.full((8000,), 0.2), atol=1e-3)


def test_bad_audio_errors_name_the_file(tmp_path):
    corrupt = tmp_path / "corrupt.wav"
    corrupt.write_bytes(b"RIFF....not audio")
    with pytest.raises(AudioError, match="corrupt.wav"):
        load_audio(corrupt, 16000)
    with pytest.raises(AudioError, match="missing.wav.*not found"):
        load_audio(tmp_path / "missing.wav", 16000)
    silent = tmp_path / "silent.wav"
    sf.write(silent, np.zeros(1600, np.float32), 16000)
    with pytest.raises(AudioError, match="silent"):
        load_audio(silent, 16000)


def test_loudness_normalization_hits_target_rms():
    wav = 0.01 * torch.randn(16000)
    out = normalize_loudness(wav, -20.0)
    rms_db = 20 * torch.log10(out.pow(2).mean().sqrt())
    assert abs(rms_db.item() + 20.0) < 0.5


def test_save_audio_is_atomic_and_readable(tmp_path):
    path = save_audio(tmp_path / "a" / "x.wav", torch.zeros(800) + 0.25, 16000)
    data, sr = sf.read(path)
    assert sr == 16000 and data.shape == (800,)
    assert list(path.parent.iterdir()) == [path]  # no temp files left behind
