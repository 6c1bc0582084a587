"""Password hashing: argon2id for new hashes; bcrypt and sha512-crypt
(imported from other servers) verified and upgraded on the next login.

Hashing is slow on purpose. Callers on the event loop use :class:`Hasher`,
which runs it on a small thread pool; the CLI calls the blocking functions.
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import secrets
import string

from passlib.context import CryptContext

from .errors import InvalidInput

#: Longer passwords are refused before hashing (argon2 would hash megabytes).
MAX_PASSWORD_LENGTH = 1024
MIN_PASSWORD_LENGTH = 8

CONTEXT = CryptContext(
    schemes=["argon2", "bcrypt", "sha512_crypt"],
    deprecated=["bcrypt", "sha512_crypt"],
    argon2__type="ID",
)


def check_password(password: str) -> None:
    """Refuse passwords that are empty, too long or contain control characters."""
    if len(password) > MAX_PASSWORD_LENGTH:
        raise InvalidInput(f"password longer than {MAX_PASSWORD_LENGTH} characters", field="password")
    if len(password) < MIN_PASSWORD_LENGTH:
        raise InvalidInput(f"password shorter than {MIN_PASSWORD_LENGTH} characters", field="password")
    if any(ord(c) < 32 or ord(c) == 127 for c in password):
        raise InvalidInput("password contains control characters", field="password")


def hash_password(password: str) -> str:
    check_password(password)
    return CONTEXT.hash(password)


def verify(password: str, stored_hash: str) -> tuple[bool, str | None]:
    """(ok, new_hash): new_hash is set when the stored hash should be upgraded."""
    if len(password) > MAX_PASSWORD_LENGTH:
        return False, None
    try:
        return CONTEXT.verify_and_update(password, stored_hash)
    except (ValueError, TypeError):
        # An unrecognised or damaged hash never matches.
        return False, None


def generate(length: int = 20) -> str:
    """A strong random password without characters easily confused."""
    alphabet = "".join(c for c in string.ascii_letters + string.digits if c not in "Il1O0o")
    return "".join(secrets.choice(alphabet) for _ in range(length))


class Hasher:
    """Runs hashing and verification on a bounded thread pool."""

    def __init__(self, threads: int = 2):
        self._pool = concurrent.futures.ThreadPoolExecutor(max_workers=threads, thread_name_prefix="hash")

    async def verify(self, password: str, stored_hash: str) -> tuple[bool, str | None]:
        return await asyncio.wrap_future(self._pool.submit(verify, password, stored_hash))

    def verify_sync(self, password: str, stored_hash: str) -> tuple[bool, str | None]:
        return self._pool.submit(verify, password, stored_hash).result()

    async def hash(self, password: str) -> str:
        return await asyncio.wrap_future(self._pool.submit(hash_password, password))

    def close(self) -> None:
        self._pool.shutdown(wait=False, cancel_futures=True)
