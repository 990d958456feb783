"""F5-style flow-matching TTS: DiT network (dit: plain math; fastpath: the same layers made fast, the
default), CFM loss + sampler (cfm), training (module), export/load (export), F5-TTS import (convert),
the duration-aligned mode (aligned, duration), training callbacks (callbacks)."""

from tts.f5.export import F5Model, export, load

__all__ = ["F5Model", "export", "load"]
