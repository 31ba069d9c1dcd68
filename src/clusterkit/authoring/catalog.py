"""The exercises of a module, read from its solutions: each one's task, source and solution region."""
from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path

from clusterkit.authoring.markers import regions
from clusterkit.course import MODULES
from clusterkit.machine.environment import REPO_ROOT


class SolutionNotFound(LookupError):
    pass


@dataclass(frozen=True)
class Exercise:
    task: str
    source: Path  # the solution notebook or script it comes from
    region: str  # the solution's lines from `# EXERCISE:` to `# END EXERCISE`, both included
    cell: str | None = None  # a notebook exercise: the solution cell's whole source

    @property
    def script(self) -> bool:
        return self.cell is None


def _cell_sources(notebook: Path) -> list[str]:
    cells = json.loads(notebook.read_text())["cells"]
    return ["".join(c["source"]) if isinstance(c["source"], list) else c["source"]
            for c in cells if c["cell_type"] == "code"]


def solutions_folder(folder: str | Path) -> Path:
    """The solutions/<module> folder for a module's exercise folder (or for that solutions folder itself)."""
    folder = Path(folder).resolve()
    if folder.name not in MODULES:
        raise SolutionNotFound(
            f"{folder} is not a module folder of the course ({', '.join(MODULES)}): open the exercise notebook "
            "from its module folder, so that its kernel runs there"
        )
    return REPO_ROOT / "solutions" / folder.name


def module_exercises(folder: str | Path) -> list[Exercise]:
    """Every exercise of the module whose folder is `folder`, in a fixed order: scripts, then notebooks."""
    source_folder = solutions_folder(folder)
    found = []
    for script in sorted(source_folder.glob("*.py")):
        found += [Exercise(task, script, region) for task, region in regions(script.read_text()).items()]
    for notebook in sorted(source_folder.glob("*.ipynb")):
        for cell in _cell_sources(notebook):
            found += [Exercise(task, notebook, region, cell) for task, region in regions(cell).items()]
    return found
