"""Provably fair crash points: a hash chain of server seeds and a bustabit-style formula.

The chain is built backwards from a secret: ``s[N] = secret``, ``s[k-1] = sha256(s[k])``.
``s[0]``, the terminal hash, is published before any round is played. Round ``n`` is played with
seed ``s[n]``; its commitment ``sha256(s[n]) = s[n-1]`` is published before the round and the seed
is revealed after it. Anyone can then check that hashing the seed ``n`` times gives the terminal
hash, and re-derive the crash point:

    h = first 52 bits of HMAC-SHA256(key=seed, message=salt)
    crash = max(1.00, floor((1 - edge) * 2**52 / (2**52 - h) * 100) / 100)

so that ``P(crash >= m) = (1 - edge) / m``: the house edge. Pure integers, then ``Decimal`` with
two decimals: no float.
"""

from __future__ import annotations

import hashlib
import hmac
from dataclasses import dataclass
from decimal import Decimal

E52 = 2**52
DEFAULT_SALT = "hypeledger-simulator"
DEFAULT_HOUSE_EDGE_BPS = 100


def sha256_hex(text: str) -> str:
    return hashlib.sha256(text.encode("ascii")).hexdigest()


def crash_point_x100(
    seed: str, *, salt: str = DEFAULT_SALT, house_edge_bps: int = DEFAULT_HOUSE_EDGE_BPS
) -> int:
    """The crash multiplier times 100 (``250`` is 2.50x), at least ``100``."""
    if not 0 <= house_edge_bps < 10_000:
        raise ValueError("the house edge is 0..9999 basis points")
    digest = hmac.new(seed.encode("ascii"), salt.encode("utf-8"), hashlib.sha256).hexdigest()
    h = int(digest[:13], 16)
    return max(100, ((10_000 - house_edge_bps) * E52) // ((E52 - h) * 100))


def crash_point(
    seed: str, *, salt: str = DEFAULT_SALT, house_edge_bps: int = DEFAULT_HOUSE_EDGE_BPS
) -> Decimal:
    """The crash multiplier with exactly two decimals (``Decimal("2.50")``)."""
    return Decimal(crash_point_x100(seed, salt=salt, house_edge_bps=house_edge_bps)).scaleb(-2)


@dataclass(frozen=True, slots=True)
class SeedChain:
    """``hashes[0]`` is the terminal hash; ``hashes[n]`` is the seed of round ``n`` (1-based)."""

    hashes: tuple[str, ...]

    @classmethod
    def generate(cls, secret: str, length: int) -> SeedChain:
        if length < 1:
            raise ValueError("a chain holds at least one round")
        chain = [secret]
        for _ in range(length):
            chain.append(sha256_hex(chain[-1]))
        chain.reverse()
        return cls(tuple(chain))

    @property
    def terminal_hash(self) -> str:
        return self.hashes[0]

    @property
    def length(self) -> int:
        return len(self.hashes) - 1

    def seed(self, round_number: int) -> str:
        if not 1 <= round_number <= self.length:
            raise IndexError(f"round {round_number} is outside the chain (1..{self.length})")
        return self.hashes[round_number]

    def seed_hash(self, round_number: int) -> str:
        """The commitment published before round ``round_number``: ``sha256(seed)``."""
        return sha256_hex(self.seed(round_number))


@dataclass(frozen=True, slots=True)
class Verdict:
    ok: bool
    crash_point: Decimal
    problems: tuple[str, ...]


def verify_round(
    *,
    seed: str,
    round_number: int,
    published_seed_hash: str | None,
    terminal_hash: str | None,
    claimed_crash_point: Decimal | None,
    salt: str = DEFAULT_SALT,
    house_edge_bps: int = DEFAULT_HOUSE_EDGE_BPS,
) -> Verdict:
    """Re-derive a round's crash point from its revealed seed and check every commitment."""
    problems: list[str] = []
    derived = crash_point(seed, salt=salt, house_edge_bps=house_edge_bps)
    if published_seed_hash is not None and sha256_hex(seed) != published_seed_hash.lower():
        problems.append("sha256(seed) differs from the seed hash published before the round")
    if terminal_hash is not None:
        value = seed
        for _ in range(round_number):
            value = sha256_hex(value)
        if value != terminal_hash.lower():
            problems.append(
                f"hashing the seed {round_number} times does not give the terminal hash"
            )
    if claimed_crash_point is not None and derived != claimed_crash_point:
        problems.append(f"the seed gives {derived}x, the round crashed at {claimed_crash_point}x")
    return Verdict(ok=not problems, crash_point=derived, problems=tuple(problems))
