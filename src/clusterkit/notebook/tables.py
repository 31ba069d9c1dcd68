"""Plain text tables for printing results in a cell, and the generated sections of the course's Markdown files."""
from __future__ import annotations

import re
from collections.abc import Sequence


def text_table(headers: Sequence[str], rows: Sequence[Sequence[object]]) -> str:
    """A plain, aligned text table (floats: whole numbers from 100 up, else 3 significant digits)."""
    def show(value):
        if isinstance(value, float):
            return f"{value:.0f}" if abs(value) >= 100 else f"{value:.3g}"
        return str(value)

    cells = [list(headers)] + [[show(v) for v in row] for row in rows]
    widths = [max(len(row[i]) for row in cells) for i in range(len(headers))]
    lines = ["  ".join(value.rjust(width) for value, width in zip(row, widths)) for row in cells]
    lines.insert(1, "  ".join("-" * width for width in widths))
    return "\n".join(lines)


def replace_between(text: str, name: str, content: str) -> str:
    """`text` with the lines between `<!-- name:begin -->` and `<!-- name:end -->` replaced by `content`
    (a section of README.md or INSTRUCTORS.md that a tool writes); ValueError when the markers are missing."""
    pattern = re.compile(rf"(<!-- {name}:begin -->\n).*?(<!-- {name}:end -->)", re.S)
    if not pattern.search(text):
        raise ValueError(f"no <!-- {name}:begin --> ... <!-- {name}:end --> markers")
    return pattern.sub(lambda m: m[1] + content + "\n" + m[2], text)
