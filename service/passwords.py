"""The password rules of the contract. Hashing lives in security.py."""

import gzip
import re
from difflib import SequenceMatcher
from functools import lru_cache
from pathlib import Path

from service.problems import DomainError, Problem
from service.security import BCRYPT_MAX_BYTES, exceeds_bcrypt_limit
from service.text import has_control_characters

COMMON_PASSWORDS_FILE = Path(__file__).parent / "data" / "common-passwords.txt.gz"
# As Django's UserAttributeSimilarityValidator: above this ratio, too alike.
MAX_SIMILARITY = 0.7
MIN_EMAIL_PART = 3


@lru_cache(maxsize=1)
def common_passwords() -> frozenset[str]:
    with gzip.open(COMMON_PASSWORDS_FILE, "rt", encoding="utf-8") as lines:
        return frozenset(line.strip() for line in lines if line.strip())


def password_rules(*, min_length: int) -> list[str]:
    """The rules `password_problems` checks, in words for a person choosing a password."""
    return [
        f"At least {min_length} characters",
        f"At most {BCRYPT_MAX_BYTES} bytes in UTF-8 (fewer characters with accents or emoji)",
        "Not only digits",
        "Not one of the well-known common passwords",
        "Not too similar to your email address",
        "No control characters",
    ]


def password_problems(password: str, *, min_length: int, email: str | None) -> list[str]:
    """Every rule `password` breaks, as messages for people; empty when it is acceptable."""
    problems = []
    if len(password) < min_length:
        problems.append(f"Password must be at least {min_length} characters")
    if exceeds_bcrypt_limit(password):
        problems.append(f"Password must be at most {BCRYPT_MAX_BYTES} bytes in UTF-8")
    if has_control_characters(password):
        problems.append("Password must not contain control characters")
    if password.isdigit():
        problems.append("Password must not be entirely numeric")
    if password.lower().strip() in common_passwords():
        problems.append("Password is too common")
    if email and _too_similar(password, email):
        problems.append("Password is too similar to the email address")
    return problems


def _too_similar(password: str, email: str) -> bool:
    password = password.lower()
    email = email.lower()
    local_part = email.partition("@")[0]
    if len(local_part) >= MIN_EMAIL_PART and local_part in password:
        return True
    candidates = {email, local_part, *re.split(r"\W+", email)}
    return any(
        len(part) >= MIN_EMAIL_PART
        and SequenceMatcher(a=password, b=part).quick_ratio() >= MAX_SIMILARITY
        and SequenceMatcher(a=password, b=part).ratio() >= MAX_SIMILARITY
        for part in candidates
    )


def require_strong(password: str, *, email: str, min_length: int, field: str) -> None:
    """Raise WEAK_PASSWORD naming every rule `password` breaks for this account.

    The request schema has checked the rules it can; only the account's email
    (and so the similarity rule) may have been unknown to it.
    """
    problems = password_problems(password, min_length=min_length, email=email)
    if problems:
        raise DomainError(Problem.WEAK_PASSWORD, field, messages=problems)
