"""App passwords: generated passwords for mail, calendar and contacts apps.

An app password is four groups of four lower-case letters
(``abcd efgh ijkl mnop``), shown once. It is checked by equality of a
digest: 16 random letters carry 75 bits, far beyond any guessing an online
throttle allows and beyond brute force of a stolen digest, so a fast
SHA-256 is safe here. A slow hash (argon2) would protect nothing more and
would cost a hash on every DAV request, since calendar clients log in on
each one. What the user types is read without spaces, dashes or case, so a
password copied with its spaces still works.
"""

from __future__ import annotations

import hashlib
import secrets
import string

GROUPS, GROUP_LEN = 4, 4
LENGTH = GROUPS * GROUP_LEN
#: Longest app-password name.
MAX_NAME = 64


def generate() -> str:
    """A new app password, grouped for reading: ``abcd efgh ijkl mnop``."""
    letters = "".join(secrets.choice(string.ascii_lowercase) for _ in range(LENGTH))
    return " ".join(letters[i:i + GROUP_LEN] for i in range(0, LENGTH, GROUP_LEN))


def normalize(password: str) -> str | None:
    """The 16 letters of ``password`` if it has the shape of an app
    password (spaces and dashes aside, any case), else None."""
    if len(password) > 2 * LENGTH:
        return None
    letters = "".join(c for c in password if c not in " -").lower()
    if len(letters) != LENGTH or not all("a" <= c <= "z" for c in letters):
        return None
    return letters


def digest(password: str) -> str | None:
    """What is stored of an app password (see module doc), or None when
    ``password`` cannot be one."""
    letters = normalize(password)
    if letters is None:
        return None
    return hashlib.sha256(b"app-password\0" + letters.encode("ascii")).hexdigest()


def clean_name(name: str) -> str | None:
    """The name trimmed, or None when it is empty, too long, or has
    control characters."""
    name = " ".join(name.split())
    if not name or len(name) > MAX_NAME or any(ord(c) < 32 or ord(c) == 127 for c in name):
        return None
    return name
