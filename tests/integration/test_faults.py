"""Faults: what happens to mail when processes die and the disk fills.

- smtpd killed (SIGKILL) in the middle of DATA: the client never saw 250,
  no message is delivered, and the half-written .tmp queue file is cleaned
  up (by postsuper -s, and by qmgr's periodic clean-up once it is old).
- qmgr and local killed (SIGKILL) again and again while 1,000 messages are
  delivered: master restarts them, and every message arrives. The durability
  contract is at-least-once: a message may arrive twice only when a kill hit
  the window between a delivery and the write of its result into the queue
  file. The test reports how many did (on the terminal, as junit properties,
  and in test_faults.results in the build tree), asserts that none is lost,
  and that duplicates stay within kills x deliveries in flight.
- The queue file system fills up (as root: a 2 MB tmpfs mounted over the
  instance's queue directory in this process's own mount namespace): smtpd
  answers 452 4.3.1 at MAIL (queue_minfree) and at the end of DATA (the write
  fails), sendmail exits 75 (EX_TEMPFAIL), nothing that was accepted is lost,
  and everything flows again once there is room.

The instance is test_e2e.py's (smtpd, pickup, qmgr, local; mailboxes of
local_mailbox_maps under a directory of its own).
"""

import errno
import os
import random
import re
import subprocess
import tempfile
import threading
import time

import pytest

from instance import proc_list, wait_for
from test_e2e import (E2E, NEED, QID, ROOT, _unshare_mount_ns, crlf, mail, need_built,
                      remove_tree)

BOXES = ("f0", "f1", "f2", "f3")


@pytest.fixture
def top():
    path = tempfile.mkdtemp(prefix="postel-faults.", dir="/tmp")
    os.chmod(path, 0o755)
    yield path
    remove_tree(path)


def make(top, build_dir, **config):
    need_built(build_dir, *NEED)
    return E2E(top, build_dir, config={k: str(v) for k, v in config.items()}, maildirs=BOXES)


def service_pids(t, name):
    """Live processes of t's master that run libexec/name."""
    exe = os.path.realpath(os.path.join(t.inst.libexec, name))
    master = t.inst.pid()
    pids = []
    for pid, state, ppid, _ in proc_list():
        if ppid != master or state in ("Z", "X"):
            continue
        try:
            if os.path.realpath("/proc/%d/exe" % pid) == exe:
                pids.append(pid)
        except OSError:
            pass
    return pids


def kill9(pids):
    for pid in pids:
        try:
            os.kill(pid, 9)
        except ProcessLookupError:
            pass


def incoming(t, suffix):
    d = os.path.join(t.inst.spool, "incoming")
    return sorted(n for n in os.listdir(d) if n.endswith(suffix))


def report(request, build_dir, text, **props):
    """Show a result on the terminal, in the junit XML and in the build tree."""
    for k, v in props.items():
        request.node.user_properties.append((k, v))
    tr = request.config.pluginmanager.get_plugin("terminalreporter")
    if tr is not None:
        tr.write_line("")
        tr.write_line("test_faults: " + text)
    print(text)
    try:
        with open(os.path.join(build_dir, "tests", "integration", "test_faults.results"),
                  "a") as f:
            f.write("%s %s: %s\n" % (time.strftime("%Y-%m-%d %H:%M:%S"), request.node.name, text))
    except OSError:
        pass


# ------------------------------------------------------------------ smtpd killed in DATA

def _kill_in_data(t):
    """Start a message, kill every smtpd while its content is half sent; the .tmp name."""
    c = t.raw()
    c.expect(220)
    c.send("EHLO client.example\r\n")
    c.expect(250)
    c.send("MAIL FROM:<sender@example.org>\r\n")
    c.expect(250)
    c.send("RCPT TO:<f0@mail.example.com>\r\n")
    c.expect(250)
    c.send("DATA\r\n")
    c.expect(354)
    c.send(crlf(mail("never", b"half of it\n" * 2000)))
    tmp = wait_for(lambda: "a .tmp file in incoming/\n" + t.inst.log_tail(),
                   lambda: incoming(t, ".tmp"), 10)
    # Every byte sent so far reached smtpd (and the file): wait until the file stops growing.
    path = os.path.join(t.inst.spool, "incoming", tmp[0])
    last = -1
    while os.path.getsize(path) != last:
        last = os.path.getsize(path)
        time.sleep(0.2)
    pids = service_pids(t, "smtpd")
    assert pids
    kill9(pids)
    # The client never sees 250: the connection just ends.
    c.sock.settimeout(10)
    got = b""
    try:
        while True:
            chunk = c.sock.recv(4096)
            if not chunk:
                break
            got += chunk
    except ConnectionResetError:
        pass
    c.close()
    assert b"250" not in got, got
    return tmp[0]


def test_smtpd_killed_during_data(top, build_dir):
    t = make(top, build_dir).start()
    mark = t.inst.log_mark()
    tmp = _kill_in_data(t)
    assert incoming(t, ".msg") == []
    # master starts a new smtpd: the next client is served and its mail delivered.
    with t.smtp() as s:
        assert s.sendmail("sender@example.org", ["f1@mail.example.com"],
                          mail("after the crash", b"fine\n")) == {}
    t.wait_maildir("f1")
    assert t.maildir("f0") == []
    assert not re.search(r"to=<f0@", t.inst.log_text()[mark:])
    assert re.search(r"postel/master\[\d+\]: .*smtpd.* (killed by signal 9|signal 9)",
                     t.inst.log_text()[mark:]), t.inst.log_tail()

    # A fresh .tmp may belong to a live smtpd: postsuper -s leaves it, an old one goes.
    path = os.path.join(t.inst.spool, "incoming", tmp)
    assert os.path.exists(path)
    r = t.postsuper("-s")
    assert r.returncode == 0, r.stderr
    assert os.path.exists(path)
    old = time.time() - 2 * 86400
    os.utime(path, (old, old))
    r = t.postsuper("-s")
    assert r.returncode == 0, r.stderr
    assert not os.path.exists(path)
    assert "Removed stale temporary files: 1" in r.stderr + t.inst.log_text()[mark:]

    # qmgr removes one older than daemon_timeout by itself, every queue_run_delay.
    tmp2 = _kill_in_data(t)
    path2 = os.path.join(t.inst.spool, "incoming", tmp2)
    old = time.time() - 18000 - 60
    os.utime(path2, (old, old))
    wait_for(lambda: "qmgr to remove %s\n%s" % (tmp2, t.inst.log_tail()),
             lambda: not os.path.exists(path2), 10)
    t.inst.wait_log(r"qmgr\[\d+\]: removed 1 stale temporary file", since=mark)
    assert incoming(t, ".tmp") == []
    assert t.maildir("f0") == []


# ------------------------------------------------------------------ qmgr and local killed

def progress_text(t, delivered, want):
    return lambda: "%d messages delivered (have %d)\n%s" % (want, delivered(), t.inst.log_tail())


def test_kill_qmgr_and_local_while_delivering_1000(top, build_dir, request):
    total, conns = 1000, 10
    t = make(top, build_dir).start()
    limit = int(t.inst.postconf("-h", "local_destination_concurrency_limit",
                                check=True).stdout.strip())
    in_flight = limit * len(BOXES)
    errors = []

    def message(n):
        return (b"From: sender@example.org\nDate: Mon, 23 Nov 2026 10:00:00 +0000\n"
                b"Message-ID: <fault-%04d@example.org>\nSubject: serial %04d\n"
                b"X-Serial: %04d\n\nmessage %04d\n" % (n, n, n, n))

    done = []

    def inject(first):
        try:
            with t.smtp() as s:
                for n in range(first, total, conns):
                    rcpt = "%s@mail.example.com" % BOXES[n % len(BOXES)]
                    refused = s.sendmail("sender@example.org", [rcpt], message(n))
                    if refused:
                        errors.append((n, refused))
        except Exception as e:  # noqa: BLE001 - reported below
            errors.append(repr(e))
        done.append(time.monotonic())

    def delivered():
        out = []
        for b in BOXES:
            new = os.path.join(t.boxes, b, "new")
            if os.path.isdir(new):
                out += os.listdir(new)
        return len(out)

    start = time.monotonic()
    senders = [threading.Thread(target=inject, args=(i,)) for i in range(conns)]
    for th in senders:
        th.start()

    # Kill qmgr, then every local process, three times each, at random moments while mail
    # is being delivered: when the number of delivered messages passes random marks. The
    # last qmgr kill comes after the last message was sent, when no new mail wakes it up.
    rng = random.Random()
    marks = sorted(rng.sample(range(total // 20, total * 9 // 10), 6))
    kills = []
    deadline = time.monotonic() + 60
    for i, at in enumerate(marks):
        wait_for(progress_text(t, delivered, at), lambda: delivered() >= at,
                 deadline - time.monotonic(), interval=0.01)
        if i == 4:
            for th in senders:
                th.join(max(1, deadline - time.monotonic()))
        name = "qmgr" if i % 2 == 0 else "local"
        pids = wait_for("a %s process to kill" % name, lambda: service_pids(t, name), 15,
                        interval=0.01)
        kill9(pids)
        kills.append((name, len(pids), delivered()))
        if name == "qmgr":
            # Nothing else may be needed: no new mail, no postqueue -f.
            wait_for(lambda: "master to start qmgr again after kill -9 (%d of %d delivered)\n%s"
                     % (delivered(), total, t.inst.log_tail()),
                     lambda: service_pids(t, "qmgr"), 10)
    for th in senders:
        th.join(60)
    assert errors == [] and len(done) == conns
    injected = max(done) - start

    wait_for(progress_text(t, delivered, total), lambda: delivered() >= total, 60, interval=0.2)
    # Let stragglers (a re-delivery after a kill) arrive before counting.
    wait_for(lambda: "an empty queue: %s" % t.queue_ids(), lambda: t.queue_ids() == [], 30)
    elapsed = time.monotonic() - start

    serials = {}
    for b in BOXES:
        for m in t.maildir(b):
            found = re.search(rb"\nX-Serial: (\d{4})\n", m)
            assert found, m[:400]
            n = int(found.group(1))
            assert m.endswith(b"\n" + message(n)), "message %d is damaged" % n
            assert b"\nDelivered-To: %s@mail.example.com\n" % BOXES[n % len(BOXES)].encode() in m
            serials[n] = serials.get(n, 0) + 1
    lost = sorted(set(range(total)) - set(serials))
    dups = {n: c for n, c in serials.items() if c > 1}
    extra = sum(c - 1 for c in dups.values())
    report(request, build_dir,
           "%d messages, %d kills (%s), injected in %.1fs, all delivered in %.1fs: "
           "%d lost, %d delivered twice or more (%d extra copies; bound %d = kills x %d "
           "deliveries in flight)"
           % (total, len(kills), ", ".join("%s x%d at %d" % k for k in kills), injected,
              elapsed, len(lost), len(dups), extra, len(kills) * in_flight, in_flight),
           messages=total, kills=len(kills), lost=len(lost), duplicates=extra)
    assert lost == []
    assert extra <= len(kills) * in_flight
    assert os.listdir(os.path.join(t.inst.spool, "corrupt")) == []
    # The restarts are in the log: master saw the kills.
    log = t.inst.log_text()
    assert re.search(r"postel/master\[\d+\]: .*qmgr.*signal 9", log), t.inst.log_tail()


# ------------------------------------------------------------------ disk full

def _fill(path, leave=0):
    """Write path until the file system is full; then free `leave` bytes again."""
    chunk = b"\0" * 65536
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    try:
        while True:
            try:
                n = os.write(fd, chunk)
            except OSError as e:
                if e.errno != errno.ENOSPC:
                    raise
                chunk = chunk[:len(chunk) // 2]
                if not chunk:
                    break
                continue
            if n < len(chunk):
                chunk = chunk[:max(1, len(chunk) // 2)]
        if leave:
            os.ftruncate(fd, max(0, os.fstat(fd).st_size - leave))
    finally:
        os.close(fd)


def _free(path):
    st = os.statvfs(path)
    return st.f_bavail * st.f_frsize


def test_disk_full(top, build_dir):
    if not ROOT:
        pytest.skip("needs root: a small tmpfs is mounted as the queue directory")
    need_built(build_dir, *NEED)
    _unshare_mount_ns()
    t = make(top, build_dir, queue_minfree="300k")
    os.makedirs(t.inst.spool)
    subprocess.run(["mount", "-t", "tmpfs", "-o", "size=2m,mode=0755", "postel-spool",
                    t.inst.spool], check=True, capture_output=True)
    try:
        _disk_full(t)
    finally:
        t.inst.stop()
        subprocess.run(["umount", "-l", t.inst.spool], capture_output=True)


def _disk_full(t):
    t.start()
    mark = t.inst.log_mark()
    accepted = []  # (rcpt mailbox, Message-ID)

    def send(s, rcpt, subject):
        msg = mail(subject, b"body of %s\n" % subject.encode())
        assert s.sendmail("sender@example.org", ["%s@mail.example.com" % rcpt], msg) == {}
        accepted.append((rcpt, msg))

    # Before: some mail delivered, some waiting in the queue (gate closed).
    with t.smtp() as s:
        for i in range(3):
            send(s, "f0", "before %d" % i)
        for i in range(3):
            s.mail("sender@example.org")
            assert s.rcpt("slow@mail.example.com")[0] == 250
            code, _ = s.data(mail("waiting %d" % i, b"held back\n"))
            assert code == 250
    t.wait_maildir("f0", 3)
    wait_for(lambda: "3 deferred messages\n" + t.inst.log_tail(),
             lambda: len(os.listdir(os.path.join(t.inst.spool, "deferred"))) == 3, 20)

    filler = os.path.join(t.inst.spool, "filler")
    _fill(filler)
    assert _free(t.inst.spool) < 300 * 1024

    # MAIL: not enough room above queue_minfree.
    with t.smtp() as s:
        s.ehlo()
        code, text = s.mail("sender@example.org")
        assert code == 452 and text.startswith(b"4.3.1"), (code, text)
    t.inst.wait_log(r"NOQUEUE: reject: MAIL from localhost\[127\.0\.0\.1\]: 452 4\.3\.1 "
                    r"Insufficient system storage", since=mark)

    # sendmail: the message is not taken, and the caller is told to try again (EX_TEMPFAIL).
    r = t.sendmail("f1@mail.example.com", input=mail("by sendmail", b"body\n"))
    assert r.returncode == 75, (r.returncode, r.stderr)
    assert os.listdir(os.path.join(t.inst.spool, "maildrop")) == []

    # End of DATA: room for MAIL, not for this message.
    os.unlink(filler)
    _fill(filler, leave=500 * 1024)
    assert 300 * 1024 < _free(t.inst.spool) < 800 * 1024
    with t.smtp() as s:
        s.ehlo()
        assert s.mail("sender@example.org")[0] == 250  # no SIZE= announced
        assert s.rcpt("f1@mail.example.com")[0] == 250
        code, text = s.data(mail("too big for the disk", (b"z" * 76 + b"\n") * 12000))
        assert code == 452 and text.startswith(b"4.3.1"), (code, text)
    assert incoming(t, ".tmp") == [] and incoming(t, ".msg") == []

    # The queue manager keeps going meanwhile; nothing is lost or moved aside.
    time.sleep(2.5)
    assert len(os.listdir(os.path.join(t.inst.spool, "deferred"))) == 3
    assert os.listdir(os.path.join(t.inst.spool, "corrupt")) == []

    # Room again: new mail is accepted and delivered, and the waiting mail goes out.
    os.unlink(filler)
    with t.smtp() as s:
        send(s, "f1", "after")
    t.wait_maildir("f1", 1)
    with open(os.path.join(t.top, "gate.open"), "w"):
        pass
    wait_for(lambda: "the 3 waiting messages delivered\n" + t.inst.log_tail(),
             lambda: len([n for n in os.listdir(t.out) if n.startswith("gate.")]) == 3, 20)
    wait_for(lambda: "an empty queue: %s" % t.queue_ids(), lambda: t.queue_ids() == [], 20)
    for rcpt, msg in accepted:
        assert sum(m.endswith(b"\n" + msg) for m in t.maildir(rcpt)) == 1
    assert len(t.maildir("f1")) == 1
    bodies = [open(os.path.join(t.out, n), "rb").read() for n in os.listdir(t.out)
              if n.startswith("gate.")]
    for i in range(3):
        assert sum(b"\nSubject: waiting %d\n" % i in b for b in bodies) == 1
    assert not re.search(r"%s: .*status=bounced" % QID, t.inst.log_text()[mark:])
