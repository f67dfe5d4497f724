"""confighub: a service's settings from the hub, live, with a last-known-good snapshot and safe defaults.

    from confighub import ConfigClient

    client = ConfigClient("polygon-historical-downloader", defaults={"operational": {"batch_size": 100}}).start()
    client.get("operational.batch_size")   # never waits on the network
"""

from ._backoff import Backoff
from ._core import ClientState, ClientStatus, ConfigRejection, ConfigSource
from ._snapshot import Snapshot, read_snapshot, write_snapshot
from ._transport import HubConnection, HubRequestError
from .client import AsyncConfigClient, ConfigClient
from .settings import Issue, SettingsInvalid, SettingsModel, setting

__all__ = [
    "AsyncConfigClient",
    "Backoff",
    "ClientState",
    "ClientStatus",
    "ConfigClient",
    "ConfigRejection",
    "ConfigSource",
    "HubConnection",
    "HubRequestError",
    "Issue",
    "SettingsInvalid",
    "SettingsModel",
    "Snapshot",
    "read_snapshot",
    "setting",
    "write_snapshot",
]
__version__ = "0.1.0"
