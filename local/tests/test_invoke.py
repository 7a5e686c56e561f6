"""invoke.py against a stand-in for cargo lambda's Lambda API that counts what is in flight."""

import sys
import threading
import time
import unittest
from concurrent.futures import ThreadPoolExecutor
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
import invoke  # noqa: E402


class FakeLambdaApi(BaseHTTPRequestHandler):
    """Answers after `delay` seconds with the request body, or 500 for a function named `failing`."""

    delay = 0.0
    in_flight = 0
    most_in_flight = 0
    lock = threading.Lock()

    def do_POST(self):
        cls = type(self)
        with cls.lock:
            cls.in_flight += 1
            cls.most_in_flight = max(cls.most_in_flight, cls.in_flight)
        body = self.rfile.read(int(self.headers["Content-Length"]))
        time.sleep(cls.delay)
        with cls.lock:
            cls.in_flight -= 1
        status = 500 if "/functions/failing/" in self.path else 200
        self.send_response(status)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, *args):
        pass


class InvokeTest(unittest.TestCase):
    def setUp(self):
        FakeLambdaApi.delay, FakeLambdaApi.in_flight, FakeLambdaApi.most_in_flight = 0.0, 0, 0
        self.server = ThreadingHTTPServer(("127.0.0.1", 0), FakeLambdaApi)
        self.port = self.server.server_address[1]
        threading.Thread(target=self.server.serve_forever, daemon=True).start()
        invoke._places.clear()

    def tearDown(self):
        self.stop_server()

    def stop_server(self):
        if self.server:
            self.server.shutdown()
            self.server.server_close()
            self.server = None

    def test_no_more_than_the_share_is_ever_in_flight(self):
        FakeLambdaApi.delay = 0.05
        with ThreadPoolExecutor(max_workers=20) as pool:
            answers = list(
                pool.map(lambda i: invoke.call(self.port, "busy", b'{"n": %d}' % i, 10, 4), range(20))
            )
        self.assertEqual([status for status, _ in answers], [200] * 20)
        self.assertEqual(answers[7][1], b'{"n": 7}')
        self.assertEqual(FakeLambdaApi.most_in_flight, 4)

    def test_a_call_that_timed_out_keeps_its_place_until_answered(self):
        FakeLambdaApi.delay = 1.0
        with self.assertRaises(invoke.TimedOut):
            invoke.call(self.port, "slow", b"{}", 0.2, 1)
        # Still queued at cargo lambda: a second call finds no place and is throttled.
        with self.assertRaises(invoke.Throttled):
            invoke.call(self.port, "slow", b"{}", 0.3, 1)
        # Once the first is answered, its place is free again.
        FakeLambdaApi.delay = 0.0
        self.assertEqual(invoke.call(self.port, "slow", b"{}", 5, 1)[0], 200)

    def test_each_function_has_its_own_places(self):
        FakeLambdaApi.delay = 0.5
        threading.Thread(target=invoke.call, args=(self.port, "one", b"{}", 5, 1)).start()
        time.sleep(0.1)
        self.assertEqual(invoke.call(self.port, "other", b"{}", 5, 1)[0], 200)

    def test_a_failed_function_is_an_answer_and_an_unreachable_api_an_error(self):
        self.assertEqual(invoke.call(self.port, "failing", b"{}", 5, 2), (500, b"{}"))
        self.stop_server()
        with self.assertRaises(OSError):
            invoke.call(self.port, "any", b"{}", 5, 2)


if __name__ == "__main__":
    unittest.main()
