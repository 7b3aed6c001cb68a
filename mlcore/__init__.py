"""Experiments around the calculators: bias-variance, ROC / PR / PRG curves, learning-rate studies and
training with stale gradients.

The names below are imported on first use, so ``import mlcore`` (and ``mlcore --help``) imports neither
torch nor scikit-learn.
"""

from dlperf.lazy import lazy_exports

# public name -> the module that defines it
_EXPORTS = {
    # bias-variance, ROC / PR / PRG curves, the shipped data
    "bias_variance_study": "mlcore.biasvar",
    "BiasVarianceConfig": "mlcore.biasvar",
    "BiasVarianceStudy": "mlcore.biasvar",
    "decompose_predictions": "mlcore.biasvar",
    "bootstrap_predictions": "mlcore.biasvar",
    "derive_bias_variance": "mlcore.biasvar",
    "polynomial_predictions": "mlcore.biasvar",
    "roc_curve": "mlcore.curves",
    "pr_curve": "mlcore.curves",
    "prg_curve": "mlcore.curves",
    "curve_areas": "mlcore.curves",
    "evaluate_models": "mlcore.curves",
    "blood_transfusion_experiment": "mlcore.curves",
    "load_blood_transfusion": "mlcore.data",
    # the small Inception, images, LR range test, CLR, batch-size sweep, stale-gradient training
    "InceptionSmall": "mlcore.models",
    "inception_small": "mlcore.models",
    "mlp": "mlcore.models",
    "ImageData": "mlcore.images",
    "load_images": "mlcore.images",
    "read_idx": "mlcore.images",
    "LRRangeResult": "mlcore.lr_range",
    "lr_range_test": "mlcore.lr_range",
    "range_test_curve": "mlcore.lr_range",
    "lr_finder_history_curve": "mlcore.lr_range",
    "suggest_steepest": "mlcore.lr_range",
    "suggest_minimum": "mlcore.lr_range",
    "suggest_valley": "mlcore.lr_range",
    "CLRResult": "mlcore.clr",
    "train_clr": "mlcore.clr",
    "clr_bounds": "mlcore.clr",
    "BatchSweepResult": "mlcore.batch_sweep",
    "batch_size_sweep": "mlcore.batch_sweep",
    "StaleTrainingResult": "mlcore.stale_training",
    "StaleComparison": "mlcore.stale_training",
    "stale_training": "mlcore.stale_training",
    "compare_policies": "mlcore.stale_training",
}
__all__ = sorted(_EXPORTS)


__getattr__, __dir__ = lazy_exports(__name__, _EXPORTS)
