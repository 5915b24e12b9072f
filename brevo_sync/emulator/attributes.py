"""The account's contact attributes, and the rule that mistyped values are silently dropped."""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from datetime import date
from typing import Any

from brevo_sync.emulator import errors

CATEGORIES = ("normal", "transactional", "category", "calculated", "global")
_TYPES_BY_CATEGORY = {
    "normal": {"text", "date", "float", "boolean", "multiple-choice", "user"},
    "transactional": {"text", "date", "float", "boolean", "id"},
    "category": {"category"},
}
_NAME = re.compile(r"^[A-Z0-9_]+$")
_TRUE = {"true", "1", "yes"}
_FALSE = {"false", "0", "no"}

# Identifier attributes live in unique indexes and are validated as identifiers, not by type.
IDENTIFIER_ATTRIBUTES = ("SMS", "WHATSAPP", "LANDLINE_NUMBER", "EXT_ID")
PHONE_ATTRIBUTES = ("SMS", "WHATSAPP", "LANDLINE_NUMBER")


@dataclass
class Attribute:
    name: str
    category: str
    type: str | None
    enumeration: list[dict[str, Any]] = field(default_factory=list)
    options: list[str] = field(default_factory=list)
    value: str | None = None

    def as_json(self) -> dict[str, Any]:
        body: dict[str, Any] = {"name": self.name, "category": self.category}
        if self.type is not None:
            body["type"] = self.type
        if self.enumeration:
            body["enumeration"] = self.enumeration
        if self.options:
            body["multiCategoryOptions"] = self.options
        if self.value is not None:
            body["calculatedValue"] = self.value
        return body

    def coerce(self, value: object, *, lenient: bool = False) -> tuple[bool, object]:
        """(accepted, stored value). `lenient` reads the strings a CSV import carries."""
        if self.type in ("text", "user", None):
            return isinstance(value, str), value
        if self.type == "id":
            return (isinstance(value, str | int) and not isinstance(value, bool)), value
        if self.type == "float":
            return _coerce_float(value, lenient)
        if self.type == "boolean":
            return _coerce_bool(value, lenient)
        if self.type == "date":
            return _coerce_date(value)
        if self.type == "category":
            return self._coerce_category(value)
        if self.type == "multiple-choice":
            return self._coerce_choices(value, lenient)
        return False, value

    def _coerce_category(self, value: object) -> tuple[bool, object]:
        for option in self.enumeration:
            if value in (option["value"], option["label"], str(option["value"])):
                return True, option["label"]
        return False, value

    def _coerce_choices(self, value: object, lenient: bool) -> tuple[bool, object]:
        if lenient and isinstance(value, str):
            value = [part.strip() for part in value.split(",") if part.strip()]
        if isinstance(value, list) and all(item in self.options for item in value):
            return True, list(value)
        return False, value


def _coerce_float(value: object, lenient: bool) -> tuple[bool, object]:
    if isinstance(value, int | float) and not isinstance(value, bool):
        return True, value
    if lenient and isinstance(value, str):
        try:
            return True, float(value)
        except ValueError:
            return False, value
    return False, value


def _coerce_bool(value: object, lenient: bool) -> tuple[bool, object]:
    if isinstance(value, bool):
        return True, value
    if lenient and isinstance(value, str) and value.strip().lower() in _TRUE | _FALSE:
        return True, value.strip().lower() in _TRUE
    return False, value


def _coerce_date(value: object) -> tuple[bool, object]:
    if not isinstance(value, str) or len(value) != 10:
        return False, value
    try:
        date.fromisoformat(value)
    except ValueError:
        return False, value
    return True, value


# A new account's attributes by language edition: a French account has no FIRSTNAME/LASTNAME.
DEFAULT_NAMES = {
    "en": ("EMAIL", "FIRSTNAME", "LASTNAME", "SMS"),
    "fr": ("EMAIL", "NOM", "PRENOM", "SMS"),
}


def _defaults(language: str = "en") -> dict[str, Attribute]:
    return {name: Attribute(name, "normal", "text") for name in DEFAULT_NAMES[language]}


class AttributeRegistry:
    """Declared attributes by name; a fresh English account has EMAIL, FIRSTNAME, LASTNAME and
    SMS, a French one EMAIL, NOM, PRENOM and SMS."""

    def __init__(self, language: str = "en") -> None:
        self._by_name = _defaults(language)

    def reset(self, language: str = "en") -> None:
        self._by_name = _defaults(language)

    def get(self, name: str) -> Attribute | None:
        return self._by_name.get(name)

    def all(self) -> list[Attribute]:
        return list(self._by_name.values())

    def delete(self, category: str, name: str) -> None:
        attribute = self._by_name.get(name.upper())
        if attribute is None or attribute.category != category:
            raise errors.not_found("Attribute not found")
        del self._by_name[attribute.name]

    def create(self, category: str, name: str, body: dict[str, Any]) -> Attribute:
        if category not in CATEGORIES:
            raise errors.invalid("Invalid attributeCategory")
        name = name.upper()
        if not _NAME.match(name):
            raise errors.invalid("Invalid attribute name")
        if not body:
            raise errors.missing(errors.NO_INPUTS)
        if name in self._by_name:
            raise errors.invalid(errors.ATTRIBUTE_NOT_UNIQUE)
        attribute = _attribute_from_body(category, name, body)
        self._by_name[name] = attribute
        return attribute


def _attribute_from_body(category: str, name: str, body: dict[str, Any]) -> Attribute:
    if category in ("calculated", "global"):
        value = body.get("value")
        if not isinstance(value, str) or not value:
            raise errors.missing("value is required for calculated and global attributes")
        return Attribute(name, category, None, value=value)
    kind = body.get("type", "category" if category == "category" else None)
    if kind not in _TYPES_BY_CATEGORY[category]:
        raise errors.invalid(f"Invalid type for a {category} attribute")
    attribute = Attribute(name, category, kind)
    if kind == "category":
        attribute.enumeration = _enumeration(body.get("enumeration"))
    if kind == "multiple-choice":
        attribute.options = _options(body.get("multiCategoryOptions"))
    return attribute


def _enumeration(value: object) -> list[dict[str, Any]]:
    if not isinstance(value, list) or not value:
        raise errors.missing("enumeration is required for a category attribute")
    for option in value:
        if not (isinstance(option, dict) and isinstance(option.get("label"), str)):
            raise errors.invalid("Invalid enumeration")
        if not isinstance(option.get("value"), int) or len(option["label"]) > 200:
            raise errors.invalid("Invalid enumeration")
    return [{"value": option["value"], "label": option["label"]} for option in value]


def _options(value: object) -> list[str]:
    if not isinstance(value, list) or not value:
        raise errors.missing("multiCategoryOptions is required for a multiple-choice attribute")
    if not all(isinstance(option, str) and 0 < len(option) <= 200 for option in value):
        raise errors.invalid("Invalid multiCategoryOptions")
    return list(value)
