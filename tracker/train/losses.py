"""Losses for training the similarity: SiamFC's logistic loss and the classic Siamese ones.

* logistic: binary cross-entropy on every response cell, class-balanced (SiamFC).
* contrastive: ``L = y d^2 + (1 - y) max(0, m - d)^2`` over template/search-window pairs.
* triplet: ``L = max(d(a, p) - d(a, n) + m, 0)`` with the template as anchor, the window on
  the target as positive and windows away from it as negatives.

``d`` is the Euclidean distance between L2-normalised embeddings: the template's features
and each search window of the same size (computed for all windows at once with two
convolutions), so ``d^2 = 2 - 2 cos``.
"""
from __future__ import annotations

import torch
import torch.nn.functional as F

from ..heads import cosine_correlation_pairs


def logistic_loss(logits: torch.Tensor, labels: torch.Tensor, weights: torch.Tensor) -> torch.Tensor:
    """Weighted BCE summed per map (weights sum to 1 per map), averaged over the batch."""
    per_cell = F.binary_cross_entropy_with_logits(logits, labels, reduction="none")
    return (per_cell * weights).flatten(1).sum(dim=1).mean()


def window_distances(z_feat: torch.Tensor, x_feat: torch.Tensor) -> torch.Tensor:
    """Distance between each normalised template (N, C, h, w) and every normalised search
    window of its pair (N, C, H, W): (N, 1, H-h+1, W-w+1), in [0, 2]."""
    cosine = cosine_correlation_pairs(z_feat, x_feat).clamp(-1.0, 1.0)
    return (2.0 - 2.0 * cosine).clamp_min(1e-12).sqrt()


def contrastive_loss(distances: torch.Tensor, labels: torch.Tensor, weights: torch.Tensor, margin: float) -> torch.Tensor:
    """``y d^2 + (1 - y) max(0, m - d)^2``, weighted per cell (class-balanced), mean over the batch."""
    per_cell = labels * distances.pow(2) + (1 - labels) * F.relu(margin - distances).pow(2)
    return (per_cell * weights).flatten(1).sum(dim=1).mean()


def triplet_loss(distances: torch.Tensor, labels: torch.Tensor, margin: float) -> torch.Tensor:
    """``max(d(a, p) - d(a, n) + m, 0)`` averaged over every (positive, negative) cell pair of each map.

    Maps without positives contribute nothing.
    """
    flat_d = distances.flatten(1)
    flat_y = labels.flatten(1)
    losses = []
    for d, y in zip(flat_d, flat_y):
        positives, negatives = d[y > 0], d[y <= 0]
        if positives.numel() == 0 or negatives.numel() == 0:
            continue
        losses.append(F.relu(positives[:, None] - negatives[None, :] + margin).mean())
    if not losses:
        return distances.sum() * 0.0
    return torch.stack(losses).mean()
