"""The U-Net case study (module 03, notebook 08): the overlap scores and losses against values worked out by
hand (empty masks included), the model's shape, the synthetic phantom's promises, and the exercise checks
rejecting the typical wrong answers with their hint."""
import math
import sys

import numpy as np
import pytest

from clusterkit.machine.environment import REPO_ROOT
from clusterkit.exercises import horovod
from conftest import fails_with

SCRIPTS = REPO_ROOT / "solutions" / "03_horovod"
sys.path.insert(0, str(SCRIPTS))
import phantom  # noqa: E402  (beside the per-rank scripts, not a package)
import segmentation  # noqa: E402


def score(function, truth, predicted, **kwargs) -> float:
    return float(function(np.array(truth, "float32"), np.array(predicted, "float32"), **kwargs))


# TP, FP, FN worked out by hand for each pair, then each score from its formula
HAND_CASES = [
    # truth, predicted, dice, jaccard, tversky(0.3, 0.7)
    ([1, 1, 0, 0], [1, 1, 0, 0], 1.0, 1.0, 1.0),                             # perfect
    ([1, 1, 0, 0], [1, 0, 1, 0], 2 / 4, 1 / 3, 1 / (1 + 0.3 + 0.7)),         # TP 1, FP 1, FN 1
    ([1, 1, 1, 0], [1, 0, 0, 0], 2 / 4, 1 / 3, 1 / (1 + 1.4)),               # TP 1, FN 2
    ([1, 0, 0, 0], [1, 1, 1, 0], 2 / 4, 1 / 3, 1 / (1 + 0.6)),               # TP 1, FP 2
    ([1, 0], [0.8, 0.4], 1.6 / 2.2, 0.8 / 1.4, 0.8 / (0.8 + 0.12 + 0.14)),   # soft: TP .8, FP .4, FN .2
    ([0, 0, 0, 0], [0, 0, 0, 0], 1.0, 1.0, 1.0),                             # nothing to find, nothing found
    ([0, 0, 0, 0], [0, 1, 0, 0], 0.0, 0.0, 0.0),                             # a false alarm on an empty slice
    ([0, 1, 0, 0], [0, 0, 0, 0], 0.0, 0.0, 0.0),                             # a tumour missed entirely
]


@pytest.mark.parametrize("truth, predicted, dice, jaccard, tversky", HAND_CASES)
def test_scores_equal_the_hand_computed_values(truth, predicted, dice, jaccard, tversky):
    assert score(segmentation.dice_coefficient, truth, predicted) == pytest.approx(dice, abs=1e-5)
    assert score(segmentation.jaccard_index, truth, predicted) == pytest.approx(jaccard, abs=1e-5)
    assert score(segmentation.tversky_index, truth, predicted) == pytest.approx(tversky, abs=1e-5)
    assert score(segmentation.dice_loss, truth, predicted) == pytest.approx(1 - dice, abs=1e-5)
    assert score(segmentation.tversky_loss, truth, predicted) == pytest.approx(1 - tversky, abs=1e-5)


def test_scores_count_the_whole_batch_not_each_image():
    truth = np.zeros((2, 4, 4, 1), "float32")
    predicted = np.zeros_like(truth)
    truth[0, 0, 0] = predicted[0, 0, 0] = 1      # image 0: one pixel found
    predicted[1, 1, 1] = 1                       # image 1: empty, one false alarm
    assert score(segmentation.dice_coefficient, truth, predicted) == pytest.approx(2 / 3, abs=1e-5)


def test_relations_between_the_scores():
    rng = np.random.default_rng(0)
    truth = (rng.random((3, 8, 8, 1)) < 0.2).astype("float32")
    predicted = rng.random((3, 8, 8, 1)).astype("float32")
    dice = score(segmentation.dice_coefficient, truth, predicted)
    assert score(segmentation.jaccard_index, truth, predicted) == pytest.approx(dice / (2 - dice), abs=1e-5)
    assert score(segmentation.tversky_index, truth, predicted, alpha=0.5, beta=0.5) == pytest.approx(dice, abs=1e-5)


def test_tversky_loss_charges_a_miss_more_than_a_false_alarm():
    truth = [1, 1, 1, 1, 0, 0, 0, 0]
    two_missed = score(segmentation.tversky_loss, truth, [1, 1, 0, 0, 0, 0, 0, 0])
    two_false_alarms = score(segmentation.tversky_loss, truth, [1, 1, 1, 1, 1, 1, 0, 0])
    assert two_missed > two_false_alarms
    assert score(segmentation.dice_loss, truth, [1, 1, 0, 0, 0, 0, 0, 0]) > 0


def test_unet_shapes_weights_and_levels():
    plain = segmentation.build_unet(channels=2)
    gated = segmentation.build_unet(channels=2, attention=True)
    assert plain.input_shape == (None, 64, 64, 2) and plain.output_shape == (None, 64, 64, 1)
    assert gated.output_shape == (None, 64, 64, 1)
    assert 100_000 < plain.count_params() < gated.count_params() < 1.1 * plain.count_params()
    assert segmentation.build_unet(channels=1).input_shape == (None, 64, 64, 1)
    with pytest.raises(ValueError, match="dropout needs 4 rates"):
        segmentation.build_unet(channels=2, dropout=(0.1, 0.1))


def test_phantom_is_seeded_and_sparse_with_empty_slices():
    images, masks = phantom.make_phantoms(60, seed=3)
    again, _ = phantom.make_phantoms(60, seed=3)
    assert images.shape == (60, 64, 64, 2) and masks.shape == (60, 64, 64, 1)
    assert np.array_equal(images, again)
    assert 0.003 < masks.mean() < 0.02                                # about 1% tumour
    has_tumour = masks.reshape(60, -1).max(axis=1) == 1
    assert 0 < np.sum(~has_tumour) < 30                              # some slices, not most, without one


def test_phantom_tumour_hides_in_ct_and_shines_in_pet():
    images, masks = phantom.make_phantoms(40, seed=1)
    tumour = masks[..., 0] == 1
    ct, pet = images[..., 0], images[..., 1]
    body_tissue = np.abs(ct - phantom.TISSUE) < 3 * phantom.CT_NOISE
    assert ct[tumour].mean() - ct[body_tissue & ~tumour].mean() < 2 * phantom.TUMOUR_CT_EXCESS
    assert pet[tumour].mean() > 3 * np.median(pet[body_tissue & ~tumour])


def test_write_dataset_summary(tmp_path):
    summary = phantom.write_dataset(tmp_path / "p.npz", n_train=20, n_val=10, seed=5)
    data = np.load(tmp_path / "p.npz")
    assert list(data["channels"]) == ["ct", "pet"]
    assert data["x_train"].shape == (20, 64, 64, 2) and data["y_val"].shape == (10, 64, 64, 1)
    assert summary["train"] == 20 and 0 < summary["foreground"] < 0.05


# ---------------------------------------------------------------- the exercise checks

def _overlaps(y_true, y_pred):
    y_true, y_pred = np.asarray(y_true, float), np.asarray(y_pred, float)
    return np.sum(y_true * y_pred), np.sum((1 - y_true) * y_pred), np.sum(y_true * (1 - y_pred))


def test_the_checks_pass_the_course_answers(capsys):
    horovod.check_dice_coefficient(segmentation.dice_coefficient)
    horovod.check_tversky_index(segmentation.tversky_index)
    horovod.check_unet_settings(lambda lr, n, b, r, w: (lr * r, n // (b * r), int(w * (n // (b * r)))))
    assert capsys.readouterr().out.count("PASS") == 3


def test_dice_check_rejects_no_smoothing_rounding_and_per_image_means():
    def unsmoothed(y_true, y_pred):
        tp, fp, fn = _overlaps(y_true, y_pred)
        with np.errstate(invalid="ignore"):
            return 2 * tp / (2 * tp + fp + fn)

    def rounded(y_true, y_pred):
        return segmentation.dice_coefficient(y_true, np.round(np.asarray(y_pred)))

    def per_image(y_true, y_pred):
        y_true, y_pred = np.asarray(y_true, float), np.asarray(y_pred, float)
        if y_true.ndim < 3:
            return segmentation.dice_coefficient(y_true, y_pred)
        return np.mean([float(segmentation.dice_coefficient(t, p)) for t, p in zip(y_true, y_pred)])

    fails_with(horovod.check_dice_coefficient, unsmoothed, hint="nan")
    fails_with(horovod.check_dice_coefficient, rounded, hint="rounded")
    fails_with(horovod.check_dice_coefficient, per_image, hint="do not average per image")
    assert math.isnan(unsmoothed([0, 0], [0, 0]))


def test_tversky_check_rejects_swapped_weights_and_dice():
    def swapped(y_true, y_pred, alpha=0.3, beta=0.7):
        return segmentation.tversky_index(y_true, y_pred, alpha=beta, beta=alpha)

    def dice_instead(y_true, y_pred, alpha=0.3, beta=0.7):
        return segmentation.dice_coefficient(y_true, y_pred)

    fails_with(horovod.check_tversky_index, swapped, hint="swapped")
    fails_with(horovod.check_tversky_index, dice_instead, hint="a missed tumour")


def test_unet_settings_check_rejects_the_typical_mistakes():
    fails_with(horovod.check_unet_settings, lambda lr, n, b, r, w: (lr / r, n // (b * r), int(w * n // (b * r))),
               hint="you divided")
    fails_with(horovod.check_unet_settings, lambda lr, n, b, r, w: (lr * r, -(-n // (b * r)), 0),
               hint="steps per epoch")
    fails_with(horovod.check_unet_settings, lambda lr, n, b, r, w: (lr * r, n // (b * r), int(w * n // b)),
               hint="warm-up steps")
