"""Process logging: readable lines for a person, or one JSON object per line for a log collector.

``KOOPSUZ_LOG_FORMAT=json`` (issue 9, operations) makes ``serve``, ``api``, ``worker``, ``writer``
and ``recorder`` write every record as one JSON object on stderr: ``time`` (UTC, ISO 8601 with
milliseconds), ``level``, ``logger``, ``message``, ``camera`` and ``region`` when known (passed as
``extra=`` or, for the many ``"camera %s: ..."`` messages, their first argument), ``process``,
``thread`` and ``exception`` (the traceback as one string). uvicorn's own loggers are routed to the
same handler, so a scale-out deployment's logs parse line by line (Loki, Elasticsearch, journald).

Secrets never reach a log line, in either format: a filter on the handler rewrites each message
(and traceback) before it is written. It removes the password of any ``scheme://user:pass@host``
URL (camera RTSP URLs, database and bus URLs), ``password=``/``secret=``/``token=``-style values,
``Authorization: Bearer ...`` and S3 request signatures, and every value registered with
``register_secret`` (the installation's secret key, the S3 secret key, the metrics token: done by
``setup_logging`` from the settings).
"""

from __future__ import annotations

import json
import logging
import os
import re
import sys
import threading
from datetime import UTC, datetime
from typing import IO, Any

FORMATS = ("text", "json")
TEXT_FORMAT = "%(asctime)s %(levelname)s %(name)s: %(message)s"
MASK = "***"

_secrets: set[str] = set()
_secrets_lock = threading.Lock()
_URL_PASSWORD = re.compile(r"(?P<head>[a-zA-Z][a-zA-Z0-9+.-]*://[^/\s:@'\"]*:)(?P<pw>[^@\s/'\"]+)(?P<at>@)")
_KEY_VALUE = re.compile(
    r"(?i)(?P<key>\b(?:password|passwd|pwd|secret|secret_key|secret_access_key|token|api_key|apikey|"
    r"access_token|aws_secret_access_key|x-amz-signature|signature|x-amz-credential|credential)"
    r"['\"]?\s*[=:]\s*['\"]?)(?P<val>[^\s&'\",;}]+)"
)
_BEARER = re.compile(r"(?i)\b(?P<key>(?:bearer|basic)\s+)(?P<val>[A-Za-z0-9._~+/=-]{6,})")


def register_secret(value: str | None) -> None:
    """A value that must never be written to a log (shorter than 6 characters: too common to mask)."""
    if value and len(value) >= 6:
        with _secrets_lock:
            _secrets.add(value)


def redact(text: str) -> str:
    """The text with every credential this module recognises replaced by ``***``."""
    with _secrets_lock:
        known = sorted(_secrets, key=len, reverse=True)
    for s in known:
        if s in text:
            text = text.replace(s, MASK)
    text = _URL_PASSWORD.sub(lambda m: f"{m['head']}{MASK}{m['at']}", text)
    text = _KEY_VALUE.sub(lambda m: f"{m['key']}{MASK}", text)
    return _BEARER.sub(lambda m: f"{m['key']}{MASK}", text)


class RedactingFilter(logging.Filter):
    """Rewrites each record's message (arguments merged in) and traceback without credentials."""

    def filter(self, record: logging.LogRecord) -> bool:
        camera = _camera_of(record)
        try:
            message = record.getMessage()
        except Exception:  # a bad format string must not lose the line
            message = f"{record.msg} {record.args}"
        record.msg, record.args = redact(message), None
        if camera is not None and not hasattr(record, "camera"):
            record.camera = camera
        if record.exc_info and not record.exc_text:
            record.exc_text = logging.Formatter().formatException(record.exc_info)
        if record.exc_text:
            record.exc_text = redact(record.exc_text)
        record.exc_info = None  # the redacted text is what gets written
        if record.stack_info:
            record.stack_info = redact(record.stack_info)
        return True


class JsonFormatter(logging.Formatter):
    def format(self, record: logging.LogRecord) -> str:
        out: dict[str, Any] = {
            "time": datetime.fromtimestamp(record.created, UTC)
            .isoformat(timespec="milliseconds")
            .replace("+00:00", "Z"),
            "level": record.levelname.lower(),
            "logger": record.name,
            "message": record.getMessage(),
        }
        for key in ("camera", "region", "worker"):
            value = getattr(record, key, None)
            if value is not None:
                out[key] = str(value)
        out["process"] = record.process
        out["thread"] = record.threadName
        if record.exc_info:
            out["exception"] = redact(self.formatException(record.exc_info))
        elif record.exc_text:
            out["exception"] = record.exc_text
        if record.stack_info:
            out["stack"] = record.stack_info
        return json.dumps(out, ensure_ascii=False, default=str)


def log_format(value: str | None = None) -> str:
    """The format asked for: the argument, else ``KOOPSUZ_LOG_FORMAT`` (environment or ``.env``), else text."""
    fmt = value
    if fmt is None:
        try:
            from koopsuz.config import Settings

            fmt = Settings().log_format
        except Exception:  # settings that do not validate are reported by the command itself
            fmt = os.environ.get("KOOPSUZ_LOG_FORMAT", "text")
    fmt = fmt.strip().lower()
    if fmt not in FORMATS:
        raise ValueError(f"KOOPSUZ_LOG_FORMAT={fmt!r}: use one of {', '.join(FORMATS)}")
    return fmt


def setup_logging(verbose: bool = False, fmt: str | None = None, stream: IO[str] | None = None) -> str:
    """Configure the root logger for a process; returns the format in use (``text`` or ``json``)."""
    fmt = log_format(fmt)
    _register_settings_secrets()
    handler = logging.StreamHandler(stream if stream is not None else sys.stderr)
    handler.addFilter(RedactingFilter())
    handler.setFormatter(JsonFormatter() if fmt == "json" else logging.Formatter(TEXT_FORMAT))
    logging.basicConfig(level=logging.DEBUG if verbose else logging.INFO, handlers=[handler], force=True)
    for name in ("uvicorn", "uvicorn.error", "uvicorn.access"):  # through our handler, not uvicorn's own
        lg = logging.getLogger(name)
        lg.handlers.clear()
        lg.propagate = True
    logging.getLogger("uvicorn.access").setLevel(logging.WARNING)  # one line per request: too much
    return fmt


def uvicorn_log_config() -> dict[str, Any] | None:
    """For ``uvicorn.run(log_config=...)``: None (keep ours) when logging JSON, uvicorn's default otherwise."""
    if any(isinstance(h.formatter, JsonFormatter) for h in logging.getLogger().handlers):
        return None
    from uvicorn.config import LOGGING_CONFIG

    return LOGGING_CONFIG


def _register_settings_secrets() -> None:
    try:
        from koopsuz.config import Settings

        s = Settings()
    except Exception:
        return
    register_secret(s.secret_key)
    register_secret(s.metrics_token)
    if s.s3_secret_access_key is not None:
        register_secret(s.s3_secret_access_key.get_secret_value())
    for url in (s.database_url, s.bus_url):
        m = _URL_PASSWORD.search(url or "")
        if m:
            register_secret(m["pw"])


def _camera_of(record: logging.LogRecord) -> str | None:
    """The camera of the many ``"camera %s: ..."`` messages (their first argument)."""
    msg = record.msg
    if isinstance(msg, str) and msg.startswith("camera %s") and isinstance(record.args, tuple) and record.args:
        return str(record.args[0])
    return None
