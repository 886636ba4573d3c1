"""The ``revoker`` command line: a transport that turns commands into operations.

``main`` is the click group (``revoker = "revoker.cli:main"``).
"""

from revoker.cli.main import main

__all__ = ["main"]
