"""`log`: one line per notification on the `alarms.notifiers.log` logger (always available)."""

from __future__ import annotations

import logging

from stackledger.alarms.notifiers.base import headline
from stackledger.alarms.states import Notification
from stackledger.settings import NotifierSettings

log = logging.getLogger(__name__)


class LogNotifier:
    name = "log"

    def __init__(self, settings: NotifierSettings) -> None:
        self.level = logging.getLevelNamesMapping()[settings.log_level]

    def send(self, notification: Notification) -> None:
        log.log(self.level, "%s (%s → %s): %s [alarm_id %s]", headline(notification), notification.previous,
                notification.current, notification.reason, notification.alarm_id)  # fmt: skip

    def close(self) -> None:
        pass
