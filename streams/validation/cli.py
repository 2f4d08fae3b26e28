"""`cshealth validate`: one run, the measures of issue 14 and whether they meet their goals."""
from __future__ import annotations

import sys
from pathlib import Path

import click


@click.command("validate")
@click.option("--customers", type=click.IntRange(20), default=800, show_default=True, help="Simulated customers.")
@click.option("--days", type=click.IntRange(30), default=120, show_default=True, help="Simulated days.")
@click.option("--seed", type=int, default=11, show_default=True,
              help="Simulator seed (the activity model was fitted on seed 3: use another).")
@click.option("--cutoff", type=click.FloatRange(0.1, 0.95), default=0.75, show_default=True,
              help="Simulator cut-off, as a share of the days: the score there ranks churn by the end.")
@click.option("--real-data/--no-real-data", default=True, show_default=True,
              help="Also score the CDNOW purchase history (fetched once from PyPI's lifetimes 0.11.3 wheel).")
@click.option("--cdnow", "cdnow_path", type=click.Path(exists=True, dir_okay=False, path_type=Path),
              help="A local CDNOW_master.txt instead of the download.")
@click.option("--config", "config_path", type=click.Path(exists=True, dir_okay=False, path_type=Path),
              help="Health config file (default: the packaged one).")
@click.option("--json", "json_out", type=click.Path(dir_okay=False, path_type=Path), help="Write every figure here.")
@click.option("--check", is_flag=True, help="Exit 1 when a goal is not met.")
def validate_command(customers: int, days: int, seed: int, cutoff: float, real_data: bool, cdnow_path: Path | None,
                     config_path: Path | None, json_out: Path | None, check: bool) -> None:
    """Does the health score predict, stay calm and explain itself? AUC against recency and BG/NBD,
    health changes per month, alert recall and timing, on the simulator and a real purchase history."""
    import orjson

    from handlers.config import load_config
    from streams.validation import cdnow, report, run

    config = load_config(str(config_path) if config_path else None)
    click.echo(f"simulator: {customers} customers, {days} days, seed {seed} ...", err=True)
    sim = run.simulator(config, customers, days, seed, cutoff)
    real = None
    if real_data:
        click.echo("real history: CDNOW, 23,570 customers (a few minutes) ...", err=True)
        try:
            real = run.real_history(config, cdnow_path)
        except cdnow.DataError as exc:
            click.echo(f"cshealth: error: {exc} (give --cdnow FILE or --no-real-data)", err=True)
            sys.exit(2)
    rows = report.checks(sim, real)
    click.echo(f"config {config.version}; simulator cut-off day {sim['cutoff_day']} of {days}"
               + (f"; {real['data']}" if real else ""))
    click.echo(report.table(rows))
    if json_out:
        json_out.write_bytes(orjson.dumps({"simulator": sim, "real_history": real}, option=orjson.OPT_INDENT_2))
    if check and any(ok is False for *_, ok in rows):
        sys.exit(1)
