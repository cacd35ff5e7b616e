"""``python -m rediq_bench``: the same as ``rediq bench``."""

import sys

from . import main

sys.exit(main(sys.argv[1:]))
