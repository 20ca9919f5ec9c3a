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

from typing import Tuple

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


def focal_loss(logits: torch.Tensor, labels: torch.Tensor, alpha: float = 0.25, gamma: float = 2.0) -> torch.Tensor:
    """Sigmoid focal loss (Lin et al.) summed over cells and divided by the number of positives."""
    probability = torch.sigmoid(logits)
    per_cell = F.binary_cross_entropy_with_logits(logits, labels, reduction="none")
    p_t = probability * labels + (1 - probability) * (1 - labels)
    alpha_t = alpha * labels + (1 - alpha) * (1 - labels)
    return (alpha_t * (1 - p_t) ** gamma * per_cell).sum() / labels.sum().clamp_min(1.0)


def balanced_bce_loss(logits: torch.Tensor, labels: torch.Tensor) -> torch.Tensor:
    """SiamFC's class-balanced BCE: positives and negatives half the weight of each map
    (all of it to the negatives in a map without positives), averaged over the batch."""
    per_cell = F.binary_cross_entropy_with_logits(logits, labels, reduction="none").flatten(1)
    flat = labels.flatten(1)
    positives = flat.sum(1, keepdim=True)
    negatives = flat.shape[1] - positives
    weights = torch.where(flat > 0, 0.5 / positives.clamp_min(1.0), 0.5 / negatives.clamp_min(1.0))
    weights = torch.where(positives > 0, weights, torch.full_like(weights, 1.0 / flat.shape[1]))
    return (per_cell * weights).sum(1).mean()


def iou_loss(predicted: torch.Tensor, target: torch.Tensor, weights: torch.Tensor) -> torch.Tensor:
    """``1 - IoU`` of boxes given as distances ``(l, t, r, b)`` from the same cell, weighted
    as :func:`giou_loss` (no gradient for boxes that do not overlap: GIoU's reason to be)."""
    return _iou_losses(predicted, target, weights, generalised=False)


def giou_loss(predicted: torch.Tensor, target: torch.Tensor, weights: torch.Tensor) -> torch.Tensor:
    """``1 - GIoU`` of boxes given as distances ``(l, t, r, b)`` from the same cell
    (``(B, 4, R, R)``), weighted per cell (``(B, R, R)``), normalised by the weights' sum."""
    return _iou_losses(predicted, target, weights, generalised=True)


def _iou_losses(predicted: torch.Tensor, target: torch.Tensor, weights: torch.Tensor, generalised: bool) -> torch.Tensor:
    pl, pt, pr, pb = predicted.unbind(1)
    tl, tt, tr, tb = target.unbind(1)
    predicted_area, target_area = (pl + pr) * (pt + pb), (tl + tr) * (tt + tb)
    overlap = (torch.minimum(pl, tl) + torch.minimum(pr, tr)).clamp_min(0) * (torch.minimum(pt, tt) + torch.minimum(pb, tb)).clamp_min(0)
    union = predicted_area + target_area - overlap
    iou = overlap / union.clamp_min(1e-6)
    if generalised:
        enclosing = (torch.maximum(pl, tl) + torch.maximum(pr, tr)) * (torch.maximum(pt, tt) + torch.maximum(pb, tb))
        iou = iou - (enclosing - union) / enclosing.clamp_min(1e-6)
    return ((1 - iou) * weights).sum() / weights.sum().clamp_min(1e-6)


BOX_CLASSIFICATION_LOSSES = {"focal": focal_loss, "bce": balanced_bce_loss}
BOX_REGRESSION_LOSSES = {"giou": giou_loss, "iou": iou_loss}


def box_head_loss(outputs: dict, targets: dict, box_weight: float = 3.0, classification: str = "focal",
                  regression: str = "giou") -> Tuple[torch.Tensor, dict]:
    """SiamFC++'s loss: focal loss on classification, GIoU on the boxes of the cells inside the
    target (weighted by their centerness, as FCOS), BCE of the quality logit against
    centerness on those cells. Returns the total and its parts (floats, for logging).

    ``classification`` (focal | bce: class-balanced) and ``regression`` (giou | iou) swap
    one part for the ablation (``loss.box_classification``, ``loss.box_regression``)."""
    cls = BOX_CLASSIFICATION_LOSSES[classification](outputs["cls"][:, 0], targets["cls"])
    inside = targets["inside"]
    box = BOX_REGRESSION_LOSSES[regression](outputs["box"], targets["edges"], inside * targets["centerness"])
    quality_per_cell = F.binary_cross_entropy_with_logits(outputs["quality"][:, 0], targets["centerness"], reduction="none")
    quality = (quality_per_cell * inside).sum() / inside.sum().clamp_min(1.0)
    total = cls + box_weight * box + quality
    return total, {"cls": cls.item(), "box": box.item(), "quality": quality.item()}
