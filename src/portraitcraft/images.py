"""Opening dataset images safely: lazily, downscaled, and with PIL's decompression-bomb limit left on.

The public reference code sets `Image.MAX_IMAGE_PIXELS = None`; we do not. An image above the limit is refused
with an `ImageError` that names the file, instead of exhausting memory on a malicious or corrupt file.
"""

from __future__ import annotations

import warnings
from pathlib import Path

from PIL import Image, UnidentifiedImageError


class ImageError(Exception):
    """An image that cannot be used; the message names the file."""


def image_size(path: Path) -> tuple[int, int]:
    """(width, height) read from the file header, without decoding the pixels."""
    try:
        with Image.open(path) as img:
            return img.size
    except (OSError, UnidentifiedImageError) as exc:
        raise ImageError(f"{path}: unreadable image ({exc})") from exc


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
                img = img.convert("RGB")
    except (Image.DecompressionBombError, Image.DecompressionBombWarning) as exc:
        raise ImageError(
            f"{path}: refused, larger than PIL's decompression-bomb limit of {Image.MAX_IMAGE_PIXELS:,} pixels ({exc})"
        ) from exc
    except (OSError, UnidentifiedImageError, SyntaxError) as exc:
        raise ImageError(f"{path}: unreadable image ({exc})") from exc
    if max_side is not None and max(img.size) > max_side:
        img.thumbnail((max_side, max_side), Image.Resampling.LANCZOS)
    return img
