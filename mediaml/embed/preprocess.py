"""CLIP image preprocessing, read from the model's ``preprocessor_config.json``.

The steps and their order are CLIP's reference ones (``transformers``'
``CLIPImageProcessor``): RGB, resize so the shortest edge is 224 with bicubic
resampling, centre crop 224 x 224, rescale by 1/255, normalise with CLIP's mean and
standard deviation. Resizing happens on the 8-bit image with PIL, exactly as the
reference does, so the tensors agree with it to float rounding; a test checks that.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from functools import cached_property
from pathlib import Path
from typing import Any

import numpy as np
from PIL import Image

from mediaml.embed.images import to_rgb
from mediaml.errors import ModelError

# CLIP's published normalisation, used when a config leaves a value out.
CLIP_MEAN = (0.48145466, 0.4578275, 0.40821073)
CLIP_STD = (0.26862954, 0.26130258, 0.27577711)


@dataclass(frozen=True)
class ClipPreprocessor:
    """One image -> one ``float32 (3, H, W)`` model input, as CLIP expects it."""

    shortest_edge: int = 224
    crop_height: int = 224
    crop_width: int = 224
    resample: int = int(Image.Resampling.BICUBIC)
    rescale_factor: float = 1 / 255
    mean: tuple[float, float, float] = CLIP_MEAN
    std: tuple[float, float, float] = CLIP_STD
    do_resize: bool = True
    do_center_crop: bool = True
    do_rescale: bool = True
    do_normalize: bool = True

    @classmethod
    def from_config(cls, config: dict[str, Any]) -> ClipPreprocessor:
        """Build from the parsed contents of a ``preprocessor_config.json``.

        Raises:
            ModelError: the config asks for a resize rule other than ``shortest_edge``.
        """
        size = config.get("size", {"shortest_edge": 224})
        if isinstance(size, int):
            size = {"shortest_edge": size}
        if "shortest_edge" not in size:
            raise ModelError(
                f"preprocessor_config.json has size {size}; only CLIP's shortest_edge "
                "resize is supported"
            )
        crop = config.get("crop_size", {"height": 224, "width": 224})
        if isinstance(crop, int):
            crop = {"height": crop, "width": crop}
        return cls(
            shortest_edge=int(size["shortest_edge"]),
            crop_height=int(crop["height"]),
            crop_width=int(crop["width"]),
            resample=int(config.get("resample", Image.Resampling.BICUBIC)),
            rescale_factor=float(config.get("rescale_factor", 1 / 255)),
            mean=_triple(config.get("image_mean", CLIP_MEAN)),
            std=_triple(config.get("image_std", CLIP_STD)),
            do_resize=bool(config.get("do_resize", True)),
            do_center_crop=bool(config.get("do_center_crop", True)),
            do_rescale=bool(config.get("do_rescale", True)),
            do_normalize=bool(config.get("do_normalize", True)),
        )

    @classmethod
    def from_file(cls, path: Path) -> ClipPreprocessor:
        """Read ``preprocessor_config.json``.

        Raises:
            ModelError: the file is missing or is not valid JSON.
        """
        try:
            return cls.from_config(json.loads(path.read_text()))
        except FileNotFoundError:
            raise ModelError(f"missing preprocessing config {path}") from None
        except (json.JSONDecodeError, TypeError, KeyError, ValueError) as exc:
            raise ModelError(f"{path} is not a valid preprocessor config: {exc}") from None

    def resized_size(self, width: int, height: int) -> tuple[int, int]:
        """``(width, height)`` after the shortest-edge resize; the long edge truncates
        like the reference implementation does."""
        short, long = (width, height) if width <= height else (height, width)
        new_short, new_long = self.shortest_edge, int(self.shortest_edge * long / short)
        return (new_short, new_long) if width <= height else (new_long, new_short)

    @property
    def rendition(self) -> str | None:
        """The name of this preprocessing's model-sized rendition, or None.

        A rendition is :meth:`render`'s output stored as a lossless file: the 8-bit
        ``crop_width x crop_height`` image the model's input is computed from. Two
        preprocessings that name the same rendition make the same one, so the name
        spells out everything :meth:`render` depends on (resize edge, crop, filter).
        None when resizing or cropping is off: the size then depends on the image.
        """
        if not (self.do_resize and self.do_center_crop):
            return None
        return f"s{self.shortest_edge}-c{self.crop_width}x{self.crop_height}-r{self.resample}"

    def render(self, image: Image.Image) -> Image.Image:
        """The 8-bit RGB image after the resize and the centre crop (the pixel steps)."""
        image = to_rgb(image)
        if self.do_resize:
            size = self.resized_size(*image.size)
            if size != image.size:
                image = image.resize(size, resample=Image.Resampling(self.resample))
        if self.do_center_crop:
            image = self._center_crop(image)
        return image

    def tensor(self, rendered: Image.Image) -> np.ndarray:
        """The model input of an image :meth:`render` made (the value steps).

        Returns:
            ``float32`` array shaped ``(3, height, width)`` of ``rendered``.
        """
        # Every step after the crop maps each 8-bit value of a channel to one float, so
        # the whole chain is a 256-entry table per channel, computed with the same float32
        # operations (identical results) and applied straight into the (3, H, W) layout.
        values = np.asarray(to_rgb(rendered), dtype=np.uint8)
        table = self._table
        out = np.empty((3, *values.shape[:2]), dtype=np.float32)
        for channel in range(3):
            np.take(table[channel], values[:, :, channel], out=out[channel])
        return out

    def __call__(self, image: Image.Image) -> np.ndarray:
        """Preprocess one image: :meth:`tensor` of :meth:`render`.

        Args:
            image: any PIL image; it is converted to RGB first.

        Returns:
            ``float32`` array shaped ``(3, crop_height, crop_width)``.
        """
        return self.tensor(self.render(image))

    @cached_property
    def _table(self) -> np.ndarray:
        """``float32 (3, 256)``: the model input value of each 8-bit value, per channel."""
        pixels = np.repeat(np.arange(256, dtype=np.float32)[:, None], 3, axis=1)
        if self.do_rescale:
            pixels = pixels * np.float32(self.rescale_factor)
        if self.do_normalize:
            mean = np.asarray(self.mean, dtype=np.float32)
            std = np.asarray(self.std, dtype=np.float32)
            pixels = (pixels - mean) / std
        return np.ascontiguousarray(pixels.T, dtype=np.float32)

    def _center_crop(self, image: Image.Image) -> Image.Image:
        width, height = image.size
        top = (height - self.crop_height) // 2
        left = (width - self.crop_width) // 2
        # PIL pads with black where the crop box leaves the image, like the reference.
        return image.crop((left, top, left + self.crop_width, top + self.crop_height))


def _triple(values: Any) -> tuple[float, float, float]:
    a, b, c = (float(v) for v in values)
    return (a, b, c)
