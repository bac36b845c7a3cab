"""Regions feeding the capital: the hub's stream *sources* each regional leaf node's stream.

A regional centre runs its own nats-server as a leaf node of the national hub, with its own
JetStream domain (``issyk-kul``) and its own store. Its workers, writer and command centre talk to
that leaf only, so they keep working when the link to the capital is down. The national stream
(``KOOPSUZ`` in domain ``national``) lists every region's stream as a source, reached through the
region's API prefix ``$JS.<domain>.API``. JetStream itself remembers how far it got in each source:
when a link returns, the hub resumes from the next sequence and copies what the region stored
meanwhile, each message once. The national writer then stores from the national stream as usual
(idempotent by event id), and the national live feed sees regional events through the same stream.

Why sourcing rather than letting the hub stream listen on ``koopsuz.>`` across the link: core NATS
publishes made while the link is down are lost to the hub, and publishes made while it is up would
be stored twice (once by each domain's stream). The leaf's remote therefore denies ``koopsuz.>`` and
``$KV.>`` both ways (docs/deploy.md): only JetStream's own traffic crosses, and a region's stream
holds that region's events and nothing of the others'.

The hub's sources are owned here; ``NatsBus`` keeps them when it brings the stream's limits to its
own (a national API or writer restarting never drops a region).
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import re
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from nats.js import api
from nats.js.errors import BadRequestError

from koopsuz.bus.nats import NatsBus

_DOMAIN = re.compile(r"^[A-Za-z0-9_-]{1,64}$")
_PREFIX = re.compile(r"^\$JS\.([A-Za-z0-9_-]{1,64})\.API$")
_REGION_FILTER = re.compile(r"^koopsuz\.\*\.([A-Z]{2}-[A-Z]{1,3})\.>$")
LINKED_WITHIN_S = 5.0  # silence longer than this: the line to the region is down


def check_domain(domain: str) -> str:
    """A JetStream domain name as nats-server accepts it in ``jetstream { domain: ... }``."""
    d = domain.strip()
    if not _DOMAIN.match(d):
        raise ValueError(
            f"JetStream domain {domain!r}: use letters, digits, '-' and '_' only (as in the leaf's"
            " `jetstream { domain: issyk-kul }`)"
        )
    return d


def parse_domains(text: str | Sequence[str]) -> list[str]:
    """``"issyk-kul, chuy"`` (KOOPSUZ_REGIONAL_DOMAINS) or a list: checked, order kept, repeats dropped.

    An item may pin its region, ``issyk-kul=KG-Y`` (see :func:`parse_pins`); only the domain is returned."""
    return list(parse_pins(text))


def parse_pins(text: str | Sequence[str]) -> dict[str, str | None]:
    """Each regional domain and the one region whose data it may send the capital (None: not pinned).

    Why pin: the capital trusts what a region's leaf sends. Unpinned, a misconfigured or compromised
    regional centre could file events, sites and cameras under another region, and so into that region's
    officers' scope. Pinned (``issyk-kul=KG-Y``), the hub copies only the region's own subjects from its
    stream (``koopsuz.*.KG-Y.>``) and the registry follower refuses rows of another region."""
    from koopsuz.domain.regions import REGIONS

    known = {r.code for r in REGIONS}
    items = text.split(",") if isinstance(text, str) else list(text)
    out: dict[str, str | None] = {}
    for item in items:
        if not item.strip():
            continue
        name, _, region = item.partition("=")
        d = check_domain(name)
        pin = region.strip() or None
        if pin is not None and pin not in known:
            raise ValueError(f"{item.strip()!r}: {pin!r} is not a region code (one of {', '.join(sorted(known))})")
        if d in out and out[d] != pin:
            raise ValueError(f"domain {d!r} is given twice with different regions")
        out.setdefault(d, pin)
    return out


def api_prefix(domain: str) -> str:
    return f"$JS.{check_domain(domain)}.API"


def regional_source(domain: str, stream: str, region: str | None = None) -> api.StreamSource:
    """The hub's source for one region's stream; with ``region``, only that region's own events
    (subjects ``koopsuz.<kind>.<region>.<camera>``): anything else the leaf holds stays there."""
    return api.StreamSource(
        name=stream,
        external=api.ExternalStream(api=api_prefix(domain)),
        filter_subject=f"koopsuz.*.{region}.>" if region else None,
    )


@dataclass(frozen=True)
class SourceState:
    """How far the national stream is behind one region (from the hub's stream info)."""

    domain: str
    region: str | None  # the one region whose events the hub copies from it; None: not pinned
    lag: int  # messages the region holds that the hub has not copied yet (as last seen by the hub)
    active_s: float | None  # seconds since the hub last heard from the region's stream; None: never
    error: str | None

    @property
    def linked(self) -> bool:
        """Heard from within the last few seconds (an idle source still heartbeats about every second)."""
        return self.error is None and self.active_s is not None and self.active_s < LINKED_WITHIN_S


class Federation:
    """The hub side: which regional domains the national stream sources, and how far behind each is."""

    def __init__(self, bus: NatsBus, stream: str | None = None) -> None:
        # ``stream``: another sourcing stream on the hub to read the state of (``REGISTRY_STREAM``);
        # default: the events' stream
        self._bus = bus
        self.stream = stream or bus.options.stream

    def link(self, domains: str | Sequence[str]) -> list[str]:
        """Make the national stream source exactly these regional domains (a domain missing from the
        list is unlinked; its events already copied stay). Returns the domains sourced now.

        ``issyk-kul=KG-Y`` pins a domain to its region: only that region's events are copied from it
        (:func:`parse_pins`). A region that is unreachable at this moment is linked all the same: the hub
        starts copying when its leaf node connects."""
        wanted = parse_pins(domains)

        async def run(_nc: Any, js: Any) -> list[str]:
            cfg = (await js.stream_info(self.stream)).config
            others = [s for s in cfg.sources or [] if _domain_of(s) is None]  # sources not made here stay
            cfg.sources = others + [regional_source(d, self.stream, r) for d, r in wanted.items()] or None
            await js.update_stream(cfg)
            present = {_domain_of(s) for s in (await js.stream_info(self.stream)).config.sources or []}
            return [d for d in wanted if d in present]

        return self._bus.call(run)

    def status(self) -> list[SourceState]:
        async def run(nc: Any, _js: Any) -> dict[str, Any]:
            # raw stream info: nats-py's StreamSourceInfo drops ``external``, which names the region
            msg = await nc.request(f"$JS.API.STREAM.INFO.{self.stream}", b"", timeout=5)
            return json.loads(msg.data)

        info = self._bus.call(run)
        if "error" in info:
            raise RuntimeError(f"stream {self.stream}: {info['error'].get('description', info['error'])}")
        # the pin is in the stream's config (nats-server 2.9 does not repeat a source's filter in its state)
        pins: dict[str, str] = {}
        for conf in (info.get("config") or {}).get("sources") or []:
            m = _PREFIX.match((conf.get("external") or {}).get("api", ""))
            pinned = _REGION_FILTER.match(conf.get("filter_subject") or "")
            if m is not None and pinned is not None:
                pins[m.group(1)] = pinned.group(1)
        states = []
        for src in info.get("sources") or []:
            m = _PREFIX.match((src.get("external") or {}).get("api", ""))
            if m is None:
                continue
            active = src.get("active")  # nanoseconds since last contact; negative or absent: never
            err = src.get("error")
            states.append(
                SourceState(
                    domain=m.group(1),
                    region=pins.get(m.group(1)),
                    lag=int(src.get("lag") or 0),
                    active_s=active / 1e9 if isinstance(active, int) and active >= 0 else None,
                    error=(err.get("description") or str(err)) if err else None,
                )
            )
        return sorted(states, key=lambda st: st.domain)  # the server lists them in no set order


def _domain_of(source: api.StreamSource) -> str | None:
    ext = source.external
    if ext is None:
        return None
    api_str = ext.api if isinstance(ext, api.ExternalStream) else (ext or {}).get("api", "")  # type: ignore[union-attr]
    m = _PREFIX.match(api_str or "")
    return m.group(1) if m else None


# -- the capital's state, carried to the regions ----------------------------------------------------
NATIONAL_STREAM = "KOOPSUZ_NATIONAL"
NATIONAL_SUBJECTS = "koopsuznat"  # outside ``koopsuz.>``: not events, never stored as such


class NationalState:
    """Keyed state the capital decides and every region must hold (national hotlists), last value per key.

    The same mechanism as the events, the other way round: the hub's ``KOOPSUZ_NATIONAL`` stream keeps
    one message per subject (``koopsuznat.<key>``, the key's current value); each regional leaf has a
    stream of the same name with no subjects of its own that *sources* the hub's through
    ``$JS.<hub domain>.API``. A region cut off keeps the last values it copied (its cameras keep
    matching them) and JetStream resumes the copy where it stopped when the line returns, so a change
    made nationally meanwhile arrives without anyone resending it. Subject-less on the leaf, the
    regional stream never takes a core publish that crosses the leaf connection: only the source fills it.
    """

    def __init__(self, bus: NatsBus, stream: str = NATIONAL_STREAM, subjects: str = NATIONAL_SUBJECTS) -> None:
        self._bus = bus
        self.stream = stream
        self.subjects = subjects  # the first token of every key's subject

    def _config(self) -> api.StreamConfig:
        return api.StreamConfig(
            name=self.stream,
            storage=api.StorageType.FILE,
            retention=api.RetentionPolicy.LIMITS,
            max_msgs_per_subject=1,  # the value, not its history (the national store keeps that)
            num_replicas=self._bus.options.replicas,
        )

    def ensure_hub(self) -> None:
        cfg = self._config()
        cfg.subjects = [f"{self.subjects}.>"]
        self._ensure(cfg)

    def ensure_region(self, hub_domain: str) -> None:
        cfg = self._config()
        cfg.sources = [regional_source(hub_domain, self.stream)]
        self._ensure(cfg)

    def _ensure(self, cfg: api.StreamConfig) -> None:
        async def run(_nc: Any, js: Any) -> None:
            try:
                await js.add_stream(cfg)
            except BadRequestError:  # exists: bring it to this configuration
                await js.update_stream(cfg)

        self._bus.call(run)

    def put_many(self, values: dict[str, bytes]) -> None:
        """Store each key's value on the hub (``key``: dot-separated tokens); raises if the hub did not ack."""
        for key in values:
            _check_key(key)

        async def run(_nc: Any, js: Any) -> None:
            await asyncio.gather(
                *(js.publish(f"{self.subjects}.{k}", v, stream=self.stream, timeout=5) for k, v in values.items())
            )

        if values:
            self._bus.call(run, timeout=30)

    def revision(self) -> int:
        """The stream's last sequence: it moves whenever a value arrives (0: nothing yet)."""

        async def run(_nc: Any, js: Any) -> int:
            return int((await js.stream_info(self.stream)).state.last_seq or 0)

        return self._bus.call(run)

    def read(self, prefix: str) -> dict[str, bytes]:
        """Every key under ``prefix`` with its current value (one message per key is all the stream keeps)."""
        _check_key(prefix)
        return self.read_since(0, prefix)[0]

    def read_since(self, after_seq: int, prefix: str | None = None) -> tuple[dict[str, bytes], int]:
        """The keys (under ``prefix``; None: all) whose value arrived after stream sequence ``after_seq``,
        and the last sequence seen (``after_seq`` when nothing is newer). Last value per key makes this
        the set of keys changed since then, each with its newest value, whatever happened in between."""
        subject = f"{self.subjects}.>" if prefix is None else f"{self.subjects}.{prefix}.>"

        async def run(_nc: Any, js: Any) -> tuple[dict[str, bytes], int]:
            cfg = api.ConsumerConfig(  # explicit acks: nats-server 2.9 refuses a pull consumer without
                ack_policy=api.AckPolicy.EXPLICIT, inactive_threshold=30.0
            )
            if after_seq > 0:
                cfg.deliver_policy, cfg.opt_start_seq = api.DeliverPolicy.BY_START_SEQUENCE, after_seq + 1
            else:
                cfg.deliver_policy = api.DeliverPolicy.ALL
            psub = await js.pull_subscribe(subject, stream=self.stream, config=cfg)
            out: dict[str, bytes] = {}
            last = after_seq
            try:
                pending = (await psub.consumer_info()).num_pending
                while pending > 0:
                    msgs = await psub.fetch(batch=min(pending, 1000), timeout=5)
                    for m in msgs:
                        out[m.subject[len(self.subjects) + 1 :]] = m.data
                        last = max(last, m.metadata.sequence.stream)
                        await m.ack()
                    pending -= len(msgs)
            finally:
                with contextlib.suppress(Exception):
                    await psub.unsubscribe()
                with contextlib.suppress(Exception):
                    await js.delete_consumer(self.stream, psub._consumer)
            return out, last

        return self._bus.call(run, timeout=60)


# -- each region's registry, carried to the capital -------------------------------------------------
REGISTRY_STREAM = "KOOPSUZ_REGISTRY"
REGISTRY_SUBJECTS = "koopsuzreg"  # outside ``koopsuz.>`` (denied on the leaf's remote) and ``koopsuznat.>``


class RegistryState(NationalState):
    """Each region's sites and cameras, last value per key, copied to the capital (services/regional_registry.py).

    ``NationalState`` turned round: a regional leaf's ``KOOPSUZ_REGISTRY`` stream takes the subjects
    ``koopsuzreg.<its own domain>.>`` (the domain in the subject: two regions' keys never meet in the
    hub's copy, which keeps one message per subject, and the capital knows which region owns a row
    from the key alone); the hub's stream of the same name has no subjects and *sources* every
    region's through ``$JS.<domain>.API``. A cut line delays the copy, JetStream resumes it.
    """

    def __init__(self, bus: NatsBus) -> None:
        super().__init__(bus, REGISTRY_STREAM, REGISTRY_SUBJECTS)

    def own_domain(self) -> str:
        """The JetStream domain of the server this bus talks to (the leaf's ``jetstream { domain }``): a
        regional node learns it there rather than from a setting that could disagree with it."""

        async def run(_nc: Any, js: Any) -> str | None:
            return (await js.account_info()).domain

        domain = self._bus.call(run)
        if not domain:
            raise RuntimeError("this nats-server has no JetStream domain (a regional leaf: `jetstream { domain: x }`)")
        return check_domain(domain)

    def ensure_regional_stream(self) -> str:
        """The regional leaf's stream, on its own domain's subjects; returns that domain."""
        domain = self.own_domain()
        cfg = self._config()
        cfg.subjects = [f"{self.subjects}.{domain}.>"]
        self._ensure(cfg)
        return domain

    def ensure_hub_sources(self, domains: Sequence[str]) -> None:
        """The hub's stream sources exactly these regions' streams (one dropped keeps what was copied)."""
        wanted = parse_domains(domains)
        if not wanted:
            raise ValueError("no regional domain to source the registries of (KOOPSUZ_REGIONAL_DOMAINS)")
        cfg = self._config()
        # each region's source copies only that region's own keys: a leaf that took another domain's
        # subjects (misconfigured, or compromised) cannot write sites and cameras as that region
        cfg.sources = [
            api.StreamSource(
                name=self.stream,
                external=api.ExternalStream(api=api_prefix(d)),
                filter_subject=f"{self.subjects}.{d}.>",
            )
            for d in wanted
        ]
        self._ensure(cfg)


def _check_key(key: str) -> None:
    if not key or any(not t or not re.fullmatch(r"[A-Za-z0-9_-]+", t) for t in key.split(".")):
        raise ValueError(f"key {key!r}: dot-separated tokens of letters, digits, '-' and '_'")
