"""AdvMix and standard top-down training for heatmap pose models (PyTorch only).

Modules: ``nets`` (SimpleBaseline, HRNet, with HRNet-repo key names), ``checkpoint`` (strict loading),
``generator`` (pix2pix U-Net), ``augment`` (AutoAugment subset, GridMask), ``data`` (top-down
pipeline), ``losses`` (JointsMSELoss), ``trainer`` (standard and AdvMix loops), ``export``
(ONNX / TorchScript with the model spec embedded). Heavy imports live in the submodules.
"""
