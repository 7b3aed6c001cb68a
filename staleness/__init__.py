"""Discrete-event simulation of parameter-server SGD: gradient staleness, runtime and throughput."""
