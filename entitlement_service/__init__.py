"""The entitlement service: purchases, who owns what, and the ownership cache."""
