"""``python -m maskgen`` runs the command line."""

from maskgen.cli import main

main()
