"""An import-linter contract type: no app imports another app's private (underscore) names.

Run by ``lint-imports`` (``.importlinter``, in CI's extra checks). For every module of the root packages it
reads the ``from X import a, b`` statements (module level and inside functions, where lazy imports live) and
fails on a name that starts with one underscore (``_helper``, not ``__future__``-style dunders) imported from
a module of another root package. Inside one app, private names are the app's own business."""
from __future__ import annotations

import ast
from pathlib import Path

from importlinter import Contract, ContractCheck, fields, output


def _app(module: str) -> str:
    return module.split(".", 1)[0]


def _file(module: str) -> tuple[Path, bool] | None:
    """The module's source file (found from the working directory, without importing anything: importing
    would run the apps' code) and whether it is a package."""
    base = Path(*module.split("."))
    for path, is_package in ((base / "__init__.py", True), (base.with_suffix(".py"), False)):
        if path.is_file():
            return path, is_package
    return None


def _resolve(module: str, node: ast.ImportFrom, is_package: bool) -> str:
    if not node.level:
        return node.module or ""
    parts = module.split(".")
    base = parts if is_package else parts[:-1]
    base = base[: len(base) - (node.level - 1)]
    return ".".join(base + ([node.module] if node.module else []))


class PrivateNamesContract(Contract):
    """``ignore_modules``: modules not checked (e.g. migrations, which freeze code of their time)."""

    ignore_modules = fields.ListField(subfield=fields.StringField(), required=False)

    def check(self, graph, verbose: bool) -> ContractCheck:
        ignored = tuple(self.ignore_modules or ())
        roots = set(self.session_options.get("root_packages") or [self.session_options.get("root_package")])
        breaches: list[tuple[str, int, str, str]] = []
        for module in sorted(graph.modules):
            if _app(module) not in roots or any(part in ignored for part in module.split(".")):
                continue
            found = _file(module)
            if found is None:
                continue
            path, is_package = found
            for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
                if not isinstance(node, ast.ImportFrom):
                    continue
                target = _resolve(module, node, is_package)
                if _app(target) == _app(module) or _app(target) not in roots:
                    continue
                for alias in node.names:
                    if alias.name.startswith("_") and not alias.name.startswith("__"):
                        breaches.append((module, node.lineno, target, alias.name))
        return ContractCheck(kept=not breaches, metadata={"breaches": breaches})

    def render_broken_contract(self, check: ContractCheck) -> None:
        for module, line, target, name in check.metadata["breaches"]:
            output.print_error(f"{module}:{line} imports the private name {target}.{name}")
            output.new_line()
