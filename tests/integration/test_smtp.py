"""smtp(8) integration tests: a real master with qmgr and smtp delivering to
peers on 127.0.0.1 through relayhost = [127.0.0.1]:port (no DNS needed).

Peers are Python aiosmtpd servers in this process (they record every
envelope and message, count connections, and answer as a test says) and
Postfix's smtp-sink. Messages enter the queue either through smtpd (as a
client would send them) or, where the bytes must be compared exactly,
straight into incoming/ with tests/integration/queue_tool, as qmgr's tests
do.

What is checked is what a person would check: the bytes the peer
received, the peer's view of the envelope and of the session (TLS,
AUTH), the "status=" log lines, and the bounce that comes back.
"""

import asyncio
import base64
import os
import re
import shutil
import smtplib
import socket
import ssl
import subprocess
import threading
import time

import pytest

from instance import Instance, free_port, wait_for

try:
    from aiosmtpd.controller import Controller
    from aiosmtpd.smtp import AuthResult, LoginPassword
    HAVE_AIOSMTPD = True
except ImportError:  # pragma: no cover - the package is in scripts/install-deps
    HAVE_AIOSMTPD = False

QUEUE_TOOL = "tests/integration/queue_tool"

FAST = {
    "minimal_backoff_time": "1s",
    "maximal_backoff_time": "2s",
    "queue_run_delay": "1s",
    "transport_retry_time": "1s",
    "mydestination": "localhost",
    "smtp_tls_security_level": "none",
}


# ----------------------------------------------------------------- peers

class Handler:
    """aiosmtpd handler: records messages, answers as told.

    rcpt_replies: {address: "550 5.1.1 no such user"} for RCPT TO;
    data_reply: the reply to the end of DATA (None: 250 with a queue id);
    drop_ehlo: EHLO keywords not to announce; add_ehlo: keywords to add.
    """

    def __init__(self):
        self.messages = []       # dicts: mail_from, rcpt_tos, mail_options, rcpt_options, data
        self.connections = 0
        self.ehlos = 0
        self.auth = []           # (mechanism, login, password) that succeeded
        self.tls_sessions = 0
        self.rcpt_replies = {}
        self.mail_reply = None
        self.data_reply = None
        self.data_replies = []   # consumed one per message before data_reply
        self.drop_ehlo = set()
        self.add_ehlo = []
        self.lock = threading.Lock()
        self.counter = 0

    async def handle_EHLO(self, server, session, envelope, hostname, responses):
        session.host_name = hostname
        with self.lock:
            self.ehlos += 1
        out = [r for r in responses
               if r[4:].split(" ")[0].upper() not in self.drop_ehlo]
        last = out.pop()
        out += ["250-" + k for k in self.add_ehlo]
        out.append(last)
        return out

    async def handle_MAIL(self, server, session, envelope, address, mail_options):
        if self.mail_reply:
            return self.mail_reply
        envelope.mail_from = address
        envelope.mail_options.extend(mail_options)
        return "250 2.1.0 OK"

    async def handle_RCPT(self, server, session, envelope, address, rcpt_options):
        reply = self.rcpt_replies.get(address)
        if reply:
            return reply
        envelope.rcpt_tos.append(address)
        envelope.rcpt_options.extend(rcpt_options)
        return "250 2.1.5 OK"

    async def handle_DATA(self, server, session, envelope):
        with self.lock:
            if self.data_replies:
                reply = self.data_replies.pop(0)
            else:
                reply = self.data_reply
            if reply and not reply.startswith("2"):
                return reply
            self.counter += 1
            qid = "PEER%04d" % self.counter
            self.messages.append({
                "mail_from": envelope.mail_from,
                "rcpt_tos": list(envelope.rcpt_tos),
                "mail_options": list(envelope.mail_options),
                "rcpt_options": list(envelope.rcpt_options),
                "data": envelope.original_content,
                "tls": session.ssl is not None,
                "auth": session.login_data,
            })
        return reply or "250 2.0.0 Ok: queued as %s" % qid


if HAVE_AIOSMTPD:
    class CountingController(Controller):
        """A controller that counts the connections it serves."""

        def factory(self):
            with self.handler.lock:
                self.handler.connections += 1
            return super().factory()


class Peer:
    """An aiosmtpd server on 127.0.0.1 in a thread of this process."""

    def __init__(self, handler=None, port=None, tls_context=None, ssl_context=None,
                 authenticator=None, hostname="peer.example.net", **kw):
        self.handler = handler or Handler()
        self.port = port or free_port()
        kwargs = dict(hostname="127.0.0.1", port=self.port, server_hostname=hostname,
                      decode_data=False, enable_SMTPUTF8=kw.pop("smtputf8", False),
                      data_size_limit=kw.pop("size", 33554432))
        if tls_context is not None:
            kwargs["tls_context"] = tls_context
        if ssl_context is not None:
            kwargs["ssl_context"] = ssl_context
        if authenticator is not None:
            kwargs["authenticator"] = authenticator
            kwargs["auth_require_tls"] = kw.pop("auth_require_tls", True)
        kwargs.update(kw)
        self.controller = CountingController(self.handler, **kwargs)
        self.controller.start()
        # The controller's own start-up probe is no client.
        with self.handler.lock:
            self.handler.connections = 0

    def stop(self):
        self.controller.stop()

    @property
    def messages(self):
        return self.handler.messages

    def wait_messages(self, n, inst=None, timeout=30):
        return wait_for(lambda: "%d message(s) at the peer, have %d\n%s"
                        % (n, len(self.messages), inst.log_tail() if inst else ""),
                        lambda: len(self.messages) >= n, timeout=timeout)


# ----------------------------------------------------------------- instance

class SmtpTest:
    """An instance with smtpd, qmgr and smtp; messages in through smtpd or queue_tool."""

    def __init__(self, tmp_path, build_dir, config=None, smtp_args="", maxproc="-",
                 with_smtpd=True):
        self.build_dir = build_dir
        self.smtpd_port = free_port()
        settings = dict(FAST)
        settings.update(config or {})
        master_cf = ["qmgr unix n - n 300 1 qmgr",
                     "smtp unix - - n - %s smtp %s" % (maxproc, smtp_args)]
        if with_smtpd:
            master_cf.insert(0, "127.0.0.1:%d inet n - n - - smtpd" % self.smtpd_port)
        self.inst = Instance(tmp_path / "inst", build_dir, config=settings,
                             daemons=["master", "qmgr", "smtp", "smtpd"], master_cf=master_cf)
        self.inst.start()
        self.spool = self.inst.spool

    def tool(self, rel):
        return os.path.join(self.build_dir, rel)

    def as_owner(self):
        if os.geteuid() == 0:
            return {"user": self.inst.mail_owner, "group": self.inst.mail_owner}
        return {}

    def queue(self, sender, rcpts, content, opts=()):
        """Put a message straight into incoming/ (bytes as given) and nudge qmgr; its ID."""
        argv = [self.tool(QUEUE_TOOL), "create", os.path.join(self.spool, "incoming"),
                "-f", sender] + list(opts)
        for r in rcpts:
            argv += ["-r", r]
        env = dict(os.environ, POSTEL_CONFIG_DIR=self.inst.etc)
        p = subprocess.run(argv, input=content, capture_output=True, timeout=30, env=env,
                           **self.as_owner())
        assert p.returncode == 0, p.stderr.decode()
        qid = p.stdout.decode().strip()
        self.nudge()
        return qid

    def nudge(self):
        path = os.path.join(self.spool, "public", "qmgr")

        def send():
            try:
                with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as s:
                    s.settimeout(5)
                    s.connect(path)
                    s.sendall(b"I")
                return True
            except OSError:
                return False
        wait_for("public/qmgr to accept a nudge", send, timeout=10)

    def send(self, sender, rcpts, msg):
        """Submit through smtpd."""
        with smtplib.SMTP("127.0.0.1", self.smtpd_port, timeout=30) as c:
            c.sendmail(sender, rcpts, msg)

    def wait_log(self, pattern, timeout=30, since=0):
        return self.inst.wait_log(pattern, timeout=timeout, since=since)

    def status_lines(self):
        return [l for l in self.inst.log_text().splitlines() if "status=" in l]

    def queue_empty(self):
        for d in ("incoming", "active", "deferred"):
            path = os.path.join(self.spool, d)
            if os.path.isdir(path) and any(n.endswith(".msg") for n in os.listdir(path)):
                return False
        return True


def need(build_dir, *rels):
    for rel in rels:
        if not os.access(os.path.join(build_dir, rel), os.X_OK):
            pytest.skip("%s is not built" % rel)
    if not HAVE_AIOSMTPD:
        pytest.skip("python3-aiosmtpd is not installed")


@pytest.fixture
def peer():
    if not HAVE_AIOSMTPD:
        pytest.skip("python3-aiosmtpd is not installed")
    p = Peer()
    yield p
    p.stop()


def make(tmp_path, build_dir, peer_port, **config):
    need(build_dir, "smtp/smtp", "qmgr/qmgr", "smtpd/smtpd", QUEUE_TOOL)
    settings = {"relayhost": "[127.0.0.1]:%d" % peer_port}
    settings.update({k: str(v) for k, v in config.items()})
    return SmtpTest(tmp_path, build_dir, config=settings)


def crlf(data):
    return data.replace(b"\n", b"\r\n")


# ----------------------------------------------------------------- tests

def test_relayhost_delivery_byte_identical(tmp_path, build_dir, peer):
    t = make(tmp_path, build_dir, peer.port)
    content = (b"From: Alice <alice@example.org>\nTo: bob@remote.example\n"
               b"Subject: byte for byte\n\n"
               b"Hello Bob.\n.leading dot\n..two dots\n\ttabbed  \n"
               b"trailing spaces   \nlast line\n")
    qid = t.queue("alice@example.org", ["bob@remote.example"], content)
    peer.wait_messages(1, t.inst)
    m = peer.messages[0]
    assert m["mail_from"] == "alice@example.org"
    assert m["rcpt_tos"] == ["bob@remote.example"]
    assert m["data"] == crlf(content)
    line = t.wait_log(r"%s: to=<bob@remote\.example>, relay=127\.0\.0\.1\[127\.0\.0\.1\]:%d, "
                      r"delay=[0-9.]+, delays=[0-9./]+, dsn=2\.0\.0, status=sent "
                      r"\(250 2\.0\.0 Ok: queued as PEER0001\)" % (qid, peer.port))
    assert line
    wait_for("queue empty", t.queue_empty, timeout=10)
