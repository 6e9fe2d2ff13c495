"""Read a small text file the user named, without ever hanging on a pipe.

Why: `--kubeconfig` and `--config` may name a pipe (`<(vault read ...)`, a FIFO). `open()` on a
FIFO that nothing writes to blocks forever, so the console would hang before it could say what is
wrong. Regular files are read as usual; anything else is opened non-blocking and must start
producing data within `wait` seconds (and stop before `max_bytes`, so /dev/zero cannot fill the
memory either).
"""

from __future__ import annotations

import errno
import os
import select
import stat
import time

WAIT = 5.0
MAX_BYTES = 16 * 1024 * 1024


def read_text(path: str, *, wait: float = WAIT, max_bytes: int = MAX_BYTES) -> str:
    """The file's UTF-8 text.

    Raises OSError as open() does (FileNotFoundError, IsADirectoryError, PermissionError), and
    TimeoutError for a pipe that nothing writes to, EFBIG for an endless one; UnicodeDecodeError
    for text that is not UTF-8.
    """
    st = os.stat(path)
    if stat.S_ISDIR(st.st_mode):
        raise IsADirectoryError(errno.EISDIR, os.strerror(errno.EISDIR), path)
    if stat.S_ISREG(st.st_mode):
        with open(path, "rb") as f:
            return f.read().decode("utf-8")
    fd = os.open(path, os.O_RDONLY | os.O_NONBLOCK)
    chunks: list[bytes] = []
    size = 0
    try:
        deadline = time.monotonic() + wait
        while True:
            ready, _, _ = select.select([fd], [], [], max(0.0, deadline - time.monotonic()))
            if not ready:
                raise TimeoutError(errno.ETIMEDOUT, f"nothing to read within {wait:g}s (a pipe that nothing "
                                                    "writes to?)", path)
            try:
                chunk = os.read(fd, 65536)
            except BlockingIOError:
                continue
            if not chunk:
                break  # the writer is done
            size += len(chunk)
            if size > max_bytes:
                raise OSError(errno.EFBIG, f"more than {max_bytes} bytes: not a config file", path)
            chunks.append(chunk)
            deadline = time.monotonic() + wait  # data is flowing: the wait starts again
    finally:
        os.close(fd)
    return b"".join(chunks).decode("utf-8")
