"""Integration tests of the postel(1) control command: check (configuration
errors, queue directories with their owners and modes), and the
start / status / reload / stop cycle, with start-fg in the foreground."""

import grp
import os
import pwd
import re
import signal
import socket
import stat
import subprocess

import pytest

from instance import free_port, listening_ports, proc_alive, wait_for

# name -> (owner, group, mode); owner/group "mail" = mail_owner, "sgid" = setgid_group,
# "root" = root; as a user other than root everything is that user's.
QUEUE_DIRS = {
    "": ("root", "root", 0o755),
    "maildrop": ("mail", "sgid", 0o1730),
    "incoming": ("mail", "mail", 0o700),
    "active": ("mail", "mail", 0o700),
    "deferred": ("mail", "mail", 0o700),
    "hold": ("mail", "mail", 0o700),
    "corrupt": ("mail", "mail", 0o700),
    "private": ("mail", "mail", 0o700),
    "public": ("mail", "sgid", 0o710),
    "pid": ("root", "root", 0o755),
}


def expected_ids(inst, owner, group):
    """The uid and gid a directory should have in this instance."""
    if not inst.root:
        return os.getuid(), None
    pw = pwd.getpwnam(inst.mail_owner)
    uid = 0 if owner == "root" else pw.pw_uid
    gid = {"root": 0, "mail": pw.pw_gid, "sgid": grp.getgrnam(inst.setgid_group).gr_gid}[group]
    return uid, gid


def assert_dir(inst, path, owner, group, mode):
    st = os.lstat(path)
    assert stat.S_ISDIR(st.st_mode), path
    assert stat.S_IMODE(st.st_mode) == mode, "%s: mode %o, expected %o" % (
        path, stat.S_IMODE(st.st_mode), mode)
    uid, gid = expected_ids(inst, owner, group)
    assert st.st_uid == uid, "%s: uid %d, expected %d" % (path, st.st_uid, uid)
    if gid is not None:
        assert st.st_gid == gid, "%s: gid %d, expected %d" % (path, st.st_gid, gid)


def assert_queue_dirs(inst):
    for name, (owner, group, mode) in QUEUE_DIRS.items():
        assert_dir(inst, os.path.join(inst.spool, name) if name else inst.spool, owner, group, mode)
    assert_dir(inst, inst.data, "mail", "mail", 0o700)


def echod_line(port):
    return "%d inet n - n - 2 echod" % port


# ------------------------------------------------------------------ check

def test_check_creates_directories(instance):
    r = instance.postel("check")
    assert r.returncode == 0, r.stderr
    assert_queue_dirs(instance)
    # Twice is fine and changes nothing.
    r = instance.postel("check")
    assert r.returncode == 0, r.stderr
    assert "fixed" not in r.stderr
    assert_queue_dirs(instance)


def test_check_repairs_modes(instance):
    instance.check()
    os.chmod(os.path.join(instance.spool, "incoming"), 0o777)
    os.chmod(os.path.join(instance.spool, "maildrop"), 0o755)
    os.chmod(instance.data, 0o755)
    r = instance.postel("check")
    assert r.returncode == 0, r.stderr
    assert re.search(r"incoming: mode fixed: 0700 \(was 0777\)", r.stderr), r.stderr
    assert_queue_dirs(instance)
    # The log file gets the same lines.
    assert "mode fixed" in instance.log_text()


@pytest.mark.skipif(os.geteuid() != 0, reason="needs root to give files away")
def test_check_repairs_owners(instance):
    instance.check()
    incoming = os.path.join(instance.spool, "incoming")
    os.chown(incoming, 0, 0)
    os.chown(instance.spool, 65534, 65534)
    r = instance.postel("check")
    assert r.returncode == 0, r.stderr
    assert re.search(r"incoming: owner fixed", r.stderr), r.stderr
    assert_queue_dirs(instance)


def test_check_refuses_symlink_in_queue(instance, tmp_path):
    instance.check()
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    os.chmod(elsewhere, 0o755)
    hold = os.path.join(instance.spool, "hold")
    os.rmdir(hold)
    os.symlink(str(elsewhere), hold)
    r = instance.postel("check")
    assert r.returncode == 1
    assert "hold is not a directory (or is a symbolic link)" in r.stderr, r.stderr
    # The target was not touched.
    assert stat.S_IMODE(os.stat(elsewhere).st_mode) == 0o755


def test_check_bad_main_cf(instance):
    with open(os.path.join(instance.etc, "main.cf"), "w") as f:
        f.write("# comment\n"
                "queue_directory = %s\n"
                "message_size_limit = lots\n" % instance.spool)
    r = instance.postel("check")
    assert r.returncode == 1
    assert re.search(r"^postel: fatal: .*main\.cf, line 3: .*message_size_limit", r.stderr,
                     re.M), r.stderr
    assert not os.path.exists(instance.spool)
    assert not os.path.exists(instance.data)


def test_check_bad_master_cf(instance):
    instance.set_master_cf(["# first", "smtp inet n - n - - smtpd", "broken line"])
    r = instance.postel("check")
    assert r.returncode == 1
    assert re.search(r"^postel: fatal: .*master\.cf, line 5", r.stderr, re.M), r.stderr
    assert not os.path.exists(instance.spool)


def test_check_warns_about_missing_daemon(instance):
    instance.set_master_cf(["%d inet n - n - - nosuchd" % 2525])
    r = instance.postel("check")
    assert r.returncode == 0, r.stderr
    assert re.search(r"master\.cf, line 3: service 2525: cannot execute .*/nosuchd", r.stderr), \
        r.stderr


def test_check_unknown_mail_owner(instance):
    instance.set_config(mail_owner="no-such-user-postel", setgid_group="no-such-group-postel")
    r = instance.postel("check")
    if instance.root:
        assert r.returncode == 1
        assert 'mail_owner: unknown user "no-such-user-postel"' in r.stderr
        assert not os.path.exists(instance.spool)
    else:
        assert r.returncode == 0, r.stderr
        assert re.search(r'warning: mail_owner: unknown user "no-such-user-postel"', r.stderr)
        assert re.search(r'warning: setgid_group: unknown group "no-such-group-postel"', r.stderr)
        assert_queue_dirs(instance)


def test_unknown_command_and_missing_config_dir(instance, tmp_path):
    r = instance.postel("frobnicate")
    assert r.returncode == 1
    assert "usage: postel" in r.stderr
    r = instance.run([instance.tool("postel"), "-c", str(tmp_path / "nonexistent"), "status"])
    assert r.returncode == 1
    assert "nonexistent" in r.stderr


# ------------------------------------------------------------------ start / stop

def test_status_and_stop_when_not_running(instance):
    r = instance.postel("status")
    assert r.returncode == 1
    assert "postel: the Postel mail system is not running" in r.stderr
    r = instance.postel("stop")
    assert r.returncode == 1
    assert "the Postel mail system is not running" in r.stderr
    r = instance.postel("reload")
    assert r.returncode == 1


def test_start_status_reload_stop(instance):
    echod = instance.has_daemon("echod")
    port = port2 = None
    if echod:
        port = free_port()
        instance.set_master_cf([echod_line(port)])
    mark = instance.log_mark()
    r = instance.postel("start")
    assert r.returncode == 0, r.stderr + instance.log_tail()
    assert "starting the Postel mail system" in r.stderr
    pid = wait_for("master pid", instance.pid, 10)
    instance.wait_log(r"postel/master\[%d\]: daemon started" % pid, since=mark)
    assert_queue_dirs(instance)
    if echod:
        instance.wait_listening([port])

    r = instance.postel("status")
    assert r.returncode == 0
    assert "postel: the Postel mail system is running: PID: %d" % pid in r.stderr

    # Reload picks up a new service; the master stays the same process.
    mark = instance.log_mark()
    if echod:
        port2 = free_port()
        instance.set_master_cf([echod_line(port), echod_line(port2)])
    r = instance.postel("reload")
    assert r.returncode == 0, r.stderr
    assert "refreshing the Postel mail system" in r.stderr
    instance.wait_log(r"master\[%d\]: reload" % pid, since=mark)
    if echod:
        instance.wait_listening([port, port2])
    assert instance.pid() == pid

    # Some children to stop, when there is a service to connect to.
    kids = []
    if echod:
        with socket.create_connection(("127.0.0.1", port), timeout=5) as s:
            s.settimeout(5)
            assert s.recv(100).startswith(b"echod")
            kids = wait_for("an echod child", instance.children, 10)

    r = instance.postel("stop")
    assert r.returncode == 0, r.stderr
    assert "stopping the Postel mail system" in r.stderr
    # Nothing is left: not the master, not its children, and the lock is free.
    assert not proc_alive(pid)
    for kid in kids:
        assert not proc_alive(kid), "child %d survived postel stop" % kid
    assert instance.pid() is None
    if echod:
        assert port not in listening_ports()
    r = instance.postel("status")
    assert r.returncode == 1
    assert "not running" in r.stderr
    assert instance.stop() == []


def test_start_twice_refuses(instance):
    instance.start()
    pid = instance.pid()
    r = instance.postel("start")
    assert r.returncode == 1
    assert "the Postel mail system is already running" in r.stderr
    assert instance.pid() == pid
    assert proc_alive(pid)
    r = instance.postel("start-fg", timeout=30)
    assert r.returncode == 1
    assert "already running" in r.stderr
    assert instance.pid() == pid


def test_start_refuses_bad_config(instance):
    instance.set_config(message_size_limit="-5")
    r = instance.postel("start")
    assert r.returncode == 1
    assert re.search(r"main\.cf, line \d+: .*message_size_limit", r.stderr), r.stderr
    assert instance.pid() is None


def test_reload_refuses_bad_config(instance):
    instance.start()
    pid = instance.pid()
    instance.set_master_cf(["bad"])
    r = instance.postel("reload")
    assert r.returncode == 1
    assert re.search(r"master\.cf, line 3", r.stderr), r.stderr
    assert instance.pid() == pid


def test_start_fg(instance):
    env = dict(os.environ, POSTEL_CONFIG_DIR=instance.etc)
    with open(instance.outfile, "ab") as out:
        proc = subprocess.Popen([instance.tool("postel"), "-c", instance.etc, "start-fg"],
                                stdin=subprocess.DEVNULL, stdout=out, stderr=out, env=env,
                                start_new_session=True)
    try:
        # postel replaces itself with master: the same process holds the lock.
        wait_for(lambda: "master in the foreground\n" + instance.log_tail(),
                 lambda: proc.poll() is not None or instance.pid() == proc.pid, 20)
        assert proc.poll() is None, instance.log_tail()
        r = instance.postel("status")
        assert r.returncode == 0
        assert "PID: %d" % proc.pid in r.stderr
        with open("/proc/%d/cmdline" % proc.pid, "rb") as f:
            argv = f.read().split(b"\0")
        assert argv[0].endswith(b"/master") and b"-f" in argv, argv
        proc.send_signal(signal.SIGTERM)
        rc = proc.wait(timeout=20)
        assert rc in (0, -signal.SIGTERM), rc
        assert instance.pid() is None
        assert instance.postel("status").returncode == 1
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait(timeout=10)


def test_abort(instance):
    instance.start()
    pid = instance.pid()
    r = instance.postel("abort")
    assert r.returncode == 0, r.stderr
    assert "aborting the Postel mail system" in r.stderr
    wait_for("master to exit after abort", lambda: not proc_alive(pid), 15)
    assert instance.pid() is None


def test_instance_foreground_mode(instance):
    """The harness itself: master -f in the background of the test."""
    instance.start(foreground=True)
    pid = instance.pid()
    assert pid == instance.proc.pid
    assert instance.stop() == []
    assert not proc_alive(pid)
    assert instance.proc.returncode in (0, -signal.SIGTERM)


def test_start_reports_master_failure(instance):
    """master cannot bind its port: postel start fails with master's exit status."""
    if not instance.has_daemon("echod"):
        pytest.skip("echod not built")
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as busy:
        busy.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 0)
        busy.bind(("127.0.0.1", 0))
        busy.listen(1)
        instance.set_master_cf([echod_line(busy.getsockname()[1])])
        r = instance.postel("start")
    assert r.returncode == 1
    assert re.search(r"postel: fatal: mail system startup failed: .*/master: exit status 1",
                     r.stderr), r.stderr
    assert instance.pid() is None


FAKE_MASTER = '''#!/usr/bin/python3
# A master that ignores SIGTERM, as does its child: postel stop must force them.
import fcntl, os, signal, sys, time
r, w = os.pipe()
if os.fork() > 0:
    os.close(w)
    sys.exit(0 if os.read(r, 1) == b"R" else 1)
os.setsid()
signal.signal(signal.SIGTERM, signal.SIG_IGN)
fd = os.open(%(pid_file)r, os.O_RDWR | os.O_CREAT, 0o644)
fcntl.lockf(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
os.write(fd, b"%%10d\\n" %% os.getpid())
devnull = os.open("/dev/null", os.O_RDWR)
for n in (0, 1, 2):
    os.dup2(devnull, n)
if os.fork() == 0:
    os.close(w)
    while True:
        time.sleep(1)
os.write(w, b"R")
while True:
    time.sleep(1)
'''


def test_stop_forces_a_stuck_master(instance):
    fake = os.path.join(instance.dir, "fake-master")
    with open(fake, "w") as f:
        f.write(FAKE_MASTER % {"pid_file": instance.pid_file})
    os.chmod(fake, 0o755)
    os.unlink(os.path.join(instance.libexec, "master"))
    os.symlink(fake, os.path.join(instance.libexec, "master"))
    r = instance.postel("start")
    assert r.returncode == 0, r.stderr
    pid = wait_for("the fake master", instance.pid, 10)
    kids = wait_for("the fake master's child", instance.children, 10)
    r = instance.postel("stop", timeout=60)
    assert r.returncode == 0, r.stderr
    assert "warning: stopping the Postel mail system with force" in r.stderr
    for p in [pid] + kids:
        assert not proc_alive(p), "process %d survived" % p
    assert instance.pid() is None


def test_start_removes_unfinished_queue_files(instance):
    """incoming/<id>.tmp left by a crash is removed at start; .msg files stay."""
    assert instance.postel("check").returncode == 0
    incoming = os.path.join(instance.spool, "incoming")
    left = os.path.join(incoming, "1K0Z00000000000A.tmp")
    done = os.path.join(incoming, "1K0Z00000000000B.msg")
    for path in (left, done):
        with open(path, "wb") as f:
            f.write(b"x")
    mark = instance.log_mark()
    r = instance.postel("start")
    assert r.returncode == 0, r.stderr + instance.log_tail()
    instance.wait_log(r"postel/master\[\d+\]: .*incoming/1K0Z00000000000A\.tmp: "
                      r"removed unfinished queue file", since=mark)
    assert not os.path.exists(left)
    assert os.path.exists(done)
