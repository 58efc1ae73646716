"""``System.Xml.XmlDocument`` on the host's file model: the subset the runbook's proxy steps use.

``New-Object System.Xml.XmlDocument``, ``PreserveWhitespace``, ``Load(path)`` / ``Save(path)``,
``DocumentElement``, ``SelectSingleNode`` / ``SelectNodes`` (child paths such as
``/configuration/system.net/defaultProxy``, ``proxy``, ``bypasslist/*``), ``CreateElement``,
``GetAttribute`` / ``SetAttribute``, ``AppendChild``, ``RemoveChild``, ``ParentNode``,
``Attributes``, ``Name``, ``OuterXml``. Python's ``xml.dom.minidom`` holds the tree.

Strict as .NET (Microsoft Learn, the ``XmlDocument`` / ``XmlNode`` / ``XmlElement`` reference):
``Load`` of a missing file throws ``FileNotFoundException`` ("Could not find file '...'."),
of text that is not XML an ``XmlException``; ``SelectSingleNode`` returns null when nothing
matches; ``GetAttribute`` returns the empty string for a missing attribute; ``RemoveChild`` of a
node that is not a child throws ("The node to be removed is not a child of this node.");
``AppendChild`` of a node of another document throws ("The node to be inserted is from a
different document context."); ``Save`` into a missing folder throws
``DirectoryNotFoundException``. PowerShell wraps each as ``Exception calling "Load" with "1"
argument(s): "..."``. Not modelled: full XPath (predicates, axes, functions), namespaces,
whitespace handling with ``PreserveWhitespace = $false`` (the tree always keeps it, which is
what the runbook asks for), and the byte-order mark ``Save`` writes.
"""

from __future__ import annotations

import ntpath
import re
from typing import TYPE_CHECKING, Any
from xml.dom import minidom
from xml.parsers.expat import ExpatError

from ..host import FileEntry
from .members import LiveObject
from .paths import ShareDenied, resolve
from .values import CIDict, PSObject, ps_error, to_bool, to_str

if TYPE_CHECKING:
    from .evaluator import Session

TYPE_NAMES = ("system.xml.xmldocument", "xml.xmldocument", "xml")
_NAME_RE = re.compile(r"^[A-Za-z_][A-Za-z0-9_.:-]*$")


def _dotnet_error(method: str, argc: int, message: str, exc_type: str) -> Exception:
    short = exc_type.rsplit(".", 1)[-1]
    return ps_error(
        f'Exception calling "{method}" with "{argc}" argument(s): "{message}"',
        short,
        "NotSpecified",
        exc_type,
    )


def _select(start: Any, path: str) -> list[Any]:
    """The elements a child path selects, in document order: ``/a/b`` from the document,
    ``a/b`` from ``start``; each step an element name or ``*``."""
    node: Any = start
    if path.startswith("/"):
        node = start if start.nodeType == start.DOCUMENT_NODE else start.ownerDocument
        path = path[1:]
    steps = path.split("/")
    if not path or any(not s or not (s == "*" or _NAME_RE.match(s)) for s in steps):
        raise _dotnet_error(
            "SelectNodes",
            1,
            f"'{path}' has an invalid token.",
            "System.Xml.XPath.XPathException",
        )
    current = [node]
    for step in steps:
        current = [
            child
            for parent in current
            for child in parent.childNodes
            if child.nodeType == child.ELEMENT_NODE and (step == "*" or child.tagName == step)
        ]
    return current


class XmlNode(LiveObject):
    """An ``XmlElement`` (or the document itself, for ``XmlDocument``)."""

    type_name = "System.Xml.XmlElement"

    def __init__(self, doc: XmlDocument, node: Any) -> None:
        self.doc = doc
        self.node: Any = node  # a minidom Element or Document

    def _wrap(self, node: Any) -> Any:
        if node is None or node.nodeType not in (node.ELEMENT_NODE, node.DOCUMENT_NODE):
            return None
        if node.nodeType == node.DOCUMENT_NODE:
            return self.doc
        return XmlNode(self.doc, node)

    def ps_props(self) -> CIDict:
        node = self.node
        attrs: list[Any] = []
        if node.nodeType == node.ELEMENT_NODE:
            attrs = [
                PSObject({"Name": a.name, "Value": a.value}, type_name="System.Xml.XmlAttribute")
                for a in node.attributes.values()
            ]
        kids = [self._wrap(c) for c in node.childNodes if c.nodeType == c.ELEMENT_NODE]
        return CIDict(
            {
                "Name": node.tagName if node.nodeType == node.ELEMENT_NODE else "#document",
                "LocalName": getattr(node, "localName", None) or "#document",
                "ParentNode": self._wrap(node.parentNode),
                "Attributes": attrs,
                "ChildNodes": kids,
                "HasChildNodes": bool(node.childNodes),
                "OuterXml": node.toxml(),
            }
        )

    def _other(self, value: Any, method: str) -> Any:
        if not isinstance(value, XmlNode) or isinstance(value, XmlDocument):
            raise _dotnet_error(
                method,
                1,
                "Object reference not set to an instance of an object.",
                "System.NullReferenceException",
            )
        return value.node

    def ps_method(self, name: str, args: list[Any]) -> Any:
        node = self.node
        if name == "selectsinglenode":
            found = _select(node, to_str(args[0] if args else ""))
            return self._wrap(found[0]) if found else None
        if name == "selectnodes":
            return [self._wrap(n) for n in _select(node, to_str(args[0] if args else ""))]
        if name == "getattribute" and node.nodeType == node.ELEMENT_NODE:
            return node.getAttribute(to_str(args[0]))  # "" when missing, as .NET
        if name == "setattribute" and node.nodeType == node.ELEMENT_NODE:
            key = to_str(args[0])
            if not _NAME_RE.match(key):
                raise _dotnet_error(
                    "SetAttribute",
                    2,
                    f"The '{key[:1]}' character cannot be included in a name.",
                    "System.Xml.XmlException",
                )
            node.setAttribute(key, to_str(args[1]) if len(args) > 1 else "")
            return None
        if name == "removeattribute" and node.nodeType == node.ELEMENT_NODE:
            if node.hasAttribute(to_str(args[0])):
                node.removeAttribute(to_str(args[0]))
            return None
        if name == "appendchild":
            child = self._other(args[0] if args else None, "AppendChild")
            if child.ownerDocument is not self.doc.dom:
                raise _dotnet_error(
                    "AppendChild",
                    1,
                    "The node to be inserted is from a different document context.",
                    "System.ArgumentException",
                )
            if node.nodeType == node.DOCUMENT_NODE and node.documentElement is not None:
                raise _dotnet_error(
                    "AppendChild",
                    1,
                    "This document already has a 'DocumentElement' node.",
                    "System.InvalidOperationException",
                )
            node.appendChild(child)
            return self._wrap(child)
        if name == "removechild":
            child = self._other(args[0] if args else None, "RemoveChild")
            if child.parentNode is not node:
                raise _dotnet_error(
                    "RemoveChild",
                    1,
                    "The node to be removed is not a child of this node.",
                    "System.ArgumentException",
                )
            node.removeChild(child)
            return self._wrap(child)
        raise AttributeError(name)

    def __str__(self) -> str:
        return self.type_name


class XmlDocument(XmlNode):
    """``System.Xml.XmlDocument``: empty until ``Load``; ``Save`` writes the host's file."""

    type_name = "System.Xml.XmlDocument"

    def __init__(self, session: Session) -> None:
        self.session = session
        self.dom = minidom.Document()
        self.preserve_whitespace = False
        super().__init__(self, self.dom)

    def ps_props(self) -> CIDict:
        props = super().ps_props()
        props["DocumentElement"] = self._wrap(self.dom.documentElement)
        props["PreserveWhitespace"] = self.preserve_whitespace
        return props

    def ps_set(self, name: str, value: Any) -> bool:
        if name.lower() == "preservewhitespace":
            self.preserve_whitespace = to_bool(value)
            return True
        return False

    def _path(self, method: str, path: str) -> str:
        try:
            return resolve(self.session, path)
        except ShareDenied:
            raise _dotnet_error(
                method,
                1,
                f"Access to the path '{path}' is denied.",
                "System.UnauthorizedAccessException",
            ) from None

    def ps_method(self, name: str, args: list[Any]) -> Any:
        if name == "load":
            return self._load(to_str(args[0] if args else ""))
        if name == "loadxml":
            self._parse("LoadXml", to_str(args[0] if args else "").encode("utf-8"))
            return None
        if name == "save":
            return self._save(to_str(args[0] if args else ""))
        if name == "createelement":
            tag = to_str(args[0] if args else "")
            if not _NAME_RE.match(tag):
                raise _dotnet_error(
                    "CreateElement",
                    1,
                    f"The '{tag[:1]}' character cannot be included in a name.",
                    "System.Xml.XmlException",
                )
            return XmlNode(self, self.dom.createElement(tag))
        return super().ps_method(name, args)

    def _load(self, path: str) -> None:
        where = self._path("Load", path)
        entry = self.session.host.file(where)
        if entry is None:
            raise _dotnet_error(
                "Load", 1, f"Could not find file '{where}'.", "System.IO.FileNotFoundException"
            )
        if entry.is_dir:
            raise _dotnet_error(
                "Load",
                1,
                f"Access to the path '{where}' is denied.",
                "System.UnauthorizedAccessException",
            )
        self._parse("Load", entry.content)

    def _parse(self, method: str, content: bytes) -> None:
        try:
            self.dom = minidom.parseString(content)  # noqa: S318 (the host's own model file)
        except ExpatError as exc:
            raise _dotnet_error(
                method,
                1,
                f"{exc}. Line {exc.lineno}, position {exc.offset + 1}.",
                "System.Xml.XmlException",
            ) from None
        self.node = self.dom

    def _save(self, path: str) -> None:
        where = self._path("Save", path)
        host = self.session.host
        folder = ntpath.dirname(where)
        if folder and host.file(folder) is None:
            raise _dotnet_error(
                "Save",
                1,
                f"Could not find a part of the path '{where}'.",
                "System.IO.DirectoryNotFoundException",
            )
        if host.write_denied(where):
            raise _dotnet_error(
                "Save",
                1,
                f"The process cannot access the file '{where}' because it is being used by "
                "another process.",
                "System.IO.IOException",
            )
        content = self.dom.toxml(encoding="utf-8")
        host.put_file(FileEntry(where, content))
        host.record.event("file_saved", host=host.name, path=where)
        return None


def new(session: Session) -> XmlDocument:
    return XmlDocument(session)
