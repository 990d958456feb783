"""The embedded demo corpus (`tts data demo`), kept apart from the data core in ``tts.data``.

- ``sentences``: grammatical English sentences from the project's own lexicon (``data/sentences/``).
- ``piper_voice``: the natural voice (piper, en_US-joe-medium) with its phoneme alignments, offline.
- ``build``: speaks the sentences with piper and Debian's synthesizers and writes lhotse manifests.
"""
