"""The inbox, reached only through folders the watcher opened itself.

Staff who drop photos can also rename, delete and replace anything in the inbox, including a
subfolder, between the moment the watcher looks at a file and the moment it takes it. A path
string (INBOX/trip/photo.jpg) is looked up again by the kernel each time it is used, so a
subfolder swapped for a symbolic link in between makes the same string name a file somewhere
else entirely: the home's keys, its config.toml. Everything here therefore works relative to
open folders: the inbox is opened once (never through a link), each subfolder is opened from
its parent's descriptor (never through a link), and a file is moved out of the folder the
watcher holds open, then checked to be the very file that was looked at.

`between_look_and_claim` is called at each step between the look and the claim with the step's
name and the file's name; it does nothing, and tests replace it to change the inbox at exactly
that moment instead of racing it with sleeps.
"""

from __future__ import annotations

import contextlib
import ctypes
import errno
import os
import stat
from collections.abc import Callable

# The steps between the look and the claim, in the order they happen.
STEPS = ("decoding", "claiming", "folder-open", "checked", "claimed")


def _nothing(step: str, rel: str) -> None:
    return None


between_look_and_claim: Callable[[str, str], None] = _nothing


def step(name: str, rel: str) -> None:
    between_look_and_claim(name, rel)


# ---------------------------------------------------------------------------------------------
# Opening folders and files without following links

DIR_FLAGS = os.O_RDONLY | os.O_DIRECTORY | os.O_NOFOLLOW | os.O_CLOEXEC
# A file is opened without following a link and without waiting: a FIFO would block an open
# until someone writes to it.
FILE_FLAGS = os.O_RDONLY | os.O_NOFOLLOW | os.O_NONBLOCK | os.O_CLOEXEC
# Folders nested deeper than this are not entered (each level holds a descriptor open while its
# subfolders are walked); what is in them stays in the inbox, untouched.
MAX_DEPTH = 16
_UNREACHABLE = (errno.ENOENT, errno.ELOOP, errno.ENOTDIR)


def open_inbox(path: str | os.PathLike[str]) -> int:
    """The inbox as an open folder (never through a link): everything else is reached from it."""
    return os.open(path, DIR_FLAGS)


def split(rel: str) -> tuple[list[str], str]:
    """`a/b/photo.jpg` -> (["a", "b"], "photo.jpg"); a name that could leave the folder it is
    looked up in (empty, ".", "..") is refused as not there."""
    parts = rel.split("/")
    if any(p in ("", ".", "..") for p in parts):
        raise FileNotFoundError(errno.ENOENT, "not a name inside the inbox", rel)
    return parts[:-1], parts[-1]


def open_folder(inbox_fd: int, parts: list[str], create: bool = False) -> int:
    """The folder INBOX/parts..., each level opened from the one above without following a
    link; FileNotFoundError when any level is gone, a link or not a folder. With `create`,
    missing levels are made (inside the folder above, by its descriptor)."""
    fd = os.dup(inbox_fd)
    try:
        for name in parts:
            if create:
                with contextlib.suppress(FileExistsError):
                    os.mkdir(name, dir_fd=fd)
            nfd = os.open(name, DIR_FLAGS, dir_fd=fd)
            os.close(fd)
            fd = nfd
    except OSError as e:
        os.close(fd)
        if e.errno in _UNREACHABLE:
            raise FileNotFoundError(errno.ENOENT, "not a folder inside the inbox") from None
        raise
    return fd


def same_file(st: os.stat_result, sig) -> bool:
    """Is `st` the file that was looked at (`sig`, a settle.Sig): the same device and inode, the
    same size, and as regular (or not) as it was?"""
    return (st.st_ino == sig.ino and st.st_size == sig.size
            and stat.S_ISREG(st.st_mode) == sig.regular
            and (not sig.dev or st.st_dev == sig.dev))


def rename_noreplace(name: str, src_dir_fd: int, new: str, dst_dir_fd: int) -> bool:
    """Move `name` to `new` between open folders unless `new` exists; False when it does (or
    when the folder cannot take it). Uses renameat2(RENAME_NOREPLACE), so that nothing that
    appeared meanwhile under `new` is ever replaced; where the filesystem lacks it, a look
    immediately before an ordinary rename."""
    rc, err = _renameat2(src_dir_fd, name, dst_dir_fd, new, 1)  # 1: RENAME_NOREPLACE
    if rc == 0:
        return True
    if err not in (errno.ENOSYS, errno.EINVAL, None):
        return False
    try:
        os.stat(new, dir_fd=dst_dir_fd, follow_symlinks=False)
        return False
    except FileNotFoundError:
        pass
    try:
        os.rename(name, new, src_dir_fd=src_dir_fd, dst_dir_fd=dst_dir_fd)
    except OSError:
        return False
    return True


def _renameat2(src_fd: int, src: str, dst_fd: int, dst: str, flags: int) -> tuple[int, int | None]:
    try:
        libc = ctypes.CDLL(None, use_errno=True)
        fn = libc.renameat2
    except (OSError, AttributeError):
        return -1, None
    fn.argtypes = (ctypes.c_int, ctypes.c_char_p, ctypes.c_int, ctypes.c_char_p, ctypes.c_uint)
    rc = fn(src_fd, os.fsencode(src), dst_fd, os.fsencode(dst), flags)
    return rc, (ctypes.get_errno() if rc != 0 else 0)
