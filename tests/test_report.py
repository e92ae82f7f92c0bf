"""Reports and figures: the diagnostics' definitions on a hand-made iteration, and every table and
figure of the mini profile rendered from real (one-seed) runs."""
import re
import subprocess
import sys

import pytest
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


@pytest.mark.slow
def test_every_mini_figure_and_table_renders_from_real_runs(tmp_path):
    for key in ("fig3", "fig4", "fig5", "fig6", "fig7", "6"):
        out = cli(["run", "--table", key, "--profile", "mini", "--seeds", "1"], tmp_path)
        assert out.returncode == 0, out.stderr
    out = cli(["run", "--table", "2", "--profile", "mini", "--seeds", "1", "--methods", "basemodel,mwnet,gdw",
               "--levels", "0.4"], tmp_path)
    assert out.returncode == 0, out.stderr
    out = cli(["report", "--profile", "mini", "--seeds", "1"], tmp_path)
    assert out.returncode == 0, out.stderr
    reports = tmp_path / "reports" / "mini" / "seeds=1"  # a selection of seeds: a folder of its own
    for name in ("fig3", "fig4", "fig5", "fig6", "fig7", "table6", "table2_curves", "weight_vs_loss"):
        for suffix in (".png", ".pdf"):
            assert (reports / f"{name}{suffix}").stat().st_size > 1000, name
        caption = (reports / f"{name}.txt").read_text()
        assert "Profile 'mini'" in caption, name  # the stand-in note lives in the caption, not the title
    for key in "2345678":
        for suffix in ("md", "tex", "csv"):
            assert (reports / f"table{key}.{suffix}").exists()
    index = (reports / "index.md").read_text()
    assert "![fig3](fig3.png)" in index and "### Table 8" in index
    table6 = (reports / "table6.md").read_text()
    ratios = [float(v) for v in re.findall(r"\| +(\d\.\d{3}) ", table6)]
    assert len(ratios) == 100 and all(0.0 <= r <= 1.0 for r in ratios)  # 10 × 10 ratios
    assert r"\toprule" in (reports / "table6.tex").read_text()


def test_latex_escapes_every_name_uses_booktabs_and_bolds_one_best_per_column():
    """Compile-free invariants of the LaTeX table, with a user's method whose name has &, _ and η."""
    from gdw_bench.core.identity import config_hash, identity_for
    from gdw_bench.plan.config import get_profile
    from gdw_bench.plan.specs import get_table
    from gdw_bench.reporting.report import render

    def record(method, title, seed, score):
        out = {"profile": "mini", "dataset": "digits", "method": method, "method_title": title, "seed": seed,
               "corruption": {"noise": "uniform", "rate": 0.4, "imbalance": 1.0, "slug": "uniform-0.4"},
               "score": score, "curve": [], "diagnostics": False}
        out["identity"] = identity_for(out, get_profile("mini"))  # as `run` would have written it
        out["config_hash"] = config_hash(out["identity"])
        return out

    records = [record("basemodel", "BaseModel", s, 70.0 + s) for s in (1, 2, 3)]
    records += [record("mine", "η & co_1 50% ≥ café ∑", s, 90.0 + s) for s in (1, 2, 3)]
    records += [record("gdw", "GDW", s, 80.0 + s) for s in (1, 2, 3)]
    text = render(records, get_table("2"), get_profile("mini"), (1, 2, 3), "latex", methods=("basemodel", "mine", "gdw"))
    body = [line for line in text.splitlines() if not line.startswith("%")]
    source = "\n".join(body)
    assert r"\toprule" in source and r"\midrule" in source and r"\bottomrule" in source
    assert r"\ensuremath{\eta} \& co\_1 50\% \ensuremath{\ge} cafe ?" in source  # the user's name, escaped
    rows = [line for line in body if line.endswith(r"\\") and not line.startswith((" &", r"\multicolumn"))]
    cells = [row[:-2].split(" & ") for row in rows if " & " in row]
    method_rows = [c for c in cells if c[0] in ("BaseModel", "GDW") or "co" in c[0]]
    assert len(method_rows) == 3
    for j in range(1, len(method_rows[0])):
        column = [row[j] for row in method_rows]
        if any("ensuremath{\\pm}" in v for v in column):
            assert sum(v.startswith(r"\textbf{") for v in column) == 1
            assert sum(v.startswith(r"\underline{") for v in column) == 1
    assert any(c[0].startswith(r"\ensuremath{\eta}") and any(v.startswith(r"\textbf{") for v in c) for c in method_rows)
    for ch in "±†→μη—":
        assert ch not in source  # no raw Unicode symbol reaches pdflatex
    assert text.isascii(), [line for line in text.splitlines() if not line.isascii()]  # comments and footnotes too
    markdown = render(records, get_table("2"), get_profile("mini"), (1, 2, 3), "markdown",
                      methods=("basemodel", "mine", "gdw"))
    assert markdown.count("**92.00 ± 1.00**") == 1  # markdown marks the best too


@pytest.mark.slow
def test_records_of_another_configuration_are_left_out_and_counted(tmp_path):
    """A record whose config hash is not what `run` computes today (an older protocol, say) never
    mixes into a table: the cell shows as missing and the header counts the stale record."""
    import json

    from gdw_bench.plan.config import get_profile
    from gdw_bench.plan.specs import get_table
    from gdw_bench.reporting.report import load_records, render

    out = cli(["run", "--table", "2", "--seeds", "1,2", "--methods", "basemodel", "--levels", "0.4"], tmp_path)
    assert out.returncode == 0, out.stderr
    table, profile = get_table("2"), get_profile("mini")
    fresh = render(load_records(tmp_path / "results"), table, profile, (1, 2), "markdown", methods=("basemodel",))
    assert "(1/2)" not in fresh and "left out" not in fresh
    path = next((tmp_path / "results").rglob("seed-2/record.json"))
    record = json.loads(path.read_text())
    record["config_hash"] = "0123456789ab"  # as if trained under an older protocol
    path.write_text(json.dumps(record))
    text = render(load_records(tmp_path / "results"), table, profile, (1, 2), "markdown", methods=("basemodel",))
    assert "(1/2)" in text and "1 records of this profile were trained under another configuration" in text


def test_page_headings_name_what_ran_and_write_the_papers_notation_as_html():
    from gdw_bench.plan.config import PROFILES
    from gdw_bench.plan.specs import get_table
    from gdw_bench.reporting.publish import _ran_here
    from gdw_bench.reporting.site import math_text

    assert _ran_here(get_table("5"), PROFILES["mini"]) == " — here: Clothing1M → digits, 40 % uniform (stand-in)"
    assert _ran_here(get_table("2"), PROFILES["paper"]) == ""  # the paper's own data: nothing to add
    assert math_text("increased ω^c_nt, ω_{K-2} on C_j; μ = n_min") == \
        "increased ω<sup>c</sup><sub>nt</sub>, ω<sub>K-2</sub> on C<sub>j</sub>; μ = n<sub>min</sub>"
    assert math_text("GDW (gdw_clone) <b>") == "GDW (gdw_clone) &lt;b&gt;"  # a key keeps its underscore; escaped


def test_a_tables_header_names_the_hyperparameters_its_profile_sets(tmp_path):
    """A config that sets η_ω = 50 says so above the table, beside the profile's own settings."""
    from gdw_bench.plan.config import load_profile
    from gdw_bench.plan.specs import get_table
    from gdw_bench.reporting.report import header_lines

    config = tmp_path / "eta50.toml"
    config.write_text('extends = "mini"\n[methods.gdw]\nouter_lr = 50.0\n')
    lines = header_lines(get_table("2"), load_profile(config), (1, 2))
    said = [line for line in lines if line.startswith("Hyperparameters this profile sets")]
    assert len(said) == 1 and "GDW outer_lr = 50.0" in said[0] and "Fine-tuning finetune_iterations = 100" in said[0]
    table7 = [line for line in header_lines(get_table("7"), load_profile(config), (1,)) if "profile sets" in line]
    assert table7 == ["Hyperparameters this profile sets (all others at the methods' defaults): GDW outer_lr = 50.0."]
