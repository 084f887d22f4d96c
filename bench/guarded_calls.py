"""What a credential and TLS cost a call: CheckOwnership in protected mode, with a bearer token, over TLS.

Each server is `paygrant entitlement` on its own process and database (PostgreSQL when it
answers), no Redis, so every check reads the database as the ownership benchmark's baseline does.
Figures are checks per second with 8 calls in flight, as ratios to protected mode measured in
the same run. Run: python -m bench.guarded_calls [calls]
"""

from __future__ import annotations

import asyncio
import sys
import tempfile
from pathlib import Path

import trustme
from pydantic import SecretStr

from bench.ownership_check import USERS, grant_everything, item_ref
from bench.support import entitlement_process, fresh_database, postgres_available, rate
from paygrant.credentials import hash_token, new_token
from paygrant.entitlement.v1 import entitlement_pb2 as pb
from paygrant.entitlement.v1.entitlement_pb2_grpc import EntitlementServiceStub
from paygrant.grpc_channel import ChannelSecurity, open_channel

CONCURRENCY = 8


async def _checks_per_second(
    database_url: str, calls: int, security: ChannelSecurity, owner: ChannelSecurity, **settings: str
) -> float:
    """`owner` grants (relay role), `security` checks (reader role)."""
    async with entitlement_process(database_url, None, owner, **settings) as target:
        async with open_channel(target, owner) as channel:
            await grant_everything(EntitlementServiceStub(channel))
        async with open_channel(target, security) as channel:
            stub = EntitlementServiceStub(channel)

            async def check(n: int) -> int:
                await stub.CheckOwnership(pb.CheckOwnershipRequest(user_id=f"u{n % USERS}", item=item_ref(n % USERS)))
                return 1

            await rate(check, calls // 4, CONCURRENCY)  # warm-up
            return await rate(check, calls, CONCURRENCY)


async def main(calls: int) -> None:
    use_postgres = postgres_available()
    reader, relay = new_token(), new_token()
    credentials = f"reader {hash_token(reader)};relay,reader {hash_token(relay)}"
    with tempfile.TemporaryDirectory() as folder:
        ca_file, cert_file, key_file = (Path(folder) / name for name in ("ca.pem", "server.pem", "server.key"))
        ca = trustme.CA()
        ca.cert_pem.write_to_path(str(ca_file))
        server = ca.issue_cert("127.0.0.1")
        cert_file.write_bytes(b"".join(blob.bytes() for blob in server.cert_chain_pems))
        server.private_key_pem.write_to_path(str(key_file))
        tls = {"PAYGRANT_ENTITLEMENT_TLS_CERT_FILE": str(cert_file), "PAYGRANT_ENTITLEMENT_TLS_KEY_FILE": str(key_file)}
        token, relay_token = ChannelSecurity(token=SecretStr(reader)), ChannelSecurity(token=SecretStr(relay))
        over_tls = ChannelSecurity(token=SecretStr(reader), ca_file=ca_file)
        relay_over_tls = ChannelSecurity(token=SecretStr(relay), ca_file=ca_file)
        rates = {}
        async with fresh_database("guarded_open", use_postgres) as url:
            rates["protected mode, no credential (baseline)"] = await _checks_per_second(
                url, calls, ChannelSecurity(), ChannelSecurity()
            )
        async with fresh_database("guarded_token", use_postgres) as url:
            rates["bearer token"] = await _checks_per_second(
                url, calls, token, relay_token, PAYGRANT_ENTITLEMENT_CREDENTIALS=credentials
            )
        async with fresh_database("guarded_tls", use_postgres) as url:
            rates["bearer token over TLS"] = await _checks_per_second(
                url, calls, over_tls, relay_over_tls, PAYGRANT_ENTITLEMENT_CREDENTIALS=credentials, **tls
            )
    baseline = rates["protected mode, no credential (baseline)"]
    backend = "PostgreSQL" if use_postgres else "SQLite"
    print(f"guarded CheckOwnership, {calls} calls, {CONCURRENCY} in flight, {backend}")
    for name, checks in rates.items():
        print(f"  {name:<44} {checks:8.0f} checks/s  {checks / baseline:6.2f}x baseline")


if __name__ == "__main__":
    asyncio.run(main(int(sys.argv[1]) if len(sys.argv) > 1 else 2000))
