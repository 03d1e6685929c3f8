"""Backbone weights with no network: parsing, random:N, the local ImageNet cache, user files."""

from __future__ import annotations

import time
from pathlib import Path

import pytest
import timm

from inspectnet.models.weights import WeightsError, apply, parse_weights, resolve


def test_parse_kinds(tmp_path: Path) -> None:
    assert parse_weights("imagenet").kind == "imagenet"
    assert parse_weights("random:7").seed == 7
    (tmp_path / "w.pth").write_bytes(b"")
    assert parse_weights(str(tmp_path / "w.pth")).kind == "file"


@pytest.mark.parametrize("text", ["random:x", "random:-1", "random", "/no/such/weights.pth"])
def test_parse_rejects_with_one_line_naming_the_option(text: str) -> None:
    with pytest.raises(WeightsError, match="--inspectnet-weights") as exc:
        parse_weights(text)
    assert "\n" not in str(exc.value)


def test_random_weights_are_deterministic_files(tmp_path: Path) -> None:
    a = resolve(parse_weights("random:3"), "resnet18", tmp_path / "a")
    b = resolve(parse_weights("random:3"), "resnet18", tmp_path / "b")
    c = resolve(parse_weights("random:4"), "resnet18", tmp_path / "a")
    assert a.sha256 == b.sha256 != c.sha256
    assert a.path.suffix == ".safetensors" and a.kind == "random"


def test_imagenet_absent_is_a_clear_error_without_network(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("HF_HUB_CACHE", str(tmp_path / "hf"))
    monkeypatch.setenv("TORCH_HOME", str(tmp_path / "torch"))
    started = time.perf_counter()
    with pytest.raises(WeightsError, match="nothing is downloaded") as exc:
        resolve(parse_weights("imagenet"), "resnet18", tmp_path / "store")
    assert time.perf_counter() - started < 5
    assert str(tmp_path / "hf") in str(exc.value) and "--inspectnet-weights FILE" in str(exc.value)


def test_imagenet_found_in_the_local_hub_cache(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    fake = resolve(parse_weights("random:0"), "resnet18", tmp_path / "store")
    snapshot = tmp_path / "hf" / "models--timm--resnet18.a1_in1k" / "snapshots" / "0123abcd"
    snapshot.mkdir(parents=True)
    (snapshot / "model.safetensors").write_bytes(fake.path.read_bytes())
    monkeypatch.setenv("HF_HUB_CACHE", str(tmp_path / "hf"))
    found = resolve(parse_weights("imagenet"), "resnet18", tmp_path / "store")
    assert found.kind == "imagenet" and found.sha256 == fake.sha256


def test_a_file_for_another_backbone_is_refused_naming_the_file(tmp_path: Path) -> None:
    r18 = resolve(parse_weights("random:0"), "resnet18", tmp_path)
    as_file = resolve(parse_weights(str(r18.path)), "resnet34", tmp_path)
    model = timm.create_model("resnet34", pretrained=False, features_only=True, out_indices=(2, 3))
    with pytest.raises(WeightsError, match=str(r18.path)) as exc:
        apply(model, as_file)
    assert "missing" in str(exc.value)


@pytest.mark.filterwarnings("ignore:Detected pickle protocol:UserWarning")
def test_a_corrupt_file_is_refused_naming_the_file(tmp_path: Path) -> None:
    bad = tmp_path / "resnet18.pth"
    bad.write_bytes(b"\x80\x04garbage")
    weights = resolve(parse_weights(str(tmp_path)), "resnet18", tmp_path)
    model = timm.create_model("resnet18", pretrained=False, features_only=True, out_indices=(2, 3))
    with pytest.raises(WeightsError, match="not a readable weights file"):
        apply(model, weights)


def test_a_directory_needs_the_backbone_file(tmp_path: Path) -> None:
    with pytest.raises(WeightsError, match="resnet18"):
        resolve(parse_weights(str(tmp_path)), "resnet18", tmp_path)
