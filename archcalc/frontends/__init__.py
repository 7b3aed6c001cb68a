"""Front ends that produce archcalc graphs: the torch tracer (:mod:`archcalc.frontends.torch_trace`, imports
torch inside its functions) and model files (:mod:`archcalc.frontends.model_file`)."""
