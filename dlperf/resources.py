"""What the machine can give a request now, for the up-front resource checks of every package.

>>> avail = available_memory_bytes()
>>> avail is None or avail > 0
True
"""

from __future__ import annotations

import os

__all__ = ["available_memory_bytes"]


def available_memory_bytes() -> int | None:
    """Memory available to a new allocation now (Linux ``MemAvailable``, else the free physical pages), or
    None when the system does not say."""
    try:
        with open("/proc/meminfo") as f:
            for line in f:
                if line.startswith("MemAvailable:"):
                    return int(line.split()[1]) * 1024
    except OSError:
        pass
    try:
        return int(os.sysconf("SC_AVPHYS_PAGES")) * int(os.sysconf("SC_PAGE_SIZE"))
    except (ValueError, OSError, AttributeError):
        return None
