"""Each region's registry (sites and cameras) carried to the capital (issue 9, regions).

Events from a regional centre reach the national stream (bus/federation.py), but the cameras that made
them live in the region's store: without this the national command centre gets events from cameras it
does not know (no map pin, no name, no site) and cannot list them. The design is the national
hotlists' (services/national_hotlists.py) turned round, for the same reasons: state, last value per
key, in a stream the hub *sources*, so a change made while the line is down arrives when it returns,
each key's newest value once, and applying it twice changes nothing.

- A regional node runs :class:`RegionalRegistryPublisher`: it reads its own store's sites and cameras
  and puts each one's current state, as JSON, under ``<domain>.site.<id>`` / ``<domain>.camera.<id>`` in
  its leaf's ``KOOPSUZ_REGISTRY`` stream (``RegistryState``; the domain comes from the leaf itself).
  Polled (a change made by another process, the CLI or a deployment file is seen too) and woken at
  once by ``RegistryService.listeners`` for changes made in this process. A row gone from the store
  (deleted by whatever means) is put as a tombstone ``{"deleted": true}``; at start the publisher reads
  what its stream already holds, so a deletion made while it was stopped is carried as well.
- The national node runs :class:`RegionalRegistryFollower`: the hub's stream of the same name sources
  every region's (``KOOPSUZ_REGIONAL_DOMAINS``); when it moves, the follower reads only the keys newer
  than what it applied (last value per key: that is exactly the set changed since, each once) and
  writes them into the national store with ``owner_domain`` set to the key's region. Such rows are
  read-only in the capital (``RegistryService`` answers 409 naming the region) and are never ingested or
  recorded by a national process (``enabled_cameras`` leaves them out): the region's workers run its
  cameras, and a national process pulling every region's streams over the WAN is what the regional
  design exists to avoid. Live view and playback of a regional camera from the capital are therefore
  not served by the capital's processes.

What is left out, and why: the stream addresses (``main_url``, ``sub_url``) and the ONVIF address.
They carry the cameras' credentials (user and password in the URL); the capital has no use for them
(it does not pull the streams) and must not hold a key to every camera in the country. The national
row gets ``rtsp://<domain>.region.invalid/<camera id>`` instead: it satisfies the camera schema and
names the owner, and ``.invalid`` (RFC 2606) can never resolve, so nothing can connect with it. A
site's city and district are kept only where the national store knows that id (they are foreign keys
there; the capital's geography is loaded from its own deployment file).

Order per object is kept by the stream (one subject per object, in publish order); between objects
the publisher puts sites before cameras and deletes cameras before sites, and the follower applies
sites, then cameras (changed or deleted), then deleted sites, in one transaction; a camera whose site
has not arrived, or a site that still has cameras, waits in ``pending`` for a later pass. A value naming
a row the capital or another region owns is refused (the capital never takes over a row it did not get
from that region), logged once and tried again every 30 s: once that row is deleted here, the copy comes.

Which processes: ``System`` runs the publisher or the follower in api/serve processes, not in leased
workers (N workers would each do the same work). Two API processes doing it is harmless: the values
are the same and applying them is idempotent (a lost insert race is retried on the next pass).
"""

from __future__ import annotations

import json
import logging
import threading
import time
from collections.abc import Callable, Mapping, Sequence
from datetime import UTC, datetime
from typing import Any

from pydantic import ValidationError
from sqlalchemy import select

from koopsuz.bus.federation import RegistryState, check_domain
from koopsuz.domain.regions import region_codes
from koopsuz.domain.registry import Camera, Site
from koopsuz.services.legal_basis import utc
from koopsuz.services.state_follower import StateFollower
from koopsuz.store.db import Database
from koopsuz.store.tables import CameraRow, CityRow, DistrictRow, SiteRow

log = logging.getLogger(__name__)
SITE_FIELDS = ("name", "type", "region", "city", "district", "address", "lat", "lon", "opening_hours")
CAMERA_FIELDS = (
    "name", "site", "region", "lat", "lon", "heading", "fov", "ptz", "zoom_max", "profile", "enabled",
    "motion", "motion_masks", "privacy_masks", "lanes",
)  # fmt: skip
LEFT_OUT = ("main_url", "sub_url", "onvif_url")  # credentials live there: never leave the region
TOMBSTONE = {"deleted": True}
RETRY_REFUSED_S = 30.0  # a refused value is tried again this often (the row it names may have been deleted)


def placeholder_url(domain: str, camera_id: str) -> str:
    """What the capital stores instead of a regional camera's stream address (see the module's docstring)."""
    return f"rtsp://{domain}.region.invalid/{camera_id}"


def regional_state(db: Database) -> dict[str, bytes]:
    """Key (``site.<id>`` / ``camera.<id>``) -> JSON of this store's own sites and cameras, without URLs."""
    with db.session() as s:
        sites = list(s.execute(select(SiteRow).where(SiteRow.owner_domain.is_(None))).scalars())
        cameras = list(s.execute(select(CameraRow).where(CameraRow.owner_domain.is_(None))).scalars())
    out: dict[str, bytes] = {}
    for site in sites:
        out[f"site.{site.id}"] = _dump({k: getattr(site, k) for k in SITE_FIELDS} | {"id": site.id})
    for cam in cameras:
        out[f"camera.{cam.id}"] = _dump({k: getattr(cam, k) for k in CAMERA_FIELDS} | {"id": cam.id})
    return out


def _dump(body: dict[str, Any]) -> bytes:
    return json.dumps(body, sort_keys=True, separators=(",", ":")).encode()


class RegionalRegistryPublisher:
    """In a region: keep the leaf's registry stream equal to this store's own sites and cameras."""

    def __init__(self, db: Database, state: RegistryState, *, interval_s: float = 2.0) -> None:
        self._db, self._state, self._interval = db, state, interval_s
        self._sent: dict[str, bytes] | None = None  # key -> value the stream holds; None: not read yet
        self._seq = 0  # the stream's last sequence after this publisher's last put
        self.domain: str | None = None
        self._stop = threading.Event()
        self._wake = threading.Event()
        self._thread = threading.Thread(target=self._run, name="regional-registry-out", daemon=True)
        self.failures = 0

    def start(self) -> None:
        self._thread.start()

    def stop(self) -> None:
        self._stop.set()
        self._wake.set()
        self._thread.join(5)

    def wake(self) -> None:
        """A change was made in this process: look now rather than at the next poll."""
        self._wake.set()

    def publish_changes(self) -> int:
        """Put every key whose value differs from what the stream holds; returns how many were put."""
        if self._sent is not None and self._state.revision() < self._seq:
            self._sent = None  # the leaf's stream was made again (lost, purged): what it holds is unknown
        if self._sent is None:
            self.domain = self._state.ensure_regional_stream()
            self._sent = self._state.read(self.domain)
            self._sent = {k[len(self.domain) + 1 :]: v for k, v in self._sent.items()}
        now = regional_state(self._db)
        tomb = _dump(TOMBSTONE)
        gone = [k for k, v in self._sent.items() if k not in now and v != tomb]
        changed = {k: v for k, v in now.items() if self._sent.get(k) != v}
        batches = [  # sites before the cameras on them; cameras deleted before their sites
            {k: v for k, v in changed.items() if k.startswith("site.")},
            {k: v for k, v in changed.items() if k.startswith("camera.")},
            {k: tomb for k in gone if k.startswith("camera.")},
            {k: tomb for k in gone if k.startswith("site.")},
        ]
        for batch in batches:
            self._state.put_many({f"{self.domain}.{k}": v for k, v in batch.items()})  # raises: unsent, retried
            self._sent.update(batch)
        self._seq = self._state.revision() if changed or gone else self._seq
        return len(changed) + len(gone)

    def _run(self) -> None:
        while not self._stop.is_set():
            try:
                self.publish_changes()
                self.failures = 0
            except Exception as exc:
                self.failures += 1
                self._sent = None  # the next pass makes sure of the stream and reads what it holds again
                if self.failures in (1, 10) or self.failures % 100 == 0:
                    log.warning("regional registry: could not publish to the leaf (%r); retrying", exc)
            self._wake.wait(self._interval)
            self._wake.clear()


def apply_registry(
    db: Database,
    values: dict[str, bytes],
    refused: dict[str, bytes] | None = None,
    pins: Mapping[str, str | None] | None = None,
) -> tuple[int, dict[str, bytes]]:
    """Write regions' sites and cameras (keys ``<domain>.site|camera.<id>``) into the national store.

    Returns how many rows changed and the values that must wait (a camera whose site is not here yet, a
    site that still has cameras). Malformed values are logged and dropped. A value naming a row the
    capital or another region owns is refused and kept in ``refused`` (logged once per key there): the
    follower tries those again now and then, so once that row is deleted here the region's copy comes.

    ``pins``: a domain pinned to its region (``issyk-kul=KG-Y``, bus/federation.py ``parse_pins``) may
    only send rows of that region; one naming another region is dropped and logged (a misconfigured or
    compromised regional centre must not file cameras into another region's officers' scope)."""

    def owned(row: SiteRow | CameraRow | None, domain: str, what: str, row_id: str, raw: bytes) -> bool:
        key = f"{domain}.{what}.{row_id}"
        if row is None or row.owner_domain == domain:
            if refused is not None:
                refused.pop(key, None)
            return True
        if refused is None or key not in refused:
            owner = "the capital" if row.owner_domain is None else f"region {row.owner_domain!r}"
            log.error(
                "regional registry: %s %s of region %r is %s's here; not overwritten", what, row_id, domain, owner
            )
        if refused is not None:
            refused[key] = raw
        return False

    parsed: dict[str, list[tuple[str, str, dict[str, Any] | None, bytes]]] = {"site": [], "camera": []}
    for key, raw in values.items():
        parts = key.split(".")
        if len(parts) != 3 or parts[1] not in parsed:
            log.warning("regional registry: key %s is not <domain>.site|camera.<id>; skipped", key)
            continue
        try:
            domain = check_domain(parts[0])
            body = json.loads(raw)
            if body.get("deleted") is not True and body.get("id") != parts[2]:
                raise ValueError("the value names another id than its key")
        except (ValueError, AttributeError) as exc:
            log.warning("regional registry: key %s: %s; skipped", key, exc)
            continue
        if pins is not None and domain not in pins:
            log.error("regional registry: key %s is from %r, a domain this capital does not follow; dropped",
                      key, domain)  # fmt: skip
            continue
        why = None if body.get("deleted") is True else _invalid(parts[1], parts[2], body, domain)
        if why:  # one region's bad row must not hold back every region's copy (the batch is one transaction)
            log.error("regional registry: %s %s from %r is not a valid %s (%s); dropped", parts[1], parts[2],
                      domain, parts[1], why)  # fmt: skip
            continue
        pin = (pins or {}).get(domain)
        if pin is not None and body.get("deleted") is not True and body.get("region") != pin:
            log.error(
                "regional registry: %s %s from domain %r names region %r, but that domain is pinned to %s;"
                " dropped (fix the region in that centre, or the pin in KOOPSUZ_REGIONAL_DOMAINS)",
                parts[1], parts[2], domain, body.get("region"), pin,
            )  # fmt: skip
            continue
        parsed[parts[1]].append((domain, parts[2], None if body.get("deleted") is True else body, raw))
    waiting: dict[str, bytes] = {}
    changed = 0
    with db.transaction() as s:
        known_cities = set(s.execute(select(CityRow.id)).scalars())
        known_districts = set(s.execute(select(DistrictRow.id)).scalars())
        for domain, sid, body, raw in parsed["site"]:
            if body is not None and owned(s.get(SiteRow, sid), domain, "site", sid, raw):
                fields = {k: body.get(k) for k in SITE_FIELDS}
                fields["city"] = fields["city"] if fields["city"] in known_cities else None
                fields["district"] = fields["district"] if fields["district"] in known_districts else None
                changed += _upsert(s, SiteRow, sid, domain, fields)
        s.flush()  # the sites exist before cameras point at them
        for domain, cid, body, raw in parsed["camera"]:
            row = s.get(CameraRow, cid)
            if body is None:
                if owned(row, domain, "camera", cid, raw) and row is not None:
                    s.delete(row)
                    changed += 1
                continue
            if not owned(row, domain, "camera", cid, raw):
                continue
            site = s.get(SiteRow, body.get("site"))
            if site is None or site.owner_domain != domain:
                waiting[f"{domain}.camera.{cid}"] = raw  # its site's value has not arrived yet
                continue
            fields = {k: body.get(k) for k in CAMERA_FIELDS}
            for k in ("motion_masks", "privacy_masks", "lanes"):  # a region a version behind sends fewer
                fields[k] = fields[k] or []
            fields |= {"main_url": placeholder_url(domain, cid), "sub_url": placeholder_url(domain, cid)}
            fields["onvif_url"] = None
            changed += _upsert(s, CameraRow, cid, domain, fields, stamp=True)
        s.flush()  # deleted cameras are gone before their sites go
        for domain, sid, body, raw in parsed["site"]:
            if body is not None:
                continue
            row = s.get(SiteRow, sid)
            if not owned(row, domain, "site", sid, raw) or row is None:
                continue
            if s.execute(select(CameraRow.id).where(CameraRow.site == sid).limit(1)).first() is not None:
                waiting[f"{domain}.site.{sid}"] = raw  # a camera on it is still here (its deletion comes)
                continue
            s.delete(row)
            changed += 1
    return changed, waiting


def _invalid(what: str, row_id: str, body: dict[str, Any], domain: str) -> str | None:
    """Why a region's site or camera cannot be stored here (None: it can), checked with the same models a
    deployment file is: a value that would fail in the store (a missing name, a region code too long for
    its column on PostgreSQL) is refused alone instead of failing the batch it came in."""
    try:
        if what == "site":
            fields = {k: body.get(k) for k in SITE_FIELDS}
            Site.model_validate({k: v for k, v in fields.items() if v is not None} | {"id": row_id})
        else:
            fields = {k: body.get(k) for k in CAMERA_FIELDS if k != "region"}
            url = placeholder_url(domain, row_id)
            Camera.model_validate(
                {k: v for k, v in fields.items() if v is not None} | {"id": row_id, "main_url": url, "sub_url": url}
            )
            if body.get("region") not in region_codes():
                return f"unknown region {body.get('region')!r}"
    except ValidationError as exc:
        return "; ".join(f"{'.'.join(str(x) for x in e['loc'])}: {e['msg']}" for e in exc.errors()[:3])
    return None


def _upsert(
    s: Any,
    table: type[SiteRow] | type[CameraRow],
    row_id: str,
    domain: str,
    fields: dict[str, Any],
    *,
    stamp: bool = False,
) -> int:
    """Insert or change one copied row; 0 when it already holds these values (applying twice is a no-op).
    ``stamp``: set ``updated_at`` to when the capital's copy changed (the region's own time is not carried:
    a region re-reading its deployment file would otherwise re-send every camera)."""
    row = s.get(table, row_id)
    if row is not None and all(_same(getattr(row, k)) == _same(v) for k, v in fields.items()):
        return 0
    if stamp:
        fields = fields | {"updated_at": datetime.now(UTC)}
    if row is None:
        s.add(table(id=row_id, owner_domain=domain, **fields))
        return 1
    for k, v in fields.items():
        setattr(row, k, v)
    return 1


def _same(v: Any) -> Any:
    if isinstance(v, datetime):
        return utc(v)
    if isinstance(v, list | tuple):
        return [_same(x) for x in v]  # JSON gives lists where the row may hold tuples
    return v


class RegionalRegistryFollower(StateFollower):
    """In the capital: the hub's registry stream sources these regions; apply what moves into the store."""

    def __init__(
        self,
        db: Database,
        state: RegistryState,
        domains: Sequence[str] | Mapping[str, str | None],
        on_change: Callable[[], None] = lambda: None,
        *,
        interval_s: float = 1.0,
    ) -> None:
        # a mapping pins each domain to its region (parse_pins); a plain list pins none
        self._pins: dict[str, str | None] = dict(domains) if isinstance(domains, Mapping) else dict.fromkeys(domains)
        super().__init__("regional-registry-in", "regional registry: the regions' sites and cameras", interval_s)
        self._db, self._state, self._domains = db, state, list(self._pins)
        self._on_change = on_change
        self.revision = 0  # the hub stream's sequence up to which values were applied
        self.pending: dict[str, bytes] = {}  # read but not applicable yet (see apply_registry)
        self.refused: dict[str, bytes] = {}  # naming rows owned here or by another region; retried now and then
        self._retry_at = 0.0
        self.applied = 0

    def _link(self) -> None:
        self._state.ensure_hub_sources(self._domains)

    def sync(self) -> bool:
        """Apply what the hub copied since the last pass (and what was waiting); True if the store changed."""
        rev = self._state.revision()
        retry = bool(self.refused) and time.monotonic() >= self._retry_at
        if rev == self.revision and not self.pending and not retry:
            return False
        if rev < self.revision:  # the hub's stream was made again (purged, restored): read it all
            self.revision = 0
        values, last = self._state.read_since(self.revision)
        if retry:
            self._retry_at = time.monotonic() + RETRY_REFUSED_S
        todo = (dict(self.refused) if retry else {}) | self.pending | values  # newest value of a key wins
        refused = dict(self.refused)
        n, waiting = apply_registry(self._db, todo, refused, self._pins)  # raises: nothing advanced, read again
        self.revision, self.pending, self.refused = last, waiting, refused
        self.applied += n
        if n:
            self._on_change()
        return n > 0
