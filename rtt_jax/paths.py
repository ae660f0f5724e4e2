"""Files under a workdir or an output directory, local or on an object store.

Every file the project reads or writes under a workdir (metrics, tokenizer,
reports, samples, plots, run status, experiment results) goes through here,
so that ``--workdir=gs://BUCKET/run`` works like a local directory
(``docs/gcs.md``). A local path is a plain file, written exactly as before;
a URL (``gs://...``, anything with ``://``) goes through ``etils.epath``,
whose fsspec backend uses ``gcsfs`` for ``gs://`` (the ``gcs`` extra).

An object store has no append and no rename, so there:

* ``append_text`` and ``Appender`` rewrite the whole object (metrics.jsonl and
  samples.jsonl are small: one line per logged step);
* ``replace_text`` is one upload, which is already atomic (an object appears
  whole or not at all), where a local file is written to ``.tmp`` and renamed.

Text is UTF-8 everywhere; remote text goes through bytes so that the result
does not depend on the machine's locale.
"""
from __future__ import annotations

import errno
import io
import os
from typing import IO

from etils import epath

ENCODING = "utf-8"


def is_remote(path) -> bool:
    """A URL (``gs://bucket/x``) rather than a local path."""
    return "://" in os.fspath(path)


def absolute(path) -> str:
    """``os.path.abspath`` for a local path; a URL is kept (abspath would turn
    ``gs://b/x`` into ``$PWD/gs:/b/x``)."""
    path = os.fspath(path)
    return path if is_remote(path) else os.path.abspath(path)


def exists(path) -> bool:
    return epath.Path(path).exists()


def makedirs(path) -> None:
    """``mkdir -p``; on an object store directories are implicit (no-op)."""
    epath.Path(path).mkdir(parents=True, exist_ok=True)


def open_text(path, mode: str = "r") -> IO[str]:
    """A text file (``"r"`` or ``"w"``), UTF-8. Local: the built-in ``open``."""
    if mode not in ("r", "w"):
        raise ValueError(f"open_text: mode {mode!r}; use append_text/Appender to append")
    if not is_remote(path):
        return open(path, mode, encoding=ENCODING)
    f = epath.Path(path).open(mode + "b")
    return io.TextIOWrapper(f, encoding=ENCODING, newline=None if mode == "r" else "")


def read_text(path) -> str:
    with open_text(path) as f:
        return f.read()


def write_text(path, text: str) -> None:
    if is_remote(path):
        _upload(path, text.encode(ENCODING))
        return
    with open(path, "w", encoding=ENCODING) as f:
        f.write(text)


def replace_text(path, text: str) -> None:
    """Write ``text`` so that no reader ever sees half of it: locally a
    ``.tmp`` file renamed over ``path``; remotely a single upload."""
    path = os.fspath(path)
    if is_remote(path):
        write_text(path, text)
        return
    tmp = path + ".tmp"
    with open(tmp, "w", encoding=ENCODING) as f:
        f.write(text)
    os.replace(tmp, path)


def read_bytes(path) -> bytes:
    if not is_remote(path):
        with open(path, "rb") as f:
            return f.read()
    return epath.Path(path).read_bytes()


def write_bytes(path, data: bytes) -> None:
    if not is_remote(path):
        with open(path, "wb") as f:
            f.write(data)
        return
    _upload(path, data)


def _upload(path, data: bytes) -> None:
    """Write a whole object. gcsfs answers a write into a bucket that does not
    exist (or that these credentials cannot see) with a FileNotFoundError
    naming the upload URL: name the path instead."""
    try:
        epath.Path(path).write_bytes(data)
    except FileNotFoundError as e:
        raise FileNotFoundError(errno.ENOENT, "cannot write: no such bucket, or no access "
                                f"to it ({e})", os.fspath(path)) from None


def append_text(path, text: str) -> None:
    """Append ``text`` (locally ``open(path, "a")``; remotely the object is
    read and rewritten whole)."""
    if not is_remote(path):
        with open(path, "a", encoding=ENCODING) as f:
            f.write(text)
        return
    p = epath.Path(path)
    old = p.read_bytes() if p.exists() else b""
    _upload(path, old + text.encode(ENCODING))


class Appender:
    """A text file kept open for appending, flushed after every ``write``.

    Local: a plain file in ``"a"`` mode. Remote: the text is kept in memory
    (seeded with the object's current content) and the object rewritten at
    each write, so a killed run leaves every line it wrote; it is written once
    on opening too, so that a bucket that cannot be written fails here."""

    def __init__(self, path):
        self.path = os.fspath(path)
        self._remote = is_remote(self.path)
        if self._remote:
            p = epath.Path(self.path)
            self._text = p.read_bytes().decode(ENCODING) if p.exists() else ""
            self._file = None
            _upload(self.path, self._text.encode(ENCODING))
        else:
            self._file = open(self.path, "a", encoding=ENCODING)

    def write(self, text: str) -> None:
        if self._remote:
            self._text += text
            _upload(self.path, self._text.encode(ENCODING))
        else:
            self._file.write(text)
            self._file.flush()

    def close(self) -> None:
        if self._file is not None:
            self._file.close()


def save_figure(fig, path, **savefig_kwargs) -> None:
    """``fig.savefig(path)``; remotely rendered into memory, then uploaded."""
    path = os.fspath(path)
    if not is_remote(path):
        fig.savefig(path, **savefig_kwargs)
        return
    buf = io.BytesIO()
    fmt = os.path.splitext(path)[1].lstrip(".") or None
    fig.savefig(buf, format=fmt, **savefig_kwargs)
    _upload(path, buf.getvalue())
