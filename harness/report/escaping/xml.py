"""JUnit XML that is always well-formed, whatever content it quotes.

ElementTree escapes `&`, `<`, `>` and quotes, but writes control characters as they are, and
XML 1.0 forbids most of them (ESC, NUL, ...): one in a case name made junit.xml unreadable.
`sanitize` rewrites every attribute and text of a tree just before it is serialised, so no
call site can forget: forbidden characters (and invisible format characters) become visible
escapes; tab, newline and carriage return stay (XML allows them).
"""

from __future__ import annotations

import xml.etree.ElementTree as ET

from harness.report.escaping import visible

__all__ = ["sanitize", "xml_text"]


def xml_text(text: str) -> str:
    """`text` with every character XML 1.0 forbids (and invisible ones) written as an escape."""
    out = visible(text, keep="\t\n\r")
    return "".join(c if c not in "\ufffe\uffff" else f"\\u{ord(c):04x}" for c in out)


def sanitize(root: ET.Element) -> ET.Element:
    """Every text, tail and attribute of the tree made safe for XML 1.0 (in place)."""
    for element in root.iter():
        if element.text:
            element.text = xml_text(element.text)
        if element.tail:
            element.tail = xml_text(element.tail)
        for name, value in list(element.attrib.items()):
            element.attrib[name] = xml_text(value)
    return root
