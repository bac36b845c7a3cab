"""Who controls a PTZ camera, shared by every API process (migration 0017).

The lease used to live in one process's memory: with several ``koopsuz api`` processes behind a
load balancer, two operators served by different processes could both steer one dome. Here a lease
is one row per camera (holder, expiry, the tour it runs), and it is taken with a conditional UPDATE
(the holder's own row, an expired one, or a supervisor's take-over), which the database applies
atomically: SQLite serialises writers, PostgreSQL re-checks the WHERE on the locked row. Every
method that writes writes first and reads after: a SQLite transaction that read before writing can
fail to upgrade when another process wrote meanwhile (WAL snapshots), one that writes first waits its
turn. Expiry is epoch seconds from the service's clock (injectable in tests), compared in the query.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from sqlalchemy import Float, String, case, delete, update
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


@dataclass(frozen=True)
class Holder:
    username: str
    full_name: str
    until: float
    tour: str | None


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
        *, tour: Any = None, force: bool = False,
    ) -> Holder | None:  # fmt: skip
        """Take or renew control until ``until``; None when taken, else the other holder (nothing changed).

        ``force`` takes it from another holder (a supervisor's take-over). Taking control sets the
        tour it runs (None for a manual move, which ends any tour, in whichever process it runs);
        ``KEEP_TOUR`` leaves a tour the taker already runs as it is (editing presets).
        """
        self._ensure_row(camera, region)
        cond = PtzLeaseRow.camera == camera
        if not force:
            cond = cond & ((PtzLeaseRow.username == username) | (PtzLeaseRow.until <= now))
        if tour is KEEP_TOUR:
            tour = case((PtzLeaseRow.username == username, PtzLeaseRow.tour), else_=None)
        done = self.s.execute(
            update(PtzLeaseRow).where(cond).values(username=username, full_name=full_name, until=until, tour=tour)
        ).rowcount
        if done == 1:
            return None
        row = self.s.get(PtzLeaseRow, camera, populate_existing=True)
        assert row is not None
        return _holder(row)

    def keep_tour(self, camera: str, username: str, tour: str, until: float) -> bool:
        """Extend the lease for a running tour; False once the tour is no longer the holder's (someone
        took over, the holder moved the camera by hand, or stopped the tour in another process)."""
        done = self.s.execute(
            update(PtzLeaseRow)
            .where(PtzLeaseRow.camera == camera, PtzLeaseRow.username == username, PtzLeaseRow.tour == tour)
            .values(until=case((PtzLeaseRow.until < until, until), else_=PtzLeaseRow.until))
        ).rowcount
        return done == 1

    def end_tour(self, camera: str, username: str) -> None:
        self.s.execute(
            update(PtzLeaseRow).where(PtzLeaseRow.camera == camera, PtzLeaseRow.username == username).values(tour=None)
        )

    def release(self, camera: str, username: str) -> None:
        self.s.execute(delete(PtzLeaseRow).where(PtzLeaseRow.camera == camera, PtzLeaseRow.username == username))

    def _ensure_row(self, camera: str, region: str) -> None:
        """A row to update (an expired lease of nobody) unless there is one; a write, so it comes first."""
        dialect = self.s.get_bind().dialect.name
        values = {"camera": camera, "region": region, "username": "", "full_name": "", "until": 0.0, "tour": None}
        if dialect == "postgresql":
            from sqlalchemy.dialects.postgresql import insert as pg_insert

            self.s.execute(pg_insert(PtzLeaseRow).values(**values).on_conflict_do_nothing(index_elements=["camera"]))
        else:
            from sqlalchemy.dialects.sqlite import insert as sqlite_insert

            self.s.execute(sqlite_insert(PtzLeaseRow).values(**values).on_conflict_do_nothing(index_elements=["camera"]))
