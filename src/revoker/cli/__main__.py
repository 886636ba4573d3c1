"""``python -m revoker.cli``: the same as the ``revoker`` command."""

from revoker.cli.main import main

main()
