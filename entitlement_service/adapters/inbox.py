"""The inbox: the ids of the payment events applied so far, written in the applying transaction."""

from __future__ import annotations

import datetime as dt

from sqlalchemy import insert
from sqlalchemy.ext.asyncio import AsyncSession

from entitlement_service.adapters.orm import inbox, metadata
from entitlement_service.domain.errors import DuplicateEvent
from entitlement_service.domain.events import PaymentEvent
from paygrant.db import unique_violations


class SqlInbox:
    """The inbox table, in the one session given."""

    def __init__(self, session: AsyncSession) -> None:
        self._session = session

    async def record_event(self, event: PaymentEvent, received_at: dt.datetime) -> None:
        """Puts the event id in the inbox; DuplicateEvent when it is there (also when put by a racing apply).

        Only a violation of the inbox's primary key means "applied before": any other failure of
        the insert is an error to see, never a success that would let the sender drop the event.
        """
        applied_before = {"pk_inbox": lambda: DuplicateEvent(f"event {event.event_id} was applied before")}
        with unique_violations(metadata, applied_before):
            await self._session.execute(
                insert(inbox).values(
                    event_id=event.event_id,
                    event_type=event.type.value,
                    payment_id=event.payment_id,
                    received_at=received_at,
                )
            )
