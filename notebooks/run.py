"""Run a recipe notebook's code cells in order, without Jupyter: ``python notebooks/run.py NB``.

CI runs every notebook this way with SMOKE=1 (tests/test_notebooks.py).
"""

import json
import sys
from pathlib import Path


def run(path: str) -> dict:
    namespace: dict = {"__name__": "__main__"}
    for cell in json.loads(Path(path).read_text())["cells"]:
        if cell["cell_type"] == "code":
            exec(compile("".join(cell["source"]), f"{path}:cell", "exec"), namespace)
    return namespace


if __name__ == "__main__":
    for notebook in sys.argv[1:]:
        run(notebook)
