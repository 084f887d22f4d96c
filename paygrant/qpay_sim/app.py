"""Building and serving the simulator: the app, an in-process runner, the CLI's loop."""

from __future__ import annotations

from collections.abc import AsyncIterator
from dataclasses import dataclass

from aiohttp import web

from paygrant.qpay_sim import api, control
from paygrant.qpay_sim.callbacks import SENDER_KEY, CallbackSender
from paygrant.qpay_sim.config import SimulatorConfig
from paygrant.qpay_sim.state import STATE_KEY, SimState

API_PREFIX = "/v2"
CONTROL_PREFIX = "/_sim"


def create_app(settings: SimulatorConfig | None = None) -> web.Application:
    """The simulator as an aiohttp application: QPay under /v2, controls under /_sim."""
    settings = settings or SimulatorConfig()
    app = web.Application()
    state = SimState(settings)
    app[STATE_KEY] = state
    app[SENDER_KEY] = CallbackSender(state, settings.callback_timeout)
    app.cleanup_ctx.append(_callback_sender)
    api.add_routes(app, API_PREFIX)
    control.add_routes(app, CONTROL_PREFIX)
    return app


async def _callback_sender(app: web.Application) -> AsyncIterator[None]:
    sender = app[SENDER_KEY]
    await sender.start()
    yield
    await sender.close()


@dataclass(frozen=True)
class RunningSimulator:
    """A simulator serving on a bound port; `stop()` ends it."""

    runner: web.AppRunner
    app: web.Application
    host: str
    port: int

    @property
    def root_url(self) -> str:
        """Where the simulator answers, e.g. http://127.0.0.1:8123."""
        return f"http://{self.host}:{self.port}"

    @property
    def base_url(self) -> str:
        """The QPay base URL to give a client (the real one ends in /v2 too)."""
        return self.root_url + API_PREFIX

    @property
    def control_url(self) -> str:
        """Where the /_sim control endpoints are."""
        return self.root_url + CONTROL_PREFIX

    @property
    def state(self) -> SimState:
        """The in-memory store, for in-process tests."""
        return self.app[STATE_KEY]

    async def stop(self) -> None:
        """Stop serving and send no more callbacks."""
        await self.runner.cleanup()


async def start_simulator(
    host: str = "127.0.0.1", port: int = 0, settings: SimulatorConfig | None = None
) -> RunningSimulator:
    """Serve the simulator on host:port (0 picks a free port) and return where it is."""
    app = create_app(settings)
    runner = web.AppRunner(app, access_log=None)
    await runner.setup()
    site = web.TCPSite(runner, host, port)
    try:
        await site.start()
    except BaseException:
        await runner.cleanup()
        raise
    bound_port = int(runner.addresses[0][1])
    # A wildcard bind is reachable on loopback; a URL with 0.0.0.0 in it is not useful.
    url_host = "127.0.0.1" if host in ("", "0.0.0.0", "::") else host
    return RunningSimulator(runner=runner, app=app, host=url_host, port=bound_port)


class SimulatorProcess:
    """The simulator as a component of `paygrant qpay-sim`: start() serves, stop() ends it."""

    def __init__(self, host: str, port: int, config: SimulatorConfig) -> None:
        self._host, self._port, self._config = host, port, config
        self._running: RunningSimulator | None = None

    async def start(self) -> None:
        """Serves on the configured address (port 0: any free port)."""
        self._running = await start_simulator(self._host, self._port, self._config)

    @property
    def listening(self) -> dict[str, str]:
        """Where the QPay API and the control endpoints answer, once started."""
        if self._running is None:
            return {}
        return {"QPay simulator": self._running.base_url, "QPay simulator controls": self._running.control_url}

    async def stop(self) -> None:
        """Stops serving and sending callbacks."""
        if self._running is not None:
            await self._running.stop()
