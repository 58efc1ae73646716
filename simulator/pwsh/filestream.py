"""``[System.IO.File]::Create(path)``: a write-only FileStream on the host's file model; and
``[System.IO.File]::Open(path, Open, Read, share)``: a read-only one whose handle denies others
what ``share`` does not grant, until it is disposed or its process ends.

The runbook's push staging writes the installer through one (the loader appends each data
frame's bytes), so the file it leaves is the one the next steps hash, check and run. The
Authenticode signature is a property of the bytes, so it is looked up when the stream closes.
"""

from __future__ import annotations

import ntpath
from typing import TYPE_CHECKING, Any

from ..host import FileEntry
from .members import LiveObject
from .paths import ShareDenied, resolve
from .values import CIDict, ps_error, to_number

if TYPE_CHECKING:
    from .evaluator import Session


class FileStream(LiveObject):
    type_name = "System.IO.FileStream"

    def __init__(self, session: Session, path: str) -> None:
        self.session = session
        self.path = path
        self.buffer = bytearray()
        self.closed = False
        session.host.put_file(FileEntry(path, b""))

    def ps_props(self) -> CIDict:
        return CIDict({"Name": self.path, "Length": len(self.buffer), "CanWrite": not self.closed})

    def ps_method(self, name: str, args: list[Any]) -> Any:
        if name == "write":
            if self.closed:
                raise ps_error(
                    'Exception calling "Write" with "3" argument(s): "Cannot access a closed '
                    'file."',
                    "ObjectDisposedException",
                    "NotSpecified",
                    "System.ObjectDisposedException",
                )
            data = args[0] if args and isinstance(args[0], bytes) else b""
            start = int(to_number(args[1])) if len(args) > 1 else 0
            count = int(to_number(args[2])) if len(args) > 2 else len(data) - start
            self.buffer += data[start : start + count]
            return None
        if name == "flush":
            self._store()
            return None
        if name in ("close", "dispose"):
            if not self.closed:
                self._store()
                self.closed = True
            return None
        raise AttributeError(name)

    def _store(self) -> None:
        host = self.session.host
        content = bytes(self.buffer)
        host.put_file(FileEntry(self.path, content, **host.signature_of(content)))


def create(session: Session, path: str) -> FileStream:
    """[System.IO.File]::Create: the folder must exist; a share needs its credential."""
    try:
        where = resolve(session, path)
    except ShareDenied:
        raise ps_error(
            f'Exception calling "Create" with "1" argument(s): "Access to the path \'{path}\' '
            'is denied."',
            "UnauthorizedAccessException",
            "NotSpecified",
            "System.UnauthorizedAccessException",
        ) from None
    folder = ntpath.dirname(where)
    if folder and session.host.file(folder) is None:
        raise ps_error(
            f'Exception calling "Create" with "1" argument(s): "Could not find a part of the '
            f"path '{where}'.\"",
            "DirectoryNotFoundException",
            "NotSpecified",
            "System.IO.DirectoryNotFoundException",
        )
    if session.host.write_denied(where):  # opened for writing now, as .NET's Create does
        raise ps_error(
            f'Exception calling "Create" with "1" argument(s): "The process cannot access the '
            f"file '{where}' because it is being used by another process.\"",
            "IOException",
            "NotSpecified",
            "System.IO.IOException",
        )
    return FileStream(session, where)


class ReadStream(LiveObject):
    """A FileStream opened for reading; ``content()`` reads the file through it."""

    type_name = "System.IO.FileStream"

    def __init__(self, session: Session, path: str, handle: int) -> None:
        self.session = session
        self.path = path
        self.handle: int | None = handle

    def content(self) -> bytes:
        if self.handle is None:
            raise ps_error(
                "Cannot access a closed file.",
                "ObjectDisposedException",
                "NotSpecified",
                "System.ObjectDisposedException",
            )
        entry = self.session.host.file(self.path)
        return entry.content if entry is not None else b""

    def ps_props(self) -> CIDict:
        return CIDict(
            {
                "Name": self.path,
                "Length": len(self.content()) if self.handle is not None else 0,
                "CanRead": self.handle is not None,
                "CanWrite": False,
            }
        )

    def ps_method(self, name: str, args: list[Any]) -> Any:
        if name in ("close", "dispose"):
            if self.handle is not None:
                self.session.host.close_handle(self.path, self.handle)
                self.handle = None
            return None
        raise AttributeError(name)


FILE_SHARE = ("None", "Read", "Write", "ReadWrite", "Delete", "Inheritable")


def open_read(session: Session, path: str, mode: str, access: str, share: str) -> ReadStream:
    """[System.IO.File]::Open(path, FileMode.Open, FileAccess.Read, share): the file must
    exist, and no handle already open may deny reading (a sharing violation)."""
    call = 'Exception calling "Open" with "4" argument(s): '
    if mode.lower() != "open" or access.lower() != "read":
        raise ps_error(
            call + '"the simulator models FileMode Open with FileAccess Read only."',
            "NotSupportedException",
            "NotSpecified",
            "System.NotSupportedException",
        )
    where = resolve(session, path)
    entry = session.host.file(where)
    if entry is None or entry.is_dir:
        raise ps_error(
            call + f"\"Could not find file '{where}'.\"",
            "FileNotFoundException",
            "NotSpecified",
            "System.IO.FileNotFoundException",
        )
    words = frozenset(w.strip().lower() for w in share.split(","))
    if "readwrite" in words:
        words = words | {"read", "write"}
    handle = session.host.open_handle(where, words, session.io.pid)
    if handle is None:
        raise ps_error(
            call + f"\"The process cannot access the file '{where}' because it is being used by "
            'another process."',
            "IOException",
            "NotSpecified",
            "System.IO.IOException",
        )
    return ReadStream(session, where, handle)
