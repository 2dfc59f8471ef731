"""Files through TensorBoard's ``gfile``: TensorFlow's file systems (``gs://`` and
friends) when TensorFlow is installed, else TensorBoard's own (local paths, and
``s3://`` with boto3)."""

import os


def gfile():
    from tensorboard.compat import tf

    return tf.io.gfile


def is_remote(path):
    return "://" in path


def join(*parts):
    """``os.path.join`` for local paths, ``/`` for remote ones."""
    if is_remote(parts[0]):
        return "/".join([parts[0].rstrip("/")] + [p.strip("/") for p in parts[1:]])
    return os.path.join(*parts)


def makedirs(path):
    if is_remote(path):
        gfile().makedirs(path)
    else:
        os.makedirs(path, exist_ok=True)


def open_new(path):
    """A new binary file at ``path``, open for writing (``write``, ``flush``, ``close``)."""
    if not is_remote(path):
        return open(path, "xb", buffering=0)
    return gfile().GFile(path, "wb")


def write_new(path, data):
    """Write ``data`` to a new file at ``path``; readers never see a partial file
    where the file system can rename (local paths, TensorFlow's file systems)."""
    if not is_remote(path):
        tmp = f"{path}.tmp{os.getpid()}"
        with open(tmp, "wb") as f:
            f.write(data)
        os.replace(tmp, path)
        return
    g = gfile()
    if hasattr(g, "rename"):
        tmp = path + ".tmp"
        with g.GFile(tmp, "wb") as f:
            f.write(data)
        g.rename(tmp, path, overwrite=True)
    else:
        with g.GFile(path, "wb") as f:
            f.write(data)


def read_range(path, offset, length):
    """``length`` bytes of the file at ``path`` from ``offset`` (fewer at its end)."""
    if not is_remote(path):
        with open(path, "rb") as f:
            f.seek(offset)
            return f.read(length)
    with gfile().GFile(path, "rb") as f:
        f.seek(offset)
        return f.read(length)
