"""The one exception a broken run raises: which rank, what happened, and what completed before it."""

from __future__ import annotations

__all__ = ["ParameterServerFault"]


class ParameterServerFault(RuntimeError):
    """A process of the parameter server died, stopped responding or was interrupted.

    ``str(exc)`` is one line naming the rank and what happened. ``rank`` is that rank (``None`` when no
    single rank is to blame: a timeout or Ctrl-C), ``partial`` the :class:`~staleness.distributed.DistributedRun`
    of the gradients the server recorded before the fault (``None`` when it recorded none) and
    ``interrupted`` is true for Ctrl-C / SIGTERM.

    Examples
    --------
    >>> exc = ParameterServerFault("rank 2 (worker 2) died: killed by SIGKILL", rank=2)
    >>> str(exc), exc.rank, exc.partial, exc.interrupted
    ('rank 2 (worker 2) died: killed by SIGKILL', 2, None, False)
    """

    def __init__(self, message: str, *, rank: int | None = None, partial=None, interrupted: bool = False):
        super().__init__(message)
        self.rank = rank
        self.partial = partial
        self.interrupted = interrupted
