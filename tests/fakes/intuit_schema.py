"""Request bodies sent to the fake QuickBooks, checked against Intuit's v3 XML schemas.

Intuit's JSON mirrors its XML schemas (../shared/specs/quickbooks-xsd, from
intuit/QuickBooks-V3-Java-SDK): an entity is a JSON object whose keys are the
element and attribute names of its complexType (with those of every type it
extends), a simple-content type such as ReferenceType is {"value": ..., plus
its attributes}, and repeated elements are arrays. `problems(body, "Invoice")`
names every key the schema does not have, at any depth. Intuit's JSON-only
request flags (`sparse`) are allowed on entities, as its API reference documents.
"""
from __future__ import annotations

import xml.etree.ElementTree as ET
from dataclasses import dataclass, field
from functools import lru_cache
from pathlib import Path

XSD_DIR = Path(__file__).resolve().parents[2].parent / "shared" / "specs" / "quickbooks-xsd"
XS = "{http://www.w3.org/2001/XMLSchema}"
JSON_ONLY_FLAGS = {"sparse"}


@dataclass
class _Type:
    base: str | None = None
    simple: bool = False
    children: dict[str, str] = field(default_factory=dict)  # element name -> type name
    attributes: set[str] = field(default_factory=set)


def _local(name: str | None) -> str | None:
    return name.split(":")[-1] if name else None


@lru_cache(maxsize=1)
def _types() -> dict[str, _Type]:
    types: dict[str, _Type] = {}
    for path in sorted(XSD_DIR.glob("*.xsd")):
        for complex_type in ET.parse(path).getroot().findall(f"{XS}complexType"):
            described = _Type()
            for node in complex_type.iter():
                if node.tag == f"{XS}extension":
                    described.base = _local(node.get("base"))
                elif node.tag == f"{XS}simpleContent":
                    described.simple = True
                elif node.tag == f"{XS}element" and node.get("name"):
                    described.children[node.get("name")] = _local(node.get("type")) or ""
                elif node.tag == f"{XS}attribute" and node.get("name"):
                    described.attributes.add(node.get("name"))
            types[complex_type.get("name")] = described
    return types


def available() -> bool:
    return XSD_DIR.is_dir()


def _members(type_name: str) -> tuple[dict[str, str], set[str], bool]:
    types = _types()
    children: dict[str, str] = {}
    attributes: set[str] = set()
    simple = False
    seen = set()
    while type_name in types and type_name not in seen:
        seen.add(type_name)
        described = types[type_name]
        children = {**described.children, **children}
        attributes |= described.attributes
        simple = simple or described.simple
        type_name = described.base
    return children, attributes, simple


def problems(body, type_name: str, where: str = "") -> list[str]:
    """Every key of `body` the schema type `type_name` does not define, as readable lines."""
    if not available():
        return []
    where = where or type_name
    if isinstance(body, list):
        return [line for index, item in enumerate(body) for line in problems(item, type_name, f"{where}[{index}]")]
    if not isinstance(body, dict):
        return []
    children, attributes, simple = _members(type_name)
    if type_name not in _types():
        return []  # a simple type (string, date, decimal): nothing inside to check
    allowed = set(children) | attributes | ({"value"} if simple else set()) | JSON_ONLY_FLAGS
    found = []
    for key, value in body.items():
        if key not in allowed:
            found.append(f"{where}: {key!r} is not an element of {type_name} in Intuit's schema")
        elif key in children:
            found += problems(value, children[key], f"{where}.{key}")
    return found
