"""What a report is asked, resolved once: ``resolve_query(root, ...)`` → a ``ReportQuery``.

The profile it describes (a config and --set on a profile, a run stored under the results root by that
name, or a built-in profile), the tables, the seeds a full cell has, the rows, and the selection that
names its folder — so that reports of different selections never write into each other's folder. The
command line and Python users share it; ``rows`` is checked against the records once they are read."""
from __future__ import annotations

import dataclasses
import json
from dataclasses import dataclass
from pathlib import Path

from gdw_bench import statefile
from gdw_bench.errors import UserInputError, refuse_repeats, unknown_choice
from gdw_bench.plan import runs
from gdw_bench.plan.config import PROFILES, resolve_profile
from gdw_bench.plan.specs import TABLES, Profile, TableSpec, get_table, parse_seeds

MANIFEST = "report.json"  # what a report folder holds: the selection it was rendered for


@dataclass(frozen=True, kw_only=True)
class ReportQuery:
    profile: Profile
    stored: runs.StoredRun | None  # the stored run it reads back by name, if any
    tables: tuple[TableSpec, ...]
    seeds: tuple[int, ...] | None  # the seeds a full cell has; None: each table's own
    methods: str | None  # --methods as given: None (each table's), "all", or comma-separated keys
    compare_paper: bool = False
    from_scratch: bool = False
    tuned: Profile | None = None  # --compare-tuned: the tuned run's profile, beside ``profile``
    selection: dict  # what names its folder and is written to its manifest

    def seeds_of(self, table: TableSpec):
        return self.seeds or table.seeds

    def default_folder(self) -> Path:
        """reports/<profile> for a profile's default selection; a narrower or wider one (--methods, --seeds,
        --compare-paper, --from-scratch) in a sub-folder named for it."""
        s, parts = self.selection, []
        if s["methods"] != "each table's":
            parts.append(f"methods={s['methods']}")
        if s["seeds"] != "default":
            parts.append("seeds=" + ",".join(map(str, s["seeds"])))
        if s["compare_paper"]:
            parts.append("compare-paper")
        if s["from_scratch"]:
            parts.append("from-scratch")
        if s.get("compare_tuned"):
            parts.append(f"compare-tuned={s['compare_tuned']}")
        folder = Path("reports") / s["profile"]
        return folder / "+".join(parts).replace("/", "_") if parts else folder

    def other_selection_in(self, out: Path) -> str | None:
        """Why ``out`` must not take this report (it holds another selection's files), or None."""
        before = statefile.read(out / MANIFEST, "report manifest", statefile.object_problem).value
        now = json.loads(json.dumps(self.selection))  # as the manifest holds it: lists, not tuples
        if before is None or before == now:
            return None
        changed = ", ".join(f"{k} {before.get(k)!r} → {v!r}" for k, v in now.items() if before.get(k) != v)
        return (f"--out {out} holds the report of another selection ({changed}); valid: another --out, or leave "
                f"--out out (each selection gets its own folder)")

    def rows(self, known: list[str]):
        """The rows of --methods against the methods with records (``known``): None, "all", or keys."""
        methods = self.methods
        if methods is None or methods.strip() == "all":
            return methods and "all"
        keys = tuple(k.strip() for k in methods.split(",") if k.strip())
        refuse_repeats("--methods", methods, keys)
        if not keys:
            raise UserInputError(f"--methods '{methods}' names no method; valid: 'all' or comma-separated keys of "
                                 f"{', '.join(known)}")
        for key in keys:
            if key not in known:
                raise unknown_choice("method", key, ["all", *known])
        return keys


def report_profile(root: Path, profile: str | None, config=None, sets: tuple = (),
                   problems: list[str] | None = None) -> tuple[Profile, runs.StoredRun | None]:
    """(profile, stored run or None) a report describes: --config/--set on a profile as `run` resolves
    them; else a run stored under the results root by that name (what was trained, with no --config/--set
    needed again); else a built-in profile. Without --profile: the run written last, or 'mini' when none
    is stored. A damaged stored run is a line in ``problems`` (or, when --profile names it, the error)."""
    if config is not None or sets:
        return resolve_profile(profile or "mini", config, tuple(sets)), None
    stored_names = runs.names(root, problems) if root.is_dir() else []
    if profile is None:
        if not stored_names:
            return PROFILES["mini"], None
        profile = stored_names[0]
    if profile not in stored_names and profile not in PROFILES and runs.stored(root, profile):
        runs.load(root, profile)  # a stored run of that name that cannot be read: its reason, not "unknown profile"
    if profile in stored_names:
        stored = runs.load(root, profile)
        if stored.axes:  # the header says what was swept, and how its rows are named
            swept = "; ".join(f"{k} = {', '.join(map(str, v))}" for k, v in stored.axes)
            note = f"{stored.profile.description}. Swept (run '{stored.name}'): {swept}, one row per value"
            return dataclasses.replace(stored.profile, description=note), stored
        return stored.profile, stored
    if profile not in PROFILES:
        raise unknown_choice("profile", profile, [*PROFILES, *stored_names])
    return PROFILES[profile], None


def resolve_query(root: Path, *, table_key: str | None = None, profile: str | None = None, seeds: str | None = None,
                  methods: str | None = None, compare_paper: bool = False, from_scratch: bool = False,
                  summary_only: bool = False, config=None, sets: tuple = (),
                  problems: list[str] | None = None, compare_tuned: str | None = None) -> ReportQuery:
    """Every option checked (one-line ``UserInputError``) before a record is read."""
    prof, stored = report_profile(Path(root), profile, config, sets, problems)
    chosen = parse_seeds(seeds) if seeds is not None else None
    chosen = chosen or (tuple(stored.seeds) if stored and stored.seeds else None) or prof.seeds
    keys = [k.strip() for k in table_key.split(",") if k.strip()] if table_key else []
    if len(keys) > 1 and not summary_only:
        raise UserInputError(f"--table {table_key}: several tables only with --summary; valid: one table, or "
                             f"--summary --table 2,3,4,8, or no --table for the full report")
    tables = tuple(get_table(k) for k in keys) if keys else tuple(TABLES.values())
    selection = {"profile": stored.name if stored else prof.name,  # a sweep's report: a folder of its own
                 "seeds": list(parse_seeds(seeds)) if seeds is not None else "default",
                 "methods": methods or "each table's", "compare_paper": compare_paper, "from_scratch": from_scratch}
    tuned = None
    if compare_tuned is not None:  # only when asked: the manifests of earlier reports stay what they were
        selection["compare_tuned"] = compare_tuned
        tuned, _ = report_profile(Path(root), compare_tuned, problems=problems)
    return ReportQuery(profile=prof, stored=stored, tables=tables, seeds=tuple(chosen) if chosen else None,
                       methods=methods, compare_paper=compare_paper, from_scratch=from_scratch, tuned=tuned,
                       selection=selection)
