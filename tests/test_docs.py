"""Every reference a docstring makes to the protocol notes resolves inside the repository."""
import re
from pathlib import Path

import pytest

ROOT = Path(__file__).parents[1]


def test_every_docs_reference_names_an_existing_section():
    headings = {}
    for doc in (ROOT / "docs").glob("*.md"):
        headings[f"docs/{doc.name}"] = set(re.findall(r"^#+ (\d+[a-z]?(?:\.\d+)?)\.? ", doc.read_text(), flags=re.M))
    references = []
    for folder in ("methods", "datasets", "benchmarks"):
        for source in (ROOT / folder).glob("*.py"):
            for doc, section in re.findall(r"(docs/\w+\.md) §(\d+[a-z]?(?:\.\d+)?)", source.read_text()):
                references.append((source.name, doc, section))
                assert doc in headings, (source.name, doc)
                assert section in headings[doc], f"{source.name} cites {doc} §{section}, which has no such section"
    assert len(references) >= 15
    assert not [s for s in (ROOT / "methods").glob("*.py") if re.search(r"(?<!docs/)\b(gdw_protocol|baselines)\.md",
                                                                         s.read_text())]


@pytest.mark.slow
def test_reports_never_import_methods_or_the_engine():
    import subprocess
    import sys

    code = ("import sys, gdw_bench.reporting.report, gdw_bench.reporting.figures, gdw_bench.results, "
            "gdw_bench.plan.identity, "
            "gdw_bench.storage.record; print(sorted(m for m in sys.modules if m.startswith('gdw_bench.methods') or "
            "m in ('gdw_bench.training.engine', 'gdw_bench.plan.grid', 'gdw_bench.execution.workers')))")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    assert out.returncode == 0 and out.stdout.strip() == "[]", out.stdout + out.stderr
