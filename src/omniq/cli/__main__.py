"""``python -m omniq.cli``: the ``omniq`` command."""

import sys

from omniq.cli import main

sys.exit(main())
