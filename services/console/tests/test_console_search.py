"""The console's search box: SCIM filters it reads, plain words, and clear refusals."""

from __future__ import annotations

import pytest
from console.search import SearchError, parse
from roster_shared.filters import And, Compare, Has, Or, Present


def test_filters() -> None:
    assert parse('userName sw "j"') == Compare(attr="userName", op="sw", value="j")
    assert parse('active eq false and emails.value co "@example.com"') == And(
        items=(
            Compare(attr="active", op="eq", value=False),
            Has(attr="emails", where=Compare(attr="value", op="co", value="@example.com")),
        )
    )
    assert parse('externalId pr or userName eq "a"') == Or(
        items=(Present(attr="externalId"), Compare(attr="userName", op="eq", value="a"))
    )


def test_plain_words_search_names_and_emails() -> None:
    expr = parse("jane")
    assert isinstance(expr, Or)
    assert Compare(attr="userName", op="co", value="jane") in expr.items
    assert parse("   ") is None


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ('userName zz "j"', "not a SCIM operator"),
        ('userName eq "j" and', "cannot read the filter"),
        ('"just a quote', "not a filter this box reads"),
    ],
)
def test_refusals_say_why(text: str, message: str) -> None:
    with pytest.raises(SearchError, match=message):
        parse(text)
