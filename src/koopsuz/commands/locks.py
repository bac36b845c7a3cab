"""``koopsuz lock``: hold a camera's footage for a case against retention, release it, list locks.

The CLI acts as the installation's administrator (national scope) under the name ``cli:<user>``;
every lock and unlock is audited like one made in the browser.
"""

from __future__ import annotations

import getpass
import json
from dataclasses import replace
from datetime import datetime
from pathlib import Path
from typing import Annotated

import typer
from rich.console import Console
from rich.markup import escape
from rich.table import Table

from koopsuz.config import Settings
from koopsuz.security.principal import SYSTEM, Scope
from koopsuz.services.errors import ServiceError
from koopsuz.services.evidence_locks import lock_json

app = typer.Typer(help="Evidence locks: footage held for a case is never deleted by retention.", no_args_is_help=True)
console = Console(highlight=False)
err = Console(stderr=True, highlight=False)
DataDir = Annotated[Path | None, typer.Option("--data-dir", help="where the database and media live [default: ./var]")]


def _system(data_dir: Path | None):  # type: ignore[no-untyped-def]
    from koopsuz.system import System

    s = Settings()
    return System(s.model_copy(update={"data_dir": data_dir}) if data_dir is not None else s)


def _who():  # type: ignore[no-untyped-def]
    return replace(SYSTEM, username=f"cli:{getpass.getuser()}")


def _fail(message: str, code: int = 1) -> None:
    err.print(f"[red]error:[/red] {escape(message)}")
    raise typer.Exit(code)


@app.command("add")
def add(
    camera: Annotated[str, typer.Argument(help="camera id")],
    start: Annotated[datetime, typer.Option(help="start of the footage, UTC (YYYY-MM-DDTHH:MM:SS)")],
    end: Annotated[datetime, typer.Option(help="end of the footage, UTC (YYYY-MM-DDTHH:MM:SS)")],
    case: Annotated[str, typer.Option("--case", help="case number the footage is held for")],
    reason: Annotated[str, typer.Option(help="why (kept in the audit log)")] = "",
    data_dir: DataDir = None,
) -> None:
    """Lock a camera's footage over a time range to a case."""
    system = _system(data_dir)
    try:
        row = system.evidence_locks.lock(_who(), camera, start, end, case, reason)
    except ServiceError as exc:
        _fail(str(exc))
    finally:
        system.stop()
    console.print(
        f"lock {row.id}: {camera} {row.start:%Y-%m-%d %H:%M:%S} – {row.end:%Y-%m-%d %H:%M:%S} UTC, case {case}"
    )


@app.command("remove")
def remove(
    lock_id: Annotated[int, typer.Argument(help="lock id (see koopsuz lock list)")],
    reason: Annotated[str, typer.Option(help="why the lock is released (required, audited)")],
    data_dir: DataDir = None,
) -> None:
    """Release a lock; retention may then delete the footage. The reason is audited."""
    system = _system(data_dir)
    try:
        row = system.evidence_locks.unlock(_who(), lock_id, reason)
    except ServiceError as exc:
        _fail(str(exc))
    finally:
        system.stop()
    console.print(f"lock {row.id} (case {row.case_number}) released")


@app.command("list")
def list_locks(
    camera: Annotated[str | None, typer.Option(help="only this camera")] = None,
    case: Annotated[str | None, typer.Option("--case", help="only this case")] = None,
    include_released: Annotated[bool, typer.Option("--all", help="also released locks")] = False,
    as_json: Annotated[bool, typer.Option("--json", help="print JSON")] = False,
    data_dir: DataDir = None,
) -> None:
    """List evidence locks (in force, or all with --all)."""
    system = _system(data_dir)
    try:
        rows = system.evidence_locks.list(
            Scope.national(), camera=camera, case_number=case, active=None if include_released else True
        )
    finally:
        system.stop()
    if as_json:
        console.print_json(json.dumps([lock_json(r) for r in rows]))
        return
    table = Table()
    for col in ("id", "case", "camera", "start (UTC)", "end (UTC)", "by", "reason", "state"):
        table.add_column(col)
    for r in rows:
        state = "in force" if r.unlocked_at is None else f"released by {r.unlocked_by}: {r.unlock_reason}"
        table.add_row(
            str(r.id),
            r.case_number,
            r.camera,
            f"{r.start:%Y-%m-%d %H:%M:%S}",
            f"{r.end:%Y-%m-%d %H:%M:%S}",
            r.locked_by,
            r.reason,
            state,
        )
    console.print(table if rows else "no locks")
