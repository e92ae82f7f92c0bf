"""GDW without the zero-mean constraint (Chen et al. 2021, Appendix B.2 / Fig. 7 ablation).

Identical to ``gdw`` except that Eq. 4 is applied neither before the virtual step nor before the
real step: the class-level weights are the cloned instance weights moved by the second stage. The
official code has no switch for this ablation; the paper reports that training becomes unstable.
"""
from __future__ import annotations

from dataclasses import dataclass

from .base import register_method
from .gdw import GDW, GDWHyperparameters


@dataclass(frozen=True, kw_only=True)
class GDWNoZeroMeanHyperparameters(GDWHyperparameters):
    zero_mean: bool = False


@register_method("gdw-nozm")
class GDWNoZeroMean(GDW):
    order = 110  # row position: the paper's order
    title = "GDW w/o zero-mean"
    color, marker = "#ff9896", "x"  # its look in every figure
    paper = "Chen et al., NeurIPS 2021, Appendix B.2"
    Hyperparameters = GDWNoZeroMeanHyperparameters
