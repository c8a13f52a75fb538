"""Token scopes: `<resource>:<read|write>`. An empty scope list means the role's full reach.

Scopes narrow a token below its role (a CI token that may only upload scans); they never
widen it. `resource:*` and `*` are wildcards.
"""

from __future__ import annotations

RESOURCES = (
    "applications",
    "scans",
    "findings",
    "decisions",
    "policies",
    "evidence",
    "integrations",
    "advisory",
    "tokens",
    "teams",
    "analytics",
    "reports",
)
# Resources nothing writes through the API: they have a read scope only.
READ_ONLY = frozenset({"analytics", "reports"})
SCOPES = tuple(
    f"{r}:{a}" for r in RESOURCES for a in ("read", "write") if a == "read" or r not in READ_ONLY
)


def validate_scopes(scopes: list[str]) -> list[str]:
    """Normalised scopes, or ValueError naming the unknown ones."""
    cleaned = sorted({s.strip() for s in scopes if s.strip()})
    allowed = set(SCOPES) | {f"{r}:*" for r in RESOURCES} | {"*"}
    unknown = [s for s in cleaned if s not in allowed]
    if unknown:
        raise ValueError(
            f"unknown scope(s): {', '.join(unknown)}; known: {', '.join(SCOPES)}, "
            "<resource>:* and *"
        )
    return cleaned


def scope_granted(granted: list[str], needed: str) -> bool:
    """True when the token's `granted` scopes include `needed` (empty list grants all)."""
    if not granted:
        return True
    resource = needed.split(":", 1)[0]
    return needed in granted or f"{resource}:*" in granted or "*" in granted
