"""The models archcalc knows by name: the analytical zoo (no torch) and the real torch modules behind it.

:mod:`~archcalc.models.zoo` (VGG, AlexNet, GoogLeNet, ResNet, the small Inception, the Inception module) and
:mod:`~archcalc.models.zoo_transformers` (GPT-2, BERT, Llama-style, ViT-B/16 from a config) build graphs
without torch; :mod:`~archcalc.models.twins` holds torch twins that torchvision lacks.
"""
