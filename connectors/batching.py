"""Writing several documents per call, shared by the accounting targets.

A payment must reach the target after the invoice, credit note or bill it
settles (its `links` name their keys), so a batch is written in waves: first
every document that links to none still waiting, then those whose links the
first wave wrote, and so on. Each wave is then cut into the chunks a
platform's batch endpoint takes (Xero 50 elements, QuickBooks 30 operations).

`SingleWrites` gives the protocol's batch methods to a target that writes
one document per call (Beancount, the HTTP ledger).
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Sequence
from typing import Any, TypeVar

from commerce_sync.errors import (
    ApplicationError,
    CredentialsRevoked,
    DocumentRejected,
    SubscriptionExpired,
)

T = TypeVar("T")
Outcome = str | ApplicationError  # the target's id of a document, or why it was refused


def document_links(document: dict[str, Any]) -> list[str]:
    """The keys of the documents this one settles (a payment's invoices), in
    the order its `links` name them; they must be written before it."""
    return [str(link["id"]) for link in document.get("links") or []]


def settled_before(error: ApplicationError, results: dict[str, Outcome]) -> None:
    """Note in `error.settled` (revoked credentials or an ended
    subscription, raised part-way through a batch) the documents of
    `results` already in the target (key -> id), so the sync records them
    as pushed rather than failed; what an inner call noted is kept."""
    error.settled = {
        **{key: outcome for key, outcome in results.items() if isinstance(outcome, str)},
        **error.settled,
    }


def chunked(items: Sequence[T], size: int) -> Iterator[Sequence[T]]:
    """`items` in consecutive slices of at most `size` (the last may be shorter)."""
    for start in range(0, len(items), size):
        yield items[start : start + size]


def waves_write(
    documents: dict[str, dict[str, Any]],
    results: dict[str, Outcome],
    write_wave: Callable[[list[str]], dict[str, Outcome]],
) -> dict[str, Outcome]:
    """Write the documents (key -> document) that `results` has no outcome
    for yet, wave after wave: `write_wave(keys)` gets the keys whose linked
    documents are all written or outside this call, in `documents` order,
    and returns an outcome per key it settled. A key it leaves without one
    is offered again in the next wave. Documents that only link to each
    other in a cycle are refused (`DocumentRejected`) without a call.
    Returns `results`, completed; errors of a whole call are raised by
    `write_wave` and pass through."""
    pending = [key for key in documents if key not in results]
    while pending:
        waiting = set(pending)
        ready = [key for key in pending if not waiting & set(document_links(documents[key]))]
        if not ready:  # links that can never resolve within this call
            for key in pending:
                results[key] = DocumentRejected("The documents link to each other in a cycle")
            break
        try:
            results.update(write_wave(ready))
        except (CredentialsRevoked, SubscriptionExpired) as error:
            settled_before(error, results)
            raise
        pending = [key for key in pending if key not in results]
    return results


def create_missing(
    documents: dict[str, dict[str, Any]],
    results: dict[str, Outcome],
    create: Callable[[str, dict[str, Any]], str],
) -> dict[str, Outcome]:
    """Create, one call each and in `documents` order, those without an
    outcome in `results` yet (for targets that look keys up first and take
    one document per call: Exact Online, Sage Accounting). A refusal
    answers that key alone; revoked credentials or an ended subscription
    are raised; a transient fault before any create is raised, after some
    it leaves the rest unanswered (the sync tries them again). Returns
    `results`, completed."""
    created = 0
    for key, document in documents.items():
        if key in results:
            continue
        try:
            results[key] = create(key, document)
            created += 1
        except (CredentialsRevoked, SubscriptionExpired) as error:
            settled_before(error, results)
            raise
        except ApplicationError as error:
            if error.transient and not created:
                raise
            results[key] = error
            if error.transient:
                break  # the rest are not answered: the sync tries them again
    return results


class SingleWrites:
    """The batch half of `AccountingTarget` for a target that takes one
    document per call: `write_documents` calls `write_document` for each key
    in turn, and `check_references` knows nothing beyond the accounts the
    sync already checks. `writes_in_batches` is False, so the sync writes
    such a target item by item (finding a key before rewriting it)."""

    writes_in_batches = False

    def write_document(self, *, key: str, document: dict[str, Any]) -> str:
        raise NotImplementedError  # the target's own

    def write_documents(self, items: list[tuple[str, dict[str, Any]]]) -> dict[str, Outcome]:
        """Each (key, document) written in order: key -> the target's id, or
        the error that refused that document. A transient fault, revoked
        credentials or an expired subscription concern every document and
        are raised (what was written before stays written: keys are
        idempotent)."""
        results: dict[str, Outcome] = {}
        for key, document in items:
            try:
                results[key] = self.write_document(key=key, document=document)
            except (CredentialsRevoked, SubscriptionExpired) as error:
                settled_before(error, results)
                raise
            except ApplicationError as error:
                if error.transient:
                    raise
                results[key] = error
        return results

    def check_references(self, documents: list[dict[str, Any]]) -> list[str]:
        """No problems this target could tell before writing: []."""
        return []
