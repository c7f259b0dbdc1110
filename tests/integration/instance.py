"""A throw-away Postel instance for integration tests.

    inst = Instance(tmp_path, build_dir, config={"message_size_limit": "1000"},
                    master_cf=["%d inet n - n - - echod" % port])
    inst.start()                      # postel start; waits for the pid lock and the ports
    inst.wait_log(r"daemon started")
    inst.stop()                       # bounded; kills leftovers

Layout under the instance directory:

    etc/main.cf, etc/master.cf    the configuration (postel -c etc ...)
    spool/                        queue_directory (created by "postel check")
    data/                         data_directory (created by "postel check")
    mail/                         mailboxes
    log/maillog                   maillog_file: every log line of every process
    log/master.out                standard output and error of master and postel
    libexec/                      daemon_directory: symbolic links to the build
                                  tree's daemons (only those that were built)

main.cf is the shipped conf/main.cf with the instance's settings in place of
the shipped ones, so the default file is exercised by every test. Programs
are always called by their path in the build tree, never through PATH (a
Debian postfix package may put its own postconf or postmap there).

Works as root and as another user. As root, mail_owner and setgid_group are
the real accounts (created when missing, like the Debian package does) and
the directories that lead to the instance are made searchable so that
unprivileged daemons can reach it. As another user, mail_owner and
setgid_group are that user and their primary group.

Every wait is bounded and says what it waited for when it gives up.
"""

import fcntl
import grp
import os
import pwd
import re
import shutil
import signal
import socket
import struct
import subprocess
import time

HERE = os.path.dirname(os.path.abspath(__file__))
SOURCE_DIR = os.environ.get("POSTEL_SOURCE_DIR") or os.path.dirname(os.path.dirname(HERE))

# Daemons an instance may use: path in the build tree. A name whose binary
# was not built is skipped, so later daemons appear here without harm.
DAEMONS = {
    "master": "master/master",
    "echod": "tests/integration/echod",
    "smtpd": "smtpd/smtpd",
    "pickup": "pickup/pickup",
    "qmgr": "qmgr/qmgr",
    "local": "local/local",
    "smtp": "smtp/smtp",
    "pop3d": "pop3d/pop3d",
    "imapd": "imapd/imapd",
    "auth": "auth/auth",
    "anvil": "anvil/anvil",
}

# Commands people type: tools/<name> in the build tree.
TOOLS = ("postel", "postconf", "postmap", "postalias", "postqueue", "postsuper",
         "sendmail", "postdrop")

# The accounts used when the tests run as root.
ROOT_MAIL_OWNER = "postel"
ROOT_SETGID_GROUP = "postdrop"

MASTER_CF_HEADER = """\
# master.cf of a test instance
# service type  private unpriv  chroot  wakeup  maxproc command + args
"""

_ports_given = set()


def wait_for(what, predicate, timeout=10.0, interval=0.02):
    """Poll predicate until it returns a true value; AssertionError naming what after timeout."""
    deadline = time.monotonic() + timeout
    while True:
        value = predicate()
        if value:
            return value
        if time.monotonic() >= deadline:
            text = what() if callable(what) else what
            raise AssertionError("timed out after %.1fs waiting for %s" % (timeout, text))
        time.sleep(interval)


def free_port(host="127.0.0.1"):
    """A TCP port on host that nothing listens on now and that this process has not handed out."""
    for _ in range(100):
        with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
            s.bind((host, 0))
            port = s.getsockname()[1]
        if port not in _ports_given:
            _ports_given.add(port)
            return port
    raise RuntimeError("no free port found")


def proc_stat(pid):
    """(state, ppid, pgrp) of pid from /proc, or None when it does not exist."""
    try:
        with open("/proc/%d/stat" % pid) as f:
            stat = f.read()
    except OSError:
        return None
    fields = stat[stat.rindex(")") + 2:].split()
    return fields[0], int(fields[1]), int(fields[2])


def proc_alive(pid):
    """True when pid is a live (not zombie) process."""
    st = proc_stat(pid)
    return st is not None and st[0] not in ("Z", "X")


def proc_starttime(pid):
    """The start time of pid (clock ticks after boot), or None: tells a reused pid apart."""
    try:
        with open("/proc/%d/stat" % pid) as f:
            stat = f.read()
    except OSError:
        return None
    return int(stat[stat.rindex(")") + 2:].split()[19])


def same_process_alive(pid, starttime):
    """True when the process pid that started at starttime is still alive."""
    return proc_alive(pid) and proc_starttime(pid) == starttime


def proc_list():
    """(pid, state, ppid, pgrp) of every process."""
    out = []
    for entry in os.listdir("/proc"):
        if entry.isdigit():
            st = proc_stat(int(entry))
            if st:
                out.append((int(entry),) + st)
    return out


def listening_ports():
    """TCP ports with a listening socket in this network namespace (/proc/net/tcp{,6})."""
    ports = set()
    for name in ("/proc/net/tcp", "/proc/net/tcp6"):
        try:
            with open(name) as f:
                next(f)
                for line in f:
                    fields = line.split()
                    if len(fields) > 3 and fields[3] == "0A":  # TCP_LISTEN
                        ports.add(int(fields[1].rsplit(":", 1)[1], 16))
        except OSError:
            continue
    return ports


def pid_file_holder(path):
    """The pid holding the fcntl lock on path (master.pid), or None when unlocked or missing."""
    try:
        fd = os.open(path, os.O_RDONLY | os.O_NOFOLLOW | os.O_CLOEXEC)
    except OSError:
        return None
    try:
        # struct flock: short l_type, short l_whence, off_t l_start, off_t l_len, pid_t l_pid
        req = struct.pack("hhqqi", fcntl.F_WRLCK, os.SEEK_SET, 0, 0, 0)
        res = fcntl.fcntl(fd, fcntl.F_GETLK, req)
        l_type, _, _, _, l_pid = struct.unpack("hhqqi", res)
        if l_type == fcntl.F_UNLCK:
            return None
        if l_pid > 0:
            return l_pid
        os.lseek(fd, 0, os.SEEK_SET)
        text = os.read(fd, 64).decode(errors="replace").strip()
        return int(text) if text.isdigit() else None
    finally:
        os.close(fd)


def ensure_accounts(user=ROOT_MAIL_OWNER, group=ROOT_SETGID_GROUP):
    """As root: create the system user and group that the mail system runs as, when missing."""
    try:
        grp.getgrnam(group)
    except KeyError:
        subprocess.run(["groupadd", "--system", group], capture_output=True, timeout=60)
        grp.getgrnam(group)  # another test may have won the race; it must exist now
    try:
        pwd.getpwnam(user)
    except KeyError:
        subprocess.run(["useradd", "--system", "--user-group", "--no-create-home",
                        "--home-dir", "/nonexistent", "--shell", "/usr/sbin/nologin", user],
                       capture_output=True, timeout=60)
        pwd.getpwnam(user)


def parse_main_cf_names(text):
    """Names that a main.cf text sets, in order."""
    names = []
    for line in text.splitlines():
        m = re.match(r"([A-Za-z0-9_]+)\s*=", line)
        if m:
            names.append(m.group(1))
    return names


def merge_main_cf(text, settings):
    """text (a main.cf) with the lines that set a name in settings removed
    (with their continuation lines), and settings appended."""
    out = []
    skipping = False
    for line in text.splitlines():
        if skipping and line[:1] in (" ", "\t") and line.strip() and not line.lstrip().startswith("#"):
            continue
        skipping = False
        m = re.match(r"([A-Za-z0-9_]+)\s*=", line)
        if m and m.group(1) in settings:
            skipping = True
            continue
        out.append(line)
    while out and not out[-1].strip():
        out.pop()
    out.append("")
    out.append("# Settings of this instance.")
    for name, value in settings.items():
        out.append("%s = %s" % (name, value))
    return "\n".join(out) + "\n"


class Instance:
    """A throw-away Postel instance directory and the master that runs it."""

    # Every Instance made in this process, so that a test runner can stop leftovers.
    created = []

    free_port = staticmethod(free_port)

    def __init__(self, tmpdir, build_dir, config=None, master_cf=None, daemons=None,
                 name=None):
        """tmpdir holds the instance (or tmpdir/name when name is given); build_dir is the
        build tree; config: main.cf settings over the defaults below; master_cf: lines;
        daemons: names (keys of DAEMONS, or paths in the build tree) to link, default all."""
        self.dir = os.path.abspath(os.path.join(str(tmpdir), name) if name else str(tmpdir))
        self.build_dir = os.path.abspath(str(build_dir))
        self.root = os.geteuid() == 0
        self.etc = os.path.join(self.dir, "etc")
        self.spool = os.path.join(self.dir, "spool")
        self.data = os.path.join(self.dir, "data")
        self.mail = os.path.join(self.dir, "mail")
        self.logdir = os.path.join(self.dir, "log")
        self.maillog = os.path.join(self.logdir, "maillog")
        self.outfile = os.path.join(self.logdir, "master.out")
        self.libexec = os.path.join(self.dir, "libexec")
        self.proc = None          # master -f, when started in the foreground
        self.known_pids = {}      # pid -> start time of every process seen, for the clean-up
        self.master_pid = None

        for d in (self.etc, self.mail, self.logdir, self.libexec):
            os.makedirs(d, exist_ok=True)
        open(self.maillog, "a").close()
        if self.root:
            ensure_accounts()
            self.mail_owner, self.setgid_group = ROOT_MAIL_OWNER, ROOT_SETGID_GROUP
            self._make_reachable()
        else:
            self.mail_owner = pwd.getpwuid(os.getuid()).pw_name
            self.setgid_group = grp.getgrgid(os.getgid()).gr_name
        self.daemons = self.link_daemons(daemons)

        self.config = {
            "queue_directory": self.spool,
            "data_directory": self.data,
            "daemon_directory": self.libexec,
            "command_directory": os.path.join(self.build_dir, "tools"),
            "maillog_file": self.maillog,
            "mail_owner": self.mail_owner,
            "setgid_group": self.setgid_group,
            "myhostname": "mail.example.com",
            "mydomain": "example.com",
            "inet_interfaces": "127.0.0.1",
            "inet_protocols": "ipv4",
            "mynetworks": "127.0.0.0/8",
            "alias_maps": "hash:%s/aliases" % self.etc,
            "alias_database": "hash:%s/aliases" % self.etc,
            "service_throttle_time": "1s",
            # Sanitizer reports of every process go where the test runner looks.
            "import_environment": "POSTEL_CONFIG_DIR MAIL_DEBUG TZ LANG=C "
                                  "ASAN_OPTIONS UBSAN_OPTIONS LSAN_OPTIONS",
        }
        self.config.update(config or {})
        self.master_cf = list(master_cf or [])
        with open(os.path.join(self.etc, "aliases"), "w") as f:
            f.write("postmaster: root\n")
        self.write_config()
        Instance.created.append(self)

    # ------------------------------------------------------------ set-up

    def _make_reachable(self):
        """As root: let unprivileged daemons search every directory down to the instance."""
        path = self.dir
        while True:
            st = os.stat(path)
            if not st.st_mode & 0o001:
                os.chmod(path, (st.st_mode & 0o7777) | 0o001)
            parent = os.path.dirname(path)
            if parent == path:
                break
            path = parent
        os.chmod(self.dir, 0o755)

    def link_daemons(self, names=None):
        """Symlink the built daemons into libexec/; returns the names linked."""
        linked = []
        for name in (names if names is not None else DAEMONS):
            rel = DAEMONS.get(name, name)
            src = os.path.join(self.build_dir, rel)
            base = os.path.basename(rel)
            if not os.access(src, os.X_OK):
                continue
            dst = os.path.join(self.libexec, base)
            if os.path.lexists(dst):
                os.unlink(dst)
            os.symlink(src, dst)
            linked.append(base)
        return linked

    def has_daemon(self, name):
        return name in self.daemons

    def write_config(self):
        """Write etc/main.cf (shipped defaults + self.config) and etc/master.cf (self.master_cf)."""
        try:
            with open(os.path.join(SOURCE_DIR, "conf", "main.cf")) as f:
                shipped = f.read()
        except OSError:
            shipped = ""
        with open(os.path.join(self.etc, "main.cf"), "w") as f:
            f.write(merge_main_cf(shipped, self.config))
        with open(os.path.join(self.etc, "master.cf"), "w") as f:
            f.write(MASTER_CF_HEADER)
            for line in self.master_cf:
                f.write(line.rstrip("\n") + "\n")

    def set_config(self, **settings):
        """Change main.cf settings (rewrites the file; call reload() to apply)."""
        self.config.update({k: str(v) for k, v in settings.items()})
        self.write_config()

    def set_master_cf(self, lines):
        self.master_cf = list(lines)
        self.write_config()

    # ------------------------------------------------------------ programs

    def tool(self, name):
        return os.path.join(self.build_dir, "tools", name)

    def run(self, argv, input=None, timeout=60, check=False, env=None, text=True):
        """Run a program to completion (bounded) with POSTEL_CONFIG_DIR set to this instance;
        CompletedProcess with text (or, text=False, bytes) output."""
        full_env = dict(os.environ)
        full_env["POSTEL_CONFIG_DIR"] = self.etc
        full_env.update(env or {})
        r = subprocess.run(argv, input=input, capture_output=True, text=text, timeout=timeout,
                           env=full_env, stdin=None if input is not None else subprocess.DEVNULL)
        if check and r.returncode != 0:
            raise AssertionError("%s exited with %d\nstdout: %s\nstderr: %s"
                                 % (" ".join(argv), r.returncode, r.stdout, r.stderr))
        return r

    def run_tool(self, name, *args, **kw):
        """Run tools/<name> -c etc args... from the build tree."""
        return self.run([self.tool(name), "-c", self.etc] + [str(a) for a in args], **kw)

    def postel(self, *args, **kw):
        return self.run_tool("postel", *args, **kw)

    def postconf(self, *args, **kw):
        return self.run_tool("postconf", *args, **kw)

    def postmap(self, *args, **kw):
        return self.run_tool("postmap", *args, **kw)

    def postalias(self, *args, **kw):
        return self.run_tool("postalias", *args, **kw)

    def check(self):
        """postel check; AssertionError when it fails."""
        return self.postel("check", check=True)

    # ------------------------------------------------------------ master

    @property
    def pid_file(self):
        pid_dir = self.config.get("process_id_directory", "pid")
        if pid_dir.startswith("/"):
            return os.path.join(pid_dir, "master.pid")
        return os.path.join(self.spool, pid_dir, "master.pid")

    def pid(self):
        """The running master's pid (the pid file's lock holder), or None."""
        pid = pid_file_holder(self.pid_file)
        if pid is not None:
            self.master_pid = pid
        return pid

    def running(self):
        return self.pid() is not None

    def inet_ports(self):
        """Ports of the inet services in master.cf ([address:]port in the first column)."""
        ports = []
        for line in self.master_cf:
            fields = line.split()
            if len(fields) >= 2 and not line.startswith(("#", " ", "\t")) and fields[1] == "inet":
                port = fields[0].rsplit(":", 1)[-1]
                if port.isdigit():
                    ports.append(int(port))
        return ports

    def wait_listening(self, ports, timeout=10.0):
        """Wait until every port has a listening socket (no connection is made)."""
        ports = set(ports)
        wait_for(lambda: "ports %s to listen\n%s" % (sorted(ports - listening_ports()),
                                                     self.log_tail()),
                 lambda: ports <= listening_ports(), timeout)

    def start(self, foreground=False, ports=None, timeout=30.0):
        """Start the master and wait until it holds the pid lock and every inet port listens.

        foreground=False runs "postel start" (master daemonizes); True runs
        "postel check" and then master -f in the background of this process.
        """
        if foreground:
            self.check()
            out = open(self.outfile, "ab")
            master = os.path.join(self.libexec, "master")
            self.proc = subprocess.Popen([master, "-f", "-c", self.etc], stdin=subprocess.DEVNULL,
                                         stdout=out, stderr=out, start_new_session=True)
            out.close()
            wait_for(lambda: "master -f to start\n" + self.log_tail(),
                     lambda: self.proc.poll() is not None or self.pid() == self.proc.pid,
                     timeout)
            if self.proc.poll() is not None:
                raise AssertionError("master -f exited with %s\n%s"
                                     % (self.proc.returncode, self.log_tail()))
        else:
            # Output to a file, not a pipe: nothing of the daemon may hold our pipe open.
            with open(self.outfile, "ab") as out:
                env = dict(os.environ, POSTEL_CONFIG_DIR=self.etc)
                r = subprocess.run([self.tool("postel"), "-c", self.etc, "start"],
                                   stdin=subprocess.DEVNULL, stdout=out, stderr=out,
                                   timeout=timeout, env=env)
            if r.returncode != 0:
                raise AssertionError("postel start exited with %d\n%s"
                                     % (r.returncode, self.log_tail()))
            wait_for(lambda: "the master's pid lock\n" + self.log_tail(), self.pid, timeout)
        self.wait_listening(self.inet_ports() + list(ports or []), timeout)
        return self.pid()

    def reload(self):
        """postel reload (rewrite the configuration first with set_config/set_master_cf)."""
        return self.postel("reload", check=True)

    def children(self):
        """Pids of the master's live child processes."""
        pid = self.master_pid if self.master_pid else self.pid()
        if pid is None:
            return []
        kids = [p for p, state, ppid, _ in proc_list() if ppid == pid and state not in ("Z", "X")]
        self._remember(kids)
        return kids

    def _remember(self, pids):
        for p in pids:
            start = proc_starttime(p)
            if start is not None:
                self.known_pids.setdefault(p, start)

    def _group_members(self, pgid):
        return [p for p, state, _, pgrp in proc_list() if pgrp == pgid and state not in ("Z", "X")]

    def stop(self, timeout=20.0):
        """Stop the master (postel stop, or SIGTERM to master -f), bounded; kill leftovers.

        Returns the pids that had to be killed (empty when everything stopped by itself).
        """
        pid = self.pid()
        if pid is not None:
            # Remember who belongs to this instance before asking it to stop.
            self.children()
            self._remember([pid])
            self._remember(self._group_members(pid))
        if self.proc is not None and self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(timeout=timeout)
            except subprocess.TimeoutExpired:
                pass
        elif pid is not None:
            try:
                self.postel("stop", timeout=timeout)
            except subprocess.TimeoutExpired:
                pass
        killed = []
        if self.proc is not None and self.proc.poll() is None:
            self.proc.kill()
            killed.append(self.proc.pid)
            self.proc.wait(timeout=10)
        leftovers = dict(self.known_pids)
        deadline = time.monotonic() + 5
        while (any(same_process_alive(p, t) for p, t in leftovers.items())
               and time.monotonic() < deadline):
            time.sleep(0.05)
        for p, t in leftovers.items():
            if same_process_alive(p, t):
                try:
                    os.kill(p, signal.SIGKILL)
                    killed.append(p)
                except OSError:
                    pass
        self.known_pids = {}
        self.master_pid = None
        return killed

    # ------------------------------------------------------------ logs

    def log_text(self):
        """Everything in log/maillog so far."""
        try:
            with open(self.maillog, errors="replace") as f:
                return f.read()
        except FileNotFoundError:
            return ""

    def log_mark(self):
        """An offset for wait_log(since=...): only lines written after now count."""
        return len(self.log_text())

    def output_text(self):
        """What master and postel printed on standard output and error."""
        try:
            with open(self.outfile, errors="replace") as f:
                return f.read()
        except FileNotFoundError:
            return ""

    def log_tail(self, lines=40):
        log = self.log_text().splitlines()[-lines:]
        out = self.output_text().splitlines()[-lines:]
        text = "--- %s ---\n%s" % (self.maillog, "\n".join(log))
        if out:
            text += "\n--- %s ---\n%s" % (self.outfile, "\n".join(out))
        return text

    def wait_log(self, pattern, timeout=10.0, since=0):
        """Wait until the log (from offset since) matches the regex pattern; returns the match."""
        rx = re.compile(pattern, re.M)
        return wait_for(lambda: "log line /%s/\n%s" % (pattern, self.log_tail()),
                        lambda: rx.search(self.log_text()[since:]), timeout)

    # ------------------------------------------------------------ context manager

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.stop()
        return False

    def remove(self):
        """Stop and delete the instance directory."""
        self.stop()
        shutil.rmtree(self.dir, ignore_errors=True)
