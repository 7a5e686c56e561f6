"""Invoking a function through `cargo lambda watch`'s Lambda API, with a bounded number of
invocations in flight per function.

cargo lambda watch (1.9.2) queues each function's invocations in a channel that holds 100. The
101st waits for room while holding the lock that every instance needs to take its next
invocation, so nothing ever makes room: from then on no function of the stack answers until it
is restarted (seen under load: 200 orders at once while moto was slow, then every call timed out).
Each process that invokes (gateway.py, launcher.py, poller.py) therefore keeps its own share of
that queue below the limit, and an invocation keeps its place until cargo lambda has answered it,
even after its caller stopped waiting: cargo lambda keeps it queued until an instance takes it.
"""

import threading
import time
import urllib.error
import urllib.request

# Longer than any Lambda function may run (15 minutes): only frees the place of one that hangs.
ANSWER_LIMIT_SECONDS = 900


class Throttled(Exception):
    """No place for the invocation within the caller's wait: what Lambda calls a throttle."""


class TimedOut(Exception):
    """No answer within the caller's wait (the invocation goes on and keeps its place)."""


_places = {}
_places_lock = threading.Lock()


def _place(function: str, share: int) -> threading.BoundedSemaphore:
    with _places_lock:
        return _places.setdefault(function, threading.BoundedSemaphore(share))


def call(lambda_port: int, function: str, payload: bytes, wait_seconds: float, share: int) -> tuple:
    """(HTTP status, body) of cargo lambda's answer: 200 with the function's result, 500 when it
    returned an error. At most `share` invocations of `function` from this process are in flight;
    raises Throttled or TimedOut when `wait_seconds` pass first, OSError when cargo lambda cannot
    be reached."""
    started = time.monotonic()
    place = _place(function, share)
    if not place.acquire(timeout=wait_seconds):
        raise Throttled(f"{share} invocations of {function} already in flight for {wait_seconds:.0f} s")
    answered = threading.Event()
    outcome = {}

    def run():
        request = urllib.request.Request(
            f"http://127.0.0.1:{lambda_port}/2015-03-31/functions/{function}/invocations",
            data=payload,
            headers={"Content-Type": "application/json"},
            method="POST",
        )
        try:
            with urllib.request.urlopen(request, timeout=ANSWER_LIMIT_SECONDS) as response:
                outcome["answer"] = (response.status, response.read())
        except urllib.error.HTTPError as error:
            outcome["answer"] = (error.code, error.read())
        except Exception as error:  # unreachable, reset: the caller decides what it means
            outcome["error"] = error
        finally:
            place.release()
            answered.set()

    threading.Thread(target=run, name=f"invoke {function}", daemon=True).start()
    if not answered.wait(max(wait_seconds - (time.monotonic() - started), 0)):
        raise TimedOut(f"{function} did not answer within {wait_seconds:.0f} s")
    if "error" in outcome:
        raise outcome["error"]
    return outcome["answer"]
