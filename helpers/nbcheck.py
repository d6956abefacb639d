"""Check that committed notebooks carry no outputs and exactly one ``parameters`` cell.

Run as ``python -m helpers.nbcheck notebooks`` (CI does); exits 1 listing every problem.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path


def notebook_problems(path: Path) -> list[str]:
    """Return the problems of one ``.ipynb`` file (empty when it is clean)."""
    try:
        notebook = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError) as exc:
        return [f"{path}: not a readable notebook ({exc})"]
    problems = []
    cells = notebook.get("cells", [])
    for index, cell in enumerate(cells):
        if cell.get("cell_type") != "code":
            continue
        if cell.get("outputs"):
            problems.append(f"{path}: cell {index} has outputs (clear them before committing)")
        if cell.get("execution_count") is not None:
            problems.append(f"{path}: cell {index} has an execution count")
    tagged = sum("parameters" in cell.get("metadata", {}).get("tags", []) for cell in cells)
    if tagged != 1:
        problems.append(f"{path}: {tagged} cells tagged 'parameters' (exactly one needed)")
    return problems


def main(argv: list[str] | None = None) -> int:
    folders = [Path(arg) for arg in (argv if argv is not None else sys.argv[1:])] or [
        Path("notebooks")]
    problems = []
    for folder in folders:
        for path in sorted(folder.glob("*.ipynb")):
            problems.extend(notebook_problems(path))
    for line in problems:
        print(line, file=sys.stderr)
    return 1 if problems else 0


if __name__ == "__main__":
    sys.exit(main())
