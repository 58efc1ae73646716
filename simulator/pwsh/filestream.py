"""``[System.IO.File]::Create(path)``: a write-only FileStream on the host's file model.

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
    return FileStream(session, where)
