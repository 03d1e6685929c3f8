"""Every use of anomalib's private API, in one place (anomalib 2.7).

Private names change without notice between anomalib releases; when one moves, this module is the only
one to change. Each function says which private name it touches.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from collections.abc import Iterator

    import torch
    from torch import nn


def f1_adaptive_threshold(preds: torch.Tensor, targets: torch.Tensor) -> float:
    """anomalib's F1-adaptive threshold of ``preds`` against binary ``targets`` (``_F1AdaptiveThreshold``,
    the metric its PostProcessor computes on validation)."""
    from anomalib.metrics.threshold.f1_adaptive_threshold import _F1AdaptiveThreshold

    metric = _F1AdaptiveThreshold()
    metric.update(preds, targets)
    return float(metric.compute())


def calibrated_post_processor(
    image_threshold: float,
    pixel_threshold: float,
    image_bounds: tuple[float, float],
    pixel_bounds: tuple[float, float],
) -> nn.Module:
    """anomalib's ``PostProcessor`` with its thresholds (private buffers ``_image_threshold`` and
    ``_pixel_threshold``) and normalisation bounds (min, max) loaded, as its validation epoch leaves them."""
    from anomalib.post_processing import PostProcessor

    post = PostProcessor()
    for name, value in (
        ("_image_threshold", image_threshold),
        ("_pixel_threshold", pixel_threshold),
        ("image_min", image_bounds[0]),
        ("image_max", image_bounds[1]),
        ("pixel_min", pixel_bounds[0]),
        ("pixel_max", pixel_bounds[1]),
    ):
        getattr(post, name).fill_(value)
    return post


def normalise_image_scores(post: nn.Module, raw: torch.Tensor) -> torch.Tensor:
    """``raw`` image scores through ``post``'s (a ``PostProcessor``) normalisation (its ``_normalize``), in
    ``raw``'s dtype and on the CPU."""
    p: Any = post
    bounds = (p.image_min, p.image_max, p.image_threshold)
    return p._normalize(raw, *(b.to(raw.dtype).cpu() for b in bounds))


def k_center_greedy_indices(embedding: torch.Tensor, ratio: float) -> list[int]:
    """anomalib's own ``KCenterGreedy`` coreset picks, its progress bar (module global ``tqdm``) silenced."""
    from anomalib.models.components.sampling import k_center_greedy

    quiet = getattr(k_center_greedy, "tqdm")  # noqa: B009 - not exported; set back below
    setattr(k_center_greedy, "tqdm", lambda it, **_: it)  # noqa: B010
    try:
        return k_center_greedy.KCenterGreedy(embedding, ratio).select_coreset_idxs()
    finally:
        setattr(k_center_greedy, "tqdm", quiet)  # noqa: B010


def aupro(maps: torch.Tensor, masks: torch.Tensor, fpr_limit: float = 0.3) -> float:
    """anomalib's own AUPRO of ``maps`` against binary ``masks`` (its torchmetrics class ``_AUPRO``)."""
    from anomalib.metrics.aupro import _AUPRO

    metric = _AUPRO(fpr_limit=fpr_limit)
    metric.update(maps, masks)
    return float(metric.compute())


def k_center_greedy_stepper(embedding: torch.Tensor, ratio: float) -> tuple[torch.Tensor, Iterator[int]]:
    """anomalib's own ``KCenterGreedy`` on ``embedding``, one pick at a time: its projected features and an
    iterator of its picks. The steps are ``select_coreset_idxs``'s, line for line, through its methods
    ``update_distances`` and ``get_new_idx`` and its attributes ``model``, ``features``, ``min_distances``
    (so a caller can time any prefix of the picks; they do not depend on how many are taken)."""
    import torch
    from anomalib.models.components.sampling import k_center_greedy

    sampler: Any = k_center_greedy.KCenterGreedy(embedding, ratio)
    sampler.model.fit(sampler.embedding)
    sampler.features = sampler.model.transform(sampler.embedding)
    sampler.reset_distances()
    start = torch.randint(high=sampler.n_observations, size=(1,), device=sampler.features.device).squeeze()

    def picks() -> Iterator[int]:
        idx = start
        yield int(idx)
        for _ in range(sampler.coreset_size - 1):
            sampler.update_distances(cluster_center=idx)
            idx = sampler.get_new_idx()
            sampler.min_distances.scatter_(0, idx.unsqueeze(0).unsqueeze(1), 0.0)
            yield int(idx)

    return sampler.features, picks()
