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
