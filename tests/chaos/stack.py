"""The end-to-end stack of tests/e2e, with the settings of a chaos run and a way to crash a process."""

from __future__ import annotations

import signal
from dataclasses import dataclass

from pydantic import SecretStr

from paygrant.credentials import hash_token, new_token
from paygrant.grpc_channel import ChannelSecurity
from tests.e2e.stack import Stack

# The run is guarded as production is: every process and every client call presents its token.
RELAY_TOKEN, GATEWAY_TOKEN, READER_TOKEN = new_token(), new_token(), new_token()
GATEWAY = ChannelSecurity(token=SecretStr(GATEWAY_TOKEN))  # the gateway and the operator who set the catalog
READER = ChannelSecurity(token=SecretStr(READER_TOKEN))

# Production retries a row for about half an hour (12 attempts, backoff capped at 300 s); with the
# stack's 1 s cap, 40 attempts give the relay a horizon well past the longest outage of the run.
CHAOS_SETTINGS = {
    "PAYGRANT_RELAY_MAX_ATTEMPTS": "40",
    # A client's "I have paid" may reach QPay every 0.2 s, so recovery is not held up by the interval.
    "PAYGRANT_CHECK_PAYMENT_INTERVAL_SECONDS": "0.2",
    # Recovery is the client's CheckPayment alone: the sweep would hide a payment the test failed to recover.
    "PAYGRANT_SWEEP_ENABLED": "false",
    "PAYGRANT_PAYMENT_CREDENTIALS": f"gateway,operator {hash_token(GATEWAY_TOKEN)}",
    "PAYGRANT_ENTITLEMENT_CREDENTIALS": f"relay {hash_token(RELAY_TOKEN)};reader {hash_token(READER_TOKEN)}",
    "PAYGRANT_ENTITLEMENT_TOKEN": RELAY_TOKEN,  # what the payment service and the relay present
}


@dataclass
class ChaosStack(Stack):
    """A Stack whose processes run with CHAOS_SETTINGS and can be SIGKILLed."""

    def env(self) -> dict[str, str]:
        """The stack's variables plus the chaos settings, for every start and restart."""
        return {**super().env(), **CHAOS_SETTINGS}

    async def kill(self, name: str) -> None:
        """SIGKILL, as an OOM killer or a lost node would: no clean-up runs."""
        process = self.processes.pop(name)
        process.send_signal(signal.SIGKILL)
        await process.wait()

    async def restart(self, name: str) -> None:
        """Starts `name` again on the port it had, and waits until it is READY."""
        await self.start(name)
