"""Cold verification cost of one Cognito-sized RS256 token, as ratios in one run.

Compares, on the same token and key:
  floor     raw ``cryptography`` RSA verify of the signing input (nothing else)
  revoker   ``Verifier.verify``: strict parse, header checks, key lookup, signature, claims
  authz     ``Authorizer.check`` warm: verified-token cache hit + registry match
  pyjwt     ``jwt.decode`` with a preloaded key (the stateless baseline)
  joserfc   ``jwt.decode`` + claims validation, when joserfc is installed

Run: ``python benchmarks/verify_hot_path.py`` (about 15 s). Figures are medians
of several repeats; ratios are what to compare across machines.
"""

from __future__ import annotations

import argparse
import json
import statistics
import time
from collections.abc import Callable
from pathlib import Path

import jwt as pyjwt
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import padding, rsa

from revoker.core.authorizer import Authorizer
from revoker.core.clock import FrozenClock
from revoker.core.registry import Registry, open_store
from revoker.core.tokens import parse_unverified
from revoker.testing import TokenFactory

RESULTS = Path(__file__).parent / "results"


def per_call_us(func: Callable[[], object], *, seconds: float, repeats: int) -> float:
    """Median over ``repeats`` of the mean time per call, in microseconds."""
    calls = 200
    start = time.perf_counter()
    while time.perf_counter() - start < 0.05:  # calibrate a batch of about 50 ms
        for _ in range(calls):
            func()
        calls *= 2
    batch = max(100, int(calls * seconds / 0.1 / repeats))
    samples = []
    for _ in range(repeats):
        t0 = time.perf_counter()
        for _ in range(batch):
            func()
        samples.append((time.perf_counter() - t0) / batch * 1e6)
    return statistics.median(samples)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seconds", type=float, default=2.0, help="time per contender")
    parser.add_argument("--repeats", type=int, default=5)
    args = parser.parse_args()

    clock = FrozenClock(time.time())
    factory = TokenFactory(clock=clock)
    token = factory.id_token(**{"cognito:groups": ["admins", "users"], "custom:tenant": "t-42"})
    verifier = factory.verifier()
    verifier.verify(token)  # load the key
    parsed = parse_unverified(token)
    public = factory.key.public_key()
    registry = Registry(open_store("memory://"), clock=clock)
    registry.sync()
    authorizer = Authorizer(verifier, registry)
    authorizer.check(token)

    if not isinstance(public, rsa.RSAPublicKey):
        raise SystemExit("the benchmark expects an RSA key")

    def floor() -> None:
        public.verify(parsed.signature, parsed.signing_input, padding.PKCS1v15(), hashes.SHA256())

    pem_key = public
    contenders: dict[str, Callable[[], object]] = {
        "floor (cryptography verify)": floor,
        "revoker Verifier.verify": lambda: verifier.verify(token),
        "revoker Authorizer.check, warm": lambda: authorizer.check(token),
        "PyJWT decode": lambda: pyjwt.decode(
            token,
            pem_key,
            algorithms=["RS256"],
            audience=factory.client_id,
            issuer=factory.issuer,
            options={"verify_exp": False, "verify_iat": False},
        ),
    }
    try:
        from joserfc import jwt as jose_jwt
        from joserfc.jwk import RSAKey

        jose_key = RSAKey.import_key(factory.jwks()["keys"][0])
        registry_claims = jose_jwt.JWTClaimsRegistry(
            iss={"essential": True, "value": factory.issuer}
        )

        def joserfc_decode() -> None:
            decoded = jose_jwt.decode(token, jose_key, algorithms=["RS256"])
            registry_claims.validate(decoded.claims)

        contenders["joserfc decode + claims"] = joserfc_decode
    except ImportError:
        pass

    results = {
        name: per_call_us(func, seconds=args.seconds, repeats=args.repeats)
        for name, func in contenders.items()
    }
    base = results["floor (cryptography verify)"]
    print(f"{'contender':<34} {'µs/call':>9} {'calls/s':>10} {'x floor':>8}")
    for name, us in results.items():
        print(f"{name:<34} {us:>9.2f} {1e6 / us:>10.0f} {us / base:>8.2f}")
    pyjwt_us = results["PyJWT decode"]
    print()
    print(
        f"revoker cold verify vs PyJWT: {pyjwt_us / results['revoker Verifier.verify']:.2f}x faster"
    )
    print(
        f"revoker warm check vs PyJWT: "
        f"{pyjwt_us / results['revoker Authorizer.check, warm']:.1f}x faster"
    )
    RESULTS.mkdir(exist_ok=True)
    out = RESULTS / "verify_hot_path.json"
    out.write_text(json.dumps({"microseconds_per_call": results}, indent=2) + "\n")
    print(f"\nwrote {out}")


if __name__ == "__main__":
    main()
