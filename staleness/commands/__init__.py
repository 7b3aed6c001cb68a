"""Subcommands of the staleness CLI, one module each, discovered by staleness.cli."""
