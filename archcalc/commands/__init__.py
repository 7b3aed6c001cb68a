"""Subcommands of the archcalc CLI, one module each, discovered by archcalc.cli.

Module ``report`` is the default command (``archcalc MODEL``); its :func:`~archcalc.commands.report.add_report_options`
and :func:`~archcalc.commands.report.report_from_args` are the one place the report's options are parsed,
shared by every command that prints a report (``inception-module``).
"""
