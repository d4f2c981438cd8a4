"""Imports point downward only: leaves, pure logic, adapters, stages, wiring, commands.

Stages never import each other (the shared cycle loop aside), adapters never reach into stages,
and nothing but the command line imports the composition root.
"""

from __future__ import annotations

import ast
from pathlib import Path

PACKAGE = Path(__file__).resolve().parent.parent / "mail2fax"

LEAVES = {"models", "errors", "doorbell", "backoff", "peers", "sdnotify", "logs"}
PURE = {
    "settings", "codec", "addressing", "sniffing", "message", "options", "status_mail",
    "number_policy", "passwords", "throttle", "backends.base", "backends.request_json", "mime_payload",
}  # fmt: skip
ADAPTERS = {
    "spool", "store_schema", "group_commit", "store", "mailer", "smtp_auth", "listener", "gate",
    "health", "metrics", "metrics_server", "backends.dryrun", "backends.faxout", "backends.pacing",
    "backends.ringcentral", "backends.ringcentral_auth", "backends.ringcentral_wire",
}  # fmt: skip
WIRING = {"app"}


def layer(module: str) -> int:
    if module in LEAVES:
        return 0
    if module in PURE:
        return 1
    if module in ADAPTERS:
        return 2
    if module.startswith("stages."):
        return 3
    if module in WIRING:
        return 4
    if module.startswith("commands") or module in {"cli", "__main__"}:
        return 5
    raise AssertionError(f"mail2fax.{module} has no layer: add it to tests/test_layers.py")


def modules() -> dict[str, set[str]]:
    found: dict[str, set[str]] = {}
    for path in PACKAGE.rglob("*.py"):
        name = ".".join(path.relative_to(PACKAGE).with_suffix("").parts)
        if name.endswith("__init__"):
            continue
        imports: set[str] = set()
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            if isinstance(node, ast.ImportFrom) and node.module == "mail2fax":
                imports.update(alias.name for alias in node.names)
            elif isinstance(node, ast.ImportFrom) and node.module and node.module.startswith("mail2fax."):
                imports.add(node.module.removeprefix("mail2fax."))
            elif isinstance(node, ast.Import):
                imports.update(
                    a.name.removeprefix("mail2fax.") for a in node.names if a.name.startswith("mail2fax.")
                )
        found[name] = {module for module in imports if not module.endswith("__init__")} - {"commands"}
    return found


def test_every_module_has_a_layer() -> None:
    for name in modules():
        layer(name)


def test_imports_point_downward() -> None:
    upward = [
        f"{name} -> {imported}"
        for name, imports in modules().items()
        for imported in imports
        if layer(imported) > layer(name)
    ]
    assert upward == []


def test_leaves_import_nothing_of_ours_but_leaves() -> None:
    assert {name: imports for name, imports in modules().items() if name in LEAVES and imports} == {}


def test_stages_never_import_each_other() -> None:
    crossing = [
        f"{name} -> {imported}"
        for name, imports in modules().items()
        if name.startswith("stages.")
        for imported in imports
        if imported.startswith("stages.") and imported != "stages.cycle"
    ]
    assert crossing == []
