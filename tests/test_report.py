"""Reports and figures: the diagnostics' definitions on a hand-made iteration, and every table and
figure of the mini profile rendered from real (one-seed) runs."""
import re
import subprocess
import sys

import torch

from gdw_bench.methods._diagnostics import HIST_EDGES, WeightDiagnostics


def test_weight_diagnostics_follow_the_papers_definitions():
    """K = 3. Instance 0: clean, label 0. Instance 1: noisy, label 1, true label 2."""
    diag = WeightDiagnostics(3)
    labels, true = torch.tensor([0, 1]), torch.tensor([0, 2])
    before = torch.tensor([[1.0, 1.0, 1.0], [1.0, 1.0, 1.0]])
    after = torch.tensor([[1.23, 0.9, 1.1], [1.5, 0.33, 1.4]])
    diag.observe(labels, true, torch.tensor([10, 11]), before, after)
    out = diag.epoch_summary()
    bin_of = lambda w: max(i for i, e in enumerate(HIST_EDGES) if e <= w)  # noqa: E731
    assert out["omega_t_hist"]["clean"][bin_of(1.23)] == 1 and sum(out["omega_t_hist"]["clean"]) == 1
    assert out["omega_t_hist"]["noisy"][bin_of(0.33)] == 1 and sum(out["omega_t_hist"]["noisy"]) == 1
    # ω^c_nt: clean instance's non-target weights (0.9↓, 1.1↑); ω^n_tt: noisy instance's true-label
    # weight (1.4↑); ω^n_nt: noisy instance's weights off its label and true label (class 0: 1.5↑)
    assert out["increased"] == {"nt_clean": [1, 2], "tt_noisy": [1, 1], "nt_noisy": [1, 1]}
    # row j = instances labelled C_j, column i = ω_i increased
    assert out["increased_by_class"] == [[1, 0, 1], [1, 0, 1], [0, 0, 0]]
    assert out["total_by_class"] == [1, 1, 0]
    assert out["examples"] == [{"index": 11, "label": 1, "true": 2, "before": [1.0, 1.0, 1.0],
                                "after": [1.5, 0.33, 1.4]}]
    assert diag.epoch_summary()["increased"]["nt_clean"] == [0, 0]  # a fresh epoch


def cli(args, cwd):
    return subprocess.run([sys.executable, "-m", "gdw_bench.cli", *args], cwd=cwd, capture_output=True, text=True)


def test_every_mini_figure_and_table_renders_from_real_runs(tmp_path):
    for key in ("fig3", "fig4", "fig5", "fig6", "fig7", "6"):
        out = cli(["run", "--table", key, "--profile", "mini", "--seeds", "1"], tmp_path)
        assert out.returncode == 0, out.stderr
    out = cli(["report", "--profile", "mini", "--seeds", "1"], tmp_path)
    assert out.returncode == 0, out.stderr
    reports = tmp_path / "reports" / "mini"
    for name in ("fig3", "fig4", "fig5", "fig6", "fig7", "table6"):
        for suffix in (".png", ".pdf"):
            assert (reports / f"{name}{suffix}").stat().st_size > 1000, name
    for key in "2345678":
        for suffix in ("md", "tex", "csv"):
            assert (reports / f"table{key}.{suffix}").exists()
    index = (reports / "index.md").read_text()
    assert "![fig3](fig3.png)" in index and "### Table 8" in index
    table6 = (reports / "table6.md").read_text()
    ratios = [float(v) for v in re.findall(r"\| +(\d\.\d{3}) ", table6)]
    assert len(ratios) == 100 and all(0.0 <= r <= 1.0 for r in ratios)  # 10 × 10 ratios
    assert r"\toprule" in (reports / "table6.tex").read_text()
