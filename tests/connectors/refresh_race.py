"""Two workers refreshing one connection's token at once (test helper for
the OAuth accounting targets): both build the target from the database and
list the accounts; the row-lock refresh (`ConnectionTokenSource`) must spend
the rotating refresh token once."""

from __future__ import annotations

import threading
from typing import Any


def two_workers_list_accounts(connection_pk: Any) -> list[Any]:
    """What each of two concurrent workers got from `list_accounts()` on the
    connection `connection_pk`: the number of accounts, or the error raised."""
    from django.db import connection as db

    from commerce_sync.core.models import Connection
    from commerce_sync.core.services.connections import connection_target

    seen: list[Any] = []

    def work() -> None:
        try:
            target = connection_target(connection=Connection.objects.get(pk=connection_pk))
            seen.append(len(target.list_accounts()))
        except Exception as error:  # reported by the caller's assertion
            seen.append(error)
        finally:
            db.close()

    threads = [threading.Thread(target=work) for _ in range(2)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(30)
    return seen
