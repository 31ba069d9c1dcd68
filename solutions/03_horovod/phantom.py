"""A SYNTHETIC two-channel phantom of axial chest slices, for the U-Net case study (notebook 08).

No patient data: every slice is drawn from simple shapes with a fixed seed. It reproduces the situation
of the oesophageal-cancer study the notebook retells:
- CT channel: body, two lungs, spine, heart; the tumour is only slightly denser than the tissue around
  it, the slice is noisy, and look-alike blobs of the same density (vessels, lymph nodes) lie around it;
- PET channel: the tumour takes up the tracer, and so does the heart (a physiological distractor);
  blurred and noisy, as PET is;
- tumour position and size random; some slices hold no tumour; about 1% of the pixels are tumour.

    python phantom.py OUT.npz --train 1000 --val 200 --size 48   (notebook 08's data set; or phantom.write_dataset)
"""
from __future__ import annotations

import argparse

import numpy as np
from scipy.ndimage import gaussian_filter

CHANNELS = ("ct", "pet")
# CT intensities, scaled to 0..1 (air 0, bone near 1)
AIR, LUNG, TISSUE, HEART, BONE = 0.0, 0.12, 0.5, 0.56, 0.92
TUMOUR_CT_EXCESS = 0.05       # the tumour is only this much denser than tissue...
CT_NOISE = 0.05               # ...under noise of this standard deviation
PET_BACKGROUND, PET_TUMOUR, PET_NOISE, PET_BLUR = 0.08, 1.0, 0.08, 1.2
EMPTY_FRACTION = 0.2          # share of slices without a tumour


def _ellipse(size: int, centre_y: float, centre_x: float, radius_y: float, radius_x: float) -> np.ndarray:
    y, x = np.mgrid[0:size, 0:size]
    return ((y - centre_y) / radius_y) ** 2 + ((x - centre_x) / radius_x) ** 2 <= 1.0


def phantom_slice(rng: np.random.Generator, size: int = 64) -> tuple[np.ndarray, np.ndarray]:
    """One slice: image (size, size, 2) float32 with channels CT, PET; mask (size, size, 1) uint8."""
    s = size / 64.0                                    # shapes are laid out for 64 px and scale with size
    jitter = lambda spread: rng.uniform(-spread, spread) * s  # noqa: E731 (a one-line helper)
    cy, cx = size / 2 + jitter(2), size / 2 + jitter(2)
    body = _ellipse(size, cy, cx, 22 * s + jitter(2), 29 * s + jitter(2))
    lungs = (_ellipse(size, cy - 2 * s, cx - 13 * s, 12 * s + jitter(1), 8 * s + jitter(1))
             | _ellipse(size, cy - 2 * s, cx + 13 * s, 12 * s + jitter(1), 8 * s + jitter(1)))
    spine = _ellipse(size, cy + 15 * s, cx, 4 * s, 4 * s)
    heart = _ellipse(size, cy - 7 * s + jitter(1), cx - 3 * s + jitter(1), 7 * s, 8 * s + jitter(1))

    ct = np.where(body, TISSUE, AIR)
    ct[lungs & body] = LUNG
    ct[heart] = HEART
    ct[spine] = BONE
    pet = np.where(body, PET_BACKGROUND, 0.0)
    pet[heart] = rng.uniform(0.5, 0.8)                 # the heart's uptake varies from slice to slice

    mask = np.zeros((size, size), bool)
    # tumour and look-alikes come from the same place and size distributions: in CT nothing tells them apart
    def mediastinal_blob():
        radius = rng.uniform(2.0, 5.0) * s
        return _ellipse(size, cy + 8 * s + jitter(4), cx + jitter(10), radius * rng.uniform(0.8, 1.2), radius)

    if rng.random() >= EMPTY_FRACTION:
        mask = mediastinal_blob()
        ct[mask] = TISSUE + TUMOUR_CT_EXCESS
        pet[mask] = PET_TUMOUR * rng.uniform(0.8, 1.0)
    for _ in range(rng.integers(2, 4)):                # vessels, lymph nodes: tumour density, no uptake
        blob = mediastinal_blob() & body & ~mask & ~spine
        ct[blob] = TISSUE + TUMOUR_CT_EXCESS

    ct = ct + rng.normal(0.0, CT_NOISE, ct.shape)
    pet = gaussian_filter(pet, PET_BLUR * s) + rng.normal(0.0, PET_NOISE, pet.shape)
    image = np.stack([ct, pet], axis=-1).astype("float32")
    return image, mask[..., np.newaxis].astype("uint8")


def make_phantoms(count: int, size: int = 64, seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    """`count` slices: images (count, size, size, 2) float32 and masks (count, size, size, 1) uint8."""
    rng = np.random.default_rng(seed)
    slices = [phantom_slice(rng, size) for _ in range(count)]
    return np.stack([image for image, _ in slices]), np.stack([mask for _, mask in slices])


def write_dataset(path, n_train: int = 1000, n_val: int = 200, size: int = 64, seed: int = 0) -> dict:
    """Write training and validation slices (different seeds) to one .npz file; returns its summary."""
    x_train, y_train = make_phantoms(n_train, size, seed)
    x_val, y_val = make_phantoms(n_val, size, seed + 1)
    np.savez(path, x_train=x_train, y_train=y_train, x_val=x_val, y_val=y_val, channels=np.array(CHANNELS))
    masks = np.concatenate([y_train, y_val])
    return {"train": n_train, "val": n_val, "size": size,
            "foreground": float(masks.mean()),
            "without_tumour": float(np.mean(masks.reshape(len(masks), -1).max(axis=1) == 0))}


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description="Write the synthetic CT+PET phantom data set.")
    parser.add_argument("out", help="the .npz file to write")
    parser.add_argument("--train", type=int, default=1000)
    parser.add_argument("--val", type=int, default=200)
    parser.add_argument("--size", type=int, default=64)
    parser.add_argument("--seed", type=int, default=0)
    cli = parser.parse_args()
    print(write_dataset(cli.out, cli.train, cli.val, cli.size, cli.seed))
