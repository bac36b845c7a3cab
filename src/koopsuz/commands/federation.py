"""``koopsuz federation``: the national hub's view of the regional leaf nodes (issue 9, regions).

``link`` makes the national stream source exactly the given regional JetStream domains (or those in
KOOPSUZ_REGIONAL_DOMAINS); ``status`` shows, per region, whether the hub hears from it and how many
events it has still to copy. Both talk to the hub named by KOOPSUZ_BUS_URL. See docs/deploy.md for
the nats-server configurations of hub and leaf.
"""

from __future__ import annotations

import json
from typing import Annotated

import typer
from rich.console import Console
from rich.markup import escape
from rich.table import Table

app = typer.Typer(help="Regional leaf nodes feeding the national stream (run against the hub).", no_args_is_help=True)
console = Console(highlight=False)
err = Console(stderr=True, highlight=False)

BusUrl = Annotated[str | None, typer.Option("--bus-url", help="the hub [default: KOOPSUZ_BUS_URL]", show_default=False)]


def _fail(message: str) -> None:
    err.print(f"[red]error:[/red] {escape(message)}")
    raise typer.Exit(1)


def _hub(bus_url: str | None):  # type: ignore[no-untyped-def]
    from koopsuz.bus import make_bus
    from koopsuz.bus.federation import Federation
    from koopsuz.bus.nats import NatsBus
    from koopsuz.config import Settings

    url = bus_url or Settings().bus_url
    if not url.startswith(("nats://", "tls://")):
        _fail(f"the federation lives on JetStream: set KOOPSUZ_BUS_URL=nats://hub:4222 (not {url!r})")
    try:
        bus = make_bus(url)
    except (ValueError, RuntimeError) as exc:
        _fail(str(exc))
    assert isinstance(bus, NatsBus)
    return bus, Federation(bus)


@app.command()
def link(
    domains: Annotated[
        list[str] | None,
        typer.Argument(
            help="regional JetStream domains, each pinned to its region: issyk-kul=KG-Y chuy=KG-C (a domain"
            " without =REGION may send any region's events) [default: KOOPSUZ_REGIONAL_DOMAINS]"
        ),
    ] = None,
    bus_url: BusUrl = None,
) -> None:
    """Make the national stream source exactly these regions (one left out is unlinked; what it sent stays)."""
    from koopsuz.bus.federation import parse_pins
    from koopsuz.config import Settings

    try:
        given = domains if domains else Settings().regional_domains
        pins = parse_pins(given)
        wanted = [f"{d}={r}" if r else d for d, r in pins.items()]
        for d in [d for d, r in pins.items() if r is None]:
            err.print(f"[yellow]warning:[/yellow] {d} is not pinned to a region: it may send any region's events")
    except ValueError as exc:
        _fail(str(exc))
        return
    bus, fed = _hub(bus_url)
    try:
        linked = fed.link(wanted)
    except Exception as exc:
        _fail(f"cannot change the sources of stream {fed.stream}: {exc}")
        return
    finally:
        bus.close()
    typer.echo(f"stream {fed.stream} sources: {', '.join(linked) if linked else 'no region'}")


@app.command()
def status(
    bus_url: BusUrl = None,
    as_json: Annotated[bool, typer.Option("--json", help="one JSON object per region")] = False,
) -> None:
    """Per region: its pin, linked or not, seconds since the hub last heard from it, events and registry
    changes (sites, cameras) still to copy."""
    from koopsuz.bus.federation import REGISTRY_STREAM, Federation

    bus, fed = _hub(bus_url)
    try:
        events = {st.domain: st for st in fed.status()}
        try:  # the regions' sites and cameras (services/regional_registry.py), where the capital copies them
            registry = {st.domain: st for st in Federation(bus, REGISTRY_STREAM).status()}
        except Exception:  # no registry stream on this hub (no national api/serve started yet)
            registry = {}
    except Exception as exc:
        _fail(str(exc))
        return
    finally:
        bus.close()
    domains = sorted(set(events) | set(registry))
    if as_json:
        for d in domains:
            ev, reg = events.get(d), registry.get(d)
            heard = ev or reg
            assert heard is not None
            row = {
                "domain": d,
                "region": ev.region if ev else None,
                "linked": heard.linked,
                "lag": ev.lag if ev else None,  # None: the events' stream does not source it
                "registry_lag": reg.lag if reg else None,  # None: no registry copied from it
                "active_s": heard.active_s,
                "error": heard.error,
            }
            typer.echo(json.dumps(row))  # not rich: a long line must not wrap
        return
    if not domains:
        console.print(f"stream {fed.stream} sources no region (koopsuz federation link issyk-kul=KG-Y ...)")
        return
    table = Table("region domain", "pinned to", "linked", "last heard", "events to copy", "registry to copy", "error")
    for d in domains:
        ev, reg = events.get(d), registry.get(d)
        heard = ev or reg
        assert heard is not None
        last = "never" if heard.active_s is None else f"{heard.active_s:.1f} s ago"
        pinned = (ev.region if ev else None) or "[yellow]any region[/yellow]"
        row = (
            d, pinned, "yes" if heard.linked else "no", last,
            str(ev.lag) if ev else "not linked", str(reg.lag) if reg else "-", escape(heard.error or ""),
        )  # fmt: skip
        table.add_row(*row)
    console.print(table)


@app.command("share-hotlists")
def share_hotlists(
    bus_url: BusUrl = None,
    interval_s: Annotated[float, typer.Option(help="seconds between looks at the national store")] = 2.0,
) -> None:
    """Carry the national hotlists (store in KOOPSUZ_DATABASE_URL) to every regional node; run one, on the hub.

    Each list and entry is kept under its own key in the hub's KOOPSUZ_NATIONAL stream; a region's node
    copies it (a cut-off region when its line returns) and writes it into its own store.
    """
    import signal
    import threading

    from koopsuz.bus.federation import NationalState
    from koopsuz.config import Settings
    from koopsuz.services.national_hotlists import NationalHotlistPublisher
    from koopsuz.store.db import Database

    if interval_s <= 0:
        _fail("--interval-s must be more than 0")
    bus, _fed = _hub(bus_url)
    db = Database(Settings().db_url)
    publisher = NationalHotlistPublisher(db, NationalState(bus), interval_s=interval_s)
    try:
        db.migrate()
        publisher.start()
    except Exception as exc:
        bus.close()
        _fail(f"cannot share the national hotlists: {exc}")
    console.print(f"sharing national hotlists through {NationalState(bus).stream}; stop with Ctrl-C")
    done = threading.Event()
    for sig in (signal.SIGINT, signal.SIGTERM):
        signal.signal(sig, lambda *_a: done.set())
    try:
        done.wait()
    finally:
        publisher.stop()
        bus.close()
        db.dispose()
