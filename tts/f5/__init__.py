"""F5-style flow-matching TTS: DiT network (dit), CFM loss + sampler (cfm), training (module), export/load."""

from tts.f5.export import F5Model, export, load

__all__ = ["F5Model", "export", "load"]
