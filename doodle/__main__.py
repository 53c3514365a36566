"""``python -m doodle`` (and ``torchrun -m doodle``) runs the command line."""

from doodle.cli import main

if __name__ == "__main__":  # importing it (pytest --doctest-modules) must not run the CLI
    main()
