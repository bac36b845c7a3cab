"""The command line: every command has --help; registry, users and audit work from the shell."""

from __future__ import annotations

from pathlib import Path

import pytest
from typer.main import get_command
from typer.testing import CliRunner

from koopsuz.cli import app

ROOT = Path(__file__).resolve().parent.parent
runner = CliRunner(env={"COLUMNS": "200"})


def all_commands(cmd, prefix: tuple[str, ...] = ()) -> list[tuple[str, ...]]:  # type: ignore[no-untyped-def]
    out = [prefix]
    if hasattr(cmd, "commands"):
        for name, sub in cmd.commands.items():
            out += all_commands(sub, (*prefix, name))
    return out


@pytest.mark.parametrize("path", all_commands(get_command(app)), ids=lambda p: " ".join(p) or "koopsuz")
def test_every_command_has_help(path: tuple[str, ...]) -> None:
    r = runner.invoke(app, [*path, "--help"])
    assert r.exit_code == 0, r.output
    assert "Usage" in r.output


def test_required_commands_exist() -> None:
    names = {" ".join(p) for p in all_commands(get_command(app))}
    assert {
        "demo",
        "serve",
        "camera list",
        "camera add",
        "camera disable",
        "user add",
        "user list",
        "audit show",
    } <= names


def test_registry_users_and_audit_from_the_shell(tmp_path: Path) -> None:
    d = ["--data-dir", str(tmp_path)]
    bad = tmp_path / "bad.yaml"
    bad.write_text("name: x\ncameras:\n  - id: c1\n    heading: north\n")
    r = runner.invoke(app, ["check-deployment", str(bad)])
    assert r.exit_code == 1 and "line 4" in r.output and "heading" in r.output
    r = runner.invoke(app, ["check-deployment", str(ROOT / "deploy" / "issyk-kul.yaml")])
    assert r.exit_code == 0 and "16 cameras" in r.output

    from koopsuz.config import Settings
    from koopsuz.system import System

    system = System(Settings(data_dir=tmp_path))
    system.load_deployment(ROOT / "tests" / "data" / "two-regions.yaml")
    system.stop()

    r = runner.invoke(app, ["camera", "list", *d, "--region", "KG-Y"])
    assert r.exit_code == 0 and "yk-cam-1" in r.output and "ch-cam-1" not in r.output
    r = runner.invoke(
        app,
        [
            "camera",
            "add",
            "yk-cam-2",
            "--site",
            "yk-square",
            "--main-url",
            "rtsp://10.1.1.2/main",
            "--sub-url",
            "rtsp://10.1.1.2/sub",
            "--lat",
            "42.49",
            "--lon",
            "78.39",
            *d,
        ],
    )
    assert r.exit_code == 0, r.output
    r = runner.invoke(
        app,
        [
            "camera",
            "add",
            "yk-cam-3",
            "--site",
            "yk-square",
            "--main-url",
            "ftp://x",
            "--sub-url",
            "rtsp://10.1.1.2/sub",
            "--lat",
            "42.49",
            "--lon",
            "78.39",
            *d,
        ],
    )
    assert r.exit_code == 1 and "main_url" in r.output
    r = runner.invoke(app, ["camera", "disable", "yk-cam-2", *d])
    assert r.exit_code == 0
    r = runner.invoke(app, ["camera", "disable", "nope", *d])
    assert r.exit_code == 1 and "no camera" in r.output
    r = runner.invoke(
        app,
        ["user", "add", "op1", "--role", "regional_operator", "--region", "KG-Y", "--password", "long-enough-pw", *d],
    )
    assert r.exit_code == 0, r.output
    r = runner.invoke(app, ["user", "add", "op2", "--role", "regional_operator", "--password", "long-enough-pw", *d])
    assert r.exit_code == 1 and "needs a region" in r.output
    r = runner.invoke(app, ["user", "list", *d])
    assert "op1" in r.output and "op2" not in r.output
    assert runner.invoke(app, ["user", "disable", "op1", *d]).exit_code == 0
    assert runner.invoke(app, ["user", "disable", "ghost", *d]).exit_code == 1
    r = runner.invoke(app, ["audit", "show", *d, "--json"])
    assert r.exit_code == 0
    assert {"camera.create", "camera.update", "user.create", "config.deployment"} <= set(
        __import__("re").findall(r'"action": "([a-z.]+)"', r.output)
    )
    r = runner.invoke(app, ["audit", "verify", *d])
    assert r.exit_code == 0 and "intact" in r.output
