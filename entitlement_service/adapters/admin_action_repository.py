"""Grants and revokes by hand, by idempotency key, written in the transaction that carries them out."""

from __future__ import annotations

import datetime as dt

from sqlalchemy import insert, select
from sqlalchemy.ext.asyncio import AsyncSession

from entitlement_service.adapters.orm import admin_actions, metadata
from entitlement_service.domain.admin_action import ActionKind, AdminAction
from entitlement_service.domain.errors import AdminActionRecorded
from entitlement_service.domain.purchase import ItemRef, Source
from paygrant.db import unique_violations

_c = admin_actions.c


class SqlAdminActionRepository:
    """The admin_actions table, in the one session given."""

    def __init__(self, session: AsyncSession) -> None:
        self._session = session

    async def record(self, action: AdminAction, at: dt.datetime) -> None:
        """Puts the action under its key; AdminActionRecorded when the key is taken (also by a racing request).

        Only a violation of the table's primary key means "this key was used": any other failure
        of the insert is an error to see.
        """
        key_taken = {"pk_admin_actions": lambda: AdminActionRecorded(f"key {action.idempotency_key!r} is recorded")}
        with unique_violations(metadata, key_taken):
            await self._session.execute(
                insert(admin_actions).values(
                    idempotency_key=action.idempotency_key,
                    action=action.kind.value,
                    user_id=action.user_id,
                    item_kind=action.item.kind,
                    item_id=action.item.id,
                    source=action.source.value if action.source is not None else None,
                    reason=action.reason,
                    actor=action.actor,
                    recorded_at=at,
                )
            )

    async def get(self, idempotency_key: str) -> AdminAction | None:
        """The action recorded under the key, or None."""
        row = (await self._session.execute(select(admin_actions).where(_c.idempotency_key == idempotency_key))).first()
        if row is None:
            return None
        return AdminAction(
            idempotency_key=row.idempotency_key,
            kind=ActionKind(row.action),
            user_id=row.user_id,
            item=ItemRef(row.item_kind, row.item_id),
            reason=row.reason,
            actor=row.actor,
            source=Source(row.source) if row.source is not None else None,
            recorded_at=row.recorded_at,
        )
