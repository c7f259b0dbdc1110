"""Integration tests of postqueue(1) and postsuper(1) on a real queue directory,
and of the delivery status notifications that the bounce module queues.

Queue files are made with tests/integration/queue_tool (the queue_file API),
so these tests need no running daemon; a stand-in for qmgr's public socket
checks what postqueue -f and -i send."""

import email
import email.policy
import json
import os
import re
import socket
import subprocess
import threading
import time

import pytest

from instance import Instance

QUEUE_ID = re.compile(r"^[0-9A-HJKMNP-TV-Z]{16}$")


class Queue:
    """An instance's queue, with helpers that run the build tree's programs."""

    def __init__(self, inst):
        self.inst = inst
        self.spool = inst.spool
        self.tool_path = os.path.join(inst.build_dir, "tests", "integration", "queue_tool")
        if not os.access(self.tool_path, os.X_OK):
            pytest.skip("queue_tool is not built (make tests/integration/queue_tool)")

    def _user(self):
        # As root, queue files belong to mail_owner, as the daemons would write them.
        # (group too: root's group may lack the search permission that others have).
        if not self.inst.root:
            return {}
        return {"user": self.inst.mail_owner, "group": self.inst.mail_owner, "extra_groups": []}

    def tool(self, *args, input=b"", check=True):
        r = subprocess.run([self.tool_path] + [str(a) for a in args], input=input,
                           capture_output=True, timeout=30, **self._user())
        if check and r.returncode != 0:
            raise AssertionError("queue_tool %s: %s" % (args, r.stderr.decode(errors="replace")))
        return r

    def create(self, queue, content=b"Subject: test\n\nbody\n", sender="sender@example.org",
               rcpts=("rcpt@example.net",), extra=()):
        args = ["create", os.path.join(self.spool, queue), "-f", sender]
        for r in rcpts:
            args += ["-r", r]
        args += list(extra)
        qid = self.tool(*args, input=content).stdout.decode().strip()
        assert QUEUE_ID.match(qid), qid
        return qid

    def path(self, queue, qid):
        return os.path.join(self.spool, queue, qid + ".msg")

    def ids(self, queue):
        return sorted(n[:-4] for n in os.listdir(os.path.join(self.spool, queue)) if n.endswith(".msg"))

    def envelope(self, queue, qid):
        out = self.tool("envelope", self.path(queue, qid)).stdout.decode()
        return out.splitlines()

    def postqueue(self, *args, **kw):
        return self.inst.run_tool("postqueue", *args, **kw)

    def postsuper(self, *args, **kw):
        return self.inst.run_tool("postsuper", *args, **kw)


@pytest.fixture
def queue(tmp_path, build_dir):
    for prog in ("postqueue", "postsuper"):
        if not os.access(os.path.join(build_dir, "tools", prog), os.X_OK):
            pytest.skip("tools/%s is not built" % prog)
    inst = Instance(tmp_path / "inst", build_dir)
    inst.check()
    yield Queue(inst)
    inst.stop()


class FakeQmgr:
    """A listener on public/qmgr that records the bytes of each request."""

    def __init__(self, spool):
        self.path = os.path.join(spool, "public", "qmgr")
        self.sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        self.sock.bind(self.path)
        self.sock.listen(8)
        self.sock.settimeout(10)
        self.requests = []
        self.thread = threading.Thread(target=self._serve, daemon=True)
        self.thread.start()

    def _serve(self):
        try:
            while True:
                conn, _ = self.sock.accept()
                conn.settimeout(5)
                data = b""
                while True:
                    chunk = conn.recv(100)
                    if not chunk:
                        break
                    data += chunk
                conn.close()
                self.requests.append(data)
        except OSError:
            pass

    def wait(self, count=1):
        deadline = time.time() + 10
        while len(self.requests) < count and time.time() < deadline:
            time.sleep(0.02)
        return self.requests

    def close(self):
        self.sock.close()
        os.unlink(self.path)


# ---------------------------------------------------------------- postqueue -p / -j

def test_empty_queue(queue):
    r = queue.postqueue("-p", check=True)
    assert r.stdout == "Mail queue is empty\n"
    r = queue.postqueue("-j", check=True)
    assert r.stdout == ""


def test_mailq_format(queue):
    active = queue.create("active", sender="", rcpts=("a1@example.net",))
    deferred = queue.create("deferred", content=b"Subject: x\n\n" + b"y" * 3000 + b"\n",
                            rcpts=("d1@example.net", "d2@example.net", "d3@example.net",
                                   "done@example.net"))
    queue.tool("status", queue.path("deferred", deferred), 0, "deferred", "4.4.1",
               "mx.example.net[192.0.2.1]", "smtp; 421 4.4.1 try again later")
    queue.tool("status", queue.path("deferred", deferred), 1, "deferred", "4.4.1",
               "mx.example.net[192.0.2.1]", "smtp; 421 4.4.1 try again later")
    queue.tool("status", queue.path("deferred", deferred), 3, "delivered", "2.0.0", "",
               "x-unix; delivered to mailbox")
    held = queue.create("hold", sender="held@example.org", rcpts=("h1@example.net",))

    out = queue.postqueue("-p", check=True).stdout
    lines = out.splitlines()
    assert lines[0] == "----Queue ID----- --Size-- ---Arrival Time---- --Sender/Recipient------"
    # Showq's order: incoming, active, deferred, hold; a blank line between messages.
    assert re.match(r"^%s\*\s+\d+ \w{3} \w{3} [ \d]\d \d\d:\d\d:\d\d MAILER-DAEMON$" % active,
                    lines[1])
    assert lines[2] == " " * 47 + "a1@example.net"
    assert lines[3] == ""
    m = re.match(r"^(%s) +(\d+) (.{19}) sender@example.org$" % deferred, lines[4])
    assert m and int(m.group(2)) == len(b"Subject: x\n\n") + 3001
    reason = "(host mx.example.net[192.0.2.1] said: 421 4.4.1 try again later)"
    assert lines[5] == " " * (78 - len(reason)) + reason
    assert lines[6] == " " * 47 + "d1@example.net"
    # Same reason again: not repeated; no reason after a reason: "reason unavailable".
    assert lines[7] == " " * 47 + "d2@example.net"
    assert lines[8].strip() == "(reason unavailable)"
    assert lines[9] == " " * 47 + "d3@example.net"
    assert "done@example.net" not in out
    assert lines[10] == ""
    assert re.match(r"^%s!\s+\d+ .{19} held@example.org$" % held, lines[11])
    assert lines[12] == " " * 47 + "h1@example.net"
    assert lines[13] == ""
    total = 2 * len(b"Subject: test\n\nbody\n") + len(b"Subject: x\n\n") + 3001
    assert lines[14] == "-- %d Kbytes in 3 Requests." % (total // 1024)
    assert len(lines) == 15


def test_mailq_json(queue):
    nasty = 'we"ird\\user\ttab@example.net'
    qid = queue.create("deferred", sender="s\xe9nder@example.org".encode().decode(),
                       rcpts=(nasty, "\u00fcber@example.net", "ok@example.net"), extra=["-U"])
    queue.tool("status", queue.path("deferred", qid), 0, "deferred", "4.7.1", "",
               'smtp; 450 4.7.1 "greylisted" \\ come back')
    single = queue.create("incoming", sender="", rcpts=("x@example.net",))
    out = queue.postqueue("-j", check=True).stdout
    lines = out.splitlines()
    assert len(lines) == 2
    objs = [json.loads(line) for line in lines]
    first, second = objs
    assert first["queue_name"] == "incoming" and first["queue_id"] == single
    assert first["sender"] == "" and first["forced_expire"] is False
    assert first["recipients"] == [{"address": "x@example.net"}]
    assert second["queue_name"] == "deferred"
    assert second["queue_id"] == qid
    assert second["sender"] == "s\xe9nder@example.org"
    assert second["message_size"] == len(b"Subject: test\n\nbody\n")
    assert abs(second["arrival_time"] - time.time()) < 120
    assert second["recipients"][0] == {"address": nasty,
                                       "delay_reason": '450 4.7.1 "greylisted" \\ come back'}
    assert second["recipients"][1] == {"address": "\u00fcber@example.net"}
    assert second["recipients"][2] == {"address": "ok@example.net"}
    # Control characters never reach the terminal raw.
    assert "\t" not in queue.postqueue("-p", check=True).stdout


def maildrop_record(kind, data=b""):
    return kind + len(data).to_bytes(4, "big") + data


def test_maildrop_listed(queue):
    """Files that postdrop left for pickup are listed too, with their file time."""
    body = b"Subject: dropped\n\nhello\n"
    data = (b"POSTEL-MAILDROP 1\n" + maildrop_record(b"S", b"local@example.org")
            + maildrop_record(b"R", b"one@example.net") + maildrop_record(b"R", b"two@example.net")
            + maildrop_record(b"M", body) + maildrop_record(b"E"))
    qid = "1K0Z28EP15800WV7"
    path = os.path.join(queue.spool, "maildrop", qid)
    with open(path, "wb") as f:
        f.write(data)
    # Half-written files and strangers are not listed.
    with open(os.path.join(queue.spool, "maildrop", "1K0Z28EP15800WV8"), "wb") as f:
        f.write(data[:30])
    with open(os.path.join(queue.spool, "maildrop", "notes.txt"), "wb") as f:
        f.write(b"x")
    os.utime(path, (1700000000, 1700000000))
    objs = [json.loads(line) for line in queue.postqueue("-j", check=True).stdout.splitlines()]
    assert objs == [{"queue_name": "maildrop", "queue_id": qid, "arrival_time": 1700000000,
                     "message_size": len(body), "forced_expire": False,
                     "sender": "local@example.org",
                     "recipients": [{"address": "one@example.net"}, {"address": "two@example.net"}]}]
    out = queue.postqueue("-p", check=True).stdout.splitlines()
    assert re.match(r"^%s  +%d .{19} local@example.org$" % (qid, len(body)), out[1])
    assert out[2].strip() == "one@example.net" and out[3].strip() == "two@example.net"


def test_postqueue_usage_and_bad_id(queue):
    r = queue.postqueue()
    assert r.returncode != 0 and "usage: postqueue" in r.stderr
    r = queue.postqueue("-p", "-j")
    assert r.returncode != 0 and "usage" in r.stderr
    for bad in ("../etc/passwd", "ALL", "1k0z28ep15800wv3", "1K0Z28EP15800WV3.msg", ""):
        r = queue.postqueue("-i", bad)
        assert r.returncode != 0, bad
        assert "invalid queue ID" in r.stderr, r.stderr
    for bad in ("", "bad..site", ".x", "a b", "[192.0.2.1]", "x" * 256):
        r = queue.postqueue("-s", bad)
        assert r.returncode == 64, bad
        assert "invalid site name" in r.stderr, r.stderr


# ---------------------------------------------------------------- postqueue -f / -i

def test_flush_without_qmgr(queue):
    r = queue.postqueue("-f")
    assert r.returncode == 69
    assert "mail system is down" in r.stderr
    r = queue.postqueue("-s", "example.com")
    assert r.returncode == 69
    assert "mail system is down" in r.stderr


def test_flush_and_deliver_one(queue):
    fake = FakeQmgr(queue.spool)
    try:
        queue.postqueue("-f", check=True)
        assert fake.wait(1)[0] == b"F"

        qid = queue.create("deferred", rcpts=("a@example.net", "b@example.net"))
        queue.tool("status", queue.path("deferred", qid), 0, "deferred", "4.4.1", "",
                   "x-unix; later")
        queue.postqueue("-i", qid, check=True)
        assert fake.wait(2)[1] == b"I"
        assert queue.ids("deferred") == []
        assert queue.ids("incoming") == [qid]
        env = queue.envelope("incoming", qid)
        assert "rcpt=a@example.net status=deferred" in env

        r = queue.postqueue("-i", "1K0Z28EP15800WV3")
        assert r.returncode != 0 and "no such message" in r.stderr
    finally:
        fake.close()


# ---------------------------------------------------------------- postsuper

def test_delete(queue):
    ids = [queue.create("deferred") for _ in range(3)]
    held = queue.create("hold")
    r = queue.postsuper("-d", ids[0], check=True)
    assert "postsuper: %s: removed" % ids[0] in r.stderr
    assert "postsuper: Deleted: 1 message\n" in r.stderr
    assert queue.ids("deferred") == sorted(ids[1:])
    # In the log file too.
    assert "%s: removed" % ids[0] in queue.inst.log_text()

    # Not there: nothing, no error.
    r = queue.postsuper("-d", ids[0], check=True)
    assert "Deleted" not in r.stderr

    # From standard input, with a junk line that is refused.
    r = queue.postsuper("-d", "-", input="%s\n../../etc/passwd\n\n%s\n" % (ids[1], held))
    assert "invalid queue ID" in r.stderr
    assert "Deleted: 2 messages" in r.stderr
    assert queue.ids("hold") == [] and queue.ids("deferred") == [ids[2]]

    # ALL, restricted to a queue.
    keep = queue.create("incoming")
    r = queue.postsuper("-d", "ALL", "deferred", check=True)
    assert "Deleted: 1 message" in r.stderr
    assert queue.ids("deferred") == [] and queue.ids("incoming") == [keep]
    queue.postsuper("-d", "ALL", check=True)
    assert queue.ids("incoming") == []


def test_hold_release_requeue(queue):
    qid = queue.create("deferred", rcpts=("a@example.net", "b@example.net", "c@example.net"))
    queue.tool("status", queue.path("deferred", qid), 0, "deferred", "4.4.1", "", "x-unix; later")
    queue.tool("status", queue.path("deferred", qid), 1, "delivered", "2.0.0", "", "x-unix; ok")

    r = queue.postsuper("-h", qid, check=True)
    assert "postsuper: %s: placed on hold" % qid in r.stderr
    assert "Placed on hold: 1 message" in r.stderr
    assert queue.ids("hold") == [qid] and queue.ids("deferred") == []
    assert re.search(r"^%s!" % qid, queue.postqueue("-p", check=True).stdout, re.M)

    # Held after a deferral: its file time (qmgr's next retry) is in the future.
    future = time.time() + 86400
    os.utime(queue.path("hold", qid), (future, future))
    r = queue.postsuper("-H", qid, check=True)
    assert "postsuper: %s: released from hold" % qid in r.stderr
    assert os.stat(queue.path("deferred", qid)).st_mtime <= time.time() + 1  # due now
    assert "Released from hold: 1 message" in r.stderr
    assert queue.ids("deferred") == [qid] and queue.ids("hold") == []

    r = queue.postsuper("-r", qid, check=True)
    assert "postsuper: %s: requeued" % qid in r.stderr
    assert "Requeued: 1 message" in r.stderr
    assert queue.ids("incoming") == [qid]
    env = queue.envelope("incoming", qid)
    assert "rcpt=a@example.net status=pending" in env
    assert "rcpt=b@example.net status=delivered" in env  # done stays done
    assert "rcpt=c@example.net status=pending" in env

    # -h ALL takes incoming, active and deferred; -H ALL gives them back.
    other = queue.create("active")
    r = queue.postsuper("-h", "ALL", check=True)
    assert "Placed on hold: 2 messages" in r.stderr
    assert queue.ids("hold") == sorted([qid, other])
    r = queue.postsuper("-H", "ALL", check=True)
    assert "Released from hold: 2 messages" in r.stderr
    assert queue.ids("deferred") == sorted([qid, other])


def test_bad_ids_refused(queue):
    qid = queue.create("deferred")
    for bad in ("../etc", "../../etc/passwd", "/etc/passwd", qid + "/../x", qid.lower(),
                qid + ".msg", "x" * 5000, "ALL2", "-x"):
        for op in ("-d", "-h", "-H", "-r"):
            r = queue.postsuper(op, bad)
            assert r.returncode != 0, (op, bad)
            assert "invalid queue ID" in r.stderr or "usage" in r.stderr, r.stderr
    r = queue.postsuper("-d", "ALL", "../etc")
    assert r.returncode != 0 and "invalid directory name" in r.stderr
    r = queue.postsuper("-d", "ALL", "corrupt")
    assert r.returncode != 0
    assert queue.ids("deferred") == [qid]


def test_structure_check(queue):
    good = queue.create("deferred")
    incoming = os.path.join(queue.spool, "incoming")
    deferred = os.path.join(queue.spool, "deferred")
    # A stale temporary file (two days old) and a fresh one.
    stale = os.path.join(incoming, "1K0Z28EP15800WV3.tmp")
    fresh = os.path.join(incoming, "1K0Z28EP15800WV4.tmp")
    for p in (stale, fresh):
        with open(p, "w") as f:
            f.write("partial")
    old = time.time() - 2 * 86400
    os.utime(stale, (old, old))
    # A file with a name that is no queue file name, and garbage with a good name.
    with open(os.path.join(deferred, "junk.txt"), "w") as f:
        f.write("junk")
    with open(os.path.join(deferred, "1K0Z28EP15800WV5.msg"), "w") as f:
        f.write("this is not a queue file")
    # A valid queue file under another valid name: renamed to its own ID.
    misnamed = "1K0Z28EP15800WV6"
    with open(queue.path("deferred", good), "rb") as f:
        data = f.read()
    with open(os.path.join(deferred, misnamed + ".msg"), "wb") as f:
        f.write(data)
    os.unlink(queue.path("deferred", good))
    if queue.inst.root:
        import pwd
        pw = pwd.getpwnam(queue.inst.mail_owner)
        for d in (incoming, deferred):
            for n in os.listdir(d):
                os.chown(os.path.join(d, n), pw.pw_uid, pw.pw_gid)

    r = queue.postsuper("-s", check=True)
    assert not os.path.exists(stale)
    assert os.path.exists(fresh)
    assert "Removed stale temporary files: 1" in r.stderr
    assert queue.ids("deferred") == [good]
    assert "renamed to" in r.stderr
    corrupt = os.listdir(os.path.join(queue.spool, "corrupt"))
    assert len(corrupt) == 2, corrupt
    assert all(QUEUE_ID.match(n[:-4]) and n.endswith(".msg") for n in corrupt)
    assert "Moved to the corrupt queue: 2 files" in r.stderr

    # A second run finds nothing to do.
    r = queue.postsuper("-s", check=True)
    assert r.stderr == ""


def test_postsuper_refuses_other_users(queue):
    if not queue.inst.root:
        pytest.skip("needs root to run as another user")
    r = subprocess.run([queue.inst.tool("postsuper"), "-c", queue.inst.etc, "-d", "ALL"],
                       capture_output=True, text=True, user="nobody", group="nogroup",
                       extra_groups=[], timeout=30)
    assert r.returncode != 0
    assert "reserved for the superuser" in r.stderr


# ---------------------------------------------------------------- DSN from the bounce module

ORIGINAL = (b"Received: from client.example.org by mail.example.com\n"
            b"Message-ID: <orig.42@example.org>\n"
            b"From: Sender <sender@example.org>\n"
            b"To: a@example.net\n"
            b"Subject: the original\n"
            b"MIME-Version: 1.0\n"
            b"Content-Type: text/plain\n"
            b"\n"
            b"The body of the original message.\n")


def make_dsn(queue, extra=(), kind="failed", rcpts=(0, 1), opts=(), content=ORIGINAL):
    qid = queue.create("deferred", content=content,
                       rcpts=("a@example.net,0,rfc822;A+2Bx@example.net", "b@example.net",
                              "c@example.net"),
                       extra=["-e", "ENV+2B1"] + list(extra))
    path = queue.path("deferred", qid)
    queue.tool("status", path, 0, "bounced", "5.1.1", "mx.example.net[192.0.2.1]",
               "smtp; 550 5.1.1 <a@example.net>: Recipient address rejected: User unknown")
    queue.tool("status", path, 1, "bounced", "5.2.2", "", "x-unix; mailbox full")
    args = ["bounce", path, os.path.join(queue.spool, "incoming"), kind,
            "-o", "myhostname=mail.example.com"]
    for o in opts:
        args += ["-o", o]
    args += [str(i) for i in rcpts]
    new = queue.tool(*args).stdout.decode().strip()
    if not new:
        return qid, None, None
    raw = queue.tool("content", queue.path("incoming", new)).stdout
    return qid, new, raw


def test_dsn_parses_as_multipart_report(queue):
    qid, new, raw = make_dsn(queue, extra=["-R", "full"])
    assert QUEUE_ID.match(new)
    env = queue.envelope("incoming", new)
    assert env[0] == "sender="
    assert env[1] == "rcpt=sender@example.org status=pending"

    msg = email.message_from_bytes(raw, policy=email.policy.default)
    assert msg.get_content_type() == "multipart/report"
    assert msg.get_param("report-type") == "delivery-status"
    assert b"\nFrom: MAILER-DAEMON@mail.example.com (Mail Delivery System)\n" in b"\n" + raw
    assert msg["To"] == "sender@example.org"
    assert msg["Subject"] == "Undelivered Mail Returned to Sender"
    assert msg["Auto-Submitted"] == "auto-replied"
    assert msg["In-Reply-To"] == "<orig.42@example.org>"
    assert msg["Date"] and msg["Message-ID"]
    assert not msg.defects
    parts = list(msg.iter_parts())
    assert [p.get_content_type() for p in parts] == [
        "text/plain", "message/delivery-status", "message/rfc822"]
    boundary = msg.get_boundary()
    assert boundary.encode() not in ORIGINAL

    text = parts[0].get_content()
    assert "This is the mail system at host mail.example.com." in text
    assert "<a@example.net>: host mx.example.net[192.0.2.1] said: 550 5.1.1" in text
    assert "<b@example.net>: mailbox full" in text
    assert "c@example.net" not in raw.decode()

    blocks = parts[1].get_payload()
    per_msg, per_rcpt = blocks[0], blocks[1:]
    assert per_msg["Reporting-MTA"] == "dns; mail.example.com"
    assert per_msg["Original-Envelope-Id"] == "ENV+1"
    assert per_msg["X-Postel-Queue-ID"] == qid
    assert per_msg["Arrival-Date"]
    assert len(per_rcpt) == 2
    a, b = per_rcpt
    assert a["Final-Recipient"] == "rfc822; a@example.net"
    assert a["Original-Recipient"] == "rfc822; A+x@example.net"
    assert a["Action"] == "failed" and a["Status"] == "5.1.1"
    assert a["Remote-MTA"] == "dns; mx.example.net"
    assert a["Diagnostic-Code"].startswith("smtp; 550 5.1.1 <a@example.net>:")
    assert a["Last-Attempt-Date"]
    assert b["Final-Recipient"] == "rfc822; b@example.net"
    assert b["Status"] == "5.2.2" and b["Diagnostic-Code"] == "x-unix; mailbox full"
    assert b["Original-Recipient"] is None

    original = parts[2].get_payload()[0]
    assert original["Subject"] == "the original"
    assert original["Return-Path"] == "<sender@example.org>"
    assert original.get_content().strip() == "The body of the original message."


def test_dsn_headers_only_and_size_limit(queue):
    _, _, raw = make_dsn(queue, extra=["-R", "hdrs"])
    msg = email.message_from_bytes(raw, policy=email.policy.default)
    parts = list(msg.iter_parts())
    assert parts[2].get_content_type() == "text/rfc822-headers"
    assert b"The body of the original" not in raw
    assert "Subject: the original" in parts[2].get_content()

    big = ORIGINAL + b"x" * 100 + b"\n"
    _, _, raw = make_dsn(queue, extra=["-R", "full"], opts=["bounce_size_limit=%d" % (len(big) - 1)],
                         content=big)
    parts = list(email.message_from_bytes(raw, policy=email.policy.default).iter_parts())
    assert parts[2].get_content_type() == "text/rfc822-headers"
    assert b"x" * 100 not in raw


def test_dsn_smtputf8(queue):
    _, _, raw = make_dsn(queue, extra=["-U", "-8"])
    msg = email.message_from_bytes(raw, policy=email.policy.default)
    assert [p.get_content_type() for p in msg.iter_parts()] == [
        "text/plain", "message/global-delivery-status", "message/global"]
    env = queue.envelope("incoming", queue.ids("incoming")[0])
    assert "smtputf8=1" in env


def test_dsn_delay_warning(queue):
    _, _, raw = make_dsn(queue, kind="delayed", rcpts=(2,))
    msg = email.message_from_bytes(raw, policy=email.policy.default)
    assert msg["Subject"] == "Delayed Mail (still being retried)"
    parts = list(msg.iter_parts())
    rcpt = parts[1].get_payload()[1]
    assert rcpt["Action"] == "delayed"
    assert rcpt["Will-Retry-Until"]
    assert parts[2].get_content_type() == "text/rfc822-headers"


def test_no_dsn_for_null_sender(queue):
    qid = queue.create("deferred", sender="", rcpts=("a@example.net",))
    path = queue.path("deferred", qid)
    incoming = os.path.join(queue.spool, "incoming")
    r = queue.tool("bounce", path, incoming, "failed", "-o", "myhostname=mail.example.com",
                   "-o", "notify_classes=resource, software", 0)
    assert r.stdout == b""
    assert queue.ids("incoming") == []
    # By default (2bounce in notify_classes) the double bounce goes to the postmaster.
    r = queue.tool("bounce", path, incoming, "failed", "-o", "myhostname=mail.example.com", 0)
    new = r.stdout.decode().strip()
    env = queue.envelope("incoming", new)
    assert env[0] == "sender=double-bounce@mail.example.com"
    assert env[1] == "rcpt=postmaster status=pending"
    raw = queue.tool("content", queue.path("incoming", new)).stdout
    msg = email.message_from_bytes(raw, policy=email.policy.default)
    assert msg.get_content_type() == "multipart/report"
    assert msg["Subject"] == "Postmaster Copy: Undelivered Mail"


def test_setgid_postqueue_refuses_other_config(queue, tmp_path):
    """Installed set-gid, postqueue takes neither -c nor POSTEL_CONFIG_DIR from a user."""
    if not queue.inst.root:
        pytest.skip("needs root to make a set-gid copy")
    import grp
    import shutil
    copy_dir = tmp_path / "sbin"
    copy_dir.mkdir()
    os.chmod(copy_dir, 0o755)
    copy = str(copy_dir / "postqueue")
    shutil.copy(queue.inst.tool("postqueue"), copy)
    os.chown(copy, 0, grp.getgrnam(queue.inst.setgid_group).gr_gid)
    os.chmod(copy, 0o2755)
    env = {"PATH": "/usr/bin:/bin", "ASAN_OPTIONS": "detect_leaks=0"}
    kw = dict(capture_output=True, text=True, user="nobody", group="nogroup", extra_groups=[],
              timeout=30)
    r = subprocess.run([copy, "-c", queue.inst.etc, "-p"], env=env, **kw)
    assert r.returncode != 0 and "-c is not allowed" in r.stderr
    r = subprocess.run([copy, "-p"], env=dict(env, POSTEL_CONFIG_DIR=queue.inst.etc), **kw)
    assert r.returncode != 0 and "POSTEL_CONFIG_DIR is not allowed" in r.stderr
