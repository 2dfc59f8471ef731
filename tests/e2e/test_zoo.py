"""The keras.applications zoo: LayerFlow for 2 epochs on generated data, the
plugin's routes answer for every layer, and the built-in dashboards stay usable.

Every constructor builds offline with ``weights=None`` at the input size below
(the smallest of 32, 75 that builds; see shared/MODEL_ZOO.md). CI runs the
deepest and the nested families (``CI_ZOO``: ResNet50, DenseNet121, ConvNeXtTiny; each costs about a
minute on 2 cores); ``CNN_TB_ZOO=MobileNetV2,EfficientNetB0`` runs named ones, ``CNN_TB_ZOO=all`` runs
every constructor (``benchmarks/zoo.py`` measures them all).
"""

import os

import keras
import numpy as np
import pytest

import cnn_tb
from cnn_tb.contract import packs, tags
from tests.support.plugin_client import make_client
from tests.support.tb_data import LogDir
from tests.support.zoo import RESCALING, ZOO

CI_ZOO = ("ResNet50", "DenseNet121", "ConvNeXtTiny")
CLASSES = 4


def _selected():
    which = os.environ.get("CNN_TB_ZOO", "")
    if which == "all":
        return sorted(ZOO)
    return [n for n in (CI_ZOO if not which else sorted(ZOO)) if not which or n in which.split(",")]


def test_the_zoo_table_lists_every_constructor():
    assert sorted(ZOO) == sorted(n for n in dir(keras.applications) if n[0].isupper())


@pytest.fixture(scope="module", params=_selected())
def zoo_run(request, tmp_path_factory):
    name = request.param
    size = ZOO[name]
    keras.utils.set_random_seed(0)
    model = getattr(keras.applications, name)(weights=None, input_shape=(size, size, 3), classes=CLASSES)
    model.compile(optimizer="sgd", loss="sparse_categorical_crossentropy")
    rng = np.random.default_rng(0)
    x = rng.random((8, size, size, 3), dtype=np.float32)
    y = np.arange(8) % CLASSES
    preprocess = (lambda imgs: imgs * 255.0) if name.startswith(RESCALING) else None
    probes = cnn_tb.Probes(x[:2], labels=y[:2], class_names=[f"c{i}" for i in range(CLASSES)], preprocess=preprocess)
    log_dir = str(tmp_path_factory.mktemp(name))
    flow = cnn_tb.LayerFlow(log_dir, probes)
    model.fit(preprocess(x) if preprocess else x, y, epochs=2, batch_size=4, verbose=0, callbacks=[flow])
    return {"name": name, "model": model, "log_dir": log_dir, "logger": flow.logger}


def test_every_epoch_is_logged_with_a_pack_per_probe(zoo_run):
    log = LogDir(zoo_run["log_dir"])
    assert sorted(log.epochs()) == [-1, 0, 1]
    logged = zoo_run["logger"].ctx.selected
    for pack in log.packs(1):
        stored = {packs.split_array_name(n)[0] for n in pack}
        assert stored == {i.name for i in logged}  # every logged layer reaches the plugin
        assert sum(a.nbytes for a, _ in pack.values()) <= 64 * 1024  # the flow budget
    stats = log.epochs()[1]["layers"]
    assert set(stats) == {i.name for i in logged}


def test_built_in_dashboards_stay_usable(zoo_run):
    log = LogDir(zoo_run["log_dir"])
    logged = zoo_run["logger"].ctx.selected
    images = log.tags("images", "blobs").get(tags.RUN_NAME, {})
    scalars = log.tags("scalars", "scalars").get(tags.RUN_NAME, {})
    if len(logged) > 24:
        assert len(zoo_run["logger"].ctx.dashboard_names) <= 16
        assert len(images) <= 80 and len(scalars) <= 160, (len(images), len(scalars))
    output = logged[-1].name
    assert f"activation_stats/{output}/mean" in scalars


def test_plugin_routes_answer_for_the_run(zoo_run):
    client = make_client(zoo_run["log_dir"])
    P = "/data/plugin/cnn_tb"
    info = client.get(f"{P}/run?run=cnn_tb").get_json()
    names = {layer["name"] for layer in info["layers"]}
    assert {i.name for i in zoo_run["logger"].ctx.selected} <= names
    assert info["output_layer"] == zoo_run["model"].layers[-1].name
    r = client.get(f"{P}/activations?run=cnn_tb&probe=1&step=1")
    assert r.status_code == 200 and packs.decode_raw(r.data)
    assert client.get(f"{P}/kernels?run=cnn_tb&step=1").status_code == 200
    assert client.get(f"{P}/epochs?run=cnn_tb").get_json()["steps"] == [-1, 0, 1]
