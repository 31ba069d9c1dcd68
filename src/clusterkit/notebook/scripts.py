"""Per-rank scripts seen from a notebook: show one (or a part of it), import one to test its functions."""
from __future__ import annotations

import importlib.util
import os
from pathlib import Path


def show_script(path: str | os.PathLike, start: str | None = None, end: str | None = None):
    """Display a per-rank script (or the part between two marker lines) with syntax colouring."""
    from IPython.display import Code

    text = Path(path).read_text()
    if start is not None:
        text = text[text.index(start):]
    if end is not None:
        text = text[: text.index(end) + len(end)]
    return Code(text, language="python")


def load_script(path: str | os.PathLike):
    """Import a per-rank script as a module, to test its functions in the notebook (main() does not run)."""
    path = Path(path)
    spec = importlib.util.spec_from_file_location(path.stem, path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module
