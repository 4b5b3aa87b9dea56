"""``python -m jaxnn.cli …`` is ``jaxnn …``."""

import sys

from jaxnn.cli import main

sys.exit(main())
