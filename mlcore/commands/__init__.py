"""Subcommands of the mlcore CLI, one module each, discovered by mlcore.cli."""
