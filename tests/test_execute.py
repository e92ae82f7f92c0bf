"""Every executor hands the engine the whole ``RunOptions`` and reports each cell as a typed outcome.

For the in-process runner, the ``--jobs`` worker pool and SLURM (a real job array on the local
one-node cluster CI starts; skipped without one), one digits cell is trained with every field of
``RunOptions`` set away from its default, and the record the engine wrote must hold exactly those
options (``run_options``), with their effects on disk (TensorBoard events, the stale record kept
aside, one CPU thread). A cell the engine skips (its stale record is not to be touched) comes back
as skipped, never as trained, whichever executor ran it.
"""
import dataclasses
import json
import re
import statistics

import pytest

from gdw_bench.core.options import SKIPPED, TRAINED, CellOutcome, RunOptions
from gdw_bench.datasets import Corruption
from gdw_bench.execution import status
from gdw_bench.execution.execute import InProcess, Pool, Slurm, execute
from gdw_bench.plan.specs import Protocol
from gdw_bench.storage import store
from gdw_bench.training.engine import CellConfig

CELL = CellConfig(profile="test", dataset="digits", setting="uniform", level="0.4",
                  corruption=Corruption("uniform", 0.4), method="basemodel", seed=1,
                  protocol=Protocol(model="small_cnn", epochs=1, eval_batch_size=1000))


def slurm_runner():
    from gdw_bench.execution.slurm import SlurmOptions

    return Slurm(SlurmOptions(cpus_per_task=1, mem_gb=2), [60.0])


def slurm_up() -> bool:
    from test_slurm import slurm_cluster_up

    return slurm_cluster_up()


EXECUTORS = [pytest.param(InProcess, id="in-process"), pytest.param(lambda: Pool(1), id="pool"),
             pytest.param(slurm_runner, id="slurm", marks=[
                 pytest.mark.slow,
                 pytest.mark.skipif("not slurm_up()", reason="no SLURM cluster here (bash .ci/slurm-up.sh)")])]


def stale_record(root):
    """A finished record of the cell, then made to look trained under another configuration."""
    execute([CELL], root, RunOptions(), InProcess(), progress=False)
    path = CELL.folder(root) / store.RECORD
    record = json.loads(path.read_text())
    record["config_hash"] = "0" * 12
    path.write_text(json.dumps(record))


@pytest.mark.parametrize("make_executor", EXECUTORS)
def test_every_run_option_reaches_the_engine_and_skips_are_never_counted_as_trained(make_executor, tmp_path):
    root = tmp_path / "results"
    stale_record(root)
    # the planner thought it trainable, the engine finds the stale record: skipped, not trained
    outcome = execute([CELL], root, RunOptions(), make_executor(), statuses=["missing"], progress=False)
    assert outcome.trained == 0 and list(outcome.skipped) == ["stale"] and not outcome.failed

    options = RunOptions(device="cpu", data_dir=str(tmp_path / "data"), threads=1, tensorboard=True,
                         rerun=frozenset({"stale"}), checkpoint_every=0.0, cuda_graphs=False)
    assert all(getattr(options, f.name) != f.default for f in dataclasses.fields(RunOptions)
               if f.name != "device"), "every field set away from its default"
    outcome = execute([CELL], root, options, make_executor(), progress=False)
    assert outcome.trained == 1 and not outcome.failed and not outcome.skipped
    folder = CELL.folder(root)
    record = json.loads((folder / store.RECORD).read_text())
    assert record["run_options"] == options.for_record()
    assert record["config_hash"] == CELL.config_hash and record["torch_threads"] == 1
    assert list((folder / "tensorboard").iterdir()), "TensorBoard events"
    assert list(folder.glob(f"{store.RECORD}.stale-*")), "the stale record kept aside, not overwritten"
    # the trained cell's wall time came back with its outcome and is filed for later estimates
    from gdw_bench.plan import costs

    samples = costs.load(root)[costs._cell_key(CELL, "cpu")]  # one per training of the cell, this one last
    assert samples[-1] == pytest.approx(record["wall_time_s"])
    assert costs.estimate(CELL, None, "cpu", costs.load(root)) == pytest.approx(statistics.median(samples))


def test_outcomes_are_typed_values():
    assert CellOutcome(TRAINED).trained and not CellOutcome(SKIPPED, "busy").trained
    with pytest.raises(dataclasses.FrozenInstanceError):
        RunOptions().threads = 2


def test_execute_takes_a_plan_as_planned(tmp_path):
    """The planner's Plan goes to execute as it is: its one cell trained, then found done."""
    from gdw_bench.plan.planner import RunRequest, plan

    the_plan = plan(RunRequest(table="2", methods="basemodel", seeds="1", levels="0.4", sets=("epochs=1",)))
    assert len(the_plan.cells) == 1
    first = execute(the_plan, tmp_path, RunOptions(threads=1), InProcess(), progress=False)
    again = execute(the_plan, tmp_path, RunOptions(threads=1), InProcess(), progress=False)
    assert (first.trained, first.done_before) == (1, 0) and (again.trained, again.done_before) == (0, 1)
    assert status.cell_statuses(list(the_plan.cells), tmp_path) == ["done"]


def test_run_as_a_library_call_stores_the_run_that_report_then_reads(tmp_path):
    """plan → prepare → execute from Python does what `gdw-bench run` does: the stored run included, so a
    plain `report` describes exactly what was trained; a dry run writes nothing and imports what it needs only."""
    from click.testing import CliRunner

    from gdw_bench.cli import cli
    from gdw_bench.execution.prepare import prepare
    from gdw_bench.plan import runs
    from gdw_bench.plan.planner import RunRequest, plan

    the_plan = plan(RunRequest(table="2", methods="basemodel", seeds="1", levels="0.4", sets=("epochs=2",)))
    root = tmp_path / "results"
    dry = prepare(the_plan, root, RunOptions(device="auto", threads=1), dry_run=True)
    assert dry.todo == list(the_plan.cells) and dry.executor is None and not root.exists()
    ready = prepare(the_plan, root, RunOptions(device="auto", threads=1))
    assert ready.options.device == "cpu" and ready.stored_run == the_plan.name and runs.names(root) == [the_plan.name]
    outcome = ready.execute(progress=False)
    assert (outcome.trained, outcome.failed) == (1, [])
    shown = CliRunner().invoke(cli, ["report", "--table", "2", "--results-dir", str(root), "--out", str(tmp_path / "r")])
    assert shown.exit_code == 0 and "every cell shows as missing" not in shown.output, shown.output
    assert "changed by --set epochs=2" in shown.output  # the stored run's profile, without --set again
    again = prepare(the_plan, root, RunOptions(threads=1))
    assert again.todo == [] and again.statuses == ["done"]


@pytest.mark.parametrize("fields,needle", [({"threads": 0}, "--threads 0 must be at least 1"),
                                            ({"checkpoint_every": float("nan")}, "--checkpoint-every nan must be"),
                                            ({"device": "tpu"}, "unknown device 'tpu'"),
                                            ({"rerun": {"stal"}}, "valid: stale, corrupt")])
def test_run_options_check_themselves(fields, needle):
    from gdw_bench.errors import UserInputError

    with pytest.raises(UserInputError, match=re.escape(needle)):
        RunOptions(**fields)


def test_a_model_never_timed_is_probed_before_the_estimate_and_the_probe_is_kept(tmp_path):
    """A config that trains another model than its profile's has no calibration: `run` times BaseModel with
    that model for a moment (stored in costs.json), a dry run does the same in memory and writes nothing,
    and both estimate from it rather than from the profile's MLP number."""
    from gdw_bench.execution.prepare import prepare
    from gdw_bench.plan import costs
    from gdw_bench.plan.config import load_profile
    from gdw_bench.plan.planner import RunRequest, plan

    config = tmp_path / "cnn.toml"
    config.write_text('extends = "mini"\nname = "digits-cnn"\n[datasets.digits]\nmodel = "small_cnn"\nepochs = 2\n')
    assert ("digits", "cpu") not in load_profile(config).base_epoch_seconds  # the MLP's calibration is dropped
    assert ("digits", "cpu") in load_profile(None, ("epochs=2",)).base_epoch_seconds  # same model: kept
    the_plan = plan(RunRequest(table="2", methods="basemodel,gdw", seeds="1", levels="0.4", config=config))
    root = tmp_path / "results"
    dry = prepare(the_plan, root, RunOptions(device="cpu", threads=1), dry_run=True)
    assert not root.exists()
    ready = prepare(the_plan, root, RunOptions(device="cpu", threads=1))
    stored = costs.load(root)
    key = costs.probe_key(the_plan.cells[0], "cpu")
    assert list(stored) == [key] and stored[key][0] > 0
    by_method = dict(zip((c.method for c in ready.todo), ready.estimates))
    assert by_method["gdw"] == pytest.approx(by_method["basemodel"] * 3.5)  # the probe × epochs × relative cost
    assert by_method["basemodel"] == pytest.approx(stored[key][0] * 2)
    assert 0.2 < dry.estimate_s / ready.estimate_s < 5  # two probes of one model: the same order of magnitude
    assert not costs.needs_probe(the_plan.cells[0], the_plan.profile, "cpu", stored)
    # a built-in profile's calibration (measured on another machine) serves a torch-free dry run; `run` probes
    mini_cell = plan(RunRequest(table="2", methods="basemodel", seeds="1", levels="0.4")).cells[0]
    assert not costs.needs_probe(mini_cell, load_profile(None, ("epochs=80",)), "cpu", {}, trust_profile=True)
    assert costs.needs_probe(mini_cell, load_profile(None, ("epochs=80",)), "cpu", {})
