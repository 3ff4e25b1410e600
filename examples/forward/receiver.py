# A destination of imcallback's gateway mode in Python (standard library):
# verifies the Standard Webhooks signature, answers before-callbacks with
# IM's envelope, takes after-callbacks with 204.
#   WEBHOOK_SECRET=whsec_... PORT=8090 python3 receiver.py
# HOST is the address listened on: 127.0.0.1 (this machine only) unless
# set; 0.0.0.0 in a container, or wherever the service runs on another
# host, which could not reach it otherwise.
# READ_TIMEOUT (seconds, above 0 and at most 86400; default 60) closes a
# connection that stalls; MAX_CONNECTIONS (1 to 65535; default 512) bounds
# the connections, each a thread, held at once.
import base64, hashlib, hmac, json, os, signal, sys, threading, time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

def secret_key(secret):
    # The key as the service reads it: whsec_ then standard base64 of at
    # least 16 bytes. b64decode skips what is not base64 unless validated,
    # and an empty key would verify what anyone signs.
    try:
        key = base64.b64decode(secret.removeprefix("whsec_"), validate=True)
    except ValueError:
        key = b""
    if len(key) < 16:
        sys.exit("WEBHOOK_SECRET must be one secret, whsec_ followed by the base64 of at least 16 bytes")
    return key

KEY = secret_key(os.environ.get("WEBHOOK_SECRET", ""))
# The largest body read before the signature is checked: the gateway
# forwards the callback's body, at most the service's body_limit (1 MiB by
# default); anyone can send more.
MAX_BODY = 4 << 20

def read_timeout(value):
    # Seconds above 0, at most a day: 0 makes every socket non-blocking and
    # a negative or enormous value is refused for each connection, so the
    # receiver would listen and answer nothing. NaN fails the comparison.
    try:
        seconds = float(value or "60")
    except ValueError:
        seconds = 0.0
    if not 0 < seconds <= 86400:
        sys.exit("READ_TIMEOUT must be a number of seconds above 0 and at most 86400 (default 60)")
    return seconds

def max_connections(value):
    # A whole number of connections from 1 to 65535. Each holds a thread and
    # may read up to MAX_BODY before its signature is checked: without a
    # bound, clients that connect and stall start as many threads as they
    # like. The gateway keeps up to 128 connections to a destination for
    # each kind of callback, before and after: 256 in all.
    value = value or "512"
    if not (value.isascii() and value.isdigit() and 1 <= int(value) <= 65535):
        sys.exit("MAX_CONNECTIONS must be a whole number from 1 to 65535 (default 512)")
    return int(value)

# The deny code the client sees, which must lie in the command's range
# (docs/commands.md, "Deny codes"): another is sent as a plain deny (1) and
# logged by the service as the receiver's mistake. 1, a plain deny, suits
# every before-command.
DENY_CODES = {"C2C.CallbackBeforeSendMsg": 120001, "Group.CallbackBeforeSendMsg": 10100}

def number(v):
    # The value of a header of digits 0-9 alone, else None: str.isdigit()
    # is also true of "²", on which int() fails. Past 18 digits (leading
    # zeros aside) it is infinite, too large for any length or timestamp:
    # int() refuses more than 4300 digits.
    if not (v.isascii() and v.isdigit()):
        return None
    return int(v) if len(v.lstrip("0")) <= 18 else float("inf")

class Receiver(BaseHTTPRequestHandler):
    # A connection that stalls (mid-request, or idle between requests) is
    # closed after this many seconds instead of holding its thread for ever.
    timeout = read_timeout(os.environ.get("READ_TIMEOUT"))

    def log_request(self, code="-", size="-"):
        # One line per answer, as receiver.js writes: the command, the
        # event's id and the status, never the request line, whose path and
        # query may hold a key of the destination's URL (the service shows
        # neither). headers is unset when the request line did not parse.
        headers = getattr(self, "headers", None) or {}
        status = int(code) if code != "-" else code  # an HTTPStatus as its number
        self.log_message("%s %s %s", headers.get("X-Imcallback-Command", "-"), headers.get("webhook-id", "-"), status)

    def do_POST(self):
        length = number(self.headers.get("Content-Length", ""))
        if length is None or length > MAX_BODY:
            self.close_connection = True  # the body, if any, is not read
            return self.send_response(411 if length is None else 413) or self.end_headers()
        body = self.rfile.read(length)
        wid, ts = self.headers.get("webhook-id", ""), self.headers.get("webhook-timestamp", "")
        want = base64.b64encode(hmac.new(KEY, f"{wid}.{ts}.".encode() + body, hashlib.sha256).digest()).decode()
        # One "v1,<sig>" per secret the service signs with, separated by
        # spaces (two while a secret is rotated): any one that verifies will do.
        # Compared as bytes: compare_digest refuses a str outside ASCII.
        sigs = [s.split(",", 1)[1].encode() for s in self.headers.get("webhook-signature", "").split() if s.startswith("v1,")]
        if number(ts) is None or abs(time.time() - number(ts)) > 300 or not any(hmac.compare_digest(s, want.encode()) for s in sigs):
            return self.send_response(401) or self.end_headers()
        # The kind, not the name: Sns.CallbackPrevFriendAdd is a before-callback too.
        if self.headers.get("X-Imcallback-Kind") != "before":
            return self.send_response(204) or self.end_headers()
        denied = b"badword" in body  # your moderation here
        code = DENY_CODES.get(self.headers.get("X-Imcallback-Command", ""), 1)
        answer = {"ActionStatus": "OK", "ErrorCode": code if denied else 0, "ErrorInfo": "blocked word" if denied else ""}
        out = json.dumps(answer).encode()
        self.send_response(200)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(out)))
        self.end_headers()
        self.wfile.write(out)

class Server(ThreadingHTTPServer):
    # A thread per connection: one slow or stalled client holds up no other
    # request, and the gateway's before-callbacks, sent at once, are answered
    # at once. The gateway keeps up to 128 connections to a destination for
    # each kind of callback, before and after.
    request_queue_size = 128
    # One slot per connection held; a connection beyond them is answered
    # 503 and closed, without a thread.
    slots = threading.BoundedSemaphore(max_connections(os.environ.get("MAX_CONNECTIONS")))

    # The connections being served, for the stop to wait on.
    active = 0
    changed = threading.Condition()

    def process_request(self, request, client_address):
        if not self.slots.acquire(blocking=False):
            try:
                request.sendall(b"HTTP/1.1 503 Service Unavailable\r\nContent-Length: 0\r\nConnection: close\r\n\r\n")
            except OSError:
                pass
            return self.shutdown_request(request)
        self.count(+1)
        try:
            super().process_request(request, client_address)
        except BaseException:
            self.count(-1)  # no thread took the connection
            raise

    def process_request_thread(self, request, client_address):
        try:
            super().process_request_thread(request, client_address)
        finally:
            self.count(-1)

    def count(self, n):
        with self.changed:
            self.active += n
            if n < 0:
                self.slots.release()
            self.changed.notify_all()

    def drain(self, seconds):
        # Waits up to seconds for the connections being served to end;
        # False if some are left.
        with self.changed:
            return self.changed.wait_for(lambda: self.active == 0, timeout=seconds)

server = Server((os.environ.get("HOST") or "127.0.0.1", int(os.environ.get("PORT", "8090"))), Receiver)

def stop(signum, frame):
    # SIGTERM (a deploy's stop) or Ctrl-C. serve_forever runs in this
    # thread, and shutdown waits for it to return: it runs in another.
    sys.stderr.write("stopping\n")
    threading.Thread(target=server.shutdown).start()

signal.signal(signal.SIGTERM, stop)
signal.signal(signal.SIGINT, stop)
server.serve_forever()
server.server_close()  # no new connection
# The requests in progress finish (each connection serves one and is
# closed); after 10 s the rest are cut off and the exit status is 1.
# Killed at once instead, the receiver would cut off the gateway's requests
# mid-way.
sys.exit(0 if server.drain(10) else 1)
