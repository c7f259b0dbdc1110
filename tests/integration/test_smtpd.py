"""Integration tests of smtpd(8): a real master and smtpd in a throw-away
instance, driven with raw sockets and Python's smtplib.

Since no queue manager runs here, the tests look at the queue files that
smtpd leaves in incoming/, through tests/integration/qfdump (which prints a
queue file's envelope and its content byte for byte), and at the maillog.

Client addresses: loopback 127.0.0.0/8 is all local on Linux, so a client
socket bound to 127.0.0.2 is "another host" for mynetworks = 127.0.0.1/32.
"""

import glob
import os
import re
import signal
import smtplib
import socket
import subprocess
import time

import pytest

from instance import Instance, free_port, proc_list, wait_for

HOST = "mail.example.com"

# main.cf of the shared instance: example.com is a local domain with two
# users; relay.example is a relay domain.
BASE_CONFIG = {
    "mydestination": "$myhostname, localhost, example.com",
    "relay_domains": "relay.example",
    "local_recipient_maps": "inline:{ alice=1, bob=1, postmaster=1 }",
    "recipient_delimiter": "+",
    "smtpd_error_sleep_time": "0s",
}


class Smtpd:
    """An instance with one smtpd service on a free port."""

    def __init__(self, tmp_path, build_dir, name="smtpd", **config):
        self.port = free_port()
        cfg = dict(BASE_CONFIG)
        cfg.update({k: str(v) for k, v in config.items()})
        self.inst = Instance(tmp_path, build_dir, config=cfg, name=name,
                             master_cf=["127.0.0.1:%d inet n - n - - smtpd" % self.port])
        self.qfdump = os.path.join(build_dir, "tests", "integration", "qfdump")
        if not self.inst.has_daemon("smtpd"):
            pytest.skip("smtpd is not built")
        self.inst.start()

    def connect(self, source="127.0.0.1", timeout=10):
        return Client(self.port, source, timeout)

    def incoming(self, suffix=".msg"):
        return sorted(glob.glob(os.path.join(self.inst.spool, "incoming", "*" + suffix)))

    def dump(self, path):
        """(envelope dict, content bytes) of a queue file; repeated keys become lists."""
        r = subprocess.run([self.qfdump, path], capture_output=True, timeout=30)
        assert r.returncode == 0, r.stderr
        head, _, content = r.stdout.partition(b"\n\n")
        env = {"rcpt": [], "rcpt_notify": [], "rcpt_orcpt": [], "rcpt_orig": []}
        for line in head.decode().splitlines():
            key, _, value = line.partition(": ")
            if key in env and isinstance(env[key], list):
                env[key].append(value)
            else:
                env[key] = value
        assert int(env["content_length"]) == len(content)
        return env, content

    def queued(self, qid):
        return self.dump(os.path.join(self.inst.spool, "incoming", qid + ".msg"))

    def log(self):
        return self.inst.log_text()

    def smtpd_pids(self):
        exe = os.path.realpath(os.path.join(self.inst.libexec, "smtpd"))
        pids = []
        for pid, state, _, _ in proc_list():
            try:
                if state not in ("Z", "X") and os.path.realpath("/proc/%d/exe" % pid) == exe:
                    pids.append(pid)
            except OSError:
                pass
        return pids


class Client:
    """A raw SMTP client: exact bytes out, replies parsed."""

    def __init__(self, port, source, timeout):
        self.sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        self.sock.settimeout(timeout)
        self.sock.bind((source, 0))
        self.sock.connect(("127.0.0.1", port))
        self.buf = b""

    def send(self, data):
        if isinstance(data, str):
            data = data.encode()
        self.sock.sendall(data)

    def _line(self):
        while b"\r\n" not in self.buf:
            chunk = self.sock.recv(65536)
            if not chunk:
                raise EOFError("connection closed; pending %r" % self.buf)
            self.buf += chunk
        line, self.buf = self.buf.split(b"\r\n", 1)
        return line.decode("utf-8", "replace")

    def reply(self):
        """(code, [text lines]) of the next reply."""
        lines = []
        while True:
            line = self._line()
            lines.append(line[4:])
            if line[3:4] != "-":
                return int(line[:3]), lines

    def expect(self, code, text=None):
        got, lines = self.reply()
        assert got == code, "expected %d, got %d %s" % (code, got, lines)
        if text is not None:
            assert re.search(text, "\n".join(lines)), "%r not in %s" % (text, lines)
        return lines

    def cmd(self, line, code, text=None):
        self.send(line + "\r\n")
        return self.expect(code, text)

    def closed(self, timeout=10):
        """True when the server closed the connection (EOF) within timeout."""
        self.sock.settimeout(timeout)
        try:
            return self.buf == b"" and self.sock.recv(1) == b""
        except ConnectionResetError:
            return True

    def greet(self, helo="client.example"):
        self.expect(220)
        self.cmd("EHLO " + helo, 250)
        return self

    def close(self):
        self.sock.close()


@pytest.fixture(scope="module")
def shared(tmp_path_factory, build_dir):
    """One instance for the tests that need no special settings."""
    s = Smtpd(tmp_path_factory.mktemp("shared"), build_dir)
    yield s
    s.inst.stop()


@pytest.fixture
def make_smtpd(tmp_path, build_dir):
    """Factory for an instance with its own settings."""
    made = []

    def make(**config):
        s = Smtpd(tmp_path, build_dir, name="smtpd%d" % len(made), **config)
        made.append(s)
        return s

    yield make
    for s in made:
        s.inst.stop()


def queued_id(lines):
    m = re.search(r"Ok: queued as ([0-9A-Z]{16})", "\n".join(lines))
    assert m, lines
    return m.group(1)


RECEIVED = (r"Received: from {helo} \({name} \[{addr}\]\)\n"
            r"\tby mail\.example\.com \(Postel\) with {proto} id {qid}\n"
            r"\tfor <{rcpt}>; [A-Z][a-z]{{2}}, \d{{1,2}} [A-Z][a-z]{{2}} \d{{4}} "
            r"\d\d:\d\d:\d\d [+-]\d{{4}}( \([A-Za-z]+\))?\n")


# ---------------------------------------------------------------- greeting, EHLO

def test_banner_ehlo_helo(shared):
    c = shared.connect()
    code, lines = c.reply()
    assert (code, lines) == (220, [HOST + " ESMTP Postel"])
    lines = c.cmd("EHLO client.example", 250)
    assert lines == [HOST, "PIPELINING", "SIZE 10240000", "VRFY", "ETRN", "ENHANCEDSTATUSCODES",
                     "8BITMIME", "DSN", "SMTPUTF8", "CHUNKING"]
    assert c.cmd("HELO client.example", 250) == [HOST]
    c.cmd("HELO", 501, r"^5\.5\.4 Syntax: HELO hostname$")
    c.cmd("NOOP", 250, r"^2\.0\.0 Ok$")
    c.cmd("RSET", 250, r"^2\.0\.0 Ok$")
    c.cmd("VRFY alice", 252, r"^2\.5\.2 Cannot VRFY user")
    c.cmd("EXPN staff", 502, r"^5\.5\.1 ")
    c.cmd("HELP", 214, r"2\.0\.0 ")
    c.cmd("FOO bar", 502, r"^5\.5\.2 Error: command not recognized$")
    c.cmd("X" * 3000, 500, r"^5\.5\.2 Error: line too long$")
    c.cmd("QUIT", 221, r"^2\.0\.0 Bye$")
    assert c.closed()
    with smtplib.SMTP("127.0.0.1", shared.port, timeout=10) as s:
        s.ehlo("smtplib.example")
        for ext in ("pipelining", "size", "8bitmime", "enhancedstatuscodes", "dsn", "smtputf8",
                    "chunking"):
            assert s.has_extn(ext), ext


def test_every_reply_has_enhanced_code(shared):
    c = shared.connect().greet()
    for line, code in (("MAIL FROM:<a@b.example>", 250), ("MAIL FROM:<a@b.example>", 503),
                       ("RCPT TO:<alice@example.com>", 250), ("RCPT TO:<bad", 501),
                       ("DATA x", 501), ("BDAT", 501)):
        lines = c.cmd(line, code)
        assert re.match(r"^[245]\.\d{1,3}\.\d{1,3} ", lines[-1]), (line, lines)


# ---------------------------------------------------------------- a message, exactly

def test_message_queued_exactly(shared):
    mark = shared.inst.log_mark()
    c = shared.connect().greet("client.example")
    c.cmd("MAIL FROM:<sender@origin.example> BODY=8BITMIME", 250, r"^2\.1\.0 Ok$")
    c.cmd("RCPT TO:<alice@example.com>", 250, r"^2\.1\.5 Ok$")
    c.cmd("DATA", 354, r"^End data with <CR><LF>\.<CR><LF>$")
    c.send(b"From: Sender <sender@origin.example>\r\n"
           b"To: alice@example.com\r\n"
           b"Subject: caf\xc3\xa9\r\n"
           b"Date: Tue, 14 Nov 2023 22:13:20 +0000\r\n"
           b"Message-ID: <test-1@origin.example>\r\n"
           b"\r\n"
           b"line one\r\n"
           b"..starts with a dot\r\n"
           b"..\r\n"
           b"8-bit \xff\xfe\r\n"
           b"\r\n"
           b".\r\n")
    qid = queued_id(c.expect(250, r"^2\.0\.0 Ok: queued as "))
    c.cmd("QUIT", 221)
    env, content = shared.queued(qid)
    assert env["sender"] == "sender@origin.example"
    assert env["rcpt"] == ["alice@example.com"]
    assert env["client_addr"] == "127.0.0.1"
    assert env["client_name"] == "localhost"
    assert env["helo"] == "client.example"
    assert env["protocol"] == "ESMTP"
    assert env["body"] == "2"  # 8BITMIME
    assert env["flags"] == "0"
    received = re.match(RECEIVED.format(helo=r"client\.example", name="localhost",
                                        addr=r"127\.0\.0\.1", proto="ESMTP", qid=qid,
                                        rcpt=r"alice@example\.com").encode(), content)
    assert received, content
    assert content[received.end():] == (
        b"From: Sender <sender@origin.example>\n"
        b"To: alice@example.com\n"
        b"Subject: caf\xc3\xa9\n"
        b"Date: Tue, 14 Nov 2023 22:13:20 +0000\n"
        b"Message-ID: <test-1@origin.example>\n"
        b"\n"
        b"line one\n"
        b".starts with a dot\n"
        b".\n"
        b"8-bit \xff\xfe\n"
        b"\n")
    assert not shared.incoming(".tmp")
    # the log, in Postfix's shapes
    shared.inst.wait_log(r"disconnect from localhost\[127\.0\.0\.1\]", since=mark)
    log = shared.log()[mark:]
    assert re.search(r"smtpd\[\d+\]: connect from localhost\[127\.0\.0\.1\]$", log, re.M)
    assert re.search(r": %s: client=localhost\[127\.0\.0\.1\]$" % qid, log, re.M)
    assert re.search(r": %s: message-id=<test-1@origin\.example>$" % qid, log, re.M)
    # qmgr, not smtpd, logs "from=<...>, size=N, nrcpt=N (queue active)" (log analysers count it once)
    assert not re.search(r"smtpd\[\d+\]: %s: from=<" % qid, log, re.M)
    assert re.search(r": disconnect from localhost\[127\.0\.0\.1\] ehlo=1 mail=1 rcpt=1 data=1 "
                     r"quit=1 commands=5$", log, re.M)


def test_smtplib_and_several_recipients(shared):
    with smtplib.SMTP("127.0.0.1", shared.port, timeout=10) as s:
        s.ehlo("smtplib.example")
        refused = s.sendmail("a@b.example", ["alice@example.com", "bob@example.com",
                                             "alice@example.com"],
                             b"Subject: x\r\nMessage-ID: <m2@b>\r\nDate: x\r\nFrom: a@b\r\n\r\nhi\r\n")
        assert refused == {}
        code, text = s.noop()
        assert code == 250
    qid = re.findall(r": ([0-9A-Z]{16}): message-id=<m2@b>$", shared.log(), re.M)
    assert qid
    env, content = shared.queued(qid[-1])
    # the duplicate recipient is stored once; no "for" with two recipients
    assert env["rcpt"] == ["alice@example.com", "bob@example.com"]
    assert b"\tfor <" not in content.split(b"\n\n")[0]
    assert re.match(rb"Received: from smtplib\.example \(localhost \[127\.0\.0\.1\]\)\n"
                    rb"\tby mail\.example\.com \(Postel\) with ESMTP id [0-9A-Z]{16};\n\t"
                    rb"[A-Z][a-z]{2}, ", content)


def test_dsn_smtputf8_parameters_stored(shared):
    c = shared.connect().greet()
    c.cmd("MAIL FROM:<j\xf6rg@ex\xe4mple.org> SMTPUTF8 RET=HDRS ENVID=QQ+2B1", 250)
    c.cmd("RCPT TO:<bob+list@example.com> NOTIFY=SUCCESS,FAILURE ORCPT=rfc822;bob+2Blist@example.com",
          250)
    c.cmd("RCPT TO:<alice@example.com> NOTIFY=NEVER", 250)
    c.cmd("DATA", 354)
    c.send("Subject: gr\xfc\xdfe\r\nMessage-ID: <u8@x>\r\nDate: x\r\nFrom: j\xf6rg@x\r\n\r\n"
           "\xe4\xf6\xfc\r\n.\r\n")
    qid = queued_id(c.expect(250))
    c.cmd("QUIT", 221)
    env, content = shared.queued(qid)
    assert env["sender"] == "j\xf6rg@ex\xe4mple.org"
    assert env["flags"] == "1"  # SMTPUTF8
    assert env["ret"] == "2"  # HDRS
    assert env["envid"] == "QQ+2B1"
    assert env["rcpt"] == ["bob+list@example.com", "alice@example.com"]
    assert env["rcpt_orcpt"] == ["rfc822;bob+2Blist@example.com"]
    assert env["rcpt_notify"] == ["6", "1"]
    assert b" with UTF8SMTP id " in content
    assert content.endswith("Subject: gr\xfc\xdfe\nMessage-ID: <u8@x>\nDate: x\nFrom: j\xf6rg@x\n\n"
                            "\xe4\xf6\xfc\n".encode())
    # non-ASCII without SMTPUTF8 is refused
    c = shared.connect().greet()
    c.cmd("MAIL FROM:<j\xf6rg@example.org>", 553, r"^5\.6\.7 ")
    c.cmd("MAIL FROM:<a@b> RET=BOGUS", 501, r"^5\.5\.4 ")
    c.cmd("QUIT", 221)


# ---------------------------------------------------------------- pipelining

def test_pipelined_group_replies_in_order(shared):
    c = shared.connect().greet()
    before = set(shared.incoming())
    c.send("MAIL FROM:<p@b.example>\r\nRCPT TO:<alice@example.com>\r\n"
           "RCPT TO:<nobody@example.com>\r\nRCPT TO:<bob@example.com>\r\nDATA\r\n")
    c.expect(250, r"^2\.1\.0")
    c.expect(250, r"^2\.1\.5")
    c.expect(550, r"^5\.1\.1 <nobody@example\.com>: Recipient address rejected")
    c.expect(250, r"^2\.1\.5")
    c.expect(354)
    c.send("Subject: p\r\nDate: d\r\nFrom: f\r\nMessage-ID: <p@x>\r\n\r\npipelined\r\n.\r\n"
           "MAIL FROM:<q@b.example>\r\n"
           "RCPT TO:<alice@example.com>\r\nRSET\r\nQUIT\r\n")
    qid = queued_id(c.expect(250))
    c.expect(250, r"^2\.1\.0")
    c.expect(250, r"^2\.1\.5")
    c.expect(250, r"^2\.0\.0 Ok")
    c.expect(221)
    assert c.closed()
    assert set(shared.incoming()) - before == {
        os.path.join(shared.inst.spool, "incoming", qid + ".msg")}
    env, content = shared.queued(qid)
    assert env["rcpt"] == ["alice@example.com", "bob@example.com"]
    assert content.endswith(b"Subject: p\nDate: d\nFrom: f\nMessage-ID: <p@x>\n\npipelined\n")


def test_improper_pipelining_is_refused(shared):
    mark = shared.inst.log_mark()
    before = set(shared.incoming())
    c = shared.connect()
    c.expect(220)
    c.send("EHLO client.example\r\nMAIL FROM:<a@b.example>\r\n")
    c.expect(554, r"^5\.5\.0 Error: SMTP protocol synchronization$")
    assert c.closed()
    # a client that sends the message before the 354
    c = shared.connect().greet()
    c.send("MAIL FROM:<a@b.example>\r\nRCPT TO:<alice@example.com>\r\nDATA\r\n"
           "Subject: early\r\n\r\nno wait\r\n.\r\n")
    c.expect(250)
    c.expect(250)
    c.expect(554, r"^5\.5\.0 ")
    assert c.closed()
    assert set(shared.incoming()) == before
    shared.inst.wait_log(r"improper command pipelining after DATA from localhost", since=mark)
    assert re.search(r"improper command pipelining after EHLO from localhost\[127\.0\.0\.1\]",
                     shared.log()[mark:])


def test_unauth_pipelining_allowed_when_not_forbidden(make_smtpd):
    s = make_smtpd(smtpd_forbid_unauth_pipelining="no")
    c = s.connect()
    c.expect(220)
    c.send("EHLO client.example\r\nMAIL FROM:<a@b.example>\r\nRCPT TO:<alice@example.com>\r\n"
           "DATA\r\nSubject: early\r\n\r\nno wait\r\n.\r\nQUIT\r\n")
    c.expect(250)
    c.expect(250)
    c.expect(250)
    c.expect(354)
    queued_id(c.expect(250))
    c.expect(221)
    s.inst.wait_log(r"improper command pipelining after EHLO")


# ---------------------------------------------------------------- sizes

def test_size_limits(make_smtpd):
    s = make_smtpd(message_size_limit=1000)
    c = s.connect()
    c.expect(220)
    assert "SIZE 1000" in c.cmd("EHLO client.example", 250)
    c.cmd("MAIL FROM:<a@b.example> SIZE=1001", 552,
          r"^5\.3\.4 Message size exceeds fixed limit$")
    c.cmd("MAIL FROM:<a@b.example> SIZE=1000", 250)
    c.cmd("RCPT TO:<alice@example.com>", 250)
    c.cmd("DATA", 354)
    c.send(b"Subject: big\r\n\r\n" + b"0123456789" * 200 + b"\r\n.\r\n")
    c.expect(552, r"^5\.3\.4 Message size exceeds fixed limit$")
    # the session is still in step: the next command is a command
    c.cmd("NOOP", 250)
    # just under the limit (sizes count CRLF line ends) passes
    c.cmd("MAIL FROM:<a@b.example>", 250)
    c.cmd("RCPT TO:<alice@example.com>", 250)
    c.cmd("DATA", 354)
    c.send(b"x" * 997 + b"\r\n.\r\n")  # 999 bytes with the CRLF
    queued_id(c.expect(250))
    # BDAT over the limit
    c.cmd("MAIL FROM:<a@b.example>", 250)
    c.cmd("RCPT TO:<alice@example.com>", 250)
    c.send(b"BDAT 1500\r\n" + b"y" * 1500)
    c.expect(552, r"^5\.3\.4 ")
    c.cmd("NOOP", 250)
    c.cmd("QUIT", 221)
    assert len(s.incoming()) == 1
    assert not s.incoming(".tmp")
    assert re.search(r"NOQUEUE: reject: MAIL from localhost\[127\.0\.0\.1\]: 552 5\.3\.4 Message "
                     r"size exceeds fixed limit; from=<> proto=ESMTP helo=<client\.example>|"
                     r"reject: MAIL from localhost\[127\.0\.0\.1\]: 552 5\.3\.4", s.log())


# ---------------------------------------------------------------- SMTP smuggling

SMUGGLED = ("MAIL FROM:<evil@attacker.example>{e}RCPT TO:<bob@example.com>{e}DATA{e}"
            "Subject: smuggled{e}{e}evil{e}")

# (name, the fake end of data, the line end of the smuggled commands)
SMUGGLE_VARIANTS = [
    ("lf-dot-lf", "\n.\n", "\n"),
    ("cr-dot-cr", "\r.\r", "\r"),
    ("lf-dot-crlf", "\n.\r\n", "\r\n"),
    ("crlf-dot-lf", "\r\n.\n", "\r\n"),
    ("cr-dot-crlf", "\r.\r\n", "\r\n"),
    ("crlf-dot-cr", "\r\n.\r", "\r\n"),
    ("lf-dot-cr", "\n.\r", "\r\n"),
    ("cr-lf-dot-lf-lf", "\r\n.\n\n", "\r\n"),
    ("crlf-dot-cr-cr-lf", "\r\n.\r\r\n", "\r\n"),
]


def _bare(data):
    """'LF' when data has an LF without CR before it, 'CR' for a CR without LF after it."""
    if re.search(rb"(?<!\r)\n", data):
        return "LF"
    if re.search(rb"\r(?!\n)", data):
        return "CR"
    return None


def _smuggle(s, fake_end, eol):
    """One message with a smuggling attempt inside; returns the reply lines to its end."""
    c = s.connect().greet()
    c.cmd("MAIL FROM:<sender@origin.example>", 250)
    c.cmd("RCPT TO:<alice@example.com>", 250)
    c.cmd("DATA", 354)
    data = ("Subject: carrier\r\n\r\nhello" + fake_end + SMUGGLED.format(e=eol) +
            "\r\n.\r\n").encode()
    c.send(data)
    code, lines = c.reply()
    c.cmd("NOOP", 250)  # still in step after the real end of data
    c.cmd("QUIT", 221)
    return code, lines, data


@pytest.mark.parametrize("name,fake_end,eol", SMUGGLE_VARIANTS, ids=[v[0] for v in SMUGGLE_VARIANTS])
def test_smuggling_refused(shared, name, fake_end, eol):
    before = set(shared.incoming())
    code, lines, data = _smuggle(shared, fake_end, eol)
    bare = _bare(data)
    assert bare is not None
    assert (code, lines) == (550, ["5.5.2 Error: bare <%s> received" % bare]), name
    assert set(shared.incoming()) == before  # nothing queued, least of all a second message


@pytest.mark.parametrize("name,fake_end,eol", SMUGGLE_VARIANTS, ids=[v[0] for v in SMUGGLE_VARIANTS])
def test_smuggling_normalized_stays_inside(make_smtpd, name, fake_end, eol):
    s = make_smtpd(smtpd_forbid_bare_newline="no")
    code, lines, _ = _smuggle(s, fake_end, eol)
    assert code == 250, (name, lines)
    files = s.incoming()
    assert len(files) == 1  # one message, not two
    env, content = s.dump(files[0])
    assert env["sender"] == "sender@origin.example"
    assert env["rcpt"] == ["alice@example.com"]
    assert b"MAIL FROM:<evil@attacker.example>" in content
    assert b"evil" in content


# ---------------------------------------------------------------- BDAT

def test_bdat(shared):
    c = shared.connect().greet()
    c.cmd("MAIL FROM:<a@b.example>", 250)
    c.cmd("RCPT TO:<alice@example.com>", 250)
    chunk1 = b"Subject: chunks\r\nMessage-ID: <bdat@x>\r\nDate: d\r\nFrom: f\r\n\r\nfirst "
    chunk2 = b"part\r\n.\r\nQUIT\r\nsecond line\r\n"
    c.send(b"BDAT %d\r\n%sBDAT %d\r\n%sBDAT 0 LAST\r\n" % (len(chunk1), chunk1, len(chunk2), chunk2))
    c.expect(250, r"^2\.0\.0 Ok: %d bytes$" % len(chunk1))
    c.expect(250, r"^2\.0\.0 Ok: %d bytes$" % len(chunk2))
    qid = queued_id(c.expect(250))
    env, content = shared.queued(qid)
    assert content.split(b"\n", 3)[3] == (b"Subject: chunks\nMessage-ID: <bdat@x>\nDate: d\n"
                                          b"From: f\n\nfirst part\n"
                                          b".\nQUIT\nsecond line\n")
    # BDAT LAST in one go, the message without a final line end gets one
    c.cmd("MAIL FROM:<a@b.example>", 250)
    c.cmd("RCPT TO:<alice@example.com>", 250)
    c.send(b"BDAT 12 LAST\r\nSubject: y\r\n")
    qid = queued_id(c.expect(250))
    env, content = shared.queued(qid)
    assert re.search(rb"\nSubject: y\nMessage-ID: <[^>]+>\nDate: [^\n]+\nFrom: a@b\.example\n$",
                     content)
    c.cmd("QUIT", 221)


def test_bdat_refusals_consume_the_chunk(shared):
    before = set(shared.incoming())
    c = shared.connect().greet()
    # no transaction: refused, and the chunk (which looks like commands) is skipped
    c.send(b"BDAT 6\r\nQUIT\r\n")
    c.expect(503, r"^5\.5\.1 Error: need MAIL command$")
    c.cmd("NOOP", 250)
    c.cmd("MAIL FROM:<a@b.example>", 250)
    c.send(b"BDAT 6\r\nRSET\r\n")
    c.expect(554, r"^5\.5\.1 Error: no valid recipients$")
    c.cmd("DATA", 554, r"^5\.5\.1 Error: no valid recipients$")
    c.cmd("RCPT TO:<alice@example.com>", 250)
    c.send(b"BDAT 10\r\nSubject: z")
    c.expect(250)
    # BDAT and DATA do not mix
    c.cmd("DATA", 503, r"^5\.5\.1 ")
    c.send(b"BDAT 7 LAST\r\n\r\n\r\nb\r\n")
    qid = queued_id(c.expect(250))
    env, content = shared.queued(qid)
    assert b"\nSubject: z\n" in content and content.endswith(b"\n\nb\n")
    # an unparsable size ends the session: the chunk's end is unknown
    c.cmd("MAIL FROM:<a@b.example>", 250)
    c.cmd("RCPT TO:<alice@example.com>", 250)
    c.send(b"BDAT 12x\r\n")
    c.expect(501, r"^5\.5\.4 Syntax: BDAT count \[LAST\]$")
    assert c.closed()
    assert len(set(shared.incoming()) - before) == 1


# ---------------------------------------------------------------- relay control

def test_relay_control(make_smtpd):
    s = make_smtpd(mynetworks="127.0.0.1/32")
    mark = s.inst.log_mark()
    # an untrusted client (127.0.0.2)
    c = s.connect(source="127.0.0.2").greet("outside.example")
    c.cmd("MAIL FROM:<a@b.example>", 250)
    c.cmd("RCPT TO:<x@remote.example>", 554, r"^5\.7\.1 <x@remote\.example>: Relay access denied$")
    c.cmd("RCPT TO:<alice%remote.example@example.com>", 554, r"Relay access denied")
    c.cmd("RCPT TO:<remote.example!alice@example.com>", 554, r"Relay access denied")
    c.cmd("RCPT TO:<alice@example.com>", 250)
    c.cmd("RCPT TO:<ALICE@EXAMPLE.COM>", 250)
    c.cmd("RCPT TO:<anyone@relay.example>", 250)
    c.cmd("RCPT TO:<anyone@sub.relay.example>", 250)
    c.cmd("RCPT TO:<alice@[127.0.0.1]>", 250)
    c.cmd("RCPT TO:<alice@[192.0.2.77]>", 554, r"Relay access denied")
    c.cmd("RCPT TO:<alice>", 250)  # qualified with myorigin, which is local
    c.cmd("RCPT TO:<postmaster>", 250)
    c.cmd("DATA", 354)
    c.send("Subject: from outside\r\n\r\nhi\r\n.\r\n")
    qid = queued_id(c.expect(250))
    c.cmd("QUIT", 221)
    env, content = s.queued(qid)
    assert env["client_addr"] == "127.0.0.2"
    assert env["rcpt"] == ["alice@example.com", "ALICE@EXAMPLE.COM", "anyone@relay.example",
                           "anyone@sub.relay.example", "alice@[127.0.0.1]",
                           "alice@mail.example.com", "postmaster@mail.example.com"]
    # an untrusted client's message gets no Message-ID/Date/From
    assert b"\nMessage-ID:" not in content and b"\nDate:" not in content
    s.inst.wait_log(r"disconnect from \S+\[127\.0\.0\.2\]", since=mark)
    log = s.log()[mark:]
    assert re.search(r": NOQUEUE: reject: RCPT from \S+\[127\.0\.0\.2\]: 554 5\.7\.1 "
                     r"<x@remote\.example>: Relay access denied; from=<a@b\.example> "
                     r"to=<x@remote\.example> proto=ESMTP helo=<outside\.example>$", log, re.M)
    assert re.search(r": %s: reject: RCPT from \S+\[127\.0\.0\.2\]: 554 5\.7\.1 <alice@\[192"
                     % qid, log, re.M)
    assert re.search(r"disconnect from \S+\[127\.0\.0\.2\] ehlo=1 mail=1 rcpt=7/11 data=1 quit=1 "
                     r"commands=11/15$", log, re.M)
    # a trusted client relays, and gets the missing headers
    c = s.connect().greet()
    c.cmd("MAIL FROM:<a@b.example>", 250)
    c.cmd("RCPT TO:<x@remote.example>", 250)
    c.cmd("DATA", 354)
    c.send("Subject: relayed\r\n\r\nhi\r\n.\r\n")
    qid = queued_id(c.expect(250))
    env, content = s.queued(qid)
    assert env["rcpt"] == ["x@remote.example"]
    assert re.search(rb"\nSubject: relayed\nMessage-ID: <\d{14}\.%s@mail\.example\.com>\n"
                     rb"Date: [A-Z][a-z]{2}, .*\nFrom: a@b\.example\n\nhi\n$" % qid.encode(),
                     content)
    s.inst.wait_log(r": %s: message-id=<\d{14}\.%s@mail\.example\.com>$" % (qid, qid))


def test_mynetworks_cidr_table_and_ipv4_style(make_smtpd, tmp_path):
    table = tmp_path / "trusted.cidr"
    table.write_text("127.0.0.2/32 OK\n")
    s = make_smtpd(mynetworks="cidr:%s" % table)
    c = s.connect(source="127.0.0.2").greet()
    c.cmd("MAIL FROM:<a@b.example>", 250)
    c.cmd("RCPT TO:<x@remote.example>", 250)
    c.cmd("QUIT", 221)
    c = s.connect(source="127.0.0.3").greet()
    c.cmd("MAIL FROM:<a@b.example>", 250)
    c.cmd("RCPT TO:<x@remote.example>", 554, r"Relay access denied")
    c.cmd("QUIT", 221)


# ---------------------------------------------------------------- local recipients

def test_local_recipients(make_smtpd):
    s = make_smtpd(local_recipient_maps="unix:passwd.byname inline:{ alice=1 }")
    c = s.connect().greet()
    c.cmd("MAIL FROM:<a@b.example>", 250)
    c.cmd("RCPT TO:<nobody-here@example.com>", 550,
          r"^5\.1\.1 <nobody-here@example\.com>: Recipient address rejected: User unknown in "
          r"local recipient table$")
    c.cmd("RCPT TO:<root@example.com>", 250)  # a system user (unix:passwd.byname)
    c.cmd("RCPT TO:<Root@localhost>", 250)
    c.cmd("RCPT TO:<alice+tag@example.com>", 250)  # the extension is stripped
    c.cmd("RCPT TO:<nobody-here+alice@example.com>", 550)
    c.cmd("QUIT", 221)
    s.inst.wait_log(r"NOQUEUE: reject: RCPT from localhost\[127\.0\.0\.1\]: 550 5\.1\.1 "
                    r"<nobody-here@example\.com>: Recipient address rejected: User unknown in "
                    r"local recipient table; from=<a@b\.example> to=<nobody-here@example\.com> "
                    r"proto=ESMTP helo=<client\.example>")


def test_table_error_defers(make_smtpd, tmp_path):
    s = make_smtpd(local_recipient_maps="texthash:%s" % (tmp_path / "no-such-table"))
    c = s.connect().greet()
    c.cmd("MAIL FROM:<a@b.example>", 250)
    c.cmd("RCPT TO:<alice@example.com>", 451,
          r"^4\.3\.0 <alice@example\.com>: Temporary lookup failure$")
    c.cmd("RCPT TO:<x@remote.example>", 250)  # not local: the table is not asked
    c.cmd("QUIT", 221)
    # once the table exists, the same recipient is accepted (no restart)
    (tmp_path / "no-such-table").write_text("alice ok\n")
    c = s.connect().greet()
    c.cmd("MAIL FROM:<a@b.example>", 250)
    c.cmd("RCPT TO:<alice@example.com>", 250)
    c.cmd("QUIT", 221)


# ---------------------------------------------------------------- limits

def test_recipient_limit(make_smtpd):
    s = make_smtpd(smtpd_recipient_limit=3)
    c = s.connect().greet()
    c.cmd("MAIL FROM:<a@b.example>", 250)
    for user in ("alice", "bob", "postmaster"):
        c.cmd("RCPT TO:<%s@example.com>" % user, 250)
    c.cmd("RCPT TO:<alice+x@example.com>", 452, r"^4\.5\.3 Error: too many recipients$")
    c.cmd("DATA", 354)
    c.send("Subject: three\r\n\r\n.\r\n")
    qid = queued_id(c.expect(250))
    env, _ = s.queued(qid)
    assert len(env["rcpt"]) == 3


def test_hard_error_limit(make_smtpd):
    s = make_smtpd(smtpd_hard_error_limit=3, smtpd_soft_error_limit=2)
    mark = s.inst.log_mark()
    c = s.connect().greet()
    c.cmd("BOGUS1", 502)
    c.cmd("RCPT TO:<alice@example.com>", 503, r"^5\.5\.1 Error: need MAIL command$")
    t0 = time.monotonic()
    c.cmd("BOGUS3", 502)
    c.send("NOOP\r\n")
    c.expect(421, r"^4\.7\.0 mail\.example\.com Error: too many errors$")
    assert c.closed()
    s.inst.wait_log(r"too many errors after UNKNOWN from localhost\[127\.0\.0\.1\]", since=mark)
    s.inst.wait_log(r"disconnect from localhost\[127\.0\.0\.1\] ehlo=1 rcpt=0/1 unknown=0/2 "
                    r"commands=1/4", since=mark)
    assert time.monotonic() - t0 < 5  # smtpd_error_sleep_time = 0s


def test_error_sleep(make_smtpd):
    s = make_smtpd(smtpd_soft_error_limit=1, smtpd_error_sleep_time="1s")
    c = s.connect().greet()
    c.cmd("BOGUS", 502)
    t0 = time.monotonic()
    c.cmd("NOOP", 250)
    assert time.monotonic() - t0 >= 0.9


def test_junk_command_limit(make_smtpd):
    s = make_smtpd(smtpd_junk_command_limit=2, smtpd_hard_error_limit=3)
    c = s.connect().greet()
    for _ in range(2):
        c.cmd("NOOP", 250)
    for _ in range(3):  # each is an error now
        c.cmd("NOOP", 250)
    c.send("NOOP\r\n")
    c.expect(421, r"too many errors")


def test_timeout(make_smtpd):
    s = make_smtpd(smtpd_timeout="2s")
    mark = s.inst.log_mark()
    c = s.connect()
    c.expect(220)
    t0 = time.monotonic()
    c.expect(421, r"^4\.4\.2 mail\.example\.com Error: timeout exceeded$")
    assert 1.5 < time.monotonic() - t0 < 10
    assert c.closed()
    s.inst.wait_log(r"timeout after CONNECT from localhost\[127\.0\.0\.1\]", since=mark)
    # a timeout inside DATA leaves nothing in the queue
    c = s.connect().greet()
    c.cmd("MAIL FROM:<a@b.example>", 250)
    c.cmd("RCPT TO:<alice@example.com>", 250)
    c.cmd("DATA", 354)
    c.send("Subject: slow\r\n\r\npartial")
    c.expect(421, r"timeout exceeded")
    s.inst.wait_log(r"timeout after DATA \(\d+ bytes\) from localhost", since=mark)
    assert not s.incoming() and not s.incoming(".tmp")


def test_lost_connection_in_data(shared):
    mark = shared.inst.log_mark()
    before = set(shared.incoming())
    c = shared.connect().greet()
    c.cmd("MAIL FROM:<a@b.example>", 250)
    c.cmd("RCPT TO:<alice@example.com>", 250)
    c.cmd("DATA", 354)
    c.send("Subject: cut\r\n\r\nhalf a message")
    c.close()
    shared.inst.wait_log(r"lost connection after DATA \(\d+ bytes\) from localhost\[127\.0\.0\.1\]",
                         since=mark)
    shared.inst.wait_log(r"disconnect from localhost\[127\.0\.0\.1\] ehlo=1 mail=1 rcpt=1 "
                         r"data=0/1 commands=3/4", since=mark)
    assert set(shared.incoming()) == before


def test_kill_during_data_leaves_no_message(make_smtpd):
    s = make_smtpd()
    c = s.connect().greet()
    c.cmd("MAIL FROM:<a@b.example>", 250)
    c.cmd("RCPT TO:<alice@example.com>", 250)
    c.cmd("DATA", 354)
    c.send("Subject: doomed\r\n\r\n" + "line\r\n" * 1000)
    pids = wait_for("an smtpd process", s.smtpd_pids)
    for pid in pids:
        os.kill(pid, signal.SIGKILL)
    with pytest.raises((EOFError, ConnectionResetError)):
        c.send(".\r\n")
        c.reply()
    assert not s.incoming()


def test_hopcount_limit(make_smtpd):
    s = make_smtpd(hopcount_limit=5)
    c = s.connect().greet()
    c.cmd("MAIL FROM:<a@b.example>", 250)
    c.cmd("RCPT TO:<alice@example.com>", 250)
    c.cmd("DATA", 354)
    c.send("Received: from a\r\nReceived: from b\r\nReceived: from c\r\n"
           "Received: from d\r\n\r\nloop\r\n.\r\n")
    c.expect(554, r"^5\.4\.6 Too many hops$")
    c.cmd("MAIL FROM:<a@b.example>", 250)
    c.cmd("RCPT TO:<alice@example.com>", 250)
    c.cmd("DATA", 354)
    c.send("Received: from a\r\nReceived: from b\r\nReceived: from c\r\n\r\nok\r\n.\r\n")
    queued_id(c.expect(250))
    assert len(s.incoming()) == 1


def test_vrfy_disabled_and_helo_required(make_smtpd):
    s = make_smtpd(disable_vrfy_command="yes", smtpd_helo_required="yes")
    c = s.connect()
    c.expect(220)
    c.cmd("MAIL FROM:<a@b.example>", 503, r"^5\.5\.1 Error: send HELO/EHLO first$")
    lines = c.cmd("EHLO client.example", 250)
    assert "VRFY" not in lines
    c.cmd("VRFY alice", 502, r"^5\.5\.1 VRFY command is disabled$")
    c.cmd("MAIL FROM:<a@b.example>", 250)
    c.cmd("QUIT", 221)


def test_discard_ehlo_keywords(make_smtpd):
    s = make_smtpd(smtpd_discard_ehlo_keywords="dsn chunking", smtputf8_enable="no")
    c = s.connect()
    c.expect(220)
    lines = c.cmd("EHLO client.example", 250)
    assert "DSN" not in lines and "CHUNKING" not in lines and "SMTPUTF8" not in lines
    c.cmd("MAIL FROM:<a@b.example> RET=FULL", 555, r"^5\.5\.4 ")
    c.cmd("MAIL FROM:<a@b.example> SMTPUTF8", 555, r"^5\.5\.4 ")
    c.cmd("MAIL FROM:<a@b.example> BODY=8BITMIME", 250)
    c.cmd("QUIT", 221)


def test_storage_error_452(make_smtpd):
    """A file size limit stands in for a full disk: writing the queue file fails with EFBIG."""
    import resource
    old_limit = resource.getrlimit(resource.RLIMIT_FSIZE)
    old_handler = signal.signal(signal.SIGXFSZ, signal.SIG_IGN)
    resource.setrlimit(resource.RLIMIT_FSIZE, (200000, old_limit[1]))
    try:
        s = make_smtpd()  # master and smtpd inherit the limit
    finally:
        resource.setrlimit(resource.RLIMIT_FSIZE, old_limit)
        signal.signal(signal.SIGXFSZ, old_handler)
    mark = s.inst.log_mark()
    c = s.connect().greet()
    c.cmd("MAIL FROM:<a@b.example>", 250)
    c.cmd("RCPT TO:<alice@example.com>", 250)
    c.cmd("DATA", 354)
    c.send(b"Subject: big\r\n\r\n" + (b"x" * 998 + b"\r\n") * 400 + b".\r\n")
    c.expect(452, r"^4\.3\.1 Insufficient system storage$")
    c.cmd("NOOP", 250)  # the session goes on
    c.cmd("QUIT", 221)
    assert not s.incoming() and not s.incoming(".tmp")
    log = s.log()[mark:]
    # the detail is in the log, never in the reply
    assert re.search(r"warning: [0-9A-Z]{16}: write queue file: .*(File too large|limit)", log)


def test_queue_minfree(make_smtpd):
    s = make_smtpd(queue_minfree="1024g")
    c = s.connect().greet()
    c.cmd("MAIL FROM:<a@b.example>", 452, r"^4\.3\.1 Insufficient system storage$")
    c.cmd("QUIT", 221)
    s.inst.wait_log(r"warning: not enough free space in the mail queue")
    s = make_smtpd()
    c = s.connect().greet()
    c.cmd("MAIL FROM:<a@b.example> SIZE=%d" % (1 << 60), 552)  # over message_size_limit
    c.cmd("MAIL FROM:<a@b.example> SIZE=1000", 250)
    c.cmd("QUIT", 221)


def test_long_lines_and_slow_client(shared):
    """Lines longer than smtpd's read piece (8192 bytes), with the CR of a CRLF at every
    position around the piece boundary, and a client that sends one byte at a time:
    the stored content is exact and no bare CR is seen where there is none."""
    lines = [b"a" * n for n in (8190, 8191, 8192, 8193, 8194, 16384, 20000)]
    body = b"".join(line + b"\r\n" for line in lines)
    c = shared.connect().greet()
    c.cmd("MAIL FROM:<a@b.example>", 250)
    c.cmd("RCPT TO:<alice@example.com>", 250)
    c.cmd("DATA", 354)
    c.send(b"Subject: long\r\nDate: d\r\nFrom: f\r\nMessage-ID: <l@x>\r\n\r\n" + body + b".\r\n")
    qid = queued_id(c.expect(250))
    _, content = shared.queued(qid)
    assert content.split(b"\n\n", 1)[1] == b"".join(line + b"\n" for line in lines)
    c.cmd("MAIL FROM:<a@b.example>", 250)
    c.cmd("RCPT TO:<alice@example.com>", 250)
    c.cmd("DATA", 354)
    msg = b"Subject: slow\r\nDate: d\r\nFrom: f\r\nMessage-ID: <s@x>\r\n\r\n..x\r\n\r\n.\r\n"
    for i in range(len(msg)):
        c.send(msg[i:i + 1])
    qid = queued_id(c.expect(250))
    _, content = shared.queued(qid)
    assert content.endswith(b"\n\n.x\n\n")
    c.cmd("QUIT", 221)


def test_qmgr_is_woken_up(tmp_path, build_dir):
    """After the commit smtpd nudges qmgr: the message is delivered at once, long before
    qmgr's own queue scan (queue_run_delay) would find it."""
    agent = "tests/integration/testagent"
    if not os.access(os.path.join(build_dir, agent), os.X_OK):
        pytest.skip("qmgr's test agent is not built")
    agentdir = tmp_path / "agent"
    agentdir.mkdir()
    os.chmod(agentdir, 0o777)
    (agentdir / "control").write_text("* sent\n")
    os.chmod(agentdir / "control", 0o644)
    port = free_port()
    cfg = dict(BASE_CONFIG)
    cfg.update({"queue_run_delay": "300s", "default_transport": "testagent",
                "relay_transport": "testagent", "local_transport": "testagent"})
    inst = Instance(tmp_path / "inst", build_dir, config=cfg,
                    daemons=["master", "smtpd", "qmgr", agent],
                    master_cf=["127.0.0.1:%d inet n - n - - smtpd" % port,
                               "qmgr unix n - n 300 1 qmgr",
                               "testagent unix - - n - 10 testagent -L %s -C %s"
                               % (agentdir / "deliveries", agentdir / "control")])
    if not inst.has_daemon("qmgr"):
        pytest.skip("qmgr is not built")
    inst.start()
    time.sleep(1)  # let qmgr finish its start-up scan: only the nudge can find the message
    c = Client(port, "127.0.0.1", 10).greet()
    c.cmd("MAIL FROM:<a@b.example>", 250)
    c.cmd("RCPT TO:<x@remote.example>", 250)
    c.cmd("DATA", 354)
    c.send("Subject: nudge\r\n\r\nhi\r\n.\r\n")
    qid = queued_id(c.expect(250))
    c.cmd("QUIT", 221)
    log = agentdir / "deliveries"
    wait_for(lambda: "delivery of %s by the test agent\n%s" % (qid, inst.log_tail()),
             lambda: log.exists() and re.search(r"^%s 0 x@remote\.example sent" % qid,
                                                log.read_text(), re.M),
             timeout=15)
    assert not glob.glob(os.path.join(inst.spool, "incoming", qid + ".*"))


@pytest.mark.skipif(os.geteuid() != 0, reason="chroot needs root")
def test_chroot(tmp_path, build_dir):
    """smtpd chrooted to the queue directory (master.cf chroot = y) still queues mail, and a
    system-user table it cannot see defers (451) instead of rejecting everyone (550)."""
    port = free_port()
    cfg = dict(BASE_CONFIG)
    cfg["local_recipient_maps"] = "unix:passwd.byname inline:{ alice=1 }"
    inst = Instance(tmp_path / "inst", build_dir, config=cfg,
                    master_cf=["127.0.0.1:%d inet n - y - - smtpd" % port])
    if not inst.has_daemon("smtpd"):
        pytest.skip("smtpd is not built")
    inst.start()
    c = Client(port, "127.0.0.1", 10).greet()
    c.cmd("MAIL FROM:<a@b.example>", 250)
    c.cmd("RCPT TO:<root@example.com>", 451, r"^4\.3\.0 <root@example\.com>: Temporary lookup "
                                              r"failure$")
    c.cmd("RCPT TO:<x@remote.example>", 250)
    c.cmd("DATA", 354)
    c.send("Subject: chrooted\r\n\r\nhi\r\n.\r\n")
    qid = queued_id(c.expect(250))
    c.cmd("QUIT", 221)
    assert os.path.exists(os.path.join(inst.spool, "incoming", qid + ".msg"))
    inst.wait_log(r"unix:passwd\.byname: /etc/passwd is not reachable \(chroot\?\)")
