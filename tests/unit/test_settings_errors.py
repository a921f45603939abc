"""Settings errors say where the bad value came from — the environment variable, else the file —
and never quote a secret; secret settings never show in repr or `config show`."""

from __future__ import annotations

from pathlib import Path

import pytest

from stackledger import redact
from stackledger.errors import ConfigError
from stackledger.settings import load_settings

SECRET = "sl-settings-secret-1"


def error_of(tmp_path: Path, text: str | None, env: dict[str, str]) -> str:
    path = None
    if text is not None:
        path = tmp_path / "cloud.yaml"
        path.write_text(text, encoding="utf-8")
    with pytest.raises(ConfigError) as info:
        load_settings(path, env)
    return str(info.value)


@pytest.mark.parametrize(
    ("text", "env", "expected"),
    [
        (None, {"STACKLEDGER__REPORT__EMAIL__SMTP__PORT": "abc"},
         "environment variable STACKLEDGER__REPORT__EMAIL__SMTP__PORT, key report.email.smtp.port: Input should be a "
         "valid integer, unable to parse string as an integer (got 'abc')"),
        # the file configures the section, the environment gave the bad value: the environment is named
        ("report:\n  email:\n    smtp: {host: mail, port: 25}\n", {"STACKLEDGER__REPORT__EMAIL__SMTP__PORT": "0"},
         "environment variable STACKLEDGER__REPORT__EMAIL__SMTP__PORT, key report.email.smtp.port: Input should be "
         "greater than 0 (got 0)"),
        # …and the other way round: the file's value is bad, the environment set something else
        ("report:\n  email:\n    smtp: {port: 0}\n", {"STACKLEDGER__REPORT__EMAIL__SMTP__HOST": "mail"},
         "file {file}, key report.email.smtp.port: Input should be greater than 0 (got 0)"),
        (None, {"STACKLEDGER__DATABASE__URI": "x"},
         "environment variable STACKLEDGER__DATABASE__URI, key database.uri: unknown key"),
        (None, {"STACKLEDGER__INGEST__BATCH_SIZE": "[1,"},
         "environment variable STACKLEDGER__INGEST__BATCH_SIZE, key ingest.batch_size: not a valid YAML value: "
         "expected the node content, but found '<stream end>' (got '[1,')"),
        ("report:\n  organisation: Acme\n", {"STACKLEDGER__REPORT__ORGANISATION__NAME": "x"},
         "environment variable STACKLEDGER__REPORT__ORGANISATION__NAME, key report.organisation.name: cannot set a key "
         "inside report.organisation, which is not a mapping"),
        # a whole section from the environment: the variable is named, with the key inside it
        (None, {"STACKLEDGER__INGEST": "{batch_size: -1}"},
         "environment variable STACKLEDGER__INGEST, key ingest.batch_size: Input should be greater than 0 (got -1)"),
        # a missing key is the fault of the mapping that lacks it: here the environment made it
        (None, {"STACKLEDGER__ALARMS__NOTIFIERS__WEBHOOK__SECRET": SECRET},
         "environment variable STACKLEDGER__ALARMS__NOTIFIERS__WEBHOOK__SECRET, key alarms.notifiers.webhook.url: "
         "Field required"),
        ("alarms:\n  notifiers:\n    webhook: {headers: {X-Team: ops}}\n",
         {"STACKLEDGER__ALARMS__NOTIFIERS__WEBHOOK__SECRET": SECRET},
         "environment variable STACKLEDGER__ALARMS__NOTIFIERS__WEBHOOK__SECRET, file {file}, key "
         "alarms.notifiers.webhook.url: Field required"),
        (None, {"STACKLEDGER__DATABASE__URL": f"postgres//ledger:{SECRET}@db/ledger"},
         "environment variable STACKLEDGER__DATABASE__URL, key database.url: Value error, not a database URL such as "
         "sqlite:///stackledger.db or postgresql+psycopg://user@host/db"),
    ],
)  # fmt: skip
def test_errors_name_where_the_value_came_from(tmp_path: Path, text: str | None, env: dict[str, str],
                                                expected: str) -> None:  # fmt: skip
    message = error_of(tmp_path, text, env)
    assert message == expected.format(file=tmp_path / "cloud.yaml")
    assert SECRET not in message


@pytest.mark.parametrize(
    ("text", "env", "key"),
    [
        # the cases: a webhook without url, a bad report.email block, a bad SASL setup
        (f"alarms:\n  notifiers:\n    webhook: {{secret: {SECRET}, headers: {{Authorization: Bearer {SECRET}}}}}\n",
         {}, "alarms.notifiers.webhook.url"),
        (f"report:\n  email:\n    smtp: {{port: abc, password: {SECRET}}}\n", {}, "report.email.smtp.port"),
        (f"report:\n  email:\n    smtp: {{password: {SECRET}, recipients: [a@example.com]}}\n", {}, "report.email"),
        ("kafka: {security_protocol: SASL_SSL}\n", {"STACKLEDGER__KAFKA__SASL_PASSWORD": SECRET},
         "kafka.sasl_password"),
        (None, {"STACKLEDGER__REPORT__EMAIL__SMTP__PASSWORD": SECRET, "STACKLEDGER__REPORT__EMAIL__SMTP__PORT": "x"},
         "report.email.smtp.port"),
        (f"report:\n  email:\n    smtp:\n      password: [{SECRET}]\n", {}, "report.email.smtp.password"),
        (f"gnocchi: {{password: {{nested: {SECRET}}}}}\n", {}, "gnocchi.password"),
        (f"database:\n  url: postgresql://ledger:{SECRET}@db/ledger\n  pool: 5\n", {}, "database.pool"),
    ],
)  # fmt: skip
def test_validation_errors_never_quote_a_secret(tmp_path: Path, text: str | None, env: dict[str, str],
                                                key: str) -> None:  # fmt: skip
    message = error_of(tmp_path, text, env)
    assert f"key {key}:" in message
    assert SECRET not in message and "Bearer" not in message


def test_a_yaml_error_does_not_quote_the_line(tmp_path: Path) -> None:
    message = error_of(tmp_path, f"report:\n  email:\n    smtp: {{password: {SECRET}\n", {})
    assert message.startswith(f"file {tmp_path / 'cloud.yaml'}: not valid YAML at line 4, column 1: ")
    assert SECRET not in message


def test_secret_environment_values_are_taken_verbatim() -> None:
    settings = load_settings(None, {"STACKLEDGER__REPORT__EMAIL__SMTP__PASSWORD": "123456",
                                    "STACKLEDGER__GNOCCHI__PASSWORD": "[not, a, list]"})  # fmt: skip
    assert settings.report.email is not None and settings.report.email.smtp is not None
    password = settings.report.email.smtp.password
    assert password is not None and password.get_secret_value() == "123456"
    assert settings.gnocchi.password is not None and settings.gnocchi.password.get_secret_value() == "[not, a, list]"


def test_repr_and_the_remembered_secrets_cover_every_secret(tmp_path: Path) -> None:
    config = tmp_path / "cloud.yaml"
    config.write_text(
        "database: {url: 'postgresql+psycopg://ledger:db-pw-2@db:5432/ledger'}\n"
        "alarms:\n  notifiers:\n    webhook: {url: 'https://hook', secret: wh-secret-3, headers: {X-Api: hdr-4}}\n"
        "    slack: {url: 'https://hooks.slack.invalid/services/slack-5'}\n"
        "kafka: {sasl_password: sasl-6, ssl_password: sslkey-7}\n",
        encoding="utf-8",
    )
    settings = load_settings(config, {"STACKLEDGER__GNOCCHI__PASSWORD": "gn-8"})
    secrets = ("db-pw-2", "wh-secret-3", "hdr-4", "https://hooks.slack.invalid/services/slack-5", "sasl-6",
               "sslkey-7", "gn-8")  # fmt: skip
    shown = repr(settings)
    assert "postgresql+psycopg://ledger:***@db:5432/ledger" in shown
    assert not [secret for secret in secrets if secret in shown]
    assert set(secrets) <= redact.remembered()
