"""Integration tests of ./quickstart with the existing build tree
(POSTEL_BUILD_DIR makes it skip apt-get and make): --detach, --status,
running it twice, keeping edited configuration, --stop, and the foreground
mode stopped with Ctrl-C (SIGINT)."""

import os
import re
import signal
import subprocess

from instance import SOURCE_DIR, pid_file_holder, proc_alive, wait_for

QUICKSTART = os.path.join(SOURCE_DIR, "quickstart")


def quickstart(build_dir, *args, timeout=120):
    env = dict(os.environ, POSTEL_BUILD_DIR=build_dir)
    env.pop("POSTEL_CONFIG_DIR", None)
    return subprocess.run([QUICKSTART] + [str(a) for a in args], capture_output=True, text=True,
                          timeout=timeout, env=env, stdin=subprocess.DEVNULL)


def master_pid(run_dir):
    return pid_file_holder(os.path.join(str(run_dir), "spool", "pid", "master.pid"))


def stop_leftover(run_dir):
    pid = master_pid(run_dir)
    if pid:
        os.kill(pid, signal.SIGTERM)
        wait_for("master %d to stop" % pid, lambda: not proc_alive(pid), 15)


def test_detach_status_twice_stop(tmp_path, build_dir):
    run = tmp_path / "run"
    try:
        r = quickstart(build_dir, "--detach", run)
        assert r.returncode == 0, r.stdout + r.stderr
        pid = master_pid(run)
        assert pid and proc_alive(pid)
        assert "Postel runs in %s" % run in r.stdout
        assert "%s/log/maillog" % run in r.stdout
        assert re.search(r"postel -c %s/etc status" % re.escape(str(run)), r.stdout)
        assert "the Postel mail system is running: PID: %d" % pid in r.stdout

        # A self-contained instance owned by the invoking user (or root's accounts).
        for sub in ("etc/main.cf", "etc/master.cf", "spool/incoming", "data", "mail",
                    "log/maillog", "libexec/master"):
            assert os.path.exists(run / sub), sub
        with open(run / "etc" / "main.cf") as f:
            main_cf = f.read()
        assert re.search(r"^queue_directory = %s/spool$" % re.escape(str(run)), main_cf, re.M)
        assert re.search(r"^maillog_file = %s/log/maillog$" % re.escape(str(run)), main_cf, re.M)
        assert re.search(r"^inet_interfaces = 127\.0\.0\.1$", main_cf, re.M)
        assert len(re.findall(r"^inet_interfaces\b", main_cf, re.M)) == 1
        if os.geteuid() != 0:
            assert os.stat(run / "spool" / "incoming").st_uid == os.getuid()

        # master.cf names only daemons that were built.
        with open(run / "etc" / "master.cf") as f:
            for line in f:
                if line.strip() and not line.startswith(("#", " ", "\t")):
                    daemon = line.split()[7]
                    assert os.path.exists(run / "libexec" / daemon), line

        r = quickstart(build_dir, "--status", run)
        assert r.returncode == 0
        assert "running: PID: %d" % pid in r.stderr
        r = subprocess.run([os.path.join(build_dir, "tools", "postel"), "-c", str(run / "etc"),
                            "status"], capture_output=True, text=True, timeout=30)
        assert r.returncode == 0

        # Twice: the edited configuration stays, the running master is left alone.
        with open(run / "etc" / "main.cf", "a") as f:
            f.write("# edited by hand\n")
        r = quickstart(build_dir, "--detach", run)
        assert r.returncode == 0, r.stdout + r.stderr
        assert "already running" in r.stdout
        assert "keeping %s/etc/main.cf" % run in r.stdout
        with open(run / "etc" / "main.cf") as f:
            assert f.read().endswith("# edited by hand\n")
        assert master_pid(run) == pid

        r = quickstart(build_dir, "--stop", run)
        assert r.returncode == 0, r.stdout + r.stderr
        assert not proc_alive(pid)
        assert master_pid(run) is None
        r = quickstart(build_dir, "--status", run)
        assert r.returncode == 1
        assert "not running" in r.stderr
        r = quickstart(build_dir, "--stop", run)
        assert r.returncode == 0
        assert "not running" in r.stdout
    finally:
        stop_leftover(run)


def test_refuses_foreign_directory(tmp_path, build_dir):
    other = tmp_path / "other"
    other.mkdir()
    (other / "precious").write_text("keep me\n")
    r = quickstart(build_dir, "--detach", other)
    assert r.returncode == 1
    assert "not empty" in r.stderr
    assert os.listdir(other) == ["precious"]


def test_status_without_instance(tmp_path, build_dir):
    r = quickstart(build_dir, "--status", tmp_path / "none")
    assert r.returncode == 1
    assert "no Postel instance" in r.stderr


def test_foreground_ctrl_c(tmp_path, build_dir):
    run = tmp_path / "run"
    out_path = tmp_path / "out"
    env = dict(os.environ, POSTEL_BUILD_DIR=build_dir)
    env.pop("POSTEL_CONFIG_DIR", None)
    with open(out_path, "w") as out:
        # SIGINT as a terminal would deliver it, even if our own parent ignores it.
        proc = subprocess.Popen([QUICKSTART, str(run)], stdin=subprocess.DEVNULL, stdout=out,
                                stderr=subprocess.STDOUT, env=env, start_new_session=True,
                                preexec_fn=lambda: signal.signal(signal.SIGINT, signal.SIG_DFL))
    try:
        wait_for(lambda: "quickstart to come up:\n" + out_path.read_text(),
                 lambda: proc.poll() is not None or "Press Ctrl-C" in out_path.read_text(), 60)
        assert proc.poll() is None, out_path.read_text()
        pid = master_pid(run)
        assert pid and proc_alive(pid)
        # Ctrl-C reaches the whole foreground process group.
        os.killpg(proc.pid, signal.SIGINT)
        rc = proc.wait(timeout=30)
        text = out_path.read_text()
        assert rc == 0, text
        assert "stopped" in text
        assert not proc_alive(pid)
        assert master_pid(run) is None
    finally:
        if proc.poll() is None:
            os.killpg(proc.pid, signal.SIGKILL)
            proc.wait(timeout=10)
        stop_leftover(run)


def test_instance_delivers_smtp_and_sendmail_to_maildir(build_dir):
    """The instance takes mail for demo@localhost and the invoking user's name on port 2525
    and from its sendmail, into DIR/mail/<name>/Maildir/, and the commands that quickstart
    prints for a test message work as printed."""
    import pwd
    import shutil
    import smtplib
    import tempfile

    import pytest

    from instance import listening_ports

    for rel in ("smtpd/smtpd", "qmgr/qmgr", "local/local", "pickup/pickup", "tools/sendmail",
                "tools/postdrop", "tools/postalias", "tools/postqueue"):
        if not os.access(os.path.join(build_dir, rel), os.X_OK):
            pytest.skip("%s is not built" % rel)
    if 2525 in listening_ports():
        pytest.skip("port 2525 is in use here (run as root: ./runtests gives each file its "
                    "own network namespace)")
    # Not under pytest's private basetemp: as root the daemons run as the mail owner.
    top = tempfile.mkdtemp(prefix="postel-qs.", dir="/tmp")
    os.chmod(top, 0o755)
    run = os.path.join(top, "run")
    user = pwd.getpwuid(os.getuid()).pw_name
    try:
        r = quickstart(build_dir, "--detach", run)
        assert r.returncode == 0, r.stdout + r.stderr
        with open(os.path.join(run, "etc", "main.cf")) as f:
            main_cf = f.read()
        assert re.search(r"^mynetworks = 127\.0\.0\.1/32 \[::1\]/128$", main_cf, re.M)
        assert "Mail for demo" in r.stdout
        # The printed commands, run as printed.
        commands = [line[4:] for line in r.stdout.splitlines() if line.startswith("  $ ")]
        sm = [c for c in commands if c.startswith("printf ")]
        py = [c for c in commands if c.startswith("/usr/bin/python3 ")]
        assert len(sm) == 1 and len(py) == 1, r.stdout
        for c in sm + py:
            p = subprocess.run(["bash", "-c", c], capture_output=True, text=True, timeout=60)
            assert p.returncode == 0, (c, p.stdout, p.stderr)
        # One more of each, with a body to recognize, to the invoking user and to demo.
        env = dict(os.environ)
        env.pop("POSTEL_CONFIG_DIR", None)
        msg = b"Subject: from sendmail\n\nsent with sendmail\n"
        p = subprocess.run([os.path.join(build_dir, "tools", "sendmail"), "-C",
                            os.path.join(run, "etc"), "demo@localhost", user + "@localhost"],
                           input=msg, capture_output=True, timeout=60, env=env)
        assert p.returncode == 0, p.stderr
        with smtplib.SMTP("127.0.0.1", 2525, timeout=30) as s:
            refused = s.sendmail("someone@example.org", ["demo@localhost", user + "@localhost"],
                                 b"Subject: from smtp\r\n\r\nsent over SMTP\r\n")
            assert refused == {}
            # 127.0.0.1 may relay (no DATA: nothing would deliver it); unknown names bounce.
            assert s.mail("a@example.org")[0] == 250
            assert s.rcpt("x@elsewhere.example")[0] == 250
            assert s.rcpt("nobody-here@localhost")[0] == 550
            s.rset()
        # 127.0.0.2 is not in mynetworks: local mail only.
        with smtplib.SMTP("127.0.0.1", 2525, timeout=30, source_address=("127.0.0.2", 0)) as s:
            assert s.mail("a@example.org")[0] == 250
            assert s.rcpt("x@elsewhere.example")[0] == 554
            assert s.rcpt("demo@localhost")[0] == 250
            s.rset()

        def texts(name):
            new = os.path.join(run, "mail", name, "Maildir", "new")
            out = []
            for f in (os.listdir(new) if os.path.isdir(new) else []):
                with open(os.path.join(new, f), "rb") as fh:
                    out.append(fh.read())
            return out

        wait_for(lambda: "4 messages in demo's Maildir, 2 in %s's; log:\n%s"
                 % (user, open(os.path.join(run, "log", "maillog")).read()[-3000:]),
                 lambda: len(texts("demo")) == 4 and len(texts(user)) == 2, 60)
        demo = texts("demo")
        assert sum(b"sent with sendmail\n" in t for t in demo) == 1
        assert sum(b"sent over SMTP\n" in t for t in demo) == 1
        assert sum(b"\nHello.\n" in t for t in demo) == 2
        assert all(t.startswith(b"Return-Path: <") for t in demo)
        assert sum(b"Delivered-To: demo@localhost\n" in t for t in demo) == 4
        mine = texts(user)
        assert sorted(b"sent over SMTP" in t for t in mine) == [False, True]
        # Nothing left in the queue.
        p = subprocess.run([os.path.join(build_dir, "tools", "postqueue"), "-c",
                            os.path.join(run, "etc"), "-p"], capture_output=True, text=True,
                           timeout=30, env=env)
        assert p.returncode == 0 and "Mail queue is empty" in p.stdout, p.stdout + p.stderr
    finally:
        stop_leftover(run)
        shutil.rmtree(top, ignore_errors=True)
