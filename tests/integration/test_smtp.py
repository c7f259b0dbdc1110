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

    rcpt_replies: {address: "550 5.1.1 no such user"} for RCPT TO (a list: one reply per
    attempt, then 250);
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
        if isinstance(reply, list):
            reply = reply.pop(0) if reply else None
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
                "tls": server.transport.get_extra_info("ssl_object") is not None,
                "auth": session.auth_data,
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


def test_pipelining_one_of_three_refused(tmp_path, build_dir, peer):
    """A 5xx for one recipient: it bounces (one DSN back to the sender), the others go."""
    peer.handler.add_ehlo = ["PIPELINING"]
    peer.handler.rcpt_replies = {"c@remote.example": "550 5.1.1 <c@remote.example>: no such user"}
    t = make(tmp_path, build_dir, peer.port)
    t.send("alice@sender.example", ["a@remote.example", "b@remote.example", "c@remote.example"],
           b"From: alice@sender.example\r\nSubject: three\r\n\r\nhello\r\n")
    peer.wait_messages(2, t.inst)
    first = peer.messages[0]
    assert first["mail_from"] == "alice@sender.example"
    assert first["rcpt_tos"] == ["a@remote.example", "b@remote.example"]
    t.wait_log(r"to=<c@remote\.example>, relay=127\.0\.0\.1\[127\.0\.0\.1\]:%d, .*dsn=5\.1\.1, "
               r"status=bounced \(host 127\.0\.0\.1\[127\.0\.0\.1\] said: 550 5\.1\.1 "
               r"<c@remote\.example>: no such user \(in reply to RCPT TO command\)\)" % peer.port)
    bounce = peer.messages[1]
    assert bounce["mail_from"] in ("", "<>")
    assert bounce["rcpt_tos"] == ["alice@sender.example"]
    text = bounce["data"].decode(errors="replace")
    assert "c@remote.example" in text and "550 5.1.1" in text
    assert "a@remote.example" not in text.split("Content-Type: message/")[0]
    assert len([l for l in t.status_lines() if "status=sent" in l]) == 3  # a, b, the bounce


def test_4xx_deferred_then_delivered(tmp_path, build_dir, peer):
    peer.handler.rcpt_replies = {"bob@remote.example": ["451 4.7.1 Greylisted, try again"]}
    t = make(tmp_path, build_dir, peer.port)
    qid = t.queue("alice@example.org", ["bob@remote.example"], b"Subject: grey\n\nhi\n")
    t.wait_log(r"%s: to=<bob@remote\.example>, .*dsn=4\.7\.1, status=deferred \(host "
               r"127\.0\.0\.1\[127\.0\.0\.1\] said: 451 4\.7\.1 Greylisted, try again "
               r"\(in reply to RCPT TO command\)\)" % qid)
    peer.wait_messages(1, t.inst, timeout=60)
    t.wait_log(r"%s: to=<bob@remote\.example>, .*status=sent" % qid)
    assert peer.messages[0]["rcpt_tos"] == ["bob@remote.example"]


def test_data_4xx_and_5xx(tmp_path, build_dir, peer):
    peer.handler.data_replies = ["452 4.3.1 Insufficient system storage",
                                 "554 5.6.0 Rejected content"]
    t = make(tmp_path, build_dir, peer.port, minimal_backoff_time="60s",
             maximal_backoff_time="60s")
    q1 = t.queue("alice@example.org", ["one@remote.example"], b"Subject: 1\n\nx\n")
    t.wait_log(r"%s: to=<one@remote\.example>, .*dsn=4\.3\.1, status=deferred \(host "
               r"127\.0\.0\.1\[127\.0\.0\.1\] said: 452 4\.3\.1 Insufficient system storage "
               r"\(in reply to end of DATA command\)\)" % q1)
    q2 = t.queue("alice@example.org", ["two@remote.example"], b"Subject: 2\n\nx\n")
    t.wait_log(r"%s: to=<two@remote\.example>, .*dsn=5\.6\.0, status=bounced \(host "
               r"127\.0\.0\.1\[127\.0\.0\.1\] said: 554 5\.6\.0 Rejected content "
               r"\(in reply to end of DATA command\)\)" % q2)


def test_connection_refused_deferred(tmp_path, build_dir):
    need(build_dir, "smtp/smtp", "qmgr/qmgr", QUEUE_TOOL)
    port = free_port()
    t = make(tmp_path, build_dir, port)
    qid = t.queue("alice@example.org", ["bob@remote.example"], b"Subject: x\n\nx\n")
    t.wait_log(r"%s: to=<bob@remote\.example>, relay=none, .*dsn=4\.4\.1, status=deferred "
               r"\(connect to 127\.0\.0\.1\[127\.0\.0\.1\]:%d: Connection refused\)" % (qid, port))


def raw_server(reply, count=1, hold=0):
    """A server that greets with reply, reads a line (or waits hold seconds in silence)
    and hangs up; (port, thread)."""
    lsock = socket.socket()
    lsock.bind(("127.0.0.1", 0))
    lsock.listen(5)
    port = lsock.getsockname()[1]

    def run():
        lsock.settimeout(30)
        try:
            for _ in range(count):
                c, _ = lsock.accept()
                with c:
                    c.sendall(reply)
                    if hold:
                        time.sleep(hold)
                        continue
                    c.settimeout(5)
                    try:
                        c.recv(1000)
                    except OSError:
                        pass
        except OSError:
            pass
        finally:
            lsock.close()
    th = threading.Thread(target=run, daemon=True)
    th.start()
    return port, th


def test_greeting_5xx_deferred(tmp_path, build_dir):
    need(build_dir, "smtp/smtp", "qmgr/qmgr", QUEUE_TOOL)
    port, _ = raw_server(b"554 5.7.1 go away\r\n")
    t = make(tmp_path, build_dir, port)
    qid = t.queue("alice@example.org", ["bob@remote.example"], b"Subject: x\n\nx\n")
    t.wait_log(r"%s: to=<bob@remote\.example>, relay=127\.0\.0\.1\[127\.0\.0\.1\]:%d, .*"
               r"dsn=4\.7\.1, status=deferred \(host 127\.0\.0\.1\[127\.0\.0\.1\] refused to "
               r"talk to me: 554 5\.7\.1 go away\)" % (qid, port))


def test_lost_connection_deferred(tmp_path, build_dir):
    need(build_dir, "smtp/smtp", "qmgr/qmgr", QUEUE_TOOL)
    port, _ = raw_server(b"220 x ESMTP\r\n")  # greets, reads EHLO, hangs up
    t = make(tmp_path, build_dir, port)
    qid = t.queue("alice@example.org", ["bob@remote.example"], b"Subject: x\n\nx\n")
    t.wait_log(r"%s: to=<bob@remote\.example>, .*dsn=4\.4\.2, status=deferred \(lost connection "
               r"with 127\.0\.0\.1\[127\.0\.0\.1\] while performing the EHLO handshake\)" % qid)


def test_ehlo_with_my_name_is_a_loop(tmp_path, build_dir):
    if not HAVE_AIOSMTPD:
        pytest.skip("python3-aiosmtpd is not installed")
    p = Peer(hostname="mail.example.com")
    try:
        t = make(tmp_path, build_dir, p.port)
        qid = t.queue("alice@example.org", ["bob@remote.example"], b"Subject: x\n\nx\n")
        t.wait_log(r"%s: to=<bob@remote\.example>, .*dsn=5\.4\.6, status=bounced \(mail for "
                   r"\[127\.0\.0\.1\]:%d loops back to myself\)" % (qid, p.port))
        assert p.messages == []
    finally:
        p.stop()


def test_size_limit_of_server(tmp_path, build_dir):
    if not HAVE_AIOSMTPD:
        pytest.skip("python3-aiosmtpd is not installed")
    p = Peer(size=1000)
    try:
        t = make(tmp_path, build_dir, p.port)
        body = b"Subject: big\n\n" + b"x" * 70 + b"\n"
        qid = t.queue("alice@example.org", ["bob@remote.example"], body * 20)
        t.wait_log(r"%s: to=<bob@remote\.example>, .*dsn=5\.3\.4, status=bounced \(message size "
                   r"\d+ exceeds size limit 1000 of server 127\.0\.0\.1\[127\.0\.0\.1\]\)" % qid)
        qid = t.queue("alice@example.org", ["bob@remote.example"], b"Subject: small\n\nx\n")
        p.wait_messages(1, t.inst)
        assert "SIZE=21" in p.messages[0]["mail_options"]
    finally:
        p.stop()


def test_8bit_converted_for_server_without_8bitmime(tmp_path, build_dir, peer):
    peer.handler.drop_ehlo = {"8BITMIME"}
    t = make(tmp_path, build_dir, peer.port)
    content = ("MIME-Version: 1.0\nSubject: =?utf-8?q?caf=C3=A9?=\n"
               "Content-Type: text/plain; charset=utf-8\nContent-Transfer-Encoding: 8bit\n\n"
               "Caf\u00e9 cr\u00e8me = tasty\n").encode()
    t.queue("alice@example.org", ["bob@remote.example"], content, opts=["-8"])
    peer.wait_messages(1, t.inst)
    m = peer.messages[0]
    assert not any(b >= 0x80 for b in m["data"])
    assert b"Content-Transfer-Encoding: quoted-printable\r\n" in m["data"]
    assert b"Caf=C3=A9 cr=C3=A8me =3D tasty\r\n" in m["data"]
    assert not any(o.upper().startswith("BODY=") for o in m["mail_options"])


def test_8bit_passes_with_8bitmime(tmp_path, build_dir, peer):
    t = make(tmp_path, build_dir, peer.port)
    content = "Subject: x\n\nCaf\u00e9\n".encode()
    t.queue("alice@example.org", ["bob@remote.example"], content, opts=["-8"])
    peer.wait_messages(1, t.inst)
    assert peer.messages[0]["data"] == crlf(content)
    assert "BODY=8BITMIME" in peer.messages[0]["mail_options"]


def test_8bit_bounced_without_conversion(tmp_path, build_dir, peer):
    peer.handler.drop_ehlo = {"8BITMIME"}
    t = make(tmp_path, build_dir, peer.port, disable_mime_output_conversion="yes")
    qid = t.queue("alice@example.org", ["bob@remote.example"], "Subject: x\n\n\u00e9\n".encode())
    t.wait_log(r"%s: to=<bob@remote\.example>, .*dsn=5\.6\.3, status=bounced" % qid)
    assert [m for m in peer.messages if m["mail_from"] not in ("", "<>")] == []


def test_smtputf8_to_server_without_it_bounced(tmp_path, build_dir, peer):
    t = make(tmp_path, build_dir, peer.port)
    qid = t.queue("alice@example.org", ["j\u00f6rg@remote.example"],
                  "Subject: gr\u00fc\u00dfe\n\nhallo\n".encode(), opts=["-U"])
    t.wait_log(r"%s: to=<j.+rg@remote\.example>, .*dsn=5\.6\.7, status=bounced \(SMTPUTF8 is "
               r"required, but was not offered by host 127\.0\.0\.1\[127\.0\.0\.1\]\)" % qid)
    assert [m for m in peer.messages if m["mail_from"] not in ("", "<>")] == []


def test_smtputf8_to_server_with_it(tmp_path, build_dir):
    if not HAVE_AIOSMTPD:
        pytest.skip("python3-aiosmtpd is not installed")
    p = Peer(smtputf8=True)
    try:
        t = make(tmp_path, build_dir, p.port)
        t.queue("alice@example.org", ["j\u00f6rg@remote.example"],
                "Subject: gr\u00fc\u00dfe\n\nhallo\n".encode(), opts=["-U"])
        p.wait_messages(1, t.inst)
        assert "SMTPUTF8" in p.messages[0]["mail_options"]
        assert p.messages[0]["rcpt_tos"] == ["j\u00f6rg@remote.example"]
    finally:
        p.stop()


def test_many_messages_few_connections(tmp_path, build_dir, peer):
    """100 messages to one destination travel over a few reused connections."""
    need(build_dir, "smtp/smtp", "qmgr/qmgr", QUEUE_TOOL)
    t = SmtpTest(tmp_path, build_dir, maxproc="2", with_smtpd=False,
                 config={"relayhost": "[127.0.0.1]:%d" % peer.port})
    for i in range(100):
        t.queue("alice@example.org", ["bob%d@remote.example" % i],
                b"Subject: message %d\n\nbody %d\n" % (i, i))
    peer.wait_messages(100, t.inst, timeout=120)
    wait_for("queue empty", t.queue_empty, timeout=30)
    assert len({m["rcpt_tos"][0] for m in peer.messages}) == 100
    assert peer.handler.connections <= 6, peer.handler.connections
    sent = [l for l in t.status_lines() if "status=sent" in l]
    assert len(sent) == 100


def test_generic_maps_rewrite_sender_and_headers(tmp_path, build_dir, peer):
    need(build_dir, "smtp/smtp", "qmgr/qmgr", QUEUE_TOOL)
    generic = tmp_path / "generic"
    generic.write_text("alice@home.lan alice.smith@provider.example\n"
                       "@home.lan @provider.example\n")
    t = make(tmp_path, build_dir, peer.port, smtp_generic_maps="texthash:%s" % generic)
    content = (b"From: Alice <alice@home.lan>\nTo: bob@remote.example\n"
               b"Cc: carol@home.lan\nSubject: alice@home.lan stays\n\n"
               b"From: alice@home.lan stays too\n")
    t.queue("alice@home.lan", ["bob@remote.example"], content)
    peer.wait_messages(1, t.inst)
    m = peer.messages[0]
    assert m["mail_from"] == "alice.smith@provider.example"
    assert m["data"] == crlf(content.replace(b"From: Alice <alice@home.lan>",
                                             b"From: Alice <alice.smith@provider.example>")
                             .replace(b"Cc: carol@home.lan", b"Cc: carol@provider.example"))


# ----------------------------------------------------------------- TLS and AUTH

@pytest.fixture(scope="module")
def cert(tmp_path_factory):
    """A self-signed certificate and key for the peers: (certfile, keyfile)."""
    if shutil.which("openssl") is None:
        pytest.skip("openssl is not installed")
    d = tmp_path_factory.mktemp("cert")
    certfile, keyfile = str(d / "cert.pem"), str(d / "key.pem")
    subprocess.run(["openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "2",
                    "-subj", "/CN=peer.example.net", "-addext",
                    "subjectAltName=DNS:peer.example.net,IP:127.0.0.1",
                    "-keyout", keyfile, "-out", certfile],
                   check=True, capture_output=True, timeout=120)
    os.chmod(str(d), 0o755)
    os.chmod(certfile, 0o644)
    return certfile, keyfile


def server_context(cert, max_version=None):
    ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    ctx.load_cert_chain(*cert)
    if max_version is not None:
        ctx.minimum_version = ssl.TLSVersion.MINIMUM_SUPPORTED
        ctx.maximum_version = max_version
    return ctx


class Auth:
    """An aiosmtpd authenticator that knows one user and records every attempt."""

    def __init__(self, user=b"relayuser", password=b"s3cret"):
        self.user, self.password = user, password
        self.attempts = []

    def __call__(self, server, session, envelope, mechanism, auth_data):
        ok = (isinstance(auth_data, LoginPassword) and auth_data.login == self.user
              and auth_data.password == self.password)
        tls = server.transport.get_extra_info("ssl_object") is not None
        self.attempts.append((mechanism, auth_data.login, auth_data.password, tls))
        return AuthResult(success=ok, handled=False)


def tls_line(port, trust="Untrusted"):
    return (r"%s TLS connection established to 127\.0\.0\.1\[127\.0\.0\.1\]:%d: TLSv1\.[23] "
            r"with cipher \S+ \(\d+/\d+ bits\)" % (trust, port))


def test_starttls_may(tmp_path, build_dir, cert):
    need(build_dir, "smtp/smtp", "qmgr/qmgr", QUEUE_TOOL)
    p = Peer(tls_context=server_context(cert))
    try:
        t = make(tmp_path, build_dir, p.port, smtp_tls_security_level="may")
        t.queue("alice@example.org", ["bob@remote.example"], b"Subject: tls\n\nsecret\n")
        p.wait_messages(1, t.inst)
        assert p.messages[0]["tls"]
        m = t.wait_log(tls_line(p.port))
        assert "TLSv1.3 with cipher TLS_AES_256_GCM_SHA384 (256/256 bits)" in m.group(0)
        assert p.handler.ehlos == 2  # again after STARTTLS (RFC 3207)
    finally:
        p.stop()


def test_starttls_trusted_with_cafile(tmp_path, build_dir, cert):
    need(build_dir, "smtp/smtp", "qmgr/qmgr", QUEUE_TOOL)
    p = Peer(tls_context=server_context(cert))
    try:
        t = make(tmp_path, build_dir, p.port, smtp_tls_security_level="encrypt",
                 smtp_tls_CAfile=cert[0])
        t.queue("alice@example.org", ["bob@remote.example"], b"Subject: tls\n\nsecret\n")
        p.wait_messages(1, t.inst)
        t.wait_log(tls_line(p.port, "Trusted"))
    finally:
        p.stop()


def test_encrypt_defers_without_starttls(tmp_path, build_dir, peer):
    t = make(tmp_path, build_dir, peer.port, smtp_tls_security_level="encrypt")
    qid = t.queue("alice@example.org", ["bob@remote.example"], b"Subject: x\n\nx\n")
    t.wait_log(r"%s: to=<bob@remote\.example>, relay=127\.0\.0\.1\[127\.0\.0\.1\]:%d, .*"
               r"dsn=4\.7\.4, status=deferred \(TLS is required, but was not offered by host "
               r"127\.0\.0\.1\[127\.0\.0\.1\]\)" % (qid, peer.port))
    assert peer.messages == []


def test_may_falls_back_to_plaintext_after_failed_handshake(tmp_path, build_dir, cert):
    """A server that offers STARTTLS but cannot finish a TLS 1.2+ handshake gets the mail
    over a new plain-text connection, as Postfix does at level may."""
    need(build_dir, "smtp/smtp", "qmgr/qmgr", QUEUE_TOOL)
    ctx = server_context(cert)
    ctx.set_ciphers("NULL")  # nothing a TLS 1.2 client accepts
    ctx.maximum_version = ssl.TLSVersion.TLSv1_2
    p = Peer(tls_context=ctx)
    try:
        t = make(tmp_path, build_dir, p.port, smtp_tls_security_level="may")
        qid = t.queue("alice@example.org", ["bob@remote.example"], b"Subject: x\n\nx\n")
        p.wait_messages(1, t.inst)
        assert not p.messages[0]["tls"]
        t.wait_log(r"%s: Cannot start TLS with 127\.0\.0\.1\[127\.0\.0\.1\]: .*; trying again "
                   r"without TLS" % qid)
        t.wait_log(r"%s: to=<bob@remote\.example>, .*status=sent" % qid)
    finally:
        p.stop()


def sasl_passwd(tmp_path, key, value="relayuser:s3cret"):
    path = tmp_path / "sasl_passwd"
    path.write_text("%s %s\n" % (key, value))
    os.chmod(str(path), 0o600)
    return "texthash:%s" % path


def test_implicit_tls_and_auth(tmp_path, build_dir, cert):
    """Smarthost on a port with implicit TLS: the password goes inside TLS, PLAIN."""
    need(build_dir, "smtp/smtp", "qmgr/qmgr", QUEUE_TOOL)
    auth = Auth()
    p = Peer(ssl_context=server_context(cert), authenticator=auth, auth_require_tls=False)
    try:
        t = make(tmp_path, build_dir, p.port, smtp_tls_wrappermode="yes",
                 smtp_sasl_auth_enable="yes",
                 smtp_sasl_password_maps=sasl_passwd(tmp_path, "[127.0.0.1]:%d" % p.port))
        t.queue("alice@example.org", ["bob@remote.example"], b"Subject: auth\n\nx\n")
        p.wait_messages(1, t.inst)
        assert auth.attempts == [("PLAIN", b"relayuser", b"s3cret", True)]
        assert p.messages[0]["tls"]
        t.wait_log(tls_line(p.port))
        assert "s3cret" not in t.inst.log_text()
    finally:
        p.stop()


def test_starttls_auth_login_by_host_name_key(tmp_path, build_dir, cert):
    need(build_dir, "smtp/smtp", "qmgr/qmgr", QUEUE_TOOL)
    auth = Auth()
    p = Peer(tls_context=server_context(cert), authenticator=auth)
    try:
        t = make(tmp_path, build_dir, p.port, smtp_sasl_auth_enable="yes",
                 smtp_tls_security_level="may", smtp_sasl_mechanism_filter="login",
                 smtp_sasl_password_maps=sasl_passwd(tmp_path, "127.0.0.1"))
        t.queue("alice@example.org", ["bob@remote.example"], b"Subject: auth\n\nx\n")
        p.wait_messages(1, t.inst)
        assert auth.attempts == [("LOGIN", b"relayuser", b"s3cret", True)]
    finally:
        p.stop()


def test_wrong_password_defers(tmp_path, build_dir, cert):
    need(build_dir, "smtp/smtp", "qmgr/qmgr", QUEUE_TOOL)
    auth = Auth()
    p = Peer(tls_context=server_context(cert), authenticator=auth)
    try:
        t = make(tmp_path, build_dir, p.port, smtp_sasl_auth_enable="yes",
                 smtp_tls_security_level="may",
                 smtp_sasl_password_maps=sasl_passwd(tmp_path, "127.0.0.1", "relayuser:wrong"))
        qid = t.queue("alice@example.org", ["bob@remote.example"], b"Subject: auth\n\nx\n")
        t.wait_log(r"%s: to=<bob@remote\.example>, .*dsn=4\.7\.\d+, status=deferred \(SASL "
                   r"authentication failed; server 127\.0\.0\.1\[127\.0\.0\.1\] said: 535" % qid)
        assert p.messages == []
    finally:
        p.stop()


def test_no_password_over_plaintext(tmp_path, build_dir):
    """A server that offers AUTH without TLS never sees the password."""
    need(build_dir, "smtp/smtp", "qmgr/qmgr", QUEUE_TOOL)
    auth = Auth()
    p = Peer(authenticator=auth, auth_require_tls=False)
    try:
        t = make(tmp_path, build_dir, p.port, smtp_sasl_auth_enable="yes",
                 smtp_sasl_password_maps=sasl_passwd(tmp_path, "[127.0.0.1]:%d" % p.port))
        qid = t.queue("alice@example.org", ["bob@remote.example"], b"Subject: auth\n\nx\n")
        t.wait_log(r"%s: to=<bob@remote\.example>, .*dsn=4\.7\.0, status=deferred \(SASL "
                   r"authentication failed; cannot authenticate to server "
                   r"127\.0\.0\.1\[127\.0\.0\.1\]: SASL authentication over plaintext refused "
                   r"\(no TLS\)\)" % qid)
        assert auth.attempts == []
        assert p.messages == []
    finally:
        p.stop()


@pytest.mark.skipif(os.geteuid() != 0, reason="needs root: tables readable by root only")
def test_root_only_password_table_rebuilt(tmp_path, build_dir, cert):
    """The password table is readable by root only; smtp opens it before it gives up root.
    When the table is replaced, the process that cannot open it again restarts, and the
    next attempt authenticates with the new table."""
    need(build_dir, "smtp/smtp", "qmgr/qmgr", QUEUE_TOOL)
    auth = Auth()
    p = Peer(tls_context=server_context(cert), authenticator=auth)
    tables = tmp_path / "private"
    tables.mkdir()
    os.chmod(str(tables), 0o755)  # as /etc/postel: searchable; the file itself is private
    passwd = tables / "sasl_passwd"
    passwd.write_text("127.0.0.1 relayuser:s3cret\n")
    os.chmod(str(passwd), 0o600)
    try:
        t = make(tmp_path, build_dir, p.port, smtp_sasl_auth_enable="yes",
                 smtp_tls_security_level="may", smtp_connection_cache_on_demand="no",
                 smtp_sasl_password_maps="texthash:%s" % passwd)
        t.queue("alice@example.org", ["bob@remote.example"], b"Subject: one\n\nx\n")
        p.wait_messages(1, t.inst)
        new = tables / "sasl_passwd.new"
        new.write_text("127.0.0.1 relayuser:s3cret\n# rebuilt\n")
        os.chmod(str(new), 0o600)
        os.rename(str(new), str(passwd))
        t.queue("alice@example.org", ["carol@remote.example"], b"Subject: two\n\nx\n")
        p.wait_messages(2, t.inst, timeout=60)
        assert [a[1] for a in auth.attempts] == [b"relayuser", b"relayuser"]
        t.wait_log(r"restarting to open the tables again")
    finally:
        p.stop()


def test_ehlo_timeout_deferred(tmp_path, build_dir):
    need(build_dir, "smtp/smtp", "qmgr/qmgr", QUEUE_TOOL)
    port, _ = raw_server(b"220 slow.example ESMTP\r\n", hold=8)
    t = make(tmp_path, build_dir, port, smtp_helo_timeout="1s")
    qid = t.queue("alice@example.org", ["bob@remote.example"], b"Subject: x\n\nx\n")
    t.wait_log(r"%s: to=<bob@remote\.example>, .*dsn=4\.4\.2, status=deferred \(conversation "
               r"with 127\.0\.0\.1\[127\.0\.0\.1\] timed out while performing the EHLO "
               r"handshake\)" % qid)


class NoEhloHandler(Handler):
    """A server from before ESMTP: EHLO is an unknown command."""

    async def handle_EHLO(self, server, session, envelope, hostname, responses):
        with self.lock:
            self.ehlos += 1
        return ["500 5.5.1 Error: command \"EHLO\" not recognized"]


def test_helo_when_ehlo_is_refused(tmp_path, build_dir):
    if not HAVE_AIOSMTPD:
        pytest.skip("python3-aiosmtpd is not installed")
    p = Peer(handler=NoEhloHandler())
    try:
        t = make(tmp_path, build_dir, p.port)
        content = "Subject: old\n\nCaf\u00e9\n".encode()
        t.queue("alice@example.org", ["bob@remote.example"], content, opts=["-8"])
        p.wait_messages(1, t.inst)
        m = p.messages[0]
        assert m["mail_options"] == []  # no ESMTP: no SIZE, no BODY
        # No 8BITMIME either: the 8-bit body went as quoted-printable.
        assert b"Caf=C3=A9" in m["data"]
    finally:
        p.stop()


def test_success_notice_relayed_for_server_without_dsn(tmp_path, build_dir, peer):
    """NOTIFY=SUCCESS and a server without DSN: the sender gets a "relayed" notice."""
    t = make(tmp_path, build_dir, peer.port)
    with smtplib.SMTP("127.0.0.1", t.smtpd_port, timeout=30) as c:
        c.sendmail("alice@sender.example", ["bob@remote.example"],
                   b"Subject: tell me\r\n\r\nx\r\n", rcpt_options=["NOTIFY=SUCCESS"])
    peer.wait_messages(2, t.inst)
    assert peer.messages[0]["rcpt_tos"] == ["bob@remote.example"]
    assert peer.messages[0]["rcpt_options"] == []  # the server has no DSN: nothing passed
    notice = peer.messages[1]
    assert notice["mail_from"] in ("", "<>") and notice["rcpt_tos"] == ["alice@sender.example"]
    assert b"Action: relayed" in notice["data"]


def test_reuse_count_limit(tmp_path, build_dir, peer):
    need(build_dir, "smtp/smtp", "qmgr/qmgr", QUEUE_TOOL)
    t = SmtpTest(tmp_path, build_dir, maxproc="1", with_smtpd=False,
                 config={"relayhost": "[127.0.0.1]:%d" % peer.port,
                         "smtp_connection_reuse_count_limit": "2"})
    for i in range(6):
        t.queue("alice@example.org", ["r%d@remote.example" % i], b"Subject: %d\n\nx\n" % i)
    peer.wait_messages(6, t.inst, timeout=60)
    assert peer.handler.connections >= 3
