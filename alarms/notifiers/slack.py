"""`slack`: Slack-compatible incoming webhook (`{"text": …}`; Mattermost and Rocket.Chat take
it too). The URL is the credential: it is a SecretStr and errors name only its host."""

from __future__ import annotations

import requests

from alarms.notifiers.base import headline, http_failure, http_status
from alarms.states import Notification
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
        url = self.config.url.get_secret_value()
        try:
            response = self.session.post(url, json={"text": slack_text(notification)}, timeout=self.config.timeout_s,
                                         verify=self.config.verify_tls, allow_redirects=False)  # fmt: skip
        except requests.RequestException as error:
            raise http_failure(self.name, url, error) from None
        if not 200 <= response.status_code < 300:
            raise http_status(self.name, url, response.status_code)

    def close(self) -> None:
        self.session.close()
