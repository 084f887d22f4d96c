"""The customers of a chaos run: each checks out through the gateway and pays at the simulator, again and again."""

from __future__ import annotations

import random
from dataclasses import dataclass, field

from paygrant.qpay_sim.control_client import SimulatorControl
from tests.chaos.gateway import Gateway
from tests.chaos.monkey import Progress
from tests.chaos.plan import PlannedCheckout
from tests.chaos.tally import PaidSession

# The share of payments after which the customer presses "I have paid" (CheckPayment) at once.
CHECK_AT_ONCE = 0.25


@dataclass
class Customers:
    """The planned checkouts, shared by every customer, and the ledger of what they paid."""

    planned: list[PlannedCheckout]
    sim: SimulatorControl
    progress: Progress
    ledger: list[PaidSession] = field(default_factory=list)
    doing: dict[int, str] = field(default_factory=dict)  # for the message of a run that hangs

    async def shop(self, number: int, gateway: Gateway, rng: random.Random) -> None:
        """One customer: checks out and pays planned checkouts while the monkey admits them."""
        self.doing[number] = "waiting for admission"
        while await self.progress.admit():
            checkout = self.planned.pop()
            self.doing[number] = f"CreateCheckout {checkout.idempotency_key}"
            session = await gateway.create_checkout(checkout.request())
            invoice_id = session.invoice.invoice_id
            self.doing[number] = f"paying invoice {invoice_id}"
            paid = await self.sim.pay(invoice_id)
            self.ledger.append(
                PaidSession(session.session_id, checkout.user_id, checkout.items, invoice_id, paid["payment_id"])
            )
            self.progress.note_paid()
            if rng.random() < CHECK_AT_ONCE:
                self.doing[number] = f"CheckPayment {session.session_id}"
                await gateway.check_payment(session.session_id)
            self.doing[number] = "waiting for admission"
        self.doing[number] = "done"
