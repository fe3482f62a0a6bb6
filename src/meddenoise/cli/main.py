"""Entry point of the ``meddenoise`` console command."""

from __future__ import annotations

import importlib
import pkgutil

from meddenoise.cli.app import app

__all__ = ["app", "main"]


def _register_commands() -> None:
    # Every cli/cmd_*.py module registers its own commands on `app` when imported.
    import meddenoise.cli as cli_pkg

    for info in sorted(pkgutil.iter_modules(cli_pkg.__path__), key=lambda m: m.name):
        if info.name.startswith("cmd_"):
            importlib.import_module(f"meddenoise.cli.{info.name}")


_register_commands()


def main() -> None:
    """Run the command line."""
    app()


if __name__ == "__main__":
    main()
