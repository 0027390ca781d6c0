"""Opening dataset images safely: lazily, downscaled, and with PIL's decompression-bomb limit left on.

The public reference code sets `Image.MAX_IMAGE_PIXELS = None`; we do not. An image above the limit is refused
with an `ImageError` that names the file, instead of exhausting memory on a malicious or corrupt file.
"""

from __future__ import annotations

import os
import warnings
from pathlib import Path

from PIL import Image, UnidentifiedImageError

from portraitcraft.exceptions import PortraitCraftError


class ImageError(PortraitCraftError):
    """An image that cannot be used; the message names the file."""


def image_size(path: Path) -> tuple[int, int]:
    """(width, height) read from the file header, without decoding the pixels; the same pixel limit as
    `open_image` (an image `open_image` would refuse for its size is refused here too)."""
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("error", Image.DecompressionBombWarning)
            with Image.open(path) as img:
                return img.size
    except (Image.DecompressionBombError, Image.DecompressionBombWarning) as exc:
        raise ImageError(_too_large(path, exc)) from exc
    except (OSError, UnidentifiedImageError, SyntaxError, ValueError) as exc:
        raise ImageError(f"{path}: unreadable image ({exc})") from exc


def check_image(path: Path) -> tuple[int, int]:
    """`image_size`, plus a check that a JPEG or PNG file is complete (it ends with its end marker), without
    decoding the pixels: a file cut short in a copy or a download is caught here rather than when predicting."""
    size = image_size(path)
    try:
        with open(path, "rb") as handle:
            head = handle.read(8)
            length = handle.seek(0, os.SEEK_END)
            window = min(1 << 16, max(length // 2, 2))
            handle.seek(length - window)
            tail = handle.read(window)
    except OSError as exc:
        raise ImageError(f"{path}: unreadable image ({exc.strerror})") from exc
    # The end marker may be followed by padding or appended data, never missing. In a JPEG, 0xFFD9 appears
    # only as the end marker (entropy-coded bytes stuff 0xFF with 0x00); the window skips an EXIF thumbnail's.
    if head.startswith(b"\xff\xd8") and b"\xff\xd9" not in tail:
        raise ImageError(f"{path}: truncated JPEG (no end-of-image marker)")
    if head.startswith(b"\x89PNG\r\n\x1a\n") and b"IEND" not in tail:
        raise ImageError(f"{path}: truncated PNG (no IEND chunk)")
    return size


def _too_large(path: Path, exc: Exception) -> str:
    return (f"{path}: refused, larger than the decompression-bomb limit of {Image.MAX_IMAGE_PIXELS:,} pixels "
            f"({exc}); for a camera file you trust, raise the limit (assess --max-megapixels N)")


def allow_megapixels(megapixels: float) -> None:
    """Raise (or lower) the pixel limit of `open_image` and `image_size` for this process: a 100-megapixel camera
    file is over PIL's default of about 89 million pixels. JPEGs are still decoded at a reduced scale."""
    if not megapixels > 0:
        raise ValueError(f"--max-megapixels {megapixels}: must be positive")
    Image.MAX_IMAGE_PIXELS = int(megapixels * 1_000_000)


def _to_rgb(img: Image.Image) -> Image.Image:
    # 16- and 32-bit greyscale (scientific or scanned PNG and TIFF files): PIL's conversion clips every value above
    # 255 to white, so the values are scaled to 8 bits first.
    if img.mode == "I" or img.mode.startswith("I;16"):
        img = img.convert("I").point(lambda v: v / 256).convert("L")
    return img.convert("RGB")


def open_image(path: Path, max_side: int | None = 1024) -> Image.Image:
    """Decode `path` as RGB, downscaled so that its longer side is at most `max_side` (None keeps full size).

    Raises `ImageError` naming the file when it is missing, unreadable, truncated or over PIL's pixel limit.
    """
    path = Path(path)
    if not path.is_file():
        raise ImageError(f"{path}: image file not found")
    try:
        with warnings.catch_warnings():
            # PIL only warns between 1x and 2x the limit; a dataset image that large is refused outright.
            warnings.simplefilter("error", Image.DecompressionBombWarning)
            with Image.open(path) as img:
                if max_side is not None and max(img.size) > max_side:
                    # JPEG draft mode decodes at 1/2, 1/4 or 1/8 scale directly: far faster on 6k-pixel photos.
                    img.draft("RGB", (max_side, max_side))
                img = _to_rgb(img)
    except (Image.DecompressionBombError, Image.DecompressionBombWarning) as exc:
        raise ImageError(_too_large(path, exc)) from exc
    except (OSError, UnidentifiedImageError, SyntaxError, ValueError) as exc:
        raise ImageError(f"{path}: unreadable image ({exc})") from exc
    if max_side is not None and max(img.size) > max_side:
        img.thumbnail((max_side, max_side), Image.Resampling.LANCZOS)
    return img


def resize_like_reference(img: Image.Image, max_side: int = 2048) -> Image.Image:
    """The benchmark's reference inference resize: an image whose longer side exceeds ``max_side`` is scaled to it,
    each side truncated to an integer, with bilinear filtering; a smaller image is returned as it is.

    ``resize_keep_aspect`` in the reference's ``qwen-vl-finetune/evaluation/evaluation_multi.py`` (lines 33-47).
    """
    width, height = img.size
    if max(width, height) <= max_side:
        return img
    scale = max_side / max(width, height)
    return img.resize((int(width * scale), int(height * scale)), Image.BILINEAR)
