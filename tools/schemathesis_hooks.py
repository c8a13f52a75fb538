"""schemathesis hooks for tools/schemathesis_run.sh (loaded through SCHEMATHESIS_HOOKS).

The fuzzer calls every operation with the run's own admin token, including
DELETE /api/v1/tokens/{prefix}/: once it has read that token's prefix from GET /tokens/, it
would revoke its own credential and every later request would be a (documented) 401 that
tests nothing. Cases naming the run's own token are pointed at a prefix that does not exist
(a 404), so revocation and rotation are still fuzzed on every other token.
"""

from __future__ import annotations

import os

import schemathesis

OWN_PREFIX = os.environ.get("FIXOPS_ST_TOKEN_PREFIX", "")


@schemathesis.hook
def map_case(context, case):
    if OWN_PREFIX and (case.path_parameters or {}).get("prefix") == OWN_PREFIX:
        case.path_parameters["prefix"] = "0" * len(OWN_PREFIX)
    return case
