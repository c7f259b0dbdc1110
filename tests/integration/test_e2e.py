"""End to end: real master, smtpd, pickup, qmgr and local, driven the way
people and programs send mail (Python's smtplib, raw SMTP sockets, the build
tree's sendmail), checked the way a person checks: the message in the
Maildir or mbox byte for byte, the reply codes, the queue listing, the
delivery status notification in the sender's mailbox.

One instance serves the whole file (each test uses mailboxes of its own);
the tests that need other settings (queue lifetime) start their own.
Mailboxes without accounts come from local_mailbox_maps; as root, one test
account (in a private copy of /etc, bind-mounted in this process's own
mount namespace) receives mail through its .forward file.

Client addresses: all of 127.0.0.0/8 is local on Linux, so a client bound to
127.0.0.2 is "another host" for mynetworks = 127.0.0.1/32.
"""

import ctypes
import email
import email.policy
import json
import os
import pwd
import re
import shutil
import smtplib
import socket
import subprocess
import tempfile
import threading
import time

import pytest

from instance import Instance, free_port, wait_for

ROOT = os.geteuid() == 0
DOMAIN = "mail.example.com"
QID = r"[0-9A-HJKMNP-TV-Z]{16}"
NEED = ("smtpd/smtpd", "pickup/pickup", "qmgr/qmgr", "local/local", "tools/postalias",
        "tools/sendmail", "tools/postdrop", "tools/postqueue", "tools/postsuper")
TEST_USER = "postel-e2e"
UID_BASE = 61760

# Mailboxes without an account: name -> path under boxes/ (a trailing / is a Maildir).
MAILDIRS = ("va", "ab1", "ab2", "fw", "pl", "u8", "bd", "php", "rl", "s67", "s75", "sx",
            "held", "j\u00f6rg")
MBOXES = {"vq": "vq.mbox", "vm": "vm.mbox", "vm1": "vm.mbox", "vm2": "vm.mbox",
          "vm3": "vm.mbox", "vm4": "vm.mbox"}

MESSAGE = (b"From: Sender <sender@example.org>\r\n"
           b"To: va@mail.example.com\r\n"
           b"Date: Mon, 23 Nov 2026 10:00:00 +0000\r\n"
           b"Message-ID: <e2e-bytes@example.org>\r\n"
           b"Subject: end to end\r\n"
           b"X-Folded: one\r\n"
           b"\ttwo\r\n"
           b"\r\n"
           b"First line.\r\n"
           b"..a line that starts with a dot\r\n"
           b"  leading blanks and trailing blanks  \r\n"
           b"\r\n"
           b"Last line.\r\n")


_serial = [0]


def mail(subject, body, sender="sender@example.org", extra=b""):
    """A message with the headers smtpd would otherwise add (From, Date, Message-ID), so that
    what is delivered is exactly the trace headers and this."""
    _serial[0] += 1
    return (b"From: %s\nDate: Mon, 23 Nov 2026 10:00:00 +0000\n"
            b"Message-ID: <e2e-%d.%d@example.org>\nSubject: %s\n%s\n"
            % (sender.encode(), os.getpid(), _serial[0], subject.encode(), extra)) + body


def remove_tree(path):
    """Stop every instance under path (their pid files are there), then delete path."""
    for inst in Instance.created:
        if inst.dir.startswith(path + os.sep):
            inst.stop()
    shutil.rmtree(path, ignore_errors=True)


def need_built(build_dir, *rels):
    for rel in rels:
        if not os.access(os.path.join(build_dir, rel), os.X_OK):
            pytest.skip("%s is not built" % rel)


# ------------------------------------------------------------------ an account (as root)

def _unshare_mount_ns():
    """This process gets its own mount namespace (runtests may have given it one)."""
    try:
        private = os.readlink("/proc/self/ns/mnt") != os.readlink("/proc/1/ns/mnt")
    except OSError:
        private = False
    if not private:
        libc = ctypes.CDLL(None, use_errno=True)
        if libc.unshare(0x00020000) != 0:  # CLONE_NEWNS
            raise OSError(ctypes.get_errno(), "unshare(CLONE_NEWNS)")
    subprocess.run(["mount", "--make-rprivate", "/"], check=True, capture_output=True)


def _add_test_account(top):
    """As root: TEST_USER in a copy of /etc bind-mounted over /etc; its home under top."""
    _unshare_mount_ns()
    etc = os.path.join(top, "etc-copy")
    subprocess.run(["cp", "-a", "/etc", etc], check=True, capture_output=True)
    subprocess.run(["mount", "--bind", etc, "/etc"], check=True, capture_output=True)
    used = {p.pw_uid for p in pwd.getpwall()}
    uid = UID_BASE
    while uid in used:
        uid += 1
    home = os.path.join(top, "home")
    os.mkdir(home)
    os.chown(home, uid, uid)
    with open("/etc/passwd", "a") as pw, open("/etc/group", "a") as gr:
        pw.write("%s:x:%d:%d:Postel e2e:%s:/bin/sh\n" % (TEST_USER, uid, uid, home))
        gr.write("%s:x:%d:\n" % (TEST_USER, uid))
    return pwd.getpwnam(TEST_USER)


# ------------------------------------------------------------------ the instance

GATE = """#!/bin/sh
# Deliver into a file only once the gate is open; until then: try again later.
[ -e %(v)s/gate.open ] || { echo "gate closed"; exit 75; }
cat > %(v)s/out/gate.$$
"""

FLAKY = """#!/bin/sh
# The first attempt fails temporarily, the next one delivers.
if [ ! -e %(v)s/out/flaky.tried ]; then
    : > %(v)s/out/flaky.tried
    echo "not yet"
    exit 75
fi
cat > %(v)s/out/flaky.msg
"""

SAVE = """#!/bin/sh
{ echo "SENDER=$SENDER"; echo "RECIPIENT=$RECIPIENT"; echo "USER=$USER"; } > %(v)s/out/pipe.env
cat > %(v)s/out/pipe.msg
"""


class E2E:
    """An instance with every daemon, and helpers to send mail and read mailboxes."""

    def __init__(self, top, build_dir, config=None, name="inst", maildirs=()):
        self.top = top
        self.boxes = os.path.join(top, "boxes")
        self.out = os.path.join(top, "out")
        self.bin = os.path.join(top, "bin")
        for d in (self.boxes, self.out):
            os.makedirs(d, exist_ok=True)
            os.chmod(d, 0o1777)
        os.makedirs(self.bin, exist_ok=True)
        scripts = {"gate.sh": GATE, "flaky.sh": FLAKY, "save.sh": SAVE}
        for name_, text in scripts.items():
            path = os.path.join(self.bin, name_)
            with open(path, "w") as f:
                f.write(text % {"v": top})
            os.chmod(path, 0o755)
        entries = ["%s=%s/%s/" % (n, self.boxes, n) for n in MAILDIRS + tuple(maildirs)]
        entries += ["%s=%s/%s" % (n, self.boxes, f) for n, f in MBOXES.items()]
        self.port = free_port()
        settings = {
            "mynetworks": "127.0.0.1/32",
            "local_mailbox_maps": "inline:{ %s }" % ", ".join(entries),
            "local_recipient_maps": "unix:passwd.byname $alias_maps $local_mailbox_maps",
            "mail_spool_directory": os.path.join(top, name, "mail"),
            "home_mailbox": "Maildir/",
            "recipient_delimiter": "+",
            "transport_maps": "inline:{ relay.test=discard: }",
            "minimal_backoff_time": "1s",
            "maximal_backoff_time": "2s",
            "queue_run_delay": "1s",
            "command_time_limit": "20s",
            "smtpd_error_sleep_time": "0s",
        }
        settings.update(config or {})
        self.inst = Instance(os.path.join(top, name), build_dir, config=settings,
                             daemons=["master", "smtpd", "pickup", "qmgr", "local"],
                             master_cf=["127.0.0.1:%d inet n - n - - smtpd" % self.port,
                                        "pickup unix n - n 60 1 pickup",
                                        "qmgr unix n - n 300 1 qmgr",
                                        "local unix - n n - - local"])
        os.chmod(self.inst.mail, 0o1777)
        self.aliases(
            "postmaster: va\n"
            "a: ab1, ab2\n"
            'pipe: "|%(b)s/save.sh"\n'
            'fail67: "|echo no such person here; exit 67"\n'
            'flaky: "|%(b)s/flaky.sh"\n'
            'slow: "|%(b)s/gate.sh"\n'
            'never: "|echo still busy; exit 75"\n' % {"b": self.bin})

    def aliases(self, text):
        path = os.path.join(self.inst.etc, "aliases")
        with open(path, "w") as f:
            f.write(text)
        self.inst.run_tool("postalias", path, check=True)

    def start(self):
        self.inst.start()
        return self

    # -------------------------------------------------------- sending

    def smtp(self, source="127.0.0.1"):
        return Client("127.0.0.1", self.port, timeout=30, local_hostname="client.example",
                            source_address=(source, 0))

    def raw(self, source="127.0.0.1"):
        return Raw(self.port, source)

    def sendmail(self, *args, input=b""):
        env = dict(os.environ, POSTEL_CONFIG_DIR=self.inst.etc)
        argv = [self.inst.tool("sendmail"), "-C", self.inst.etc] + [str(a) for a in args]
        return subprocess.run(argv, input=input, capture_output=True, timeout=60, env=env)

    # -------------------------------------------------------- mailboxes

    def maildir(self, name, path=None):
        """The messages in the Maildir of name (new/), as bytes, oldest file name first."""
        new = os.path.join(path or os.path.join(self.boxes, name), "new")
        if not os.path.isdir(new):
            return []
        out = []
        for f in sorted(os.listdir(new)):
            with open(os.path.join(new, f), "rb") as fh:
                out.append(fh.read())
        return out

    def wait_maildir(self, name, count=1, timeout=30, path=None):
        wait_for(lambda: "%d message(s) in the Maildir of %s (have %d)\n%s"
                 % (count, name, len(self.maildir(name, path)), self.inst.log_tail()),
                 lambda: len(self.maildir(name, path)) >= count, timeout)
        msgs = self.maildir(name, path)
        assert len(msgs) == count, "%d messages in %s, expected %d" % (len(msgs), name, count)
        return msgs

    def read(self, path):
        with open(path, "rb") as f:
            return f.read()

    def queue_ids(self):
        ids = []
        for q in ("incoming", "active", "deferred", "hold", "maildrop"):
            d = os.path.join(self.inst.spool, q)
            ids += [n for n in os.listdir(d)] if os.path.isdir(d) else []
        return ids

    def postqueue(self, *args):
        return self.inst.run_tool("postqueue", *args, check=True).stdout

    def postsuper(self, *args):
        return self.inst.run_tool("postsuper", *args)


def crlf(data):
    """Message text with every line ending in CR LF, as SMTP wants it."""
    return data.replace(b"\r\n", b"\n").replace(b"\n", b"\r\n")


class Client(smtplib.SMTP):
    """smtplib with CR LF line ends in bytes messages (smtplib sends bytes as they are)."""

    def sendmail(self, from_addr, to_addrs, msg, *args, **kw):
        return super().sendmail(from_addr, to_addrs, crlf(msg), *args, **kw)

    def data(self, msg):
        return super().data(crlf(msg))


class Raw:
    """A raw SMTP client: exact bytes out, replies parsed."""

    def __init__(self, port, source):
        self.sock = socket.create_connection(("127.0.0.1", port), timeout=30,
                                             source_address=(source, 0))
        self.buf = b""

    def send(self, data):
        self.sock.sendall(data.encode() if isinstance(data, str) else data)

    def reply(self):
        lines = []
        while True:
            while b"\r\n" not in self.buf:
                chunk = self.sock.recv(65536)
                if not chunk:
                    raise EOFError("connection closed after %r" % lines)
                self.buf += chunk
            line, self.buf = self.buf.split(b"\r\n", 1)
            lines.append(line.decode("utf-8", "replace"))
            if line[3:4] != b"-":
                return int(line[:3]), "\n".join(x[4:] for x in lines)

    def expect(self, code):
        got, text = self.reply()
        assert got == code, "expected %d, got %d %s" % (code, got, text)
        return text

    def close(self):
        self.sock.close()


@pytest.fixture(scope="module")
def top():
    """The file's directory tree, reachable by unprivileged daemons (not pytest's basetemp,
    which another pytest run of the same user may make private again)."""
    path = tempfile.mkdtemp(prefix="postel-e2e.", dir="/tmp")
    os.chmod(path, 0o755)
    yield path
    remove_tree(path)


@pytest.fixture(scope="module")
def account(top):
    """The test account's pwd entry (as root), or None."""
    if not ROOT:
        yield None
        return
    yield _add_test_account(top)
    # The copy goes away with top: later tests of this process need the real /etc back.
    subprocess.run(["umount", "-l", "/etc"], check=True, capture_output=True)


@pytest.fixture(scope="module")
def e2e(top, account, build_dir):
    need_built(build_dir, *NEED)
    t = E2E(top, build_dir).start()
    yield t
    t.inst.stop()


def trace_headers(msg, sender, rcpt):
    """Check the lines local and smtpd put before the message; returns (qid, the rest)."""
    lines = msg.split(b"\n")
    assert lines[0] == b"Return-Path: <%s>" % sender.encode(), lines[0]
    assert lines[1] == b"Delivered-To: %s" % rcpt.encode(), lines[1]
    m = re.match(rb"Received: from client\.example \(localhost \[127\.0\.0\.1\]\)$", lines[2])
    assert m, lines[2]
    m = re.match(rb"\tby mail\.example\.com \(Postel\) with E?SMTP(?:UTF8)?S?A? id (%s)$"
                 % QID.encode(), lines[3])
    assert m, lines[3]
    qid = m.group(1).decode()
    assert re.match(rb"\tfor <%s>; \w{3}, \d{1,2} \w{3} \d{4} \d\d:\d\d:\d\d [+-]\d{4}"
                    % re.escape(rcpt.encode()), lines[4]), lines[4]
    return qid, b"\n".join(lines[5:])


def parse_mbox(data):
    """An mboxrd file into (From line, message) pairs; every message ends in one blank line."""
    assert data.startswith(b"From "), data[:80]
    assert data.endswith(b"\n\n")
    out = []
    for part in re.split(rb"\n\n(?=From )", data[:-2]):
        first, _, rest = part.partition(b"\n")
        out.append((first, rest + b"\n"))
    return out


# ------------------------------------------------------------------ delivery, byte for byte

def test_maildir_byte_for_byte_with_trace_headers(e2e):
    mark = e2e.inst.log_mark()
    with e2e.smtp() as s:
        assert s.sendmail("sender@example.org", ["va@mail.example.com"], MESSAGE) == {}
    (msg,) = e2e.wait_maildir("va")
    qid, rest = trace_headers(msg, "sender@example.org", "va@mail.example.com")
    # (smtplib dot-stuffs, smtpd un-stuffs: the leading dots arrive as they were sent.)
    assert rest == MESSAGE.replace(b"\r\n", b"\n")
    e2e.inst.wait_log(r"%s: removed" % qid, since=mark)
    log = e2e.inst.log_text()[mark:]
    assert re.search(r"%s: to=<va@mail\.example\.com>, relay=local, .*dsn=2\.0\.0, "
                     r"status=sent \(delivered to maildir\)" % qid, log)
    # The file name says its size as Maildir++ readers expect.
    new = os.path.join(e2e.boxes, "va", "new")
    (name,) = os.listdir(new)
    assert re.search(r",S=%d" % len(msg), name), name


def test_mbox_from_quoting(e2e):
    body = mail("quoting", b"From the start of a line.\n"
            b">From already quoted.\n"
            b">>From twice.\n"
            b"From\n"
            b"Fromage is not quoted.\n")
    with e2e.smtp() as s:
        s.sendmail("sender@example.org", ["vq@mail.example.com"], body)
        second = mail("second", b"From here.\n")
        s.sendmail("", ["vq@mail.example.com"], second)
    path = os.path.join(e2e.boxes, "vq.mbox")
    e2e.inst.wait_log(r"to=<vq@mail\.example\.com>, .*status=sent(.|\n)*"
                      r"to=<vq@mail\.example\.com>, .*status=sent", timeout=30)
    (f1, m1), (f2, m2) = parse_mbox(e2e.read(path))
    assert re.match(rb"From sender@example\.org \w{3} \w{3} [ \d]\d \d\d:\d\d:\d\d \d{4}$", f1)
    assert f2.startswith(b"From MAILER-DAEMON ")
    _, rest = trace_headers(m1, "sender@example.org", "vq@mail.example.com")
    head = body.split(b"\n\n")[0] + b"\n\n"
    assert rest == head + (b">From the start of a line.\n"
                           b">>From already quoted.\n"
                           b">>>From twice.\n"
                           b"From\n"
                           b"Fromage is not quoted.\n")
    _, rest = trace_headers(m2, "", "vq@mail.example.com")
    assert rest == second.replace(b"\n\nFrom here.", b"\n\n>From here.")
    assert not os.path.exists(path + ".lock")


def test_concurrent_sessions_to_one_mbox_never_interleave(e2e):
    """20 SMTP sessions at once, 10 messages each, to five names that share one mbox."""
    sessions, per = 20, 10
    names = ["vm", "vm1", "vm2", "vm3", "vm4"]
    errors = []

    def body(sess, n):
        text = b"".join(b"s%02d n%02d line %03d of a message long enough to be written "
                        b"in pieces\n" % (sess, n, k) for k in range(60))
        return (b"From: sender@example.org\nDate: Mon, 23 Nov 2026 10:00:00 +0000\n"
                b"Message-ID: <c-%02d-%02d@example.org>\nSubject: c %02d %02d\n"
                b"X-Serial: %02d-%02d\n\n" % (sess, n, sess, n, sess, n)) + text

    def session(sess):
        try:
            with e2e.smtp() as s:
                for n in range(per):
                    rcpt = "%s@mail.example.com" % names[(sess + n) % len(names)]
                    refused = s.sendmail("sender@example.org", [rcpt], body(sess, n))
                    if refused:
                        errors.append(refused)
        except Exception as e:  # noqa: BLE001 - reported below
            errors.append(repr(e))

    threads = [threading.Thread(target=session, args=(i,)) for i in range(sessions)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(90)
    assert errors == []
    path = os.path.join(e2e.boxes, "vm.mbox")

    def count():
        try:
            return e2e.read(path).count(b"\nX-Serial: ")
        except FileNotFoundError:
            return 0
    wait_for(lambda: "%d messages in vm.mbox (have %d)\n%s"
             % (sessions * per, count(), e2e.inst.log_tail()),
             lambda: count() >= sessions * per, 90, interval=0.2)
    msgs = parse_mbox(e2e.read(path))
    assert len(msgs) == sessions * per
    seen = set()
    for from_line, m in msgs:
        assert from_line.startswith(b"From sender@example.org ")
        serial = re.search(rb"\nX-Serial: (\d\d)-(\d\d)\n", m)
        assert serial, m[:300]
        sess, n = int(serial.group(1)), int(serial.group(2))
        rcpt = "%s@mail.example.com" % names[(sess + n) % len(names)]
        _, rest = trace_headers(m, "sender@example.org", rcpt)
        assert rest == body(sess, n), "message %d-%d is not intact" % (sess, n)
        seen.add((sess, n))
    assert len(seen) == sessions * per
    assert not os.path.exists(path + ".lock")


# ------------------------------------------------------------------ aliases, .forward, commands

def test_alias_to_two_mailboxes(e2e):
    with e2e.smtp() as s:
        msg = mail("alias", b"for a\n")
        s.sendmail("sender@example.org", ["a@mail.example.com"], msg)
    (m1,) = e2e.wait_maildir("ab1")
    (m2,) = e2e.wait_maildir("ab2")
    for m in (m1, m2):
        # Delivered-To: is the original recipient, as in Postfix.
        _, rest = trace_headers(m, "sender@example.org", "a@mail.example.com")
        assert rest == msg


def test_dot_forward(e2e, account):
    if account is None:
        pytest.skip("needs root (a test account with a home directory)")
    fwd = os.path.join(account.pw_dir, ".forward")
    with open(fwd, "w") as f:
        f.write("# keep a copy, send one on\nfw@mail.example.com, \\%s\n" % TEST_USER)
    os.chown(fwd, account.pw_uid, account.pw_gid)
    os.chmod(fwd, 0o644)
    rcpt = "%s@%s" % (TEST_USER, DOMAIN)
    with e2e.smtp() as s:
        msg = mail("forward", b"via .forward\n")
        s.sendmail("sender@example.org", [rcpt], msg)
    (m,) = e2e.wait_maildir("fw")
    _, rest = trace_headers(m, "sender@example.org", rcpt)
    assert rest == msg
    home_box = os.path.join(account.pw_dir, "Maildir")
    (mine,) = e2e.wait_maildir(TEST_USER, path=home_box)
    assert mine == m
    new = os.path.join(home_box, "new")
    assert os.stat(os.path.join(new, os.listdir(new)[0])).st_uid == account.pw_uid


def test_pipe_to_command(e2e):
    with e2e.smtp() as s:
        msg = mail("pipe", b"into a command\n")
        s.sendmail("sender@example.org", ["pipe@mail.example.com"], msg)
    msgfile = os.path.join(e2e.out, "pipe.msg")
    wait_for(lambda: "the command's output\n" + e2e.inst.log_tail(),
             lambda: os.path.exists(msgfile) and e2e.read(msgfile).endswith(b"command\n"), 30)
    data = e2e.read(msgfile)
    first, _, rest = data.partition(b"\n")
    assert first.startswith(b"From sender@example.org ")
    _, rest = trace_headers(rest, "sender@example.org", "pipe@mail.example.com")
    assert rest == msg
    env = e2e.read(os.path.join(e2e.out, "pipe.env")).decode()
    assert "SENDER=sender@example.org\n" in env
    assert "RECIPIENT=pipe@mail.example.com\n" in env
    e2e.inst.wait_log(r"to=<pipe@mail\.example\.com>, relay=local, .*status=sent "
                      r"\(delivered to command: ")


# ------------------------------------------------------------------ SMTP behaviour

def test_unknown_user_550(e2e):
    with e2e.smtp() as s:
        s.ehlo()
        assert s.mail("sender@example.org")[0] == 250
        code, text = s.rcpt("nosuchuser@mail.example.com")
        assert code == 550 and text.startswith(b"5.1.1 <nosuchuser@mail.example.com>"), text
    e2e.inst.wait_log(r"NOQUEUE: reject: RCPT from localhost\[127\.0\.0\.1\]: 550 5\.1\.1 "
                      r"<nosuchuser@mail\.example\.com>")


def test_relay_refused_from_outside_allowed_from_mynetworks(e2e):
    with e2e.smtp(source="127.0.0.2") as s:
        s.ehlo()
        s.mail("sender@example.org")
        code, text = s.rcpt("x@relay.test")
        assert code == 554 and b"5.7.1" in text and b"Relay access denied" in text, text
        # Local mail is still welcome from anywhere.
        assert s.rcpt("rl@mail.example.com")[0] == 250
        s.data(b"Subject: from outside\n\nhello\n")
    (m,) = e2e.wait_maildir("rl")
    assert re.search(rb"\nReceived: from client\.example \([^ ]+ \[127\.0\.0\.2\]\)\n",
                     b"\n" + m), m
    mark = e2e.inst.log_mark()
    with e2e.smtp() as s:
        assert s.sendmail("sender@example.org", ["x@relay.test"], b"Subject: relayed\n\nok\n") \
            == {}
    e2e.inst.wait_log(r"to=<x@relay\.test>, relay=none, .*status=sent", since=mark, timeout=30)


def test_pipelined_session(e2e):
    c = e2e.raw()
    c.expect(220)
    c.send("EHLO client.example\r\n")
    assert "PIPELINING" in c.expect(250)
    c.send("MAIL FROM:<sender@example.org>\r\nRCPT TO:<pl@mail.example.com>\r\n"
           "RCPT TO:<nobody-at-all@mail.example.com>\r\nRCPT TO:<PL+x@mail.example.com>\r\n"
           "DATA\r\n")
    c.expect(250)
    c.expect(250)
    c.expect(550)
    c.expect(250)
    c.expect(354)
    msg = mail("pipelined", b"body\n")
    c.send(crlf(msg) + b".\r\nQUIT\r\n")
    assert re.search(r"queued as %s" % QID, c.expect(250))
    c.expect(221)
    c.close()
    msgs = e2e.wait_maildir("pl", 2)
    dtos = sorted(m.split(b"\n")[1] for m in msgs)
    assert dtos == [b"Delivered-To: pl+x@mail.example.com", b"Delivered-To: pl@mail.example.com"]
    for m in msgs:
        # Two recipients: no "for" clause in Received:, the date on a line of its own.
        lines = m.split(b"\n")
        assert lines[2] == b"Received: from client.example (localhost [127.0.0.1])"
        assert re.match(rb"\tby mail\.example\.com \(Postel\) with ESMTP id %s;$"
                        % QID.encode(), lines[3]), lines[3]
        assert re.match(rb"\t\w{3}, \d{1,2} \w{3} \d{4} \d\d:\d\d:\d\d [+-]\d{4}", lines[4])
        assert b"\n".join(lines[5:]) == msg


def test_8bit_and_smtputf8_intact(e2e):
    body8 = mail("=?utf-8?q?Gr=C3=BC=C3=9Fe?=", b"\xe9t\xe9 \xff\xfe raw 8-bit bytes\n",
                 extra=b"Content-Type: text/plain; charset=latin1\n"
                       b"Content-Transfer-Encoding: 8bit\n")
    utf8 = ("From: J\u00f6rg <j\u00f6rg@example.org>\nDate: Mon, 23 Nov 2026 10:00:00 +0000\n"
            "Message-ID: <utf8@example.org>\nSubject: Gr\u00fc\u00dfe \u2603\n"
            "\nUnicode body \u00e4\u00f6\u00fc \u2603\n").encode()
    with e2e.smtp() as s:
        s.ehlo()
        assert s.has_extn("8bitmime") and s.has_extn("smtputf8")
        assert s.sendmail("sender@example.org", ["u8@mail.example.com"], body8,
                          mail_options=["BODY=8BITMIME"]) == {}
        assert s.sendmail("j\u00f6rg@example.org", ["u8@mail.example.com",
                                                     "j\u00f6rg@mail.example.com"], utf8,
                          mail_options=["SMTPUTF8", "BODY=8BITMIME"]) == {}
    msgs = e2e.wait_maildir("u8", 2)
    assert sum(m.endswith(b"\n" + body8) for m in msgs) == 1, msgs
    uni = [m for m in msgs if "j\u00f6rg".encode() in m]
    assert len(uni) == 1
    assert uni[0].startswith("Return-Path: <j\u00f6rg@example.org>\n".encode())
    assert uni[0].endswith(b"\n" + utf8)
    (other,) = e2e.wait_maildir("j\u00f6rg")
    assert other.endswith(b"\n" + utf8)
    assert "\nDelivered-To: j\u00f6rg@mail.example.com\n".encode() in other


def test_bdat(e2e):
    c = e2e.raw()
    c.expect(220)
    c.send("EHLO client.example\r\n")
    assert "CHUNKING" in c.expect(250)
    c.send("MAIL FROM:<sender@example.org>\r\n")
    c.expect(250)
    c.send("RCPT TO:<bd@mail.example.com>\r\n")
    c.expect(250)
    head = crlf(mail("chunks", b""))
    chunks = [head + b"first chunk, ", b"split line\r\n.\r\nno dot-stuffing\r\n", b"last\r\n"]
    for i, ch in enumerate(chunks):
        last = " LAST" if i == len(chunks) - 1 else ""
        c.send(b"BDAT %d%s\r\n" % (len(ch), last.encode()) + ch)
        c.expect(250)
    c.send("QUIT\r\n")
    c.expect(221)
    c.close()
    (m,) = e2e.wait_maildir("bd")
    _, rest = trace_headers(m, "sender@example.org", "bd@mail.example.com")
    assert rest == b"".join(chunks).replace(b"\r\n", b"\n")


def test_sendmail_t_i_as_php_calls_it(e2e):
    """PHP's mail(): popen("sendmail -t -i"), CR LF between headers (PHP 8), LF in the body."""
    msg = (b"To: php@mail.example.com\r\n"
           b"Subject: from PHP\r\n"
           b"X-PHP-Originating-Script: 0:contact.php\r\n"
           b"From: web@example.org\r\n"
           b"\r\n"
           b"Hello from a web form.\n"
           b".\n"
           b"the dot above stays\n")
    r = e2e.sendmail("-t", "-i", input=msg)
    assert r.returncode == 0, r.stderr
    (m,) = e2e.wait_maildir("php")
    head, _, body = m.partition(b"\n\n")
    assert body == b"Hello from a web form.\n.\nthe dot above stays\n"
    assert b"\nSubject: from PHP\n" in head and b"\r" not in m
    assert b"\nFrom: web@example.org\n" in head
    assert b"\nMessage-ID: <" in head and b"\nDate: " in head
    me = pwd.getpwuid(os.getuid()).pw_name
    assert m.startswith(b"Return-Path: <%s@mail.example.com>\n" % me.encode())


# ------------------------------------------------------------------ the queue tools

def test_postqueue_postsuper_on_real_mail(e2e):
    """Deferred mail is listed (-p, -j); -d deletes, -h holds (no delivery while held),
    -H releases and it is delivered."""
    gate = os.path.join(e2e.top, "gate.open")
    assert not os.path.exists(gate)
    mark = e2e.inst.log_mark()
    qids = []
    with e2e.smtp() as s:
        for n in range(2):
            s.mail("held@mail.example.com")
            assert s.rcpt("slow@mail.example.com")[0] == 250
            code, text = s.data(mail("held %d" % n, b"waiting\n", sender="held@mail.example.com"))
            assert code == 250
            qids.append(re.search(QID.encode(), text).group(0).decode())
    for qid in qids:
        e2e.inst.wait_log(r"%s: to=<slow@mail\.example\.com>, relay=local, .*dsn=4\.3\.0, "
                          r"status=deferred \(.*gate closed" % qid, since=mark, timeout=30)

    out = e2e.postqueue("-p")
    for qid in qids:
        assert re.search(r"^%s[ *]\s+\d+ \w{3} \w{3} [ \d]\d \d\d:\d\d:\d\d "
                         r"held@mail\.example\.com$" % qid, out, re.M), out
    assert "gate closed" in out
    assert out.count(" " * 47 + "slow@mail.example.com") == 2
    assert re.search(r"^-- \d+ Kbytes in 2 Requests\.$", out, re.M), out
    listing = [json.loads(line) for line in e2e.postqueue("-j").splitlines()]
    assert sorted(x["queue_id"] for x in listing) == sorted(qids)
    for x in listing:
        assert x["sender"] == "held@mail.example.com"
        assert x["queue_name"] in ("deferred", "active")
        assert x["recipients"][0]["address"] == "slow@mail.example.com"
        if x["queue_name"] == "deferred":
            assert "gate closed" in x["recipients"][0]["delay_reason"]

    # -d: gone from the queue and the listing, logged as removed.
    def until_ok(*args):
        """postsuper acts on deferred/hold files: retry while qmgr has it active."""
        r = None
        deadline = time.monotonic() + 20
        while time.monotonic() < deadline:
            r = e2e.postsuper(*args)
            if r.returncode == 0 and re.search(r": [1-9]\d* message", r.stderr):
                return r
            time.sleep(0.2)
        raise AssertionError("postsuper %s: %s %s" % (args, r.returncode, r.stderr))

    r = until_ok("-d", qids[1])
    assert "Deleted: 1 message" in r.stderr
    e2e.inst.wait_log(r"postsuper\[\d+\]: %s: removed" % qids[1], since=mark)
    assert qids[1] not in e2e.postqueue("-p")

    # -h: held, listed with "!", and not delivered even once the gate is open.
    r = until_ok("-h", qids[0])
    assert "Placed on hold: 1 message" in r.stderr
    assert re.search(r"^%s!" % qids[0], e2e.postqueue("-p"), re.M)
    with open(gate, "w"):
        pass
    time.sleep(3)  # longer than queue_run_delay + maximal_backoff_time
    assert not any(n.startswith("gate.") for n in os.listdir(e2e.out))
    assert os.path.exists(os.path.join(e2e.inst.spool, "hold", qids[0] + ".msg"))

    # -H: released, due now, delivered.
    r = until_ok("-H", qids[0])
    assert "Released from hold: 1 message" in r.stderr
    e2e.inst.wait_log(r"%s: to=<slow@mail\.example\.com>, relay=local, .*status=sent" % qids[0],
                      since=mark, timeout=20)
    e2e.inst.wait_log(r"qmgr\[\d+\]: %s: removed" % qids[0], since=mark)
    outs = [n for n in os.listdir(e2e.out) if n.startswith("gate.")]
    assert len(outs) == 1
    assert e2e.read(os.path.join(e2e.out, outs[0])).endswith(b"\nSubject: held 0\n\nwaiting\n")
    assert "Mail queue is empty" in e2e.postqueue("-p")


# ------------------------------------------------------------------ failures and retries

def parse_dsn(raw):
    msg = email.message_from_bytes(raw, policy=email.policy.default)
    assert msg.get_content_type() == "multipart/report"
    assert msg.get_param("report-type") == "delivery-status"
    assert not msg.defects, msg.defects
    parts = list(msg.iter_parts())
    assert [p.get_content_type() for p in parts][:2] == ["text/plain", "message/delivery-status"]
    blocks = parts[1].get_payload()
    return msg, parts, blocks[0], blocks[1:]


def test_permanent_failure_dsn_in_senders_mailbox(e2e):
    """A command that exits 67 (EX_NOUSER): a bounce the email package reads as RFC 3464."""
    mark = e2e.inst.log_mark()
    with e2e.smtp() as s:
        s.sendmail("s67@mail.example.com", ["fail67@mail.example.com"],
                   b"Message-ID: <orig-67@example.org>\nSubject: will bounce\n\nbody\n")
    m = e2e.inst.wait_log(r"(%s): to=<fail67@mail\.example\.com>, relay=local, .*dsn=5\.1\.1, "
                          r"status=bounced \(.*no such person here" % QID, since=mark, timeout=30)
    qid = m.group(1)
    (raw,) = e2e.wait_maildir("s67")
    assert raw.startswith(b"Return-Path: <>\nDelivered-To: s67@mail.example.com\n")
    msg, parts, per_msg, per_rcpt = parse_dsn(raw.split(b"\n", 2)[2])
    assert msg["To"] == "s67@mail.example.com"
    assert "MAILER-DAEMON" in msg["From"]
    assert per_msg["Reporting-MTA"] == "dns; mail.example.com"
    assert len(per_rcpt) == 1
    r = per_rcpt[0]
    assert r["Final-Recipient"] == "rfc822; fail67@mail.example.com"
    assert r["Action"] == "failed"
    assert r["Status"] == "5.1.1"
    assert "no such person here" in parts[0].get_content()
    assert msg["In-Reply-To"] == "<orig-67@example.org>"
    e2e.inst.wait_log(r"%s: sender non-delivery notification: %s" % (qid, QID), since=mark)


def test_temporary_failure_then_delivered_on_retry(e2e):
    mark = e2e.inst.log_mark()
    with e2e.smtp() as s:
        msg = mail("second time lucky", b"body\n", sender="s75@mail.example.com")
        s.sendmail("s75@mail.example.com", ["flaky@mail.example.com"], msg)
    m = e2e.inst.wait_log(r"(%s): to=<flaky@mail\.example\.com>, relay=local, .*dsn=4\.3\.0, "
                          r"status=deferred \(.*not yet" % QID, since=mark, timeout=30)
    qid = m.group(1)
    e2e.inst.wait_log(r"%s: to=<flaky@mail\.example\.com>, relay=local, .*dsn=2\.0\.0, "
                      r"status=sent" % qid, since=mark, timeout=20)
    e2e.inst.wait_log(r"%s: removed" % qid, since=mark)
    data = e2e.read(os.path.join(e2e.out, "flaky.msg"))
    assert data.endswith(b"\n" + msg)
    # No bounce, no delay warning for the sender.
    assert e2e.maildir("s75") == []


def test_queue_lifetime_expiry_bounces_to_sender(build_dir):
    need_built(build_dir, *NEED)
    path = tempfile.mkdtemp(prefix="postel-e2e-x.", dir="/tmp")
    os.chmod(path, 0o755)
    try:
        t = E2E(path, build_dir, config={"maximal_queue_lifetime": "3s",
                                         "bounce_queue_lifetime": "3s"}).start()
        mark = t.inst.log_mark()
        with t.smtp() as s:
            s.sendmail("sx@mail.example.com", ["never@mail.example.com"],
                       b"Message-ID: <orig-x@example.org>\nSubject: never delivered\n\nbody\n")
        m = t.inst.wait_log(r"(%s): from=<sx@mail\.example\.com>, status=expired, returned to "
                            r"sender" % QID, since=mark, timeout=30)
        qid = m.group(1)
        (raw,) = t.wait_maildir("sx", timeout=20)
        msg, parts, per_msg, per_rcpt = parse_dsn(raw.split(b"\n", 2)[2])
        assert msg["To"] == "sx@mail.example.com"
        assert len(per_rcpt) == 1
        assert per_rcpt[0]["Final-Recipient"] == "rfc822; never@mail.example.com"
        assert per_rcpt[0]["Action"] == "failed"
        assert per_rcpt[0]["Status"].startswith("4.")
        assert "still busy" in parts[0].get_content() or "still busy" in str(per_rcpt[0])
        t.inst.wait_log(r"%s: removed" % qid, since=mark)
    finally:
        remove_tree(path)
