"""``koopsuz retention``: the effective retention policy, and a retention pass on demand.

``run`` deletes exactly what the scheduled pass would (footage past its days, the oldest footage
when over the disk budget, never a locked range) and prints the report it stores; ``--dry-run``
prints what it would delete without touching anything.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Annotated, Any

import typer
from rich.console import Console
from rich.markup import escape
from rich.table import Table

from koopsuz.config import Settings
from koopsuz.domain.retention import DataClass, PolicyError

app = typer.Typer(help="Retention: how long footage is kept, and a pass on demand.", no_args_is_help=True)
console = Console(highlight=False)
err = Console(stderr=True, highlight=False)
DataDir = Annotated[Path | None, typer.Option("--data-dir", help="where the database and media live [default: ./var]")]
Json = Annotated[bool, typer.Option("--json", help="print JSON instead of tables")]


def _settings(data_dir: Path | None) -> Settings:
    s = Settings()
    return s.model_copy(update={"data_dir": data_dir}) if data_dir is not None else s


def _fail(message: str, code: int = 2) -> None:
    err.print(f"[red]error:[/red] {escape(message)}")
    raise typer.Exit(code)


def _mb(n: int | None) -> str:
    return "—" if n is None else f"{n / 1e6:,.1f} MB"


@app.command("show")
def show(data_dir: DataDir = None, as_json: Json = False) -> None:
    """Print the effective policy: days per site type and data class, event clips, disk budget."""
    from koopsuz.services.retention import budget_of, load_policy

    settings = _settings(data_dir)
    try:
        policy = load_policy(settings)
    except PolicyError as exc:
        _fail(str(exc))
    budget = budget_of(settings)
    if as_json:
        out = {
            "source": str(settings.retention_file) if settings.retention_file else "built-in",
            "days": policy.table(),
            "event_clips": policy.event_clips.model_dump(mode="json"),
            "budget": {
                "volume": budget.volume,
                "budget_bytes": budget.budget_bytes,
                "warn_fraction": budget.warn_fraction,
                "min_free_bytes": budget.min_free_bytes,
                "shed_margin": budget.shed_margin,
            },
            "interval_s": settings.retention_interval_s,
        }
        console.print_json(json.dumps(out))
        return
    src = settings.retention_file or "built-in defaults (set KOOPSUZ_RETENTION_FILE to change)"
    table = Table(title=f"Days kept ({src})")
    table.add_column("site type")
    for cls in DataClass:
        table.add_column(str(cls), justify="right")
    for st, days in policy.table().items():
        table.add_row(st, *(str(days[str(c)]) for c in DataClass))
    console.print(table)
    rule = policy.event_clips
    console.print(
        f"event clips: events of severity >= {rule.min_severity} or kind in {list(rule.kinds)}, "
        f"{settings.clip_pre_s:g} s before to {settings.clip_post_s:g} s after"
    )
    budget_text = _mb(budget.budget_bytes) if budget.budget_bytes else "none (days only)"
    console.print(
        f"volume {budget.volume}: budget {budget_text}, warn at {budget.warn_fraction:.0%}, "
        f"keep {_mb(budget.min_free_bytes)} free; a pass every {settings.retention_interval_s:g} s while recording"
    )


@app.command("run")
def run(
    data_dir: DataDir = None,
    dry_run: Annotated[bool, typer.Option("--dry-run", help="say what would be deleted; delete nothing")] = False,
    as_json: Json = False,
) -> None:
    """Run one retention pass now and print its report (stored as a retention run unless --dry-run)."""
    from koopsuz.system import System

    try:
        system = System(_settings(data_dir))
    except PolicyError as exc:
        _fail(str(exc))
    try:
        result = system.retention.run("manual", dry_run=dry_run)
    finally:
        system.stop()
    rep = result.report
    if as_json:
        console.print_json(json.dumps(rep | {"run_id": result.run_id}, default=str))
        return
    _print_report(rep, result.run_id, dry_run)


def _print_report(rep: dict[str, Any], run_id: int | None, dry_run: bool) -> None:
    head = "DRY RUN: nothing deleted" if dry_run else f"retention run {run_id}"
    console.print(
        f"{head}; used {_mb(rep['used_before'])}, budget {_mb(rep['budget_bytes'])}, "
        f"{rep['segments_before']} segments before, {rep['segments_after']} after, {rep['duration_ms']} ms"
    )
    table = Table(title="would delete" if dry_run else "deleted")
    for col in ("camera", "class:reason", "segments", "size", "ranges (UTC)"):
        table.add_column(col)
    for cam, parts in rep["deleted"].items():
        for key, v in parts.items():
            ranges = "; ".join(f"{a} – {b}" for a, b in v["ranges"][:3]) + (" …" if len(v["ranges"]) > 3 else "")
            table.add_row(cam, key, str(v["segments"]), _mb(v["bytes"]), ranges)
    for cam, v in rep["snapshots"].items():
        table.add_row(cam, "snapshot:expired", f"{v['files']} files", _mb(v["bytes"]), "")
    console.print(table if table.row_count else "nothing to delete")
    for cam, v in rep["spared"].items():
        console.print(f"spared (locked): {cam}: {v['segments']} segments, {_mb(v['bytes'])}, locks {v['locks']}")
    if rep["need_bytes"]:
        console.print(f"space asked for: {_mb(rep['need_bytes'])}; shed {_mb(rep['shed_bytes'])}")
    if rep["unmet_bytes"]:
        console.print(f"[yellow]could not free {_mb(rep['unmet_bytes'])}: the rest is locked or already gone[/yellow]")
    console.print(f"oldest footage kept: {rep['oldest_kept'] or '—'}")
    audit = rep.get("audit") or {}
    if audit.get("error"):
        console.print(f"[red]audit log not truncated: {audit['error']}[/red]")
    elif audit.get("entries"):
        verb = "would remove" if dry_run else "removed"
        console.print(
            f"audit log: {verb} entries {audit['first_seq']}..{audit['upto_seq']} ({audit['entries']}, older than "
            f"{audit['days']} days), behind a signed anchor; `koopsuz audit verify` still checks the rest"
        )
