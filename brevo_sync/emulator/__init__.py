"""A faithful in-memory fake of Brevo's contacts API (reference §13), as a Starlette app.

from brevo_sync.emulator import EmulatorConfig, create_app
app = create_app(EmulatorConfig(rate_limits=True))
"""

from brevo_sync.emulator.app import create_app
from brevo_sync.emulator.clock import Clock, ManualClock
from brevo_sync.emulator.config import EmulatorConfig
from brevo_sync.emulator.store import ContactStore

__all__ = ["Clock", "ContactStore", "EmulatorConfig", "ManualClock", "create_app"]
