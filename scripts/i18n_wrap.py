"""One-off codemod (kept for reference): wrap user-facing string literals in ``_()`` (gettext_lazy) in place,
without moving code: keyword arguments verbose_name/help_text/description/label…, class-level
``verbose_name = "…"``, choices labels, admin fieldset titles, plain ``message_user`` texts, navigation sections.

    python scripts/i18n_wrap.py FILE...
"""
from __future__ import annotations

import ast
import sys

KWARGS = {"verbose_name", "verbose_name_plural", "help_text", "description", "label", "empty_label",
          "empty_value_display", "short_description", "submit_label", "title"}
ASSIGN_NAMES = {"verbose_name", "verbose_name_plural", "short_description", "site_header", "site_title",
                "index_title", "empty_value_display", "search_help_text", "title"}
IMPORT = "from django.utils.translation import gettext_lazy as _\n"


def _is_str(node) -> bool:
    return isinstance(node, ast.Constant) and isinstance(node.value, str) and node.value.strip() != "" \
        and any(c.isalpha() for c in node.value)


class Finder(ast.NodeVisitor):
    def __init__(self):
        self.targets: list[ast.AST] = []
        self.choices_depth = 0

    def add(self, node):
        if isinstance(node, ast.IfExp):  # "A" if cond else "B"
            self.add(node.body)
            self.add(node.orelse)
        elif _is_str(node):
            self.targets.append(node)

    def visit_Dict(self, node):
        for key, value in zip(node.keys, node.values):
            if isinstance(key, ast.Constant) and key.value == "title":
                self.add(value)
        self.generic_visit(node)

    def visit_FunctionDef(self, node):
        if node.name == "lookups":  # admin list filters: (("open", "Open"), …)
            for sub in ast.walk(node):
                if isinstance(sub, ast.Tuple) and len(sub.elts) == 2 and all(
                    isinstance(e, ast.Constant) and isinstance(e.value, str) for e in sub.elts
                ):
                    self.add(sub.elts[1])
        self.generic_visit(node)

    def visit_ClassDef(self, node):
        is_choices = any(
            (isinstance(b, ast.Attribute) and b.attr in {"TextChoices", "IntegerChoices"})
            or (isinstance(b, ast.Name) and b.id in {"TextChoices", "IntegerChoices"})
            for b in node.bases
        )
        for stmt in node.body:
            if isinstance(stmt, ast.Assign) and len(stmt.targets) == 1 and isinstance(stmt.targets[0], ast.Name):
                name = stmt.targets[0].id
                if name in ASSIGN_NAMES:
                    self.add(stmt.value)
                elif is_choices and name.isupper() and isinstance(stmt.value, ast.Tuple) and len(stmt.value.elts) >= 2:
                    self.add(stmt.value.elts[-1])
        self.generic_visit(node)

    def visit_Assign(self, node):
        for target in node.targets:
            if isinstance(target, ast.Attribute) and target.attr in ASSIGN_NAMES:
                self.add(node.value)
            if isinstance(target, ast.Subscript) and isinstance(target.slice, ast.Constant) and target.slice.value == "title":
                self.add(node.value)
        self.generic_visit(node)

    def visit_keyword(self, node):
        if node.arg in KWARGS:
            self.add(node.value)
        self.generic_visit(node)

    def visit_Tuple(self, node):
        # admin fieldsets: ("Title", {"fields": (...)})
        if len(node.elts) == 2 and isinstance(node.elts[1], ast.Dict) and any(
            isinstance(k, ast.Constant) and k.value in ("fields", "classes") for k in node.elts[1].keys
        ):
            self.add(node.elts[0])
        self.generic_visit(node)

    def visit_Call(self, node):
        func = node.func
        name = func.attr if isinstance(func, ast.Attribute) else getattr(func, "id", None)
        if name == "message_user" and len(node.args) >= 2:
            self.add(node.args[1])
        if name in ("Section", "money_column", "Column") and len(node.args) >= 2:
            self.add(node.args[1])
        self.generic_visit(node)


def rewrite(path: str) -> int:
    source = open(path, encoding="utf-8").read()
    tree = ast.parse(source)
    finder = Finder()
    finder.visit(tree)
    if not finder.targets:
        return 0
    lines = source.splitlines(keepends=True)
    offsets = [0]
    for line in lines:
        offsets.append(offsets[-1] + len(line))

    def pos(lineno, col):  # ast columns are utf-8 byte offsets
        line = lines[lineno - 1]
        return offsets[lineno - 1] + len(line.encode("utf-8")[:col].decode("utf-8"))

    spans = sorted({(pos(n.lineno, n.col_offset), pos(n.end_lineno, n.end_col_offset)) for n in finder.targets},
                   reverse=True)
    out = source
    for start, end in spans:
        if out[max(0, start - 2):start] == "_(":
            continue
        out = out[:start] + "_(" + out[start:end] + ")" + out[end:]
    if "gettext_lazy as _" not in out:
        # after the last top-level "from __future__"/import block line at the top of the module
        tree2 = ast.parse(out)
        insert_at = 0
        for stmt in tree2.body:
            if isinstance(stmt, (ast.Import, ast.ImportFrom)):
                insert_at = stmt.end_lineno
            elif isinstance(stmt, ast.Expr) and isinstance(getattr(stmt, "value", None), ast.Constant) and insert_at == 0:
                continue
            else:
                break
        out_lines = out.splitlines(keepends=True)
        out_lines.insert(insert_at, IMPORT)
        out = "".join(out_lines)
    ast.parse(out)
    open(path, "w", encoding="utf-8").write(out)
    return len(spans)


if __name__ == "__main__":
    for p in sys.argv[1:]:
        print(p, rewrite(p))
