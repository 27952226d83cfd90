"""Read the Markdown tables of a paper spec (shared/specs/*.md, section 8 "Results").

Used by `deepclust.bench.transcribe` (which regenerates bench/published/*.json) and by the tests that
check every published number against the spec text. Plain string handling, no dependencies.
"""
from __future__ import annotations

import re
from dataclasses import dataclass, field

_TABLE_HEADING = re.compile(r"^#{2,4}\s+(Table\s+[0-9IVX]+)\b")
_BOLD_LINE = re.compile(r"^\*\*([^*]+)\*\*\s*$")


@dataclass
class Table:
    """One Markdown table: `name` ("Table III"), `sub` (a bold line above it inside the same section,
    e.g. "ACC" in a table split by metric, else None), header cells and body rows (cells stripped)."""
    name: str
    sub: str | None
    header: list[str]
    rows: list[list[str]] = field(default_factory=list)

    def cell(self, row_label: str, column: str, key_column: int = 0) -> str:
        """The cell in the row whose `key_column` cell is `row_label` and the column headed `column`."""
        j = self.header.index(column)
        hits = [r for r in self.rows if r[key_column] == row_label]
        if len(hits) != 1:
            raise KeyError(f"{self.name}: {len(hits)} rows labelled {row_label!r}")
        return hits[0][j]


def split_row(line: str) -> list[str]:
    line = line.strip()
    if line.startswith("|"):
        line = line[1:]
    if line.endswith("|"):
        line = line[:-1]
    # escaped pipes (p(x\|z)) are not separators
    cells = re.split(r"(?<!\\)\|", line)
    return [c.strip() for c in cells]


def results_section(text: str) -> str:
    """The text of section 8 (from '## 8.' to the next '## ' heading)."""
    m = re.search(r"^## 8\..*?$", text, flags=re.M)
    if not m:
        raise ValueError("no '## 8.' section in the spec")
    rest = text[m.end():]
    end = re.search(r"^## (?!#)", rest, flags=re.M)
    return rest[: end.start()] if end else rest


def parse_tables(text: str, section_only: bool = True) -> list[Table]:
    """All Markdown tables under '### Table N' headings (in section 8 by default)."""
    if section_only:
        text = results_section(text)
    tables: list[Table] = []
    name, sub = None, None
    lines = text.splitlines()
    last_text = ""  # the last paragraph line before a table: derived tables are announced there
    i = 0
    while i < len(lines):
        line = lines[i]
        if line.strip() and not line.lstrip().startswith("|"):
            last_text = line
        h = _TABLE_HEADING.match(line)
        b = _BOLD_LINE.match(line.strip())
        if line.startswith("#"):
            name, sub = (h.group(1) if h else None), None
            # "**Table II. SVHN** (ACC...)" style headings are bold lines, handled below
        elif b is None and line.strip().startswith("**Table"):
            m = re.match(r"\*\*(Table\s+[0-9IVX]+)\b", line.strip())
            name, sub = (m.group(1) if m else None), None
        elif b is not None:
            bm = re.match(r"(Table\s+[0-9IVX]+)\b", b.group(1))
            if bm:
                name, sub = bm.group(1), None
            else:
                sub = b.group(1).strip()
        if line.lstrip().startswith("|") and i + 1 < len(lines) and re.match(r"^\s*\|[\s:|-]+\|\s*$", lines[i + 1]):
            header = split_row(line)
            j = i + 2
            rows = []
            while j < len(lines) and lines[j].lstrip().startswith("|"):
                rows.append(split_row(lines[j]))
                j += 1
            if name is not None:
                derived = re.search(r"DERIVED|computed by", last_text, flags=re.I) is not None
                tables.append(Table(name, "derived" if derived else sub, header, rows))
            i = j
            continue
        i += 1
    return tables


def find_table(tables: list[Table], name: str, sub: str | None = None) -> Table:
    hits = [t for t in tables if t.name == name and t.sub == sub]
    if len(hits) != 1:
        raise KeyError(f"{len(hits)} tables named {name!r} (sub {sub!r})")
    return hits[0]


_NUM = re.compile(r"^(-?\d+(?:\.\d+)?)(?:\s*±\s*(\d+(?:\.\d+)?))?(\*)?$")


def parse_value(cell: str):
    """'**97.36**' -> (97.36, None, False); '53.5±7.1' -> (53.5, 7.1, False); '0.545*' -> (0.545, None, True);
    '-' or '–' -> None."""
    c = cell.replace("**", "").strip()
    if c in {"-", "–", "—", ""}:
        return None
    m = _NUM.match(c)
    if not m:
        raise ValueError(f"not a number: {cell!r}")
    return float(m.group(1)), (float(m.group(2)) if m.group(2) else None), bool(m.group(3))
