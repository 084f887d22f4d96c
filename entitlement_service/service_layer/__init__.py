"""The use cases of the entitlement service, each inside one unit of work."""
