"""Exact per-layer shapes, parameters, MACs, activations and memory of CNNs, as integers or formulas."""
