"""One camera's recorder: ffmpeg copies the main stream into fMP4 segments; a thread supervises it.

ffmpeg never decodes (``-c copy``), so a core keeps many cameras. It writes HLS with fMP4 segments
(one init segment per run, "session") into ``recordings/<camera>/<day>/<session>/``; with
``hls_flags temp_file`` a segment appears under its final name only once it is complete, and the
playlist names it. The supervising thread reads ffmpeg's progress (to anchor media time to the wall
clock, see ``streamclock``) and its warnings, checks each new segment box by box (``fmp4``), hashes
it and hands it on. When ffmpeg exits for any reason the thread sweeps the session folder: a
complete segment the playlist did not name yet is recovered, a cut-short one is repaired (cut after
its last whole fragment) or moved to ``quarantine/``; then it says why the session ended (stream
lost, recorder crashed, disk full, invalid stream) and starts again with backoff. What to do with
segments and endings (index them, record gaps) is the listener's business, not this module's.
"""

from __future__ import annotations

import contextlib
import hashlib
import logging
import os
import random
import re
import select
import shutil
import signal
import subprocess
import threading
import time
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Protocol

from ulid import ULID

from koopsuz.video.fmp4 import Fmp4Error, InitInfo, complete_prefix, parse_init, parse_segment
from koopsuz.video.hls import listed_segments
from koopsuz.video.recorder_causes import Cause, classify
from koopsuz.video.streamclock import StreamClock
from koopsuz.video.worker import Backoff

log = logging.getLogger(__name__)
_SEG = re.compile(r"^seg-(\d{6,})\.m4s$")
_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)


@dataclass(frozen=True, slots=True)
class RecorderConfig:
    ffmpeg: str
    segment_s: float = 4.0
    read_timeout_s: float = 5.0
    stall_s: float = 10.0  # no new media for this long: kill ffmpeg and start again
    min_free_bytes: int = 512 * 2**20
    backoff: Backoff = field(default_factory=Backoff)
    poll_s: float = 0.5
    stop_grace_s: float = 5.0
    # Under the free-space floor, ask this (retention) to shed the oldest unprotected footage, given
    # the bytes needed; it answers the bytes freed. Only if that cannot make room is it 'disk full'.
    make_room: Callable[[int], int] | None = None
    free_bytes: Callable[[Path], int | None] | None = None  # default: shutil.disk_usage of the media root


@dataclass(slots=True)
class Session:
    id: str
    camera: str
    dir: Path
    rel: str  # relative to the media root, as stored
    started_at: datetime
    init: InitInfo | None = None
    init_sha256: str | None = None
    next_seq: int = 0  # segments below this number have been dealt with
    waits: int = 0  # polls the segment ``next_seq`` has been listed but unreadable
    indexed: int = 0
    announced: bool = False


@dataclass(frozen=True, slots=True)
class Segment:
    session: str
    seq: int
    rel: str
    start: datetime
    end: datetime
    size: int
    sha256: str
    flags: tuple[str, ...] = ()

    @property
    def duration_s(self) -> float:
        return (self.end - self.start).total_seconds()


@dataclass(frozen=True, slots=True)
class SessionEnd:
    session: Session | None  # None: ffmpeg never got as far as recording anything
    cause: Cause
    detail: str
    exit_code: int | None
    at: datetime


class RecorderListener(Protocol):
    def session_started(self, camera: str, session: Session) -> None: ...
    def segment(self, camera: str, segment: Segment) -> None: ...
    def session_ended(self, camera: str, end: SessionEnd) -> None: ...


@dataclass(slots=True)
class RecorderHealth:
    state: str = "starting"  # starting | recording | retrying | stopped
    since: datetime = field(default_factory=lambda: datetime.now(UTC))
    cause: str | None = None
    detail: str | None = None
    restarts: int = 0  # ffmpeg runs that ended (crashed, lost the stream, or never started)
    segments: int = 0
    repaired: int = 0
    quarantined: int = 0
    clock_jumps: int = 0
    last_segment_end: datetime | None = None

    def to_json(self) -> dict[str, object]:
        d = {k: getattr(self, k) for k in self.__slots__}  # type: ignore[attr-defined]
        return {k: (v.isoformat() if isinstance(v, datetime) else v) for k, v in d.items()}


def sha256_of(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


class Recorder:
    """Records one camera until ``stop()``; safe to stop from any thread."""

    def __init__(
        self, camera: str, url: str, media_root: Path, config: RecorderConfig, listener: RecorderListener
    ) -> None:
        self.camera = camera
        self.url = url
        self.root = media_root.resolve()
        self.cfg = config
        self.listener = listener
        self.health = RecorderHealth()
        self._stop = threading.Event()
        self._proc: subprocess.Popen[bytes] | None = None
        self._thread = threading.Thread(target=self._run, name=f"rec-{camera}", daemon=True)
        self._rng = random.Random(hash(camera))

    # -- lifecycle ------------------------------------------------------------------------
    def start(self) -> None:
        self._thread.start()

    def request_stop(self) -> None:
        """Ask for a stop without waiting; the supervising thread sends ffmpeg one SIGINT within a poll.

        Exactly one: ffmpeg closes its open segment on the first, and aborts mid-write on a second.
        """
        self._stop.set()

    def stop(self, timeout: float = 15.0) -> None:
        self.request_stop()
        self._thread.join(timeout)
        if self._thread.is_alive():
            log.warning("camera %s: recorder did not stop within %.0fs", self.camera, timeout)

    @property
    def pid(self) -> int | None:
        """The running ffmpeg's process id (tests kill it to prove a crash is survived)."""
        proc = self._proc
        return proc.pid if proc is not None and proc.poll() is None else None

    @property
    def alive(self) -> bool:
        return self._thread.is_alive()

    # -- supervision ----------------------------------------------------------------------
    def _set(self, state: str, cause: str | None = None, detail: str | None = None) -> None:
        h = self.health
        if state != h.state:
            h.since = datetime.now(UTC)
        h.state, h.cause, h.detail = state, cause, detail

    def _run(self) -> None:
        attempt = 0
        while not self._stop.is_set():
            end = self._one_session()
            if end is not None:
                if end.session is not None and end.session.indexed:
                    attempt = 0
                self.health.restarts += 1
                try:
                    self.listener.session_ended(self.camera, end)
                except Exception:
                    log.exception("camera %s: recorder listener failed", self.camera)
            if self._stop.is_set():
                break
            attempt += 1
            if end is not None:
                self._set("retrying", str(end.cause), end.detail)
            self._stop.wait(self.cfg.backoff.delay(attempt, self._rng))
        self._set("stopped")

    def _one_session(self) -> SessionEnd | None:
        now = datetime.now(UTC)
        free, shed = self._room()
        if free is not None and free < self.cfg.min_free_bytes:
            need = self.cfg.min_free_bytes / 2**20
            detail = f"disk full: {free / 2**20:.0f} MB free under {self.root}, recording needs {need:.0f} MB{shed}"
            return SessionEnd(None, Cause.DISK_FULL, detail, None, now)
        sid = str(ULID())
        rel = f"recordings/{self.camera}/{now:%Y-%m-%d}/{sid}"
        session = Session(sid, self.camera, self.root / rel, rel, now)
        try:
            session.dir.mkdir(parents=True, exist_ok=True)
        except OSError as exc:
            cause = Cause.DISK_FULL if exc.errno == 28 else Cause.RECORDER_CRASHED
            return SessionEnd(None, cause, f"cannot create {rel}: {exc.strerror}", None, now)
        try:
            self._proc = subprocess.Popen(
                self._command(session), stdin=subprocess.DEVNULL, stdout=subprocess.PIPE, stderr=subprocess.PIPE
            )
        except OSError as exc:
            return SessionEnd(None, Cause.RECORDER_CRASHED, f"cannot start ffmpeg: {exc}", None, now)
        clock = StreamClock(jump_s=max(3.0, self.cfg.segment_s))
        proc = self._proc
        tail, watchdog_cause = self._supervise(proc, session, clock)
        rc = proc.wait()
        self._proc = None
        self.collect(session, clock, final=True)
        cause, detail = watchdog_cause if watchdog_cause else classify(rc, list(tail), stopped=self._stop.is_set())
        if session.indexed == 0:
            shutil.rmtree(session.dir, ignore_errors=True)
        return SessionEnd(session if session.indexed else None, cause, detail, rc, datetime.now(UTC))

    def _command(self, session: Session) -> list[str]:
        d = session.dir
        inp = ["-rtsp_transport", "tcp", "-timeout", str(int(self.cfg.read_timeout_s * 1e6))]
        return [
            self.cfg.ffmpeg,
            *("-nostdin", "-hide_banner", "-loglevel", "warning", "-nostats"),
            *("-progress", "pipe:1", "-stats_period", str(self.cfg.poll_s)),
            *(inp if self.url.startswith(("rtsp://", "rtsps://")) else []),
            *("-i", self.url, "-map", "0:v:0", "-c", "copy"),
            *("-f", "hls", "-hls_segment_type", "fmp4", "-hls_time", f"{self.cfg.segment_s:g}"),
            *("-hls_list_size", "6", "-hls_flags", "independent_segments+temp_file"),
            *("-hls_fmp4_init_filename", "init.mp4", "-hls_segment_filename", str(d / "seg-%06d.m4s")),
            str(d / "index.m3u8"),
        ]

    def _supervise(
        self, proc: subprocess.Popen[bytes], session: Session, clock: StreamClock
    ) -> tuple[deque[str], tuple[Cause, str] | None]:
        """Pump progress and warnings until ffmpeg exits; kill it if the stream stalls or the disk fills."""
        assert proc.stdout is not None and proc.stderr is not None
        tail: deque[str] = deque(maxlen=30)
        bufs = {proc.stdout.fileno(): b"", proc.stderr.fileno(): b""}
        out_fd = proc.stdout.fileno()
        last_media, last_advance, last_disk = -1.0, time.monotonic(), time.monotonic()
        cause: tuple[Cause, str] | None = None
        interrupted = False
        open_fds = set(bufs)
        while open_fds:
            ready, _, _ = select.select(list(open_fds), [], [], self.cfg.poll_s)
            for fd in ready:
                chunk = os.read(fd, 65536)
                if not chunk:
                    open_fds.discard(fd)
                    continue
                *lines, bufs[fd] = (bufs[fd] + chunk).split(b"\n")
                for raw in lines:
                    line = raw.decode("utf-8", "replace").strip()
                    if fd != out_fd:
                        if line:
                            tail.append(line)
                    elif line.startswith("out_time_us=") and line[12:].lstrip("-").isdigit():
                        t = int(line[12:]) / 1e6
                        if clock.observe(time.time(), t):
                            self.health.clock_jumps += 1
                        if t > last_media:
                            last_media, last_advance = t, time.monotonic()
            self.collect(session, clock, final=False)
            mono = time.monotonic()
            if cause is None and not self._stop.is_set():
                if mono - last_advance > self.cfg.stall_s:
                    cause = (Cause.STREAM_LOST, f"stream stalled: no video for {self.cfg.stall_s:.0f} s")
                elif mono - last_disk > 5.0:
                    last_disk = mono
                    free, shed = self._room()
                    if free is not None and free < self.cfg.min_free_bytes:
                        cause = (Cause.DISK_FULL, f"disk full: {free / 2**20:.0f} MB free under {self.root}{shed}")
                if cause is not None:
                    log.warning("camera %s: %s; restarting the recorder", self.camera, cause[1])
            if (cause is not None or self._stop.is_set()) and not interrupted:
                interrupted = True  # SIGINT: ffmpeg closes the open segment; SIGKILL if it hangs
                with contextlib.suppress(OSError):
                    proc.send_signal(signal.SIGINT)
                timer = threading.Timer(self.cfg.stop_grace_s, _kill, (proc,))
                timer.daemon = True
                timer.start()
        return tail, cause

    def _room(self) -> tuple[int | None, str]:
        """Free bytes, after asking retention to shed the oldest footage if under the floor.

        Returns the free space and, when shedding did not get back over the floor, a note for
        the gap's detail saying so (the rest is locked evidence, or there is nothing older).
        """
        probe = self.cfg.free_bytes or _free_bytes
        free = probe(self.root)
        if free is None or free >= self.cfg.min_free_bytes or self.cfg.make_room is None:
            return free, ""
        need = self.cfg.min_free_bytes - free
        try:
            freed = self.cfg.make_room(need)
        except Exception:
            log.exception("camera %s: retention could not make room", self.camera)
            freed = 0
        free = probe(self.root)
        if free is not None and free >= self.cfg.min_free_bytes:
            log.warning(
                "camera %s: disk under the floor; retention shed %.1f MB, recording goes on", self.camera, freed / 2**20
            )
            return free, ""
        return (
            free,
            f"; retention shed {freed / 2**20:.1f} MB of the oldest unprotected footage and could not free enough",
        )

    # -- segments -------------------------------------------------------------------------
    def collect(self, session: Session, clock: StreamClock, *, final: bool) -> None:
        """Index every segment ffmpeg has finished; at the end also sweep what it left behind.

        While ffmpeg runs, only the numbers its playlist names are looked at (a session folder of
        a long-running camera holds thousands of files, never listed twice a second); the final
        sweep lists the folder once.
        """
        listed = [int(m.group(1)) for n in listed_segments(session.dir / "index.m3u8") if (m := _SEG.match(n))]
        done_upto = max(listed, default=-1)
        if final:
            with contextlib.suppress(FileNotFoundError):
                found = {int(m.group(1)): p for p in session.dir.iterdir() if (m := _SEG.match(p.name))}
                done_upto = max([done_upto, *found])
        for seq in range(session.next_seq, done_upto + 1):
            path = session.dir / f"seg-{seq:06d}.m4s"
            if not path.exists():
                if final or seq < done_upto:  # named but gone (ffmpeg skipped it): nothing to index
                    session.next_seq = seq + 1
                    continue
                break
            settle = final or session.waits >= 4  # listed yet unreadable for 2 s: it will not get better
            if not self._segment(session, clock, seq, path, recovered=seq > max(listed, default=-1), final=settle):
                session.waits += 1
                break  # still being written: look again at the next poll
            session.waits = 0
        if final:
            for p in session.dir.glob("*.tmp"):  # a segment ffmpeg was still writing when it died
                m = _SEG.match(p.name[:-4])
                if m and int(m.group(1)) >= session.next_seq:
                    self._segment(session, clock, int(m.group(1)), p, recovered=True, final=True)
                else:
                    self._quarantine(session, p, "temporary file left by ffmpeg")

    def _segment(
        self, session: Session, clock: StreamClock, seq: int, path: Path, *, recovered: bool, final: bool
    ) -> bool:
        """Check, hash and hand on one segment. False: not readable yet, try again later."""
        if session.init is None and not self._load_init(session, final):
            if not final:
                return False
            self._quarantine(session, path, "its session has no readable init segment")
            session.next_seq = seq + 1
            return True
        assert session.init is not None
        flags: list[str] = ["recovered"] if recovered else []
        try:
            data = path.read_bytes()
            info = parse_segment(data, session.init)
        except OSError as exc:
            if not final:
                return False
            log.error("camera %s: cannot read %s: %s", self.camera, path, exc)
            session.next_seq = seq + 1
            return True
        except Fmp4Error as exc:
            if not final:
                return False
            session.next_seq = seq + 1
            fixed = complete_prefix(data, session.init)
            if fixed is None:
                self._quarantine(session, path, str(exc))
                return True
            self._quarantine(session, path, f"{exc}; kept its first {fixed[1].fragments} whole fragment(s)")
            data = data[: fixed[0]]
            info = fixed[1]
            flags.append("repaired")
            self.health.repaired += 1
        session.next_seq = seq + 1
        final_path = session.dir / f"seg-{seq:06d}.m4s"
        if path != final_path or "repaired" in flags:
            tmp = final_path.with_suffix(".part")
            tmp.write_bytes(data)
            os.replace(tmp, final_path)
            if path != final_path and path.exists():
                path.unlink()
        now = time.time()
        init = session.init
        media_t = init.lead_s + info.start_s  # on the clock of ffmpeg's progress reports
        if clock.wall(media_t, fallback=session.started_at.timestamp()) + info.duration_s > now + 1.0:
            clock.reanchor(now, media_t + info.duration_s)  # would end in the future: the stream clock jumped
            flags.append("clock_jump")
            self.health.clock_jumps += 1
        clock.frozen = True
        # integer microseconds from integer ticks: one segment's end is exactly the next one's start
        base_us = round((clock.wall(0.0, fallback=now) + init.lead_s) * 1e6)
        start_us = base_us + info.start * 1_000_000 // init.timescale
        end_us = base_us + (info.start + info.duration) * 1_000_000 // init.timescale
        seg = Segment(
            session=session.id,
            seq=seq,
            rel=f"{session.rel}/{final_path.name}",
            start=_EPOCH + timedelta(microseconds=start_us),
            end=_EPOCH + timedelta(microseconds=end_us),
            size=len(data),
            sha256=sha256_of(data),
            flags=tuple(flags),
        )
        if not session.announced:
            session.announced = True
            self.listener.session_started(self.camera, session)
        session.indexed += 1
        self.health.segments += 1
        self.health.last_segment_end = seg.end
        if self.health.state != "recording":
            self._set("recording")
        self.listener.segment(self.camera, seg)
        return True

    def _load_init(self, session: Session, final: bool) -> bool:
        try:
            data = (session.dir / "init.mp4").read_bytes()
            session.init = parse_init(data)
        except (OSError, Fmp4Error) as exc:
            if final:
                log.error("camera %s: init segment of session %s unusable: %s", self.camera, session.id, exc)
            return False
        session.init_sha256 = sha256_of(data)
        return True

    def _quarantine(self, session: Session, path: Path, reason: str) -> None:
        """Move a file that must never be served out of the session, keeping it for inspection."""
        qdir = self.root / "recordings" / self.camera / "quarantine"
        try:
            qdir.mkdir(parents=True, exist_ok=True)
            os.replace(path, qdir / f"{session.id}-{path.name}")
        except OSError:
            path.unlink(missing_ok=True)
        self.health.quarantined += 1
        log.warning("camera %s: %s moved to quarantine: %s", self.camera, path.name, reason)


def _kill(proc: subprocess.Popen[bytes]) -> None:
    if proc.poll() is None:
        with contextlib.suppress(OSError):
            proc.kill()


def _free_bytes(path: Path) -> int | None:
    try:
        return shutil.disk_usage(path if path.exists() else path.parent).free
    except OSError:
        return None
