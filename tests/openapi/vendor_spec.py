"""Regenerate brevo-contacts-v3.yaml from the project's copy of Brevo's published definition.

    python tests/openapi/vendor_spec.py /work/shared/reference/brevo-openapi-v3.yaml

Keeps the /contacts* and /processes* paths, /webhooks and /webhooks/{webhookId}, every
component they reference (transitively),
the security schemes, `servers` and `security`; everything else is cut.
"""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Any

import yaml

HERE = Path(__file__).parent
TARGET = HERE / "brevo-contacts-v3.yaml"
# The marketing webhook `brevo-sync webhooks install|status|remove` registers.
WEBHOOK_PATHS = ("/webhooks", "/webhooks/{webhookId}")
HEADER = """\
# Brevo API v3 — contacts, processes and webhooks only.
#
# Source: Brevo's published OpenAPI definition, https://api.brevo.com/v3/swagger_definition_v3.yml,
# copied from the project's reference (reference/brevo-openapi-v3.yaml, 28k lines, all of Brevo).
# Cut: every path other than /contacts*, /processes*, /webhooks and /webhooks/{webhookId}, and
# every component those paths do not reference (directly or transitively); `info.description`
# shortened. Nothing kept was edited: known flaws are handled by tests/support/openapi_check.py.
# Regenerate with: python tests/openapi/vendor_spec.py /work/shared/reference/brevo-openapi-v3.yaml
"""


def _refs(node: Any) -> set[str]:
    if isinstance(node, dict):
        found = {node["$ref"]} if isinstance(node.get("$ref"), str) else set()
        for value in node.values():
            found |= _refs(value)
        return found
    if isinstance(node, list):
        return set().union(*(_refs(item) for item in node)) if node else set()
    return set()


def _resolve(spec: dict[str, Any], ref: str) -> Any:
    node: Any = spec
    for part in ref.removeprefix("#/").split("/"):
        node = node[part]
    return node


def subset(spec: dict[str, Any]) -> dict[str, Any]:
    paths = {
        path: item
        for path, item in spec["paths"].items()
        if path.startswith(("/contacts", "/processes")) or path in WEBHOOK_PATHS
    }
    pending, kept = _refs(paths), set()
    while pending:
        ref = pending.pop()
        if ref not in kept:
            kept.add(ref)
            pending |= _refs(_resolve(spec, ref))
    components: dict[str, Any] = {"securitySchemes": spec["components"]["securitySchemes"]}
    for ref in sorted(kept):
        _, _, section, name = ref.split("/")
        components.setdefault(section, {})[name] = spec["components"][section][name]
    info = {**spec["info"],
            "description": "Brevo API v3 (contacts, processes and webhooks subset)."}
    return {
        "openapi": spec["openapi"],
        "info": info,
        "servers": spec["servers"],
        "security": spec["security"],
        "paths": paths,
        "components": components,
    }


def main(source: str) -> None:
    spec = yaml.safe_load(Path(source).read_text())
    text = yaml.safe_dump(subset(spec), sort_keys=False, allow_unicode=True, width=100)
    TARGET.write_text(HEADER + text)


if __name__ == "__main__":
    main(sys.argv[1])
