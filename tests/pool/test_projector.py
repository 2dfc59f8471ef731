"""The Projector's files: sprite, embedding and metadata TSVs, the config, and which
epochs are kept."""

import os

import numpy as np
from google.protobuf import text_format
from tensorboard.plugins.projector import projector_config_pb2

from cnn_tb.pool import projector


def test_sprite_geometry_and_layout():
    assert projector.sprite_geometry(512, (32, 32)) == (23, (32, 32))
    assert projector.sprite_geometry(10, (300, 200)) == (4, (128, 85))  # aspect kept, 128 px at most
    assert projector.sprite_geometry(4096, (512, 512)) == (64, (128, 128))  # within 8192 px
    imgs = np.stack([np.full((2, 3, 1), 10 * i, np.uint8) for i in range(5)])
    s = projector.sprite(imgs, 3, (2, 3))
    assert s.shape == (6, 9, 3)
    assert (s[2:4, 3:6] == 40).all() and (s[4:, 3:] == 255).all()  # image 4 at row 1, column 1; blanks white


def test_tsv_text():
    assert projector.embedding_tsv(np.array([[1.0, np.nan], [0.5, 1e-9]])) == "1\t0\n0.5\t1e-09\n"
    text = projector.metadata_tsv(np.array([0, 1]), np.array([0, 0]), lambda c: ["a\tb", "c"][c])
    assert text == "index\ttrue\tpredicted\tcorrect\n0\ta b\ta b\tyes\n1\tc\ta b\tno\n"


def _config(run_dir):
    config = projector_config_pb2.ProjectorConfig()
    with open(os.path.join(run_dir, projector.CONFIG_FILE)) as f:
        text_format.Parse(f.read(), config)
    return config


def test_the_untrained_and_the_latest_epoch_are_kept(tmp_path):
    run_dir = str(tmp_path)
    files = projector.ProjectorFiles(run_dir, "pool/s1", "pool/s1/sprite.png", (8, 6))
    labels, pred = np.array([0, 1, 1]), np.array([0, 1, 0])
    rng = np.random.default_rng(0)
    for step in (-1, 0, 1, 2):
        files.write(step, {"dense": rng.random((3, 4)), "conv/x": rng.random((3, 2))}, labels, pred, str)
    config = _config(run_dir)
    names = [e.tensor_name for e in config.embeddings]
    assert names == ["dense @ epoch 3", "conv/x @ epoch 3", "dense @ untrained", "conv/x @ untrained"]
    e = config.embeddings[0]
    assert list(e.tensor_shape) == [3, 4] and list(e.sprite.single_image_dim) == [6, 8]
    assert e.sprite.image_path == "pool/s1/sprite.png"
    rows = open(os.path.join(run_dir, e.tensor_path)).read().splitlines()
    assert len(rows) == 3 and all(len(r.split("\t")) == 4 for r in rows)
    assert open(os.path.join(run_dir, e.metadata_path)).read().splitlines()[1:] == ["0\t0\t0\tyes", "1\t1\t1\tyes", "2\t1\t0\tno"]
    assert sorted(os.listdir(os.path.join(run_dir, "pool/s1/projector"))) == ["-1", "2"]
