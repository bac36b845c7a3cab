"""Who controls a PTZ camera, shared by every API process (migration 0017).

The lease used to live in one process's memory: with several ``koopsuz api`` processes behind a
load balancer, two operators served by different processes could both steer one dome. Here a lease
is one row per camera (holder, expiry, the tour it runs), and it is taken with a conditional UPDATE
(the holder's own row, an expired one, or a supervisor's take-over), which the database applies
atomically: SQLite serialises writers, PostgreSQL re-checks the WHERE on the locked row. Every
method that writes writes first and reads after: a SQLite transaction that read before writing can
fail to upgrade when another process wrote meanwhile (WAL snapshots), one that writes first waits its
turn. Expiry is epoch seconds from the service's clock (injectable in tests), compared in the query.

A running tour also names its runner (the process running it, migration 0022), the step it is on and
when it is next due. A live runner renews the lease before every step, so a row that names a tour and
has run out is an orphan (its process died or was stopped): ``orphans`` lists them and ``adopt`` gives
one to exactly one process (the same conditional UPDATE as taking control). Keeping the tour alive is
conditional on the runner too, so a runner thought dead that wakes up again stops at its next step.
A runner whose camera fails hands the tour back with ``fail_tour``: the lease runs on for a back-off
that grows with the failures in a row, so nobody adopts it again before then.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from sqlalchemy import Float, Integer, String, case, delete, select, update
from sqlalchemy.orm import Mapped, Session, mapped_column

from koopsuz.store.tables import Base

KEEP_TOUR: Any = object()  # take(): keep the tour named on the lease if the taker already holds it


class PtzLeaseRow(Base):
    __tablename__ = "ptz_leases"
    camera: Mapped[str] = mapped_column(String(64), primary_key=True)
    region: Mapped[str] = mapped_column(String(8))
    username: Mapped[str] = mapped_column(String(64))
    full_name: Mapped[str] = mapped_column(String(200), default="")
    until: Mapped[float] = mapped_column(Float)  # epoch seconds; expired when <= now
    tour: Mapped[str | None] = mapped_column(String(26), nullable=True)  # the patrol tour the holder runs
    # migration 0022: the process running the tour, the step it is on, when it is next due, failures in a row
    runner: Mapped[str | None] = mapped_column(String(100), nullable=True)
    step: Mapped[int | None] = mapped_column(Integer, nullable=True)
    due: Mapped[float | None] = mapped_column(Float, nullable=True)
    fails: Mapped[int] = mapped_column(Integer, default=0, server_default="0")


@dataclass(frozen=True)
class Holder:
    username: str
    full_name: str
    until: float
    tour: str | None


@dataclass(frozen=True)
class Orphan:
    """A tour whose lease ran out: its runner is gone (or backed off and its back-off is over)."""

    camera: str
    region: str
    username: str
    tour: str
    until: float
    runner: str | None
    step: int | None
    due: float | None
    fails: int


def _holder(row: PtzLeaseRow) -> Holder:
    return Holder(row.username, row.full_name, row.until, row.tour)


class PtzLeaseRepo:
    def __init__(self, session: Session) -> None:
        self.s = session

    def current(self, camera: str, now: float) -> Holder | None:
        row = self.s.get(PtzLeaseRow, camera, populate_existing=True)
        return _holder(row) if row is not None and row.until > now else None

    def take(
        self, camera: str, region: str, username: str, full_name: str, until: float, now: float,
        *, tour: Any = None, force: bool = False, runner: str | None = None,
    ) -> Holder | None:  # fmt: skip
        """Take or renew control until ``until``; None when taken, else the other holder (nothing changed).

        ``force`` takes it from another holder (a supervisor's take-over). Taking control sets the
        tour it runs (None for a manual move, which ends any tour, in whichever process it runs) and
        the ``runner`` running it; ``KEEP_TOUR`` leaves a tour the taker already runs as it is
        (editing presets).
        """
        self._ensure_row(camera, region)
        cond = PtzLeaseRow.camera == camera
        if not force:
            cond = cond & ((PtzLeaseRow.username == username) | (PtzLeaseRow.until <= now))
        values: dict[str, Any] = {"username": username, "full_name": full_name, "until": until}
        if tour is KEEP_TOUR:
            values["tour"] = case((PtzLeaseRow.username == username, PtzLeaseRow.tour), else_=None)
        else:
            values.update(tour=tour, runner=runner if tour else None, step=None, due=None, fails=0)
        done = self.s.execute(update(PtzLeaseRow).where(cond).values(**values)).rowcount
        if done == 1:
            return None
        row = self.s.get(PtzLeaseRow, camera, populate_existing=True)
        assert row is not None
        return _holder(row)

    def keep_tour(
        self, camera: str, username: str, tour: str, until: float,
        *, runner: str | None = None, step: int | None = None, due: float | None = None, ok: bool = False,
    ) -> bool:  # fmt: skip
        """Extend the lease for a running tour; False once the tour is no longer the holder's (someone
        took over, the holder moved the camera by hand, or stopped the tour in another process) or no
        longer this ``runner``'s (another process adopted it). ``step``/``due``: where the tour is and
        when it next acts (for the adopter); ``ok``: the camera answered, failures in a row are over."""
        cond = [PtzLeaseRow.camera == camera, PtzLeaseRow.username == username, PtzLeaseRow.tour == tour]
        if runner is not None:
            cond.append(PtzLeaseRow.runner == runner)
        values: dict[str, Any] = {"until": case((PtzLeaseRow.until < until, until), else_=PtzLeaseRow.until)}
        if step is not None:
            values["step"] = step
        if due is not None:
            values["due"] = due
        if ok:
            values["fails"] = 0
        return self.s.execute(update(PtzLeaseRow).where(*cond).values(**values)).rowcount == 1

    def orphans(self, now: float) -> list[Orphan]:
        """Tours whose lease has run out: a live runner renews before every step, so their runner is gone."""
        rows = self.s.scalars(select(PtzLeaseRow).where(PtzLeaseRow.tour.is_not(None), PtzLeaseRow.until <= now)).all()
        return [
            Orphan(r.camera, r.region, r.username, r.tour or "", r.until, r.runner, r.step, r.due, r.fails or 0)
            for r in rows
        ]

    def adopt(self, orphan: Orphan, runner: str, until: float, now: float) -> bool:
        """Make ``runner`` the orphan's runner until ``until``; True for exactly one of several racing
        processes (the first UPDATE moves ``until`` past ``now``, the others' WHERE no longer holds). A
        tour stopped or a camera taken meanwhile no longer matches and is not adopted."""
        done = self.s.execute(
            update(PtzLeaseRow)
            .where(
                PtzLeaseRow.camera == orphan.camera,
                PtzLeaseRow.username == orphan.username,
                PtzLeaseRow.tour == orphan.tour,
                PtzLeaseRow.until <= now,
            )
            .values(runner=runner, until=until)
        ).rowcount
        return done == 1

    def fail_tour(self, camera: str, tour: str, runner: str, now: float, backoff: Any) -> int:
        """The runner's camera failed: hand the tour back, not to be adopted before ``backoff(fails)``
        seconds (the lease runs on until then). The failures in a row, 0 if the tour was no longer
        this runner's."""
        cond = (PtzLeaseRow.camera == camera, PtzLeaseRow.tour == tour, PtzLeaseRow.runner == runner)
        if self.s.execute(update(PtzLeaseRow).where(*cond).values(fails=PtzLeaseRow.fails + 1)).rowcount != 1:
            return 0
        fails = int(self.s.scalar(select(PtzLeaseRow.fails).where(PtzLeaseRow.camera == camera)) or 1)
        self.s.execute(update(PtzLeaseRow).where(*cond).values(runner=None, until=now + backoff(fails), due=now))
        return fails

    def drop_orphan(self, orphan: Orphan, now: float) -> bool:
        """End an orphaned tour that must not resume (its camera is gone, disabled, no longer PTZ, or the
        tour deleted); True in the one process that ended it."""
        done = self.s.execute(
            update(PtzLeaseRow)
            .where(PtzLeaseRow.camera == orphan.camera, PtzLeaseRow.tour == orphan.tour, PtzLeaseRow.until <= now)
            .values(tour=None, runner=None, step=None, due=None)
        ).rowcount
        return done == 1

    def end_tour(self, camera: str, username: str, *, until: float | None = None) -> None:
        """The tour ends (it failed for good); ``until``: the lease ends then too (nobody is steering)."""
        values: dict[str, Any] = {"tour": None, "runner": None, "step": None, "due": None}
        if until is not None:
            values["until"] = until
        self.s.execute(
            update(PtzLeaseRow).where(PtzLeaseRow.camera == camera, PtzLeaseRow.username == username).values(**values)
        )

    def release(self, camera: str, username: str) -> None:
        self.s.execute(delete(PtzLeaseRow).where(PtzLeaseRow.camera == camera, PtzLeaseRow.username == username))

    def _ensure_row(self, camera: str, region: str) -> None:
        """A row to update (an expired lease of nobody) unless there is one; a write, so it comes first."""
        dialect = self.s.get_bind().dialect.name
        values = {
            "camera": camera, "region": region, "username": "", "full_name": "", "until": 0.0, "tour": None, "fails": 0,
        }  # fmt: skip
        if dialect == "postgresql":
            from sqlalchemy.dialects.postgresql import insert as pg_insert

            self.s.execute(pg_insert(PtzLeaseRow).values(**values).on_conflict_do_nothing(index_elements=["camera"]))
        else:
            from sqlalchemy.dialects.sqlite import insert as sqlite_insert

            self.s.execute(
                sqlite_insert(PtzLeaseRow).values(**values).on_conflict_do_nothing(index_elements=["camera"])
            )
