"""The message bus: one small protocol, an in-process adapter (embedded) and NATS JetStream (scale-out)."""

from koopsuz.bus.base import Bus, Handler, Subscription
from koopsuz.bus.memory import MemoryBus


def make_bus(url: str) -> Bus:
    """``memory://`` for one process; ``nats://host:4222[,host2:4222][?stream=KOOPSUZ]`` for JetStream."""
    if url.startswith("memory://"):
        return MemoryBus()
    if url.startswith(("nats://", "tls://")):
        from koopsuz.bus.nats import NatsBus  # imported here: the embedded mode never loads nats-py

        return NatsBus.connect(url)
    raise ValueError(f"unsupported bus URL {url!r}: use memory:// (embedded) or nats://host:4222 (JetStream)")


__all__ = ["Bus", "Handler", "MemoryBus", "Subscription", "make_bus"]
