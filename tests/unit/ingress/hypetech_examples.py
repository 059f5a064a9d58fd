"""Every webhook example of Hypetech's docs, copied verbatim (typos and placeholders included).

The generations and fields are described in ``docs/hypetech-api.md``.

Where the doc gives a field list instead of a literal example (V2 and V3 shapes, the lose
webhook), the example is assembled from the doc's stated values and marked so.
"""

from __future__ import annotations

# §2.1 Register Bet, V4 body (the same values also travel in the query string).
V4_BET = (
    b'{"user_id":"26","currency":"USD","amount":200,"provider":"hypetech","provider_tx_id":"559",'
    b'"game":"aviador","action":"bet","round_id":"255","mode":"default","count_register":"1",'
    b'"session_token":"b72afc947ed1809d9a993d378733cfea","bonus_code":"FREEBET2024",'
    b'"extra_data":"Extra Data"}'
)
V4_BET_QUERY = (
    ("user_id", "26"),
    ("currency", "USD"),
    ("amount", "200"),
    ("provider", "hypetech"),
    ("provider_tx_id", "559"),
    ("game", "aviador"),
    ("action", "bet"),
    ("round_id", "255"),
    ("mode", "default"),
    ("count_register", "1"),
    ("session_token", "b72afc947ed1809d9a993d378733cfea"),
    ("bonus_code", "FREEBET2024"),
    ("extra_data", "Extra Data"),
)
# §2.1 "V1 example differs": provider hypetech_rocket, game rocket, action_id, platform.
V1_BET = (
    b'{"user_id":"26","currency":"USD","amount":200,"provider":"hypetech_rocket",'
    b'"provider_tx_id":"559","game":"rocket","action":"bet","action_id":"255",'
    b'"session_token":"b72afc947ed1809d9a993d378733cfea","platform":"desktop"}'
)
# §2.1 V2 field table (round_id, mode, count_register; no V4 extras). Assembled.
V2_BET = (
    b'{"user_id":"26","currency":"USD","amount":200,"provider":"hypetech","provider_tx_id":"559",'
    b'"game":"aviador","action":"bet","round_id":"255","mode":"default","count_register":"1",'
    b'"session_token":"b72afc947ed1809d9a993d378733cfea"}'
)
# §2.2 Register Win, V1 example (its action says "bet": route by endpoint, not by action).
V1_WIN = (
    b'{"user_id":"26","currency":"USD","amount":200,"provider":"hypetech_rocket",'
    b'"provider_tx_id":"600","game":"rocket","action":"bet","action_id":"177",'
    b'"session_token":"b72afc9470d1899idea993d378733cfa"}'
)
# §2.2 V2: "same shape as the bet with action win, round_id 255, provider_tx_id 559".
V2_WIN = (
    b'{"user_id":"26","currency":"USD","amount":200,"provider":"hypetech","provider_tx_id":"559",'
    b'"game":"aviador","action":"win","round_id":"255","session_token":'
    b'"b72afc947ed1809d9a993d378733cfea"}'
)
# §2.2 V3 Register Earnings (GET): the V2 win plus mode and count_register (V3 schema).
V3_WIN_QUERY = tuple(
    (name, "win" if name == "action" else value) for name, value in V4_BET_QUERY[:11]
)
# §2.2 V4 Register Win schema example, verbatim (placeholders included).
V4_WIN_SCHEMA = (
    b'{"user_id":"string","currency":"string","amount":0,"provider":"string","provider_tx_id":0,'
    b'"game":"string","action":"string","round_id":"string","count_register":0,'
    b'"session_token":"string","linked_tx_id":0,"mode":"string","agreggator":"string",'
    b'"bonus_code":"string"}'
)
# §2.3 Lose (V1 and V2): field lists only. Assembled.
V1_LOSE = (
    b'{"user_id":"26","currency":"USD","amount":200,"provider":"hypetech_rocket",'
    b'"provider_tx_id":"601","game":"rocket","action":"bet","action_id":"177",'
    b'"session_token":"b72afc947ed1809d9a993d378733cfea"}'
)
V2_LOSE = (
    b'{"user_id":"26","currency":"USD","amount":200,"provider":"hypetech","provider_tx_id":"602",'
    b'"game":"aviador","action":"lose","round_id":"255",'
    b'"session_token":"b72afc947ed1809d9a993d378733cfea"}'
)
# §2.4 Rollback, V1 example verbatim (the ids look swapped; the target is rollback_provider_tx_id).
V1_ROLLBACK = (
    b'{"user_id":"26","amount":200,"provider":"hypetech_rocket","currency":"BRL",'
    b'"provider_tx_id":"559","rollback_provider_tx_id":"651","game":"rocket","action_id":"255",'
    b'"session_token":"b72afc9470d1899d9a993d378733cfea"}'
)
# §2.4 V2 rollback: the standard shape with action rollback and no link field. Assembled.
V2_ROLLBACK = (
    b'{"user_id":"26","currency":"USD","amount":200,"provider":"hypetech","provider_tx_id":"559",'
    b'"game":"aviador","action":"rollback","round_id":"255",'
    b'"session_token":"b72afc947ed1809d9a993d378733cfea"}'
)
# §2.4 V4 Rollback schema example, verbatim.
V4_ROLLBACK_SCHEMA = (
    b'{"user_id":"string","currency":"string","amount":0,"provider":"string","provider_tx_id":0,'
    b'"game":"string","action":"string","session_token":"string","linked_tx_id":0,'
    b'"round_id":"string","extra_data":"string","aggregator":"string"}'
)
# §2.5 Balance V3 (GET): the bet schema (V3 bet fields, no V4 extras) in the query string.
V3_BALANCE_QUERY = V4_BET_QUERY[:11]
# §2.5 Balance V4 request, verbatim.
V4_BALANCE_SCHEMA = b'{"user_id":"string","currency":"string","session_token":"string"}'


def with_currency(raw: bytes, currency: str = "USD") -> bytes:
    """A schema example with its placeholder currency replaced by a real one."""
    return raw.replace(b'"currency":"string"', b'"currency":"' + currency.encode() + b'"')
