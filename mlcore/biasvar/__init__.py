"""Bias-variance: symbolic derivation, batched Monte-Carlo study, and a generic decomposition API.

>>> from mlcore.biasvar import decompose_predictions
>>> decompose_predictions([[0.0], [2.0]], [1.0]).variance   # predictions 0 and 2 around mean 1
1.0
"""

from mlcore.biasvar.decompose import Decomposition, bootstrap_predictions, decompose_predictions
from mlcore.biasvar.derivation import BiasVarianceDerivation, DerivationStep, derive_bias_variance
from mlcore.biasvar.render import plot_study, study_json, study_table
from mlcore.biasvar.study import (
    BiasVarianceConfig,
    BiasVarianceRow,
    BiasVarianceStudy,
    bias_variance_study,
    parse_degrees,
    polynomial_predictions,
    true_function,
)

__all__ = [
    "BiasVarianceConfig",
    "BiasVarianceDerivation",
    "BiasVarianceRow",
    "BiasVarianceStudy",
    "Decomposition",
    "DerivationStep",
    "bias_variance_study",
    "bootstrap_predictions",
    "decompose_predictions",
    "derive_bias_variance",
    "parse_degrees",
    "plot_study",
    "polynomial_predictions",
    "study_json",
    "study_table",
    "true_function",
]
