"""Images of one category as model inputs: resized (bilinear, antialiased) and ImageNet-normalised,
as anomalib's PatchCore/PaDiM pre-processor does; masks resized with nearest neighbour."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np

from inspectnet.data.layout import Category, read_image, read_mask

if TYPE_CHECKING:
    import torch

IMAGENET_MEAN = (0.485, 0.456, 0.406)  # the one definition: anomalib's and timm's backbones' normalisation
IMAGENET_STD = (0.229, 0.224, 0.225)


@dataclass(frozen=True)
class CategoryInputs:
    train: torch.Tensor  # N x 3 x S x S, normalised
    test: torch.Tensor  # M x 3 x S x S, normalised
    labels: np.ndarray  # M, bool (True = defective)
    masks: np.ndarray  # M x S x S, bool
    defect_types: tuple[str, ...]  # M labels ("good" or the defect type)
    test_paths: tuple[Path, ...]


def to_tensor(image: np.ndarray, size: int) -> torch.Tensor:
    import torch
    from torchvision.transforms.v2 import functional as F

    x = torch.from_numpy(np.array(image, dtype=np.uint8, copy=True)).permute(2, 0, 1).float().div_(255.0)
    x = F.resize(x, [size, size], antialias=True)
    return F.normalize(x, list(IMAGENET_MEAN), list(IMAGENET_STD))


def resize_mask(mask: np.ndarray, size: int) -> np.ndarray:
    if mask.shape == (size, size):
        return mask
    from PIL import Image

    return np.asarray(Image.fromarray(mask.astype(np.uint8) * 255).resize((size, size), Image.Resampling.NEAREST)) > 0


def load_inputs(category: Category, size: int) -> CategoryInputs:
    import torch

    train = torch.stack([to_tensor(read_image(p), size) for p in category.train])
    tests, masks = [], []
    for sample in category.test:
        image = read_image(sample.path)
        tests.append(to_tensor(image, size))
        masks.append(resize_mask(read_mask(sample, image.shape[:2]), size))
    return CategoryInputs(
        train=train,
        test=torch.stack(tests),
        labels=np.array([s.is_anomalous for s in category.test]),
        masks=np.stack(masks),
        defect_types=tuple(s.label for s in category.test),
        test_paths=tuple(s.path for s in category.test),
    )
