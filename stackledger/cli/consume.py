"""`stackledger consume [--topic T] [--group G] [--until-idle S] [--max-messages N]`: Kafka → store."""

from __future__ import annotations

import argparse
import signal
import sys
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from types import FrameType
from typing import TYPE_CHECKING

from stackledger.cli.common import settings_from

if TYPE_CHECKING:
    from stackledger.pipeline.consume import ConsumeResult

EPILOG = """\
Reads Ceilometer samples (oslo.messaging envelopes from notifier://?driver=kafka, or raw sample
JSON) from the topic in a consumer group (settings section `kafka`), stores each batch of samples
and dead letters in one transaction, and only then commits the batch's offsets. A crash re-reads
at most the uncommitted batches, which dedupe on message_id: nothing is lost or counted twice.
Run several processes with the same --group to split the topic's partitions between them.

SIGTERM or Ctrl-C finishes and commits the current batch, then exits (a second one stops at once,
committing nothing more). --until-idle exits once no record arrived for that many seconds after
joining the group (batch use, e.g. from cron or Airflow). The lag per partition is logged every
`kafka.lag_log_interval_s` seconds at INFO (-v; kafka-python's own INFO lines need -vv).

stdout: `consumed N messages (partitions …): ingested N, duplicates N, rejected N` (samples;
a record that is not a usable message counts as one rejection, stored in dead_letters with its
partition and offset).

exit status: 0 stopped as asked; 2 on an error (database down after retries, broker unreachable);
130 on a second interrupt.
"""


def add_parser(subparsers: argparse._SubParsersAction) -> None:
    parser = subparsers.add_parser(
        "consume",
        epilog=EPILOG,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("--topic", help="topic to read (default: kafka.topic, metering.sample)")
    parser.add_argument("--group", help="consumer group (default: kafka.group_id)")
    parser.add_argument("--until-idle", type=_positive(float), metavar="SECONDS",
                        help="exit after no record for this many seconds")  # fmt: skip
    parser.add_argument("--max-messages", type=_positive(int), metavar="N", help="exit after storing N records")
    parser.set_defaults(run=run)


def run(args: argparse.Namespace) -> int:
    from stackledger.pipeline.consume import consume

    settings = settings_from(args)
    stop = threading.Event()
    with _stop_on_signals(stop):
        result = consume(settings, topic=args.topic, group_id=args.group, until_idle=args.until_idle,
                         max_messages=args.max_messages, stop=stop)  # fmt: skip
    _report(result)
    return 0


@contextmanager
def _stop_on_signals(stop: threading.Event) -> Iterator[None]:
    """First SIGTERM/SIGINT: finish the batch and stop. Second: stop now (KeyboardInterrupt)."""

    def handler(signum: int, _frame: FrameType | None) -> None:
        if stop.is_set():
            raise KeyboardInterrupt
        print(f"stackledger: {signal.Signals(signum).name}: finishing the current batch", file=sys.stderr)
        stop.set()

    previous = {sig: signal.signal(sig, handler) for sig in (signal.SIGTERM, signal.SIGINT)}
    try:
        yield
    finally:
        for sig, old in previous.items():
            signal.signal(sig, old)


def _report(result: ConsumeResult) -> None:
    if result.commits_refused:
        print(f"stackledger: {result.commits_refused} offset commit(s) refused during a rebalance "
              "(the batches were stored; their offsets went with a later commit)", file=sys.stderr)  # fmt: skip
    if result.rerate_days:
        days = ", ".join(str(day) for day in sorted(result.rerate_days))
        print(f"stackledger: already-rated days marked for re-rating: {days}", file=sys.stderr)
    partitions = ",".join(str(p) for p in sorted(result.partitions)) or "none"
    print(f"consumed {result.messages} messages (partitions {partitions}): ingested {result.ingested}, "
          f"duplicates {result.duplicates}, rejected {result.rejected}")  # fmt: skip


def _positive(kind: type[float] | type[int]) -> object:
    def parse(text: str) -> float | int:
        try:
            value = kind(text)
        except ValueError:
            raise argparse.ArgumentTypeError(f"not a number: {text!r}") from None
        if value <= 0:
            raise argparse.ArgumentTypeError(f"must be positive: {text!r}")
        return value

    return parse
