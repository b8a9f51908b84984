"""Nothing of this machine is published: local paths, the user name and the host name are taken out of a release
before ``finrisk registry push --hub`` uploads it, and a release that still holds one is refused.

    finrisk registry push runs/credit_text --hub my-bank/credit-text

:func:`scrub_release` rewrites the text files of a staged release: the base model's local path becomes its Hub id
(or its folder name with its fingerprint), and every other absolute path under a local root (home, temp, data and
work directories, the current directory) becomes its last component, so ``/home/ana/data/loans.jsonl`` is
published as ``loans.jsonl``. :func:`find_leaks` then reads every file (text in full, a safetensors file's header)
and names each local path, user name or host name still in it.
"""

from __future__ import annotations

import getpass
import os
import re
import socket
import struct
import tempfile
from pathlib import Path

# Top-level folders whose paths are this machine's (or its users'), never the model's.
LOCAL_ROOTS = ("home", "Users", "root", "tmp", "var", "private", "work", "mnt", "media", "data", "scratch", "srv",
               "opt", "nfs", "gpfs", "lustre", "workspace", "content", "run")
# Account and machine names too common as words to look for in prose (their paths are still caught).
COMMON_NAMES = frozenset({"root", "admin", "user", "users", "ubuntu", "runner", "localhost", "jovyan", "vagrant",
                          "ec2-user", "colab", "default", "model", "data"})
TEXT_SUFFIXES = (".json", ".yaml", ".yml", ".md", ".txt", ".py", ".jsonl", ".csv")
# An absolute path: "/" then segments of bounded length separated by single slashes (linear time).
_PATH = re.compile(r"(?<![\w:/.~-])(?:~|/)(?:[\w.@+-]{1,255}/){0,64}[\w.@+-]{1,255}")


def _local_prefixes() -> list[str]:
    prefixes = {f"/{root}/" for root in LOCAL_ROOTS} | {"~/"}
    for path in (Path.home(), Path.cwd(), Path(tempfile.gettempdir())):
        text = str(path.resolve())
        if text not in ("/", ""):
            prefixes.add(text.rstrip("/") + "/")
    return sorted(prefixes)


def _is_local(path: str) -> bool:
    return any(path.startswith(prefix) or path + "/" == prefix for prefix in _local_prefixes())


def local_names() -> list[str]:
    """The user and host names worth looking for as words: at least 4 characters and not common words."""
    names = set()
    for name in (_user(), socket.gethostname(), socket.gethostname().split(".")[0]):
        if name and len(name) >= 4 and name.lower() not in COMMON_NAMES:
            names.add(name)
    return sorted(names)


def _user() -> str:
    try:
        return getpass.getuser()
    except (KeyError, OSError):  # no passwd entry (some containers)
        return os.environ.get("USER", "")


def scrub_text(text: str, replacements: dict[str, str] | None = None) -> str:
    """``text`` with each ``replacements`` key replaced by its value, then every local absolute path by its last
    component (a folder's name, a file's name)."""
    for old, new in sorted((replacements or {}).items(), key=lambda kv: -len(kv[0])):
        text = text.replace(old, new)

    def shorten(match: re.Match[str]) -> str:
        path = match.group(0)
        return Path(path).name if _is_local(path) else path

    return _PATH.sub(shorten, text)


def scrub_release(folder: str | Path, replacements: dict[str, str] | None = None) -> list[str]:
    """Rewrite every text file under ``folder`` with :func:`scrub_text`; return the files that changed."""
    changed = []
    for path in sorted(Path(folder).rglob("*")):
        if not path.is_file() or path.suffix not in TEXT_SUFFIXES:
            continue
        text = path.read_text(encoding="utf-8")
        clean = scrub_text(text, replacements)
        if clean != text:
            path.write_text(clean, encoding="utf-8")
            changed.append(path.relative_to(folder).as_posix())
    return changed


def _readable(path: Path) -> str:
    """What of a file could carry a path: a safetensors header's JSON, else the whole file as text."""
    data = path.read_bytes()
    if path.suffix == ".safetensors" and len(data) >= 8:
        (size,) = struct.unpack("<Q", data[:8])
        data = data[8:8 + size]
    return data.decode("utf-8", errors="replace")


def _is_word_char(char: str) -> bool:
    return char.isalnum() or char in "_-"


def _word_hits(text: str, name: str) -> list[str]:
    """Each case-insensitive occurrence of ``name`` in ``text`` that stands as a word (no letter, digit, ``_`` or
    ``-`` on either side). A plain search, not a pattern built from the name: linear in ``text`` whatever it is."""
    # Lower-cased one character at a time, so that positions in ``lower`` stay positions in ``text``.
    lower = "".join(c if len(c.lower()) != 1 else c.lower() for c in text)
    needle, hits = name.lower(), []
    start = lower.find(needle)
    while start >= 0:
        end = start + len(needle)
        before = text[start - 1] if start else ""
        after = text[end] if end < len(text) else ""
        if not (before and _is_word_char(before)) and not (after and _is_word_char(after)):
            hits.append(text[start:end])
        start = lower.find(needle, start + 1)
    return hits


def find_leaks(folder: str | Path, extra: list[str] | tuple[str, ...] = ()) -> list[str]:
    """``"FILE: WHAT"`` for every local path, user or host name (or ``extra`` string) in a file under ``folder``."""
    names = local_names()
    found = []
    for path in sorted(Path(folder).rglob("*")):
        if not path.is_file():
            continue
        text = _readable(path)
        rel = path.relative_to(folder).as_posix()
        hits = [m.group(0) for m in _PATH.finditer(text) if _is_local(m.group(0))]
        hits += [hit for name in names for hit in _word_hits(text, name)]
        hits += [s for s in extra if s and s in text]
        found += [f"{rel}: {hit!r}" for hit in dict.fromkeys(hits)]
    return found
