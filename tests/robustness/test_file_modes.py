"""Files written atomically (wavs, manifests, JSON) get the mode open() would give them, not mkstemp's 0600."""

from __future__ import annotations

import os
import stat

import numpy as np
import pytest

from tts.audio import save_audio
from tts.io import atomic_write_json


@pytest.mark.parametrize("umask", [0o022, 0o002, 0o077])
def test_atomic_writes_get_the_mode_open_would_give(umask, tmp_path):
    old = os.umask(umask)
    try:
        (tmp_path / "plain.txt").write_text("x")
        save_audio(tmp_path / "a.wav", np.zeros(100, "float32"), 16000)
        atomic_write_json(tmp_path / "a.json", {"a": 1})
    finally:
        os.umask(old)
    expected = stat.S_IMODE((tmp_path / "plain.txt").stat().st_mode)
    assert expected == 0o666 & ~umask
    for name in ("a.wav", "a.json"):
        assert stat.S_IMODE((tmp_path / name).stat().st_mode) == expected, name
