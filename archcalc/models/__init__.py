"""The models archcalc knows by name: the analytical zoo (no torch) and the real torch modules behind it.

:mod:`~archcalc.models.zoo` (VGG, AlexNet, GoogLeNet, ResNet, the small Inception, the Inception module) and
:mod:`~archcalc.models.zoo_transformers` (GPT-2, BERT, Llama-style, ViT-B/16 from a config) build graphs
without torch; :mod:`~archcalc.models.twins` holds torch twins that torchvision lacks;
:mod:`~archcalc.models.builders` builds the real module behind a network's ``twin`` name (torchvision through
:mod:`~archcalc.models.torchvision_models`, timm, Hugging Face, the twins); :mod:`~archcalc.models.resolve`
turns a command line's model name into a graph (the zoo, or a model traced by :mod:`archcalc.frontends`).
"""
