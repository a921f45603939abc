"""Is a parsed sample plausible enough to store? Timestamps and volumes only (issue 12).

A sample the store would hold but a later step could not use is a dead letter now, naming the
value and the bound, instead of a crash in rating or re-rating days later:

- a timestamp outside `Bounds` (default 2000-01-01 to now + 1 day: `ingest.plausible_from`,
  `ingest.plausible_ahead_hours`): 1970 and 9999 are clock or typing accidents, and a date past
  9999-12-30 overflows the day arithmetic of re-rating;
- a volume that is NaN or infinite, negative for a meter that cannot go below zero (gauges,
  cumulative counters and rated deltas; unrated deltas and status meters may), or, for a rated meter (`schema.METERS`
  with a service), above what one sample can add to an hour's quantity and still be rated
  exactly: `MAX_EXACT_QUANTITY` of the service's unit (`transforms.money`), converted to the
  meter's unit. Other meters (cpu in ns, unknown meters) are not rated by their volume: counters
  in ns or bytes reach billions in normal use.

Pure: no clock (the caller builds `Bounds` with its own "now"), no I/O. `problem`'s reasons are
the dead letters' reasons; `collectors.samples.parse_message(…, bounds=…)` calls it (ingest), and
any other parser of samples should too.
"""

from __future__ import annotations

import datetime as dt
import math
from dataclasses import dataclass
from typing import Final

from stackledger.schema import METERS, SERVICES, unit_factor
from stackledger.transforms.money import MAX_EXACT_QUANTITY

DEFAULT_FROM: Final = dt.datetime(2000, 1, 1)
DEFAULT_AHEAD: Final = dt.timedelta(days=1)
_MAY_BE_NEGATIVE: Final = frozenset({"delta", "status"})
# meter -> (the largest volume rated exactly, in the meter's unit; the service's unit)
_LIMITS: Final = {m.name: (MAX_EXACT_QUANTITY / unit_factor(m), SERVICES[m.service].unit)
                  for m in METERS.values() if m.service is not None}  # fmt: skip


@dataclass(frozen=True)
class Bounds:
    """Timestamps from `earliest` (included) to `now + ahead` (excluded), naive UTC."""

    now: dt.datetime
    earliest: dt.datetime = DEFAULT_FROM
    ahead: dt.timedelta = DEFAULT_AHEAD

    @property
    def latest(self) -> dt.datetime:
        return self.now + self.ahead

    def __str__(self) -> str:
        """Stable from run to run (a dead letter's reason must be): "now", not the instant."""
        hours = self.ahead / dt.timedelta(hours=1)
        return f"{self.earliest.isoformat(sep=' ').removesuffix(' 00:00:00')} to now + {hours:g} h"


def volume_range(meter: str, counter_type: str) -> tuple[bool, float]:
    """(whether a volume may be negative, the largest |volume|) that `problem` accepts for a
    finite volume of this meter: what a reader checks per sample without building a reason."""
    known = METERS.get(meter)
    kind = known.kind if known is not None else counter_type
    limit = _LIMITS.get(meter)
    negative = kind in _MAY_BE_NEGATIVE and not (limit is not None and kind == "delta")
    return negative, limit[0] if limit is not None else math.inf


def problem(timestamp: dt.datetime, volume: float, meter: str, counter_type: str, bounds: Bounds) -> str | None:
    """Why the sample cannot be stored (a dead letter's reason), or None when it is plausible.
    `counter_type`: gauge, delta or cumulative (a status meter's gauge may be -1)."""
    if not math.isfinite(volume):
        return f"counter_volume {volume!r} is not a finite number"
    known = METERS.get(meter)
    kind = known.kind if known is not None else counter_type
    if volume < 0 and kind not in _MAY_BE_NEGATIVE:
        return f"negative volume {volume:g} for {counter_type} meter {meter}, which cannot go below 0"
    limit = _LIMITS.get(meter)
    if volume < 0 and limit is not None and kind == "delta":  # hourly usage would go negative: unratable
        return f"negative volume {volume:g} for delta meter {meter}, which is rated: usage cannot be negative"
    if limit is not None and abs(volume) > limit[0]:
        return (f"counter_volume {volume:g} is above {limit[0]:g}, the largest {meter} volume rated exactly "
                f"({MAX_EXACT_QUANTITY:,} {limit[1]})")  # fmt: skip
    if not bounds.earliest <= timestamp < bounds.latest:
        return (f"timestamp {timestamp.isoformat()} is outside the plausible range {bounds} "
                "(ingest.plausible_from, ingest.plausible_ahead_hours)")  # fmt: skip
    return None


__all__ = ["DEFAULT_AHEAD", "DEFAULT_FROM", "Bounds", "problem", "volume_range"]
