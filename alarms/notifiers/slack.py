"""`slack`: Slack-compatible incoming webhook (`{"text": …}`; Mattermost and Rocket.Chat take
it too). The URL is the credential: it is a SecretStr and errors name only its host."""

from __future__ import annotations

import requests

from stackledger.alarms.notifiers.base import headline, post
from stackledger.alarms.states import Notification
from stackledger.settings import NotifierSettings, SlackNotifierSettings

_ICONS = {"alarm": ":rotating_light:", "ok": ":white_check_mark:", "insufficient_data": ":grey_question:"}


def slack_text(notification: Notification) -> str:
    icon = _ICONS.get(notification.current, "")
    return (f"{icon} *{headline(notification)}*\n"
            f"{notification.previous} → {notification.current}: {notification.reason}")  # fmt: skip


class SlackNotifier:
    name = "slack"

    def __init__(self, settings: NotifierSettings) -> None:
        if settings.slack is None:
            raise ValueError("slack is not configured")
        self.config: SlackNotifierSettings = settings.slack
        self.session = requests.Session()

    def send(self, notification: Notification) -> None:
        post(self.session, self.name, self.config.url.get_secret_value(), timeout_s=self.config.timeout_s,
             verify=self.config.verify_tls, json={"text": slack_text(notification)})  # fmt: skip

    def close(self) -> None:
        self.session.close()
