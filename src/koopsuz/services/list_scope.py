"""Who sees and who changes a list (face watchlist, plate hotlist) that is national or regional.

A national list (no region) is seen by every reader, since a wanted person or a stolen car is
wanted everywhere, and changed by national officers only; a regional list is seen and changed
within its region.
"""

from __future__ import annotations

from koopsuz.security.principal import Principal


def sees(who: Principal, region: str | None) -> bool:
    return region is None or who.scope.allows(region)


def edits(who: Principal, region: str | None) -> bool:
    return who.scope.is_national if region is None else who.scope.allows(region)
