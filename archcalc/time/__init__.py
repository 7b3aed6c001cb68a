"""Predicted time: device profiles, a per-op roofline, ring collectives and the papers' training-time estimates.

:mod:`.profiles` loads device profiles (``devices.toml`` or a user's TOML / JSON file), :mod:`.roofline` turns
an evaluated graph's per-op MACs, element-wise operations and bytes into time, :mod:`.collectives` holds the
ring alpha-beta formulas, :mod:`.estimates` the papers' closed forms, :mod:`.render` the table and JSON.
Nothing here imports torch or sympy.
"""
