"""The learner's own files: which paths the page may name, and how answers read.

The page names a file of the learner's sandbox by a path they typed or a
file they dropped. The rules here turn it into the absolute path the
backend reads or writes, or refuse it with a message for the learner; the
backend then keeps the write inside the sandbox whatever symlinks it meets.
"""
from __future__ import annotations

import posixpath
import re
import unicodedata

# The shell's home in a sandbox: relative paths and uploads start here.
HOME = "/root"
# Mounted inside the sandbox over what the worker sees (the kernel's views,
# the device tmpfs, the tmpfs the sandbox init puts on /tmp): a file written
# or read there by the worker is not the one the sandbox sees.
UNREACHABLE = ("/proc", "/sys", "/dev", "/tmp")
MAX_PATH = 1024
# The editor opens text files up to this size (and never more than an upload takes).
EDITOR_LIMIT = 1 << 20

_CONTROL = re.compile(r"[\x00-\x1f\x7f]")
# Characters a download's name may not carry to the learner's computer.
_UNSAFE_NAME = re.compile(r'[\x00-\x1f\x7f"\\/:*?<>|;]')


class Refused(ValueError):
    """A path or file the page may not use; the message says why, to the learner."""


def human_size(size: int) -> str:
    """5242880 as "5 MiB": how the limits are told to learners."""
    for unit, scale in (("GiB", 1 << 30), ("MiB", 1 << 20), ("KiB", 1 << 10)):
        if size >= scale:
            value = size / scale
            return f"{value:.0f} {unit}" if value == int(value) else f"{value:.1f} {unit}"
    return f"{size} bytes"


def sandbox_path(text: str, base: str = HOME) -> str:
    """The absolute path of the sandbox that ``text`` names: relative to
    ``base`` (the home, /root), "~" for the home, "." and "//" folded away.
    Refused for nonsense: nothing, control characters, any "..", a
    directory (a trailing "/"), or a place the worker cannot reach."""
    if not text:
        raise Refused("Name a file, such as /root/Dockerfile.")
    if len(text) > MAX_PATH:
        raise Refused(f"That path is longer than {MAX_PATH} characters.")
    if _CONTROL.search(text):
        raise Refused("A path cannot hold control characters.")
    if ".." in text.split("/"):
        raise Refused("A path cannot go up with \"..\": write it from / or from the home, /root.")
    if text == "~" or text.startswith("~/"):
        text = HOME + "/" + text[2:]
    if text.endswith("/") or text.endswith("/."):
        raise Refused(f"{text} names a directory: add the file's name.")
    path = "/" + posixpath.normpath(posixpath.join(base, text)).lstrip("/")
    if path == "/":
        raise Refused("/ is a directory: add the file's name.")
    for top in UNREACHABLE:
        if path == top or path.startswith(top + "/"):
            raise Refused(f"{top} is mounted inside the sandbox, out of reach from here: "
                          "choose another place, such as /root.")
    return path


def upload_path(directory: str, name: str) -> str:
    """Where a dropped file called ``name`` goes in ``directory`` (the home
    if none was chosen). The name is one file name, never a path."""
    if not name or "/" in name or name in (".", ".."):
        raise Refused(f"{name!r} is not a file name.")
    folder = directory or HOME
    return sandbox_path(folder.rstrip("/") + "/" + name if folder != "/" else "/" + name)


def too_large(path: str, limit: int, what: str = "an upload") -> str:
    return f"{path} is larger than {human_size(limit)}, the most {what} takes."


def download_name(path: str) -> str:
    """A file name for the learner's computer: the last part of the path,
    without separators, quotes, control or reserved characters, leading
    dots or spaces; "download" if nothing is left."""
    name = unicodedata.normalize("NFC", posixpath.basename(path))
    name = _UNSAFE_NAME.sub("_", name).strip(" .")
    if len(name) > 120:
        stem, dot, suffix = name.rpartition(".")
        name = (stem[:110] + dot + suffix[:9]) if dot and len(suffix) < 10 else name[:120]
    return name or "download"


def as_text(data: bytes) -> str | None:
    """The file as text for the editor, or None if it is binary: it holds
    NUL bytes or is not UTF-8."""
    if b"\0" in data:
        return None
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError:
        return None
