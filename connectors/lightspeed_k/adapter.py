"""`LightspeedKSource`: one period of a Lightspeed Restaurant K-Series
business read into canonical records.

The business locations come from `/f/data/businesses`: the connection's
`business_location_id` when set (the location the merchant picked), else
every location the grant covers (each order then names its location, and
the Locations page of the setup flow sets one document per location).
Every location read must keep its books in the merchant's currency.

Per location, the V2 sales closed in [start, end) (`from`/`to`, split into
ranges of at most 365 days, `nextPageToken` to the end) and the Lightspeed
Payments records created in it (`offset`/`nextOffset`). V2 gives closed
transactions only, so a sale is read once, by its `timeClosed`; a later
change to it is a refund, a sale of its own. Anything that does not fit the
canonical model stops the read with a `DataProcessingError` naming every
record concerned.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from commerce_sync.errors import ConfigurationError, CredentialsRevoked
from connectors.common import problems_error
from connectors.context import ConnectorContext, LightspeedKSettings
from connectors.lightspeed_k.client import MAX_RANGE_DAYS, LightspeedKClient
from connectors.lightspeed_k.translate import translate_location
from connectors.protocols import CommerceBatch, Record


def utc_text(moment: datetime) -> str:
    """An aware datetime as the ISO 8601 UTC instant the API takes."""
    if moment.tzinfo is None:
        raise ValueError("read_period needs aware datetimes")
    return moment.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def ranges(start: datetime, end: datetime) -> list[tuple[str, str]]:
    """[start, end) cut into ranges of at most `MAX_RANGE_DAYS` days."""
    found, step = [], timedelta(days=MAX_RANGE_DAYS)
    while start < end:
        stop = min(start + step, end)
        found.append((utc_text(start), utc_text(stop)))
        start = stop
    return found


class LightspeedKSource:
    platform_key = "lightspeed-k"

    def __init__(
        self, client: LightspeedKClient, *, currency: str, business_location_id: str = ""
    ) -> None:
        self.client = client
        self.currency = currency
        self.business_location_id = business_location_id

    def locations(self) -> list[Record]:
        """The locations this connection reads, as canonical locations with
        the vendor's `currencyCode` kept. Raises `ConfigurationError` when the
        chosen location is not among the grant's or a location keeps its
        books in another currency than the merchant's."""
        found = self.client.business_locations()
        chosen = [
            x
            for x in found
            if not self.business_location_id or str(x.get("blID")) == self.business_location_id
        ]
        if not chosen:
            known = ", ".join(f"{x.get('blID')} ({x.get('blName')})" for x in found) or "none"
            raise ConfigurationError(
                f"Lightspeed business location {self.business_location_id or '(any)'} is not "
                f"among those this connection may read ({known}): pick one of them in the setup "
                "flow or connect the right Lightspeed account"
            )
        for location in chosen:
            if location.get("currencyCode") != self.currency:
                raise ConfigurationError(
                    f"Lightspeed business location {location.get('blID')} keeps its books in "
                    f"{location.get('currencyCode')}, not the merchant's {self.currency}: pick "
                    "another location (set business_location_id) or a merchant in that currency"
                )
        return [{"id": str(x["blID"]), "name": str(x.get("blName") or x["blID"])} for x in chosen]

    def read_period(self, *, start: datetime, end: datetime) -> CommerceBatch:
        """The period's records (see the module docstring). Raises
        `DataProcessingError` (records that do not fit, named by id),
        `ConfigurationError` (location), `CredentialsRevoked` (grant revoked),
        `RateLimited` / `PlatformUnavailable` (try again later)."""
        calls_before = self.client.calls
        batch = CommerceBatch()
        problems: list[str] = []
        seen: dict[str, set[str]] = {"products": set(), "categories": set(), "taxes": set()}
        batch.locations = self.locations()
        for location in batch.locations:
            sales, payments = [], []
            for first, last in ranges(start, end):
                sales += list(self.client.sales(location["id"], start=first, end=last))
                payments += list(self.client.payments(location["id"], start=first, end=last))
            result = translate_location(
                location_id=location["id"], currency=self.currency, sales=sales, payments=payments
            )
            problems += [f"location {location['id']}: {p}" for p in result.problems]
            batch.orders += result.orders
            batch.transactions += result.transactions
            for kind, records, into in (
                ("products", result.products, batch.products),
                ("categories", result.product_categories, batch.product_categories),
                ("taxes", result.tax_components, batch.tax_components),
            ):
                for record in records:
                    if record["id"] not in seen[kind]:
                        seen[kind].add(record["id"])
                        into.append(record)
        if problems:
            raise problems_error("Lightspeed", problems)
        batch.api_calls = self.client.calls - calls_before
        return batch


def lightspeed_k_source_build(context: ConnectorContext[LightspeedKSettings]) -> LightspeedKSource:
    """The source for a linked K-Series connection: its environment's host
    (`LightspeedKSettings.environment`), its OAuth tokens (kept fresh by the
    core's token source) and the business location it reads, if one was picked."""
    from connectors.lightspeed_k.oauth import api_url, lightspeed_k_oauth_client

    environment = context.settings.environment
    client = LightspeedKClient(
        tokens=context.token_source(lightspeed_k_oauth_client(environment)),
        base_url=api_url(environment),
    )
    return LightspeedKSource(
        client,
        currency=context.currency,
        business_location_id=context.settings.business_location_id,
    )


class _GrantedToken:
    """The access token a consent just gave (`TokenSource` for one listing):
    nothing to refresh, a 401 means the grant is already gone."""

    def __init__(self, token: str) -> None:
        self._token = token

    def access_token(self) -> str:
        return self._token

    def refresh_now(self, *, rejected: str) -> str:
        raise CredentialsRevoked("Lightspeed refused the access token it just issued")


def lightspeed_k_location_options(
    *, access_token: str, environment: str, currency: str
) -> list[tuple[str, str]]:
    """(blID, name) of the business locations a fresh grant covers that keep
    their books in `currency`, for the merchant to pick from in the setup
    flow. Raises `ConfigurationError` when there is none (naming the
    locations found), and what the client raises."""
    from connectors.lightspeed_k.oauth import api_url

    client = LightspeedKClient(tokens=_GrantedToken(access_token), base_url=api_url(environment))
    found = client.business_locations()
    options = [
        (str(x.get("blID")), str(x.get("blName") or x.get("blID")))
        for x in found
        if x.get("currencyCode") == currency
    ]
    if not options:
        seen = ", ".join(f"{x.get('blName')} ({x.get('currencyCode')})" for x in found) or "none"
        raise ConfigurationError(
            f"None of the Lightspeed business locations this account shares keeps its books in "
            f"{currency} (found: {seen}): connect the Lightspeed account of this business"
        )
    return options
