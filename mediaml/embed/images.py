"""Turning what a caller hands us (file paths, PIL images, numpy arrays) into RGB images.

Every embedder starts from an 8-bit RGB :class:`PIL.Image.Image`. The conversions follow
CLIP's reference preprocessing (``transformers``' ``convert_to_rgb``): an image with
transparency is composited onto white, grey-scale is repeated over the three channels.
16-bit images (PNG ``I;16`` and friends, ``uint16`` arrays) are scaled to 8 bits rather
than clipped, so a 16-bit frame looks like its 8-bit version instead of blown-out white.
"""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np
from PIL import Image, UnidentifiedImageError

from mediaml.errors import MediaError

ImageLike = str | os.PathLike[str] | Image.Image | np.ndarray

_SIXTEEN_BIT_MODES = ("I;16", "I;16L", "I;16B", "I;16N")


def load_image(item: ImageLike, min_edge: int | None = None) -> Image.Image:
    """Load ``item`` as an 8-bit RGB image, fully decoded.

    Args:
        item: a path to an image file, a PIL image of any mode, or an array shaped
            ``(H, W)``, ``(H, W, 1)``, ``(H, W, 3)`` or ``(H, W, 4)`` of ``uint8``,
            ``uint16`` or floats in ``[0, 1]``.
        min_edge: the shortest edge the caller needs. A JPEG file whose shortest edge
            is at least twice that is decoded at 1/2, 1/4 or 1/8 size by the decoder
            itself (libjpeg's DCT scaling, :meth:`PIL.Image.Image.draft`), never below
            ``min_edge``: several times less work than decoding every pixel and
            resizing them away. None decodes at full size.

    Returns:
        A decoded ``RGB`` image.

    Raises:
        MediaError: the file is missing, unreadable, truncated or not an image, or the
            array has a shape or dtype that is not an image.
    """
    if isinstance(item, Image.Image):
        return to_rgb(item)
    if isinstance(item, np.ndarray):
        return to_rgb(_from_array(item))
    if isinstance(item, (str, os.PathLike)):
        return to_rgb(_open(Path(item), min_edge))
    raise MediaError(
        f"cannot embed a {type(item).__name__}: pass a file path, a PIL image or a numpy array"
    )


def _open(path: Path, min_edge: int | None = None) -> Image.Image:
    try:
        image = Image.open(path)
        if min_edge is not None and image.format == "JPEG":
            width, height = image.size
            short = min(width, height)
            if short >= 2 * min_edge:
                # draft() picks the largest reduction that keeps the image at least
                # this size; asking for the scaled size keeps the short edge >= min_edge.
                image.draft("RGB", (width * min_edge // short, height * min_edge // short))
        # Decode now, inside the try: a truncated file fails here, not in a worker later.
        # PIL closes the file itself once a single-frame image is loaded.
        image.load()
        return image
    except FileNotFoundError:
        raise MediaError(f"image file not found: {path}") from None
    except IsADirectoryError:
        raise MediaError(f"{path} is a directory, not an image file") from None
    except UnidentifiedImageError:
        raise MediaError(
            f"{path} is not an image file that can be read (corrupt or unknown format)"
        ) from None
    except Image.DecompressionBombError as exc:
        raise MediaError(f"{path} is too large to decode safely: {exc}") from None
    except (OSError, SyntaxError, ValueError) as exc:
        # PIL reports truncated or damaged data as OSError, SyntaxError or ValueError.
        raise MediaError(f"{path} is corrupt or truncated and cannot be decoded: {exc}") from None


def _from_array(array: np.ndarray) -> Image.Image:
    if array.ndim == 3 and array.shape[2] == 1:
        array = array[:, :, 0]
    if array.ndim not in (2, 3) or (array.ndim == 3 and array.shape[2] not in (3, 4)):
        raise MediaError(
            f"an image array must be shaped (H, W), (H, W, 3) or (H, W, 4); got {array.shape}"
        )
    if array.shape[0] == 0 or array.shape[1] == 0:
        raise MediaError(f"an image array must not be empty; got shape {array.shape}")
    if array.dtype == np.uint8:
        pixels = array
    elif array.dtype == np.uint16:
        pixels = _sixteen_to_eight(array)
    elif np.issubdtype(array.dtype, np.floating):
        if not np.isfinite(array).all():
            raise MediaError("an image array contains NaN or infinite values")
        pixels = np.round(np.clip(array, 0.0, 1.0) * 255.0).astype(np.uint8)
    else:
        raise MediaError(
            f"image arrays must be uint8, uint16 or float in [0, 1]; got {array.dtype}"
        )
    return Image.fromarray(np.ascontiguousarray(pixels))


def _sixteen_to_eight(values: np.ndarray) -> np.ndarray:
    # 65535 -> 255 with rounding; the same mapping as scaling by 255/65535.
    return ((values.astype(np.uint32) * 255 + 32767) // 65535).astype(np.uint8)


def to_rgb(image: Image.Image) -> Image.Image:
    """``image`` as 8-bit RGB, the way CLIP's reference preprocessing converts it.

    Transparent pixels are composited onto white; 16-bit and 32-bit grey-scale are
    scaled to 8 bits; every other mode goes through PIL's conversion.
    """
    if image.mode == "RGB":
        return image
    if image.mode in _SIXTEEN_BIT_MODES or image.mode == "I":
        values = np.asarray(image, dtype=np.int64)
        # Mode "I" holds 16-bit PNGs on some Pillow versions; values above 255 say so.
        if image.mode != "I" or values.max(initial=0) > 255:
            values = _sixteen_to_eight(np.clip(values, 0, 65535).astype(np.uint16))
        image = Image.fromarray(np.clip(values, 0, 255).astype(np.uint8))
    elif image.mode == "F":
        values = np.asarray(image, dtype=np.float64)
        scale = 255.0 if values.max(initial=0.0) <= 1.0 else 1.0
        image = Image.fromarray(np.round(np.clip(values * scale, 0, 255)).astype(np.uint8))
    rgba = image.convert("RGBA")
    background = Image.new("RGBA", rgba.size, (255, 255, 255, 255))
    return Image.alpha_composite(background, rgba).convert("RGB")
