"""HTTP layer: the /crmapi/rest/v2/ methods, fault injection, and the control API.

HTTP/1.1 with Content-Length on every answer, so clients can keep connections alive.
Sleeps (latency, fault delays) happen here, outside the engine lock.
"""

import contextlib
import json
import logging
import socket
import threading
import time
from decimal import Decimal
from http import HTTPStatus
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import urlsplit

from . import api, errors
from .errors import ApiError, ControlError
from .money import json_number

API_PREFIX = "/crmapi/rest/v2/"
CONTROL_PREFIX = "/_simulator/"
HTTP_STATUS_OF = {errors.UNKNOWN_METHOD: 404, errors.METHOD_NOT_ALLOWED: 405}

log = logging.getLogger("crmcom_simulator")


def _json_default(value):
    if isinstance(value, Decimal):
        return json_number(value)
    raise TypeError(f"{type(value).__name__} is not JSON serialisable")


def encode(payload):
    return json.dumps(payload, default=_json_default).encode("utf-8")


def ok_envelope(data):
    return {"status": {"code": "OK", "message": "", "description": ""}, "data": data}


def error_envelope(code, message, description=""):
    return {
        "status": {"code": code, "message": message, "description": description},
        "data": None,
    }


def run_api(simulator, verb, endpoint, body, query, headers):
    """(HTTP status, envelope) of one API call; unexpected failures → INTERNAL_ERROR."""
    try:
        data = api.handle(simulator.engine, verb, endpoint, body=body, query=query, headers=headers)
        return 200, ok_envelope(data)
    except ApiError as exc:
        status = HTTP_STATUS_OF.get(exc.code, 200)
        catalogue = simulator.engine.catalogue
        if exc.kind in errors.SESSION_ERRORS:
            status = catalogue.settings["session_error_http_status"]
        answer = catalogue.error_answer(exc.kind, exc.code, exc.message, exc.description)
        return status, error_envelope(*answer)
    except Exception as exc:  # a simulator bug must still answer like a server
        log.exception("simulator failure on %s", endpoint)
        return 200, error_envelope(
            errors.INTERNAL_ERROR, "Internal error in the simulator.", repr(exc)
        )


class SimulatorServer(ThreadingHTTPServer):
    daemon_threads = True
    allow_reuse_address = True

    def __init__(self, address, simulator):
        super().__init__(address, RequestHandler)
        self.simulator = simulator
        self._connections = set()
        self._connections_lock = threading.Lock()

    def track(self, connection):
        with self._connections_lock:
            self._connections.add(connection)

    def untrack(self, connection):
        with self._connections_lock:
            self._connections.discard(connection)

    def close_connections(self):
        """Close kept-alive client connections so a stopped simulator serves nothing."""
        with self._connections_lock:
            connections = list(self._connections)
        for connection in connections:
            with contextlib.suppress(OSError):
                connection.shutdown(socket.SHUT_RDWR)


class RequestHandler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    server_version = "CRMCOMSimulator/1.0"
    timeout = 30  # idle keep-alive connections are closed after this many seconds

    def setup(self):
        res = super().setup()
        # Headers and body go out in separate writes: without this, Nagle's algorithm
        # and the client's delayed ACK add ~40 ms to every answer.
        self.connection.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        self.server.track(self.connection)
        return res

    def finish(self):
        try:
            return super().finish()
        finally:
            self.server.untrack(self.connection)

    # ``format`` is the name BaseHTTPRequestHandler gives this argument.
    def log_message(self, format, *args):  # pylint: disable=redefined-builtin
        log.debug("%s %s", self.address_string(), format % args)

    def do_GET(self):
        self._dispatch("GET")

    def do_POST(self):
        self._dispatch("POST")

    def do_DELETE(self):
        self._dispatch("DELETE")

    def do_PUT(self):
        self._dispatch("PUT")

    # ---- dispatch ----------------------------------------------------------------

    def _dispatch(self, verb):
        url = urlsplit(self.path)
        body = self._read_body()  # always read, so the next request on the line parses
        if url.path.startswith(CONTROL_PREFIX):
            self._control(verb, url.path[len(CONTROL_PREFIX) :].strip("/"), body)
        elif url.path.startswith(API_PREFIX):
            endpoint = url.path[len(API_PREFIX) :].strip("/")
            with self.server.simulator.serving_call():
                self._api(verb, endpoint, body, url.query)
        else:
            self._send_json(
                404,
                error_envelope(
                    errors.UNKNOWN_METHOD,
                    "Unknown API method.",
                    f"Methods live under {API_PREFIX}; got {url.path!r}.",
                ),
            )

    def _read_body(self):
        if "chunked" in self.headers.get("Transfer-Encoding", "").lower():
            return self._read_chunked()
        try:
            length = int(self.headers.get("Content-Length") or 0)
        except ValueError:
            self.close_connection = True  # cannot tell where the next request starts
            return b""
        return self.rfile.read(length) if length > 0 else b""

    def _read_chunked(self):
        chunks = []
        while True:
            size = int(self.rfile.readline().split(b";")[0].strip() or b"0", 16)
            if size == 0:
                while self.rfile.readline() not in (b"\r\n", b"\n", b""):
                    pass  # trailers
                return b"".join(chunks)
            chunks.append(self.rfile.read(size))
            self.rfile.readline()  # the CRLF after each chunk

    def _api(self, verb, endpoint, body, query):
        simulator = self.server.simulator
        started = time.monotonic()
        fault = simulator.faults.pick(endpoint) if endpoint in api.ROUTES else None
        applied_first = fault is not None and fault.applied

        def record(status_code, applied):
            simulator.record_call(verb, endpoint, status_code, time.monotonic() - started, applied)

        # Latency is served before the request is applied: a client that gives up
        # while waiting does not stop the request from being applied afterwards.
        wait = simulator.latency + (fault.delay if fault and not applied_first else 0.0)
        if wait > 0:
            time.sleep(wait)

        if fault is not None and fault.kind == "error":
            record(fault.code, False)
            self._send_json(200, error_envelope(fault.code, fault.message, "Injected fault."))
            return
        if fault is not None and fault.kind == "redirect":
            record(f"HTTP_{fault.http_status}", False)
            location = fault.location or simulator.trap_url() + self.path
            self._send_redirect(fault.http_status, location)
            return
        if fault is not None and fault.kind == "http_error":
            record(f"HTTP_{fault.http_status}", False)
            self._send_html_error(fault.http_status)
            return
        if fault is not None and fault.kind in ("malformed", "drop") and not applied_first:
            self._lose_answer(fault, record, applied=False, answer=None)
            return

        status, envelope = run_api(simulator, verb, endpoint, body, query, self.headers)
        applied = envelope["status"]["code"] == "OK"
        if applied_first:
            if fault.delay > 0:
                time.sleep(fault.delay)  # applied, then the client times out
            self._lose_answer(fault, record, applied=applied, answer=envelope)
            return
        record(envelope["status"]["code"], applied)
        self._send_json(status, envelope)

    def _lose_answer(self, fault, record, *, applied, answer):
        """malformed: a 200 whose body is not JSON; drop: close without answering."""
        if fault.kind == "drop":
            record("DROPPED", applied)
            self._drop_connection()
            return
        record("MALFORMED", applied)
        full = encode(answer or ok_envelope(None))
        # JSON cut in half (never valid: the closing brace is gone)
        self._send_bytes(200, "application/json", full[: max(1, len(full) // 2)])

    def _drop_connection(self):
        self.close_connection = True
        with contextlib.suppress(OSError):
            self.connection.shutdown(socket.SHUT_RDWR)

    # ---- control API -------------------------------------------------------------

    def _control(self, verb, action, body):
        try:
            data = self.server.simulator.control(verb, action, body)
        except ControlError as exc:
            self._send_json(exc.http_status, error_envelope(exc.code, str(exc), "Control API."))
            return
        self._send_json(200, ok_envelope(data))

    # ---- writing -----------------------------------------------------------------

    def _send_json(self, status, payload):
        self._send_bytes(status, "application/json", encode(payload))

    def _send_html_error(self, status):
        try:
            phrase = HTTPStatus(status).phrase
        except ValueError:
            phrase = "Error"
        page = (
            f"<html><head><title>{status} {phrase}</title></head>"
            f"<body><h1>{phrase}</h1><p>The server is temporarily unable to service "
            f"your request.</p></body></html>"
        )
        self._send_bytes(status, "text/html; charset=utf-8", page.encode("utf-8"))

    def _send_redirect(self, status, location):
        page = f'<html><body>Moved to <a href="{location}">{location}</a></body></html>'
        payload = page.encode("utf-8")
        try:
            self.send_response(status)
            self.send_header("Location", location)
            self.send_header("Content-Type", "text/html; charset=utf-8")
            self.send_header("Content-Length", str(len(payload)))
            self.end_headers()
            self.wfile.write(payload)
        except OSError:
            self.close_connection = True

    def _send_bytes(self, status, content_type, payload):
        try:
            self.send_response(status)
            self.send_header("Content-Type", content_type)
            self.send_header("Content-Length", str(len(payload)))
            self.end_headers()
            self.wfile.write(payload)
        except OSError:
            # The client gave up (time-out) before the answer: what it lost is lost.
            self.close_connection = True


class TrapServer(ThreadingHTTPServer):
    """The other end of redirect faults: a loopback listener that records every
    request reaching it (a client that follows a redirect sends it its body, its
    credentials and its token) and answers like CRM.COM would, so that nothing but
    its record tells the request went astray."""

    daemon_threads = True

    def __init__(self, address):
        super().__init__(address, TrapHandler)
        self.requests = []
        self.requests_lock = threading.Lock()

    def record(self, entry):
        with self.requests_lock:
            self.requests.append(entry)


class TrapHandler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    timeout = 5

    def log_message(self, format, *args):  # pylint: disable=redefined-builtin
        log.debug("trap %s %s", self.address_string(), format % args)

    def _trap(self):
        length = int(self.headers.get("Content-Length") or 0)
        body = self.rfile.read(length) if length > 0 else b""
        self.server.record(
            {
                "method": self.command,
                "path": self.path,
                "authorization": self.headers.get("Authorization"),
                "body": body.decode("utf-8", "replace"),
            }
        )
        payload = encode(ok_envelope({"token": "trapped"}))
        self.send_response(200)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(payload)))
        self.end_headers()
        self.wfile.write(payload)

    do_GET = do_POST = do_PUT = do_DELETE = _trap
