"""An in-memory QPay v2 merchant API with switches for the faults real QPay shows."""

from __future__ import annotations

from paygrant.qpay_sim.app import RunningSimulator, SimulatorProcess, create_app, start_simulator
from paygrant.qpay_sim.config import SimulatorConfig

__all__ = [
    "RunningSimulator",
    "SimulatorConfig",
    "SimulatorProcess",
    "create_app",
    "start_simulator",
]
