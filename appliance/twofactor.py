"""Second factors: TOTP codes (RFC 6238) and one-time recovery codes, and
the QR codes that carry a TOTP secret (or any link) to a phone.

Pure functions with no storage: the people and operator services keep the
secret, the last time step used and the hashes of the recovery codes, and
call these to make and check them. pyotp does the TOTP arithmetic and segno
draws the QR code, as SVG markup the panel puts inline in its page (the CSP
``default-src 'self'`` admits no ``data:`` image).

A code is accepted for the current 30-second step and the one before or
after (clocks of phones drift), and never twice: :func:`verify` returns the
step it matched, which the caller stores and passes back as ``last_step``,
so a code seen by someone looking over a shoulder is worthless once used.
"""

from __future__ import annotations

import hashlib
import hmac
import io
import secrets
import time

import pyotp
import segno

#: Steps either side of now that a code may be from (RFC 6238 section 5.2).
DRIFT_STEPS = 1
#: How many recovery codes a user gets at once.
RECOVERY_CODES = 10
#: Recovery codes: groups of this many characters from :data:`ALPHABET`.
RECOVERY_GROUPS, RECOVERY_GROUP_LEN = 2, 5
#: No 0/O, 1/l/I: codes are read off paper and typed.
ALPHABET = "abcdefghjkmnpqrstuvwxyz23456789"
#: Longest code text looked at (a TOTP code is 6 digits).
MAX_CODE_LENGTH = 32


def new_secret() -> str:
    """A new base32 TOTP secret (160 bits, RFC 4226 section 4)."""
    return pyotp.random_base32(32)


def provisioning_uri(secret: str, account: str, issuer: str) -> str:
    """The ``otpauth://`` link an authenticator app reads from the QR code."""
    return pyotp.TOTP(secret).provisioning_uri(name=account, issuer_name=issuer)


def qr_svg(text: str, title: str) -> str:
    """``text`` as a QR code: inline SVG markup (no XML declaration) with
    ``title`` as its accessible name. Error correction M, 4 px a module."""
    code = segno.make(text, error="m")
    out = io.BytesIO()
    code.save(out, kind="svg", xmldecl=False, svgns=True, scale=4, title=title, svgclass="qr", lineclass=None)
    return out.getvalue().decode("utf-8")


def clean_code(code: str) -> str:
    """What the user typed, without spaces and dashes, lower-case."""
    return "".join(c for c in code[:MAX_CODE_LENGTH] if c not in " -\t").lower()


def verify(secret: str, code: str, last_step: int | None, now: float | None = None) -> int | None:
    """The time step ``code`` is valid for, or None.

    Valid means: six digits, matching the secret within :data:`DRIFT_STEPS`
    of ``now``, and for a step after ``last_step`` (a code is never
    accepted twice, nor one older than the last one used).
    """
    code = clean_code(code)
    if len(code) != 6 or not code.isdigit():
        return None
    totp = pyotp.TOTP(secret)
    current = totp.timecode(time.time() if now is None else now)
    for step in range(current - DRIFT_STEPS, current + DRIFT_STEPS + 1):
        if last_step is not None and step <= last_step:
            continue
        if hmac.compare_digest(totp.generate_otp(step), code):
            return step
    return None


def new_recovery_codes() -> list[str]:
    """:data:`RECOVERY_CODES` fresh codes to show once (``abcde-fghjk``)."""
    return ["-".join("".join(secrets.choice(ALPHABET) for _ in range(RECOVERY_GROUP_LEN))
                     for _ in range(RECOVERY_GROUPS)) for _ in range(RECOVERY_CODES)]


def recovery_hash(code: str) -> str:
    """What is stored of a recovery code. The codes are random (about 49
    bits) and used once, so a plain SHA-256 is enough; the check is an
    equality lookup of this digest."""
    return hashlib.sha256(clean_code(code).encode("ascii", "replace")).hexdigest()

