"""Where the entitlement service meets the outside world: SQL tables and the Redis cache."""
