"""Tiny CLIP-shaped ONNX models for tests, in the ``Xenova/clip-vit-base-patch32`` layout.

The models are small but not meaningless, so similarity tests test something:

* vision: average-pool the normalised 224 x 224 image into 7 x 7 patches per channel
  (147 numbers) and project them with a fixed random matrix, so images that look
  alike get nearby vectors;
* text: look up a fixed random vector per token and average over the attention mask.

Inputs, outputs, names and dtypes are those of the real export, so mediaml's CLIP
backend runs them unchanged through real ONNX Runtime. The tokenizer and preprocessing
config are CLIP's real ones (``tests/support/data``).

Use::

    model_dir = write_tiny_clip_model(tmp_path / "models")   # .../clip-vit-base-patch32
    monkeypatch.setenv("MEDIAML_MODEL_DIR", str(tmp_path / "models"))
"""

from __future__ import annotations

import lzma
import shutil
from pathlib import Path

import numpy as np

DATA = Path(__file__).parent / "data" / "clip-vit-base-patch32"
MODEL_NAME = "clip-vit-base-patch32"
VOCAB = 49408
CONTEXT = 77
PATCH = 32
OPSET = 17


def _save(model: object, path: Path) -> None:
    import onnx

    onnx.checker.check_model(model)  # type: ignore[arg-type]
    path.parent.mkdir(parents=True, exist_ok=True)
    onnx.save(model, str(path))  # type: ignore[arg-type]


def tiny_vision_model(dim: int, seed: int = 0) -> object:
    """``pixel_values float32 [n,3,224,224] -> image_embeds float32 [n,dim]``."""
    from onnx import TensorProto, helper, numpy_helper

    features = 3 * (224 // PATCH) ** 2
    rng = np.random.default_rng(seed)
    weights = (rng.standard_normal((features, dim)) / np.sqrt(features)).astype(np.float32)
    graph = helper.make_graph(
        [
            helper.make_node(
                "AveragePool",
                ["pixel_values"],
                ["pooled"],
                kernel_shape=[PATCH, PATCH],
                strides=[PATCH, PATCH],
            ),
            helper.make_node("Flatten", ["pooled"], ["patches"], axis=1),
            helper.make_node("MatMul", ["patches", "projection"], ["image_embeds"]),
        ],
        "tiny_clip_vision",
        [
            helper.make_tensor_value_info(
                "pixel_values", TensorProto.FLOAT, ["batch_size", 3, 224, 224]
            )
        ],
        [helper.make_tensor_value_info("image_embeds", TensorProto.FLOAT, ["batch_size", dim])],
        [numpy_helper.from_array(weights, "projection")],
    )
    return helper.make_model(graph, opset_imports=[helper.make_opsetid("", OPSET)], ir_version=8)


def tiny_text_model(dim: int, seed: int = 1) -> object:
    """``input_ids, attention_mask int64 [n,77] -> text_embeds float32 [n,dim]``."""
    from onnx import TensorProto, helper, numpy_helper

    rng = np.random.default_rng(seed)
    table = rng.standard_normal((VOCAB, dim)).astype(np.float32)
    graph = helper.make_graph(
        [
            helper.make_node("Gather", ["token_table", "input_ids"], ["tokens"], axis=0),
            helper.make_node("Cast", ["attention_mask"], ["mask"], to=TensorProto.FLOAT),
            helper.make_node("Unsqueeze", ["mask", "axis_two"], ["mask3"]),
            helper.make_node("Mul", ["tokens", "mask3"], ["masked"]),
            helper.make_node("ReduceSum", ["masked", "axis_one"], ["summed"], keepdims=0),
            helper.make_node("ReduceSum", ["mask", "axis_one"], ["count"], keepdims=1),
            helper.make_node("Div", ["summed", "count"], ["text_embeds"]),
        ],
        "tiny_clip_text",
        [
            helper.make_tensor_value_info(
                "input_ids", TensorProto.INT64, ["batch_size", "sequence_length"]
            ),
            helper.make_tensor_value_info(
                "attention_mask", TensorProto.INT64, ["batch_size", "sequence_length"]
            ),
        ],
        [helper.make_tensor_value_info("text_embeds", TensorProto.FLOAT, ["batch_size", dim])],
        [
            numpy_helper.from_array(table, "token_table"),
            numpy_helper.from_array(np.array([1], dtype=np.int64), "axis_one"),
            numpy_helper.from_array(np.array([2], dtype=np.int64), "axis_two"),
        ],
    )
    return helper.make_model(graph, opset_imports=[helper.make_opsetid("", OPSET)], ir_version=8)


def write_clip_config_files(model_dir: Path) -> None:
    """CLIP's real ``tokenizer.json`` and ``preprocessor_config.json`` into ``model_dir``."""
    model_dir.mkdir(parents=True, exist_ok=True)
    (model_dir / "tokenizer.json").write_bytes(
        lzma.decompress((DATA / "tokenizer.json.xz").read_bytes())
    )
    shutil.copyfile(DATA / "preprocessor_config.json", model_dir / "preprocessor_config.json")


def write_tiny_clip_model(dir: Path, dim: int = 32, *, quantized: bool = False) -> Path:
    """Write a tiny CLIP model in the Xenova layout under ``dir/clip-vit-base-patch32/``.

    Args:
        dir: the folder to use as ``MEDIAML_MODEL_DIR``.
        dim: the vector length of both towers.
        quantized: also write ``onnx/*_quantized.onnx`` (int8, via ONNX Runtime's
            dynamic quantisation) for the ``clip-vit-base-patch32-int8`` model.

    Returns:
        The model folder, ``dir/clip-vit-base-patch32``.
    """
    model_dir = Path(dir) / MODEL_NAME
    write_clip_config_files(model_dir)
    _save(tiny_vision_model(dim), model_dir / "onnx" / "vision_model.onnx")
    _save(tiny_text_model(dim), model_dir / "onnx" / "text_model.onnx")
    if quantized:
        from mediaml.embed.quantize import quantize_clip

        quantize_clip(model_dir)
    return model_dir
