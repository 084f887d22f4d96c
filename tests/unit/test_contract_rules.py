"""Both services judge a shared ItemRef the same way: what one accepts, the other never refuses."""

from __future__ import annotations

from hypothesis import given
from hypothesis import strategies as st

from entitlement_service.domain.errors import InvalidRequest as EntitlementInvalid
from entitlement_service.domain.validation import require_item
from paygrant.contract_rules import KIND_PATTERN, has_control_characters, id_problem, id_rules_problem, kind_problem
from payment_service.domain.catalog import ItemRef
from payment_service.domain.errors import InvalidRequest as PaymentInvalid


def _payment_accepts(kind: str, item_id: str) -> bool:
    try:
        ItemRef(kind, item_id).validate("item")
    except PaymentInvalid:
        return False
    return True


def _entitlement_accepts(kind: str, item_id: str) -> bool:
    try:
        require_item(kind, item_id, "item")
    except EntitlementInvalid:
        return False
    return True


kinds = st.one_of(st.text(max_size=40), st.from_regex(KIND_PATTERN, fullmatch=True), st.just("course\n"))
ids = st.one_of(st.text(max_size=140), st.just("c1 "), st.just("c1"))


@given(kinds, ids)
def test_payment_and_entitlement_agree_on_every_item(kind: str, item_id: str) -> None:
    assert _payment_accepts(kind, item_id) == _entitlement_accepts(kind, item_id)


def test_a_trailing_newline_is_not_a_valid_kind() -> None:
    assert kind_problem("course") is None
    assert kind_problem("course\n") is not None


def test_ids_are_nonempty_bounded_and_trimmed() -> None:
    assert id_problem("order-42") is None
    assert id_problem("") == "is required"
    assert id_problem("x" * 129) == "is longer than 128 characters"
    assert id_problem(" x") == "must not start or end with whitespace"


@given(st.one_of(st.text(max_size=140), st.from_regex(r"[A-Za-z0-9_.:@+=-]{0,130}", fullmatch=True)))
def test_the_fast_path_for_plain_ids_agrees_with_the_rules(value: str) -> None:
    assert id_problem(value) == id_rules_problem(value)


@given(st.text(max_size=40), st.sampled_from(["", "\n", "\t\n"]))
def test_control_characters_are_found_by_the_pattern_as_by_their_definition(value: str, allowed: str) -> None:
    by_definition = any((c < " " or "\x7f" <= c < "\xa0") and c not in allowed for c in value)
    assert has_control_characters(value, allowed) == by_definition
