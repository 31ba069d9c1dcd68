# EXERCISE SCRIPT: yours to edit where it says TODO. Its solution: solutions/03_horovod/segmentation.py (`%solution` loads it). Made from it by `make exercises`; sha256:17c2ad5524c2ce97
"""Overlap scores and losses for segmentation masks, and the U-Net of the case study (notebook 08).

Keras 2.15 has none of these scores, so the course writes them. They take a true mask and a predicted
one (probabilities or 0/1) of the same shape and score the whole batch at once: every pixel of every
image counts, as in a data set's Dice. No MPI in here: the notebook imports this module too.
"""
from __future__ import annotations

import tensorflow as tf

layers = tf.keras.layers

# Empty masks: with nothing to find and nothing found, a score divides 0 by 0. This tiny term makes that
# case 1.0 (a perfect answer) and leaves every other case as good as unchanged.
SMOOTH = 1e-6


def _overlaps(y_true, y_pred):
    """True positives, false positives and false negatives, summed over the batch (soft for probabilities)."""
    y_true = tf.cast(y_true, tf.float32)
    y_pred = tf.cast(y_pred, tf.float32)
    true_positive = tf.reduce_sum(y_true * y_pred)
    false_positive = tf.reduce_sum((1.0 - y_true) * y_pred)
    false_negative = tf.reduce_sum(y_true * (1.0 - y_pred))
    return true_positive, false_positive, false_negative


def dice_coefficient(y_true, y_pred):
    """Dice = 2|T and P| / (|T| + |P|): 1.0 for a perfect mask (and for two empty ones), 0.0 for no overlap."""
    # TODO: Dice from the overlaps; two empty masks score 1.0 (use SMOOTH), one empty mask 0.0
    raise NotImplementedError("TODO: Dice from the overlaps; two empty masks score 1.0 (use SMOOTH), one empty mask 0.0")


def jaccard_index(y_true, y_pred):
    """Jaccard (intersection over union) = |T and P| / |T or P|; always <= Dice, J = D / (2 - D)."""
    true_positive, false_positive, false_negative = _overlaps(y_true, y_pred)
    return (true_positive + SMOOTH) / (true_positive + false_positive + false_negative + SMOOTH)


def tversky_index(y_true, y_pred, alpha: float = 0.3, beta: float = 0.7):
    """Tversky index TP / (TP + alpha FP + beta FN) (Salehi et al. 2017, arXiv:1706.05721). alpha = beta
    = 0.5 is Dice; beta > alpha charges a missed tumour pixel more than a false alarm."""
    # TODO: the Tversky index from the overlaps, weighting false positives by alpha, false negatives by beta
    raise NotImplementedError("TODO: the Tversky index from the overlaps, weighting false positives by alpha, false negatives by beta")


def dice_loss(y_true, y_pred):
    return 1.0 - dice_coefficient(y_true, y_pred)


def tversky_loss(y_true, y_pred, alpha: float = 0.3, beta: float = 0.7):
    return 1.0 - tversky_index(y_true, y_pred, alpha, beta)


LOSSES = {"dice": dice_loss, "tversky": tversky_loss}


def _conv_block(x, filters: int, dropout: float):
    """Two 3x3 convolutions, each with batch norm and ReLU, then this level's dropout."""
    for _ in range(2):
        x = layers.Conv2D(filters, 3, padding="same", use_bias=False)(x)
        x = layers.BatchNormalization()(x)
        x = layers.Activation("relu")(x)
    return layers.SpatialDropout2D(dropout)(x) if dropout > 0 else x


def _attention_gate(skip, gate, filters: int):
    """Additive attention gate (Oktay et al. 2018, arXiv:1804.03999): the coarser decoder signal `gate`
    says where to look, and each pixel of the encoder's `skip` is scaled by a weight in 0..1."""
    inter = max(filters // 2, 1)
    from_skip = layers.Conv2D(inter, 1)(skip)
    from_gate = layers.Conv2D(inter, 1)(layers.UpSampling2D()(gate))
    weights = layers.Conv2D(1, 1, activation="sigmoid")(layers.Activation("relu")(from_skip + from_gate))
    return skip * weights


def build_unet(channels: int, size: int = 64, filters=(8, 16, 32), bottom: int = 64,
               dropout=(0.0, 0.1, 0.1, 0.2), attention: bool = False, seed: int = 0) -> tf.keras.Model:
    """A U-Net (Ronneberger et al. 2015): len(filters) levels down, `bottom` filters at the bottom, the
    same levels up, each joined to its encoder twin by a skip connection. `dropout` gives one rate per
    level, the bottom's last. Output: one probability per pixel that it is tumour."""
    if len(dropout) != len(filters) + 1:
        raise ValueError(f"dropout needs {len(filters) + 1} rates (one per level and the bottom), got {len(dropout)}")
    tf.keras.utils.set_random_seed(seed)
    inputs = layers.Input((size, size, channels))
    x, skips = inputs, []
    for level_filters, rate in zip(filters, dropout):
        x = _conv_block(x, level_filters, rate)
        skips.append(x)
        x = layers.MaxPooling2D()(x)
    x = _conv_block(x, bottom, dropout[-1])
    for level_filters, rate, skip in zip(filters[::-1], dropout[-2::-1], skips[::-1]):
        if attention:
            skip = _attention_gate(skip, x, level_filters)
        x = layers.Conv2DTranspose(level_filters, 2, strides=2)(x)
        x = _conv_block(layers.Concatenate()([x, skip]), level_filters, rate)
    outputs = layers.Conv2D(1, 1, activation="sigmoid")(x)
    return tf.keras.Model(inputs, outputs, name="attention_unet" if attention else "unet")
