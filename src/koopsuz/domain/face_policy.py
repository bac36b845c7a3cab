"""Where face recognition runs, against which lists, and how long faces seen are kept.

One row per site type. The defaults follow the issue's line: schools and kindergartens film
children, so they match only against missing-person and wanted lists and keep nothing of a face
that matched nothing; elsewhere faces seen are kept 72 hours for investigators' searches (with a
legal basis) and then deleted. A site type whose row says ``enabled: False`` runs no face
recognition at all, whatever its cameras' profile says.
"""

from __future__ import annotations

from dataclasses import dataclass

from koopsuz.domain.watchlists import ListKind

ALL_KINDS = frozenset(ListKind)


@dataclass(frozen=True, slots=True)
class FacePolicy:
    enabled: bool = True
    lists: frozenset[ListKind] = ALL_KINDS  # which kinds of watchlist its cameras match against
    keep_observations_h: float = 72.0  # faces that matched nothing; 0 = keep none


DEFAULT_POLICY = FacePolicy()
POLICIES: dict[str, FacePolicy] = {
    "school": FacePolicy(lists=frozenset({ListKind.MISSING, ListKind.WANTED}), keep_observations_h=0.0),
    "kindergarten": FacePolicy(lists=frozenset({ListKind.MISSING, ListKind.WANTED}), keep_observations_h=0.0),
}


def policy_for(site_type: str | None) -> FacePolicy:
    return POLICIES.get(site_type or "", DEFAULT_POLICY)
