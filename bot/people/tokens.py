"""Bearer secrets (staff session cookies, operator API tokens): made random, stored only as a hash.

They are 256-bit random strings, so a slow password hash adds nothing, and a fast one keeps
every request cheap.
"""

from __future__ import annotations

import hashlib
import secrets


def new_secret() -> str:
    return secrets.token_urlsafe(32)


def digest(token: str) -> str:
    """What is stored of a secret, and looked up by."""
    return hashlib.sha256(token.encode("utf-8")).hexdigest()
