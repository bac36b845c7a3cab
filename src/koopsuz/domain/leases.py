"""Which cameras a worker should hold: a fair share, spread so that workers rarely contend.

Pure policy; the leases themselves live in JetStream key-value storage (``bus/leases.py``).
"""

from __future__ import annotations

import hashlib
import math
from dataclasses import dataclass


@dataclass(frozen=True)
class LeasePlan:
    keep: list[str]  # held and still wanted: refresh
    release: list[str]  # held but above the fair share, or no longer enabled: hand back
    claim: list[str]  # free cameras to try, best first (a claim may lose a race; that is fine)


def fair_share(cameras: int, workers: int) -> int:
    return math.ceil(cameras / max(workers, 1)) if cameras else 0


def _affinity(worker: str, camera: str) -> bytes:
    """Rendezvous hashing: each worker prefers a different order of cameras, so claims rarely collide
    and a returning worker tends to get the same cameras back (warm caches, same recorder disk)."""
    return hashlib.sha256(f"{worker}\x00{camera}".encode()).digest()


def plan(worker: str, cameras: list[str], held: set[str], taken: set[str], workers: int) -> LeasePlan:
    """``held``: this worker's leases; ``taken``: cameras leased by others; ``workers``: live workers."""
    share = fair_share(len(cameras), workers)
    wanted = set(cameras)
    mine = sorted((c for c in held if c in wanted), key=lambda c: _affinity(worker, c))
    keep, extra = mine[:share], mine[share:]
    gone = sorted(c for c in held if c not in wanted)
    free = sorted((c for c in cameras if c not in held and c not in taken), key=lambda c: _affinity(worker, c))
    return LeasePlan(keep=keep, release=extra + gone, claim=free[: max(share - len(keep), 0)])
