"""qmgr integration tests: a real master running qmgr and a test delivery
agent (tests/integration/testagent.c) that answers as a control file says.

Queue files are made with tests/integration/queue_tool (lib/mail/queue_file.h)
in incoming/, then qmgr is nudged through public/qmgr as smtpd and pickup do.
What is checked is what an administrator would check: the agent saw each
recipient (its log), the queue directories, the queue file's slots
(tests/integration/qslots) and the mail log lines.
"""

import os
import re
import signal
import socket
import subprocess
import time

import pytest

from instance import Instance, wait_for

AGENT = "tests/integration/testagent"

FAST = {
    "minimal_backoff_time": "2s",
    "maximal_backoff_time": "4s",
    "queue_run_delay": "1s",
    "transport_retry_time": "1s",
    "default_transport": "testagent",
    "relay_transport": "testagent",
}


class QmgrTest:
    """An instance with qmgr and the test agent, and helpers around them."""

    def __init__(self, tmp_path, build_dir, config=None, agent_maxproc="10"):
        self.build_dir = build_dir
        self.base = str(tmp_path)
        self.agentdir = os.path.join(self.base, "agent")
        os.makedirs(self.agentdir, exist_ok=True)
        os.chmod(self.agentdir, 0o777)
        self.agent_log = os.path.join(self.agentdir, "deliveries")
        self.control = os.path.join(self.agentdir, "control")
        settings = dict(FAST)
        settings.update(config or {})
        self.inst = Instance(tmp_path / "inst", build_dir, config=settings,
                             daemons=["master", "qmgr", AGENT],
                             master_cf=[
                                 "qmgr unix n - n 300 1 qmgr",
                                 "testagent unix - - n - %s testagent -L %s -C %s"
                                 % (agent_maxproc, self.agent_log, self.control),
                             ])
        self.set_control("* sent")
        self.inst.start()
        self.spool = self.inst.spool

    # -------------------------------------------------------------- agent

    def set_control(self, *lines):
        tmp = self.control + ".new"
        with open(tmp, "w") as f:
            f.write("\n".join(lines) + "\n")
        os.chmod(tmp, 0o644)
        os.rename(tmp, self.control)

    def deliveries(self):
        """The agent's log: list of dicts (qid, index, address, action, and key=value fields)."""
        try:
            with open(self.agent_log) as f:
                lines = f.read().splitlines()
        except FileNotFoundError:
            return []
        out = []
        for line in lines:
            fields = line.split(" ")
            d = {"qid": fields[0], "index": int(fields[1]), "address": fields[2],
                 "action": fields[3]}
            for kv in fields[4:]:
                k, _, v = kv.partition("=")
                d[k] = v
            out.append(d)
        return out

    def wait_deliveries(self, predicate, what, timeout=20.0):
        wait_for(lambda: "%s; agent log: %s\n%s" % (what, self.deliveries(),
                                                   self.inst.log_tail()),
                 lambda: predicate(self.deliveries()), timeout=timeout)
        return self.deliveries()

    # -------------------------------------------------------------- queue

    def tool(self, rel):
        return os.path.join(self.build_dir, rel)

    def as_owner(self):
        """subprocess arguments that run a program as mail_owner when we are root."""
        if os.geteuid() == 0:
            return {"user": self.inst.mail_owner, "group": self.inst.mail_owner}
        return {}

    def queue(self, sender, rcpts, content=None, directory="incoming", arrival=None,
              nudge=True):
        """Make a queue file (rcpts: addresses or (address, notify) pairs); returns its ID."""
        content = content or ("From: %s\nTo: %s\nSubject: test\n\nhello\n"
                              % (sender or "MAILER-DAEMON", ", ".join(
                                  r if isinstance(r, str) else r[0] for r in rcpts)))
        argv = [self.tool("tests/integration/queue_tool"), "create",
                os.path.join(self.spool, directory), "-f", sender]
        for r in rcpts:
            argv += ["-r", r if isinstance(r, str) else "%s,%d" % r]
        if arrival is not None:
            argv += ["-t", str(int(arrival))]
        env = dict(os.environ, POSTEL_CONFIG_DIR=self.inst.etc)
        p = subprocess.run(argv, input=content.encode(), capture_output=True, timeout=30,
                           env=env, **self.as_owner())
        assert p.returncode == 0, p.stderr.decode()
        qid = p.stdout.decode().strip()
        assert re.fullmatch(r"[0-9A-Z]{16}", qid), qid
        if nudge:
            self.nudge()
        return qid

    def nudge(self, req=b"I"):
        path = os.path.join(self.spool, "public", "qmgr")

        def send():
            try:
                with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as s:
                    s.settimeout(5)
                    s.connect(path)
                    s.sendall(req)
                return True
            except OSError:
                return False
        wait_for("public/qmgr to accept a nudge", send, timeout=10)

    def where(self, qid):
        """The queue directory that holds qid, or None."""
        for d in ("incoming", "active", "deferred", "hold", "corrupt"):
            if os.path.exists(os.path.join(self.spool, d, qid + ".msg")):
                return d
        return None

    def wait_where(self, qid, want, timeout=20.0):
        return wait_for(lambda: "%s in %s (is in %s)\n%s" % (qid, want, self.where(qid),
                                                            self.inst.log_tail()),
                        lambda: self.where(qid) == want, timeout=timeout)

    def slots(self, qid):
        """{address: {status, flags, attempts, next_retry}} of the queue file, wherever it is
        (qmgr may move it between the look-up and the read: then look again)."""
        for _ in range(100):
            d = self.where(qid)
            assert d is not None, "%s is not in the queue" % qid
            p = subprocess.run([self.tool("tests/integration/qslots"),
                                os.path.join(self.spool, d, qid + ".msg")],
                               capture_output=True, text=True, timeout=30)
            if p.returncode == 0:
                break
            time.sleep(0.02)
        assert p.returncode == 0, p.stderr
        out = {}
        for line in p.stdout.splitlines():
            if line.startswith("rcpt "):
                fields = line.split()
                kv = dict(f.split("=", 1) for f in fields[2:])
                out[kv["address"]] = kv
        return out

    def qmgr_pids(self):
        return [pid for pid, name in self.procs() if name == "qmgr"]

    def procs(self):
        out = []
        for pid in self.inst.children():
            try:
                with open("/proc/%d/comm" % pid) as f:
                    out.append((pid, f.read().strip()))
            except OSError:
                pass
        return out


@pytest.fixture
def qm(tmp_path, build_dir):
    for rel in ("qmgr/qmgr", AGENT, "tests/integration/queue_tool", "tests/integration/qslots"):
        if not os.access(os.path.join(build_dir, rel), os.X_OK):
            pytest.skip("%s is not built" % rel)
    t = QmgrTest(tmp_path, build_dir)
    yield t
    t.inst.stop()


def make(tmp_path, build_dir, **config):
    return QmgrTest(tmp_path, build_dir, config={k: str(v) for k, v in config.items()})


def by_address(deliveries):
    out = {}
    for d in deliveries:
        out.setdefault(d["address"], []).append(d)
    return out


# ------------------------------------------------------------------ tests


def test_delivered_and_removed(qm):
    qid = qm.queue("sender@example.org", ["a@example.net", "b@example.net"])
    got = qm.wait_deliveries(lambda d: len(d) >= 2, "two deliveries")
    qm.inst.wait_log(r"%s: removed" % qid)
    assert qm.where(qid) is None
    assert sorted(d["address"] for d in got) == ["a@example.net", "b@example.net"]
    # One request carries both recipients of the message for one nexthop.
    assert [d["nrcpt"] for d in got] == ["2", "2"]
    for d in got:
        assert d["qid"] == qid
        assert d["transport"] == "testagent"
        assert d["nexthop"] == "example.net"
        assert d["sender"] == "sender@example.org"
        assert int(d["size"]) > 0
    log = qm.inst.log_text()
    assert re.search(r"%s: from=<sender@example\.org>, size=\d+, nrcpt=2 \(queue active\)"
                     % qid, log)
    assert re.search(r"%s: to=<a@example\.net>, relay=testagent, delay=[\d.]+, "
                     r"delays=[\d.]+/[\d.]+/[\d.]+/[\d.]+, dsn=2\.0\.0, status=sent \(sent\)"
                     % qid, log)
    # One request carries both recipients of the message for one nexthop.
    assert len(set((d["qid"], d["nexthop"]) for d in got)) == 1


def test_bare_recipient_gets_myorigin_and_routes_local(qm):
    # myorigin = myhostname = mail.example.com, which is in mydestination: the
    # local transport, which this instance does not run.
    qid = qm.queue("sender", ["Joe+ext"])
    qm.inst.wait_log(r"%s: to=<Joe\+ext@mail\.example\.com>, orig_to=<Joe\+ext>, relay=none, "
                     r".*dsn=4\.3\.0, status=deferred \(delivery temporarily suspended: "
                     r"connect to transport private/local: " % qid)
    qm.wait_where(qid, "deferred")
    assert qm.deliveries() == []


def test_deferred_then_delivered_on_retry(qm):
    qm.set_control("* defer 4.2.2 mailbox full")
    qid = qm.queue("sender@example.org", ["a@example.net"])
    qm.wait_where(qid, "deferred")
    qm.inst.wait_log(r"%s: to=<a@example\.net>.*dsn=4\.2\.2, status=deferred \(mailbox full\)"
                     % qid)
    s = qm.slots(qid)["a@example.net"]
    assert s["status"] == "deferred"
    assert int(s["attempts"]) >= 1
    assert int(s["next_retry"]) > 0
    # The retry time is the file's modification time, in the future.
    st = os.stat(os.path.join(qm.spool, "deferred", qid + ".msg"))
    assert st.st_mtime > time.time() - 1
    qm.set_control("* sent")
    qm.inst.wait_log(r"%s: removed" % qid, timeout=30)
    got = by_address(qm.deliveries())["a@example.net"]
    assert [d["action"] for d in got][-1] == "sent"
    assert len(got) >= 2


def test_done_recipients_are_not_delivered_again(qm):
    qm.set_control("b@example.net defer", "* sent")
    qid = qm.queue("sender@example.org", ["a@example.net", "b@example.net"])
    qm.wait_where(qid, "deferred")
    slots = qm.slots(qid)
    assert slots["a@example.net"]["status"] == "delivered"
    assert slots["b@example.net"]["status"] == "deferred"
    qm.set_control("* sent")
    qm.inst.wait_log(r"%s: removed" % qid, timeout=30)
    got = by_address(qm.deliveries())
    assert len(got["a@example.net"]) == 1
    assert got["b@example.net"][-1]["action"] == "sent"


def test_kill9_qmgr_then_restart_delivers_only_what_is_not_done(qm):
    qm.set_control("c@example.net hang", "* sent")
    qid = qm.queue("sender@example.org", ["a@example.net", "b@example.net", "c@example.net"])
    qm.wait_deliveries(lambda d: any(x["address"] == "c@example.net" for x in d),
                       "the agent to reach c")
    # a and b have results; wait until qmgr wrote them into the file.
    wait_for("a and b recorded as delivered",
             lambda: all(qm.slots(qid)[a]["status"] == "delivered"
                         for a in ("a@example.net", "b@example.net")))
    assert qm.where(qid) == "active"
    pids = qm.qmgr_pids()
    assert len(pids) == 1
    qm.set_control("* sent")
    mark = qm.inst.log_mark()
    os.kill(pids[0], signal.SIGKILL)
    wait_for("qmgr to die", lambda: pids[0] not in qm.qmgr_pids())
    # master starts a new qmgr by itself (a wakeup service that died); the
    # nudge is harmless either way.
    qm.nudge()
    qm.inst.wait_log(r"re-queued 1 message", since=mark, timeout=30)
    qm.inst.wait_log(r"%s: removed" % qid, since=mark, timeout=30)
    got = by_address(qm.deliveries())
    assert len(got["a@example.net"]) == 1
    assert len(got["b@example.net"]) == 1
    assert [d["action"] for d in got["c@example.net"]] == ["hang", "sent"]


def test_agent_crash_defers_then_delivers(qm):
    qm.set_control("* crash")
    qid = qm.queue("sender@example.org", ["a@example.net"])
    qm.inst.wait_log(r"%s: to=<a@example\.net>, relay=none, .*dsn=4\.3\.0, status=deferred "
                     r"\(delivery agent crashed" % qid)
    qm.wait_where(qid, "deferred")
    qm.set_control("* sent")
    qm.inst.wait_log(r"%s: removed" % qid, timeout=30)


def test_missing_transport_is_deferred_with_reason(tmp_path, build_dir):
    qm = make(tmp_path, build_dir, transport_maps="inline:{ example.net=smtpx: }")
    qid = qm.queue("sender@example.org", ["a@example.net"])
    qm.inst.wait_log(r"%s: to=<a@example\.net>, relay=none, .*dsn=4\.3\.0, status=deferred "
                     r"\(delivery temporarily suspended: connect to transport private/smtpx: "
                     r"No such file or directory\)" % qid)
    qm.wait_where(qid, "deferred")
    assert qm.deliveries() == []


def test_corrupt_file_goes_to_corrupt(qm):
    bad = "0123456789ABCDEF"
    path = os.path.join(qm.spool, "incoming", bad + ".msg")
    with open(path, "wb") as f:
        f.write(b"this is not a queue file\n" * 10)
    if os.geteuid() == 0:
        os.chown(path, *_owner_ids(qm))
    qm.nudge()
    qm.inst.wait_log(r"%s: corrupt queue file: .*moved to corrupt/" % bad)
    qm.wait_where(bad, "corrupt")
    # A good file after it still goes through.
    qid = qm.queue("sender@example.org", ["a@example.net"])
    qm.inst.wait_log(r"%s: removed" % qid)


def _owner_ids(qm):
    import pwd
    pw = pwd.getpwnam(qm.inst.mail_owner)
    return pw.pw_uid, pw.pw_gid


def test_bounce_is_queued_for_permanent_failure(qm):
    qm.set_control("b@example.net bounce 5.1.1 no such user", "* sent")
    qid = qm.queue("sender@example.org", ["a@example.net", "b@example.net"])
    qm.inst.wait_log(r"%s: removed" % qid)
    qm.inst.wait_log(r"%s: sender non-delivery notification: ([0-9A-Z]{16})" % qid)
    # The notification goes to the sender, from the null sender.
    got = qm.wait_deliveries(lambda d: any(x["address"] == "sender@example.org" for x in d),
                             "the bounce delivered to the sender")
    dsn = [d for d in got if d["address"] == "sender@example.org"][0]
    assert dsn["sender"] == ""
    assert dsn["nexthop"] == "example.org"


def test_expired_message_is_returned(tmp_path, build_dir):
    qm = make(tmp_path, build_dir, maximal_queue_lifetime="0")
    qm.set_control("* defer 4.4.1 connection timed out")
    qid = qm.queue("sender@example.org", ["a@example.net"])
    qm.inst.wait_log(r"%s: from=<sender@example\.org>, status=expired, returned to sender" % qid)
    qm.inst.wait_log(r"%s: sender non-delivery notification" % qid)
    qm.inst.wait_log(r"%s: removed" % qid)


def test_error_and_discard_transports(tmp_path, build_dir):
    qm = make(tmp_path, build_dir,
              transport_maps="inline:{ { bad.example = error:5.1.2 no such domain }, "
                             "drop.example=discard: }")
    qid = qm.queue("sender@example.org", ["x@bad.example", "y@drop.example", "z@example.net"])
    qm.inst.wait_log(r"%s: to=<x@bad\.example>, relay=none, .*dsn=5\.1\.2, status=bounced "
                     r"\(no such domain\)" % qid)
    qm.inst.wait_log(r"%s: to=<y@drop\.example>, relay=none, .*dsn=2\.0\.0, status=sent "
                     r"\(discarded\)" % qid)
    qm.inst.wait_log(r"%s: removed" % qid)
    addrs = [d["address"] for d in qm.deliveries()]
    assert "z@example.net" in addrs
    assert "x@bad.example" not in addrs and "y@drop.example" not in addrs


def test_virtual_alias_expansion(tmp_path, build_dir):
    qm = make(tmp_path, build_dir,
              virtual_alias_maps="inline:{ { team@example.net = a@example.net, b@example.org } }",
              canonical_maps="inline:{ info@example.net=team@example.net }")
    qid = qm.queue("sender@example.org", ["info@example.net"])
    m = qm.inst.wait_log(r"%s: virtual alias expansion to 2 recipients continues as "
                         r"([0-9A-Z]{16})" % qid)
    new = m.group(1)
    qm.inst.wait_log(r"%s: removed" % new)
    got = by_address(qm.deliveries())
    assert got["a@example.net"][0]["qid"] == new
    assert got["a@example.net"][0]["orig"] == "info@example.net"
    assert got["b@example.org"][0]["nexthop"] == "example.org"
    assert "info@example.net" not in got and "team@example.net" not in got


def test_flush_retries_deferred_now(tmp_path, build_dir):
    qm = make(tmp_path, build_dir, minimal_backoff_time="300s", maximal_backoff_time="300s",
              queue_run_delay="300s")
    qm.set_control("* defer")
    qid = qm.queue("sender@example.org", ["a@example.net"])
    qm.wait_where(qid, "deferred")
    qm.set_control("* sent")
    time.sleep(1)
    assert qm.where(qid) == "deferred"
    qm.nudge(b"F")
    qm.inst.wait_log(r"%s: removed" % qid)


def test_active_limit_and_many_messages(tmp_path, build_dir):
    qm = make(tmp_path, build_dir, qmgr_message_active_limit="2")
    qids = [qm.queue("sender@example.org", ["r%d@example.net" % i], nudge=False)
            for i in range(8)]
    qm.nudge()
    for qid in qids:
        qm.inst.wait_log(r"%s: removed" % qid, timeout=30)
    assert sorted(d["address"] for d in qm.deliveries()) == sorted(
        "r%d@example.net" % i for i in range(8))


def test_stale_tmp_removed_and_active_requeued_at_start(tmp_path, build_dir):
    qm = make(tmp_path, build_dir, daemon_timeout="60s")
    qm.inst.stop()
    stale = os.path.join(qm.spool, "incoming", "0000000000000000.tmp")
    fresh = os.path.join(qm.spool, "incoming", "0000000000000001.tmp")
    for p in (stale, fresh):
        with open(p, "w") as f:
            f.write("partial")
    old = time.time() - 3600
    os.utime(stale, (old, old))
    qid = qm.queue("sender@example.org", ["a@example.net"], directory="active", nudge=False)
    qm.inst.start()
    qm.nudge()
    qm.inst.wait_log(r"re-queued 1 message")
    qm.inst.wait_log(r"%s: removed" % qid)
    # At start master removes every unfinished file, old or new: no writer runs yet.
    # (While the system runs, qmgr removes only those older than daemon_timeout.)
    qm.inst.wait_log(r"postel/master\[\d+\]: .*0000000000000001\.tmp: removed unfinished queue file")
    assert not os.path.exists(stale)
    assert not os.path.exists(fresh)


def test_notify_success_report(qm):
    qid = qm.queue("sender@example.org", [("a@example.net", 2)])  # NOTIFY=SUCCESS
    qm.inst.wait_log(r"%s: sender delivery status notification: [0-9A-Z]{16}" % qid)
    qm.inst.wait_log(r"%s: removed" % qid)


def test_end_to_end_smtpd_qmgr_local(tmp_path, build_dir):
    """SMTP in, through the queue manager, into a Maildir: what a user sees."""
    import smtplib
    for rel in ("smtpd/smtpd", "local/local", "qmgr/qmgr", "tools/postalias"):
        if not os.access(os.path.join(build_dir, rel), os.X_OK):
            pytest.skip("%s is not built" % rel)
    vmail = os.path.join(str(tmp_path), "vmail")
    os.makedirs(vmail)
    os.chmod(vmail, 0o1777)
    port = Instance.free_port()
    inst = Instance(tmp_path / "inst", build_dir, daemons=["master", "smtpd", "qmgr", "local"],
                    config={
                        "local_mailbox_maps": "inline:{ va=%s/va/ }" % vmail,
                        "local_recipient_maps": "inline:{ va=ok }",
                        "mail_spool_directory": os.path.join(str(tmp_path), "inst", "mail") + "/",
                        "recipient_delimiter": "+",
                    },
                    master_cf=["127.0.0.1:%d inet n - n - - smtpd" % port,
                               "qmgr unix n - n 300 1 qmgr",
                               "local unix - n n - - local"])
    os.chmod(inst.mail, 0o1777)
    inst.run_tool("postalias", os.path.join(inst.etc, "aliases"), check=True)
    inst.start()
    body = "Subject: end to end\r\n\r\nHello through the queue.\r\n"
    with smtplib.SMTP("127.0.0.1", port, timeout=30) as s:
        s.sendmail("sender@example.org", ["Va+Tag@mail.example.com"], body)
    m = inst.wait_log(r"([0-9A-Z]{16}): to=<Va\+Tag@mail\.example\.com>, relay=local, .*"
                      r"status=sent", timeout=30)
    qid = m.group(1)
    inst.wait_log(r"%s: from=<sender@example\.org>, size=\d+, nrcpt=1 \(queue active\)" % qid)
    inst.wait_log(r"%s: removed" % qid)
    new = os.path.join(vmail, "va", "new")
    files = wait_for("a message in %s" % new,
                     lambda: os.path.isdir(new) and os.listdir(new), timeout=10)
    with open(os.path.join(new, files[0]), "rb") as f:
        data = f.read()
    assert b"Subject: end to end\n" in data
    assert b"Hello through the queue.\n" in data
    assert data.startswith(b"Return-Path: <sender@example.org>\n")


def test_delay_warning_once(tmp_path, build_dir):
    qm = make(tmp_path, build_dir, delay_warning_time="1s")
    qm.set_control("a@example.net defer 4.4.1 connection timed out", "* sent")
    qid = qm.queue("sender@example.org", ["a@example.net"], arrival=time.time() - 60)
    qm.inst.wait_log(r"%s: sender delay notification: [0-9A-Z]{16}" % qid)
    qm.wait_where(qid, "deferred")
    assert qm.slots(qid)["a@example.net"]["flags"] == "1"   # QUEUE_SLOT_DELAY_WARNED
    # The warning reaches the sender; after the next attempt there is no second one.
    qm.wait_deliveries(lambda d: any(x["address"] == "sender@example.org" for x in d),
                       "the delay warning delivered to the sender")
    attempts = int(qm.slots(qid)["a@example.net"]["attempts"])
    wait_for("another attempt", lambda: qm.where(qid) == "deferred"
             and int(qm.slots(qid)["a@example.net"]["attempts"]) > attempts, timeout=20)
    assert len(re.findall(r"%s: sender delay notification" % qid, qm.inst.log_text())) == 1


def test_notify_never_suppresses_the_bounce(qm):
    qm.set_control("* bounce 5.1.1 no such user")
    qid = qm.queue("sender@example.org", [("a@example.net", 1)])  # NOTIFY=NEVER
    qm.inst.wait_log(r"%s: removed" % qid)
    assert not re.search(r"%s: sender non-delivery notification" % qid, qm.inst.log_text())
    assert [d["address"] for d in qm.deliveries()] == ["a@example.net"]


def test_table_failure_defers_never_bounces(tmp_path, build_dir):
    qm = make(tmp_path, build_dir, transport_maps="hash:%s/no-such-table" % tmp_path)
    qid = qm.queue("sender@example.org", ["a@example.net"])
    qm.inst.wait_log(r"%s: to=<a@example\.net>, relay=none, .*dsn=4\.3\.0, status=deferred "
                     r"\(address resolver failure: transport_maps: " % qid)
    qm.wait_where(qid, "deferred")
    assert qm.deliveries() == []


def test_destination_concurrency_limit(tmp_path, build_dir):
    qm = make(tmp_path, build_dir, testagent_destination_concurrency_limit="2",
              testagent_destination_recipient_limit="1")
    qm.set_control("* sleep1")
    qids = [qm.queue("sender@example.org", ["r%d@example.net" % i], nudge=False)
            for i in range(6)]
    qm.nudge()
    for qid in qids:
        qm.inst.wait_log(r"%s: removed" % qid, timeout=30)
    starts = sorted(float(d["time"]) for d in qm.deliveries())
    assert len(starts) == 6
    # At most two deliveries to example.net at once: any three starts span a second.
    for i in range(len(starts) - 2):
        assert starts[i + 2] - starts[i] >= 0.9, starts
    # A different destination is not held up by the busy one.
    qm.set_control("* sent")
    qid = qm.queue("sender@example.org", ["x@example.org"])
    qm.inst.wait_log(r"%s: removed" % qid, timeout=10)


def test_recipient_limit_splits_requests(tmp_path, build_dir):
    qm = make(tmp_path, build_dir, testagent_destination_recipient_limit="2")
    rcpts = ["r%d@example.net" % i for i in range(5)]
    qid = qm.queue("sender@example.org", rcpts)
    qm.inst.wait_log(r"%s: removed" % qid)
    got = qm.deliveries()
    assert sorted(d["address"] for d in got) == sorted(rcpts)
    # Requests of at most two recipients of the message: 2 + 2 + 1.
    assert sorted(int(d["nrcpt"]) for d in got) == [1, 2, 2, 2, 2]


def test_reload_waits_for_deliveries_in_progress(qm):
    qm.set_control("* sleep2")
    qid = qm.queue("sender@example.org", ["a@example.net"])
    qm.wait_deliveries(lambda d: len(d) >= 1, "the delivery to start")
    mark = qm.inst.log_mark()
    qm.inst.reload()
    qm.inst.wait_log(r"waiting for 1 deliveries in progress", since=mark)
    qm.inst.wait_log(r"%s: removed" % qid, timeout=20)
    time.sleep(1)
    # Recorded by the old qmgr before it left: delivered once, not again by the new one.
    assert [d["address"] for d in qm.deliveries()] == ["a@example.net"]


def test_next_hop_failure_defers_the_others_without_trying(tmp_path, build_dir):
    qm = make(tmp_path, build_dir, testagent_destination_concurrency_limit="1")
    qm.set_control("* site 4.4.1 connect to mx.example.net: Connection refused")
    qids = [qm.queue("sender@example.org", ["r%d@example.net" % i], nudge=False)
            for i in range(3)]
    other = qm.queue("sender@example.org", ["x@example.org"], nudge=False)
    qm.nudge()
    for qid in qids + [other]:
        qm.wait_where(qid, "deferred")
    log = qm.inst.log_text()
    assert re.search(r"transport testagent: next hop example\.net suspended for \d+s: "
                     r"connect to mx\.example\.net: Connection refused", log)
    suspended = re.findall(r"to=<r\d@example\.net>, relay=none, .*dsn=4\.4\.1, status=deferred "
                           r"\(delivery temporarily suspended: connect to mx\.example\.net: "
                           r"Connection refused\)", log)
    tried = [d for d in qm.deliveries() if d["nexthop"] == "example.net"]
    # One recipient was tried; the other two never reached the agent.
    assert len(tried) == 1 and len(suspended) == 2
    # Another next hop of the same transport is not affected.
    assert [d["address"] for d in qm.deliveries() if d["nexthop"] == "example.org"] == \
        ["x@example.org"]


def _max_in_flight(starts, span):
    """The most deliveries that started within span seconds of each other."""
    return max(sum(1 for t in starts if s <= t < s + span) for s in starts)


def test_slow_start_grows_destination_concurrency(tmp_path, build_dir):
    # Each delivery takes at least one second (the agent logs, then sleeps), so
    # deliveries that started less than a second apart were in flight together.
    qm = make(tmp_path, build_dir, initial_destination_concurrency="2",
              testagent_destination_concurrency_limit="10",
              testagent_destination_recipient_limit="1")
    qm.set_control("* sleep1")
    qids = [qm.queue("sender@example.org", ["r%d@example.net" % i], nudge=False)
            for i in range(20)]
    qm.nudge()
    for qid in qids:
        qm.inst.wait_log(r"%s: removed" % qid, timeout=60)
    starts = sorted(float(d["time"]) for d in qm.deliveries())
    assert len(starts) == 20
    # At first two at a time: the third starts only after one of the first two ended.
    assert starts[2] - starts[0] >= 0.9, starts
    # After successes more than two run at once, never more than the limit.
    assert _max_in_flight(starts, 0.9) >= 3, starts
    assert _max_in_flight(starts, 0.9) <= 10, starts
