"""Idempotency keys for the partner API's POSTs: the first answer to a
(partner, key) is stored and replayed to every repeat of the same request
for `IDEMPOTENCY_KEY_TTL_HOURS`; a different request under the same key is
refused. See `services` for the protocol."""
