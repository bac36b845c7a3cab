"""``koopsuz access review``: the access review report from the command line.

Who can do what, in which region, when each account last signed in and last used each sensitive
permission (read from the audit log). The CLI acts as the installation's administrator (national
scope) under the name ``cli:<user>``; running the report is audited like reading it in the browser.
"""

from __future__ import annotations

import getpass
import json
from dataclasses import replace
from pathlib import Path
from typing import Annotated

import typer
from rich.console import Console
from rich.markup import escape
from rich.table import Table

from koopsuz.config import Settings
from koopsuz.security.principal import SYSTEM
from koopsuz.services.access_review import DEFAULT_DAYS, to_csv
from koopsuz.services.errors import ServiceError

app = typer.Typer(help="Access review: accounts, their powers and when they last used them.", no_args_is_help=True)
console = Console(highlight=False)
err = Console(stderr=True, highlight=False)


def _system(data_dir: Path | None):  # type: ignore[no-untyped-def]
    from koopsuz.system import System

    s = Settings()
    return System(s.model_copy(update={"data_dir": data_dir}) if data_dir is not None else s)


@app.command("review")
def review(
    days: Annotated[int, typer.Option(help="how far back the audit log is read")] = DEFAULT_DAYS,
    fmt: Annotated[str, typer.Option("--format", help="table, json or csv")] = "table",
    output: Annotated[Path | None, typer.Option("--output", "-o", help="write to this file instead")] = None,
    data_dir: Annotated[
        Path | None, typer.Option("--data-dir", help="where the database and media live [default: ./var]")
    ] = None,
) -> None:
    """Every account: role, region, last sign-in, and the last use of each sensitive permission it holds."""
    if fmt not in ("table", "json", "csv"):
        err.print(f"[red]error:[/red] --format must be table, json or csv, not {escape(fmt)!r}")
        raise typer.Exit(2)
    system = _system(data_dir)
    try:
        report = system.access_review.report(replace(SYSTEM, username=f"cli:{getpass.getuser()}"), days=days, fmt=fmt)
    except ServiceError as exc:
        err.print(f"[red]error:[/red] {escape(str(exc))}")
        raise typer.Exit(1) from None
    finally:
        system.stop()
    if fmt == "json":
        text = json.dumps(report, ensure_ascii=False, indent=2)
    elif fmt == "csv":
        text = to_csv(report)
    else:
        text = None
    if output is not None:
        output.write_text(text if text is not None else to_csv(report), encoding="utf-8")
        console.print(f"{len(report['accounts'])} accounts written to {output}")
        return
    if text is not None:
        typer.echo(text, nl=False)
        return
    table = Table(title=f"Access review, last {days} days (flags: unused = not used in {report['stale_days']} days)")
    for col in ("user", "role", "region", "last sign-in", "sensitive permissions: last used", "flags"):
        table.add_column(col)
    for a in report["accounts"]:
        uses = "\n".join(f"{p}: {(v['last_used'] or 'never')[:16]}" for p, v in a["sensitive"].items())
        table.add_row(
            escape(a["username"]) + ("" if a["active"] else " (inactive)"),
            a["role"],
            a["region"] or "national",
            (a["last_sign_in"] or "never")[:16],
            uses,
            " ".join(a["flags"]),
        )
    console.print(table)
