"""Structured logs (issue 9, operations): ``KOOPSUZ_LOG_FORMAT=json``, one JSON object per line, no secret.

First the formatter and the redaction in this process (records with a camera, an exception, and
credentials in every shape the code could log them); then real ``koopsuz serve`` and ``koopsuz
api`` processes started with secrets in their environment and a camera whose RTSP URL carries a
password: every line they write to stderr is a JSON object and none holds a secret.
"""

from __future__ import annotations

import io
import json
import logging
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import httpx
import pytest
import yaml

from koopsuz.logging_setup import log_format, register_secret, setup_logging
from tests.conftest import free_port

SECRETS = {
    "KOOPSUZ_SECRET_KEY": "installation-secret-8d1f0c",
    "KOOPSUZ_S3_SECRET_ACCESS_KEY": "s3-secret-a7Qz91",
    "KOOPSUZ_METRICS_TOKEN": "scrape-token-55k2",
}
CAMERA_PASSWORD = "cam-pass-77xy"


@pytest.fixture
def restore_logging() -> object:
    root = logging.getLogger()
    saved = (root.handlers[:], root.level)
    uv = {n: (logging.getLogger(n).handlers[:], logging.getLogger(n).propagate) for n in ("uvicorn", "uvicorn.error")}
    yield None
    root.handlers[:], root.level = saved[0], saved[1]
    for n, (handlers, propagate) in uv.items():
        logging.getLogger(n).handlers[:] = handlers
        logging.getLogger(n).propagate = propagate


def test_json_lines_carry_fields_and_never_a_secret(restore_logging: object) -> None:
    out = io.StringIO()
    assert setup_logging(fmt="json", stream=out) == "json"
    register_secret("db-pass-q1w2e3")
    log = logging.getLogger("koopsuz.test")
    log.info("camera %s: stream lost (%s)", "cam-7", f"rtsp://admin:{CAMERA_PASSWORD}@10.0.0.5:554/main")
    log.warning("bus: reconnecting", extra={"region": "KG-Y", "camera": "cam-8"})
    log.error("store: postgresql+psycopg://koopsuz:db-pass-q1w2e3@pg/koopsuz refused")
    log.info("request headers: Authorization: Bearer eyJhbGciOiJIUzI1NiJ9.payload.sig")
    log.info("s3 url https://b.s3/x?X-Amz-Credential=AKIA123/20261125&X-Amz-Signature=0a1b2c3d4e5f")
    log.info("settings: password=hunter2hunter2 secret_key='k-9f8e7d6c'")
    try:
        raise RuntimeError(f"cannot open rtsp://u:{CAMERA_PASSWORD}@cam/main")
    except RuntimeError:
        log.exception("camera %s: recorder crashed", "cam-9")
    log.info("percent %d%% and a brace {not a format}", 50)

    lines = out.getvalue().splitlines()
    assert len(lines) == 8
    recs = [json.loads(line) for line in lines]  # each line one object
    for r in recs:
        assert {"time", "level", "logger", "message", "process", "thread"} <= set(r)
        assert r["time"].endswith("Z") and r["logger"] == "koopsuz.test"
    assert recs[0]["camera"] == "cam-7" and recs[0]["level"] == "info"
    assert recs[0]["message"] == "camera cam-7: stream lost (rtsp://admin:***@10.0.0.5:554/main)"
    assert (recs[1]["camera"], recs[1]["region"], recs[1]["level"]) == ("cam-8", "KG-Y", "warning")
    assert recs[6]["camera"] == "cam-9" and "RuntimeError" in recs[6]["exception"]
    assert "Traceback" in recs[6]["exception"] and CAMERA_PASSWORD not in recs[6]["exception"]
    assert recs[7]["message"] == "percent 50% and a brace {not a format}"
    text = out.getvalue()
    for secret in (CAMERA_PASSWORD, "db-pass-q1w2e3", "eyJhbGciOiJIUzI1NiJ9", "0a1b2c3d4e5f", "hunter2", "k-9f8e7d6c"):
        assert secret not in text, secret
    assert "AKIA123" not in text  # the access key id of a presigned URL's credential goes too


def test_text_format_is_redacted_too_and_bad_format_is_refused(restore_logging: object) -> None:
    out = io.StringIO()
    assert setup_logging(fmt="text", stream=out) == "text"
    logging.getLogger("koopsuz.test").warning("camera %s: rtsp://a:%s@h/x", "c1", CAMERA_PASSWORD)
    line = out.getvalue().strip()
    assert " WARNING koopsuz.test: camera c1: rtsp://a:***@h/x" in line and CAMERA_PASSWORD not in line
    with pytest.raises(ValueError, match="KOOPSUZ_LOG_FORMAT"):
        log_format("xml")


def _env(data: Path, **extra: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("KOOPSUZ_")}
    env |= SECRETS | extra | {"KOOPSUZ_LOG_FORMAT": "json", "KOOPSUZ_DATA_DIR": str(data), "KOOPSUZ_RECORD": "false"}
    return env


def test_serve_and_api_processes_log_json_without_secrets(tmp_path: Path) -> None:
    dep = tmp_path / "deployment.yaml"
    site = {"id": "s1", "name": "Karakol", "type": "street", "region": "KG-Y", "lat": 42.49, "lon": 78.39}
    dead = f"rtsp://admin:{CAMERA_PASSWORD}@127.0.0.1:{free_port()}"  # refuses: ingest logs its failures
    cam = {
        "id": "c1",
        "name": "c1",
        "site": "s1",
        "lat": 42.5,
        "lon": 78.4,
        "main_url": f"{dead}/m",
        "sub_url": f"{dead}/s",
    }
    dep.write_text(yaml.safe_dump({"name": "logs", "sites": [site], "cameras": [cam]}))
    ports = {"serve": free_port(), "api": free_port()}
    cmds = {
        "serve": ["serve", "--deployment", str(dep), "--port", str(ports["serve"])],
        "api": ["api", "--port", str(ports["api"])],
    }
    procs = {}
    for name, args in cmds.items():
        env = _env(tmp_path / name, KOOPSUZ_INGEST_BACKOFF_INITIAL_S="0.2", KOOPSUZ_INGEST_BACKOFF_MAX_S="0.5")
        procs[name] = subprocess.Popen(
            [sys.executable, "-m", "koopsuz", *args],
            env=env,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.PIPE,
        )
    try:
        for name, port in ports.items():
            deadline = time.monotonic() + 60
            while True:
                try:
                    if httpx.get(f"http://127.0.0.1:{port}/api/system/health", timeout=2).status_code == 200:
                        break
                except httpx.HTTPError:
                    pass
                assert procs[name].poll() is None, f"koopsuz {name} exited"
                assert time.monotonic() < deadline, f"koopsuz {name} did not answer"
                time.sleep(0.3)
            # a scrape with a wrong token and a login with a secret as the password: logged or not, never shown
            httpx.get(f"http://127.0.0.1:{port}/metrics", headers={"Authorization": "Bearer nope"}, timeout=5)
            body = {"username": "nobody", "password": SECRETS["KOOPSUZ_SECRET_KEY"]}
            httpx.post(f"http://127.0.0.1:{port}/api/auth/login", json=body, timeout=5)
        time.sleep(2.0)  # the dead camera's retries
    finally:
        for p in procs.values():
            p.send_signal(signal.SIGINT)
        outs = {name: p.communicate(timeout=30)[1].decode() for name, p in procs.items()}
    for name, err in outs.items():
        lines = [ln for ln in err.splitlines() if ln.strip()]
        assert lines, f"koopsuz {name} logged nothing"
        recs = []
        for ln in lines:
            try:
                recs.append(json.loads(ln))
            except json.JSONDecodeError:
                pytest.fail(f"koopsuz {name}: not a JSON line: {ln[:200]}")
        assert all({"time", "level", "logger", "message"} <= set(r) for r in recs)
        for secret in (*SECRETS.values(), CAMERA_PASSWORD):
            assert secret not in err, f"koopsuz {name} logged a secret"
        loggers = {r["logger"] for r in recs}
        assert "alembic.runtime.migration" in loggers  # another library's logger, through the same handler
        if name == "serve":
            assert any(n.startswith("koopsuz.") for n in loggers), loggers
