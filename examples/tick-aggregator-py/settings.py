"""Settings of tick-aggregator, from its JSON Schema version 1 on the hub.

Written by confighub-types: do not edit. Run `confighub-types tick-aggregator --out <this file>` after the
schema changes; `--check <this file>` exits 6 when it is out of date.

    client = ConfigClient('tick-aggregator', schema=TickAggregatorSettings)
    client.settings  # a TickAggregatorSettings
"""

from typing import Any, Dict, List, Literal, Optional, Union

from confighub import SettingsModel, setting

SERVICE = 'tick-aggregator'
SCHEMA_VERSION = 1


class Business(SettingsModel):
    """Bars and filters."""
    bar_intervals: Optional[List[str]] = setting(None, min_items=1, description='Bar sizes produced.')
    min_trade_size: int = setting(1, ge=0, description='Smaller trades are ignored.')
    outlier_stddev_threshold: float = setting(6, gt=0, le=100, description='Standard deviations beyond which a tick is an outlier.')


class Features(SettingsModel):
    """Feature flags."""
    enable_outlier_filter: bool = setting(True, description='Drop ticks far from the rolling mean.')
    enable_vwap: bool = setting(True, description='Compute VWAP per bar.')
    publish_partial_bars: bool = setting(False, description='Publish bars before they close.')


class Operational(SettingsModel):
    """Windows, workers and checkpoints."""
    aggregation_window_ms: int = setting(1000, ge=100, le=3600000, description='Length of the smallest bar.')
    checkpoint_interval_seconds: int = setting(60, ge=1, le=3600, description='Seconds between state checkpoints.')
    late_tick_tolerance_ms: int = setting(500, ge=0, le=60000, description='How long a closed bar still takes late ticks.')
    max_queue_depth: int = setting(100000, ge=1, description='Ticks queued before back-pressure.')
    worker_threads: int = setting(4, ge=1, le=64, description='Aggregation workers.')


class TickAggregatorSettings(SettingsModel):
    """Rolls raw ticks into OHLCV bars and publishes them to downstream processors."""
    business: Business = setting(factory=Business, description='Bars and filters.')
    features: Features = setting(factory=Features, description='Feature flags.')
    operational: Operational = setting(factory=Operational, description='Windows, workers and checkpoints.')


Settings = TickAggregatorSettings
