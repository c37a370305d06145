"""Which tax rate a line is taxed at when it does not say, and how a line
taxed by several components (Quebec's GST and QST) is split into rates the
merchant mapped: what decides which tax rate the accounts show."""

from __future__ import annotations

from decimal import Decimal

from mapping.books import Book, SalesKey, Sum
from mapping.canonical import CommerceData, TaxComponent, TaxPart
from mapping.config import parse_configuration
from mapping.missing import MissingMappings
from mapping.taxes import TaxRules

GST = TaxComponent("gst", "GST", Decimal("0.05"))
QST = TaxComponent("qst", "QST", Decimal("0.09975"))
UNRATED = TaxComponent("eco", "Eco fee", None)


def rules(*rates: str) -> TaxRules:
    config = parse_configuration(
        {"sales": {"taxRates": {r: {"selectedTaxRateId": f"TR-{r}"} for r in rates}}}
    )
    data = CommerceData(tax_components={c.id: c for c in (GST, QST, UNRATED)})
    return TaxRules(data, config, MissingMappings(), [])


def test_a_line_with_rated_components_is_taxed_at_their_sum():
    taxes = (TaxPart("gst", "GST", Decimal("1.00")), TaxPart("qst", "QST", Decimal("2.00")))
    assert rules().percentage(Decimal("3.00"), Decimal("20.00"), taxes, "CAD") == Decimal("14.975")


def test_a_component_without_a_rate_falls_back_to_the_mapped_rate_matching_the_tax():
    """5.00 on 25.00: 20 %, the mapped rate that gives exactly that tax."""
    taxes = (TaxPart("gst", "GST", Decimal("1.25")), TaxPart("eco", "Eco", Decimal("3.75")))
    found = rules("5", "20").percentage(Decimal("5.00"), Decimal("25.00"), taxes, "GBP")
    assert found == Decimal("20")


def test_a_rate_no_mapping_explains_is_the_tax_over_the_net_to_a_thousandth():
    assert rules("20").percentage(Decimal("1.00"), Decimal("7.00"), (), "GBP") == Decimal("14.286")
    assert rules("20").percentage(Decimal("1.00"), Decimal("0"), (), "GBP") is None


def test_a_line_split_by_component_gets_each_components_mapped_rate():
    """GST and QST mapped, their sum (14.975 %) not: one rate per component.
    QST's is its own rate even though its amount (2.10, rounded on the
    whole order) matches no rate; the unrated one's is the mapped rate its
    amount matches (5 % of 20.00 is 1.00)."""
    taxes = (
        TaxPart("qst", "QST", Decimal("2.10")),
        TaxPart("eco", "Eco fee", Decimal("1.00")),
    )
    rate, label = rules("5", "9.975").line_rate(
        Decimal("14.975"), True, taxes, Decimal("20.00"), "CAD"
    )
    assert (rate, label) == ((("TR-9.975", "9.975%"), ("TR-5", "5%")), "")


def test_a_split_refund_line_credits_the_net_once_and_each_components_tax_back():
    """A refund (sign -1) of 20.00 net with GST 1.00 and QST 1.995: the net
    on the GST line only, each tax negated, both lines naming the refund."""
    sales: dict[SalesKey, Sum] = {}
    taxes = (TaxPart("gst", "GST", Decimal("1.00")), TaxPart("qst", "QST", Decimal("1.995")))
    rates = (("TR-5", "5%"), ("TR-9.975", "9.975%"))
    head = (True, "line", "4100", "Refunds ")
    TaxRules.post_split(sales, head, rates, taxes, Decimal("-20.00"), -1, "R-1-L1")
    assert {key: (s.amount, s.tax, s.refs) for key, s in sales.items()} == {
        (True, "line", "4100", "TR-5", "Refunds 5%"): (
            Decimal("-20.00"),
            Decimal("-1.00"),
            ["R-1-L1"],
        ),
        (True, "line", "4100", "TR-9.975", "Refunds 9.975%"): (
            Decimal("0"),
            Decimal("-1.995"),
            ["R-1-L1"],
        ),
    }


def test_a_split_is_not_made_when_a_component_has_no_mapped_rate():
    taxes = (TaxPart("gst", "GST", Decimal("1.00")), TaxPart(None, "Other", Decimal("0.40")))
    rate, label = rules("5").line_rate(Decimal("7"), True, taxes, Decimal("20.00"), "CAD")
    assert (rate, label) == (None, "7%")  # noted missing: 7 % is not mapped


def test_a_part_without_a_component_id_is_matched_to_no_component():
    """Whatever ids the components have (here one literally "XXXX"), a tax
    part naming none is rated by its amount, never by a component's rate."""
    config = parse_configuration(
        {"sales": {"taxRates": {r: {"selectedTaxRateId": f"TR-{r}"} for r in ("5", "9.975")}}}
    )
    odd = TaxComponent("XXXX", "Levy", Decimal("0.5"))
    tax_rules = TaxRules(
        CommerceData(tax_components={"qst": QST, "XXXX": odd}), config, MissingMappings(), []
    )
    alone = (TaxPart(None, "Other", Decimal("1.00")),)
    assert tax_rules.percentage(Decimal("1.00"), Decimal("20.00"), alone, "CAD") == Decimal("5")
    taxes = (TaxPart("qst", "QST", Decimal("2.10")), *alone)
    split = tax_rules.line_rate(Decimal("14.975"), True, taxes, Decimal("20.00"), "CAD")
    assert split == ((("TR-9.975", "9.975%"), ("TR-5", "5%")), "")


def test_tax_is_refused_or_asked_for_with_the_setting_to_fill_in():
    """No tax accounts at all: a line without components asks for the
    plain tax account, one with components for each component's, and
    components that do not add up to the line's tax are refused."""
    tax_rules = rules()
    book = Book()
    gst = TaxPart("gst", "GST", Decimal("1.00"))
    tax_rules.post_tax(book, (), Decimal("2.00"), 1, "O-1-L1", "order O-1 line L1")
    tax_rules.post_tax(book, (gst,), Decimal("1.00"), 1, "O-1-L2", "order O-1 line L2")
    tax_rules.post_tax(book, (gst,), Decimal("3.00"), 1, "O-1-L3", "order O-1 line L3")
    tax_rules.post_plain_tax(book, Decimal("0.50"), "O-1-S1")
    assert book.taxes == {}
    assert [(i.code, i.message) for i in tax_rules.missing.issues()] == [
        (
            "MissingTaxAccount",
            "No tax liability account has been configured for tax (sales.accounts.tax)",
        ),
        (
            "MissingTaxAccount",
            "No tax liability account has been configured for tax component GST "
            "(sales.accounts.tax-gst)",
        ),
    ]
    assert [(i.code, i.message) for i in tax_rules.errors] == [
        (
            "TaxComponentMismatch",
            "The tax components of order O-1 line L3 do not add up to its tax amount 3.00",
        )
    ]


def test_a_line_without_a_rate_is_labelled_untaxed():
    assert rules().rate(None, False) == (None, "untaxed")


def test_a_charges_plain_tax_asks_for_the_tax_account_once():
    tax_rules = rules()
    for ref in ("O-1-S1", "O-2-S1"):
        tax_rules.post_plain_tax(Book(), Decimal("0.50"), ref)
    assert [(i.code, i.message) for i in tax_rules.missing.issues()] == [
        (
            "MissingTaxAccount",
            "No tax liability account has been configured for tax (sales.accounts.tax)",
        )
    ]


def test_an_unmapped_rate_asks_for_its_own_setting():
    tax_rules = rules()
    assert tax_rules.rate(Decimal("20.00"), True) == (None, "20%")
    assert tax_rules.rate(None, True) == (None, "untaxed")
    assert [i.message for i in tax_rules.missing.issues()] == [
        "Tax rate 20% has no mapped tax rate (sales.taxRates.20)",
        "Tax rate untaxed has no mapped tax rate (newTaxRates.selectedDefaultZeroTaxRateId)",
    ]
