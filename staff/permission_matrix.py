"""The permission matrix as data (``staff/permission_matrix.toml``): loaded, rendered into the Markdown
table of ``staff/PERMISSIONS.md`` and compared there (``manage.py permission_matrix``). The tests read the
same file to check every role group's permissions (``tests/test_permission_matrix.py``)."""
from __future__ import annotations

import tomllib
from dataclasses import dataclass, field
from fnmatch import fnmatchcase
from pathlib import Path

MATRIX_FILE = Path(__file__).resolve().parent / "permission_matrix.toml"
PERMISSIONS_DOC = Path(__file__).resolve().parent / "PERMISSIONS.md"
START = "<!-- permission-matrix:start (rendered from staff/permission_matrix.toml: manage.py permission_matrix --write) -->"
END = "<!-- permission-matrix:end -->"
NO = "–"


@dataclass(frozen=True)
class Row:
    what: str
    cells: dict[str, str]
    perms: dict[str, list[str]] = field(default_factory=dict)
    lacks: dict[str, list[str]] = field(default_factory=dict)
    scopes: dict[str, list[str]] = field(default_factory=dict)

    def cell(self, role: str) -> str:
        return self.cells.get(role, NO)

    def exact_perms(self) -> set[str]:
        """Every exact permission (not a pattern) the row names for any role."""
        return {p for perms in self.perms.values() for p in perms if not any(c in p for c in "*?[")}


@dataclass(frozen=True)
class Matrix:
    roles: list[str]
    rows: list[Row]

    def covers(self, role: str, perm: str) -> bool:
        """``perm`` is named (or matched by a pattern) in one of ``role``'s rows."""
        return any(fnmatchcase(perm, p) for row in self.rows for p in row.perms.get(role, ()))


def matrix_load(path: Path = MATRIX_FILE) -> Matrix:
    with open(path, "rb") as handle:
        data = tomllib.load(handle)
    roles = list(data["roles"])
    rows = []
    for raw in data["row"]:
        row = Row(what=raw["what"], cells=dict(raw.get("cells", {})), perms=dict(raw.get("perms", {})),
                  lacks=dict(raw.get("lacks", {})), scopes=dict(raw.get("scopes", {})))
        unknown = {*row.cells, *row.perms, *row.lacks, *row.scopes} - set(roles)
        if unknown:
            raise ValueError(f"{path.name}: row {row.what!r} names unknown role(s) {sorted(unknown)}")
        rows.append(row)
    return Matrix(roles=roles, rows=rows)


def _escape(text: str) -> str:
    return text.replace("|", "\\|")


def matrix_render(matrix: Matrix | None = None) -> str:
    """The Markdown table for people: one line per row, one column per role ("–": may not)."""
    matrix = matrix or matrix_load()
    lines = ["| | " + " | ".join(matrix.roles) + " |", "|---|" + "---|" * len(matrix.roles)]
    for row in matrix.rows:
        lines.append(f"| {_escape(row.what)} | " + " | ".join(_escape(row.cell(r)) for r in matrix.roles) + " |")
    return "\n".join(lines)


def committed_table(path: Path = PERMISSIONS_DOC) -> str:
    """The table between the markers of ``path`` (empty when the markers are missing)."""
    text = path.read_text(encoding="utf-8")
    if START not in text or END not in text:
        return ""
    return text.split(START, 1)[1].split(END, 1)[0].strip("\n")


def matrix_write(path: Path = PERMISSIONS_DOC) -> bool:
    """Put the rendered table between the markers of ``path``. Returns whether the file changed."""
    text = path.read_text(encoding="utf-8")
    before, rest = text.split(START, 1)
    _, after = rest.split(END, 1)
    new = f"{before}{START}\n{matrix_render()}\n{END}{after}"
    if new == text:
        return False
    path.write_text(new, encoding="utf-8")
    return True
