"""Scoring: COCO/OCHuman keypoint AP through the reference COCOeval, HRNet's MPII PCKh, mPC / rPC.

- ``coco``: ``keypoint_ap`` (pycocotools for COCO, OCHuman and synth).
- ``pckh``: ``pckh`` / ``load_mpii_gt``, HRNet's ``mpii.py`` arithmetic.
- ``robustness``: keyed rows and ``summarize`` (clean, per-corruption, mPC, rPC).
- ``scoring``: prediction files per condition -> keyed rows (used by ``score`` and ``eval``).
"""
