"""The message bus: one small protocol, an in-process adapter now, NATS JetStream for scale-out."""

from koopsuz.bus.base import Bus, Handler, Subscription
from koopsuz.bus.memory import MemoryBus


def make_bus(url: str) -> Bus:
    if url.startswith("memory://"):
        return MemoryBus()
    raise ValueError(f"unsupported bus URL {url!r}: this build supports memory:// (NATS arrives with scale-out)")


__all__ = ["Bus", "Handler", "MemoryBus", "Subscription", "make_bus"]
