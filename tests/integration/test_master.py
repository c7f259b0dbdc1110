"""Integration tests of master(8) and the daemon skeleton, driven through the
test-only echod service (tests/integration/echod.c).

Each test builds a throw-away instance (main.cf, master.cf, queue and daemon
directories) and runs the build tree's master on free loopback ports. Every
wait is bounded: the helpers poll with a deadline.

Environment: POSTEL_BUILD_DIR names the build tree (default <repo>/build).
"""

import os
import pwd
import re
import signal
import shutil
import socket
import subprocess
import tempfile
import time

import pytest

REPO = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
BUILD = os.environ.get("POSTEL_BUILD_DIR", os.path.join(REPO, "build"))
MASTER = os.path.join(BUILD, "master", "master")
ECHOD = os.path.join(BUILD, "tests", "integration", "echod")
POSTMAP = os.path.join(BUILD, "tools", "postmap")
TEST_USER = "postel-test"

GREETING = re.compile(
    rb"^echod (\S+) pid=(\d+) uid=(\d+) gid=(\d+) groups=([\d,]*)\r\n$")

pytestmark = pytest.mark.skipif(
    not (os.access(MASTER, os.X_OK) and os.access(ECHOD, os.X_OK)),
    reason="master or echod not built in %s (set POSTEL_BUILD_DIR)" % BUILD)


def wait_for(what, predicate, timeout=5.0, interval=0.02):
    """Poll predicate until it returns a true value or the deadline passes."""
    deadline = time.monotonic() + timeout
    while True:
        value = predicate()
        if value:
            return value
        if time.monotonic() >= deadline:
            raise AssertionError("timed out after %.1fs waiting for %s" % (timeout, what))
        time.sleep(interval)


def free_port():
    """A TCP port on 127.0.0.1 that nothing listens on right now."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def proc_exists(pid):
    """True when pid is a live (non-zombie) process."""
    try:
        with open("/proc/%d/stat" % pid) as f:
            stat = f.read()
    except OSError:
        return False
    return stat[stat.rindex(")") + 2] != "Z"


def proc_children(ppid):
    """Live processes whose parent is ppid."""
    kids = []
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            with open("/proc/%s/stat" % entry) as f:
                stat = f.read()
        except OSError:
            continue
        fields = stat[stat.rindex(")") + 2:].split()
        if int(fields[1]) == ppid and fields[0] != "Z":
            kids.append(int(entry))
    return kids


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


class Instance:
    """A throw-away Postel instance directory and its master process."""

    def __init__(self, top):
        self.top = top
        self.conf = os.path.join(top, "conf")
        self.queue = os.path.join(top, "queue")
        self.data = os.path.join(top, "data")
        self.libexec = os.path.join(top, "libexec")
        self.maillog = os.path.join(top, "maillog")
        self.stderr_path = os.path.join(top, "master.stderr")
        for d in (self.conf, self.queue, self.data, self.libexec):
            os.makedirs(d, exist_ok=True)
        os.symlink(MASTER, os.path.join(self.libexec, "master"))
        os.symlink(ECHOD, os.path.join(self.libexec, "echod"))
        # The same program under this name runs on the event-driven skeleton.
        os.symlink(ECHOD, os.path.join(self.libexec, "echoev"))
        self.port = free_port()
        self.root = os.geteuid() == 0
        self.proc = None
        self.known_pids = set()
        self.write_main()
        self.write_master("%d inet n - n - 3 echod" % self.port)

    def main_cf_text(self, extra=""):
        text = ("queue_directory = %s\n"
                "data_directory = %s\n"
                "daemon_directory = %s\n"
                "maillog_file = %s\n"
                "inet_interfaces = 127.0.0.1\n"
                "inet_protocols = ipv4\n"
                "service_throttle_time = 1s\n"
                "import_environment = POSTEL_CONFIG_DIR TZ LANG=C ASAN_OPTIONS "
                "UBSAN_OPTIONS LSAN_OPTIONS\n"
                % (self.queue, self.data, self.libexec, self.maillog))
        if self.root:
            text += "mail_owner = %s\n" % TEST_USER
        return text + extra

    def write_main(self, extra=""):
        with open(os.path.join(self.conf, "main.cf"), "w") as f:
            f.write(self.main_cf_text(extra))

    def write_master(self, *lines):
        with open(os.path.join(self.conf, "master.cf"), "w") as f:
            f.write("# service type private unpriv chroot wakeup maxproc command\n")
            for line in lines:
                f.write(line + "\n")

    @property
    def pid_file(self):
        return os.path.join(self.queue, "pid", "master.pid")

    def log(self):
        try:
            with open(self.maillog, errors="replace") as f:
                return f.read()
        except FileNotFoundError:
            return ""

    def wait_log(self, pattern, timeout=5.0, start=0):
        """Wait until the maillog (from offset start) matches pattern; returns the match."""
        rx = re.compile(pattern)
        return wait_for("log line /%s/\n--- log ---\n%s" % (pattern, self.log()),
                        lambda: rx.search(self.log()[start:]), timeout)

    def run_master(self, *args, timeout=10):
        """Run master to completion (it must exit by itself)."""
        return subprocess.run([MASTER, "-c", self.conf] + list(args), capture_output=True,
                              text=True, timeout=timeout)

    def start(self):
        """Start master in the foreground and wait until it is up."""
        self.stderr = open(self.stderr_path, "w")
        self.proc = subprocess.Popen([MASTER, "-c", self.conf, "-f"], stdin=subprocess.DEVNULL,
                                     stdout=self.stderr, stderr=self.stderr)
        wait_for("master start-up (log: %s)" % self.log(),
                 lambda: self.proc.poll() is not None or "daemon started" in self.log())
        assert self.proc.poll() is None, "master exited: %s" % self.read_stderr()
        return self.proc

    def read_stderr(self):
        with open(self.stderr_path) as f:
            return f.read()

    def children(self):
        kids = proc_children(self.proc.pid) if self.proc else []
        self.known_pids.update(kids)
        return kids

    def client(self, **kw):
        c = Client(port=self.port, **kw)
        return c

    def greet(self):
        """Connect, read the greeting, return (client, greeting)."""
        c = self.client()
        g = c.greeting()
        self.known_pids.add(g["pid"])
        return c, g

    def signal(self, sig):
        self.proc.send_signal(sig)

    def stop(self):
        """SIGTERM master and wait (bounded) for it; returns its exit status."""
        if self.proc is None or self.proc.poll() is not None:
            return self.proc.returncode if self.proc else None
        self.children()
        self.proc.send_signal(signal.SIGTERM)
        try:
            return self.proc.wait(timeout=8)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait(timeout=5)
            raise

    def cleanup(self):
        try:
            self.stop()
        finally:
            for pid in self.known_pids:
                if proc_exists(pid):
                    try:
                        os.kill(pid, signal.SIGKILL)
                    except OSError:
                        pass


def ensure_test_user():
    """The unprivileged test user (root only); created when absent."""
    try:
        return pwd.getpwnam(TEST_USER)
    except KeyError:
        subprocess.run(["useradd", "--system", "--no-create-home", "--home-dir", "/nonexistent",
                        "--shell", "/usr/sbin/nologin", TEST_USER], check=True,
                       capture_output=True)
        return pwd.getpwnam(TEST_USER)


@pytest.fixture
def inst(tmp_path):
    if os.geteuid() == 0:
        ensure_test_user()
        # Services run as the test user: the instance must be reachable for it.
        top = tempfile.mkdtemp(prefix="postel-master-", dir="/tmp")
        os.chmod(top, 0o755)
    else:
        top = str(tmp_path)
    i = Instance(top)
    yield i
    try:
        i.cleanup()
    finally:
        if top != str(tmp_path):
            shutil.rmtree(top, ignore_errors=True)


# --------------------------------------------------------------- basics

def test_greeting_and_echo(inst):
    inst.start()
    c, g = inst.greet()
    assert g["service"] == str(inst.port)
    assert g["pid"] in inst.children()
    assert c.ask("hello world") == "hello world"
    assert c.ask("lookup x").startswith("error ")
    assert c.ask("quit") == "bye"
    c.close()
    if not inst.root:
        assert g["uid"] == os.geteuid()
        user = pwd.getpwuid(os.geteuid()).pw_name
        assert "running as non-root user %s: all services run as that user" % user in inst.log()
    assert re.search(r"postel/master\[%d\]: daemon started -- version \S+, configuration %s"
                     % (inst.proc.pid, re.escape(inst.conf)), inst.log())
    assert int(open(inst.pid_file).read()) == inst.proc.pid


def test_maxproc_limit(inst):
    inst.write_master("%d inet n - n - 3 echod" % inst.port)
    inst.start()
    clients = []
    pids = set()
    for _ in range(3):
        c, g = inst.greet()
        clients.append(c)
        pids.add(g["pid"])
    assert len(pids) == 3, "three busy clients need three processes"
    # A fourth client is queued by the kernel, but no fourth process starts.
    extra = inst.client()
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
    inst.write_master("%d inet n - n - 2 echod" % inst.port)
    inst.start()
    a, ga = inst.greet()
    b, gb = inst.greet()
    assert ga["pid"] != gb["pid"]
    a.sock.sendall(b"sleep 1\r\n")
    b.close()
    c, gc = inst.greet()           # b's process is free again
    assert gc["pid"] == gb["pid"]
    assert a.readline(timeout=5) == b"slept\r\n"
    a.close()
    c.close()


def test_max_use_and_max_idle(inst):
    inst.write_master("%d inet n - n - 1 echod -o max_use=2 -o max_idle=1s" % inst.port)
    inst.start()
    seen = []
    for _ in range(3):
        c, g = inst.greet()
        assert c.ask("quit") == "bye"
        c.close()
        seen.append(g["pid"])
    assert seen[0] == seen[1], "one process serves max_use = 2 clients"
    assert seen[2] != seen[1], "a new process after max_use"
    wait_for("idle process exit (max_idle 1s)", lambda: not proc_exists(seen[2]), timeout=5)
    wait_for("no children", lambda: inst.children() == [], timeout=3)
    c, g = inst.greet()            # and master starts a new one on demand
    c.close()


# --------------------------------------------------------------- failures

def test_killed_child_is_logged_and_replaced(inst):
    inst.start()
    c, g = inst.greet()
    c.close()
    os.kill(g["pid"], signal.SIGKILL)
    inst.wait_log(r"warning: process %s pid %d killed by signal 9"
                  % (re.escape(os.path.join(inst.libexec, "echod")), g["pid"]))
    c2, g2 = inst.greet()
    assert g2["pid"] != g["pid"]
    assert c2.ask("ping") == "ping"
    c2.close()


def test_crash_is_logged(inst):
    inst.start()
    c, g = inst.greet()
    c.sock.sendall(b"crash\r\n")
    inst.wait_log(r"pid %d killed by signal 6" % g["pid"])
    c.close()
    c2, g2 = inst.greet()
    assert g2["pid"] != g["pid"]
    c2.close()


def test_watchdog_ends_stuck_process(inst):
    inst.write_master("%d inet n - n - 3 echod -o daemon_timeout=1s" % inst.port)
    inst.start()
    c, g = inst.greet()
    c.sock.sendall(b"sleep 5\r\n")
    inst.wait_log(r"pid %d exit status 75 \(watchdog timeout\)" % g["pid"], timeout=5)
    c.close()


def test_bad_command_throttles(inst):
    inst.write_master("%d inet n - n - 3 no-such-daemon" % inst.port)
    inst.start()
    c = inst.client()
    inst.wait_log(r"no-such-daemon: bad command startup -- throttling")
    first = inst.log().count("bad command startup")
    # service_throttle_time = 1s: master retries later, not in a tight loop.
    inst.wait_log(r"(?s)bad command startup.*bad command startup", timeout=5)
    assert inst.log().count("bad command startup") <= first + 2
    assert inst.proc.poll() is None
    c.close()


def test_unknown_table_type_is_echods_business(inst):
    inst.write_master("%d inet n - n - 3 echod -T nosuchtype:/x" % inst.port)
    inst.start()
    c = inst.client()
    inst.wait_log(r"postel/echod\[\d+\]: fatal: open table nosuchtype:/x")
    inst.wait_log(r"echod: bad command startup -- throttling")
    assert inst.proc.poll() is None
    c.close()


# --------------------------------------------------------------- reload

def test_reload_new_port(inst):
    inst.start()
    old = inst.port
    c, g = inst.greet()
    c.close()
    new = free_port()
    inst.write_master("%d inet n - n - 3 echod" % new)
    mark = len(inst.log())
    inst.signal(signal.SIGHUP)
    inst.wait_log(r"reload -- version \S+, configuration", start=mark)
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
    wait_for("old process exit", lambda: not proc_exists(g["pid"]))


def test_reload_keeps_busy_client_and_changes_maxproc(inst):
    inst.write_master("%d inet n - n - 1 echod" % inst.port)
    inst.start()
    busy, g = inst.greet()
    inst.write_master("%d inet n - n - 2 echod" % inst.port)
    mark = len(inst.log())
    inst.signal(signal.SIGHUP)
    inst.wait_log(r"reload --", start=mark)
    # The old-generation process finishes its client undisturbed...
    assert busy.ask("still there") == "still there"
    # ...while the new generation serves with the new limit: two at once.
    a, ga = inst.greet()
    b, gb = inst.greet()
    assert len({g["pid"], ga["pid"], gb["pid"]}) == 3
    busy.close()
    wait_for("old process exit", lambda: not proc_exists(g["pid"]))
    a.close()
    b.close()


def test_reload_with_bad_main_cf_keeps_running(inst):
    inst.start()
    c, g = inst.greet()
    assert c.ask("quit") == "bye"
    c.close()
    with open(os.path.join(inst.conf, "main.cf"), "a") as f:
        f.write("this is not a parameter line\n")
    mark = len(inst.log())
    inst.signal(signal.SIGHUP)
    m = inst.wait_log(r"error: reload failed: .*main\.cf, line \d+.*keeping the running "
                      r"configuration", start=mark)
    assert m
    # The running generation keeps serving (a new process would read the
    # broken main.cf itself and fail, as it would without any reload).
    c, g2 = inst.greet()
    assert g2["pid"] == g["pid"]
    assert c.ask("ping") == "ping"
    c.close()
    assert inst.proc.poll() is None


def test_reload_with_bad_master_cf_keeps_running(inst):
    inst.start()
    inst.write_master("%d inet n - n -" % free_port())
    mark = len(inst.log())
    inst.signal(signal.SIGHUP)
    inst.wait_log(r"error: reload failed: .*master\.cf, line 2", start=mark)
    c, g = inst.greet()
    c.close()


# --------------------------------------------------------------- one master, stop

def test_second_master_refuses(inst):
    inst.start()
    r = inst.run_master("-f")
    assert r.returncode != 0
    assert "the Postel mail system is already running (pid %d)" % inst.proc.pid in r.stderr
    assert inst.run_master("-t").returncode == 1
    # The first master is unharmed.
    c, g = inst.greet()
    c.close()
    assert os.path.exists(inst.pid_file)


def test_sigterm_stops_everything(inst):
    inst.start()
    held = [inst.greet()[0] for _ in range(2)]
    kids = inst.children()
    assert len(kids) == 2
    assert inst.stop() == 0
    for pid in kids:
        assert not proc_exists(pid), "process %d left behind" % pid
    assert "terminating on signal 15" in inst.log()
    assert not os.path.exists(inst.pid_file)
    assert inst.run_master("-t").returncode == 0
    for c in held:
        c.close()


def test_children_leave_when_master_dies(inst):
    inst.start()
    busy, gb = inst.greet()
    idle, gi = inst.greet()
    assert gi["pid"] != gb["pid"]
    assert idle.ask("quit") == "bye"
    idle.close()
    inst.proc.kill()
    inst.proc.wait(timeout=5)
    # The idle process sees its status socket close and leaves at once...
    wait_for("idle child exit", lambda: not proc_exists(gi["pid"]))
    # ...the busy one finishes its client first.
    assert busy.ask("ping") == "ping"
    busy.close()
    wait_for("busy child exit", lambda: not proc_exists(gb["pid"]))


def test_daemon_mode(inst):
    r = inst.run_master()
    assert r.returncode == 0, r.stderr
    pid = int(open(inst.pid_file).read())
    inst.known_pids.add(pid)
    try:
        assert proc_exists(pid)
        assert inst.run_master("-t").returncode == 1
        c, g = inst.greet()
        c.close()
    finally:
        os.kill(pid, signal.SIGTERM)
    wait_for("daemon exit", lambda: not proc_exists(pid), timeout=8)
    wait_for("pid file removal", lambda: not os.path.exists(inst.pid_file))


def test_daemon_mode_reports_startup_failure(inst):
    blocker = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    blocker.bind(("127.0.0.1", inst.port))
    blocker.listen(1)
    inst.write_master("qmgr unix n - n - 1 echod", "%d inet n - n - 3 echod" % inst.port)
    try:
        r = inst.run_master()
    finally:
        blocker.close()
    assert r.returncode == 1
    assert re.search(r"master\.cf, line 3: service %d: .*Address already in use" % inst.port,
                     r.stderr), r.stderr
    assert not os.path.exists(inst.pid_file)
    assert os.listdir(os.path.join(inst.queue, "private")) == []


# --------------------------------------------------------------- bad configuration

def assert_nothing_left(inst):
    assert not os.path.exists(inst.pid_file)
    for d in ("private", "public"):
        p = os.path.join(inst.queue, d)
        assert not os.path.exists(p) or os.listdir(p) == []


def test_bad_main_cf(inst):
    inst.write_main("garbage line without equals\n")
    inst.write_master("qmgr unix n - n - 1 echod", "%d inet n - n - 3 echod" % inst.port)
    r = inst.run_master("-f")
    assert r.returncode != 0
    assert re.search(r"main\.cf, line \d+", r.stderr), r.stderr
    assert_nothing_left(inst)


def test_bad_master_cf(inst):
    inst.write_master("qmgr unix n - n - 1 echod", "%d inet n - n" % inst.port)
    r = inst.run_master("-f")
    assert r.returncode != 0
    assert re.search(r"master\.cf, line 3", r.stderr), r.stderr
    assert_nothing_left(inst)


def test_bad_service_port(inst):
    inst.write_master("qmgr unix n - n - 1 echod", "no-such-port-name inet n - n - 3 echod")
    r = inst.run_master("-f")
    assert r.returncode != 0
    assert re.search(r"master\.cf, line 3: service no-such-port-name: .*unknown service name",
                     r.stderr), r.stderr
    assert_nothing_left(inst)


# --------------------------------------------------------------- unix services, wakeup

def test_unix_service_and_wakeup(inst):
    inst.write_master("%d inet n - n - 3 echod" % inst.port,
                      "echow unix n - n 1 1 echod -W",
                      "echou unix - - n - 2 echod")
    inst.start()
    inst.wait_log(r"postel/echod\[\d+\]: wakeup from master", timeout=5)
    wake = os.path.join(inst.queue, "public", "echow")
    path = os.path.join(inst.queue, "private", "echou")
    c = Client(path=path)
    g = c.greeting()
    assert g["service"] == "echou"
    assert c.ask("ping") == "ping"
    c.close()
    assert oct(os.stat(os.path.join(inst.queue, "private")).st_mode & 0o777) == "0o700"
    assert inst.stop() == 0
    assert not os.path.exists(path) and not os.path.exists(wake)


# --------------------------------------------------------------- event-driven skeleton

def test_event_server_serves_many_clients_in_one_process(inst):
    inst.write_master("%d inet n - n - 1 echoev -o max_idle=1s" % inst.port)
    inst.start()
    clients = [inst.greet() for _ in range(4)]
    assert len({g["pid"] for _, g in clients}) == 1, "one process, four clients"
    for i, (c, _) in enumerate(clients):
        assert c.ask("hello %d" % i) == "hello %d" % i
    for c, _ in clients:
        assert c.ask("quit") == "bye"
        c.close()
    pid = clients[0][1]["pid"]
    # No clients left: max_idle (1s) ends the process.
    wait_for("idle event server exit", lambda: not proc_exists(pid), timeout=5)
    c, g = inst.greet()
    assert g["pid"] != pid
    c.close()


def test_event_server_trigger_and_reload(inst):
    inst.write_master("%d inet n - n - 3 echod" % inst.port,
                      "trig unix n - n 1 1 echoev -W",
                      "trigf fifo n - n 1 1 echoev -W")
    inst.start()
    inst.wait_log(r"(?s)(postel/echoev\[\d+\]: wakeup from master.*){2}")
    # A local client's trigger bytes arrive too.
    s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    s.connect(os.path.join(inst.queue, "public", "trig"))
    s.sendall(b"WW")
    s.close()
    inst.wait_log(r"(?s)(wakeup from master.*){4}")
    pids = [p for p in inst.children()]
    assert len(pids) == 2, "one process each for the unix and the fifo service"
    # Reload: the resident process of the old generation leaves at once.
    mark = len(inst.log())
    inst.signal(signal.SIGHUP)
    inst.wait_log(r"reload --", start=mark)
    for pid in pids:
        wait_for("old trigger process exit", lambda: not proc_exists(pid))


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
    if not os.access(POSTMAP, os.X_OK):
        pytest.skip("tools/postmap is not built yet in %s" % BUILD)
    kind = table_type()
    if kind is None:
        pytest.skip("no indexed table type (lmdb, hash, cdb) in this build")
    table = os.path.join(inst.data, "echo_table")
    with open(table, "w") as f:
        f.write("Key1 value-one\n")
    subprocess.run([POSTMAP, "-c", inst.conf, "%s:%s" % (kind, table)], check=True,
                   capture_output=True, timeout=10)
    inst.write_master("%d inet n - n - 3 echod -T %s:%s" % (inst.port, kind, table))
    inst.start()
    c, g = inst.greet()
    assert c.ask("lookup key1") == "found value-one"
    assert c.ask("lookup KEY1") == "found value-one"
    assert c.ask("lookup nope") == "notfound"
    with open(table, "w") as f:
        f.write("key1 value-two\nkey2 second\n")
    subprocess.run([POSTMAP, "-c", inst.conf, "%s:%s" % (kind, table)], check=True,
                   capture_output=True, timeout=10)
    # The same process, the same connection, sees the rebuilt table.
    assert c.ask("lookup key1") == "found value-two"
    assert c.ask("lookup key2") == "found second"
    c.close()


# --------------------------------------------------------------- privileges

def test_root_drops_privileges(inst):
    if os.geteuid() != 0:
        pytest.skip("privilege drop needs root")
    pw = pwd.getpwnam(TEST_USER)
    inst.start()
    c, g = inst.greet()
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
    inst.write_master("%d inet n n n - 3 echod" % inst.port)
    inst.start()
    c, g = inst.greet()
    assert g["uid"] == 0
    c.close()
