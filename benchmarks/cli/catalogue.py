"""`gdw-bench list` and `gdw-bench info`: what methods, tables, datasets, profiles and models there are.
Like every command module, it imports at the top only click and the specs; each command imports what it
reads when it runs (the method cards, the dataset catalogue, the models), so `report` loads none of them."""
from __future__ import annotations

import click

from gdw_bench.cli.common import _config_options, cli
from gdw_bench.datasets.catalogue import DATASETS
from gdw_bench.errors import UserInputError, unknown_choice
from gdw_bench.plan.config import PROFILES, resolve_profile, to_toml
from gdw_bench.plan.specs import TABLES


@cli.command("list")
@click.argument("what", default="methods")
@_config_options
def list_(what, config, sets):
    """List methods, models, tables, datasets or profiles (models: also those a --config / --set names)."""
    if (config is not None or sets) and what != "models":
        raise UserInputError(f"--config and --set go with `list models` (the models a profile names), not "
                             f"`list {what}`")

    if what == "methods":
        from gdw_bench.methods import cards  # the method cards: torch-free; `report` never loads them

        for card in cards.cards().values():
            click.echo(f"{card.key:11s} {card.title:18s} {card.paper}" +
                       (f"  [{', '.join(card.needs)}]" if card.needs else "") +
                       ("" if card.builtin else f"  (from {card.origin})"))
        for line in cards.load_errors():
            click.echo(f"warning: {line}", err=True)
    elif what == "tables":
        for t in TABLES.values():
            cols = ", ".join(dict.fromkeys(c.label for c in t.columns))
            also = f" (also trained for the regime verdict: {', '.join(t.regime_methods)})" if t.regime_methods else ""
            click.echo(f"{t.key:5s} {t.title}\n      methods: {', '.join(t.methods)}{also}\n      columns: {cols}\n"
                       f"      metric: {t.metric}\n      seeds: {','.join(map(str, t.seeds))}")
    elif what == "datasets":
        for d in DATASETS.values():
            click.echo(f"{d.key:14s} {d.num_classes:4d} classes  {d.description}")
    elif what == "profiles":
        for p in PROFILES.values():
            click.echo(f"{p.name:12s} {p.description}")
    elif what == "models":
        # torch: `list models` alone builds each model to count its parameters
        from gdw_bench.training.models import MODELS, build_model, model_plugin_errors, parameter_count, resolve_model

        errors = model_plugin_errors()  # registers the entry points' models first
        rows = {name: entry.origin for name, entry in MODELS.items()}
        if config is not None or sets:  # the models a profile names that the registry does not hold
            prof = resolve_profile("mini", config, sets)
            for dataset, protocol in prof.protocols.items():
                if protocol.model not in rows:
                    rows[protocol.model] = f"{prof.source}, datasets.{dataset}"
        click.echo(f"{'model':12s} {'params 1×28×28':>14s} {'params 3×32×32':>14s}  (10 classes)")
        for name, origin in rows.items():
            counts = [parameter_count(build_model(name, 10, pretrained=False, image_shape=shape))
                      for shape in ((1, 28, 28), (3, 32, 32))]
            where = "" if origin == "built-in" else f"  (from {origin})"
            click.echo(f"{name:12s} {counts[0]:14,d} {counts[1]:14,d}  {resolve_model(name).description}{where}")
        for line in errors:
            click.echo(f"warning: {line}", err=True)
    else:
        raise unknown_choice("list", what, ["methods", "models", "tables", "datasets", "profiles"])


@cli.command()
@click.argument("key", required=False)
@click.option("--as-config", is_flag=True, help="with a profile: print it as a TOML config to copy and edit")
@_config_options
def info(key, as_config, config, sets):
    """Describe a method, table, dataset or profile (or the profile --config / --set resolve to)."""
    if config is not None or sets or as_config:
        if key is not None and key not in PROFILES:
            raise unknown_choice("profile", key, PROFILES)
        prof = resolve_profile(key or "mini", config, sets)
        if not as_config:
            click.echo(f"# profile '{prof.name}' as resolved from {prof.source or 'the built-in definition'}")

        click.echo(to_toml(prof), nl=False)
        return
    if key is None:
        raise UserInputError("info needs a KEY (a method, table, dataset or profile) or --config FILE")
    if key.removeprefix("table") in TABLES or key in PROFILES:  # specs only: no torch for these
        _describe_spec(key)
        return

    from gdw_bench.methods import cards  # the cards, read by `info` only: `report` never loads a method module

    known = cards.cards()
    if key in known:
        click.echo(known[key].describe())
    elif key in DATASETS:
        d = DATASETS[key]
        click.echo(f"{d.key}: {d.description}; {d.num_classes} classes; meta set {d.meta_per_class} per class")
    else:
        raise unknown_choice("key", key, list(known) + list(TABLES) + list(DATASETS) + list(PROFILES))


def _describe_spec(key: str) -> None:
    """`info` of a table or a profile, from the specs alone."""
    if key.removeprefix("table") in TABLES:
        t = TABLES[key.removeprefix("table")]
        also = f" (also trained for the regime verdict: {', '.join(t.regime_methods)})" if t.regime_methods else ""
        click.echo(f"table {t.key}: {t.title}\nmethods: {', '.join(t.methods)}{also}\nmetric: {t.metric}\n"
                   f"seeds: {','.join(map(str, t.seeds))}\ncolumns:")
        for c in t.columns:
            click.echo(f"  {c.label}: {c.corruption}")
        click.echo("per profile (dataset run: model, epochs, batch, lr):")
        for p in PROFILES.values():
            runs = {p.resolve(c)[0] for c in t.columns if p.resolve(c) is not None}
            text = "; ".join(f"{d}: {p.protocols[d].model}, {p.protocols[d].epochs} epochs, batch "
                             f"{p.protocols[d].batch_size}, lr {p.protocols[d].lr:g}" for d in sorted(runs))
            click.echo(f"  {p.name}: {text or 'omitted'}")
    else:
        p = PROFILES[key]
        click.echo(f"{p.name}: {p.description}")
        for name, proto in p.protocols.items():
            click.echo(f"  {name}: {proto}")
