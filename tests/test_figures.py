"""What a reader sees in the figures and tables: one look per method everywhere, BaseModel visible,
curves over the main phase with per-panel scales, Fig. 4 readable, Table 8's regime judged from its
own BaseModel cells, Table 6's paper values, levels beyond the paper's, reader names in LaTeX."""
import dataclasses

import matplotlib.colors as mcolors
import pytest
from click.testing import CliRunner
from matplotlib.lines import Line2D

from gdw_bench.cli import cli
from gdw_bench.errors import UserInputError
from gdw_bench.methods import get_method
from gdw_bench.plan import grid
from gdw_bench.plan.config import PROFILES, load_profile
from gdw_bench.plan.specs import TABLES, get_table
from gdw_bench.reporting import figstyle, figures
from gdw_bench.reporting import report as rep

SETS = ("epochs=3",)


@pytest.fixture(scope="module")
def grid_records(small_grid):
    return rep.load_records(small_grid), load_profile(None, SETS, base="mini")


@pytest.fixture
def drawn(monkeypatch):
    """The figures a drawing function made, kept open instead of written."""
    made = []

    def keep(fig, out, name, caption):
        made.append((name, fig, caption))
        return [out / f"{name}.png"]

    monkeypatch.setattr(figures, "_save", keep)
    return made


def test_every_builtin_method_declares_its_own_colour_and_marker():
    from test_registry import builtin_methods

    looks = {key: (get_method(key).color, get_method(key).marker) for key in builtin_methods()}
    assert all(mcolors.is_color_like(c) and m in Line2D.markers for c, m in looks.values()), looks
    assert len({c for c, _ in looks.values()}) == len(looks), "two built-ins share a colour"


def test_a_method_without_a_look_gets_a_stable_one_apart_from_the_builtins():
    from test_registry import builtin_methods

    builtin = {get_method(key).color for key in builtin_methods()}
    look = figstyle.method_look("my-plugin", {"color": "", "marker": ""})
    assert look == figstyle.method_look("my-plugin") and look["color"] not in builtin
    assert figstyle.method_look("gdw", {"color": "#d62728", "marker": "*"}) == {"color": "#d62728", "marker": "*"}


def test_curves_keep_one_look_per_method_basemodel_on_top_and_the_main_phase_only(grid_records, drawn, tmp_path):
    records, profile = grid_records
    figures.learning_curves(records, get_table("2"), profile, (1, 10, 100), tmp_path)
    (_, fig, caption), = drawn
    panels = [ax for ax in fig.axes if ax.get_visible()]
    assert len(panels) == 2  # clean, 40 % uniform
    for ax in panels:
        lines = {line.get_label().split(" (n=")[0]: line for line in ax.get_lines() if not line.get_label().startswith("_")}
        assert mcolors.to_hex(lines["GDW"].get_color()) == get_method("gdw").color
        assert mcolors.to_hex(lines["BaseModel"].get_color()) == get_method("basemodel").color
        assert lines["BaseModel"].get_zorder() == max(line.get_zorder() for line in lines.values())
        assert lines["Fine-tuning"].get_linestyle() == ":"  # its main phase is BaseModel's own run
        assert ax.get_xlim()[1] < 3 * 1.2  # the 3-epoch main phase, not Fine-tuning's 100 extra epochs
    assert panels[0].get_ylim() != panels[1].get_ylim()  # each panel on its own scale
    labels = [t.get_text() for t in fig.legends[0].get_texts()]
    assert labels[0] == "BaseModel" and "Fine-tuning, after its extra phase" in labels and len(set(labels)) == len(labels)
    assert "drawn on top" in caption


def test_fig4_has_a_row_per_seed_own_scales_both_classes_marked_and_the_legend_outside(grid_records, drawn, tmp_path):
    records, profile = grid_records
    figures.fig4(records, get_table("fig4"), profile, (1, 10, 100), tmp_path)
    (_, fig, caption), = drawn
    axes = fig.axes
    assert len(axes) == 6 and "n=3 seeds" in caption
    assert not axes[0].get_shared_y_axes().joined(axes[0], axes[1])
    for ax in axes:
        ticks = " ".join(t.get_text() for t in ax.get_xticklabels())
        assert "noisy" in ticks and "true" in ticks
        assert ax.get_legend() is None
        dots = [line for line in ax.get_lines() if line.get_marker() == "o"]
        assert len(dots) == 2 and all(len(d.get_xdata()) == 10 for d in dots)  # every bar, zero or not
    shown = {t.get_text() for t in fig.legends[0].get_texts()} if fig.legends else set()
    assert shown >= {"before", "after", "noisy label", "true class"}


def test_weight_vs_loss_pools_every_seed_with_a_legend_on_both_panels(grid_records, drawn, tmp_path):
    records, profile = grid_records
    figures.weight_vs_loss(records, get_table("2"), profile, (1, 10, 100), tmp_path)
    (_, fig, caption), = drawn
    assert "n=3 seeds (1, 10, 100)" in caption
    for ax in fig.axes:
        assert ax.get_legend() is not None
        mapping = [line for line in ax.get_lines() if line.get_color() == "black"]
        assert len(mapping) == 3  # one learned mapping per seed
        wrong, correct = ax.collections[:2]
        assert correct.get_zorder() > wrong.get_zorder()  # the many correct points are not hidden


def test_table8_trains_basemodel_for_its_regime_verdict_but_does_not_print_it():
    table = get_table("8")
    cells = grid.cells_of_tables([table], PROFILES["mini"], (1,))
    assert {c.method for c in cells} == {"basemodel", "mwnet", "gdw"}
    frame, _, _ = rep.accuracy_frame([], table, PROFILES["mini"], (1,))
    assert list(frame.index) == ["MWNet", "GDW"]


def test_table6_under_compare_paper_shows_the_papers_matrix():
    paper = rep.paper_weight_ratios()
    assert paper.shape == (10, 10) and paper.loc["ω_0", "C_0"] == pytest.approx(0.036)
    assert paper.loc["ω_9", "C_9"] == pytest.approx(0.935)
    text = rep.render([], get_table("6"), PROFILES["mini"], (1,), "markdown", compare_paper=True)
    assert "The paper's Table 6" in text and "0.036" in text


def test_info_shows_what_a_none_default_resolves_to():
    out = CliRunner().invoke(cli, ["info", "gdw"]).output
    assert "outer_lr = None → 0.1·B·K: 100 at batch 100 and 10 classes" in out and "(valid: [0, ∞))" in out


def test_latex_groups_columns_under_a_readers_dataset_name():
    assert rep.reader_group("cifar10→digits") == "CIFAR-10 (digits)"
    assert rep.reader_group("cifar100") == "CIFAR-100"
    text = rep.render([], get_table("2"), PROFILES["mini"], (1,), "latex")
    assert "CIFAR-10 (digits)" in text and "cifar10→digits" not in text.split("\\begin{tabular}")[1]


def test_levels_beyond_the_papers_become_extra_columns_in_run_and_report():
    mini, table = PROFILES["mini"], get_table("2")
    cells = grid.cells_of_tables([table], mini, (1,), methods="basemodel", levels="0.2,0.8")
    assert sorted(c.corruption.slug for c in cells) == ["uniform-0.2", "uniform-0.8"]
    cells = grid.cells_of_tables([get_table("4")], mini, (1,), methods="basemodel", levels="0.05")
    assert [c.corruption.slug for c in cells] == ["imb-0.05"]
    from gdw_bench.core.identity import config_hash, identity_for

    record = {"profile": "mini", "setting": "uniform", "dataset": "digits", "level": "0.2", "diagnostics": False,
              "method": "basemodel", "seed": 1,
              "corruption": {"noise": "uniform", "rate": 0.2, "imbalance": 1.0, "slug": "uniform-0.2"}}
    record["identity"] = identity_for(record, mini)  # as `run` would have written it
    record["config_hash"] = config_hash(record["identity"])
    found = rep.with_found_levels(table, mini, [record])
    assert [c.level for c in found.columns] == ["0", "0.2", "0.4", "0.6", "0", "0.2", "0.4", "0.6"]
    assert "Levels outside the paper's: 0.2" in " ".join(rep.header_lines(found, mini, (1,)))


def test_a_configs_levels_add_columns_and_bad_levels_are_refused(tmp_path):
    config = tmp_path / "levels.toml"
    config.write_text('extends = "mini"\nlevels = {uniform = [0.3], imbalance = [0.05]}\n')
    profile = load_profile(config)
    assert profile.extra_levels == {"uniform": (0.3,), "imbalance": (0.05,)}
    cells = grid.cells_of_tables([get_table("2")], profile, (1,), methods="basemodel")
    assert sorted(c.corruption.slug for c in cells) == ["clean", "uniform-0.3", "uniform-0.4", "uniform-0.6"]
    for text, needle in (("{uniform = [1.5]}", "levels.uniform"), ("{imbalance = [0]}", "μ in (0, 1]"),
                         ("{mixed = [0.2]}", "mixed")):
        config.write_text(f'extends = "mini"\nlevels = {text}\n')
        with pytest.raises(UserInputError, match=needle.replace("(", r"\(").replace("[", r"\[")):
            load_profile(config)


def test_partial_rows_never_take_the_bold():
    table = dataclasses.replace(TABLES["2"], columns=TABLES["2"].columns[:1])
    complete = dict(zip((1, 10, 100, 1000, 10000), (90.0, 91.0, 92.5, 90.5, 91.5)))
    cells = {("a", 0): rep.Cell({1: 99.0, 10: 98.0}, 5), ("b", 0): rep.Cell(complete, 5)}
    best, _, _ = rep.significance(cells, ["a", "b"], 0)
    assert best == "b" and table.columns  # the complete row, though the partial one has the higher mean
