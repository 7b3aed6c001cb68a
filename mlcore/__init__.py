"""Experiments around the calculators: bias-variance, ROC / PR / PRG curves, learning-rate studies."""

# --- begin mlstats exports (bias-variance, ROC / PR / PRG curves, data); lazy, so `mlcore --help` stays light
_MLSTATS_EXPORTS = {
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
}
__all__ = sorted(set(globals().get("__all__", [])) | set(_MLSTATS_EXPORTS))


def __getattr__(name: str):
    if name in _MLSTATS_EXPORTS:
        import importlib

        return getattr(importlib.import_module(_MLSTATS_EXPORTS[name]), name)
    raise AttributeError(f"module 'mlcore' has no attribute {name!r}")


# --- end mlstats exports
