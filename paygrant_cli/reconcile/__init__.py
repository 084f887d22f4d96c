"""`paygrant reconcile`: proves QPay, the payment records and the purchases agree over a time range, and repairs
what does not through the services' own idempotent paths. Reads both services over gRPC only."""
