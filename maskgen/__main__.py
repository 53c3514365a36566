"""``python -m maskgen`` runs the command line."""

from maskgen.cli import main

if __name__ == "__main__":  # importing it (pytest --doctest-modules) must not run the CLI
    main()
