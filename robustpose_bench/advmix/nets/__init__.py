"""Pose networks with the HRNet repository's state-dict key names, and their registry."""
from .registry import ARCHS, build_net

__all__ = ["ARCHS", "build_net"]
