"""Input validation for per-rank scripts: every rank runs it on the same input before any rank talks to
another, so bad input ends the whole job with one clear message instead of leaving ranks waiting.

    load_rgb_image(path)                           uint8 (height, width, 3), or InputError
    require_colours(n_colours, n_pixels)           1 <= colours <= pixels
    require_rows_per_rank(n_rows, size, at_least)  every rank gets enough rows
    require_headerless_csv(path)                   the first line is numbers, not column names
"""
from __future__ import annotations

import os
from pathlib import Path

import numpy as np

DEFAULT_IMAGE = "china.jpg"  # scikit-learn ships it, so every machine has it


class InputError(ValueError):
    """Input that a job cannot run on; the message says what is wrong and what to do."""


def load_rgb_image(path: str | os.PathLike | None = None) -> np.ndarray:
    """The image at `path` as uint8 (height, width, 3); None means scikit-learn's china.jpg."""
    if path is None:
        from clusterkit.rank.data import sample_image

        return sample_image(DEFAULT_IMAGE)
    from PIL import Image, UnidentifiedImageError

    path = Path(path)
    if not path.is_file():
        raise InputError(f"no image file at '{path}': give the path of a JPEG or PNG file "
                         f"(a relative path starts from the folder the job runs in, {Path.cwd().name}/)")
    try:
        with Image.open(path) as image:
            image.load()
            mode, pixels = image.mode, np.asarray(image)
    except (UnidentifiedImageError, OSError) as problem:
        raise InputError(f"cannot read '{path}' as an image ({problem}): is it a JPEG or PNG file?") from None
    fix = f"convert it first, e.g. PIL.Image.open(path).convert('RGB').save('{path.stem}_rgb.png')"
    if mode in ("L", "LA", "1", "I", "I;16", "F"):
        raise InputError(f"'{path}' is a grayscale image (mode {mode}), but colour quantization needs red, "
                         f"green and blue channels: {fix}")
    if mode in ("RGBA", "LA", "PA", "RGBa"):
        raise InputError(f"'{path}' has an alpha (transparency) channel (mode {mode}); the palette is "
                         f"found in RGB space only: {fix}")
    if mode != "RGB" or pixels.ndim != 3 or pixels.shape[2] != 3:
        raise InputError(f"'{path}' is a {mode} image, not RGB: {fix}")
    return pixels


def require_colours(n_colours: int, n_pixels: int) -> None:
    """The number of colours (clusters) must be a whole number from 1 to the number of pixels."""
    if isinstance(n_colours, bool) or not isinstance(n_colours, (int, np.integer)):
        raise InputError(f"the number of colours must be a whole number, not {n_colours!r}")
    if not 1 <= n_colours <= n_pixels:
        raise InputError(f"asked for {n_colours} colours, but an image of {n_pixels:,} pixels can have "
                         f"from 1 to {n_pixels:,}: choose a number in that range (16 is a good start)")


def require_rows_per_rank(n_rows: int, size: int, at_least: int = 1, what: str = "rows") -> None:
    """Every one of `size` ranks must get at least `at_least` of the `n_rows` rows.

    daal4py raises on a rank whose block is too small (empty, or fewer rows than clusters) while the
    other ranks already wait for it in the next collective: check before any rank starts.
    """
    smallest = n_rows // size
    if smallest < at_least:
        most = max(n_rows // at_least, 1)
        raise InputError(f"{size} ranks share {n_rows:,} {what}, so a rank would get only {smallest} "
                         f"but needs at least {at_least}: run on at most {most} rank(s) or use more data")


def require_headerless_csv(path: str | os.PathLike) -> None:
    """The first line of a CSV file must be numbers: daal4py reads a header row as data, silently."""
    path = Path(path)
    if not path.is_file():
        raise InputError(f"no CSV file at '{path}'")
    with open(path) as handle:
        first = handle.readline().strip()
    if not first:
        raise InputError(f"'{path}' is empty")
    fields = [field.strip() for field in first.split(",")]
    fix = ("daal4py's CSV reader would take that header for data and give wrong results without any error. "
           "Write the file without a header (pandas: df.to_csv(path, header=False, index=False)) or delete "
           "that line.")
    if fields == [str(number) for number in range(len(fields))]:
        raise InputError(f"the first line of '{path.name}' is {first[:60]!r}: pandas' default column names, "
                         f"a header row. {fix}")
    for field in fields:
        try:
            float(field)
        except ValueError:
            raise InputError(f"the first line of '{path.name}' is not numbers ({first[:60]!r}): {fix}") from None
