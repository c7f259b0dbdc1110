"""Integration tests of master(8) and the daemon skeleton, driven through the
test-only echod service (tests/integration/echod.c).

Each test runs the build tree's master in the foreground on a throw-away
instance (instance.py) whose master.cf has an echod service on a free
loopback port. Every wait is bounded: the helpers poll with a deadline.

Environment: POSTEL_BUILD_DIR names the build tree (default <repo>/build).
"""

import os
import pwd
import re
import signal
import socket
import subprocess
import time

import pytest

from instance import MASTER_CF_HEADER, SOURCE_DIR, Instance, free_port, proc_alive, wait_for

BUILD = os.path.abspath(os.environ.get("POSTEL_BUILD_DIR") or os.path.join(SOURCE_DIR, "build"))
MASTER = os.path.join(BUILD, "master", "master")
ECHOD = os.path.join(BUILD, "tests", "integration", "echod")

GREETING = re.compile(
    rb"^echod (\S+) pid=(\d+) uid=(\d+) gid=(\d+) groups=([\d,]*)\r\n$")

pytestmark = pytest.mark.skipif(
    not (os.access(MASTER, os.X_OK) and os.access(ECHOD, os.X_OK)),
    reason="master or echod not built in %s (set POSTEL_BUILD_DIR)" % BUILD)


def proc_status(pid):
    """/proc/<pid>/status as a dict of field -> value text."""
    out = {}
    with open("/proc/%d/status" % pid) as f:
        for line in f:
            key, _, value = line.partition(":")
            out[key] = value.strip()
    return out


class Client:
    """A line-oriented client of one echod connection."""

    def __init__(self, port=None, path=None, timeout=5.0):
        if path:
            self.sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
            self.sock.settimeout(timeout)
            self.sock.connect(path)
        else:
            self.sock = socket.create_connection(("127.0.0.1", port), timeout=timeout)
        self.buf = b""

    def readline(self, timeout=5.0):
        """One line (with CRLF); raises socket.timeout when none comes in time."""
        deadline = time.monotonic() + timeout
        while b"\n" not in self.buf:
            left = deadline - time.monotonic()
            if left <= 0:
                raise socket.timeout("no line within %.1fs" % timeout)
            self.sock.settimeout(left)
            data = self.sock.recv(4096)
            if not data:
                raise EOFError("connection closed; partial: %r" % self.buf)
            self.buf += data
        line, _, self.buf = self.buf.partition(b"\n")
        return line + b"\n"

    def greeting(self, timeout=5.0):
        """Read and parse the greeting: dict with service, pid, uid, gid, groups."""
        line = self.readline(timeout)
        m = GREETING.match(line)
        assert m, "bad greeting %r" % line
        return {"service": m.group(1).decode(), "pid": int(m.group(2)),
                "uid": int(m.group(3)), "gid": int(m.group(4)),
                "groups": [int(g) for g in m.group(5).split(b",") if g]}

    def ask(self, text, timeout=5.0):
        self.sock.sendall(text.encode() + b"\r\n")
        return self.readline(timeout).decode().rstrip("\r\n")

    def close(self):
        try:
            self.sock.close()
        except OSError:
            pass


def echod_instance(tmp_path, build_dir):
    """An instance with an echod service (maxproc 3) on a free port (inst.port); the same
    program also runs as echoev, on the event-driven skeleton."""
    port = free_port()
    inst = Instance(tmp_path / "inst", build_dir, daemons=["master", "echod"],
                    master_cf=["%d inet n - n - 3 echod" % port])
    inst.port = port
    os.symlink(ECHOD, os.path.join(inst.libexec, "echoev"))
    # The queue and data directories as master finds them without "postel check" (run_master).
    os.makedirs(inst.spool, exist_ok=True)
    os.makedirs(inst.data, exist_ok=True)
    return inst


def master_cf_line(n):
    """The line number in master.cf of the n-th line (from 1) that a test gives."""
    return len(MASTER_CF_HEADER.splitlines()) + n


def run_master(inst, *args, timeout=10):
    """Run master on inst to completion (it must exit by itself)."""
    return subprocess.run([MASTER, "-c", inst.etc] + list(args), capture_output=True,
                          text=True, timeout=timeout)


def greet(inst):
    """Connect, read the greeting, return (client, greeting); the process is remembered
    for the clean-up."""
    c = Client(port=inst.port)
    g = c.greeting()
    inst.children()
    return c, g


@pytest.fixture
def inst(tmp_path, build_dir):
    i = echod_instance(tmp_path, build_dir)
    yield i
    i.stop()


# --------------------------------------------------------------- basics

def test_greeting_and_echo(inst):
    inst.start(foreground=True)
    c, g = greet(inst)
    assert g["service"] == str(inst.port)
    assert g["pid"] in inst.children()
    assert c.ask("hello world") == "hello world"
    assert c.ask("lookup x").startswith("error ")
    assert c.ask("quit") == "bye"
    c.close()
    if not inst.root:
        assert g["uid"] == os.geteuid()
        user = pwd.getpwuid(os.geteuid()).pw_name
        assert "running as non-root user %s: all services run as that user" % user in inst.log_text()
    assert re.search(r"postel/master\[%d\]: daemon started -- version \S+, configuration %s"
                     % (inst.proc.pid, re.escape(inst.etc)), inst.log_text())
    assert int(open(inst.pid_file).read()) == inst.proc.pid


def test_maxproc_limit(inst):
    inst.set_master_cf(["%d inet n - n - 3 echod" % inst.port])
    inst.start(foreground=True)
    clients = []
    pids = set()
    for _ in range(3):
        c, g = greet(inst)
        clients.append(c)
        pids.add(g["pid"])
    assert len(pids) == 3, "three busy clients need three processes"
    # A fourth client is queued by the kernel, but no fourth process starts.
    extra = Client(port=inst.port)
    with pytest.raises(socket.timeout):
        extra.readline(timeout=1.0)
    kids = inst.children()
    assert len(kids) == 3 and set(kids) == pids, kids
    # One client leaves: its process takes the waiting client.
    assert clients[0].ask("quit") == "bye"
    clients[0].close()
    g = extra.greeting(timeout=5)
    assert g["pid"] in pids
    assert len(inst.children()) == 3
    for c in clients[1:] + [extra]:
        c.close()


def test_sleep_holds_process_busy(inst):
    inst.set_master_cf(["%d inet n - n - 2 echod" % inst.port])
    inst.start(foreground=True)
    a, ga = greet(inst)
    b, gb = greet(inst)
    assert ga["pid"] != gb["pid"]
    a.sock.sendall(b"sleep 1\r\n")
    b.close()
    c, gc = greet(inst)           # b's process is free again
    assert gc["pid"] == gb["pid"]
    assert a.readline(timeout=5) == b"slept\r\n"
    a.close()
    c.close()


def test_max_use_and_max_idle(inst):
    inst.set_master_cf(["%d inet n - n - 1 echod -o max_use=2 -o max_idle=1s" % inst.port])
    inst.start(foreground=True)
    seen = []
    for _ in range(3):
        c, g = greet(inst)
        assert c.ask("quit") == "bye"
        c.close()
        seen.append(g["pid"])
    assert seen[0] == seen[1], "one process serves max_use = 2 clients"
    assert seen[2] != seen[1], "a new process after max_use"
    wait_for("idle process exit (max_idle 1s)", lambda: not proc_alive(seen[2]), timeout=5)
    wait_for("no children", lambda: inst.children() == [], timeout=3)
    c, g = greet(inst)            # and master starts a new one on demand
    c.close()


# --------------------------------------------------------------- failures

def test_killed_child_is_logged_and_replaced(inst):
    inst.start(foreground=True)
    c, g = greet(inst)
    c.close()
    os.kill(g["pid"], signal.SIGKILL)
    inst.wait_log(r"warning: process %s pid %d killed by signal 9"
                  % (re.escape(os.path.join(inst.libexec, "echod")), g["pid"]))
    c2, g2 = greet(inst)
    assert g2["pid"] != g["pid"]
    assert c2.ask("ping") == "ping"
    c2.close()


def test_crash_is_logged(inst):
    inst.start(foreground=True)
    c, g = greet(inst)
    c.sock.sendall(b"crash\r\n")
    inst.wait_log(r"pid %d killed by signal 6" % g["pid"])
    c.close()
    c2, g2 = greet(inst)
    assert g2["pid"] != g["pid"]
    c2.close()


def test_watchdog_ends_stuck_process(inst):
    inst.set_master_cf(["%d inet n - n - 3 echod -o daemon_timeout=1s" % inst.port])
    inst.start(foreground=True)
    c, g = greet(inst)
    c.sock.sendall(b"sleep 5\r\n")
    inst.wait_log(r"pid %d exit status 75 \(watchdog timeout\)" % g["pid"], timeout=5)
    c.close()


def test_bad_command_throttles(inst):
    inst.set_master_cf(["%d inet n - n - 3 no-such-daemon" % inst.port])
    inst.start(foreground=True)
    c = Client(port=inst.port)
    inst.wait_log(r"no-such-daemon: bad command startup -- throttling")
    first = inst.log_text().count("bad command startup")
    # service_throttle_time = 1s: master retries later, not in a tight loop.
    inst.wait_log(r"(?s)bad command startup.*bad command startup", timeout=5)
    assert inst.log_text().count("bad command startup") <= first + 2
    assert inst.proc.poll() is None
    c.close()


def test_unknown_table_type_is_echods_business(inst):
    inst.set_master_cf(["%d inet n - n - 3 echod -T nosuchtype:/x" % inst.port])
    inst.start(foreground=True)
    c = Client(port=inst.port)
    inst.wait_log(r"postel/echod\[\d+\]: fatal: open table nosuchtype:/x")
    inst.wait_log(r"echod: bad command startup -- throttling")
    assert inst.proc.poll() is None
    c.close()


# --------------------------------------------------------------- reload

def test_reload_new_port(inst):
    inst.start(foreground=True)
    old = inst.port
    c, g = greet(inst)
    c.close()
    new = free_port()
    inst.set_master_cf(["%d inet n - n - 3 echod" % new])
    mark = len(inst.log_text())
    inst.proc.send_signal(signal.SIGHUP)
    inst.wait_log(r"reload -- version \S+, configuration", since=mark)
    c2 = Client(port=new)
    g2 = c2.greeting()
    assert g2["service"] == str(new)
    c2.close()

    def refused():
        try:
            socket.create_connection(("127.0.0.1", old), timeout=1).close()
            return False
        except ConnectionRefusedError:
            return True
    wait_for("old port closed", refused)
    # The idle process of the old generation has left.
    wait_for("old process exit", lambda: not proc_alive(g["pid"]))


def test_reload_keeps_busy_client_and_changes_maxproc(inst):
    inst.set_master_cf(["%d inet n - n - 1 echod" % inst.port])
    inst.start(foreground=True)
    busy, g = greet(inst)
    inst.set_master_cf(["%d inet n - n - 2 echod" % inst.port])
    mark = len(inst.log_text())
    inst.proc.send_signal(signal.SIGHUP)
    inst.wait_log(r"reload --", since=mark)
    # The old-generation process finishes its client undisturbed...
    assert busy.ask("still there") == "still there"
    # ...while the new generation serves with the new limit: two at once.
    a, ga = greet(inst)
    b, gb = greet(inst)
    assert len({g["pid"], ga["pid"], gb["pid"]}) == 3
    busy.close()
    wait_for("old process exit", lambda: not proc_alive(g["pid"]))
    a.close()
    b.close()


def test_reload_with_bad_main_cf_keeps_running(inst):
    inst.start(foreground=True)
    c, g = greet(inst)
    assert c.ask("quit") == "bye"
    c.close()
    with open(os.path.join(inst.etc, "main.cf"), "a") as f:
        f.write("this is not a parameter line\n")
    mark = len(inst.log_text())
    inst.proc.send_signal(signal.SIGHUP)
    m = inst.wait_log(r"error: reload failed: .*main\.cf, line \d+.*keeping the running "
                      r"configuration", since=mark)
    assert m
    # The running generation keeps serving (a new process would read the
    # broken main.cf itself and fail, as it would without any reload).
    c, g2 = greet(inst)
    assert g2["pid"] == g["pid"]
    assert c.ask("ping") == "ping"
    c.close()
    assert inst.proc.poll() is None


def test_reload_with_bad_master_cf_keeps_running(inst):
    inst.start(foreground=True)
    inst.set_master_cf(["%d inet n - n -" % free_port()])
    mark = len(inst.log_text())
    inst.proc.send_signal(signal.SIGHUP)
    inst.wait_log(r"error: reload failed: .*master\.cf, line %d" % master_cf_line(1), since=mark)
    c, g = greet(inst)
    c.close()


# --------------------------------------------------------------- one master, stop

def test_second_master_refuses(inst):
    inst.start(foreground=True)
    r = run_master(inst, "-f")
    assert r.returncode != 0
    assert "the Postel mail system is already running (pid %d)" % inst.proc.pid in r.stderr
    assert run_master(inst, "-t").returncode == 1
    # The first master is unharmed.
    c, g = greet(inst)
    c.close()
    assert os.path.exists(inst.pid_file)


def test_sigterm_stops_everything(inst):
    inst.start(foreground=True)
    held = [greet(inst)[0] for _ in range(2)]
    kids = inst.children()
    assert len(kids) == 2
    assert inst.stop() == []
    assert inst.proc.returncode == 0
    for pid in kids:
        assert not proc_alive(pid), "process %d left behind" % pid
    assert "terminating on signal 15" in inst.log_text()
    assert not os.path.exists(inst.pid_file)
    assert run_master(inst, "-t").returncode == 0
    for c in held:
        c.close()


def test_children_leave_when_master_dies(inst):
    inst.start(foreground=True)
    busy, gb = greet(inst)
    idle, gi = greet(inst)
    assert gi["pid"] != gb["pid"]
    assert idle.ask("quit") == "bye"
    idle.close()
    inst.proc.kill()
    inst.proc.wait(timeout=5)
    # The idle process sees its status socket close and leaves at once...
    wait_for("idle child exit", lambda: not proc_alive(gi["pid"]))
    # ...the busy one finishes its client first.
    assert busy.ask("ping") == "ping"
    busy.close()
    wait_for("busy child exit", lambda: not proc_alive(gb["pid"]))


def test_daemon_mode(inst):
    r = run_master(inst)
    assert r.returncode == 0, r.stderr
    pid = int(open(inst.pid_file).read())
    try:
        assert proc_alive(pid)
        assert run_master(inst, "-t").returncode == 1
        c, g = greet(inst)
        c.close()
    finally:
        os.kill(pid, signal.SIGTERM)
    wait_for("daemon exit", lambda: not proc_alive(pid), timeout=8)
    wait_for("pid file removal", lambda: not os.path.exists(inst.pid_file))


def test_daemon_mode_reports_startup_failure(inst):
    blocker = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    blocker.bind(("127.0.0.1", inst.port))
    blocker.listen(1)
    inst.set_master_cf(["qmgr unix n - n - 1 echod", "%d inet n - n - 3 echod" % inst.port])
    try:
        r = run_master(inst)
    finally:
        blocker.close()
    assert r.returncode == 1
    assert re.search(r"master\.cf, line %d: service %d: .*Address already in use"
                     % (master_cf_line(2), inst.port), r.stderr), r.stderr
    assert not os.path.exists(inst.pid_file)
    assert os.listdir(os.path.join(inst.spool, "private")) == []


# --------------------------------------------------------------- bad configuration

def assert_nothing_left(inst):
    assert not os.path.exists(inst.pid_file)
    for d in ("private", "public"):
        p = os.path.join(inst.spool, d)
        assert not os.path.exists(p) or os.listdir(p) == []


def test_bad_main_cf(inst):
    inst.set_master_cf(["qmgr unix n - n - 1 echod", "%d inet n - n - 3 echod" % inst.port])
    with open(os.path.join(inst.etc, "main.cf"), "a") as f:
        f.write("garbage line without equals\n")
    r = run_master(inst, "-f")
    assert r.returncode != 0
    assert re.search(r"main\.cf, line \d+", r.stderr), r.stderr
    assert_nothing_left(inst)


def test_bad_master_cf(inst):
    inst.set_master_cf(["qmgr unix n - n - 1 echod", "%d inet n - n" % inst.port])
    r = run_master(inst, "-f")
    assert r.returncode != 0
    assert re.search(r"master\.cf, line %d" % master_cf_line(2), r.stderr), r.stderr
    assert_nothing_left(inst)


def test_bad_service_port(inst):
    inst.set_master_cf(["qmgr unix n - n - 1 echod", "no-such-port-name inet n - n - 3 echod"])
    r = run_master(inst, "-f")
    assert r.returncode != 0
    assert re.search(r"master\.cf, line %d: service no-such-port-name: .*unknown service name"
                     % master_cf_line(2), r.stderr), r.stderr
    assert_nothing_left(inst)


# --------------------------------------------------------------- unix services, wakeup

def test_unix_service_and_wakeup(inst):
    inst.set_master_cf(["%d inet n - n - 3 echod" % inst.port,
                      "echow unix n - n 1 1 echod -W",
                      "echou unix - - n - 2 echod"])
    inst.start(foreground=True)
    inst.wait_log(r"postel/echod\[\d+\]: wakeup from master", timeout=5)
    wake = os.path.join(inst.spool, "public", "echow")
    path = os.path.join(inst.spool, "private", "echou")
    c = Client(path=path)
    g = c.greeting()
    assert g["service"] == "echou"
    assert c.ask("ping") == "ping"
    c.close()
    assert oct(os.stat(os.path.join(inst.spool, "private")).st_mode & 0o777) == "0o700"
    assert inst.stop() == []
    assert inst.proc.returncode == 0
    assert not os.path.exists(path) and not os.path.exists(wake)


# --------------------------------------------------------------- event-driven skeleton

def test_event_server_serves_many_clients_in_one_process(inst):
    inst.set_master_cf(["%d inet n - n - 1 echoev -o max_idle=1s" % inst.port])
    inst.start(foreground=True)
    clients = [greet(inst) for _ in range(4)]
    assert len({g["pid"] for _, g in clients}) == 1, "one process, four clients"
    for i, (c, _) in enumerate(clients):
        assert c.ask("hello %d" % i) == "hello %d" % i
    for c, _ in clients:
        assert c.ask("quit") == "bye"
        c.close()
    pid = clients[0][1]["pid"]
    # No clients left: max_idle (1s) ends the process.
    wait_for("idle event server exit", lambda: not proc_alive(pid), timeout=5)
    c, g = greet(inst)
    assert g["pid"] != pid
    c.close()


def test_event_server_trigger_and_reload(inst):
    inst.set_master_cf(["%d inet n - n - 3 echod" % inst.port,
                      "trig unix n - n 1 1 echoev -W",
                      "trigf fifo n - n 1 1 echoev -W"])
    inst.start(foreground=True)
    inst.wait_log(r"(?s)(postel/echoev\[\d+\]: wakeup from master.*){2}")
    # A local client's trigger bytes arrive too.
    s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    s.connect(os.path.join(inst.spool, "public", "trig"))
    s.sendall(b"WW")
    s.close()
    inst.wait_log(r"(?s)(wakeup from master.*){4}")
    pids = [p for p in inst.children()]
    assert len(pids) == 2, "one process each for the unix and the fifo service"
    # Reload: the resident process of the old generation leaves at once.
    mark = len(inst.log_text())
    inst.proc.send_signal(signal.SIGHUP)
    inst.wait_log(r"reload --", since=mark)
    for pid in pids:
        wait_for("old trigger process exit", lambda: not proc_alive(pid))


# --------------------------------------------------------------- tables

def table_type():
    """A table type that postmap can build in this build tree, or None."""
    try:
        with open(os.path.join(BUILD, "config.h")) as f:
            text = f.read()
    except OSError:
        return None
    for macro, kind in (("HAVE_LMDB", "lmdb"), ("HAVE_BDB", "hash"), ("HAVE_CDB", "cdb")):
        if re.search(r"^#define %s 1" % macro, text, re.M):
            return kind
    return None


def test_table_rebuilt_by_postmap(inst):
    if not os.access(inst.tool("postmap"), os.X_OK):
        pytest.skip("tools/postmap is not built yet in %s" % BUILD)
    kind = table_type()
    if kind is None:
        pytest.skip("no indexed table type (lmdb, hash, cdb) in this build")
    table = os.path.join(inst.data, "echo_table")
    with open(table, "w") as f:
        f.write("Key1 value-one\n")
    inst.postmap("%s:%s" % (kind, table), check=True, timeout=10)
    inst.set_master_cf(["%d inet n - n - 3 echod -T %s:%s" % (inst.port, kind, table)])
    inst.start(foreground=True)
    c, g = greet(inst)
    assert c.ask("lookup key1") == "found value-one"
    assert c.ask("lookup KEY1") == "found value-one"
    assert c.ask("lookup nope") == "notfound"
    with open(table, "w") as f:
        f.write("key1 value-two\nkey2 second\n")
    inst.postmap("%s:%s" % (kind, table), check=True, timeout=10)
    # The same process, the same connection, sees the rebuilt table.
    assert c.ask("lookup key1") == "found value-two"
    assert c.ask("lookup key2") == "found second"
    c.close()


# --------------------------------------------------------------- privileges

def test_root_drops_privileges(inst):
    if os.geteuid() != 0:
        pytest.skip("privilege drop needs root")
    pw = pwd.getpwnam(inst.mail_owner)
    inst.start(foreground=True)
    c, g = greet(inst)
    assert (g["uid"], g["gid"], g["groups"]) == (pw.pw_uid, pw.pw_gid, [pw.pw_gid])
    st = proc_status(g["pid"])
    assert st["Uid"].split() == [str(pw.pw_uid)] * 4
    assert st["Gid"].split() == [str(pw.pw_gid)] * 4
    assert st["Groups"].split() == [str(pw.pw_gid)]
    assert proc_status(inst.proc.pid)["Uid"].split()[0] == "0"
    c.close()


def test_root_unpriv_n_keeps_root(inst):
    if os.geteuid() != 0:
        pytest.skip("needs root")
    inst.set_master_cf(["%d inet n n n - 3 echod" % inst.port])
    inst.start(foreground=True)
    c, g = greet(inst)
    assert g["uid"] == 0
    c.close()
