"""Integration tests of postconf(1): the build tree's tools/postconf run
against throw-away configuration directories.

What a user would check: the text of main.cf after an edit (comments, order,
continuation lines), what postconf prints, the error message and exit status
for a broken main.cf or master.cf, and that the manual page's defaults are
what postconf -d prints.

Environment: POSTEL_BUILD_DIR names the build tree (default <repo>/build).
"""

import os
import re
import subprocess
import threading

import pytest

REPO = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
BUILD = os.environ.get("POSTEL_BUILD_DIR", os.path.join(REPO, "build"))
POSTCONF = os.path.join(BUILD, "tools", "postconf")
MANPAGE = os.path.join(REPO, "man", "man5", "postel.conf.5")


@pytest.fixture(scope="module", autouse=True)
def built():
    """Fail (not skip) with a clear message when the program is not built."""
    if not os.access(POSTCONF, os.X_OK):
        pytest.fail("%s is missing: build Postel first or set POSTEL_BUILD_DIR" % POSTCONF)


def postconf(*args, env_extra=None, check=True):
    """Run postconf; return (exit status, stdout, stderr)."""
    env = dict(os.environ)
    env.pop("POSTEL_CONFIG_DIR", None)
    env.setdefault("ASAN_OPTIONS", "detect_leaks=1")
    if env_extra:
        env.update(env_extra)
    p = subprocess.run([POSTCONF] + list(args), capture_output=True, text=True, env=env,
                       timeout=60)
    if check and p.returncode != 0:
        raise AssertionError("postconf %s: exit %d\n%s" % (" ".join(args), p.returncode,
                                                           p.stderr))
    return p.returncode, p.stdout, p.stderr


def write(path, text):
    with open(path, "w") as f:
        f.write(text)


def read(path):
    with open(path) as f:
        return f.read()


MAIN_CF = """\
# Postel main.cf
# (a comment at the top)

myhostname = mail.example.com

# where mail is delivered locally
mydestination = $myhostname,
    localhost.$mydomain,
    # a comment inside the definition
    localhost
max_use = 50
#relayhost = [old.example.net]
biff = no
mua_restrictions = permit_sasl_authenticated, reject
"""


def test_edit_round_trip_keeps_comments_and_order(tmp_path):
    d = str(tmp_path)
    write(os.path.join(d, "main.cf"), MAIN_CF)
    postconf("-c", d, "-e", "mydestination = $myhostname, localhost", "max_use=7",
             "relayhost = [smart.example.net]:587", "message_size_limit=20m")
    assert read(os.path.join(d, "main.cf")) == """\
# Postel main.cf
# (a comment at the top)

myhostname = mail.example.com

# where mail is delivered locally
mydestination = $myhostname, localhost
max_use = 7
#relayhost = [old.example.net]
biff = no
mua_restrictions = permit_sasl_authenticated, reject
relayhost = [smart.example.net]:587
message_size_limit = 20m
"""
    # Only main.cf is left: the temporary file was renamed over it.
    assert sorted(os.listdir(d)) == ["main.cf"]
    _, out, _ = postconf("-c", d, "-h", "max_use", "relayhost", "message_size_limit")
    assert out == "7\n[smart.example.net]:587\n20m\n"
    # Editing to the same text again changes nothing.
    before = read(os.path.join(d, "main.cf"))
    postconf("-c", d, "-e", "max_use = 7")
    assert read(os.path.join(d, "main.cf")) == before


def test_edit_same_name_twice(tmp_path):
    d = str(tmp_path)
    write(os.path.join(d, "main.cf"), "biff = no\n")
    postconf("-c", d, "-e", "max_use=1", "biff=yes", "max_use = 2")
    assert read(os.path.join(d, "main.cf")) == "biff = yes\nmax_use = 2\n"


def test_edit_keeps_mode(tmp_path):
    d = str(tmp_path)
    path = os.path.join(d, "main.cf")
    write(path, "max_use = 1\n")
    os.chmod(path, 0o640)
    postconf("-c", d, "-e", "max_use=2")
    assert os.stat(path).st_mode & 0o7777 == 0o640
    assert read(path) == "max_use = 2\n"


def test_edit_creates_missing_main_cf(tmp_path):
    d = str(tmp_path)
    postconf("-c", d, "-e", "myhostname=h.example", "relayhost=")
    assert read(os.path.join(d, "main.cf")) == "myhostname = h.example\nrelayhost =\n"
    assert os.stat(os.path.join(d, "main.cf")).st_mode & 0o777 == 0o644


def test_edit_duplicate_definitions_collapse(tmp_path):
    d = str(tmp_path)
    write(os.path.join(d, "main.cf"), "max_use = 1\nbiff = no\nmax_use = 2\n   3\n")
    postconf("-c", d, "-e", "max_use=9")
    assert read(os.path.join(d, "main.cf")) == "max_use = 9\nbiff = no\n"


def test_edit_refuses_bad_values(tmp_path):
    d = str(tmp_path)
    write(os.path.join(d, "main.cf"), MAIN_CF)
    for edit, message in [
        ("max_use=10x", 'max_use: bad value "10x" (expected integer in range 1..1000000)'),
        ("ipc_timeout=5q", 'ipc_timeout: bad value "5q" (expected time in range 1s..1d)'),
        ("biff = maybe", 'biff: bad value "maybe" (expected yes or no)'),
        ("bad-name = 1", 'bad parameter name "bad-name"'),
        ("noequals", "expected name=value"),
        ("mail_name = $mail_name", "parameter mail_name: recursive definition"),
    ]:
        rc, out, err = postconf("-c", d, "-e", edit, check=False)
        assert rc == 1, edit
        assert message in err, (edit, err)
        assert read(os.path.join(d, "main.cf")) == MAIN_CF
    # A value that expands to a bad one is caught too, with file and line.
    rc, _, err = postconf("-c", d, "-e", "n = abc", "max_use = $n", check=False)
    assert rc == 1
    assert re.search(r'main\.cf, line \d+: parameter "max_use": bad value "abc"', err), err
    assert read(os.path.join(d, "main.cf")) == MAIN_CF
    assert sorted(os.listdir(d)) == ["main.cf"]


def test_edit_refuses_control_characters(tmp_path):
    d = str(tmp_path)
    write(os.path.join(d, "main.cf"), "max_use = 1\n")
    rc, _, err = postconf("-c", d, "-e", "mail_name = x\nmax_use = 0", check=False)
    assert rc == 1
    assert "control character" in err
    assert read(os.path.join(d, "main.cf")) == "max_use = 1\n"


def test_concurrent_edits_are_not_lost(tmp_path):
    d = str(tmp_path)
    write(os.path.join(d, "main.cf"), "# start\n")
    errors = []

    def edit(i):
        try:
            postconf("-c", d, "-e", "p%d = %d" % (i, i), "mail_name = $p%d" % i)
        except AssertionError as e:
            errors.append(str(e))

    threads = [threading.Thread(target=edit, args=(i,)) for i in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert errors == []
    text = read(os.path.join(d, "main.cf"))
    for i in range(8):
        assert "p%d = %d\n" % (i, i) in text
    assert text.count("mail_name =") == 1


def test_remove_and_comment_out(tmp_path):
    d = str(tmp_path)
    write(os.path.join(d, "main.cf"), MAIN_CF)
    postconf("-c", d, "-X", "mydestination", "biff")
    text = read(os.path.join(d, "main.cf"))
    assert "mydestination" not in text
    assert "localhost" not in text
    assert "biff" not in text
    assert "# where mail is delivered locally\nmax_use = 50\n" in text
    assert text.startswith("# Postel main.cf\n# (a comment at the top)\n\nmyhostname =")
    # Removing something that is not there is a warning, not an error.
    rc, _, err = postconf("-c", d, "-X", "relayhost")
    assert "relayhost is not set" in err

    postconf("-c", d, "-#", "max_use")
    text = read(os.path.join(d, "main.cf"))
    assert "\n#max_use = 50\n" in text
    _, out, _ = postconf("-c", d, "-h", "max_use")
    assert out == "100\n"


def test_n_shows_only_settings(tmp_path):
    d = str(tmp_path)
    write(os.path.join(d, "main.cf"), MAIN_CF)
    _, out, err = postconf("-c", d, "-n")
    assert out == """\
biff = no
max_use = 50
mua_restrictions = permit_sasl_authenticated, reject
mydestination = $myhostname, localhost.$mydomain, localhost
myhostname = mail.example.com
"""
    # mua_restrictions is not a known parameter and nothing refers to it.
    assert 'line 14: unknown parameter "mua_restrictions"' in err


def test_default_output_raw_and_expanded(tmp_path):
    d = str(tmp_path)
    write(os.path.join(d, "main.cf"), MAIN_CF)
    _, out, _ = postconf("-c", d)
    lines = out.splitlines()
    names = [l.split(" =")[0] for l in lines]
    assert names == sorted(names)
    assert "myorigin = $myhostname" in lines
    assert "mydomain = example.com" in lines
    assert "config_directory = %s" % d in lines
    _, out, _ = postconf("-c", d, "-x", "myorigin", "mydestination")
    assert out == ("myorigin = mail.example.com\n"
                   "mydestination = mail.example.com, localhost.example.com, localhost\n")
    _, out, _ = postconf("-c", d, "-o", "max_use=3", "max_use")
    assert out == "max_use = 3\n"


def test_d_without_main_cf(tmp_path):
    d = str(tmp_path / "nonexistent")
    _, out, err = postconf("-c", d, "-d")
    assert err == ""
    values = dict(l.split(" = ", 1) if " = " in l else (l[:-2], "") for l in out.splitlines())
    assert values["max_use"] == "100"
    assert values["max_idle"] == "100s"
    assert values["process_id_directory"] == "pid"
    assert values["mydestination"] == "$myhostname, localhost.$mydomain, localhost"
    assert values["relayhost"] == ""
    # -d ignores a broken main.cf as well.
    os.mkdir(d)
    write(os.path.join(d, "main.cf"), "this is not a parameter\n")
    _, out, _ = postconf("-c", d, "-d", "-h", "max_use")
    assert out == "100\n"


def test_h_and_unknown_names(tmp_path):
    d = str(tmp_path)
    write(os.path.join(d, "main.cf"), "max_use = 5\n")
    _, out, _ = postconf("-c", d, "-h", "max_use", "biff")
    assert out == "5\nno\n"
    rc, out, err = postconf("-c", d, "max_use", "no_such_thing", check=False)
    assert rc == 1
    assert out == "max_use = 5\n"
    assert "postconf: warning: unknown parameter: no_such_thing" in err


def test_config_dir_from_environment(tmp_path):
    d = str(tmp_path)
    write(os.path.join(d, "main.cf"), "max_use = 42\n")
    _, out, _ = postconf("-h", "max_use", env_extra={"POSTEL_CONFIG_DIR": d})
    assert out == "42\n"


@pytest.mark.parametrize("text,line,message", [
    ("max_use = 1\nbogus line here\n", 2, 'missing "=" after "bogus"'),
    ("\n\n= 5\n", 3, 'missing parameter name before "="'),
    ("max_use = 1\nipc_timeout = 5q\n", 2,
     'parameter "ipc_timeout": bad value "5q" (expected time in range 1s..1d)'),
    ("a = $b\nb = $a\n", 1, "parameter a: recursive definition"),
    ("  indented = 1\n", 1, "line starts with white space"),
    ("myhostname = LONG\n", 1, "line longer than 65536 bytes"),
], ids=["garbage", "no-name", "bad-time", "recursion", "indented", "1mb-line"])
def test_bad_main_cf(tmp_path, text, line, message):
    d = str(tmp_path)
    write(os.path.join(d, "main.cf"), text.replace("LONG", "x" * (1024 * 1024)))
    rc, out, err = postconf("-c", d, check=False)
    assert rc == 1
    assert out == ""
    assert "postconf: fatal: %s/main.cf, line %d: %s" % (d, line, message) in err, err


MASTER_CF = """\
# service type private unpriv chroot wakeup maxproc command + args
smtp      inet  n       -       y       -       -       smtpd
submission inet n       -       n       -       -       smtpd
  -o syslog_name=postel/submission
  # comment
  -o { smtpd_client_restrictions = permit_sasl_authenticated, reject }
pickup    unix  n       -       n       60      1       pickup
qmgr      unix  n       -       n       300?    1       qmgr
smtp      unix  -       -       -       -       0       smtp
"""


def test_master_cf(tmp_path):
    d = str(tmp_path)
    write(os.path.join(d, "master.cf"), MASTER_CF)
    _, out, _ = postconf("-c", d, "-M")
    assert out == (
        "smtp       inet  n       y       y       -       -       smtpd\n"
        "submission inet  n       y       n       -       -       smtpd"
        " -o syslog_name=postel/submission"
        " -o { smtpd_client_restrictions=permit_sasl_authenticated, reject }\n"
        "pickup     unix  n       y       n       60      1       pickup\n"
        "qmgr       unix  n       y       n       300?    1       qmgr\n"
        "smtp       unix  y       y       n       -       0       smtp\n")
    _, out, _ = postconf("-c", d, "-M", "smtp/unix", "pickup")
    assert out == ("pickup     unix  n       y       n       60      1       pickup\n"
                   "smtp       unix  y       y       n       -       0       smtp\n")
    rc, _, err = postconf("-c", d, "-M", "nosuch/inet", check=False)
    assert rc == 1
    assert "no such service: nosuch/inet" in err


@pytest.mark.parametrize("text,line,message", [
    ("smtp inet n - y - -\n", 1, "expected at least 8 columns"),
    ("smtp inet n - y - - smtpd\n\nsmtp inet n - n - - smtpd\n", 3,
     'duplicate service "smtp/inet" (first defined at line 1)'),
    ("smtp tcp n - y - - smtpd\n", 1, 'unknown service type "tcp"'),
    ("smtp inet n - maybe - - smtpd\n", 1, 'column "chroot": bad value "maybe"'),
    ("pickup unix n - n 6x 1 pickup\n", 1, 'column "wakeup": bad value "6x"'),
    ("smtp inet n - n - - smtpd\n  -o nonsense\n", 1, '-o "nonsense": expected name=value'),
], ids=["columns", "duplicate", "type", "yes-no", "number", "-o"])
def test_bad_master_cf(tmp_path, text, line, message):
    d = str(tmp_path)
    write(os.path.join(d, "master.cf"), text)
    rc, out, err = postconf("-c", d, "-M", check=False)
    assert rc == 1
    assert out == ""
    assert "postconf: fatal: %s/master.cf, line %d: %s" % (d, line, message) in err, err


def test_manual_defaults_match_postconf_d(tmp_path):
    """Each '.SS name (default: value)' in postel.conf(5) is what postconf -d prints."""
    _, out, _ = postconf("-c", str(tmp_path), "-d")
    defaults = {}
    for l in out.splitlines():
        name, _, value = l.partition(" =")
        defaults[name] = value[1:] if value.startswith(" ") else value
    documented = {}
    with open(MANPAGE) as f:
        for l in f:
            m = re.match(r"^\.SS (\S+) \(default: (.*)\)$", l.rstrip("\n"))
            if m:
                value = m.group(2).replace("\\(dq", '"').replace("\\-", "-").replace("\\e", "\\")
                documented[m.group(1)] = "" if value == "empty" else value
    assert sorted(documented) == sorted(defaults)
    for name, value in documented.items():
        if value == 'see "postconf -d" output':
            continue
        assert defaults[name] == value, name


def test_m_lists_table_types():
    _, out, _ = postconf("-m")
    types = out.splitlines()
    assert types == sorted(types)
    for t in ("cidr", "inline", "static", "texthash"):
        assert t in types
    assert "nosuchtype" not in types
