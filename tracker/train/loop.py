"""The training loop: SGD on pairs, exponential LR decay, validation AUC, checkpoints."""
from __future__ import annotations

import dataclasses
import os
import time
from typing import Callable, Dict, List, Optional, Sequence

import numpy as np
import torch
from torch import nn
from tqdm import tqdm

from ..config import TrackerConfig, config_path, load_config
from ..model import SiamFC, initialise_weights
from ..weights import load_weights, read_weights_file, save_weights
from .config import TrainConfig
from .data import BoxPairBatcher, PairBatcher, PatchCache, TrainingSequence
from .losses import box_head_loss, contrastive_loss, logistic_loss, triplet_loss, window_distances
from .pretrained import initialise_from_imagenet, load_backbone_from_weights, load_shared_weights

CHECKPOINT_NAME = "checkpoint.pt"


def resolve_tracker_config(name_or_path: str) -> TrackerConfig:
    return load_config(name_or_path if name_or_path.endswith(".yaml") and os.path.exists(name_or_path) else config_path(name_or_path))


def build_training_model(config: TrainConfig, tracker_config: TrackerConfig) -> SiamFC:
    model = SiamFC(tracker_config.model)
    initialise_weights(model)
    if config.init_from:
        load_weights(model, config.init_from, tracker_config.model)
    elif config.init_backbone_from:
        load_backbone_from_weights(model, config.init_backbone_from)
    elif config.init_shared_from:
        load_shared_weights(model, config.init_shared_from)
    elif config.pretrained:
        initialise_from_imagenet(model, tracker_config.model.backbone)
    return model


def pretrained_layers(model: SiamFC) -> List[nn.Module]:
    features = getattr(model.backbone, "features", None)
    return list(features) if features is not None else []


def set_training_mode(model: SiamFC, config: TrainConfig) -> None:
    """Train mode, except that pretrained trunks keep their ImageNet BatchNorm statistics
    (batches of a few pairs would ruin them) and the first layers stay frozen."""
    model.train()
    if config.pretrained:
        for layer in pretrained_layers(model):
            for module in layer.modules():
                if isinstance(module, nn.BatchNorm2d):
                    module.eval()
    for layer in pretrained_layers(model)[: config.optim.frozen_backbone_layers]:
        layer.eval()
        for parameter in layer.parameters():
            parameter.requires_grad_(False)


def make_optimizer(model: SiamFC, config: TrainConfig) -> torch.optim.Optimizer:
    pretrained = {id(p) for layer in pretrained_layers(model) for p in layer.parameters()} if config.pretrained else set()
    slow = [p for p in model.parameters() if p.requires_grad and id(p) in pretrained]
    fast = [p for p in model.parameters() if p.requires_grad and id(p) not in pretrained]
    optim = config.optim
    groups = [{"params": fast, "lr_scale": 1.0}]
    if slow:
        groups.append({"params": slow, "lr_scale": optim.backbone_lr_scale})
    return torch.optim.SGD(groups, lr=optim.lr_start, momentum=optim.momentum, weight_decay=optim.weight_decay)


def learning_rate(progress: float, config: TrainConfig) -> float:
    """Exponential decay from lr_start (progress 0) to lr_end (progress 1), after a linear warm-up."""
    optim = config.optim
    warmup = optim.warmup_epochs / max(optim.epochs, 1)
    if progress < warmup:
        return optim.lr_start * (0.1 + 0.9 * progress / warmup)
    return optim.lr_start * (optim.lr_end / optim.lr_start) ** min(max(progress, 0.0), 1.0)


def to_tensor(images: np.ndarray, device: torch.device) -> torch.Tensor:
    return torch.from_numpy(images).to(device).permute(0, 3, 1, 2).float().contiguous()


def compute_loss(model: SiamFC, batch, config: TrainConfig, device: torch.device) -> torch.Tensor:
    if config.loss.kind == "box":
        templates, searches, targets = batch
        targets = {key: torch.from_numpy(value).to(device) for key, value in targets.items()}
        loss = config.loss
        outputs = model(to_tensor(templates, device), to_tensor(searches, device))
        return box_head_loss(outputs, targets, loss.box_weight, loss.box_classification, loss.box_regression)[0]
    templates, searches, labels, weights = batch
    z, x = to_tensor(templates, device), to_tensor(searches, device)
    labels = torch.from_numpy(labels).to(device)[:, None]
    weights = torch.from_numpy(weights).to(device)[:, None]
    if config.loss.kind == "logistic":
        return logistic_loss(model(z, x), labels, weights)
    distances = window_distances(model.embed(z), model.backbone(x))
    if config.loss.kind == "contrastive":
        return contrastive_loss(distances, labels, weights, config.loss.margin)
    return triplet_loss(distances, labels, config.loss.margin)


def train_step(model: SiamFC, optimizer: torch.optim.Optimizer, batch, config: TrainConfig, device: torch.device) -> float:
    optimizer.zero_grad(set_to_none=True)
    with torch.autocast(device.type, dtype=torch.bfloat16, enabled=config.optim.precision == "bf16"):
        loss = compute_loss(model, batch, config, device).float()
    if not torch.isfinite(loss):
        raise FloatingPointError(f"training loss became {loss.item()}; lower optim.lr_start")
    loss.backward()
    optimizer.step()
    return float(loss.item())


def save_checkpoint(path: str, model, optimizer, epoch: int, config: TrainConfig, tracker_config: TrackerConfig, record: dict) -> None:
    payload = {
        "model": model.state_dict(),
        "optimizer": optimizer.state_dict(),
        "epoch": epoch,
        "train_config": dataclasses.asdict(config),
        "tracker_config": tracker_config.to_dict(),
        "record": record,
        "rng": {"torch": torch.get_rng_state()},
    }
    torch.save(payload, path + ".partial")
    os.replace(path + ".partial", path)


def train(
    config: TrainConfig,
    train_sequences: Sequence[TrainingSequence],
    out_dir: str,
    validate: Optional[Callable[[SiamFC, TrackerConfig], Dict[str, float]]] = None,
    resume: bool = False,
    progress: bool = True,
    max_frames_per_sequence: Optional[int] = None,
    data_record: Optional[dict] = None,
    keep_epochs: bool = False,
) -> dict:
    """Train on ``train_sequences``; write ``checkpoint.pt`` each epoch and ``weights.pt``
    (the best validation AUC, or the last epoch without validation). Returns the record;
    ``data_record`` (e.g. the corpus manifest) is copied into it. ``keep_epochs`` also
    writes every epoch's weights as ``epochN.pt``, to choose among them on whole validation
    sequences afterwards (the per-epoch validation reads only their first frames)."""
    os.makedirs(out_dir, exist_ok=True)
    torch.manual_seed(config.seed)
    np.random.seed(config.seed)
    tracker_config = resolve_tracker_config(config.tracker_config)
    device = torch.device("cuda" if config.device == "auto" and torch.cuda.is_available() else
                          ("cpu" if config.device == "auto" else config.device))
    model = build_training_model(config, tracker_config).to(device)
    set_training_mode(model, config)
    optimizer = make_optimizer(model, config)

    model_config = tracker_config.model
    if (model_config.head == "box") != (config.loss.kind == "box"):
        raise ValueError(f"loss.kind {config.loss.kind!r} does not train a {model_config.head!r} head; "
                         "the box head trains with loss.kind: box, SiamFC's with logistic, contrastive or triplet")
    cache = PatchCache(config.data.cache_dir, tracker_config.tracking.context, model_config.exemplar_size,
                       model_config.search_size, seed=config.seed, frame_step=config.data.frame_step)
    cache.build_all(train_sequences, max_frames_per_sequence, progress=progress)
    cached = [cache.load(s, max_frames_per_sequence) for s in train_sequences]
    cached = [c for c in cached if len(c["frames"])]
    batcher_class = BoxPairBatcher if model_config.head == "box" else PairBatcher
    batcher = batcher_class(cached, model_config.exemplar_size, model_config.search_size, model_config.response_size,
                          model_config.total_stride, config.pairs, config.augment,
                          seed=config.seed + config.pairs.seed_offset, context=tracker_config.tracking.context)

    record = {
        "train_sequences": [s.name for s in train_sequences],
        "train_frames": int(sum(len(c["frames"]) for c in cached)),
        "validation_sequences": list(config.data.validation_sequences),
        "loss": config.loss.kind,
        "pretrained": config.pretrained,
        "epochs": [],
    }
    record.update(data_record or {})
    for key, source in (("initialised_from", config.init_from), ("backbone_initialised_from", config.init_backbone_from)):
        if source:
            earlier = read_weights_file(source).get("record", {})
            record[key] = {"path": os.path.basename(source), "train_frames": earlier.get("train_frames"),
                           "train_sequences": earlier.get("train_sequences")}
    start_epoch = 0
    checkpoint_path = os.path.join(out_dir, CHECKPOINT_NAME)
    if resume and os.path.exists(checkpoint_path):
        checkpoint = torch.load(checkpoint_path, map_location=device, weights_only=False)
        model.load_state_dict(checkpoint["model"])
        optimizer.load_state_dict(checkpoint["optimizer"])
        torch.set_rng_state(checkpoint["rng"]["torch"])
        start_epoch, record = checkpoint["epoch"] + 1, checkpoint["record"]
        batcher.rng = np.random.default_rng(config.seed + start_epoch)

    optim = config.optim
    steps_per_epoch = max(1, optim.pairs_per_epoch // optim.batch_size)
    total_steps = optim.epochs * steps_per_epoch
    best = max((e.get("validation_auc", -1.0) for e in record["epochs"]), default=-1.0)
    for epoch in range(start_epoch, optim.epochs):
        set_training_mode(model, config)
        losses, started = [], time.perf_counter()
        bar = tqdm(range(steps_per_epoch), desc=f"epoch {epoch + 1}/{optim.epochs}", disable=not progress)
        for step in bar:
            lr = learning_rate((epoch * steps_per_epoch + step) / total_steps, config)
            for group in optimizer.param_groups:
                group["lr"] = lr * group["lr_scale"]
            losses.append(train_step(model, optimizer, batcher.batch(optim.batch_size), config, device))
            elapsed = time.perf_counter() - started
            bar.set_postfix(loss=f"{np.mean(losses[-20:]):.4f}", pairs_per_s=f"{(step + 1) * optim.batch_size / elapsed:.1f}", lr=f"{lr:.1e}")
        entry = {"epoch": epoch + 1, "loss": float(np.mean(losses)), "seconds": time.perf_counter() - started}
        model.eval()
        if validate is not None:
            entry.update(validate(model, tracker_config))
        record["epochs"].append(entry)
        print(f"epoch {epoch + 1}: " + ", ".join(f"{k} {v:.4f}" if isinstance(v, float) else f"{k} {v}" for k, v in entry.items()))
        save_checkpoint(checkpoint_path, model, optimizer, epoch, config, tracker_config, record)
        if keep_epochs:
            save_weights(os.path.join(out_dir, f"epoch{epoch + 1}.pt"), model.cpu(), tracker_config, record)
            model.to(device)
        score = entry.get("validation_auc", epoch)
        if score >= best or validate is None:
            best = score
            record["best_epoch"] = epoch + 1
            save_weights(os.path.join(out_dir, "weights.pt"), model.cpu(), tracker_config, record)
            model.to(device)
    return record
