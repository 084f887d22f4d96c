"""What the chaos run buys, drawn from one seed: a small catalog and the checkouts of its customers.

Each customer buys a few different products over one or two checkouts, never the same product
twice, so every paid (user, item) is owed exactly one purchase and ownership is easy to count.
"""

from __future__ import annotations

import random
from dataclasses import dataclass

from paygrant.common.v1 import common_pb2
from paygrant.payment.v1 import payment_pb2

Item = tuple[str, str]  # (kind, id)

CATALOG: dict[Item, tuple[str, int]] = {
    ("course", "calculus-2"): ("Calculus II", 2_990_000),
    ("course", "algebra-1"): ("Algebra I", 1_490_000),
    ("test", "ielts-mock-3"): ("IELTS mock test 3", 90_000),
    ("product", "formula-sheet"): ("Formula sheet", 15_000),
}


@dataclass(frozen=True)
class PlannedCheckout:
    """One checkout a customer will make and pay; the idempotency key is fixed so retries reuse it."""

    number: int
    idempotency_key: str
    user_id: str
    items: tuple[Item, ...]

    def request(self) -> payment_pb2.CreateCheckoutRequest:
        """The CreateCheckout request, the same on every retry."""
        return payment_pb2.CreateCheckoutRequest(
            idempotency_key=self.idempotency_key,
            user_id=self.user_id,
            items=[common_pb2.ItemRef(kind=kind, id=item_id) for kind, item_id in self.items],
        )


def products() -> list[payment_pb2.Product]:
    """The catalog as the payment service stores it."""
    return [
        payment_pb2.Product(
            item=common_pb2.ItemRef(kind=kind, id=item_id), title=title, amount=amount, currency="MNT", active=True
        )
        for (kind, item_id), (title, amount) in CATALOG.items()
    ]


def plan_checkouts(seed: int, count: int) -> list[PlannedCheckout]:
    """`count` checkouts of customers named after the seed, each customer's items split over one or two."""
    rng = random.Random(seed)
    planned: list[PlannedCheckout] = []
    customer = 0
    while len(planned) < count:
        customer += 1
        user = f"chaos-{seed}-user-{customer}"
        basket = rng.sample(sorted(CATALOG), rng.randint(1, len(CATALOG)))
        cut = rng.randint(1, len(basket) - 1) if len(basket) > 1 and rng.random() < 0.5 else len(basket)
        for items in (basket[:cut], basket[cut:]):
            if items and len(planned) < count:
                number = len(planned)
                planned.append(PlannedCheckout(number, f"chaos-{seed}-checkout-{number}", user, tuple(items)))
    rng.shuffle(planned)
    return planned
