"""Tensor and sequence parallelism and activation recomputation for transformers: per-rank graphs, the
per-layer saved-activation count beside Korthikanti et al.'s Table 2, and the liveness peak of one rank."""
