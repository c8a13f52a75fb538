"""Guarded outbound HTTP, shared by every app that calls out.

- ssrf.py: which addresses may be called (checked on the configured URL and again on every
  address actually connected to).
- session.py: the requests session: guarded connections, mandatory timeouts, no hidden
  retries, status -> error mapping.
- responses.py: the remote's own error text and the 2xx/4xx/5xx classification.
- retry.py: Retry-After and rate-limit reset headers; a retry loop for idempotent calls.
- breaker.py: the circuit breaker, on any row with the breaker fields
  (fixops/platform/models/breaker.py) or on a platform row keyed by a string.
- errors.py: TransientError (worth retrying later) and PermanentError.
"""
