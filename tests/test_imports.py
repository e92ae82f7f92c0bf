"""The import graph: no cycle among the suite's modules (top-level imports), and the commands that only
read results, specs or method cards — report, list, info, export and run --dry-run — never import torch
(checked in a fresh interpreter: ``sys.modules`` after each command). `list models` is the exception: it
builds each model to count its parameters."""
import ast
import json
import subprocess
import sys
from pathlib import Path

import gdw_bench

PACKAGE = "gdw_bench"


def module_files() -> dict[str, Path]:
    """Every module of the installed package, by dotted name (the package maps several folders)."""
    import pkgutil

    found = {}
    for info in pkgutil.walk_packages(gdw_bench.__path__, PACKAGE + "."):
        spec = info.module_finder.find_spec(info.name)
        if spec is not None and spec.origin and spec.origin.endswith(".py"):
            found[info.name] = Path(spec.origin)
    found[PACKAGE] = Path(gdw_bench.__file__)
    return found


def top_level_imports(name: str, path: Path, known: set[str]) -> set[str]:
    """The suite's modules ``name`` imports when it is loaded (module level; not inside functions,
    where an import is deferred to the call), ``TYPE_CHECKING`` blocks excluded."""
    tree = ast.parse(path.read_text())
    package = name if path.name == "__init__.py" else name.rsplit(".", 1)[0]
    out = set()
    for node in tree.body:
        if isinstance(node, ast.If) and "TYPE_CHECKING" in ast.dump(node.test):
            continue
        nodes = [node] if isinstance(node, (ast.Import, ast.ImportFrom)) else []
        for n in nodes:
            if isinstance(n, ast.Import):
                targets = [a.name for a in n.names]
            else:
                base = n.module or ""
                if n.level:
                    parent = package.split(".")[: len(package.split(".")) - (n.level - 1)]
                    base = ".".join(parent + ([base] if base else []))
                targets = [f"{base}.{a.name}" if f"{base}.{a.name}" in known else base for a in n.names]
            out |= {t for t in targets if t in known and t != name}
    return out


def test_the_suites_modules_import_each_other_without_a_cycle():
    files = module_files()
    graph = {name: top_level_imports(name, path, set(files)) for name, path in files.items()}
    state, cycles = {}, []

    def visit(node, trail):
        state[node] = "open"
        for nxt in sorted(graph[node]):
            if state.get(nxt) == "open":
                cycles.append(trail[trail.index(nxt):] + [nxt])
            elif nxt not in state:
                visit(nxt, trail + [nxt])
        state[node] = "done"

    for name in sorted(graph):
        if name not in state:
            visit(name, [name])
    assert not cycles, "import cycles: " + "; ".join(" → ".join(c) for c in cycles)


# `report` without --profile reads the run stored last (the small grid's, at 3 epochs): no --set again
READ_ONLY_COMMANDS = [["report"], ["report", "--summary"], ["report", "--table", "2", "--format", "latex"],
                      ["report", "--table", "2", "--profile", "mini"], ["export"],  # these read no method at all
                      ["list", "tables"], ["list", "profiles"], ["list", "methods"], ["list", "datasets"],
                      ["info", "table2"], ["info", "mini"], ["info", "gdw"], ["info", "digits"],
                      ["info", "fmnist", "--as-config"],
                      # planning: the small grid's own cells (done), a --set and a sweep (missing), no torch
                      ["run", "--table", "2", "--dry-run", "--set", "epochs=3"],
                      ["run", "--table", "2", "--dry-run", "--sweep", "gdw.outer_lr=10,50,100", "--set", "epochs=20"]]

SCRIPT = """
import json, sys
from click.testing import CliRunner
from gdw_bench.cli import cli
root, out, commands = sys.argv[1], sys.argv[2], json.loads(sys.argv[3])
for i, args in enumerate(commands):  # one after another; each into a folder of its own (a report folder keeps one selection)
    extra = {"report": ["--results-dir", root, "--out", f"{out}/{i}"],
             "export": ["--results-dir", root, "--out", f"{out}/{i}/all.csv"], "run": ["--results-dir", root]}
    result = CliRunner().invoke(cli, args + extra.get(args[0], []))
    print(json.dumps({"args": args, "exit": result.exit_code, "torch": "torch" in sys.modules,
                      "methods": sorted(m for m in sys.modules if m.startswith("gdw_bench.methods")),
                      "output": result.output[-400:]}))
    if result.exit_code or "torch" in sys.modules:
        break
"""


def test_report_list_info_export_and_dry_run_never_import_torch(small_grid, tmp_path):
    """The commands run one after another in one fresh interpreter, torch checked after each: the first
    that imports it is named (and none after it can be judged, so the test stops there). With a user's method
    file in methods/ (or an installed plugin), the method cards come from the imported registry, so the
    commands that read them are left out: the rest hold regardless."""
    from gdw_bench.methods import cards

    never_read_cards = (["list", "tables"], ["list", "profiles"], ["list", "datasets"])
    commands = READ_ONLY_COMMANDS if not cards.plugins_present() else [
        c for c in READ_ONLY_COMMANDS if c[0] in ("report", "export") or c[:2] in never_read_cards]
    done = subprocess.run([sys.executable, "-c", SCRIPT, str(small_grid), str(tmp_path), json.dumps(commands)],
                          capture_output=True, text=True, timeout=600)
    assert done.returncode == 0, done.stderr
    results = [json.loads(line) for line in done.stdout.strip().splitlines() if line.startswith("{")]
    for result in results:
        assert result["exit"] == 0, (result["args"], result["output"])
        assert not result["torch"], f"`gdw-bench {' '.join(result['args'])}` imported torch"
        if result["args"][0] in ("report", "export"):  # reports read result files, never a method (nor its card)
            assert not result["methods"], (result["args"], result["methods"])
    assert len(results) == len(commands)


def test_dataclasses_of_more_than_six_fields_are_built_by_keyword():
    """A field inserted in the middle of a long dataclass must not shift positional arguments silently: each
    of the suite's dataclasses with more than six fields is keyword-only."""
    import dataclasses
    import importlib

    positional = []
    for name in module_files():
        if name.endswith("__main__"):  # runs the command line when imported
            continue
        module = importlib.import_module(name)
        for obj in vars(module).values():
            if isinstance(obj, type) and dataclasses.is_dataclass(obj) and obj.__module__ == name:
                fields = dataclasses.fields(obj)
                if len(fields) > 6 and not all(f.kw_only for f in fields):
                    positional.append(f"{name}.{obj.__name__} ({len(fields)} fields)")
    assert not positional, positional
