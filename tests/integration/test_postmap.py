"""Integration tests of postmap(1), postalias(1) and newaliases(1): the build
tree's programs run against throw-away directories.

What a user would check: the table files that appear (and that no temporary
file is left), what -q, -q -, -s print, the exit status of -q and -d, the
warning that names the file and line of a bad input line, that a missing or
corrupt table is an error and not "not found", and the permissions of a new
table.

Environment: POSTEL_BUILD_DIR names the build tree (default <repo>/build).
"""

import os
import stat
import subprocess

import pytest

REPO = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
BUILD = os.environ.get("POSTEL_BUILD_DIR", os.path.join(REPO, "build"))
POSTMAP = os.path.join(BUILD, "tools", "postmap")
POSTALIAS = os.path.join(BUILD, "tools", "postalias")
NEWALIASES = os.path.join(BUILD, "tools", "newaliases")

TYPES = ["hash", "btree", "lmdb", "cdb"]
SUFFIX = {"hash": ".db", "btree": ".db", "lmdb": ".lmdb", "cdb": ".cdb"}

SOURCE = """\
# virtual aliases
alice@example.com       alice
Bob@Example.COM         bob,
                        robert
"quoted key"@example.com  quoted
carol@example.com       carol
"""


@pytest.fixture(scope="module", autouse=True)
def built():
    """Fail (not skip) with a clear message when the programs are not built."""
    for prog in (POSTMAP, POSTALIAS, NEWALIASES):
        if not os.access(prog, os.X_OK):
            pytest.fail("%s is missing: build Postel first or set POSTEL_BUILD_DIR" % prog)


@pytest.fixture
def confdir(tmp_path):
    """An empty configuration directory (all defaults) unless a test writes main.cf."""
    d = tmp_path / "etc"
    d.mkdir()
    (d / "main.cf").write_text("")
    return d


def run(prog, *args, confdir=None, stdin=None):
    """Run a program; return (exit status, stdout, stderr)."""
    env = dict(os.environ)
    env.setdefault("ASAN_OPTIONS", "detect_leaks=1")
    if confdir is not None:
        env["POSTEL_CONFIG_DIR"] = str(confdir)
    p = subprocess.run([prog] + [str(a) for a in args], capture_output=True, text=True,
                       env=env, input=stdin, timeout=120)
    return p.returncode, p.stdout, p.stderr


def postmap(*args, **kw):
    return run(POSTMAP, *args, **kw)


def leftovers(directory, stem):
    """Files next to the table that are neither the source nor a table."""
    return sorted(f for f in os.listdir(directory)
                  if f.startswith(stem + ".") and f.rsplit(".", 1)[-1] not in
                  ("db", "lmdb", "cdb"))


@pytest.mark.parametrize("typ", TYPES)
def test_build_query_list(tmp_path, confdir, typ):
    src = tmp_path / "virtual"
    src.write_text(SOURCE)
    spec = "%s:%s" % (typ, src)
    rc, out, err = postmap(spec, confdir=confdir)
    assert (rc, out, err) == (0, "", "")
    assert os.path.exists(str(src) + SUFFIX[typ])
    assert leftovers(tmp_path, "virtual") == []

    # -q: one key, folded to lower case like the table.
    assert postmap("-q", "ALICE@example.com", spec, confdir=confdir) == (0, "alice\n", "")
    assert postmap("-q", "bob@example.com", spec, confdir=confdir)[1] == \
        "bob,                        robert\n"
    assert postmap("-q", '"quoted key"@example.com', spec, confdir=confdir)[1] == "quoted\n"
    assert postmap("-q", "nobody@example.com", spec, confdir=confdir) == (1, "", "")

    # -q -: keys from standard input, "key<TAB>value" for each found one.
    rc, out, _ = postmap("-q", "-", spec, confdir=confdir,
                         stdin="carol@example.com\nnobody@example.com\nAlice@Example.com\n")
    assert rc == 0
    assert out == "carol@example.com\tcarol\nAlice@Example.com\talice\n"
    assert postmap("-q", "-", spec, confdir=confdir, stdin="x\ny\n")[0] == 1

    # -s: every entry.
    rc, out, _ = postmap("-s", spec, confdir=confdir)
    assert rc == 0
    assert sorted(out.splitlines()) == sorted([
        "alice@example.com\talice",
        "bob@example.com\tbob,                        robert",
        '"quoted key"@example.com\tquoted',
        "carol@example.com\tcarol",
    ])


@pytest.mark.parametrize("typ", ["hash", "btree", "lmdb"])
def test_incremental_and_delete(tmp_path, confdir, typ):
    src = tmp_path / "access"
    src.write_text("a.example OK\n")
    spec = "%s:%s" % (typ, src)
    assert postmap(spec, confdir=confdir)[0] == 0

    rc, _, err = postmap("-i", spec, confdir=confdir,
                         stdin="B.example REJECT\na.example DUP\nbadline\n")
    assert rc == 0
    assert "stdin, line 2: duplicate entry: \"a.example\"" in err
    assert "stdin, line 3: expected format: key whitespace value" in err
    assert postmap("-q", "b.example", spec, confdir=confdir)[1] == "REJECT\n"
    assert postmap("-q", "a.example", spec, confdir=confdir)[1] == "OK\n"

    # -r replaces duplicates, -w keeps the first silently.
    rc, _, err = postmap("-i", "-r", spec, confdir=confdir, stdin="a.example NEW\n")
    assert (rc, err) == (0, "")
    assert postmap("-q", "a.example", spec, confdir=confdir)[1] == "NEW\n"
    rc, _, err = postmap("-i", "-w", spec, confdir=confdir, stdin="a.example NEWER\n")
    assert (rc, err) == (0, "")
    assert postmap("-q", "a.example", spec, confdir=confdir)[1] == "NEW\n"

    # -d: 0 when deleted, 1 when not there.
    assert postmap("-d", "B.EXAMPLE", spec, confdir=confdir)[0] == 0
    assert postmap("-d", "b.example", spec, confdir=confdir)[0] == 1
    assert postmap("-q", "b.example", spec, confdir=confdir)[0] == 1
    rc, _, _ = postmap("-d", "-", spec, confdir=confdir, stdin="a.example\nzzz\n")
    assert rc == 0
    assert postmap("-s", spec, confdir=confdir) == (0, "", "")

    # -i creates a table that does not exist yet.
    new = "%s:%s" % (typ, tmp_path / "fresh")
    assert postmap("-i", new, confdir=confdir, stdin="k v\n")[0] == 0
    assert postmap("-q", "k", new, confdir=confdir)[1] == "v\n"


def test_cdb_is_read_only(tmp_path, confdir):
    src = tmp_path / "t"
    src.write_text("k v\n")
    spec = "cdb:%s" % src
    assert postmap(spec, confdir=confdir)[0] == 0
    rc, _, err = postmap("-d", "k", spec, confdir=confdir)
    assert rc == 2 and "cannot be updated" in err
    rc, _, err = postmap("-i", spec, confdir=confdir, stdin="x y\n")
    assert rc != 0 and "cannot be updated" in err
    assert postmap("-q", "k", spec, confdir=confdir)[1] == "v\n"


def test_bad_line_names_file_and_line(tmp_path, confdir):
    src = tmp_path / "virtual"
    src.write_text("good@example.com good\n# comment\nbroken-line-without-value\n"
                   "also@example.com also\nalice: bob\ngood@example.com again\n")
    rc, _, err = postmap("hash:%s" % src, confdir=confdir)
    assert rc == 0
    assert ("postmap: warning: %s, line 3: expected format: key whitespace value" % src) in err
    assert ("%s, line 5: record is in \"key: value\" format" % src) in err
    assert ("%s, line 6: duplicate entry: \"good@example.com\"" % src) in err
    assert postmap("-q", "also@example.com", "hash:%s" % src, confdir=confdir)[1] == "also\n"
    assert postmap("-q", "good@example.com", "hash:%s" % src, confdir=confdir)[1] == "good\n"


def test_default_database_type(tmp_path, confdir):
    (confdir / "main.cf").write_text("default_database_type = lmdb\n")
    src = tmp_path / "transport"
    src.write_text("example.com smtp:[relay.example.com]\n")
    assert postmap(src, confdir=confdir) == (0, "", "")
    assert os.path.exists(str(src) + ".lmdb")
    assert not os.path.exists(str(src) + ".db")
    assert postmap("-q", "example.com", src, confdir=confdir)[1] == "smtp:[relay.example.com]\n"
    # -c names the configuration directory explicitly.
    other = tmp_path / "other"
    other.mkdir()
    (other / "main.cf").write_text("default_database_type = cdb\n")
    assert postmap("-c", other, src)[0] == 0
    assert os.path.exists(str(src) + ".cdb")


def test_missing_and_corrupt_tables_are_errors(tmp_path, confdir):
    rc, out, err = postmap("-q", "x", "hash:%s" % (tmp_path / "nothere"), confdir=confdir)
    assert rc == 2 and out == ""
    assert "nothere.db" in err and "No such file" in err
    for typ in TYPES:
        path = tmp_path / ("bad" + typ)
        with open(str(path) + SUFFIX[typ], "w") as f:
            f.write("this is not a table\n" * 3)
        rc, out, err = postmap("-q", "x", "%s:%s" % (typ, path), confdir=confdir)
        assert rc == 2, (typ, err)
        assert "corrupt" in err
    rc, _, err = postmap("-q", "x", "nosuch:%s" % path, confdir=confdir)
    assert rc == 2 and "unsupported table type" in err
    rc, _, err = postmap(tmp_path / "no-source", confdir=confdir)
    assert rc == 1 and "No such file" in err


def test_rebuild_replaces_atomically(tmp_path, confdir):
    src = tmp_path / "t"
    src.write_text("k old\n")
    assert postmap("hash:%s" % src, confdir=confdir)[0] == 0
    ino = os.stat(str(src) + ".db").st_ino
    # A reader holding the old file keeps reading it whole.
    held = open(str(src) + ".db", "rb")
    src.write_text("k new\n" + "".join("key%d value%d\n" % (i, i) for i in range(2000)))
    assert postmap("hash:%s" % src, confdir=confdir)[0] == 0
    assert os.stat(str(src) + ".db").st_ino != ino
    assert os.fstat(held.fileno()).st_nlink == 0
    held.close()
    assert leftovers(tmp_path, "t") == []
    assert postmap("-q", "k", "hash:%s" % src, confdir=confdir)[1] == "new\n"
    assert postmap("-q", "key1999", "hash:%s" % src, confdir=confdir)[1] == "value1999\n"


def test_permissions_follow_source(tmp_path, confdir):
    src = tmp_path / "secret"
    src.write_text("k v\n")
    for mode, want in ((0o600, 0o600), (0o640, 0o640), (0o644, 0o644)):
        os.chmod(src, mode)
        assert postmap("lmdb:%s" % src, confdir=confdir)[0] == 0
        assert stat.S_IMODE(os.stat(str(src) + ".lmdb").st_mode) == want
    os.chmod(src, 0o600)
    assert postmap("-p", "lmdb:%s" % src, confdir=confdir)[0] == 0
    assert stat.S_IMODE(os.stat(str(src) + ".lmdb").st_mode) == 0o644 & ~current_umask()


def current_umask():
    mask = os.umask(0o22)
    os.umask(mask)
    return mask


def test_query_text_types(tmp_path, confdir):
    cidr = tmp_path / "clients.cidr"
    cidr.write_text("192.168.0.0/16 OK\n10.0.0.1/8 bad\n2001:db8::/32 v6\n")
    rc, out, err = postmap("-q", "192.168.3.4", "cidr:%s" % cidr, confdir=confdir)
    assert (rc, out) == (0, "OK\n")
    assert "clients.cidr, line 2: non-null host address bits" in err
    assert postmap("-q", "2001:db8::5", "cidr:%s" % cidr, confdir=confdir)[1] == "v6\n"
    regexp = tmp_path / "hdr"
    regexp.write_text("/^Subject: (.*)viagra/ REJECT spam: $1\n")
    for typ in ("regexp", "pcre"):
        rc, out, _ = postmap("-q", "SUBJECT: buy VIAGRA", "%s:%s" % (typ, regexp),
                             confdir=confdir)
        assert (rc, out) == (0, "REJECT spam: buy \n")
    th = tmp_path / "th"
    th.write_text("Key Value\n")
    assert postmap("-q", "KEY", "texthash:%s" % th, confdir=confdir)[1] == "Value\n"
    assert postmap("-q", "b", "inline:{a=1, { b = two words }}", confdir=confdir)[1] == \
        "two words\n"
    assert postmap("-q", "anything", "static:fixed", confdir=confdir)[1] == "fixed\n"
    # Several tables: the first that has the key answers.
    assert postmap("-q", "a", "inline:{x=1}", "inline:{a=2}", "inline:{a=3}",
                   confdir=confdir)[1] == "2\n"
    rc, _, err = postmap("cidr:%s" % cidr, confdir=confdir)
    assert rc == 1 and "cannot be built" in err


ALIASES = """\
# /etc/aliases
postmaster:   root
Root:         alice,
              bob@example.com
bugs:         "|/usr/local/bin/tracker --new, now", /var/mail/bugs.archive
staff:        :include:/etc/postel/staff.list
"joe smith":  joe
broken line
"""


@pytest.mark.parametrize("typ", TYPES)
def test_postalias(tmp_path, confdir, typ):
    src = tmp_path / "aliases"
    src.write_text(ALIASES)
    spec = "%s:%s" % (typ, src)
    rc, out, err = run(POSTALIAS, spec, confdir=confdir)
    assert rc == 0
    assert ("postalias: warning: %s, line 8: expected format: name: value, value, ..." % src) \
        in err
    assert run(POSTALIAS, "-q", "ROOT", spec, confdir=confdir)[1] == \
        "alice, bob@example.com\n"
    assert run(POSTALIAS, "-q", "bugs", spec, confdir=confdir)[1] == \
        '"|/usr/local/bin/tracker --new, now", /var/mail/bugs.archive\n'
    assert run(POSTALIAS, "-q", "staff", spec, confdir=confdir)[1] == \
        ":include:/etc/postel/staff.list\n"
    assert run(POSTALIAS, "-q", "joe smith", spec, confdir=confdir)[1] == "joe\n"
    assert run(POSTALIAS, "-q", "nobody", spec, confdir=confdir)[0] == 1
    rc, out, _ = run(POSTALIAS, "-s", spec, confdir=confdir)
    assert rc == 0 and len(out.splitlines()) == 5


def test_newaliases(tmp_path, confdir):
    src = tmp_path / "aliases"
    src.write_text(ALIASES)
    (confdir / "main.cf").write_text(
        "alias_database = hash:%s, lmdb:%s\n" % (src, src))
    rc, out, err = run(NEWALIASES, confdir=confdir)
    assert rc == 0 and out == ""
    assert "newaliases: warning: %s, line 8" % src in err
    for typ in ("hash", "lmdb"):
        assert run(POSTALIAS, "-q", "postmaster", "%s:%s" % (typ, src),
                   confdir=confdir)[1] == "root\n"
    assert leftovers(tmp_path, "aliases") == []
    # Without a type, alias_database entries use default_database_type.
    (confdir / "main.cf").write_text(
        "default_database_type = cdb\nalias_database = %s\n" % src)
    assert run(NEWALIASES, confdir=confdir)[0] == 0
    assert os.path.exists(str(src) + ".cdb")
    # -c works too, and a missing source file is a fatal error naming it.
    (confdir / "main.cf").write_text("alias_database = hash:%s\n" % (tmp_path / "none"))
    rc, _, err = run(NEWALIASES, "-c", confdir)
    assert rc == 1 and "none" in err and "No such file" in err
