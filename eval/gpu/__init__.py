"""What the GPU check (``eval/gpu_check.py``) carries to a bare GPU machine, and how it unpacks it there.

- ``wheels.txt``: the wheels ``make gpu-wheels`` downloads into .gpu-wheels/; ``wheels.py`` installs them offline.
- ``corpus.py``: ``python -m eval.gpu.corpus SRC DST`` packs a ``tts data demo`` corpus (``make gpu-corpus``);
  ``rebase_corpus`` makes the pack's paths absolute where the working tree landed.
"""
