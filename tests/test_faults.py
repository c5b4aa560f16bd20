"""Fault-injection pieces: expired-token minting, the function swap, the cross-process case lock."""

import base64
import subprocess
import sys
import threading
import time
from pathlib import Path

import jwt
import pytest

from harness.faults.functions import FunctionSwap
from harness.faults.lock import case_lock
from harness.faults.outages import CommandOutage, FaultFailed
from harness.faults.tokens import mint_expired
from reference_impl.stack.api import RunningStack
from reference_impl.stack.processes import wait_until

SECRET = "fault-test-secret-long-enough-for-hs256!"


def test_expired_copy_differs_only_in_expiry() -> None:
    original_claims = {
        "sub": "u1",
        "jti": "j1",
        "type": "refresh",
        "iat": int(time.time()),
        "exp": int(time.time()) + 600,
    }
    original = jwt.encode(original_claims, SECRET, algorithm="HS256")
    expired = mint_expired(original, SECRET)
    with pytest.raises(jwt.ExpiredSignatureError):
        jwt.decode(expired, SECRET, algorithms=["HS256"])
    claims = jwt.decode(expired, SECRET, algorithms=["HS256"], options={"verify_exp": False})
    assert {k: claims[k] for k in ("sub", "jti", "type")} == {"sub": "u1", "jti": "j1", "type": "refresh"}
    assert claims["exp"] < time.time() and claims["iat"] < claims["exp"]


def _b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


RS256_TOKEN = ".".join([_b64(b'{"alg":"RS256","typ":"JWT"}'), _b64(b'{"sub":"x","exp":1}'), _b64(b"sig")])


@pytest.mark.parametrize(
    ("token", "why"), [("not-a-jwt", "is not a JWT"), (RS256_TOKEN, "signed with 'RS256'")]
)
def test_tokens_that_cannot_be_minted_say_why(token: str, why: str) -> None:
    # The means were given (JWT_SECRET) but cannot work on these tokens: the case is blocked, not skipped.
    with pytest.raises(FaultFailed, match=why):
        mint_expired(token, SECRET)


def test_failing_fault_command_names_itself() -> None:
    with pytest.raises(FaultFailed, match="exited with 3: 'exit 3'"):
        CommandOutage(down="exit 3", up="true").cut()


def test_function_swap_restores_the_exact_definition(stack: RunningStack) -> None:
    swap = FunctionSwap(stack.database_url)
    original = swap.current_definition()
    swap.break_function()
    try:
        assert "fault injected by the checklist harness" in swap.current_definition()
    finally:
        swap.restore()
    assert swap.current_definition() == original
    swap.restore()  # a second restore is a no-op


def test_exclusive_case_waits_for_shared_ones_in_other_processes(tmp_path: Path) -> None:
    lock = tmp_path / "faults.lock"
    holder = subprocess.Popen(
        [
            sys.executable,
            "-c",
            f"import sys; from harness.faults.lock import case_lock\n"
            f"from pathlib import Path\nwith case_lock(Path({str(lock)!r}), exclusive=False):\n"
            "    print('held', flush=True); sys.stdin.read()",
        ],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        text=True,
    )
    assert holder.stdout is not None and holder.stdin is not None
    assert holder.stdout.readline().strip() == "held"
    acquired = threading.Event()

    def exclusive_case() -> None:
        with case_lock(lock, exclusive=True):
            acquired.set()

    worker = threading.Thread(target=exclusive_case)
    worker.start()
    with case_lock(lock, exclusive=False):  # shared cases still run side by side
        pass
    assert not acquired.wait(0.3), "the exclusive case ran while a shared one was in flight"
    holder.stdin.close()
    holder.wait(10)
    wait_until(acquired.is_set, timeout=5, what="the exclusive case to run")
    worker.join(5)
