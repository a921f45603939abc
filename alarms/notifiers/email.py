"""`email`: one plain-text message per notification over SMTP.

`security`: none (plain, port 25/1025), starttls (upgrade after EHLO, certificate verified)
or ssl (SMTPS, implicit TLS). `username`/`password` log in after TLS is up. A refused
connection, a timeout or a 4xx reply is transient; a 5xx reply or a failed login is not.
"""

from __future__ import annotations

import email.policy
import smtplib
import socket
import ssl
from email.message import EmailMessage
from email.utils import formatdate, make_msgid

from stackledger.alarms.notifiers.base import DeliveryError, delivery_id, headline, plain_text
from stackledger.alarms.states import Notification
from stackledger.settings import NotifierSettings, SmtpNotifierSettings

# Headers up to RFC 5322's 998 characters stay on one line: CPython folds some long subjects
# right after "Subject:", and readers then see a leading space.
_POLICY = email.policy.SMTP.clone(max_line_length=998)


def message(config: SmtpNotifierSettings, notification: Notification) -> EmailMessage:
    mail = EmailMessage(policy=_POLICY)
    mail["Subject"] = f"{config.subject_prefix} {headline(notification)}".strip()
    mail["From"] = config.sender
    mail["To"] = ", ".join(config.recipients)
    mail["Date"] = formatdate(usegmt=True)
    mail["Message-ID"] = make_msgid(idstring=delivery_id(notification), domain="stackledger")
    mail["X-StackLedger-Alarm-Id"] = notification.alarm_id
    mail.set_content(plain_text(notification))
    return mail


class EmailNotifier:
    name = "email"

    def __init__(self, settings: NotifierSettings) -> None:
        if settings.email is None:
            raise ValueError("email is not configured")
        if not settings.email.recipients:
            raise ValueError("email has no recipients")
        self.config: SmtpNotifierSettings = settings.email

    def send(self, notification: Notification) -> None:
        config = self.config
        try:
            with self._connect() as smtp:
                if config.security == "starttls":
                    smtp.starttls(context=self._tls())
                if config.username:
                    password = config.password.get_secret_value() if config.password else ""
                    smtp.login(config.username, password)
                smtp.send_message(message(config, notification))
        except smtplib.SMTPAuthenticationError as error:
            refused = f"login refused by {config.host}: {error.smtp_code}"
            raise DeliveryError(self.name, refused, transient=False) from None
        except smtplib.SMTPRecipientsRefused as error:
            raise DeliveryError(self.name, f"recipients refused: {sorted(error.recipients)}", transient=False) from None
        except smtplib.SMTPResponseException as error:
            transient = 400 <= error.smtp_code < 500
            raise DeliveryError(self.name, f"{config.host} replied {error.smtp_code}", transient=transient) from None
        except (smtplib.SMTPException, OSError, ssl.SSLError) as error:
            # ssl.SSLCertVerificationError is an OSError too: a bad certificate will not fix itself.
            transient = not isinstance(error, ssl.SSLCertVerificationError)
            raise DeliveryError(self.name, f"{type(error).__name__} talking to {config.host}:{config.port}",
                                transient=transient) from None  # fmt: skip

    def _connect(self) -> smtplib.SMTP:
        config = self.config
        if config.security == "ssl":
            return smtplib.SMTP_SSL(config.host, config.port, timeout=config.timeout_s, context=self._tls())
        return smtplib.SMTP(config.host, config.port, timeout=config.timeout_s, local_hostname=socket.getfqdn())

    def _tls(self) -> ssl.SSLContext:
        return ssl.create_default_context(cafile=str(self.config.ca_bundle) if self.config.ca_bundle else None)

    def close(self) -> None:
        pass
