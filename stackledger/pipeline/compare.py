"""`compare_month`: a month's internal cost against the AWS and DigitalOcean baselines."""

from __future__ import annotations

import logging

from stackledger.pipeline.base import store_for
from stackledger.pipeline.prices import report_currency
from stackledger.reports.compare import Comparison, comparison, read_mappings
from stackledger.reports.data import month_report_data
from stackledger.settings import Settings
from stackledger.window import Window

log = logging.getLogger(__name__)


def compare_month(settings: Settings, window: Window) -> Comparison:
    """Per project and in total: internal, AWS and DigitalOcean cost of the cost lines rated
    for `window` (run `stackledger rate` first), with the mappings and exchange rates used."""
    store = store_for(settings)
    data = month_report_data(store, window)
    result = comparison(data, read_mappings(store, window), data.fx, report_currency(settings))
    log.info("compare %s: %d projects", window.label, len(result.rows))
    return result
