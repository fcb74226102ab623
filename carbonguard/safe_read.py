"""Read a user-named input file without hanging on a FIFO or reading `/dev/zero` forever.

Why one helper: every file a user names (policy, key, checkpoint, cache entry) is hostile input. A
plain `open()` of a FIFO blocks until a writer appears, and `read()` of a character device never
ends. So: open with `O_NONBLOCK` (a FIFO opens at once), accept only a regular file after `fstat`
(or stdin when `-` is given and the caller allows it), and stop reading one byte past the limit.
"""

from __future__ import annotations

import os
import stat
import sys

from carbonguard.errors import InputError, Problem

STDIN = "-"
_CHUNK = 65_536


def _kind(mode: int) -> str:
    if stat.S_ISDIR(mode):
        return "a directory"
    if stat.S_ISFIFO(mode):
        return "a FIFO (named pipe)"
    if stat.S_ISCHR(mode):
        return "a character device"
    if stat.S_ISBLK(mode):
        return "a block device"
    if stat.S_ISSOCK(mode):
        return "a socket"
    return "not a regular file"


def _read_limited(fd: int, max_bytes: int, source: str, what: str) -> bytes:
    chunks: list[bytes] = []
    total = 0
    while True:
        chunk = os.read(fd, min(_CHUNK, max_bytes + 1 - total))
        if not chunk:
            return b"".join(chunks)
        chunks.append(chunk)
        total += len(chunk)
        if total > max_bytes:
            raise InputError(Problem(f"{what} is larger than {max_bytes} bytes", source))


def read_bytes(path: str | os.PathLike[str], *, max_bytes: int, what: str = "file",
               allow_stdin: bool = False) -> bytes:
    """The bytes of a regular file (or stdin for `-`), at most `max_bytes`; else one `InputError`."""
    source = os.fspath(path)
    if allow_stdin and source == STDIN:
        return _read_limited(sys.stdin.buffer.fileno(), max_bytes, "<stdin>", what)
    flags = os.O_RDONLY | getattr(os, "O_NONBLOCK", 0) | getattr(os, "O_NOCTTY", 0) | getattr(os, "O_CLOEXEC", 0)
    try:
        fd = os.open(source, flags)
    except FileNotFoundError:
        raise InputError(Problem(f"cannot read {what}: no such file", source)) from None
    except IsADirectoryError:
        raise InputError(Problem(f"is a directory, not a {what}", source)) from None
    except OSError as exc:
        raise InputError(Problem(f"cannot read {what}: {exc.strerror or exc}", source)) from None
    try:
        mode = os.fstat(fd).st_mode
        if not stat.S_ISREG(mode):
            raise InputError(Problem(f"is {_kind(mode)}, not a regular {what}", source))
        os.set_blocking(fd, True)
        try:
            return _read_limited(fd, max_bytes, source, what)
        except OSError as exc:
            raise InputError(Problem(f"cannot read {what}: {exc.strerror or exc}", source)) from None
    finally:
        os.close(fd)


def decode_utf8(data: bytes, source: str, what: str = "file") -> str:
    """UTF-8 text, or an `InputError` naming the line and column of the first bad byte."""
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError as exc:
        line = data[: exc.start].count(b"\n") + 1
        column = exc.start - (data.rfind(b"\n", 0, exc.start) + 1) + 1
        raise InputError(Problem(f"{what} is not UTF-8 text (byte {exc.start})", source, line, column)) from None


def read_text(path: str | os.PathLike[str], *, max_bytes: int, what: str = "file",
              allow_stdin: bool = False) -> str:
    """`read_bytes` decoded as UTF-8 with a located error."""
    source = os.fspath(path)
    data = read_bytes(path, max_bytes=max_bytes, what=what, allow_stdin=allow_stdin)
    return decode_utf8(data, "<stdin>" if allow_stdin and source == STDIN else source, what)


__all__ = ["STDIN", "decode_utf8", "read_bytes", "read_text"]
