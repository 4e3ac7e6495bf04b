"""``python -m liberica.cli``: the command line."""

from liberica.cli import main

main()
