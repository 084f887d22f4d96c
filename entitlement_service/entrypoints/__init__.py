"""How callers reach the entitlement service: the gRPC servicer."""
