"""Use cases of the catalog: put a product, list products."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from paygrant.db import utcnow
from payment_service.domain.catalog import ItemRef, Product
from payment_service.domain.errors import AlreadyRecorded, InvalidRequest
from payment_service.domain.money import normalize_currency, require_amount
from payment_service.domain.validation import require_kind
from payment_service.service_layer.unit_of_work import UnitOfWorkFactory

MAX_TITLE = 200


@dataclass(frozen=True)
class PutProduct:
    """Create or update the catalog entry of `item`."""

    item: ItemRef
    title: str
    amount: int
    currency: str
    active: bool


async def put_product(command: PutProduct, uow_factory: UnitOfWorkFactory) -> Product:
    """Validates and writes one entry; checkouts already made keep the price they had."""
    command.item.validate("product.item")
    title = command.title.strip()
    if not 0 < len(title) <= MAX_TITLE:
        raise InvalidRequest("product.title", f"must be 1-{MAX_TITLE} characters")
    require_amount(command.amount, "product.amount")
    currency = normalize_currency(command.currency, "product.currency")
    try:
        return await _write(command, title, currency, uow_factory)
    except AlreadyRecorded:
        # A concurrent first write of the same item won; ours now updates it.
        return await _write(command, title, currency, uow_factory)


async def _write(command: PutProduct, title: str, currency: str, uow_factory: UnitOfWorkFactory) -> Product:
    async with uow_factory() as uow:
        product = await uow.catalog.get(command.item)
        if product is None:
            product = Product(
                command.item.kind, command.item.id, title, command.amount, currency, command.active, utcnow()
            )
            uow.catalog.add(product)
        else:
            product.title, product.amount, product.currency = title, command.amount, currency
            product.active, product.updated_at = command.active, utcnow()
        await uow.commit()
    return product


async def list_products(kind: str, include_inactive: bool, uow_factory: UnitOfWorkFactory) -> Sequence[Product]:
    """Catalog entries, optionally of one kind."""
    if kind:
        require_kind(kind, "kind")
    async with uow_factory() as uow:
        return await uow.catalog.list(kind, include_inactive)
