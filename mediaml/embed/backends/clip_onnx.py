"""CLIP ViT-B/32 run by ONNX Runtime, from files in the ``Xenova/clip-vit-base-patch32`` layout.

::

    <MEDIAML_MODEL_DIR>/clip-vit-base-patch32/
        onnx/vision_model.onnx            pixel_values float32 [n,3,224,224] -> image_embeds [n,512]
        onnx/text_model.onnx              input_ids, attention_mask int64 [n,77] -> text_embeds [n,512]
        onnx/*_quantized.onnx             the int8 variant (model clip-vit-base-patch32-int8)
        tokenizer.json                    CLIP's BPE tokenizer
        preprocessor_config.json          resize / crop / normalisation

The int8 variant is registered under its own name because its vectors differ from the
fp32 ones: a stored vector always says which model made it.
"""

from __future__ import annotations

import os
import threading
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
from PIL import Image

from mediaml.embed.embedder import Backend, Embedder, l2_normalize, register
from mediaml.embed.models import ModelFiles, check_model, file_digest, find_model
from mediaml.embed.preprocess import ClipPreprocessor
from mediaml.errors import MediaError, ModelError, QueryError

if TYPE_CHECKING:
    import onnxruntime as ort
    from tokenizers import Tokenizer

CLIP_REPO = "Xenova/clip-vit-base-patch32"
# The commit of CLIP_REPO that is downloaded and looked up in the cache (pinned, so the
# weights behind "clip-vit-base-patch32" never change with a push to the repository).
CLIP_REVISION = "d15189d7028b43f1d3e65039190477f6af591c2a"
CLIP_FOLDER = "clip-vit-base-patch32"
# CLIP's text transformer has 77 positions; longer texts are truncated to fit.
CONTEXT_LENGTH = 77
END_OF_TEXT = "<|endoftext|>"
TEXT_BATCH = 64


def clip_files(quantized: bool = False) -> ModelFiles:
    """The files the fp32 (or int8) CLIP model needs, in the Xenova layout."""
    suffix = "_quantized" if quantized else ""
    return ModelFiles(
        folder=CLIP_FOLDER,
        repo_id=CLIP_REPO,
        revision=CLIP_REVISION,
        files=(
            f"onnx/vision_model{suffix}.onnx",
            f"onnx/text_model{suffix}.onnx",
            "tokenizer.json",
            "preprocessor_config.json",
        ),
    )


def session_options(threads: int | None = None) -> ort.SessionOptions:
    """ONNX Runtime settings for batch inference on the CPU.

    All cores go to one operator at a time (intra-op); operators run in sequence
    because a transformer's graph is a chain. The runtime's threads spin between the
    operators of a run, as ONNX Runtime's defaults have them do (with spinning off,
    each operator waited for its threads to wake: 6-15% of raw throughput in quiet
    runs of bench/embed.py), and stop spinning when the run ends, so the work between
    runs (storing vectors, decoding the next images, the database) has the cores.
    """
    import onnxruntime as ort

    options = ort.SessionOptions()
    options.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_ALL
    options.execution_mode = ort.ExecutionMode.ORT_SEQUENTIAL
    options.intra_op_num_threads = threads or os.cpu_count() or 1
    options.inter_op_num_threads = 1
    options.add_session_config_entry("session.intra_op.allow_spinning", "1")
    options.add_session_config_entry("session.force_spinning_stop", "1")
    return options


def open_session(path: Path, threads: int | None = None) -> ort.InferenceSession:
    """An ONNX Runtime CPU session on ``path``.

    Raises:
        ModelError: the file is not a model ONNX Runtime can load.
    """
    import onnxruntime as ort
    from onnxruntime.capi import onnxruntime_pybind11_state as state

    # ONNX Runtime's load errors derive from Exception directly, one class per cause.
    load_errors = tuple(
        getattr(state, name)
        for name in (
            "Fail",
            "InvalidProtobuf",
            "InvalidGraph",
            "InvalidArgument",
            "NoSuchFile",
            "NotImplemented",
            "RuntimeException",
        )
        if hasattr(state, name)
    )
    try:
        return ort.InferenceSession(
            str(path), sess_options=session_options(threads), providers=["CPUExecutionProvider"]
        )
    except (*load_errors, RuntimeError, OSError) as exc:
        first = str(exc).splitlines()[0] if str(exc) else type(exc).__name__
        raise ModelError(f"{path} is not a model ONNX Runtime can load: {first}") from None


def _require_io(session: ort.InferenceSession, path: Path, inputs: set[str], output: str) -> None:
    names = {i.name for i in session.get_inputs()}
    outputs = {o.name for o in session.get_outputs()}
    if not inputs <= names or output not in outputs:
        raise ModelError(
            f"{path} has inputs {sorted(names)} and outputs {sorted(outputs)}; a CLIP export "
            f"needs inputs {sorted(inputs)} and output {output!r}"
        )


def _output_dim(session: ort.InferenceSession, name: str) -> int | None:
    shape = next(o.shape for o in session.get_outputs() if o.name == name)
    last = shape[-1] if shape else None
    return last if isinstance(last, int) and last > 0 else None


# Reduced-size JPEG decoding keeps the short edge >= DECODE_MARGIN / 2 x the resize target.
DECODE_MARGIN = 3


class ClipOnnxEmbedder(Embedder):
    """CLIP image and text towers in ONNX Runtime, with CLIP's reference preprocessing."""

    has_text = True

    def __init__(
        self,
        name: str,
        folder: Path,
        *,
        quantized: bool = False,
        threads: int | None = None,
        batch_size: int = 32,
    ) -> None:
        files = clip_files(quantized)
        self.name = name
        self.folder = folder
        self.batch_size = batch_size
        self._threads = threads
        self._vision_path = folder / files.files[0]
        self._text_path = folder / files.files[1]
        self.preprocessor = ClipPreprocessor.from_file(folder / "preprocessor_config.json")
        if self.preprocessor.do_resize:
            # Keyframe JPEGs may be decoded at reduced size (DCT scaling) down to 1.5x
            # the resize target: the bicubic resize from there agrees with the one from
            # full size to within a grey level or two (tests/embed/test_images.py).
            self.decode_edge = self.preprocessor.shortest_edge * DECODE_MARGIN // 2
        self.rendition = self.preprocessor.rendition
        self.vision = open_session(self._vision_path, threads)
        _require_io(self.vision, self._vision_path, {"pixel_values"}, "image_embeds")
        self.version = f"{'int8' if quantized else 'fp32'}-{file_digest(self._vision_path)}"
        dim = _output_dim(self.vision, "image_embeds")
        if dim is None:
            # A symbolic output width: one run on a blank image tells it.
            blank = self.preprocessor(Image.new("RGB", (224, 224)))[None]
            dim = int(self.vision.run(["image_embeds"], {"pixel_values": blank})[0].shape[-1])
        self.dim = dim
        self._text: ort.InferenceSession | None = None
        self._tokenizer: Tokenizer | None = None
        self._text_lock = threading.Lock()

    def prepare(self, image: Image.Image) -> np.ndarray:
        return self.preprocessor(image)

    def render(self, image: Image.Image) -> Image.Image:
        if self.rendition is None:
            return super().render(image)
        return self.preprocessor.render(image)

    def prepare_rendition(self, rendered: Image.Image) -> np.ndarray:
        if self.rendition is None:
            return super().prepare_rendition(rendered)
        expected = (self.preprocessor.crop_width, self.preprocessor.crop_height)
        if rendered.size != expected:
            raise MediaError(
                f"a {rendered.size[0]}x{rendered.size[1]} image is not a rendition for "
                f"{self.name} ({expected[0]}x{expected[1]}); re-run the clip's keyframes "
                "to rewrite it"
            )
        return self.preprocessor.tensor(rendered)

    def infer(self, batch: np.ndarray) -> np.ndarray:
        pixels = np.ascontiguousarray(batch, dtype=np.float32)
        (embeds,) = self.vision.run(["image_embeds"], {"pixel_values": pixels})
        return l2_normalize(embeds)

    def _text_tower(self) -> tuple[ort.InferenceSession, Tokenizer]:
        # The text tower is loaded on first use: most embedding work is images only.
        with self._text_lock:
            if self._text is None or self._tokenizer is None:
                session = open_session(self._text_path, self._threads)
                _require_io(session, self._text_path, {"input_ids"}, "text_embeds")
                text_dim = _output_dim(session, "text_embeds")
                if text_dim is not None and text_dim != self.dim:
                    raise ModelError(
                        f"{self._text_path} makes {text_dim}-dim vectors but the vision "
                        f"model makes {self.dim}-dim ones; the two files are not one CLIP model"
                    )
                self._tokenizer = load_tokenizer(self.folder / "tokenizer.json")
                self._text = session
            return self._text, self._tokenizer

    def tokenize(self, texts: Sequence[str]) -> dict[str, np.ndarray]:
        """``input_ids`` and ``attention_mask``, truncated and padded to 77 tokens."""
        _, tokenizer = self._text_tower()
        encodings = tokenizer.encode_batch(list(texts))
        return {
            "input_ids": np.array([e.ids for e in encodings], dtype=np.int64),
            "attention_mask": np.array([e.attention_mask for e in encodings], dtype=np.int64),
        }

    def embed_texts(self, texts: Sequence[str]) -> np.ndarray:
        """Embed texts; those longer than 77 tokens are truncated (keeping the end token).

        Raises:
            QueryError: an item is not a string.
        """
        texts = list(texts)
        bad = [type(t).__name__ for t in texts if not isinstance(t, str)]
        if bad:
            raise QueryError(f"texts to embed must be strings, not {', '.join(sorted(set(bad)))}")
        if not texts:
            return np.empty((0, self.dim), dtype=np.float32)
        session, _ = self._text_tower()
        wanted = {i.name for i in session.get_inputs()}
        parts = []
        for start in range(0, len(texts), TEXT_BATCH):
            feeds: dict[str, Any] = self.tokenize(texts[start : start + TEXT_BATCH])
            feeds = {k: v for k, v in feeds.items() if k in wanted}
            (embeds,) = session.run(["text_embeds"], feeds)
            parts.append(embeds)
        vectors = l2_normalize(np.concatenate(parts))
        if vectors.shape[1] != self.dim:
            raise ModelError(
                f"{self._text_path} makes {vectors.shape[1]}-dim vectors but the vision model "
                f"makes {self.dim}-dim ones; the two files are not one CLIP model"
            )
        return vectors


def load_tokenizer(path: Path) -> Tokenizer:
    """CLIP's tokenizer from ``tokenizer.json``, truncating and padding to 77 tokens.

    Padding uses the end-of-text token, as CLIP's own tokenizer does.

    Raises:
        ModelError: the file is missing or is not a tokenizer.
    """
    from tokenizers import Tokenizer

    try:
        tokenizer = Tokenizer.from_file(str(path))
    except Exception as exc:
        # tokenizers raises a bare Exception for every kind of bad file.
        raise ModelError(f"{path} is not a tokenizer file tokenizers can read: {exc}") from None
    pad_id = tokenizer.token_to_id(END_OF_TEXT)
    if pad_id is None:
        raise ModelError(f"{path} has no {END_OF_TEXT} token; it is not CLIP's tokenizer")
    tokenizer.enable_truncation(max_length=CONTEXT_LENGTH)
    tokenizer.enable_padding(length=CONTEXT_LENGTH, pad_id=pad_id, pad_token=END_OF_TEXT)
    return tokenizer


def _register(name: str, quantized: bool, summary: str) -> None:
    files = clip_files(quantized)
    register(
        Backend(
            name=name,
            summary=summary,
            load=lambda: ClipOnnxEmbedder(name, find_model(files), quantized=quantized),
            check=lambda: check_model(files),
        )
    )


_register(
    "clip-vit-base-patch32",
    quantized=False,
    summary="OpenAI CLIP ViT-B/32 (fp32 ONNX), 512-dim image and text vectors",
)
_register(
    "clip-vit-base-patch32-int8",
    quantized=True,
    summary="CLIP ViT-B/32 with int8 dynamically quantised weights (onnx/*_quantized.onnx)",
)
