"""Process plumbing of the real parameter server (:mod:`staleness.distributed`): launch, liveness, faults.

``protocol`` (roles, store keys, record layout), ``roles`` (server and worker loops), ``watchdog``
(heartbeats), ``node`` (one process), ``launch`` (all ranks on this machine), ``nodes`` (this machine's
ranks of a multi-machine launch without torchrun, with a rendezvous bounded by the timeout), ``torchrun``
(one rank of a multi-machine launch), ``options`` (the command-line options and fault reporting). The fault
model is in ``docs/distributed.md``.
"""

from staleness.paramserver.faults import ParameterServerFault

__all__ = ["ParameterServerFault"]
