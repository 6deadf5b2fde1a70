#!/usr/bin/env python3
"""receiver.py - the HTTP receiver of the output tests (tests/unit/test_output.c).

Listens on 127.0.0.1 (--port, 0 = any free port), prints the port on stdout, and appends one
JSON line per request to --log: {"path", "auth", "sig", "body", "status", "stored": [ids]}.

It can answer --fail N requests with --status S first, sleep --slow SECONDS per request, hold
every answer until the file --hold PATH exists (with --hold-from N: the Nth request and later
ones only; each request that starts waiting creates PATH.waiting, so a test can wait for "a
request is in flight" instead of sleeping),
require an Authorization header (--auth VALUE: 401 otherwise), and check an HMAC-SHA256
signature header (--secret KEY: "sig_ok" in the log).

POST .../_bulk speaks Elasticsearch's bulk protocol as its documentation describes it: the
Content-Type must be application/x-ndjson (or application/json; else 406); the NDJSON body is
checked line by line (each line one JSON value; an action line is an object with one action,
here always {"create": {...}} with known metadata keys, an _index that is a valid index or data
stream name and an _id of 1 to 512 bytes; then the document, a JSON object whose
kibana.alert.uuid is the _id; the body ends with a newline); a malformed body is answered 400
with Elasticsearch's error shape and the line number in the reason. The answer is
{"took", "errors", "items": [...]}, one item per action in order, each {"create": {"_index",
"_id", "status", ...}} (a created one with _version, result, _shards, _seq_no, _primary_term;
a failed one with error {type, reason, ...}): 201 created,
409 version_conflict_engine_exception when the id is stored already, 400
mapper_parsing_exception for a document containing --reject TEXT, and 429
es_rejected_execution_exception the first time a document contains --busy-once TEXT.
Stored ids survive a restart through --store FILE.
"""
import argparse, hashlib, hmac, http.server, json, os, sys, threading, time

ap = argparse.ArgumentParser()
ap.add_argument("--port", type=int, default=0)
ap.add_argument("--log", required=True)
ap.add_argument("--store")
ap.add_argument("--fail", type=int, default=0)
ap.add_argument("--status", type=int, default=500)
ap.add_argument("--slow", type=float, default=0)
ap.add_argument("--hold", help="answer no request until this file exists")
ap.add_argument("--hold-from", type=int, default=1, help="--hold applies from the Nth request")
ap.add_argument("--auth")
ap.add_argument("--secret")
ap.add_argument("--sig-header", default="X-Kadet-Signature")
ap.add_argument("--reject")
ap.add_argument("--busy-once")
ap.add_argument("--tls-cert")
ap.add_argument("--tls-key")
ap.add_argument("--syslog-tls", action="store_true",
                help="instead of HTTP: a TLS syslog receiver logging each octet-counted message")
args = ap.parse_args()

stored = set()
if args.store and os.path.exists(args.store):
    stored = set(open(args.store).read().split())
busy_done = set()
state = {"fail": args.fail, "requests": 0}
# Requests are served on threads (a held one and a resend of it can overlap): the store and the
# log are updated under one lock, so an id is never stored twice.
lock = threading.Lock()


BAD_INDEX_CHARS = set('\\/*?"<>| ,#:')
META_KEYS = {"_index", "_id", "routing", "pipeline", "require_alias", "require_data_stream",
             "dynamic_templates", "if_seq_no", "if_primary_term", "version", "version_type"}


def index_name_error(name):
    """Elasticsearch's rules for an index or data stream name (None when valid)."""
    if not isinstance(name, str) or not name:
        return "must be a non-empty string"
    if name != name.lower():
        return "must be lowercase"
    if name[0] in "-_+":
        return "must not start with '-', '_' or '+'"
    if name in (".", ".."):
        return "must not be '.' or '..'"
    if BAD_INDEX_CHARS & set(name):
        return "must not contain '\\', '/', '*', '?', '\"', '<', '>', '|', ' ', ',', '#' or ':'"
    if len(name.encode()) > 255:
        return "must be at most 255 bytes"
    return None


def bad_request(msg):
    return 400, {"error": {"root_cause": [{"type": "illegal_argument_exception", "reason": msg}],
                           "type": "illegal_argument_exception", "reason": msg},
                 "status": 400}, []


def bulk(body, ctype):
    """Check the NDJSON body line by line as Elasticsearch's _bulk documentation describes it;
    returns (http status, response object, stored ids). kadet sends only `create` actions
    (each followed by its document), so other actions are refused here."""
    if (ctype or "").split(";")[0].strip() not in ("application/x-ndjson", "application/json"):
        return 406, {"error": "Content-Type header [%s] is not supported" % ctype, "status": 406}, []
    if not body:
        return bad_request("request body is required")
    if not body.endswith(b"\n"):
        return bad_request("The bulk request must be terminated by a newline [\\n]")
    lines = body[:-1].split(b"\n")
    # the whole body is checked before any item is stored: Elasticsearch refuses a malformed bulk
    # request as a whole (400), it does not apply the lines before the bad one
    pairs = []
    i = 0
    while i < len(lines):
        ln = i + 1
        if not lines[i].strip():
            return bad_request("line %d: empty line" % ln)
        try:
            action = json.loads(lines[i])
        except ValueError as e:
            return bad_request("line %d: the action line is not JSON: %s" % (ln, e))
        if not isinstance(action, dict) or len(action) != 1:
            return bad_request("line %d: an action line is an object with one action" % ln)
        op, meta = next(iter(action.items()))
        if op not in ("index", "create", "update", "delete"):
            return bad_request("line %d: unknown action [%s]" % (ln, op))
        if op != "create":
            return bad_request("line %d: kadet must send create actions, not [%s]" % (ln, op))
        if not isinstance(meta, dict) or not set(meta) <= META_KEYS:
            return bad_request("line %d: action metadata must be an object of %s" % (ln, sorted(META_KEYS)))
        err = index_name_error(meta.get("_index"))
        if err:
            return bad_request("line %d: _index %s" % (ln, err))
        if not isinstance(meta.get("_id"), str) or not meta["_id"] or len(meta["_id"].encode()) > 512:
            return bad_request("line %d: _id must be a string of 1 to 512 bytes" % ln)
        if i + 1 >= len(lines):
            return bad_request("line %d: create action without a document" % ln)
        try:
            doc = json.loads(lines[i + 1])
        except ValueError as e:
            return bad_request("line %d: the document is not JSON: %s" % (ln + 1, e))
        if not isinstance(doc, dict):
            return bad_request("line %d: the document must be a JSON object" % (ln + 1))
        if doc.get("kibana.alert.uuid") != meta["_id"]:
            return bad_request("line %d: _id is not kibana.alert.uuid" % (ln + 1))
        pairs.append((meta, lines[i + 1].decode()))
        i += 2
    items, new, errors = [], [], False
    for meta, text in pairs:
        item = {"_index": meta["_index"], "_id": meta["_id"]}
        shard_err = {"index_uuid": "kadet-test", "shard": "0", "index": meta["_index"]}
        if args.reject and args.reject in text:
            item.update(status=400, error=dict(type="mapper_parsing_exception",
                                               reason="failed to parse field [x]", **shard_err))
        elif args.busy_once and args.busy_once in text and meta["_id"] not in busy_done:
            busy_done.add(meta["_id"])
            item.update(status=429, error={"type": "es_rejected_execution_exception",
                                           "reason": "rejected execution"})
        elif meta["_id"] in stored:
            item.update(status=409, error=dict(
                type="version_conflict_engine_exception",
                reason="[%s]: version conflict, document already exists (current version [1])"
                % meta["_id"], **shard_err))
        else:
            stored.add(meta["_id"])
            new.append(meta["_id"])
            item.update(_version=1, result="created",
                        _shards={"total": 2, "successful": 1, "failed": 0},
                        _seq_no=len(stored) - 1, _primary_term=1, status=201)
        errors = errors or item["status"] >= 300
        items.append({"create": item})
    if args.store and new:
        with open(args.store, "a") as f:
            f.write("".join(x + "\n" for x in new))
    return 200, {"took": 1, "errors": errors, "items": items}, new


class H(http.server.BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"

    def log_message(self, *a):
        pass

    def do_POST(self):
        n = int(self.headers.get("Content-Length", "0"))
        body = self.rfile.read(n)
        with lock:
            state["requests"] += 1
            nth = state["requests"]
        if args.slow:
            time.sleep(args.slow)
        if args.hold and nth >= args.hold_from and not os.path.exists(args.hold):
            open(args.hold + ".waiting", "a").close()
            while not os.path.exists(args.hold):
                time.sleep(0.05)
        with lock:
            status, resp = self.record(body)
        out = json.dumps(resp).encode()
        try:
            self.send_response(status)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(out)))
            self.end_headers()
            self.wfile.write(out)
        except (BrokenPipeError, ConnectionResetError):
            pass  # the client gave up (kadet aborts a request in flight when it stops)

    def record(self, body):
        """Answer one request: (status, response object); logged and stored before returning."""
        rec = {"path": self.path, "auth": self.headers.get("Authorization"),
               "ctype": self.headers.get("Content-Type"), "team": self.headers.get("X-Team"), "body": body.decode("utf-8", "replace")}
        if args.secret:
            want = "sha256=" + hmac.new(args.secret.encode(), body, hashlib.sha256).hexdigest()
            rec["sig_ok"] = self.headers.get(args.sig_header) == want
        if state["fail"] > 0:
            state["fail"] -= 1
            status, resp, new = args.status, {"error": "injected failure"}, []
        elif args.auth and self.headers.get("Authorization") != args.auth:
            status, resp, new = 401, {"error": "missing or wrong credentials"}, []
        elif self.path.endswith("/_bulk"):
            status, resp, new = bulk(body, self.headers.get("Content-Type"))
        else:
            status, resp, new = 200, {"ok": True}, []
        rec["status"] = status
        rec["stored"] = new
        with open(args.log, "a") as f:
            f.write(json.dumps(rec) + "\n")
        return status, resp


class S(http.server.ThreadingHTTPServer):
    allow_reuse_address = True
    daemon_threads = True


def tls_context():
    import ssl
    ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    ctx.load_cert_chain(args.tls_cert, args.tls_key)
    return ctx


def syslog_tls():
    """Octet-counted RFC 5425 frames over TLS: one log line {"syslog": MSG} per message."""
    import socket
    ls = socket.socket()
    ls.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    ls.bind(("127.0.0.1", args.port))
    ls.listen(4)
    print(ls.getsockname()[1], flush=True)
    ctx = tls_context()
    while True:
        c, _ = ls.accept()
        try:
            t = ctx.wrap_socket(c, server_side=True)
        except OSError:
            continue
        buf = b""
        while True:
            d = t.recv(65536)
            if not d:
                break
            buf += d
            while b" " in buf:
                n, rest = buf.split(b" ", 1)
                if len(rest) < int(n):
                    break
                with open(args.log, "a") as f:
                    f.write(json.dumps({"syslog": rest[:int(n)].decode()}) + "\n")
                buf = rest[int(n):]


if args.syslog_tls:
    syslog_tls()
srv = S(("127.0.0.1", args.port), H)
if args.tls_cert:
    srv.socket = tls_context().wrap_socket(srv.socket, server_side=True)
print(srv.server_address[1], flush=True)
srv.serve_forever()
