"""`compare_month`: a month's internal cost against the AWS and DigitalOcean baselines."""

from __future__ import annotations

import logging

from stackledger.pipeline.base import store_for
from stackledger.pipeline.prices import report_currency
from stackledger.pipeline.report import load_report_data
from stackledger.reports.compare import BASELINES, Comparison, comparison, group_mappings
from stackledger.settings import Settings
from stackledger.store.reports import baseline_mappings
from stackledger.window import Window

log = logging.getLogger(__name__)


def compare_month(settings: Settings, window: Window) -> Comparison:
    """Per project and in total: internal, AWS and DigitalOcean cost of the cost lines rated
    for `window` (run `stackledger rate` first), with the mappings and exchange rates used."""
    data = load_report_data(settings, window)
    mappings = group_mappings(baseline_mappings(store_for(settings), window, BASELINES))
    result = comparison(data, mappings, data.fx, report_currency(settings))
    log.info("compare %s: %d projects", window.label, len(result.rows))
    return result
