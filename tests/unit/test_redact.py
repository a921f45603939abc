"""The one redaction helper: what it masks, in URLs, values, free text, log records and
tracebacks — and the leak detector the secrets test relies on, shown to catch a planted leak."""

from __future__ import annotations

import io
import logging
from pathlib import Path

import pytest

from stackledger import redact
from stackledger.cli.errors import error_line
from stackledger.redact import MASK, RedactingFilter, redact_text, redact_url, redact_value, strip_userinfo
from tests.secrets_check import Leak, find_leaks, variants


@pytest.mark.parametrize(
    ("name", "secret"),
    [
        ("password", True), ("sasl_password", True), ("ssl_password", True), ("secret", True),
        ("cookie_secret", True), ("X-Auth-Token", True), ("Authorization", True), ("apiKey", True),
        ("OS_PASSWORD", True), ("PGPASSWORD", True), ("DIGITALOCEAN_ACCESS_TOKEN", True),
        ("AWS_SECRET_ACCESS_KEY", True), ("STACKLEDGER__REPORT__EMAIL__SMTP__PASSWORD", True),
        ("credentials", True), ("Cookie", True),
        ("ssl_keyfile", False), ("PWD", False), ("OLDPWD", False), ("auth_mode", False), ("keystone", False),
        ("monkey", False), ("url", False),
        ("headers", False), ("username", False), ("group_instance_id", False),
    ],
)  # fmt: skip
def test_secret_names(name: str, secret: bool) -> None:
    assert redact.is_secret_name(name) is secret


@pytest.mark.parametrize(
    ("url", "shown"),
    [
        ("postgresql+psycopg://ledger:pw-1@db.example:5432/ledger", f"postgresql+psycopg://ledger:{MASK}@db.example:5432/ledger"),
        ("postgresql+psycopg://ledger:p%40ss%3Aw@db/ledger", f"postgresql+psycopg://ledger:{MASK}@db/ledger"),
        ("postgresql://ledger:p@ss@db/ledger", f"postgresql://ledger:{MASK}@db/ledger"),  # an unencoded @
        ("sasl_ssl://kafka:k-pw@broker:9093", f"sasl_ssl://kafka:{MASK}@broker:9093"),
        ("smtp://mailer:m-pw@smtp.example:587", f"smtp://mailer:{MASK}@smtp.example:587"),
        ("http://admin:g-pw@gnocchi:8041/v1", f"http://admin:{MASK}@gnocchi:8041/v1"),
        ("https://api.example/v2/sizes?token=t-1&per_page=200", f"https://api.example/v2/sizes?token={MASK}&per_page=200"),
        ("postgresql+psycopg://ledger@db/ledger", "postgresql+psycopg://ledger@db/ledger"),  # no password
        ("sqlite:////var/lib/ledger.db", "sqlite:////var/lib/ledger.db"),
        ("not a url at all", "not a url at all"),
    ],
)  # fmt: skip
def test_redact_url(url: str, shown: str) -> None:
    assert redact_url(url) == shown


def test_strip_userinfo_names_the_server_only() -> None:
    assert strip_userinfo("https://u:pw@hooks.example/x?api_key=1&a=2") == f"https://hooks.example/x?api_key={MASK}&a=2"
    assert strip_userinfo("http://127.0.0.1:8041/v1") == "http://127.0.0.1:8041/v1"


def test_redact_value_masks_nested_secrets_and_urls() -> None:
    settings = {
        "database": {"url": "postgresql+psycopg://u:db-pw@h/db", "echo": False},
        "alarms": {"notifiers": {"webhook": {"url": "https://hook", "secret": "hmac-key",
                                             "headers": {"Authorization": "Bearer t", "X-Team": "ops"}},
                                 "email": {"password": "smtp-pw", "username": "alarms"}}},
        "openstack": [{"auth": {"password": "ks-pw", "username": "admin"}}],
        "api": {"cookie_secret": "c-s"},
        "gnocchi": {"password": None},
    }  # fmt: skip
    shown = redact_value(settings)
    assert shown["database"] == {"url": f"postgresql+psycopg://u:{MASK}@h/db", "echo": False}
    webhook = shown["alarms"]["notifiers"]["webhook"]
    assert webhook["secret"] == MASK and webhook["headers"] == {"Authorization": MASK, "X-Team": "ops"}
    assert shown["alarms"]["notifiers"]["email"] == {"password": MASK, "username": "alarms"}
    assert shown["openstack"] == [{"auth": {"password": MASK, "username": "admin"}}]
    assert shown["api"] == {"cookie_secret": MASK} and shown["gnocchi"] == {"password": None}


@pytest.mark.parametrize(
    ("text", "shown"),
    [
        ("GET / Authorization: Bearer abc.def", f"GET / Authorization: {MASK}"),
        ('curl -H "X-Auth-Token: gAAAA123" http://x', f'curl -H "X-Auth-Token: {MASK}" http://x'),
        ("Cookie: session=abc; theme=dark", f"Cookie: {MASK}"),
        ("sent Bearer eyJhbGciOi.x.y", f"sent Bearer {MASK}"),
        ("{'secret': 'hmac', 'url': 'https://h'}", f"{{'secret': '{MASK}', 'url': 'https://h'}}"),
        ('{"password": "p\\"w", "user": "u"}', f'{{"password": "{MASK}", "user": "u"}}'),
        ("connect(user=u, password=hunter2)", f"connect(user=u, password={MASK})"),
        ("key alarms.notifiers.webhook.secret: Input should be a valid string",
         "key alarms.notifiers.webhook.secret: Input should be a valid string"),  # a message about a key: kept
        ("keystone refused a token: HTTP 401", "keystone refused a token: HTTP 401"),
    ],
)  # fmt: skip
def test_redact_text_patterns(text: str, shown: str) -> None:
    assert redact_text(text) == shown


def test_remembered_values_are_masked_as_written_and_percent_encoded() -> None:
    redact.remember("Zq8:w@rd/x")
    assert redact_text("login Zq8:w@rd/x failed") == f"login {MASK} failed"
    assert redact_text("dsn=postgresql://u:Zq8%3Aw%40rd%2Fx@h/db") == f"dsn=postgresql://u:{MASK}@h/db"
    redact.remember("ab", None, "")  # too short or nothing: masking every "ab" would ruin every line
    assert redact_text("about") == "about"


def test_environment_secrets_are_remembered() -> None:
    redact.remember_environment({"OS_PASSWORD": "os-pw-env-1", "SOME_DSN": "postgresql://u:dsn-pw-2@h/db",
                                 "HOME": "/root"})  # fmt: skip
    assert redact_text("os-pw-env-1 and dsn-pw-2 and /root") == f"{MASK} and {MASK} and /root"


def test_the_filter_redacts_message_args_and_traceback() -> None:
    stream = io.StringIO()
    handler = logging.StreamHandler(stream)
    handler.addFilter(RedactingFilter())
    logger = logging.getLogger("tests.redact.filtered")
    logger.addHandler(handler)
    logger.propagate = False
    try:
        try:
            raise RuntimeError("cannot log in to postgresql://u:tb-pw-3@h/db")
        except RuntimeError:
            logger.exception("connecting with %s", {"password": "arg-pw-4"})
    finally:
        logger.removeHandler(handler)
    text = stream.getvalue()
    assert "tb-pw-3" not in text and "arg-pw-4" not in text
    assert f"u:{MASK}@h/db" in text and f"'password': '{MASK}'" in text and "Traceback" in text


def test_error_line_is_one_line_without_secrets(tmp_path: Path) -> None:
    redact.remember("line-pw-5")
    try:
        open(tmp_path / "missing" / "x")  # noqa: SIM115 - the error is the point
    except OSError as error:
        assert error_line(error) == f"{tmp_path / 'missing' / 'x'}: no such file or directory; check the path and " \
            "its permissions"  # fmt: skip
    assert (
        error_line(ValueError("bad\nvalue line-pw-5")) == f"unexpected ValueError: bad value {MASK} (-vv shows where)"
    )


# -------------------------------------------------------------------- the leak detector itself


def test_a_planted_leak_is_caught_in_a_log_without_the_filter(tmp_path: Path) -> None:
    """The secrets test greps everything with `find_leaks`: it must be able to fail. A secret
    logged through a handler without the filter is found; the same record through the filter is not."""
    secret = "planted-sl-secret-6"
    leaky, clean = io.StringIO(), io.StringIO()
    guarded = logging.StreamHandler(clean)
    guarded.addFilter(RedactingFilter())
    logger = logging.getLogger("tests.redact.planted")
    logger.propagate = False
    for handler in (logging.StreamHandler(leaky), guarded):
        logger.addHandler(handler)
    redact.remember(secret)
    logger.warning("connecting with password %s", secret)
    for handler in list(logger.handlers):
        logger.removeHandler(handler)
    # Handlers run in order: the first wrote before the filter of the second changed the record.
    assert find_leaks({"log": leaky.getvalue()}, {"planted": secret}) == [Leak("planted", "log", secret)]
    assert find_leaks({"log": clean.getvalue()}, {"planted": secret}) == []


def test_a_planted_leak_is_caught_in_every_kind_of_file(tmp_path: Path) -> None:
    """PDF (through pdftotext), XLSX (zipped XML), gzip and plain files are read; encoded forms count."""
    from weasyprint import HTML

    secret = "planted-sl-secret-7/x"
    HTML(string=f"<p>report for {secret}</p>").write_pdf(tmp_path / "leak.pdf")
    (tmp_path / "leak.csv").write_text(f"a,b\n1,https://u:{variants(secret)[1]}@h\n", encoding="utf-8")
    import gzip
    import zipfile

    with zipfile.ZipFile(tmp_path / "leak.xlsx", "w") as book:
        book.writestr("xl/sharedStrings.xml", f"<sst><si><t>{secret}</t></si></sst>")
    with gzip.open(tmp_path / "leak.jsonl.gz", "wt") as handle:
        handle.write(secret)
    (tmp_path / "clean.txt").write_text("nothing here", encoding="utf-8")
    from tests.secrets_check import files_text

    found = find_leaks(files_text(tmp_path), {"planted": secret})
    assert sorted(leak.where for leak in found) == sorted(str(tmp_path / name) for name in (
        "leak.csv", "leak.jsonl.gz", "leak.pdf", "leak.xlsx"))  # fmt: skip


def test_a_secret_url_is_masked_by_its_path_too() -> None:
    """urllib3 logs `POST /services/T0/B0/abc HTTP/1.1`: the path of a secret URL is a secret."""
    redact.remember("https://hooks.example.com/services/T0/B0/slack-path-8")
    assert redact_text('"POST /services/T0/B0/slack-path-8 HTTP/1.1" 200') == f'"POST {MASK} HTTP/1.1" 200'
    redact.remember("http://h/")  # no path worth masking: "/" everywhere would ruin every line
    assert redact_text("a/b") == "a/b"
