"""Microversion negotiation the way Nova and Cinder do it.

A request names its version in `OpenStack-API-Version: <service> <X.Y|latest>` (Nova also reads the
legacy `X-OpenStack-Nova-API-Version`). No header means the minimum; out of range is 406; the
version actually used is echoed back so clients can tell what they got.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass

from .web import ApiError

_VERSION_RE = re.compile(r"^([1-9]\d*)\.(0|[1-9]\d*)$")


@dataclass(frozen=True, order=True)
class Version:
    major: int
    minor: int

    @classmethod
    def parse(cls, text: str) -> Version:
        match = _VERSION_RE.match(text.strip())
        if not match:
            raise ValueError(text)
        return cls(int(match.group(1)), int(match.group(2)))

    def __str__(self) -> str:
        return f"{self.major}.{self.minor}"


@dataclass(frozen=True)
class VersionPolicy:
    service: str  # the name in OpenStack-API-Version responses: "compute" or "volume"
    aliases: frozenset[str]  # names a request may use for this service
    legacy_header: str | None
    minimum: Version
    maximum: Version

    def requested(self, headers: Mapping[str, str]) -> str | None:
        """The version text the request asks for; `headers` has lower-cased names."""
        for item in headers.get("openstack-api-version", "").split(","):
            parts = item.split()
            if len(parts) == 2 and parts[0].lower() in self.aliases:
                return parts[1]
        if self.legacy_header:
            return headers.get(self.legacy_header.lower())
        return None

    def negotiate(self, headers: Mapping[str, str]) -> Version:
        text = self.requested(headers)
        if text is None:
            return self.minimum
        if text.strip().lower() == "latest":
            return self.maximum
        try:
            version = Version.parse(text)
        except ValueError:
            raise ApiError(
                400, f"API Version String {text} is of invalid format. Must be of format MajorNum.MinorNum."
            ) from None
        if not self.minimum <= version <= self.maximum:
            raise ApiError(
                406,
                f"Version {version} is not supported by the API. Minimum is "
                f"{self.minimum} and maximum is {self.maximum}.",
            )
        return version

    def response_headers(self, version: Version) -> dict[str, str]:
        headers = {"OpenStack-API-Version": f"{self.service} {version}"}
        vary = ["OpenStack-API-Version"]
        if self.legacy_header:
            headers[self.legacy_header] = str(version)
            vary.append(self.legacy_header)
        headers["Vary"] = ", ".join(vary)
        return headers
