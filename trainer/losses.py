"""Training losses over gap logits: bce, balanced and focal.

bce       plain binary cross-entropy with logits (mean over gaps).
balanced  class-weighted BCE. With `beta` None the weight of class c is the inverse of its
          frequency in the train labels, scaled as scikit-learn's "balanced" class weights:
          w_c = N / (2 * n_c), so each class carries half of the total weight. With
          0 < beta < 1 the weight follows the effective number of samples of Cui et al.
          (CVPR 2019): w_c ∝ (1 - beta) / (1 - beta ** n_c), normalised to sum to 2.
          The loss is the weighted mean: sum(w_y * bce) / sum(w_y) over the batch.
focal     focal loss (Lin et al. 2017): mean of alpha_t * (1 - p_t) ** gamma * bce, with
          p_t the probability of the true class. gamma = 0 and alpha None is BCE exactly;
          alpha (weight of the positive class, 1 - alpha for the negative) is optional.
"""

from __future__ import annotations

import numpy as np
import torch
import torch.nn.functional as F

from pipeline.errors import SegError

from .config import LOSSES


def class_weights(labels: np.ndarray, beta: float | None = None) -> tuple[float, float]:
    """(w_negative, w_positive) from train labels; see the module docstring."""
    labels = np.asarray(labels)
    n = np.array([(labels == 0).sum(), (labels == 1).sum()], dtype=np.float64)
    if (n == 0).any():
        raise SegError("the train split holds only one class of gap (all breaks or no breaks); "
                       "the balanced loss needs both; use --loss bce or more data")
    if beta is None:
        w = n.sum() / (2.0 * n)
    else:
        if not 0.0 < beta < 1.0:
            raise SegError(f"--beta {beta}: the effective-number beta must lie in (0, 1), e.g. 0.999")
        w = (1.0 - beta) / (1.0 - np.power(beta, n))
        w = 2.0 * w / w.sum()
    return float(w[0]), float(w[1])


def focal_loss(logits: torch.Tensor, targets: torch.Tensor, gamma: float = 2.0,
               alpha: float | None = None, reduction: str = "mean") -> torch.Tensor:
    """Sigmoid focal loss on top of binary_cross_entropy_with_logits (stable in log space)."""
    ce = F.binary_cross_entropy_with_logits(logits, targets, reduction="none")
    loss = ce
    if gamma != 0:
        p = torch.sigmoid(logits)
        p_t = p * targets + (1 - p) * (1 - targets)
        loss = ce * (1 - p_t) ** gamma
    if alpha is not None:
        loss = (alpha * targets + (1 - alpha) * (1 - targets)) * loss
    if reduction == "mean":
        return loss.mean()
    if reduction == "sum":
        return loss.sum()
    return loss


class GapLoss:
    """loss(logits, targets) -> scalar, built from the config and the train labels."""

    def __init__(self, kind: str = "bce", gamma: float = 2.0, alpha: float | None = None,
                 beta: float | None = None, train_labels: np.ndarray | None = None):
        if kind not in LOSSES:
            raise SegError(f"--loss {kind!r}: use one of {', '.join(LOSSES)}")
        if kind == "focal" and gamma < 0:
            raise SegError(f"--gamma {gamma}: the focal loss needs gamma >= 0 (0 = plain BCE)")
        if alpha is not None and not 0.0 <= alpha <= 1.0:
            raise SegError(f"--alpha {alpha}: the positive-class weight must lie in [0, 1]")
        self.kind, self.gamma, self.alpha = kind, gamma, alpha
        self.weights = class_weights(train_labels, beta) if kind == "balanced" else (1.0, 1.0)

    def __call__(self, logits: torch.Tensor, targets: torch.Tensor) -> torch.Tensor:
        targets = targets.to(logits.dtype)
        if self.kind == "focal":
            return focal_loss(logits, targets, self.gamma, self.alpha)
        if self.kind == "balanced":
            w0, w1 = self.weights
            w = w0 + (w1 - w0) * targets
            ce = F.binary_cross_entropy_with_logits(logits, targets, reduction="none")
            return (w * ce).sum() / w.sum()
        return F.binary_cross_entropy_with_logits(logits, targets)

    def describe(self) -> dict:
        d = {"kind": self.kind}
        if self.kind == "focal":
            d |= {"gamma": self.gamma, "alpha": self.alpha}
        if self.kind == "balanced":
            d |= {"weights": {"0": self.weights[0], "1": self.weights[1]}}
        return d
