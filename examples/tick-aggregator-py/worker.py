"""tick-aggregator, the Python pilot: a worker loop that rolls ticks into bars every
`operational.aggregation_window_ms`, and hot-reloads its settings from the hub.

The ticks are synthetic: this example is about configuration. Settings come from the hub through
ConfigClient, typed by `settings.py` (written by `confighub-types tick-aggregator --out settings.py`);
the hub's URL and this service's token come from its environment (CONFIGHUB_URL, CONFIGHUB_TOKEN).
It logs JSON lines; SIGTERM or Ctrl-C stops it cleanly.
"""

from __future__ import annotations

import json
import os
import random
import signal
import statistics
import sys
import threading
import time
from dataclasses import dataclass
from typing import Any

from confighub import ClientStatus, ConfigClient, ConfigRejection

from settings import SERVICE, Settings


def log(message: str, **fields: Any) -> None:
    print(json.dumps({"time": time.strftime("%H:%M:%S"), "msg": message, **fields}), flush=True)


@dataclass(frozen=True)
class Tick:
    price: float
    size: int


def ticks(count: int, around: float) -> list[Tick]:
    """Synthetic trades, with the odd wild print an outlier filter should drop."""
    trades = [Tick(random.gauss(around, 0.05), random.randint(0, 500)) for _ in range(count)]
    return trades + [Tick(around * 3, 100)] if random.random() < 0.3 else trades


def bar(window: list[Tick], settings: Settings) -> dict[str, Any]:
    """One OHLCV bar of a window, as the settings in effect say."""
    trades = [tick for tick in window if tick.size >= settings.business.min_trade_size]
    dropped = 0
    if settings.features.enable_outlier_filter and len(trades) > 2:
        # Robust spread (the median absolute deviation, scaled to a standard deviation): a wild print
        # does not widen the band it is measured against.
        middle = statistics.median(t.price for t in trades)
        spread = 1.4826 * statistics.median(abs(t.price - middle) for t in trades)
        threshold = settings.business.outlier_stddev_threshold * spread
        kept = [t for t in trades if spread == 0 or abs(t.price - middle) <= threshold]
        dropped, trades = len(trades) - len(kept), kept
    if not trades:
        return {"trades": 0}
    prices = [t.price for t in trades]
    volume = sum(t.size for t in trades)
    result: dict[str, Any] = {
        "open": round(prices[0], 4), "high": round(max(prices), 4), "low": round(min(prices), 4),
        "close": round(prices[-1], 4), "volume": volume, "trades": len(trades), "outliers_dropped": dropped,
    }
    if settings.features.enable_vwap and volume:
        result["vwap"] = round(sum(t.price * t.size for t in trades) / volume, 4)
    return result


def main() -> int:
    stop = threading.Event()
    # Set on a stop and when the window changes: a new window starts at once, not after the old one.
    wake = threading.Event()

    def on_signal(*_: Any) -> None:
        stop.set()
        wake.set()

    for signal_number in (signal.SIGTERM, signal.SIGINT):
        signal.signal(signal_number, on_signal)

    client = ConfigClient(
        SERVICE,
        schema=Settings,
        environment=os.environ.get("CONFIGHUB_ENVIRONMENT", "production"),
        snapshot_file=os.environ.get("AGGREGATOR_SNAPSHOT_FILE") or None,
    )

    def on_status(status: ClientStatus) -> None:
        log("hub status", state=status.state, version=status.version, reason=status.reason)

    def on_change(new: dict[str, Any], old: dict[str, Any], paths: list[str]) -> None:
        log("config applied", version=client.version, changed=[path for path in paths if "." in path])

    def on_reject(rejection: ConfigRejection) -> None:
        log("config refused, keeping the one in effect", version=rejection.version, reason=rejection.reason)

    client.on_status(on_status)
    client.on_change(on_change)
    client.on_reject(on_reject)
    client.watch("operational.aggregation_window_ms", lambda value, previous: wake.set())
    client.start()
    log("started", version=client.version, source=client.status.source)

    price = 100.0
    while not stop.is_set():
        # One read of the settings per window: a change applies from the next window on.
        settings = client.settings
        window_ms = settings.operational.aggregation_window_ms
        window = ticks(random.randint(20, 60), price)
        price = window[0].price  # a random walk
        log("bar", window_ms=window_ms, workers=settings.operational.worker_threads, **bar(window, settings))
        wake.wait(window_ms / 1000)
        wake.clear()

    client.close()
    log("stopped")
    return 0


if __name__ == "__main__":
    sys.exit(main())
