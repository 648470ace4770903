"""The CLIP ONNX backend (on tiny models built by the tests, run by real ONNX Runtime)
and the weight-free descriptor backend."""

from __future__ import annotations

import threading

import numpy as np
import pytest
from PIL import Image

from mediaml import embed
from mediaml.embed import get_embedder
from mediaml.embed.backends.descriptor import DIM as DESCRIPTOR_DIM
from mediaml.embed.backends.descriptor import describe
from mediaml.errors import MediaError, ModelError, QueryError

from .conftest import DIM


def _scene(colour: tuple[int, int, int], size=(320, 180), seed=0) -> Image.Image:
    rng = np.random.default_rng(seed)
    pixels = np.clip(np.array(colour) + rng.normal(0, 12, (size[1], size[0], 3)), 0, 255)
    return Image.fromarray(pixels.astype(np.uint8))


RED, RED2, BLUE = _scene((200, 30, 30)), _scene((190, 40, 35), (300, 500), 1), _scene((30, 40, 210))


def _assert_unit_rows(vectors: np.ndarray, dim: int) -> None:
    assert vectors.dtype == np.float32 and vectors.shape[1] == dim
    np.testing.assert_allclose(np.linalg.norm(vectors, axis=1), 1.0, atol=1e-5)


# ---------------------------------------------------------------------------- CLIP


def test_clip_identity(clip_model):
    assert clip_model.name == "clip-vit-base-patch32"
    assert clip_model.dim == DIM and clip_model.has_text
    assert clip_model.version.startswith("fp32-") and len(clip_model.version) == 17
    assert get_embedder() is clip_model  # the default model, loaded once


def test_clip_images_are_unit_vectors_and_similar_images_are_near(clip_model):
    vectors = embed.embed_images([RED, RED2, BLUE])
    _assert_unit_rows(vectors, DIM)
    assert vectors[0] @ vectors[1] > 0.95
    assert vectors[0] @ vectors[1] > vectors[0] @ vectors[2] + 0.1


def test_clip_matches_raw_onnx_runtime(clip_model):
    """Through the backend == preprocessing by hand and running the session directly."""
    pixels = np.stack([clip_model.preprocessor(image) for image in (RED, BLUE)])
    (raw,) = clip_model.vision.run(["image_embeds"], {"pixel_values": pixels})
    raw = raw / np.linalg.norm(raw, axis=1, keepdims=True)
    np.testing.assert_allclose(clip_model.embed_images([RED, BLUE]), raw, atol=1e-6)


def test_runtime_threads_spin_within_a_run_and_stop_after_it(clip_model):
    """Between the operators of a run the threads spin (waking them cost 6-15% of raw
    throughput); after the run they stop, leaving the cores to the work between runs."""
    options = clip_model.vision.get_session_options()
    assert options.get_session_config_entry("session.intra_op.allow_spinning") == "1"
    assert options.get_session_config_entry("session.force_spinning_stop") == "1"


def test_batches_give_the_same_vectors_as_one_at_a_time(clip_model, tmp_path):
    paths = []
    for i in range(7):
        path = tmp_path / f"{i}.jpg"
        _scene((30 * i, 200 - 20 * i, 90), seed=i).save(path, quality=92)
        paths.append(path)
    clip_model.batch_size = 3  # several pipelined batches, the last one short
    try:
        together = clip_model.embed_images(paths)
    finally:
        clip_model.batch_size = 32
    alone = np.concatenate([clip_model.embed_images([p]) for p in paths])
    np.testing.assert_allclose(together, alone, atol=1e-6)


def test_the_model_does_not_wait_for_starved_preparing_threads(clip_model, tmp_path, monkeypatch):
    """On a busy machine the low-priority preparing threads may get no CPU for seconds:
    the caller then prepares the batch it needs itself. Here the threads never start
    working until every batch has been embedded, with an unreadable file among them."""
    from mediaml.embed import batching

    paths = []
    for i in range(7):
        path = tmp_path / f"{i}.jpg"
        _scene((30 * i, 200 - 20 * i, 90), seed=i).save(path, quality=92)
        paths.append(path)
    paths.insert(4, tmp_path / "missing.jpg")
    starved, woke = threading.Event(), []

    def never_scheduled() -> None:  # a preparing thread that gets no CPU until released
        woke.append(starved.wait(60))

    monkeypatch.setattr(batching, "_lower_priority", never_scheduled)
    batches = []
    try:
        for batch in batching.embed_batches(clip_model, paths, batch_size=3, workers=2):
            batches.append(batch)
            if len(batches) == 3:
                assert woke == []  # all three embedded while no thread could work
                starved.set()
    finally:
        starved.set()
    assert [b.indices for b in batches] == [[0, 1, 2], [3, 5], [6, 7]]
    assert list(batches[1].errors) == [4] and "not found" in str(batches[1].errors[4])
    got = np.concatenate([b.vectors for b in batches])
    expected = clip_model.embed_images([p for p in paths if p.exists()])
    np.testing.assert_allclose(got, expected, atol=1e-6)


def test_a_single_batch_is_prepared_at_full_priority(clip_model, tmp_path, monkeypatch):
    """The pipeline embeds one clip (3 keyframes) per call: nothing runs alongside, so no
    preparing thread is lowered in priority to wait behind the rest of a busy machine."""
    from mediaml.embed import batching

    lowered: list[int] = []
    monkeypatch.setattr(batching, "_lower_priority", lambda: lowered.append(1))
    paths = []
    for i in range(6):
        paths.append(tmp_path / f"{i}.jpg")
        _scene((40 * i, 90, 200 - 30 * i), seed=i).save(paths[-1], quality=92)
    single = list(batching.embed_batches(clip_model, paths[:3], batch_size=3, workers=2))
    assert len(single) == 1 and lowered == []
    several = list(batching.embed_batches(clip_model, paths, batch_size=3, workers=2))
    assert len(several) == 2 and lowered  # overlapped: the threads yield to the model
    np.testing.assert_allclose(single[0].vectors, several[0].vectors, atol=1e-6)


def test_inputs_of_every_kind(clip_model, tmp_path):
    grey = np.asarray(RED.convert("L"))
    Image.fromarray(grey.astype(np.uint16) * 257).save(tmp_path / "deep.png")
    rgba = np.dstack([np.asarray(RED), np.full(grey.shape, 255, np.uint8)])
    vectors = clip_model.embed_images(
        [tmp_path / "deep.png", grey, rgba, np.asarray(RED, np.float32) / 255.0]
    )
    _assert_unit_rows(vectors, DIM)
    assert vectors[0] @ clip_model.embed_images([grey])[0] == pytest.approx(1.0, abs=1e-5)
    np.testing.assert_allclose(vectors[2], clip_model.embed_images([RED])[0], atol=1e-5)


def test_a_single_image_and_no_images(clip_model):
    assert clip_model.embed_images(RED).shape == (1, DIM)  # type: ignore[arg-type]
    empty = clip_model.embed_images([])
    assert empty.shape == (0, DIM) and empty.dtype == np.float32


def test_unreadable_image_stops_the_call_and_names_the_file(clip_model, tmp_path):
    good, bad = tmp_path / "good.jpg", tmp_path / "bad.jpg"
    RED.save(good)
    bad.write_bytes(b"\xff\xd8 garbage")
    with pytest.raises(MediaError, match=r"bad\.jpg"):
        clip_model.embed_images([good, bad, good])


def test_text_vectors(clip_model):
    vectors = embed.embed_texts(["a red car", "a blue sky", "a red car"])
    _assert_unit_rows(vectors, DIM)
    np.testing.assert_allclose(vectors[0], vectors[2])
    assert vectors[0] @ vectors[1] < 0.99
    assert embed.embed_texts("a red car").shape == (1, DIM)
    assert clip_model.embed_texts([]).shape == (0, DIM)
    assert clip_model.embed_texts([""]).shape == (1, DIM)  # start and end tokens only


def test_long_text_is_truncated_to_77_tokens(clip_model):
    long = " ".join(f"word{i}" for i in range(200))
    tokens = clip_model.tokenize([long, "short"])
    assert tokens["input_ids"].shape == (2, 77) and tokens["input_ids"].dtype == np.int64
    assert tokens["input_ids"][0, 0] == 49406 and tokens["input_ids"][0, -1] == 49407
    assert tokens["attention_mask"][0].sum() == 77
    assert tokens["attention_mask"][1].sum() == 3  # start, "short", end
    # Everything past the 75 content tokens makes no difference.
    longer = long + " and a great deal more text that cannot fit"
    np.testing.assert_allclose(
        clip_model.embed_texts([long]), clip_model.embed_texts([longer]), atol=1e-6
    )


def test_texts_must_be_strings(clip_model):
    with pytest.raises(QueryError, match="must be strings, not int"):
        clip_model.embed_texts(["ok", 3])  # type: ignore[list-item]


def test_int8_variant_is_its_own_model_and_agrees(clip_model):
    int8 = get_embedder("clip-vit-base-patch32-int8")
    assert int8.name != clip_model.name and int8.version.startswith("int8-")
    images = [RED, RED2, BLUE]
    agreement = (int8.embed_images(images) * clip_model.embed_images(images)).sum(axis=1)
    assert agreement.min() > 0.99
    texts = ["a red car", "a blue sky"]
    assert (int8.embed_texts(texts) * clip_model.embed_texts(texts)).sum(axis=1).min() > 0.99


# ---------------------------------------------------------------------- descriptor


def test_descriptor_is_deterministic_and_unit_length(settings):
    model = get_embedder("mediaml-descriptor-v1")
    assert (model.name, model.version, model.dim, model.has_text) == (
        "mediaml-descriptor-v1",
        "1",
        DESCRIPTOR_DIM,
        False,
    )
    first = model.embed_images([RED, RED2, BLUE])
    _assert_unit_rows(first, DESCRIPTOR_DIM)
    np.testing.assert_array_equal(first, model.embed_images([RED, RED2, BLUE]))
    assert first[0] @ first[1] > first[0] @ first[2] + 0.3


def test_descriptor_sees_layout_and_edges():
    left_dark = np.zeros((128, 128, 3), np.uint8)
    left_dark[:, 64:] = 255
    right_dark = left_dark[:, ::-1].copy()
    stripes = np.zeros((128, 128, 3), np.uint8)
    stripes[::8] = 255
    a, b, c = (describe(Image.fromarray(x)) for x in (left_dark, right_dark, stripes))
    # The same colours in another place, or other edges, are not the same picture.
    assert a @ b < 0.9
    assert a @ c < 0.9


def test_descriptor_has_no_text_tower(settings):
    with pytest.raises(ModelError, match="mediaml-descriptor-v1 has no text tower"):
        embed.embed_texts(["a red car"], model="mediaml-descriptor-v1")


def test_keyframe_files_decode_at_reduced_size_with_the_same_vectors(clip_model, tmp_path):
    """Files go through reduced-size JPEG decoding (1.5x the model's input edge is
    kept); the vectors agree with those of the fully decoded image."""
    from PIL import Image

    assert clip_model.decode_edge == 336
    rng = np.random.default_rng(4)
    y, x = np.mgrid[0:720, 0:1280]
    pixels = np.stack([x % 256, y % 256, (x * y) % 256], axis=-1) + rng.normal(
        0, 10, (720, 1280, 3)
    )
    path = tmp_path / "keyframe.jpg"
    Image.fromarray(np.clip(pixels, 0, 255).astype(np.uint8)).save(path, quality=90)
    from_file = clip_model.embed_images([path])[0]
    full = clip_model.embed_images([Image.open(path).convert("RGB")])[0]
    assert float(from_file @ full) > 0.999
