"""schemathesis over every operation of the API, lone surrogates included: how many 5xx (must be 0).

Run:  PYTHONPATH=. .venv/bin/python bench/fuzz.py [--examples 300] [--retrain-examples 5] [--home HOME]

Builds the app over a copy of ``--home`` (default: a fresh STEPSTONE_HOME, trained on first use),
with a token (every request carries it; schemathesis also checks that a wrong one gets 401). Per
operation: ``--examples`` generated requests (``POST /v1/models``, a retrain of seconds each:
``--retrain-examples``) checked with schemathesis' default checks; then as many again with lone
surrogates put into every JSON string (as ``\\udXXX`` escapes) and query value (``%ED%A0%80``),
which schemathesis cannot draw itself. Prints per-operation status counts and the number of 5xx.
"""

from __future__ import annotations

import argparse
import collections
import json
import os
import shutil
import tempfile
import time
from pathlib import Path
from typing import Any
from urllib.parse import quote

import schemathesis
from fastapi.testclient import TestClient
from hypothesis import HealthCheck, given, settings
from schemathesis.checks import positive_data_acceptance

TOKEN = "bench-token"
AUTH = {"Authorization": f"Bearer {TOKEN}"}


def with_surrogates(value: Any, k: int = 0) -> Any:
    """Every string of a JSON value with a lone surrogate put in (alternately replacing and appended)."""
    if isinstance(value, str):
        return "\ud800" if k % 2 else value + "\udfff"
    if isinstance(value, list):
        return [with_surrogates(v, k + i) for i, v in enumerate(value)]
    if isinstance(value, dict):
        return {with_surrogates(key, k) if k % 3 == 2 else key: with_surrogates(v, k + i)
                for i, (key, v) in enumerate(value.items())}
    return value


def surrogate_request(case: schemathesis.Case) -> tuple[str, bytes | None]:
    """The case's URL with every string query value ending in a lone surrogate's UTF-8-style bytes,
    and its JSON body (if any) with lone surrogates as escapes (``tests/api/test_fuzz.py`` uses it too)."""
    query = "&".join(f"{quote(str(k))}={quote(str(v))}%ED%A0%80" for k, v in (case.query or {}).items())
    url = case.formatted_path + (f"?{query}" if query else "")
    body = case.body if isinstance(case.body, dict | list | str) and case.media_type == "application/json" else None
    return url, None if body is None else json.dumps(with_surrogates(body)).encode("ascii")


def fuzz_operation(op: Any, n: int, client: TestClient, failures: list[str]) -> collections.Counter[int]:
    """``n`` generated requests with schemathesis' checks, then ``n`` with lone surrogates; statuses."""
    name = f"{op.method.upper()} {op.path}"
    tally: collections.Counter[int] = collections.Counter()

    @given(case=op.as_strategy())
    @settings(max_examples=n, deadline=None, suppress_health_check=list(HealthCheck), database=None)
    def plain(case: schemathesis.Case) -> None:
        response = case.call(headers=AUTH, timeout=600)  # a retrain takes seconds
        tally[response.status_code] += 1
        try:
            case.validate_response(response, excluded_checks=[positive_data_acceptance])
        except (Exception, BaseExceptionGroup) as exc:  # noqa: BLE001 - a check failure is a figure to print
            failures.append(f"{name}: {' '.join(str(exc).split())[:200]}")

    @given(case=op.as_strategy())
    @settings(max_examples=n, deadline=None, suppress_health_check=list(HealthCheck), database=None)
    def surrogates(case: schemathesis.Case) -> None:
        url, content = surrogate_request(case)
        headers = {**AUTH, "content-type": "application/json"} if content is not None else AUTH
        tally[client.request(case.method, url, content=content, headers=headers).status_code] += 1

    plain()
    surrogates()
    return tally


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--examples", type=int, default=300)
    ap.add_argument("--retrain-examples", type=int, default=5)
    ap.add_argument("--home", type=Path, default=None)
    args = ap.parse_args()
    tmp = Path(tempfile.mkdtemp(prefix="stepstone-fuzz-"))
    if args.home:
        shutil.copytree(args.home, tmp / "home")
    os.environ["STEPSTONE_HOME"] = str(tmp / "home")
    from api.app import create_app
    from api.settings import Settings
    from recommender.service import Service

    app = create_app(Service(), Settings(api_token=TOKEN, log_requests=False, allowed_hosts="testserver",
                                         retrain_in_subprocess=False))
    schema = schemathesis.openapi.from_asgi("/openapi.json", app)
    client = TestClient(app, base_url="http://testserver", raise_server_exceptions=False)
    counts: dict[str, collections.Counter[int]] = {}
    failures: list[str] = []
    t0 = time.perf_counter()
    with client:
        for result in schema.get_all_operations():
            op = result.ok()
            name = f"{op.method.upper()} {op.path}"
            n = args.retrain_examples if name == "POST /v1/models" else args.examples
            tally = fuzz_operation(op, n, client, failures)
            counts[name] = tally
            print(f"{name:40s} {sum(tally.values()):5d} requests  {dict(sorted(tally.items()))}", flush=True)
    total = sum(sum(c.values()) for c in counts.values())
    fives = sum(n for c in counts.values() for status, n in c.items() if status >= 500)
    print(f"{len(counts)} operations, {total} requests in {time.perf_counter() - t0:.0f} s: {fives} x 5xx; "
          f"{len(failures)} other check failures")
    for line in failures[:20]:
        print("  ", line)
    shutil.rmtree(tmp, ignore_errors=True)


if __name__ == "__main__":
    main()
