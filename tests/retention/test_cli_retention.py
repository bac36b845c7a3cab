"""``koopsuz retention show|run`` and ``koopsuz lock add|list|remove`` from the shell."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path

from typer.testing import CliRunner

from koopsuz.cli import app
from koopsuz.config import Settings
from koopsuz.security.principal import Scope
from koopsuz.system import System
from tests.conftest import DATA
from tests.retention.test_retention_service import lay_session, segments

runner = CliRunner(env={"COLUMNS": "200"})


def test_retention_and_lock_commands(tmp_path: Path, monkeypatch) -> None:  # type: ignore[no-untyped-def]
    monkeypatch.setenv("KOOPSUZ_RECORDING_MIN_FREE_MB", "0")
    d = ["--data-dir", str(tmp_path)]
    system = System(Settings(data_dir=tmp_path, secret_key="t"))
    system.load_deployment(DATA / "two-regions.yaml")
    old = datetime.now(UTC).replace(microsecond=0) - timedelta(days=40)
    lay_session(system, "yk-cam-1", "KG-Y", old, 4)
    system.stop()

    r = runner.invoke(app, ["retention", "show", *d])
    assert r.exit_code == 0, r.output
    assert "school" in r.output and "14" in r.output and "event_clip" in r.output

    start, end = (old + timedelta(seconds=4)).isoformat()[:19], (old + timedelta(seconds=7)).isoformat()[:19]
    r = runner.invoke(app, ["lock", "add", "yk-cam-1", "--start", start, "--end", end, "--case", "K-7", *d])
    assert r.exit_code == 0, r.output
    assert "lock 1:" in r.output and "case K-7" in r.output
    r = runner.invoke(app, ["lock", "add", "no-cam", "--start", start, "--end", end, "--case", "K-7", *d])
    assert r.exit_code == 1 and "no camera 'no-cam'" in r.output
    r = runner.invoke(app, ["lock", "list", *d])
    assert r.exit_code == 0 and "K-7" in r.output and "in force" in r.output

    r = runner.invoke(app, ["retention", "run", "--dry-run", *d])
    assert r.exit_code == 0, r.output
    assert "DRY RUN" in r.output and "video:expired" in r.output and "spared (locked): yk-cam-1" in r.output
    r = runner.invoke(app, ["retention", "run", *d])
    assert r.exit_code == 0, r.output
    assert "retention run 1" in r.output and "3" in r.output

    r = runner.invoke(app, ["lock", "remove", "1", *d])
    assert r.exit_code == 2  # --reason is required
    r = runner.invoke(app, ["lock", "remove", "1", "--reason", "court released it", *d])
    assert r.exit_code == 0 and "released" in r.output
    r = runner.invoke(app, ["retention", "run", "--json", *d])
    assert r.exit_code == 0 and '"video:expired"' in r.output

    check = System(Settings(data_dir=tmp_path, secret_key="t"))
    try:
        assert segments(check, "yk-cam-1") == []
        entries = check.audit.search(Scope.national(), action="evidence.unlock")
        assert entries[0].actor.startswith("cli:") and entries[0].detail["reason"] == "court released it"
    finally:
        check.stop()

    bad = tmp_path / "policy.yaml"
    bad.write_text("default: {video: -3}\n")
    monkeypatch.setenv("KOOPSUZ_RETENTION_FILE", str(bad))
    r = runner.invoke(app, ["retention", "show", *d])
    assert r.exit_code == 2 and "default.video" in r.output and str(bad) in r.output
    r = runner.invoke(app, ["retention", "run", *d])
    assert r.exit_code == 2 and "default.video" in r.output
