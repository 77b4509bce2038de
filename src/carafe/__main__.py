"""``python -m carafe`` is the ``carafe`` command."""

from carafe.cli import main

main()
