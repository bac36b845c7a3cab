"""``koopsuz evidence``: the installation's public key, signed exports, and offline verification.

``verify`` needs no database and no server: a court's expert runs it on a copy of the package.
Exit codes: 0 intact, 1 altered or not signed by the trusted key, 2 not a package / unusable key.
"""

from __future__ import annotations

import getpass
import json
from datetime import datetime
from pathlib import Path
from typing import Annotated

import typer
from rich.console import Console
from rich.markup import escape

from koopsuz.config import Settings
from koopsuz.domain.evidence_manifest import InvalidKey, grouped
from koopsuz.security.evidence_package import PackageError, Report, check, read_package
from koopsuz.security.signing import InstallationKey, SigningKeyError

app = typer.Typer(help="Signed evidence packages: publish the key, export, verify offline.", no_args_is_help=True)
console = Console(highlight=False)
err = Console(stderr=True, highlight=False)
DataDir = Annotated[Path | None, typer.Option("--data-dir", help="where the database and keys live [default: ./var]")]


def _settings(data_dir: Path | None) -> Settings:
    s = Settings()
    return s.model_copy(update={"data_dir": data_dir}) if data_dir is not None else s


def _key(data_dir: Path | None) -> InstallationKey:
    return InstallationKey(_settings(data_dir).data_dir / "keys")


def _fail(message: str, code: int = 2) -> None:
    err.print(f"[red]error:[/red] {escape(message)}")
    raise typer.Exit(code)


@app.command("key")
def key(
    data_dir: DataDir = None,
    out: Annotated[Path | None, typer.Option("--out", help="also write the public key (PEM) to this file")] = None,
) -> None:
    """Print the installation's public key and fingerprint (created on first use) to publish or hand to courts."""
    k = _key(data_dir)
    created = not k.exists()
    try:
        pub = k.public()
    except SigningKeyError as exc:
        _fail(str(exc))
    if created:
        err.print(f"created a new installation key at {k.path} (keep it secret, back it up)")
    if out is not None:
        out.write_bytes(pub.pem)
    console.print(pub.pem.decode().rstrip())
    console.print(f"key id (fingerprint): {pub.key_id}   [{grouped(pub.key_id)}]")


@app.command("verify")
def verify(
    package: Annotated[
        Path, typer.Argument(help="the package: the .zip as exported, or the folder it was unpacked to")
    ],
    key: Annotated[
        Path | None, typer.Option("--key", help="the installation's PUBLISHED public key (PEM) to trust")
    ] = None,
    as_json: Annotated[bool, typer.Option("--json", help="machine-readable result on stdout")] = False,
    data_dir: DataDir = None,
) -> None:
    """Check a package offline: signature, every file's SHA-256, nothing missing or added.

    Trusts --key if given, else this machine's installation key, else (with a loud warning) the key
    inside the package, which proves only that the package is internally consistent.
    """
    trusted, trust = None, None
    if key is not None:
        try:
            trusted, trust = key.read_bytes(), "given"
        except OSError as exc:
            _fail(f"cannot read the key {key}: {exc.strerror}")
    else:
        local = _key(data_dir)
        if local.exists():
            try:
                trusted, trust = local.public().pem, "installation"
            except SigningKeyError as exc:
                _fail(str(exc))
    try:
        report = check(read_package(package), trusted, trust)
    except (PackageError, InvalidKey) as exc:
        _fail(str(exc))
    if as_json:
        typer.echo(json.dumps(report.to_json(), ensure_ascii=False, indent=2))
    else:
        _print(report)
    raise typer.Exit(0 if report.ok else 1)


def _print(report: Report) -> None:
    v = report.verification
    m = v.manifest or {}
    source = {"given": "the key given with --key", "installation": "this installation's key"}.get(
        report.trust, "the key INSIDE the package"
    )
    if report.warning:
        err.print(f"[bold yellow]WARNING:[/bold yellow] {escape(report.warning)}")
    if report.ok:
        console.print(
            f"[bold green]VERIFIED[/bold green]: signature valid, {v.files_checked} files intact, none missing or added"
        )
    else:
        console.print("[bold red]NOT VERIFIED[/bold red]: this package is not what was signed")
        for p in v.problems:
            console.print(f"  [red]{p.kind}[/red] {escape(p.path or '')}: {escape(p.detail)}")
    console.print(f"trusted key: {report.trusted_key_id} [{grouped(report.trusted_key_id)}] ({source})")
    case = m.get("case") if isinstance(m.get("case"), dict) else {}
    exporter = m.get("exporter") if isinstance(m.get("exporter"), dict) else {}
    if case:
        console.print(f"case: {escape(str(case.get('number')))} · legal basis: {escape(str(case.get('legal_basis')))}")
    if exporter:
        when = (m.get("exported_at") or {}).get("local") if isinstance(m.get("exported_at"), dict) else None
        console.print(
            f"exported by {escape(str(exporter.get('username')))} ({escape(str(exporter.get('full_name')))}) at {when}"
        )
    for c in m.get("cameras") or []:
        if isinstance(c, dict):
            gaps = c.get("gaps") or []
            console.print(f"camera {escape(str(c.get('id')))}: {len(gaps)} gap(s) in the range")


def _when(option: str, value: str) -> datetime:
    try:
        return datetime.fromisoformat(value)
    except ValueError:
        _fail(f"{option}: {value!r} is not an ISO 8601 time (e.g. 2026-11-25T14:00:00+06:00)")
        raise


@app.command("export")
def export(
    camera: Annotated[list[str], typer.Option("--camera", help="camera id (repeat for up to 16 cameras)")],
    start: Annotated[str, typer.Option(help="range start, ISO 8601, e.g. 2026-11-25T14:00:00+06:00 (no offset: UTC)")],
    end: Annotated[str, typer.Option(help="range end, ISO 8601")],
    case: Annotated[str, typer.Option("--case", help="case number")],
    basis_id: Annotated[
        str, typer.Option("--basis-id", help="id of a registered legal basis allowing 'export' (GET /api/legal-bases)")
    ],
    user: Annotated[str, typer.Option("--user", help="the account the export is made under (its scope applies)")],
    reason: Annotated[str, typer.Option(help="why (kept in the audit log and manifest)")] = "",
    basis: Annotated[str, typer.Option("--basis", help="optional note beside the registered basis")] = "",
    out: Annotated[Path | None, typer.Option("--out", help="copy the finished zip here")] = None,
    redact: Annotated[
        bool, typer.Option("--redact/--no-redact", help="blur faces but the subject's, plates but the involved")
    ] = True,
    subject_photo: Annotated[
        Path | None, typer.Option("--subject-photo", help="photo (JPEG/PNG) of the subject, whose face stays")
    ] = None,
    subject_entry: Annotated[str | None, typer.Option("--subject-entry", help="or a watchlist entry id")] = None,
    involved_plate: Annotated[
        list[str] | None, typer.Option("--involved-plate", help="plate left readable (repeat)")
    ] = None,
    data_dir: DataDir = None,
) -> None:
    """Build a signed evidence package now (same checks and audit as the API) and print where it is.

    The viewing copies are redacted unless --no-redact (which needs the user's approved unmask grant
    for every camera, as in the API)."""
    import base64
    import shutil

    from koopsuz.services.errors import ServiceError
    from koopsuz.system import System

    a, b = _when("--start", start), _when("--end", end)
    system = System(_settings(data_dir))
    try:
        row_user = next((u for u in system.users.list() if u.username == user), None)
        who = system.users.get(row_user.id) if row_user is not None else None
        if who is None:
            _fail(f"no active user {user!r}: exports are made under a named account (koopsuz user list)")
        assert who is not None
        try:
            photo = base64.b64encode(subject_photo.read_bytes()).decode() if subject_photo else None
            row = system.evidence.create(
                who,
                camera,
                a,
                b,
                case,
                basis,
                reason,
                ip=f"cli:{getpass.getuser()}",
                background=False,
                legal_basis_id=basis_id,
                redact=redact,
                subject_photo=photo,
                subject_entry=subject_entry,
                involved_plates=list(involved_plate or []),
            )
        except (ServiceError, OSError) as exc:
            _fail(str(exc), 1)
        row = system.evidence.wait(row.id, 5)
        if row.status != "ready" or not row.path:
            _fail(f"export {row.id} failed: {row.error}", 1)
        path = system.settings.data_dir.resolve() / row.path
        if out is not None:
            shutil.copyfile(path, out)
            path = out
        console.print(f"export {row.id} ready: {path} ({row.size} bytes, key {row.key_id})")
    finally:
        system.stop()
