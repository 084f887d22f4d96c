"""The EntitlementService gRPC servicer: protobuf in, use case, protobuf out; errors become status codes.

Its RPCs are grouped by concern, a class each: ownership (ownership_rpcs) and purchases (purchase_rpcs).
"""

from __future__ import annotations

from entitlement_service.entrypoints.ownership_rpcs import OwnershipRpcs
from entitlement_service.entrypoints.purchase_rpcs import PurchaseRpcs


class EntitlementServicer(OwnershipRpcs, PurchaseRpcs):
    """Serves paygrant.entitlement.v1.EntitlementService; each call runs in a unit of work of its own."""
