"""The import graph, counting every import (at the top of a module or inside a function): the layers of
the README's architecture section import only the layers below them, the suite's modules import each
other without a cycle, and an import inside a function says why it is there. Then: the commands that
only read results, specs or method cards — report, list, info, export and run --dry-run — never import
torch (checked in a fresh interpreter: ``sys.modules`` after each command). `list models` is the
exception: it builds each model to count its parameters."""
import ast
import json
import re
import subprocess
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
PACKAGE = "gdw_bench"
# pyproject's package-dir: the folders the package is made of
FOLDERS = {"benchmarks": PACKAGE, "methods": f"{PACKAGE}.methods", "datasets": f"{PACKAGE}.datasets"}
# Libraries a function may import without a comment: heavy or optional ones, loaded only by the path that
# needs them (torch stays out of planning and reports; submitit, tensorboard, pyarrow are optional).
LOADED_ON_USE = {"torch", "torchvision", "numpy", "pandas", "matplotlib", "scipy", "sklearn", "PIL", "submitit",
                 "tqdm", "tensorboard", "pyarrow", "optuna"}


def module_files() -> dict[str, Path]:
    """Every module of the package by dotted name, read from the folders pyproject maps onto it."""
    found = {}
    for folder, package in FOLDERS.items():
        for path in sorted((REPO / folder).rglob("*.py")):
            parts = list(path.relative_to(REPO / folder).with_suffix("").parts)
            if parts[-1] == "__init__":
                parts = parts[:-1]
            found[".".join([package, *parts])] = path
    return found


def _in_function(tree: ast.Module) -> set[int]:
    """The ids of the import statements inside a function (not those in a module-level ``try``/``if``)."""
    inside = set()
    for node in ast.walk(tree):
        if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef)):
            inside |= {id(n) for n in ast.walk(node) if isinstance(n, (ast.Import, ast.ImportFrom))}
    return inside


def imports(name: str, path: Path, known: set[str]):
    """Each import of ``name``: (the suite's module it reaches or None, the top library name, line number,
    inside a function, the statement). ``TYPE_CHECKING`` blocks are left out (they never run)."""
    tree = ast.parse(path.read_text())
    skipped = {id(n) for node in ast.walk(tree) if isinstance(node, ast.If) and "TYPE_CHECKING" in ast.dump(node.test)
               for n in ast.walk(node) if n is not node}
    local = _in_function(tree)
    package = name if path.name == "__init__.py" else name.rsplit(".", 1)[0]
    for node in ast.walk(tree):
        if not isinstance(node, (ast.Import, ast.ImportFrom)) or id(node) in skipped:
            continue
        if isinstance(node, ast.Import):
            targets = [a.name for a in node.names]
        else:
            base = node.module or ""
            if node.level:
                parent = package.split(".")[: len(package.split(".")) - (node.level - 1)]
                base = ".".join(parent + ([base] if base else []))
            targets = [f"{base}.{a.name}" if f"{base}.{a.name}" in known else base for a in node.names]
        for target in targets:
            suite = target if target in known else None
            if suite != name:
                yield suite, target.split(".")[0], node.lineno, id(node) in local, node


def stated_layers() -> list[list[str]]:
    """The README's layer order: "Layers, top to bottom: `cli` → `speed`, `results` → … ". Each name is a
    subpackage or a top-level module of the package."""
    line = next(line for line in (REPO / "README.md").read_text().splitlines() if line.startswith("Layers, top to bottom:"))
    return [re.findall(r"`([\w.]+)`", part) for part in line.split(":", 1)[1].split("→")]


def layer_of(module: str, layers: list[list[str]]) -> int:
    parts = module.split(".")
    group = parts[1] if len(parts) > 1 else PACKAGE
    for rank, names in enumerate(layers):
        if group in names:
            return rank
    raise AssertionError(f"{module}: its group '{group}' is in no layer of the README's order {layers}")


def test_each_layer_imports_only_the_layers_below_it_counting_every_import():
    layers = stated_layers()
    assert len(layers) >= 8, layers
    files = module_files()
    wrong = [f"{name}:{line} → {target}" for name, path in files.items()
             for target, _, line, _, _ in imports(name, path, set(files))
             if target and layer_of(target, layers) < layer_of(name, layers)]
    assert not wrong, "imports that go up the README's layers:\n" + "\n".join(wrong)


def test_the_suites_modules_import_each_other_without_a_cycle_counting_every_import():
    files = module_files()
    graph = {name: sorted({t for t, *_ in imports(name, path, set(files)) if t}) for name, path in files.items()}
    state, cycles = {}, []

    def visit(node, trail):
        state[node] = "open"
        for nxt in graph[node]:
            if state.get(nxt) == "open":
                cycles.append(trail[trail.index(nxt):] + [nxt])
            elif nxt not in state:
                visit(nxt, trail + [nxt])
        state[node] = "done"

    for name in sorted(graph):
        if name not in state:
            visit(name, [name])
    assert not cycles, "import cycles: " + "; ".join(" → ".join(c) for c in cycles)


def test_an_import_inside_a_function_says_why():
    """A heavy or optional library (``LOADED_ON_USE``) is its own reason; any other import inside a function
    carries a comment on its line or the line above, or follows one that does in the same block of imports."""
    files = module_files()
    silent = []
    for name, path in files.items():
        lines = path.read_text().splitlines()
        reasoned_until = -1  # the last line of a block of imports whose first line gave a reason
        for _, library, line, local, node in sorted(imports(name, path, set(files)), key=lambda i: i[2]):
            if not local:
                continue
            text = lines[line - 1]
            if "#" in text or lines[line - 2].strip().startswith("#") or library in LOADED_ON_USE:
                reasoned_until = node.end_lineno
            elif line <= reasoned_until + 1:
                reasoned_until = node.end_lineno
            else:
                silent.append(f"{path.relative_to(REPO)}:{line}: {text.strip()}")
    assert not silent, "imports inside functions without a reason beside them:\n" + "\n".join(silent)


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
