"""The per-merchant lock: one sync (or retry) of a merchant at a time.

It must hold across processes and machines, and die with a process that is
killed while holding it, so that the next run is not blocked by a crash.
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterator
from contextlib import contextmanager

from django.db import connection as db_connection

from commerce_sync.core.models import Merchant


@contextmanager
def merchant_lock(merchant: Merchant) -> Iterator[bool]:
    """Try to take the merchant's lock without waiting; yields whether it was
    taken (False: another process holds it) and releases it on exit.

    On PostgreSQL a session advisory lock keyed by a hash of the merchant's
    id. With SQLite (the embedded default: a web process and qcluster
    workers, all on this machine) an exclusive `flock` on a file in a
    `<database>.locks` directory beside the database; like the session's
    lock, it dies with its process. An in-memory SQLite database is one
    process, so the lock is always granted there.
    """
    if db_connection.vendor != "postgresql":
        import fcntl
        from pathlib import Path

        name = str(db_connection.settings_dict["NAME"])
        if name == ":memory:" or "mode=memory" in name:  # in-memory: one process
            yield True
            return
        locks = Path(name).with_name(Path(name).name + ".locks")
        locks.mkdir(exist_ok=True)
        with open(locks / f"sync-{merchant.pk}.lock", "a") as handle:
            try:
                fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
                acquired = True
            except BlockingIOError:
                acquired = False
            yield acquired  # closing the file releases the lock
        return
    lock_id = int.from_bytes(
        hashlib.sha256(b"sync:" + merchant.pk.bytes).digest()[:8], "big", signed=True
    )
    with db_connection.cursor() as cursor:
        cursor.execute("SELECT pg_try_advisory_lock(%s)", [lock_id])
        acquired = bool(cursor.fetchone()[0])
    try:
        yield acquired
    finally:
        if acquired:
            with db_connection.cursor() as cursor:
                cursor.execute("SELECT pg_advisory_unlock(%s)", [lock_id])
