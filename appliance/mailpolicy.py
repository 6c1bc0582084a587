"""What a mail domain tells other mail servers beyond SPF and DKIM.

* MTA-STS (RFC 8461): a policy served at
  ``https://mta-sts.<domain>/.well-known/mta-sts.txt`` that names our MX
  hosts and asks senders to deliver only over TLS to them (``enforce``), or
  to report failures and deliver anyway (``testing``); announced by the TXT
  record ``_mta-sts.<domain>`` whose ``id`` changes whenever the policy text
  does, so senders fetch it again.
* TLS-RPT (RFC 8460): ``_smtp._tls.<domain>`` TXT, where senders mail their
  daily reports on TLS to us.
* DMARC (RFC 7489): the policy record, with an aggregate report address
  when the operator wants the reports.

Reports go to an address of the business's own domain (``[dns]
reports_local_part``, ``postmaster`` by default, which reaches its owner):
an address in the same domain needs no external authorisation record
(RFC 7489 section 7.1).

The policy is one value built from the settings; the DNS zones
(:mod:`appliance.zones`) and the web server read the same one, so the
``id`` in DNS always matches the text served.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass

#: RFC 8461 section 3.2: the modes a policy may have.
MODES = ("testing", "enforce", "none")
#: RFC 8461 section 3.2: ``max_age`` is at most 31557600 seconds (a year).
MAX_AGE_LIMIT = 31_557_600
#: Where the policy is served, on ``mta-sts.<domain>`` (RFC 8461 section 3.3).
POLICY_PATH = "/.well-known/mta-sts.txt"
#: The host name label that serves the policy.
POLICY_LABEL = "mta-sts"


@dataclass(frozen=True)
class MtaSts:
    """One MTA-STS policy: the box's for every domain when every MX is the
    box's host name; each domain's own (``mx`` its client host name) with
    ``[box] client_label`` (:func:`appliance.zones.mta_sts_policy`)."""

    mode: str
    mx: tuple[str, ...]
    max_age: int

    def text(self) -> str:
        """The policy file (RFC 8461 section 3.2): ``key: value`` lines
        ending in CRLF, ``version`` first."""
        lines = ["version: STSv1", f"mode: {self.mode}", *(f"mx: {host}" for host in self.mx), f"max_age: {self.max_age}"]
        return "".join(line + "\r\n" for line in lines)

    @property
    def id(self) -> str:
        """1-32 letters and digits (RFC 8461 section 3.1), from the policy
        text: it changes exactly when the policy does."""
        return hashlib.sha256(self.text().encode("ascii")).hexdigest()[:20]

    def txt(self) -> str:
        """The ``_mta-sts.<domain>`` TXT value."""
        return f"v=STSv1; id={self.id}"


def tlsrpt(address: str) -> str:
    """The ``_smtp._tls.<domain>`` TXT value (RFC 8460 section 3)."""
    return f"v=TLSRPTv1; rua=mailto:{address}"


def dmarc(report_address: str | None) -> str:
    """The ``_dmarc.<domain>`` TXT value; aggregate reports (``rua``, RFC
    7489 section 6.3) go to ``report_address`` when given."""
    text = "v=DMARC1; p=quarantine; adkim=s; aspf=s"
    return f"{text}; rua=mailto:{report_address}" if report_address else text
