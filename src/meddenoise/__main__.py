"""``python -m meddenoise``: the command line (also what ``torchrun -m meddenoise train ...`` runs)."""

from meddenoise.cli.main import main

if __name__ == "__main__":
    main()
