"""django-q2 task: forget idempotency keys past their lifetime."""

from commerce_sync.idempotency.services import idempotency_keys_purge

PURGE_TASK = "commerce_sync.idempotency.tasks.purge_idempotency_keys"


def purge_idempotency_keys() -> int:
    return idempotency_keys_purge()
