"""StackLedger: telemetry, metering and cost reporting for OpenStack clouds."""

__version__ = "0.1.0"
