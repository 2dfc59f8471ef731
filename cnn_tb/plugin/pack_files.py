"""Reading the pack files of format-2 runs (see :mod:`cnn_tb.contract.tags`).

The index records come through the data provider like every other record; the
packs themselves are read from the run's directory under TensorBoard's
``--logdir`` (or ``--logdir_spec``), one byte range per request, so they never
enter TensorBoard's memory.
"""

import posixpath

from tensorboard import errors

from cnn_tb import _fs

PNG_MAGIC = b"\x89PNG\r\n\x1a\n"  # the first bytes of every PNG file (the images kept in these files)


def _spec_dirs(logdir_spec):
    """``{name: directory}`` of a ``--logdir_spec`` (``name:dir,name2:dir2``)."""
    out = {}
    for part in (logdir_spec or "").split(","):
        name, sep, path = part.partition(":")
        if sep and name and path and not path.startswith("//"):
            out[name] = path
    return out


class PackFiles:
    """Finds and reads pack files under the directories TensorBoard serves.

    Args:
        logdir: TensorBoard's ``--logdir`` ("" when it was not given).
        logdir_spec: TensorBoard's ``--logdir_spec`` ("" when not given).
    """

    def __init__(self, logdir="", logdir_spec=""):
        self.logdir = logdir or ""
        self.spec = _spec_dirs(logdir_spec)

    def run_dir(self, run):
        """The directory of ``run``, or None when it cannot be known."""
        run = run.strip("/")
        if self.logdir:
            return _fs.join(self.logdir, *run.split("/")) if run not in ("", ".") else self.logdir
        name, _, rest = run.partition("/")
        base = self.spec.get(name)
        if base is None:
            return None
        return _fs.join(base, *rest.split("/")) if rest else base

    def read(self, run, path, span):
        """The bytes at ``span`` (``[offset, length]``) of pack file ``path`` of ``run``.

        ``path`` is the index's relative path (already checked to stay inside
        the run by :func:`cnn_tb.contract.records.parse_pack_index`).

        Raises:
            tensorboard.errors.NotFoundError: no such file, or it is shorter.
        """
        base = self.run_dir(run)
        if base is None:
            raise errors.NotFoundError(f"run {run!r} is not under a log directory this TensorBoard reads")
        if posixpath.normpath(path) != path or path.startswith(("/", "..")):
            raise errors.NotFoundError(f"pack file path {path!r} of run {run!r} leaves the run")
        offset, length = span
        try:
            data = _fs.read_range(_fs.join(base, *path.split("/")), offset, length)
        except (OSError, ValueError) as e:
            raise errors.NotFoundError(f"pack file {path!r} of run {run!r} cannot be read ({type(e).__name__})") from e
        except Exception as e:  # noqa: BLE001 - TensorFlow's file systems raise their own errors
            if type(e).__name__ in ("NotFoundError", "PermissionDeniedError", "OpError"):
                raise errors.NotFoundError(f"pack file {path!r} of run {run!r} cannot be read") from e
            raise
        if len(data) != length:
            raise errors.NotFoundError(f"pack file {path!r} of run {run!r} is truncated")
        return data
