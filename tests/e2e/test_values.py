"""Numbers are right: the first conv block recomputed in plain numpy from the
model's weights and a probe, compared with what LayerFlow logged."""

import numpy as np
import pytest
from scipy import ndimage

from cnn_tb.contract import packs, tags
from cnn_tb import render
from tests.support.tb_data import LogDir


def _numpy_block1(model, image):
    """conv1 (3x3, same, stride 1) -> bn1 (inference) -> LeakyReLU(0.1), numpy only."""
    conv = model.get_layer("conv1")
    k, b = (w.numpy() for w in conv.weights)
    padded = np.pad(image, ((1, 1), (1, 1), (0, 0)))
    h, w, _ = image.shape
    patches = np.stack(
        [padded[i : i + h, j : j + w, :] for i in range(3) for j in range(3)], axis=2
    )  # [h, w, 9, c_in]
    conv_out = np.einsum("hwpc,pco->hwo", patches, k.reshape(9, k.shape[2], k.shape[3])) + b
    bn = model.get_layer("bn1")
    gamma, beta, mean, var = (bn.gamma.numpy(), bn.beta.numpy(), bn.moving_mean.numpy(), bn.moving_variance.numpy())
    bn_out = gamma * (conv_out - mean) / np.sqrt(var + bn.epsilon) + beta
    act = np.where(bn_out > 0, bn_out, 0.1 * bn_out)
    return {"conv1": conv_out, "bn1": bn_out, "act1": act}


@pytest.fixture(scope="module")
def reference(demo_run):
    model, probes = demo_run["model"], demo_run["probes"]
    per_probe = [_numpy_block1(model, img.astype(np.float64)) for img in probes.images]
    return {name: np.stack([p[name] for p in per_probe]) for name in ("conv1", "bn1", "act1")}


@pytest.fixture(scope="module")
def logdir(demo_run):
    return LogDir(demo_run["log_dir"])


LAST = 2  # the weights in memory are those after the last epoch (step 2)


@pytest.mark.parametrize("layer", ["conv1", "bn1", "act1"])
def test_layer_statistics_match_numpy(logdir, reference, layer):
    ref = reference[layer]
    for stat, want in [("mean", ref.mean()), ("std", ref.std()), ("min", ref.min()), ("max", ref.max())]:
        got = logdir.scalars(tags.RUN_NAME, f"activation_stats/{layer}/{stat}")[LAST]
        assert got == pytest.approx(want, rel=1e-3, abs=1e-4), stat
    neg = logdir.scalars(tags.RUN_NAME, f"activation_stats/{layer}/neg_frac")[LAST]
    assert neg == pytest.approx(np.mean(ref < 0), abs=1e-3)
    epoch = logdir.epochs()[LAST]["layers"][layer]
    assert epoch["mean"] == pytest.approx(ref.mean(), rel=1e-3, abs=1e-4)


def test_channel_mean_map_matches_numpy(logdir, reference):
    probe_packs = logdir.packs(LAST)
    for i, pack in enumerate(probe_packs):
        got = packs.value(pack, "act1/mean")
        want = reference["act1"][i].mean(axis=-1)
        span = want.max() - want.min()
        assert got.shape == want.shape == (32, 32)
        np.testing.assert_allclose(got, want, atol=span / 255 * 0.51 + 1e-4)


def test_feature_maps_in_pack_match_numpy(logdir, reference):
    pack = logdir.packs(LAST)[0]
    arr, entry = pack["conv1/maps"]
    got = packs.value(pack, "conv1/maps")
    pool = entry["meta"]["pool"]
    c = arr.shape[-1]
    assert entry["meta"]["full_shape"] == [32, 32, 32] and entry["meta"]["channels"] == list(range(c))
    want = reference["conv1"][0][:, :, :c].reshape(32 // pool, pool, 32 // pool, pool, c).mean(axis=(1, 3))
    assert got.shape == want.shape
    span = want.max(axis=(0, 1)) - want.min(axis=(0, 1))
    assert np.all(np.abs(got - want) <= span / 255 * 0.51 + 1e-4)


def test_upsampled_max_activation_heatmap_matches_numpy(logdir, reference, demo_run):
    probes = demo_run["probes"]
    want_max = reference["act1"][0].max(axis=-1)
    pack = logdir.packs(LAST)[0]
    got_max = packs.value(pack, "act1/max")
    np.testing.assert_allclose(got_max, want_max, atol=(want_max.max() - want_max.min()) / 255 * 0.51 + 1e-4)
    # the overlay picture: max map normalised, upsampled with scipy.ndimage.zoom, blended
    base = render.upscale_nearest(probes.uint8_images[0], 3)  # 32 -> 96 px
    heat = (want_max - want_max.min()) / (want_max.max() - want_max.min())
    up = ndimage.zoom(heat, 3, order=1, mode="nearest")
    assert up.shape == (96, 96)
    lut = render.colormap_lut("jet")
    want_pic = 0.55 * base + 0.45 * lut[np.rint(np.clip(up, 0, 1) * 255).astype(int)]
    exact = render.overlay(base, want_max)
    assert np.abs(exact - want_pic).max() <= 1.0
    titled = logdir.images(tags.RUN_NAME, "heatmaps/max_activation/act1")[LAST][0]
    bar = render.pictures.CAPTION_HEIGHT
    assert titled.shape == (bar + 96, 96, 3)
    assert titled[:bar].min() < 128 and np.median(titled[:bar]) > 230  # the caption: dark ink on white
    got_pic = titled[bar:]
    diff = np.abs(got_pic.astype(float) - want_pic)
    assert diff.mean() < 4.0  # JPEG-encoded
    # the hottest spot of the logged picture is where numpy says it is
    red = got_pic[..., 0].astype(float) - got_pic[..., 2]
    want_red = want_pic[..., 0] - want_pic[..., 2]
    assert np.corrcoef(red.ravel(), want_red.ravel())[0, 1] > 0.95


def test_gradcam_maps_are_normalised_and_where_the_model_looks(logdir):
    probe_packs = logdir.packs(LAST)
    for pack in probe_packs:
        cam = packs.value(pack, "conv4/gradcam")
        assert cam.shape == (4, 4)
        assert cam.min() >= 0 and cam.max() <= 1.0
        assert cam.max() in (0.0, 1.0)
