"""What signing and checking one access token costs under each algorithm, in
this process: `python bench/tokens.py` from the repo root.

The HTTP benchmark (run.py) shows the service as a whole, but its runs move
more between each other on a shared machine than these few microseconds do;
this times service.security's own codec, the same claims for each key, one
after the other in one run, and prints each beside HS256's.
"""

import argparse
import sys
import timeit
from collections.abc import Callable
from datetime import timedelta
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from service.scopes import ALLOWED, Role, to_text
from service.security import AccessClaims, TokenCodec
from service.signing_keys import KeyRing, generate_private_key, hmac_key


def _timed(
    codec: TokenCodec, claims: AccessClaims, *, number: int, repeat: int
) -> tuple[float, float]:
    """Microseconds to sign one access token and to check one, best of `repeat` timings."""
    token = codec.access_token(claims)

    def best(operation: Callable[[], object]) -> float:
        return min(timeit.repeat(operation, number=number, repeat=repeat)) / number * 1e6

    return best(lambda: codec.access_token(claims)), best(lambda: codec.decode_access(token))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--number", type=int, default=5000, help="operations per timing")
    parser.add_argument("--repeat", type=int, default=5, help="timings; the best is kept")
    args = parser.parse_args()
    claims = AccessClaims(
        user_id=1, login_id="0" * 32, credential_version=0, scope=to_text(ALLOWED[Role.USER])
    )
    keys = {
        "HS256": hmac_key("a-benchmark-secret-of-forty-characters!!", "HS256"),
        "EdDSA": generate_private_key("EdDSA"),
        "ES256": generate_private_key("ES256"),
    }
    results = {}
    for name, key in keys.items():
        codec = TokenCodec(
            keys=KeyRing([key]), issuer="bench", audience="bench", access_ttl=timedelta(minutes=15)
        )
        results[name] = _timed(codec, claims, number=args.number, repeat=args.repeat)
    sign_base, verify_base = results["HS256"]
    for name, (sign, verify) in results.items():
        print(
            f"{name:6} sign {sign:6.1f} us ({sign / sign_base:.2f}x HS256)"
            f"   verify {verify:6.1f} us ({verify / verify_base:.2f}x HS256)"
        )


if __name__ == "__main__":
    main()
