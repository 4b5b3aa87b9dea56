"""The ``jaxnn`` command line, outside the library: ``jaxnn train`` (a run directory with
its checkpoints), ``jaxnn evaluate``, ``jaxnn verify`` and ``jaxnn bench``.

Nothing in the core of jaxnn imports this package; it uses only their public names.
:func:`main` is the console script (``jaxnn = "jaxnn.cli:main"``).
"""

from jaxnn.cli.main import main

__all__ = ["main"]
