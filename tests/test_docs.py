"""The documentation names paths of this repository: each must exist, so a moved module or test never
leaves a reader at a dead end. README.md and every page of docs/ are read; a path is a backticked token
that starts at one of the repository's top-level folders (or names a top-level file), without
placeholders (<cell>, *, {…}) or spaces."""
import re
from pathlib import Path

import pytest

ROOT = Path(__file__).parents[1]
TOP = ("benchmarks/", "methods/", "datasets/", "tests/", "docs/", ".ci/", "results/")
TOP_FILES = ("README.md", "Makefile", "pyproject.toml")
PAGES = [ROOT / "README.md", *sorted((ROOT / "docs").glob("*.md"))]
# Paths the docs name that a run or the reader creates, not the repository: where results and reports go,
# and the example method file the docs tell a reader to save.
MADE_BY_RUNS = ("results/runs/", "results/results", "results/.slurm/", "results/costs.json", "reports/",
                "methods/sce.py")


def named_paths(text: str) -> set[str]:
    found = set()
    for token in re.findall(r"`([^`\n]+)`", text):
        token = token.strip().rstrip(".,;:")
        if any(c in token for c in "<>*{} ") or not (token.startswith(TOP) or token in TOP_FILES):
            continue
        found.add(token.split("::")[0])  # tests/x.py::test_name → the file
    return found


@pytest.mark.parametrize("page", PAGES, ids=[p.name for p in PAGES])
def test_every_path_a_page_names_exists(page):
    missing = sorted(p for p in named_paths(page.read_text(encoding="utf-8"))
                     if not p.startswith(MADE_BY_RUNS) and not (ROOT / p).exists())
    assert not missing, f"{page.name} names paths that are not in the repository: {missing}"


def test_the_readme_is_for_users_and_short():
    """The first screen says what it is and how to start; measurements and guides live in docs/."""
    text = (ROOT / "README.md").read_text(encoding="utf-8")
    assert len(text.splitlines()) <= 250
    assert "make demo" in text.split("\n## ")[1] and "make test" in text.split("\n## ")[1]
    for page in ("docs/running.md", "docs/results.md", "docs/extending.md", "docs/measurements.md",
                 "docs/architecture.md"):
        assert f"`{page}`" in text and (ROOT / page).exists()
