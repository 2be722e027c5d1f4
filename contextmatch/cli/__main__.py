"""``python -m contextmatch.cli``: the ``contextmatch`` command."""

import sys

from .main import main

sys.exit(main())
