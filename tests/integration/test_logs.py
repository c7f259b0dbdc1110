"""The maillog as an interface: after real SMTP sessions through smtpd, qmgr
and local (test_e2e.py's instance), the log lines have the documented shapes
(Postfix's, so that the log tools people run keep working), every line
names its program as postel/<service>[pid], and pflogsumm (Debian's
package, when installed) counts what was received, delivered, bounced and
rejected.
"""

import os
import re
import shutil
import subprocess
import tempfile

import pytest

from test_e2e import E2E, NEED, QID, mail, need_built, remove_tree

PREFIX = re.compile(r"^(\w{3} [ \d]\d \d\d:\d\d:\d\d) (\S+) postel/([a-z0-9-]+)\[(\d+)\]: (.*)$")
NAME = r"[A-Za-z0-9.-]+"  # the client's name as smtpd found it (127.0.0.2 may be "unknown")


@pytest.fixture
def t():
    path = tempfile.mkdtemp(prefix="postel-logs.", dir="/tmp")
    os.chmod(path, 0o755)
    yield path
    remove_tree(path)


def start(top, build_dir):
    need_built(build_dir, *NEED)
    return E2E(top, build_dir).start()


def session(e, source, helo, sender, rcpts, message=None):
    """One SMTP session with exactly these commands; the replies to RCPT and the queue ID."""
    c = e.raw(source)
    c.expect(220)
    c.send("EHLO %s\r\n" % helo)
    c.expect(250)
    c.send("MAIL FROM:<%s>\r\n" % sender)
    c.expect(250)
    codes = []
    for r in rcpts:
        c.send("RCPT TO:<%s>\r\n" % r)
        codes.append(c.reply()[0])
    qid = None
    if message is not None:
        c.send("DATA\r\n")
        c.expect(354)
        c.send(message.replace(b"\n", b"\r\n") + b".\r\n")
        qid = re.search(QID, c.expect(250)).group(0)
    c.send("QUIT\r\n")
    c.expect(221)
    c.close()
    return codes, qid


def lines_of(e, mark=0):
    """(service, pid, text) of every log line after mark; every line must have the prefix."""
    out = []
    for line in e.inst.log_text()[mark:].splitlines():
        m = PREFIX.match(line)
        assert m, "log line without the postel/<service>[pid]: prefix: %r" % line
        out.append((m.group(3), int(m.group(4)), m.group(5)))
    return out


def find(lines, service, pattern):
    """Index and match of the one line of service that matches pattern."""
    rx = re.compile(pattern)
    found = [(i, rx.fullmatch(text)) for i, (svc, _, text) in enumerate(lines)
             if svc == service and rx.fullmatch(text)]
    assert len(found) == 1, "%d lines of %s match %s:\n%s" % (
        len(found), service, pattern, "\n".join("%s: %s" % (s, x) for s, _, x in lines))
    return found[0]


def test_log_line_shapes(t, build_dir):
    e = start(t, build_dir)
    mark = e.inst.log_mark()
    msg = mail("logs", b"hello\n").replace(b"Message-ID: <e2e-", b"Message-ID: <logs-")
    msgid = re.search(rb"Message-ID: <([^>]+)>", msg).group(1).decode()
    codes, qid = session(e, "127.0.0.1", "h.example", "s@example.org", ["va@mail.example.com"],
                         msg)
    assert codes == [250]
    e.inst.wait_log(r"postel/qmgr\[\d+\]: %s: removed" % qid, since=mark, timeout=30)
    codes, _ = session(e, "127.0.0.2", "h2.example", "s@example.org", ["x@elsewhere.test"])
    assert codes == [554]
    e.inst.wait_log(r"disconnect from %s\[127\.0\.0\.2\]" % NAME, since=mark)
    lines = lines_of(e, mark)
    q = re.escape(qid)

    i_conn, _ = find(lines, "smtpd", r"connect from localhost\[127\.0\.0\.1\]")
    i_client, _ = find(lines, "smtpd", r"%s: client=localhost\[127\.0\.0\.1\]" % q)
    i_msgid, _ = find(lines, "smtpd", r"%s: message-id=<%s>" % (q, re.escape(msgid)))
    i_from, m = find(lines, "qmgr", r"%s: from=<s@example\.org>, size=(\d+), nrcpt=1 "
                                    r"\(queue active\)" % q)
    assert int(m.group(1)) >= len(msg)
    i_to, m = find(lines, "local",
                   r"%s: to=<va@mail\.example\.com>, relay=local, delay=(\d+(?:\.\d+)?), "
                   r"delays=(\d+(?:\.\d+)?)/(\d+(?:\.\d+)?)/(\d+(?:\.\d+)?)/(\d+(?:\.\d+)?), "
                   r"dsn=2\.0\.0, status=sent \(delivered to maildir\)" % q)
    delay = float(m.group(1))
    parts = [float(m.group(k)) for k in range(2, 6)]
    assert 0 <= delay < 30 and all(0 <= p <= delay + 0.01 for p in parts)
    assert abs(sum(parts) - delay) < 0.05, (delay, parts)
    i_removed, _ = find(lines, "qmgr", r"%s: removed" % q)
    i_disc, _ = find(lines, "smtpd", r"disconnect from localhost\[127\.0\.0\.1\] ehlo=1 mail=1 "
                                     r"rcpt=1 data=1 quit=1 commands=5")
    assert i_conn < i_client < i_msgid < i_from < i_to < i_removed
    assert i_client < i_disc
    # Each message's lines come from the process that wrote them.
    assert lines[i_conn][1] == lines[i_client][1] == lines[i_disc][1]

    find(lines, "smtpd", r"connect from (%s)\[127\.0\.0\.2\]" % NAME)
    find(lines, "smtpd", r"NOQUEUE: reject: RCPT from %s\[127\.0\.0\.2\]: 554 5\.7\.1 "
                         r"<x@elsewhere\.test>: Relay access denied; from=<s@example\.org> "
                         r"to=<x@elsewhere\.test> proto=ESMTP helo=<h2\.example>" % NAME)
    find(lines, "smtpd", r"disconnect from %s\[127\.0\.0\.2\] ehlo=1 mail=1 rcpt=0/1 quit=1 "
                         r"commands=3/4" % NAME)
    # Everything since the start, too, has the prefix (master, postel, pickup lines).
    lines_of(e)


def test_pflogsumm_counts(t, build_dir):
    pflogsumm = shutil.which("pflogsumm")
    if pflogsumm is None:
        pytest.skip("pflogsumm is not installed (Debian package pflogsumm)")
    e = start(t, build_dir)
    # 3 messages over SMTP, 1 through sendmail, 1 that bounces (its DSN is delivered to
    # the local sender), and 2 refused recipients (relay, unknown user).
    qids = []
    for n in range(3):
        _, qid = session(e, "127.0.0.1", "h.example", "s@example.org", ["va@mail.example.com"],
                         mail("count %d" % n, b"body\n"))
        qids.append(qid)
    r = e.sendmail("-f", "s@example.org", "va@mail.example.com",
                   input=mail("by sendmail", b"body\n"))
    assert r.returncode == 0, r.stderr
    _, bq = session(e, "127.0.0.1", "h.example", "s67@mail.example.com",
                    ["fail67@mail.example.com"], mail("bounces", b"body\n"))
    codes, _ = session(e, "127.0.0.2", "h2.example", "s@example.org", ["x@elsewhere.test"])
    assert codes == [554]
    codes, _ = session(e, "127.0.0.1", "h.example", "s@example.org",
                       ["nobody-here@mail.example.com"])
    assert codes == [550]
    e.wait_maildir("va", 4)
    e.wait_maildir("s67", 1)
    e.inst.wait_log(r"%s: removed" % bq)
    e.inst.wait_log(r"disconnect from localhost\[127\.0\.0\.1\] ehlo=1 mail=1 rcpt=0/1 quit=1")

    r = subprocess.run([pflogsumm, "--syslog-name=postel", e.inst.maillog], capture_output=True,
                       text=True, timeout=60)
    assert r.returncode == 0, r.stderr
    out = r.stdout

    def total(what):
        m = re.search(r"^\s*(\d+)\s+%s\b" % what, out, re.M)
        assert m, "no %r in pflogsumm's output:\n%s" % (what, out)
        return int(m.group(1))

    assert total("received") == 5, out
    assert total("delivered") == 5, out  # 4 to va, the DSN to s67
    assert total("bounced") == 1, out
    assert total("rejected") == 2, out
    assert total("deferred") == 0, out
    # The rejects are listed by reason.
    assert "Relay access denied" in out
