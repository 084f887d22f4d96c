"""The `paygrant` command: composes the services, the relay, the simulator and operator tools."""
