"""int8 dynamic quantisation of a CLIP export, for the ``clip-vit-base-patch32-int8`` model.

Dynamic quantisation stores the weights of matrix multiplications as int8 and
quantises activations on the fly, so the file is about 4x smaller and runs faster on
CPUs with int8 instructions, at a small cost in accuracy. The result is written next
to the fp32 files with the names the ``Xenova`` layout uses for it
(``onnx/vision_model_quantized.onnx``, ``onnx/text_model_quantized.onnx``), and it is
a different model name because its vectors differ from the fp32 ones.
"""

from __future__ import annotations

from pathlib import Path

from mediaml.errors import ModelError

TOWERS = ("vision_model", "text_model")


def quantize_clip(model_dir: Path) -> list[Path]:
    """Write int8 dynamically quantised copies of a CLIP model's ONNX files.

    Args:
        model_dir: a folder in the Xenova layout with ``onnx/vision_model.onnx`` and
            ``onnx/text_model.onnx``.

    Returns:
        The paths written.

    Raises:
        ModelError: the fp32 files are missing, or the ``onnx`` package that ONNX
            Runtime's quantiser needs is not installed.
    """
    try:
        from onnxruntime.quantization import QuantType, quantize_dynamic
    except ImportError as exc:
        raise ModelError(f"quantising needs the onnx package: pip install onnx ({exc})") from None
    written = []
    for tower in TOWERS:
        source = model_dir / "onnx" / f"{tower}.onnx"
        if not source.is_file():
            raise ModelError(f"cannot quantise: {source} does not exist")
        target = source.with_name(f"{tower}_quantized.onnx")
        quantize_dynamic(source, target, weight_type=QuantType.QInt8)
        written.append(target)
    return written
