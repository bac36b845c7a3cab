"""Retention of the audit log: the oldest entries go up to a sealed batch boundary, behind a signed
anchor; the chain still verifies from there and says where it was cut; nothing else can be deleted,
a forged anchor or a removed entry after it is named, and a tampered old part is never cut away."""

from __future__ import annotations

import base64
from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy import func, select, text
from typer.testing import CliRunner

from koopsuz.domain.evidence_manifest import public_key_from_pem
from koopsuz.domain.retention import DataClass, PolicyError, RetentionPolicy, parse_policy
from koopsuz.security.audit import AuditLog, ChainBroken, truncation_message
from koopsuz.security.principal import Scope
from koopsuz.security.signing import InstallationKey
from koopsuz.store.db import Database
from koopsuz.store.tables import AuditRow, AuditTruncationRow

LATER = datetime.now(UTC) + timedelta(days=1)  # every entry written by these tests is older than this


@pytest.fixture
def db(tmp_path) -> Database:
    d = Database(f"sqlite:///{tmp_path / 'k.db'}")
    d.migrate()
    return d


def _key(path):
    key = InstallationKey(path / "keys")
    return key, public_key_from_pem(key.public().pem)


def _log(audit: AuditLog, n: int, actor: str = "alice") -> None:
    for i in range(n):
        audit.record(actor, "live.view", target_id=f"cam-{i}", region="KG-Y")


def test_truncation_cuts_at_the_newest_sealed_boundary_and_still_verifies(db: Database, tmp_path) -> None:
    audit = AuditLog(db)
    key, public = _key(tmp_path)
    _log(audit, 5)
    audit.seal(key.sign, key.public().key_id)  # seal at 5
    _log(audit, 3)
    audit.seal(key.sign, key.public().key_id)  # seal at 8
    _log(audit, 2)  # 9, 10: not sealed yet
    assert audit.cut(datetime.now(UTC) - timedelta(days=1)) is None  # nothing that old
    dry = audit.cut(LATER)
    assert dry is not None and (dry.first, dry.upto, dry.entries) == (1, 8, 8)
    assert audit.cut(LATER, head_sealed=True).upto == 10  # what the sealer's truncation (sealing first) cuts
    with db.session() as s:
        assert s.execute(select(func.count()).select_from(AuditRow)).scalar() == 10  # a dry look deletes nothing
    cut = audit.truncate(LATER, key.sign, key.public().key_id)
    assert cut is not None and (cut.first, cut.upto, cut.entries) == (1, 8, 8)
    with db.session() as s:
        assert list(s.execute(select(AuditRow.seq).order_by(AuditRow.seq)).scalars()) == [9, 10]
    check = audit.verify(public)
    assert check.ok, check
    assert (check.entries, check.truncated, check.truncated_upto, check.truncations) == (2, 8, 8, 1)
    assert audit.truncate(LATER, key.sign, key.public().key_id) is None  # 9, 10 are behind no seal
    _log(audit, 1)
    audit.seal(key.sign, key.public().key_id)
    second = audit.truncate(LATER, key.sign, key.public().key_id)
    assert second is not None and (second.first, second.upto, second.entries) == (9, 11, 3)
    check = audit.verify(public)
    assert check.ok and check.entries == 0 and check.truncated == 11 and check.truncations == 2
    _log(audit, 2)
    assert audit.verify(public).ok and audit.verify(public).entries == 2


def test_the_database_deletes_only_behind_an_anchor_and_keeps_anchors(db: Database, tmp_path) -> None:
    audit = AuditLog(db)
    key, _ = _key(tmp_path)
    _log(audit, 4)
    audit.seal(key.sign, key.public().key_id)
    _log(audit, 2)
    audit.truncate(LATER, key.sign, key.public().key_id)
    with db.transaction() as s, pytest.raises(Exception, match="append-only"):
        s.execute(text("DELETE FROM audit_log WHERE seq = 5"))  # after the anchor: refused
    with db.transaction() as s, pytest.raises(Exception, match="append-only"):
        s.execute(text("UPDATE audit_log SET actor = 'mallory' WHERE seq = 6"))
    with db.transaction() as s, pytest.raises(Exception, match="append-only"):
        s.execute(text("DELETE FROM audit_truncations"))
    with db.transaction() as s, pytest.raises(Exception, match="append-only"):
        s.execute(text("UPDATE audit_truncations SET entries = 1"))


def test_a_hand_made_anchor_or_an_entry_removed_after_one_is_named(db: Database, tmp_path) -> None:
    audit = AuditLog(db)
    key, public = _key(tmp_path)
    _log(audit, 4)
    audit.seal(key.sign, key.public().key_id)
    _log(audit, 3)  # 5..7
    audit.seal(key.sign, key.public().key_id)
    _log(audit, 2)  # 8, 9
    audit.truncate(datetime.now(UTC) + timedelta(days=1), key.sign, key.public().key_id)  # 1..7 removed
    # someone inserts an anchor of their own to unlock the delete of entry 8 (the database allows it)
    with db.session() as s:
        h8 = s.execute(select(AuditRow.hash).where(AuditRow.seq == 8)).scalar()
    forger, _ = _key(tmp_path / "forger")  # a well-formed signature, by another key
    forged = base64.b64encode(forger.sign(truncation_message(8, h8, 1, 8))).decode()
    with db.transaction() as s:
        s.add(AuditTruncationRow(upto_seq=8, hash=h8, entries=1, first_seq=8, before=LATER,
                                 truncated_at=datetime.now(UTC), key_id="forged", signature=forged))
        s.flush()
        s.execute(text("DELETE FROM audit_log WHERE seq = 8"))
    check = audit.verify(public)
    assert not check.ok and check.first_broken == 8 and "not signed by this installation" in (check.problem or "")
    # the chain alone (no key) is fooled by the anchor, as it is by a cut-off tail: the key is the proof
    assert audit.verify().ok


def test_an_entry_removed_after_the_anchor_breaks_the_chain(db: Database, tmp_path) -> None:
    audit = AuditLog(db)
    key, public = _key(tmp_path)
    _log(audit, 3)
    audit.seal(key.sign, key.public().key_id)
    _log(audit, 3)  # 4..6
    audit.truncate(LATER, key.sign, key.public().key_id)
    with db.transaction() as s:
        s.execute(text("DROP TRIGGER audit_log_no_delete"))
        s.execute(text("DELETE FROM audit_log WHERE seq = 4"))
    check = audit.verify(public)
    assert not check.ok and check.first_broken == 5


def test_a_tampered_old_part_is_never_cut_away(db: Database, tmp_path) -> None:
    audit = AuditLog(db)
    key, public = _key(tmp_path)
    _log(audit, 5)
    audit.seal(key.sign, key.public().key_id)
    with db.transaction() as s:
        s.execute(text("DROP TRIGGER audit_log_no_update"))
        s.execute(text("UPDATE audit_log SET actor = 'mallory' WHERE seq = 2"))
    with pytest.raises(ChainBroken, match="entry 2"):
        audit.truncate(LATER, key.sign, key.public().key_id)
    with db.session() as s:
        assert s.execute(select(func.count()).select_from(AuditRow)).scalar() == 5
        assert s.execute(select(func.count()).select_from(AuditTruncationRow)).scalar() == 0
    assert audit.verify(public).first_broken == 2


def test_policy_audit_days_are_set_under_default_only() -> None:
    assert RetentionPolicy().days(None, DataClass.AUDIT) == 1825
    assert RetentionPolicy().days("school", DataClass.AUDIT) == 1825
    assert parse_policy("default: {audit: 400}").days("street", DataClass.AUDIT) == 400
    with pytest.raises(PolicyError, match=r"site_types\.school\.audit.*one chain"):
        parse_policy("site_types: {school: {audit: 10}}")


def test_retention_pass_truncates_the_audit_log_and_verify_reports_it(system, settings) -> None:
    """The scheduler's pass (with its clock 2 000 days ahead) cuts the whole sealed log, writes the
    report, and records the act; ``koopsuz audit verify`` passes and says where the chain was cut."""
    from koopsuz.cli import app as cli
    from koopsuz.services.retention import RetentionService

    system.audit.record("alice", "live.view", target_id="yk-cam-1", region="KG-Y")
    before = system.audit.verify().entries
    ahead = RetentionService(settings, system.db, system.writer, system.evidence_locks,
                             clock=lambda: datetime.now(UTC) + timedelta(days=2000))
    ahead.audit = system.audit_sealer
    dry = ahead.run("manual", dry_run=True)
    assert dry.report["audit"]["entries"] == before and dry.report["audit"]["days"] == 1825
    assert system.audit.verify().entries == before
    done = ahead.run("manual")
    got = done.report["audit"]
    assert got["entries"] == before and got["first_seq"] == 1 and got["upto_seq"] == before
    assert done.run_id is not None  # the run's report is stored with what the audit lost
    entry = system.audit.search(Scope.national(), action="audit.truncated")[0]
    assert entry.actor == "retention" and entry.detail["entries"] == before
    check = system.audit_sealer.verify()
    assert check.ok and check.truncated == before and check.entries >= 1
    r = CliRunner().invoke(cli, ["audit", "verify", "--data-dir", str(settings.data_dir)])
    assert r.exit_code == 0, r.output
    assert "audit chain intact" in r.output and f"entries 1..{before} ({before} removed" in r.output
