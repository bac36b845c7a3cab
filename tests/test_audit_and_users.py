import pytest
from sqlalchemy import text

from koopsuz.security.audit import AuditLog
from koopsuz.security.passwords import verify_password
from koopsuz.security.principal import Scope
from koopsuz.services.errors import Invalid, Unauthorized
from koopsuz.services.users import UserService
from koopsuz.store.db import Database


@pytest.fixture
def db(tmp_path) -> Database:
    d = Database(f"sqlite:///{tmp_path / 'k.db'}")
    d.migrate()
    return d


def test_chain_verifies_and_names_the_first_altered_entry(db: Database) -> None:
    audit = AuditLog(db)
    for i in range(5):
        audit.record("alice", "camera.update", target_id=f"cam-{i}", region="KG-Y")
    assert audit.verify().ok and audit.verify().entries == 5
    with db.transaction() as s, pytest.raises(Exception, match="append-only"):
        s.execute(text("UPDATE audit_log SET actor='mallory' WHERE seq=3"))
    # someone with file access drops the guard and edits a row: the chain still tells
    with db.transaction() as s:
        s.execute(text("DROP TRIGGER audit_log_no_update"))
        s.execute(text("UPDATE audit_log SET actor='mallory' WHERE seq=3"))
    check = audit.verify()
    assert not check.ok and check.first_broken == 3


def test_deleting_an_entry_is_detected(db: Database) -> None:
    audit = AuditLog(db)
    for i in range(4):
        audit.record("bob", "auth.login", target_id=str(i))
    with db.transaction() as s:
        s.execute(text("DROP TRIGGER audit_log_no_delete"))
        s.execute(text("DELETE FROM audit_log WHERE seq=2"))
    assert audit.verify().first_broken == 3


def test_passwords_are_argon2_and_failures_lock_the_account(db: Database) -> None:
    audit = AuditLog(db)
    users = UserService(db, audit, max_failures=3, lockout_s=60)
    users.create("admin", "yk.op", "a-long-password", "regional_operator", "KG-Y")
    row = users.list()[0]
    assert row.password_hash.startswith("$argon2id$") and verify_password(row.password_hash, "a-long-password")
    assert users.authenticate("yk.op", "a-long-password").region == "KG-Y"
    for _ in range(3):
        with pytest.raises(Unauthorized):
            users.authenticate("yk.op", "wrong-password")
    with pytest.raises(Unauthorized):  # locked now, even with the right password
        users.authenticate("yk.op", "a-long-password")
    denied = audit.search(Scope.national(), action="auth.login")
    assert sum(r.outcome == "denied" for r in denied) == 4
    assert any(r.detail.get("reason", "").endswith("locked") for r in denied)


@pytest.mark.parametrize(
    ("role", "region", "password", "message"),
    [
        ("regional_operator", None, "a-long-password", "needs a region"),
        ("national_operator", "KG-Y", "a-long-password", "national"),
        ("regional_operator", "KG-X", "a-long-password", "unknown region"),
        ("superuser", None, "a-long-password", "unknown role"),
        ("admin", None, "short", "at least"),
    ],
)
def test_bad_accounts_are_refused_with_a_reason(db: Database, role, region, password, message) -> None:
    users = UserService(db, AuditLog(db))
    with pytest.raises(Invalid, match=message):
        users.create("admin", "someone", password, role, region)


def _key(tmp_path):
    from koopsuz.domain.evidence_manifest import public_key_from_pem
    from koopsuz.security.signing import InstallationKey

    key = InstallationKey(tmp_path / "keys")
    return key, public_key_from_pem(key.public().pem)


def test_seals_catch_entries_cut_off_the_end(db: Database, tmp_path) -> None:
    """The chain cannot see its tail cut; the signed seal at entry 6 can."""
    audit = AuditLog(db)
    key, public = _key(tmp_path)
    for i in range(6):
        audit.record("carol", "plates.search", target_id=str(i))
    seal = audit.seal(key.sign, key.public().key_id)
    assert seal is not None and seal.seq == 6 and seal.entries == 6
    assert audit.seal(key.sign, key.public().key_id) is None  # nothing new
    audit.record("carol", "plates.search", target_id="7")
    check = audit.verify(public)
    assert check.ok and check.seals == 1 and check.entries == 7
    with db.transaction() as s:
        s.execute(text("DROP TRIGGER audit_log_no_delete"))
        s.execute(text("DELETE FROM audit_log WHERE seq >= 5"))
    assert audit.verify().ok  # the chain alone is fooled: what is left still links up
    check = audit.verify(public)
    assert not check.ok and check.first_broken == 5 and "removed" in (check.problem or "")


def test_reordered_entries_and_forged_seals_are_named(db: Database, tmp_path) -> None:
    audit = AuditLog(db)
    key, public = _key(tmp_path)
    for i in range(4):
        audit.record("dave", "faces.search", target_id=str(i))
    audit.seal(key.sign, key.public().key_id)
    with db.transaction() as s:  # someone swaps two entries' contents (and the guard is gone)
        s.execute(text("DROP TRIGGER audit_log_no_update"))
        s.execute(text("UPDATE audit_log SET target_id = CASE seq WHEN 2 THEN '3' WHEN 3 THEN '2' END "
                       "WHERE seq IN (2, 3)"))
    assert audit.verify(public).first_broken == 2
    other = AuditLog(Database(f"sqlite:///{tmp_path / 'b.db'}"))
    other._db.migrate()
    other.record("eve", "x")
    forger, _ = _key(tmp_path / "forger")
    other.seal(forger.sign, "forged")  # signed with another key
    check = other.verify(public)
    assert not check.ok and "not signed by this installation" in (check.problem or "")
