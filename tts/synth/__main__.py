"""``python -m tts.synth`` = ``tts synth``."""

import sys

from tts.synth.cli import main

sys.exit(main())
