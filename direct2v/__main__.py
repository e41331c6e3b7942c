"""``python -m direct2v``: the ``direct2v`` command (see :mod:`direct2v.cli`)."""
import sys

from .cli import main

sys.exit(main())
