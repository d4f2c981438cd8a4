"""Imports point downward only, one layer per package: the folder list is the architecture.

    commands, cli          the operator's command line
    app, preflight         the composition root and the checks it runs before starting
    stages                 intake, submit, track, notify, retention
    smtp, monitor          the SMTP front; health and metrics
    queue, backends, mailer, rendering  adapters: the store, the fax services, the relay, HTML layout
    mail                   pure: what a mail says and what a status mail says
    settings, environment  the settings, and where they are read from
    models, errors, logs, sdnotify, outage, private, clock   leaves

Stages never import each other (their shared loop, doorbell, backoff, error boundary and alerts
aside), and nothing but the command line imports the composition root.
"""

from __future__ import annotations

import ast
from pathlib import Path

PACKAGE = Path(__file__).resolve().parent.parent / "mail2fax"

LAYERS: dict[str, int] = {
    "models": 0, "errors": 0, "logs": 0, "sdnotify": 0, "outage": 0, "private": 0, "clock": 0,
    "settings": 1, "environment": 1,
    "mail": 2,
    "queue": 3, "backends": 3, "mailer": 3, "rendering": 3,
    "smtp": 4, "monitor": 4,
    "stages": 5,
    "app": 6, "workers": 6, "intake_process": 6, "preflight": 6,
    "commands": 7, "cli": 7, "__main__": 7,
}  # fmt: skip
STAGE_SHARED = {"stages.cycle", "stages.doorbell", "stages.backoff", "stages.boundary", "stages.alerts"}


def layer(module: str) -> int:
    top = module.split(".")[0]
    if top not in LAYERS:
        raise AssertionError(f"mail2fax.{module} has no layer: add its package to tests/test_layers.py")
    return LAYERS[top]


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
        found[name] = {module for module in imports if not module.endswith("__init__")}
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


def test_leaves_import_nothing_of_ours() -> None:
    leaves = {name for name in modules() if layer(name) == 0}
    assert {name: imports for name, imports in modules().items() if name in leaves and imports} == {}


def test_stages_never_import_each_other() -> None:
    crossing = [
        f"{name} -> {imported}"
        for name, imports in modules().items()
        if name.startswith("stages.")
        for imported in imports
        if imported.startswith("stages.")
        and imported not in STAGE_SHARED
        and not imported.startswith(f"{name}_")  # a stage's own part, e.g. stages.submit_moves
    ]
    assert crossing == []


def test_the_pipeline_shows_in_the_folder_list() -> None:
    packages = {path.name for path in PACKAGE.iterdir() if (path / "__init__.py").is_file()}
    assert {"smtp", "mail", "queue", "stages", "backends", "commands", "monitor"} <= packages
