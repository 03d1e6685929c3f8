"""PatchCore's stable distances, and the evaluation model that also gives anomalib's own outputs from the same
pass: both sides must be bit for bit what the two separate models give (the records' effect on the metrics
was measured with two passes before, and is the same number now)."""

from __future__ import annotations

from typing import Any

import pytest
import torch

from inspectnet.models.stable import ComparedPatchcoreModel, StablePatchcoreModel


def _models(num_neighbors: int, bank: int) -> list[Any]:
    from anomalib.models.image.patchcore.torch_model import PatchcoreModel

    torch.manual_seed(0)
    weights = torch.randn(bank, 128)
    out = []
    for kind in (PatchcoreModel, StablePatchcoreModel, ComparedPatchcoreModel):
        torch.manual_seed(1)  # the same random-init backbone in all three
        model = kind(layers=["layer2"], backbone="resnet18", pre_trained=False, num_neighbors=num_neighbors).eval()
        model.memory_bank = weights.clone()
        out.append(model)
    return out


@pytest.mark.parametrize(
    ("images", "size", "num_neighbors", "bank"),
    [
        (3, 64, 9, 300),  # one chunk of patches, the re-weighted score
        (2, 256, 3, 200),  # 2 x 1024 patches: anomalib's chunks of 1024
        (2, 64, 1, 300),  # no re-weighting: the top patch
        (2, 64, 9, 1),  # a one-entry bank (the self-check's mutant): the support search takes one neighbour
    ],
)
def test_one_pass_gives_the_stable_and_anomalibs_outputs_bit_for_bit(
    images: int, size: int, num_neighbors: int, bank: int
) -> None:
    plain, stable, compared = _models(num_neighbors, bank)
    x = torch.randn(images, 3, size, size, generator=torch.Generator().manual_seed(2))
    with torch.no_grad():
        want_plain, want_stable, got = plain(x), stable(x), compared(x)
    assert len(compared.anomalib_outputs) == 1
    got_plain = compared.anomalib_outputs[0]
    assert torch.equal(got.pred_score, want_stable.pred_score) and torch.equal(got.anomaly_map, want_stable.anomaly_map)
    assert torch.equal(got_plain.pred_score, want_plain.pred_score)
    assert torch.equal(got_plain.anomaly_map, want_plain.anomaly_map)
    assert not torch.equal(want_plain.anomaly_map, want_stable.anomaly_map) or bank == 1  # two arithmetics


@pytest.mark.parametrize("rows", [[300], [1024, 1024], [700, 700, 700], [1500, 10, 2000]])
def test_the_streamed_search_is_one_search_of_the_concatenation_bit_for_bit(rows: list[int]) -> None:
    from inspectnet.models.stable import searched

    generator = torch.Generator().manual_seed(3)
    parts = [torch.randn(1, n, 128, generator=generator) for n in rows]
    for model in _models(1, 2500)[:2]:  # anomalib's search and the stable one
        with torch.no_grad():
            want = model.nearest_neighbors(torch.cat(parts, 1).reshape(-1, 128), 1)[0]
        assert torch.equal(searched(model, iter(parts)), want)
