"""Files for TensorBoard's built-in Projector ("Projector" in the dashboard menu).

The Projector plugin (``tensorboard/plugins/projector``) reads
``<run>/projector_config.pbtxt`` (a text ``ProjectorConfig``) of every run it
finds, and for each embedding its ``tensor_path`` (a TSV file: one row of
tab-separated floats per point; no checkpoint needed), its ``metadata_path``
(a TSV file with a header row) and its ``sprite`` (one PNG holding every
point's thumbnail in a grid, ``single_image_dim = [width, height]``). Paths
are relative to the config's directory and must stay inside it.

cnn_tb writes, under ``<run>/pool/<session>/``:

* ``sprite.png``: the pool images, once per writing session (the plugin's
  pool view cuts its thumbnails and dataset-example crops from it too);
* ``projector/<step>/<k>.tsv``: the embedding of the ``k``-th embedding layer
  at ``step``, and ``projector/<step>/metadata.tsv`` (``index``, ``true``,
  ``predicted``, ``correct``), for the untrained model (step -1, when logged)
  and the latest pool epoch: files of older epochs are removed when a newer
  one is written, so a run keeps two sets at most;

and rewrites the config to list them (tensor names ``"<layer> @ <epoch>"``).

The Projector reads its config when it (re)discovers runs: a TensorBoard that
was running when an epoch was written shows it after a restart.
"""

import math
import shutil

import numpy as np

from cnn_tb import _fs

CONFIG_FILE = "projector_config.pbtxt"
MAX_SPRITE = 8192  # the Projector's limit on each side of the sprite
MAX_THUMB = 128  # thumbnail side limit (pixels)


def sprite_geometry(n, image_hw):
    """``(columns, (thumb_h, thumb_w))`` of a sprite of ``n`` images of ``image_hw``:
    a square grid of ``ceil(sqrt(n))`` columns, thumbnails of the image's aspect
    with the longer side at most ``MAX_THUMB`` (and the sprite within ``MAX_SPRITE``)."""
    cols = max(1, math.ceil(math.sqrt(n)))
    h, w = image_hw
    side = min(max(h, w), MAX_THUMB, MAX_SPRITE // cols)
    scale = side / max(h, w)
    return cols, (max(1, round(h * scale)), max(1, round(w * scale)))


def sprite(images, cols, thumb_hw):
    """The sprite: uint8 RGB ``[cols * th, cols * tw, 3]``, image ``i`` at row
    ``i // cols``, column ``i % cols``, white where no image is."""
    from PIL import Image

    th, tw = thumb_hw
    out = np.full((cols * th, cols * tw, 3), 255, np.uint8)
    for i, img in enumerate(images):
        if img.shape[-1] == 1:
            img = np.repeat(img, 3, axis=-1)
        elif img.shape[-1] != 3:
            img = np.repeat(img[..., :1], 3, axis=-1) if img.shape[-1] < 3 else img[..., :3]
        if img.shape[:2] != (th, tw):
            img = np.asarray(Image.fromarray(img).resize((tw, th), Image.BILINEAR))
        r, c = divmod(i, cols)
        out[r * th : (r + 1) * th, c * tw : (c + 1) * tw] = img
    return out


def _tsv_cell(text):
    return str(text).replace("\t", " ").replace("\n", " ").replace("\r", " ")


def embedding_tsv(x):
    """The TSV text of a ``[N, D]`` float array (``%.6g``; non-finite values as 0)."""
    x = np.where(np.isfinite(x), x, 0.0)
    return "".join("\t".join(f"{v:.6g}" for v in row) + "\n" for row in x.tolist())


def metadata_tsv(labels, pred, class_name):
    """The metadata TSV: a header row, then per point its index, true class,
    predicted class and whether the prediction is correct."""
    rows = ["index\ttrue\tpredicted\tcorrect"]
    for i, (t, p) in enumerate(zip(labels.tolist(), pred.tolist())):
        rows.append(f"{i}\t{_tsv_cell(class_name(t))}\t{_tsv_cell(class_name(p))}\t{'yes' if t == p else 'no'}")
    return "\n".join(rows) + "\n"


def step_name(step):
    """``"untrained"`` or ``"epoch <step + 1>"``, as the plugin labels steps."""
    return "untrained" if step < 0 else f"epoch {step + 1}"


class ProjectorFiles:
    """Writes one session's Projector files and the run's config.

    Args:
        run_dir: the run directory (``<log_dir>/cnn_tb``).
        folder: the session's pool folder, relative to ``run_dir``.
        sprite_file: the sprite, relative to ``run_dir``.
        thumb_hw: ``(h, w)`` of a sprite thumbnail.
    """

    def __init__(self, run_dir, folder, sprite_file, thumb_hw):
        self.run_dir, self.folder = run_dir, folder
        self.sprite_file, self.thumb_hw = sprite_file, thumb_hw
        self.kept = []  # [(step, [(tensor name, tensor path, metadata path, shape)])]

    def write(self, step, embeddings, labels, pred, class_name):
        """Write the embeddings ``{layer: [N, D]}`` of ``step`` and the config.

        Returns:
            the number of bytes written.
        """
        folder = f"{self.folder}/projector/{step}"
        written = 0
        meta = f"{folder}/metadata.tsv"
        data = metadata_tsv(labels, pred, class_name).encode()
        _fs.makedirs(_fs.join(self.run_dir, *folder.split("/")))
        _fs.write_new(_fs.join(self.run_dir, *meta.split("/")), data)
        written += len(data)
        entries = []
        for k, (layer, x) in enumerate(embeddings.items()):
            path = f"{folder}/{k}.tsv"
            data = embedding_tsv(x).encode()
            _fs.write_new(_fs.join(self.run_dir, *path.split("/")), data)
            written += len(data)
            entries.append((f"{layer} @ {step_name(step)}", path, meta, x.shape))
        dropped = [s for s, _ in self.kept if s >= 0 and s != step]
        self.kept = [(s, e) for s, e in self.kept if s < 0 and s != step] + [(step, entries)]
        written += self._write_config()
        for s in dropped:
            self._remove(f"{self.folder}/projector/{s}")
        return written

    def _write_config(self):
        from google.protobuf import text_format
        from tensorboard.plugins.projector import projector_config_pb2

        config = projector_config_pb2.ProjectorConfig()
        for step, entries in sorted(self.kept, key=lambda kv: -kv[0]):
            for name, path, meta, shape in entries:
                e = config.embeddings.add()
                e.tensor_name, e.tensor_path, e.metadata_path = name, path, meta
                e.tensor_shape.extend([int(d) for d in shape])
                e.sprite.image_path = self.sprite_file
                e.sprite.single_image_dim.extend([int(self.thumb_hw[1]), int(self.thumb_hw[0])])
        data = text_format.MessageToString(config).encode()
        _fs.write_new(_fs.join(self.run_dir, CONFIG_FILE), data)
        return len(data)

    def _remove(self, folder):
        path = _fs.join(self.run_dir, *folder.split("/"))
        try:
            if _fs.is_remote(path):
                _fs.gfile().rmtree(path)
            else:
                shutil.rmtree(path)
        except Exception:  # noqa: BLE001 - an old file left behind is harmless
            pass

