"""The floor under a checklist run: its recorded exchanges replayed in order by a bare httpx client.

    python benchmarks/replay.py RESULTS_JSON

RESULTS_JSON is a run's results.json written with --show-secrets (the replay needs the real values). Every
identifier the run made carries its run id (logins, emails, payment Ids, request ids): the replay puts a new run
id in their place, so its registrations and payments are new. The tokens and user ids a replayed answer gives
replace the recorded ones in the requests after it, the way the harness's own cases carried them forward. What
only the harness does (forging expired tokens, cutting a dependency) is not replayed: those requests go out as
recorded. Prints one JSON line: the number of requests, and the statuses that differed from the recording. The
bench times the whole process from outside, its start included, as it times a harness run.
"""

import json
import re
import secrets
import sys
from pathlib import Path
from typing import Any

import httpx

_NOT_REPLAYED_HEADERS = frozenset({"content-length", "host", "connection", "accept-encoding"})
_CARRIED = ("access_token", "refresh_token", "id")
_PHONE = re.compile(r"\+7\d{10}")


def _exchanges(document: dict[str, Any]) -> list[dict[str, Any]]:
    return [
        exchange
        for case in document["cases"]
        for exchange in sorted(case["exchanges"], key=lambda e: e["seq"])
    ]


def replay(document: dict[str, Any]) -> dict[str, Any]:
    substitutions = {str(document["run"]["id"]): secrets.token_hex(3)}
    phones: dict[str, str] = {}

    def new_phone(match: re.Match[str]) -> str:
        # Phones carry no run id: each recorded one gets a new random one, the same wherever it recurs.
        return phones.setdefault(match.group(), f"+7{secrets.randbelow(10**10):010d}")

    def carried(text: str) -> str:
        for old, new in substitutions.items():
            text = text.replace(old, new)
        return _PHONE.sub(new_phone, text)

    exchanges = _exchanges(document)
    differed = 0
    with httpx.Client(timeout=30) as client:
        for exchange in exchanges:
            headers = {
                name: carried(value)
                for name, value in exchange["request_headers"].items()
                if name.lower() not in _NOT_REPLAYED_HEADERS
            }
            body = exchange["request_body"]
            content = None if body is None else carried(body if isinstance(body, str) else json.dumps(body))
            try:
                response = client.request(
                    exchange["method"], carried(exchange["url"]), content=content, headers=headers
                )
            except httpx.TransportError:
                differed += exchange["status"] is not None
                continue
            differed += response.status_code != exchange["status"]
            recorded = exchange["response_body"]
            if isinstance(recorded, dict) and "json" in response.headers.get("content-type", ""):
                answer = response.json()
                for key in _CARRIED:
                    if isinstance(answer, dict) and recorded.get(key) and answer.get(key):
                        substitutions[str(recorded[key])] = str(answer[key])
    return {"requests": len(exchanges), "differed": differed}


def main() -> int:
    document = json.loads(Path(sys.argv[1]).read_text(encoding="utf-8"))
    if not document["run"].get("secrets_shown"):
        print("the run was written with masked secrets: record it with --show-secrets", file=sys.stderr)
        return 2
    print(json.dumps(replay(document)))
    return 0


if __name__ == "__main__":
    sys.exit(main())
