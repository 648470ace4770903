"""Model resolution: the model folder, the Hugging Face cache, and one clear error when
neither has the files (the Hub is never contacted in tests)."""

from __future__ import annotations

import dataclasses
import shutil

import pytest

from mediaml.config import get_settings, set_settings
from mediaml.embed import get_embedder, model_available
from mediaml.embed.backends.clip_onnx import CLIP_REVISION, clip_files
from mediaml.embed.models import find_model
from mediaml.errors import ModelError
from tests.support.embed import write_clip_config_files

EXPECTED = (
    "onnx/vision_model.onnx",
    "onnx/text_model.onnx",
    "tokenizer.json",
    "preprocessor_config.json",
)


@pytest.fixture
def empty_models(settings, tmp_path, monkeypatch):
    """An empty MEDIAML_MODEL_DIR, an empty Hugging Face cache, offline."""
    import huggingface_hub.constants

    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    monkeypatch.setattr(huggingface_hub.constants, "HF_HUB_CACHE", str(tmp_path / "hf"))
    root = tmp_path / "models"
    root.mkdir()
    set_settings(dataclasses.replace(settings, model_dir=root))
    return root


def test_missing_model_error_names_folder_and_files(empty_models):
    with pytest.raises(ModelError) as info:
        get_embedder("clip-vit-base-patch32")
    message = str(info.value)
    assert str(empty_models / "clip-vit-base-patch32") in message
    for name in EXPECTED:
        assert name in message
    assert "HF_HUB_OFFLINE" in message and "MEDIAML_MODEL_DIR" in message
    assert "\n" not in message


def test_partly_present_model_lists_what_is_missing(empty_models):
    write_clip_config_files(empty_models / "clip-vit-base-patch32")
    with pytest.raises(
        ModelError, match=r"\(missing: onnx/vision_model.onnx, onnx/text_model.onnx\)"
    ):
        get_embedder("clip-vit-base-patch32")


def test_model_available_never_raises(empty_models):
    ok, why = model_available("clip-vit-base-patch32")
    assert not ok and str(empty_models) in why and "onnx/vision_model.onnx" in why
    assert model_available("mediaml-descriptor-v1") == (True, "built in: needs no model files")
    ok, why = model_available("clip-vit-huge")
    assert not ok and "unknown embedding model 'clip-vit-huge'" in why


def test_no_fallback_from_a_named_model(empty_models):
    with pytest.raises(ModelError):
        get_embedder("clip-vit-base-patch32")  # named: the descriptor is not used instead
    set_settings(dataclasses.replace(get_settings(), embed_model="clip-vit-base-patch32"))
    with pytest.raises(ModelError):
        get_embedder(None)


def test_unknown_model_name(empty_models):
    with pytest.raises(ModelError, match=r"unknown embedding model 'nope'.*mediaml-descriptor-v1"):
        get_embedder("nope")


def test_found_in_the_hugging_face_cache(empty_models, tiny_model_root, tmp_path):
    """The snapshot of the pinned revision in the hub cache layout is used; another
    revision (what `main` pointed at some other day) is not."""
    repo = tmp_path / "hf" / "models--Xenova--clip-vit-base-patch32"
    other = "0123456789abcdef0123456789abcdef01234567"
    (repo / "refs").mkdir(parents=True)
    (repo / "refs" / "main").write_text(other)
    shutil.copytree(tiny_model_root / "clip-vit-base-patch32", repo / "snapshots" / other)
    assert not model_available("clip-vit-base-patch32")[0]
    sha = CLIP_REVISION
    shutil.copytree(tiny_model_root / "clip-vit-base-patch32", repo / "snapshots" / sha)
    ok, why = model_available("clip-vit-base-patch32")
    assert ok and "Hugging Face cache" in why
    assert find_model(clip_files()) == repo / "snapshots" / sha
    assert get_embedder("clip-vit-base-patch32").dim == 32


def test_broken_onnx_file(empty_models):
    folder = empty_models / "clip-vit-base-patch32"
    write_clip_config_files(folder)
    (folder / "onnx").mkdir()
    for name in ("vision_model.onnx", "text_model.onnx"):
        (folder / "onnx" / name).write_bytes(b"not a model")
    with pytest.raises(
        ModelError, match=r"vision_model\.onnx is not a model ONNX Runtime can load"
    ):
        get_embedder("clip-vit-base-patch32")


def test_onnx_file_with_other_inputs(empty_models):
    from tests.support.embed import _save, tiny_text_model

    folder = empty_models / "clip-vit-base-patch32"
    write_clip_config_files(folder)
    _save(tiny_text_model(8), folder / "onnx" / "vision_model.onnx")
    _save(tiny_text_model(8), folder / "onnx" / "text_model.onnx")
    with pytest.raises(ModelError, match="needs inputs \\['pixel_values'\\]"):
        get_embedder("clip-vit-base-patch32")
