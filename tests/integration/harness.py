"""harness.py - integration test harness: a private Postgres, the real lighttpd + responder stack,
and a tiny test registry. Python 3 standard library only.

Everything lives in temp dirs under /tmp, on free ports; every wait is bounded; every process this
harness starts is tracked and killed (by its id) in finally blocks, at exit and on SIGTERM.

    from harness import test, Fail, Postgres, Stack, migrate
    @test
    def healthz():
        with Stack(database_url=pg.url()) as s:
            r = s.request("GET", "/v1/healthz")
            expect_eq(r.status, 200, "status", r)

    harness.run_all()   # prints PASS/FAIL lines and a final "N passed, N failed"
"""

import atexit
import base64
import contextlib
import glob
import hashlib
import hmac
import http.client
import http.server
import json
import os
import re
import select
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time
import tomllib
import traceback

HERE = os.path.dirname(os.path.abspath(__file__))
APP_HOME = os.path.realpath(os.path.join(HERE, "..", ".."))
BACKEND_BIN = os.path.realpath(
    os.environ.get("BACKEND_BIN") or os.path.join(APP_HOME, "fcgi-app", "build", "backend"))
PG_BIN = os.environ.get("PG_BIN", "/usr/lib/postgresql/15/bin")
PG_LOCAL = os.path.join(APP_HOME, "infra", "scripts", "pg-local.sh")
LIGHTTPD_CONF = os.path.join(APP_HOME, "lighttpd", "lighttpd.conf")
IS_ROOT = os.geteuid() == 0
_SEARCH_PATH = os.environ.get("PATH", "/usr/bin:/bin") + ":/usr/sbin:/sbin:/usr/local/sbin"
LIGHTTPD = shutil.which("lighttpd", path=_SEARCH_PATH)
RUNUSER = shutil.which("runuser", path=_SEARCH_PATH)

# Test secrets: long enough to be valid, distinctive enough to grep for in any output.
PEPPER = "itest-pepper-SECRET-7f3a9c1e5b2d4f6a8c0e"
ADMIN_KEY = "itest-admin-SECRET-4b6d8f0a2c"
ALLOWED_ORIGIN = "https://allowed.example"
# What Stack.request sends as User-Agent unless a test names its own (None: send none). Events
# without one, or from a bot, crawler or headless browser, are dropped (BOT_POLICY=drop, issue 14),
# so ordinary traffic in these tests comes from an ordinary browser.
BROWSER_UA = "Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/120.0.0.0 Safari/537.36"
OTHER_ALLOWED_ORIGIN = "https://www.also-allowed.example"
ERASURE_LOG_SECRET = "5e" * 32

# Variables the service reads; they are never inherited from the caller's environment.
SERVICE_VARS = (
    "DATABASE_URL IP_HASH_PEPPER ADMIN_API_KEY CORS_ALLOWED_ORIGINS ENFORCE_ORIGIN PORT FCGI_WORKERS MAX_BODY_BYTES "
    "RATE_LIMIT_MAX RATE_LIMIT_EVENTS RATE_LIMIT_CAPTURE RATE_LIMIT_UNSUBSCRIBE RATE_LIMIT_DELETE "
    "RATE_LIMIT_SUMMARY RATE_LIMIT_IPV6_PREFIX SESSION_INACTIVITY_MINUTES HEURISTIC_LINK_WINDOW_MINUTES ENABLE_HEURISTIC_LINKING "
    "ROLLUP_BATCH_DAYS ROLLUP_DEFAULT_PROPERTY_ID ROLLUP_INTERVAL_MINUTES ROLLUP_REFRESH_MINUTES RETENTION_DAYS "
    "PRIVACY_CONTACT_EMAIL LOG_LEVEL DATABASE_SCHEMA RUN_DIR TRUSTED_PROXIES CLIENT_IP_HEADER APP_HOME BIND_ADDRESS "
    "DIRECT_DATABASE_URL DATABASE_STATEMENTS DATABASE_MAX_LIFETIME_SECONDS DATABASE_MAX_IDLE_SECONDS "
    "BACKEND_BIN PGHOST PGPORT PGUSER PGPASSWORD PGDATABASE PGSERVICE PGOPTIONS PATH_QUERY_ALLOWLIST "
    "HONOR_GLOBAL_PRIVACY_CONTROL BOT_POLICY SITE_TIME_ZONE TZ TZDIR UNSUBSCRIBE_SECRET UNSUBSCRIBE_SECRET_PREVIOUS "
    "UNSUBSCRIBE_TOKEN_MAX_AGE_DAYS UNSUBSCRIBE_REQUIRE_TOKEN PUBLIC_BASE_URL "
    "CONSENT_IMPLIED_INQUIRY_DAYS CONSENT_IMPLIED_CUSTOMER_DAYS ERASURE_LOG_SECRET "
    "WEBHOOK_URL WEBHOOK_SECRET WEBHOOK_INCLUDE_EMAIL WEBHOOK_INCLUDE_PAYLOAD WEBHOOK_ALLOW_PRIVATE_TARGETS "
    "WEBHOOK_TIMEOUT_MS WEBHOOK_RETRY_HOURS WEBHOOK_RETRY_BASE_SECONDS WEBHOOK_POLL_SECONDS WEBHOOK_PURGE_DAYS").split()


class Fail(AssertionError):
    """A test failure with a readable message."""


class TestTimeout(Exception):
    pass


# ---------------------------------------------------------------------------------------------
# small helpers


def free_port():
    """A TCP port on 127.0.0.1 that nothing listens on right now (the kernel picks it)."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def port_open(port, host="127.0.0.1", timeout=0.5):
    try:
        with socket.create_connection((host, port), timeout=timeout):
            return True
    except OSError:
        return False


def wait_until(pred, timeout, interval=0.05, what="condition"):
    """Polls pred() until it is truthy (returns its value) or timeout seconds pass (raises Fail)."""
    deadline = time.monotonic() + timeout
    while True:
        v = pred()
        if v:
            return v
        if time.monotonic() >= deadline:
            raise Fail("timed out after %.1f s waiting for %s" % (timeout, what))
        time.sleep(interval)


def tail(path, n=40, limit=6000):
    try:
        with open(path, "rb") as f:
            data = f.read()
    except OSError:
        return "<no %s>" % path
    text = data.decode("utf-8", "replace")
    lines = text.splitlines()[-n:]
    out = "\n".join(lines)
    return out[-limit:]


def latest_migration():
    """Newest migrations/NNNN_*.sql name without .sql: what readyz reports as schemaVersion."""
    files = sorted(os.path.basename(p)[:-4]
                   for p in glob.glob(os.path.join(APP_HOME, "migrations", "[0-9][0-9][0-9][0-9]_*.sql")))
    if not files:
        raise Fail("no migrations/NNNN_*.sql files under %s" % APP_HOME)
    return files[-1]


def migration_versions():
    return sorted(os.path.basename(p)[:-4]
                  for p in glob.glob(os.path.join(APP_HOME, "migrations", "[0-9][0-9][0-9][0-9]_*.sql")))


def proc_state(pid):
    """The one-letter state of pid from /proc, or None when it does not exist."""
    try:
        with open("/proc/%d/stat" % pid) as f:
            data = f.read()
    except OSError:
        return None
    return data[data.rindex(")") + 2:].split()[0]


def proc_alive(pid):
    st = proc_state(pid)
    return st is not None and st not in ("Z", "X")


def proc_children(pid):
    """Pids whose parent is pid (the /proc children list, else a scan of /proc/*/stat)."""
    kids = set()
    try:
        for task in os.listdir("/proc/%d/task" % pid):
            with open("/proc/%d/task/%s/children" % (pid, task)) as f:
                kids.update(int(x) for x in f.read().split())
        return sorted(k for k in kids if proc_alive(k))
    except OSError:
        pass
    for name in os.listdir("/proc"):
        if not name.isdigit():
            continue
        try:
            with open("/proc/%s/stat" % name) as f:
                data = f.read()
            fields = data[data.rindex(")") + 2:].split()
            if int(fields[1]) == pid and fields[0] not in ("Z", "X"):
                kids.add(int(name))
        except (OSError, ValueError):
            continue
    return sorted(kids)


def proc_cmdline(pid):
    try:
        with open("/proc/%d/cmdline" % pid, "rb") as f:
            return [a.decode("utf-8", "replace") for a in f.read().split(b"\0") if a]
    except OSError:
        return []


def run(cmd, env=None, timeout=60, input=None, cwd=None):
    """Runs cmd to completion (bounded), returns CompletedProcess with text stdout/stderr."""
    try:
        return subprocess.run(cmd, env=env, input=input, cwd=cwd, capture_output=True, text=True,
                              timeout=timeout, stdin=None if input is not None else subprocess.DEVNULL)
    except FileNotFoundError:
        raise Fail("command not found: %s" % cmd[0])
    except subprocess.TimeoutExpired as e:
        raise Fail("command timed out after %s s: %s\nstdout: %s\nstderr: %s" %
                   (timeout, " ".join(cmd), e.stdout, e.stderr))


def expect(cond, message, resp=None):
    if not cond:
        raise Fail(message + (("\n  response: " + resp.describe()) if resp is not None else ""))


def expect_eq(actual, expected, what, resp=None):
    if actual != expected:
        raise Fail("%s: expected %r, got %r" % (what, expected, actual) +
                   (("\n  response: " + resp.describe()) if resp is not None else ""))


def expect_error(resp, status, code, extra=None):
    """resp is status with the JSON envelope {"ok":false,"error":code} (plus extra keys if given)."""
    expect_eq(resp.status, status, "status", resp)
    expect_eq(resp.header("content-type"), "application/json; charset=utf-8", "content-type", resp)
    expect(isinstance(resp.json, dict), "body is not a JSON object", resp)
    expect_eq(resp.json.get("ok"), False, "ok", resp)
    expect_eq(resp.json.get("error"), code, "error", resp)
    if extra is None:
        expect_eq(sorted(resp.json.keys()), ["error", "ok"], "body keys", resp)


# ---------------------------------------------------------------------------------------------
# process bookkeeping: everything started here is cleaned up, whatever happens

_RESOURCES = []  # objects with .cleanup(), most recent last
_RES_LOCK = threading.Lock()


def _register(obj):
    with _RES_LOCK:
        _RESOURCES.append(obj)


def _unregister(obj):
    with _RES_LOCK:
        if obj in _RESOURCES:
            _RESOURCES.remove(obj)


def cleanup_all():
    while True:
        with _RES_LOCK:
            if not _RESOURCES:
                return
            obj = _RESOURCES.pop()
        try:
            obj.cleanup()
        except Exception as e:  # keep cleaning the others
            sys.stderr.write("harness: cleanup of %r failed: %s\n" % (obj, e))


atexit.register(cleanup_all)


def _on_sigterm(signum, frame):
    raise SystemExit(128 + signum)


signal.signal(signal.SIGTERM, _on_sigterm)
signal.signal(signal.SIGHUP, _on_sigterm)

# lighttpd gets its access log as fd 3. The child receives it by dup2 in preexec_fn and keeps fd 3
# through pass_fds; fd 3 of this process is held open (to /dev/null) so that subprocess's internal
# error pipe can never be fd 3 and be clobbered by that dup2.
try:
    os.fstat(3)
except OSError:
    _fd = os.open("/dev/null", os.O_RDONLY | os.O_CLOEXEC)
    if _fd != 3:
        os.dup2(_fd, 3, inheritable=False)
        os.close(_fd)


# ---------------------------------------------------------------------------------------------
# Postgres


class Postgres:
    """A throwaway PostgreSQL 15 cluster in a temp dir: 127.0.0.1:<free port> plus a unix socket
    in <tmp>/sock. Uses infra/scripts/pg-local.sh when present and working, else does the same itself.
    As root every pg binary runs as the `postgres` user (initdb refuses root)."""

    def __init__(self, use_script=None):
        self.base = tempfile.mkdtemp(prefix="itpg-", dir="/tmp")
        os.chmod(self.base, 0o755)  # the postgres user must reach data/ and sock/
        self.datadir = os.path.join(self.base, "data")
        self.sockdir = os.path.join(self.base, "sock")
        self.logfile = os.path.join(self.base, "postgres.log")
        self.port = free_port()
        if use_script is None:
            use_script = os.environ.get("IT_PG_BUILTIN") != "1" and os.access(PG_LOCAL, os.X_OK)
        self.use_script = use_script
        self.notes = []
        _register(self)
        try:
            self._init()
            for attempt in range(3):
                try:
                    self.start()
                    break
                except Fail as e:
                    # the free port was taken before postgres bound it: take another one
                    if attempt == 2 or "already in use" not in str(e) + tail(self.logfile, 10):
                        raise
                    self.port = free_port()
        except BaseException:
            self.cleanup()
            raise

    def __repr__(self):
        return "Postgres(%s, port %d)" % (self.base, self.port)

    # -- low level
    def _pg(self, tool, *args, timeout=60):
        cmd = [os.path.join(PG_BIN, tool)] + list(args)
        if IS_ROOT:
            if not RUNUSER:
                raise Fail("running as root but runuser is missing")
            cmd = [RUNUSER, "-u", "postgres", "--"] + cmd
        return run(cmd, cwd="/", timeout=timeout)

    def _script(self, action, timeout=90):
        return run([PG_LOCAL, action, self.datadir, str(self.port)], cwd="/", timeout=timeout)

    def _prepare_dirs(self):
        os.makedirs(self.datadir, mode=0o700, exist_ok=True)
        os.makedirs(self.sockdir, mode=0o755, exist_ok=True)
        os.chmod(self.datadir, 0o700)
        os.chmod(self.sockdir, 0o755)
        open(self.logfile, "a").close()
        if IS_ROOT:
            import pwd
            pw = pwd.getpwnam("postgres")
            for p in (self.datadir, self.sockdir, self.logfile):
                os.chown(p, pw.pw_uid, pw.pw_gid)

    def _init(self):
        if self.use_script:
            r = self._script("init")
            if r.returncode == 0:
                self._tune()
                return
            self.notes.append("infra/scripts/pg-local.sh init failed (rc %d): %s; using the built-in start logic"
                              % (r.returncode, r.stderr.strip()[-500:]))
            sys.stderr.write("harness: " + self.notes[-1] + "\n")
            self.use_script = False
            shutil.rmtree(self.datadir, ignore_errors=True)
        self._prepare_dirs()
        r = self._pg("initdb", "-D", self.datadir, "--username=postgres", "--auth=trust", "-E", "UTF8",
                     "--locale=C", "--no-sync")
        if r.returncode != 0:
            raise Fail("initdb failed (rc %d): %s %s" % (r.returncode, r.stdout[-1000:], r.stderr[-1000:]))
        self._tune()
        self._need_create_db = True

    def _tune(self):
        # Throwaway data: durability off makes the run faster.
        with open(os.path.join(self.datadir, "postgresql.conf"), "a") as f:
            f.write("\n# integration tests\nfsync = off\nsynchronous_commit = off\nfull_page_writes = off\n")

    # -- lifecycle
    def start(self):
        if self.use_script:
            r = self._script("start")
            if r.returncode != 0:
                raise Fail("pg-local.sh start failed (rc %d): %s\nlog:\n%s" %
                           (r.returncode, r.stderr[-1500:], tail(self.logfile)))
        else:
            self._prepare_dirs()
            opts = ("-p %d -c listen_addresses=127.0.0.1 -c unix_socket_directories='%s' "
                    "-c max_connections=60" % (self.port, self.sockdir))
            r = self._pg("pg_ctl", "start", "-D", self.datadir, "-l", self.logfile, "-s", "-w", "-t", "30",
                         "-o", opts)
            if r.returncode != 0:
                raise Fail("pg_ctl start failed (rc %d): %s\nlog:\n%s" %
                           (r.returncode, r.stderr[-1500:], tail(self.logfile)))
        wait_until(lambda: self._ready(), 30, 0.1, "postgres to accept connections")
        if getattr(self, "_need_create_db", False):
            self.psql("CREATE DATABASE backend", db="postgres")
            self._need_create_db = False

    def _ready(self):
        r = run([os.path.join(PG_BIN, "pg_isready"), "-q", "-h", self.sockdir, "-p", str(self.port),
                 "-U", "postgres", "-d", "postgres"], timeout=10)
        return r.returncode == 0

    def is_running(self):
        if not os.path.exists(os.path.join(self.datadir, "PG_VERSION")):
            return False
        return self._pg("pg_ctl", "status", "-D", self.datadir, timeout=20).returncode == 0

    def stop(self, mode="fast"):
        """Stops the server and returns only once it is really gone (no postmaster, port closed)."""
        if self.use_script and mode == "fast":
            r = self._script("stop")
        else:
            r = self._pg("pg_ctl", "stop", "-D", self.datadir, "-m", mode, "-s", "-w", "-t", "30")
        if r.returncode != 0 and self.is_running():
            raise Fail("stopping postgres failed (rc %d): %s" % (r.returncode, r.stderr[-1000:]))
        wait_until(lambda: not os.path.exists(os.path.join(self.datadir, "postmaster.pid")), 30, 0.05,
                   "postmaster.pid to disappear")
        wait_until(lambda: not port_open(self.port), 10, 0.05, "postgres port %d to close" % self.port)

    def restart(self):
        self.stop()
        self.start()

    def _postmaster_pid(self):
        try:
            with open(os.path.join(self.datadir, "postmaster.pid")) as f:
                return int(f.readline().strip())
        except (OSError, ValueError):
            return None

    def cleanup(self):
        _unregister(self)
        try:
            if os.path.exists(os.path.join(self.datadir, "postmaster.pid")):
                r = self._pg("pg_ctl", "stop", "-D", self.datadir, "-m", "immediate", "-s", "-w", "-t", "15",
                             timeout=30)
                pid = self._postmaster_pid()
                if r.returncode != 0 and pid and proc_alive(pid):
                    os.kill(pid, signal.SIGKILL)
                    time.sleep(0.2)
        except Exception as e:
            sys.stderr.write("harness: postgres stop during cleanup: %s\n" % e)
        shutil.rmtree(self.base, ignore_errors=True)

    # -- access
    def url(self, db="backend", password=None):
        cred = "postgres" + (":" + password if password else "")
        return "postgresql://%s@127.0.0.1:%d/%s" % (cred, self.port, db)

    def psql(self, sql=None, db="backend", file=None, timeout=60):
        """Runs SQL (or a file) through psql over the unix socket; returns stdout (unaligned,
        tuples only, '|' separated). Raises Fail with psql's stderr on any error."""
        cmd = [os.path.join(PG_BIN, "psql"), "-X", "-q", "-A", "-t", "-v", "ON_ERROR_STOP=1",
               "-h", self.sockdir, "-p", str(self.port), "-U", "postgres", "-d", db]
        cmd += ["-f", file] if file else ["-c", sql]
        env = dict(os.environ, PGOPTIONS="-c client_min_messages=warning", PGTZ="UTC")
        r = run(cmd, env=env, timeout=timeout)
        if r.returncode != 0:
            raise Fail("psql failed (rc %d) on %s: %s" % (r.returncode, file or sql[:200], r.stderr.strip()[-1500:]))
        return r.stdout

    def create_db(self, name):
        self.psql('DROP DATABASE IF EXISTS "%s"' % name, db="postgres")
        self.psql('CREATE DATABASE "%s"' % name, db="postgres")
        return self.url(name)


# ---------------------------------------------------------------------------------------------
# PgBouncer


PGBOUNCER = shutil.which("pgbouncer", path=_SEARCH_PATH)


class PgBouncer:
    """Debian's pgbouncer in front of a Postgres of this harness, as Fly Managed Postgres puts one
    in front of its cluster: transaction pooling (a client holds a server connection only for a
    transaction, so named statements and session settings are not the client's), on 127.0.0.1:<free
    port>, trust auth for the test cluster's `postgres` user, every database passed through.
    pool_size server connections per database; more clients than that queue, as on Fly."""

    def __init__(self, pg, pool_size=4, pool_mode="transaction"):
        if not PGBOUNCER:
            raise Fail("pgbouncer not found in PATH (%s): make deps installs it" % _SEARCH_PATH)
        self.pg = pg
        self.base = tempfile.mkdtemp(prefix="itpgb-", dir="/tmp")
        os.chmod(self.base, 0o755)  # pgbouncer runs as postgres when we are root
        self.port = free_port()
        self.logfile = os.path.join(self.base, "pgbouncer.log")
        self.proc = None
        with open(os.path.join(self.base, "users.txt"), "w") as f:
            f.write('"postgres" ""\n')
        with open(os.path.join(self.base, "pgbouncer.ini"), "w") as f:
            f.write("[databases]\n* = host=127.0.0.1 port=%d\n\n[pgbouncer]\n"
                    "listen_addr = 127.0.0.1\nlisten_port = %d\nunix_socket_dir =\n"
                    "auth_type = trust\nauth_file = %s/users.txt\n"
                    "pool_mode = %s\ndefault_pool_size = %d\nmax_client_conn = 500\n"
                    "logfile = %s\nlog_connections = 0\nlog_disconnections = 0\n"
                    "admin_users = postgres\n" %
                    (pg.port, self.port, self.base, pool_mode, pool_size, self.logfile))
        open(self.logfile, "a").close()
        if IS_ROOT:
            import pwd
            pw = pwd.getpwnam("postgres")
            for name in os.listdir(self.base):
                os.chown(os.path.join(self.base, name), pw.pw_uid, pw.pw_gid)
        _register(self)
        try:
            self.start()
        except BaseException:
            self.cleanup()
            raise

    def __repr__(self):
        return "PgBouncer(%s, port %d)" % (self.base, self.port)

    def start(self):
        cmd = [PGBOUNCER, os.path.join(self.base, "pgbouncer.ini")]
        if IS_ROOT:  # pgbouncer refuses to run as root
            cmd = [RUNUSER, "-u", "postgres", "--"] + cmd
        self.proc = subprocess.Popen(cmd, cwd="/", stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL,
                                     stderr=subprocess.DEVNULL, start_new_session=True)
        wait_until(lambda: self.proc.poll() is not None or port_open(self.port), 10, 0.05,
                   "pgbouncer to listen on %d" % self.port)
        if self.proc.poll() is not None:
            raise Fail("pgbouncer exited with %s; log:\n%s" % (self.proc.returncode, tail(self.logfile)))

    def url(self, db="backend"):
        return "postgresql://postgres@127.0.0.1:%d/%s" % (self.port, db)

    def log(self, n=40):
        return tail(self.logfile, n)

    def cleanup(self):
        _unregister(self)
        if self.proc and self.proc.poll() is None:
            try:
                os.killpg(self.proc.pid, signal.SIGTERM)  # its own session: runuser and pgbouncer
                self.proc.wait(timeout=5)
            except (OSError, subprocess.TimeoutExpired):
                try:
                    os.killpg(self.proc.pid, signal.SIGKILL)
                    self.proc.wait(timeout=5)
                except (OSError, subprocess.TimeoutExpired):
                    pass
        shutil.rmtree(self.base, ignore_errors=True)


# ---------------------------------------------------------------------------------------------
# the service


class PsqlSession:
    """An interactive psql held open through a pipe on stdin: one Postgres session for as long as
    the test wants it."""

    def __init__(self, pg, db="backend"):
        cmd = [os.path.join(PG_BIN, "psql"), "-X", "-q", "-A", "-t", "-h", pg.sockdir, "-p", str(pg.port),
               "-U", "postgres", "-d", db]
        env = dict(os.environ, PGOPTIONS="-c client_min_messages=warning")
        self.p = subprocess.Popen(cmd, stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                                  env=env, cwd="/")
        self.out = b""

    def send(self, sql):
        self.p.stdin.write(sql.encode() + b"\n")
        self.p.stdin.flush()

    def wait_for(self, marker, timeout=5.0):
        """True once marker appears on psql's stdout; False when psql exits or timeout passes."""
        deadline = time.monotonic() + timeout
        fd = self.p.stdout.fileno()
        while marker.encode() not in self.out:
            left = deadline - time.monotonic()
            if left <= 0:
                return False
            rd, _, _ = select.select([fd], [], [], left)
            if rd:
                chunk = os.read(fd, 65536)
                if not chunk:
                    return False
                self.out += chunk
        return True

    def stderr(self):
        if self.p.poll() is None:
            return ""
        try:
            return self.p.stderr.read().decode("utf-8", "replace")
        except (OSError, ValueError):
            return ""

    def close(self):
        try:
            if self.p.poll() is None:
                try:
                    self.p.stdin.close()
                except OSError:
                    pass
                try:
                    self.p.wait(timeout=5)
                except subprocess.TimeoutExpired:
                    self.p.kill()
                    self.p.wait(timeout=5)
        finally:
            for f in (self.p.stdin, self.p.stdout, self.p.stderr):
                try:
                    f.close()
                except OSError:
                    pass


def sql_lit(v):
    """An SQL literal for a Python value: NULL, true/false, a number, else a quoted string."""
    if v is None:
        return "NULL"
    if isinstance(v, bool):
        return "true" if v else "false"
    if isinstance(v, (int, float)):
        return repr(v)
    return "'" + str(v).replace("'", "''") + "'"


def service_env(database_url, overrides=None, run_dir=None, port=None):
    """The environment lighttpd and the backend binary run with: the caller's environment minus
    anything the service reads, plus valid test settings, plus overrides (None deletes a key)."""
    env = {k: v for k, v in os.environ.items() if k not in SERVICE_VARS}
    env["PATH"] = _SEARCH_PATH
    env.update({
        "BACKEND_BIN": BACKEND_BIN,
        "APP_HOME": APP_HOME,
        "BIND_ADDRESS": "127.0.0.1",
        "DATABASE_URL": database_url,
        "IP_HASH_PEPPER": PEPPER,
        # set, as a deployment should: unset, every responder warns at start (test_erasure unsets it)
        "ERASURE_LOG_SECRET": ERASURE_LOG_SECRET,
        "ADMIN_API_KEY": ADMIN_KEY,
        "CORS_ALLOWED_ORIGINS": " %s , ,%s" % (ALLOWED_ORIGIN, OTHER_ALLOWED_ORIGIN),
        "FCGI_WORKERS": "2",
        "RATE_LIMIT_MAX": "1000",
        "LOG_LEVEL": "info",
        # lighttpd's access log writes its strftime time as local time, labelled Z (lighttpd.conf)
        "TZ": "UTC",
    })
    if run_dir:
        env["RUN_DIR"] = run_dir
    if port:
        env["PORT"] = str(port)
    for k, v in (overrides or {}).items():
        if v is None:
            env.pop(k, None)
        else:
            env[k] = str(v)
    return env


def backend(args, env, timeout=60):
    """Runs the backend binary with args; returns CompletedProcess (text)."""
    return run([BACKEND_BIN] + list(args), env=env, timeout=timeout, cwd="/")


def lighttpd_vars(overrides):
    """`backend lighttpd-vars` with overrides over a throwaway database URL and a private RUN_DIR
    (it must exist, be ours and 0700: lighttpd-vars checks it). Returns CompletedProcess."""
    run_dir = tempfile.mkdtemp(prefix="lighttpd-vars-run-")
    try:
        os.chmod(run_dir, 0o700)
        env = dict(overrides, RUN_DIR=run_dir)
        return backend(["lighttpd-vars"], service_env("postgresql://x@127.0.0.1/x", env))
    finally:
        shutil.rmtree(run_dir, ignore_errors=True)


def fly_toml():
    """infra/fly/fly.toml, parsed."""
    with open(os.path.join(APP_HOME, "infra", "fly", "fly.toml"), "rb") as f:
        return tomllib.load(f)


def migrate(env, *args, timeout=90):
    """`backend migrate [args]` with env (a dict from service_env). Returns CompletedProcess."""
    return backend(["migrate"] + list(args), env, timeout)


class CIDict(dict):
    """Header dict with case-insensitive lookup (keys stored lower-case; repeated headers joined)."""

    def __init__(self, pairs=()):
        super().__init__()
        for k, v in pairs:
            k = k.lower()
            super().__setitem__(k, v if k not in self else self[k] + ", " + v)

    def __getitem__(self, k):
        return super().__getitem__(k.lower())

    def __contains__(self, k):
        return super().__contains__(k.lower())

    def get(self, k, default=None):
        return super().get(k.lower(), default)


class Response:
    def __init__(self, method, path, status, reason, headers, body, elapsed):
        self.method, self.path = method, path
        self.status, self.reason = status, reason
        self.headers = headers
        self.body = body
        self.elapsed = elapsed
        self.json = None
        if body:
            try:
                self.json = json.loads(body.decode("utf-8"))
            except (ValueError, UnicodeDecodeError):
                self.json = None

    def header(self, name, default=None):
        return self.headers.get(name, default)

    def describe(self):
        hdrs = "; ".join("%s: %s" % kv for kv in sorted(self.headers.items()))
        body = self.body[:600].decode("utf-8", "replace")
        return "%s %s -> %s %s in %.3f s [%s] body=%r" % (self.method, self.path, self.status, self.reason,
                                                         self.elapsed, hdrs, body)

    def __repr__(self):
        return "<Response %s>" % self.describe()


# ---------------------------------------------------------------------------------------------
# response recording: every answer Stack.request receives is kept (method, path without query,
# status, headers, JSON body) so that test_zz_openapi.py, which runs last, can check each one against
# the OpenAPI document. IT_RECORD_RESPONSES=FILE also appends them to FILE as JSON lines.

RECORD_RESPONSES = True  # module flag: a test that sends huge numbers of requests may turn it off
RECORD_MAX = 100000
_RECORDED = []
_record_lock = threading.Lock()


def record_response(resp):
    if not RECORD_RESPONSES:
        return
    entry = {"method": resp.method, "path": resp.path.split("?", 1)[0].split("#", 1)[0], "status": resp.status,
             "headers": dict(resp.headers), "body_len": len(resp.body), "json": resp.json,
             "is_json": resp.json is not None or not resp.body}
    with _record_lock:
        if len(_RECORDED) < RECORD_MAX:
            _RECORDED.append(entry)
        out = os.environ.get("IT_RECORD_RESPONSES")
        if out:
            with open(out, "a", encoding="utf-8") as f:
                f.write(json.dumps(entry) + "\n")


def recorded_responses():
    """The responses recorded so far in this process (a copy)."""
    with _record_lock:
        return list(_RECORDED)


class StackStartError(Fail):
    pass


class Stack:
    """lighttpd -D -f lighttpd/lighttpd.conf with its FastCGI responders, on a free port, with a
    private RUN_DIR, stderr in <tmp>/lighttpd.err and the access log (fd 3) in <tmp>/access.log."""

    def __init__(self, database_url, env=None, workers=2, wait=True, start_timeout=15):
        self.base = tempfile.mkdtemp(prefix="itst-", dir="/tmp")  # mode 0700
        self.run_dir = os.path.join(self.base, "run")
        os.mkdir(self.run_dir, 0o700)
        if len(self.run_dir) > 80:
            raise Fail("RUN_DIR too long: %s" % self.run_dir)
        self.port = free_port()
        # the metrics listener (METRICS_PORT) gets a free port too: two stacks, or another
        # engineer's `make run`, must not meet on the default 9091
        self.metrics_port = free_port()
        overrides = {"FCGI_WORKERS": workers, "METRICS_PORT": self.metrics_port}
        overrides.update(env or {})
        self.env = service_env(database_url, overrides, run_dir=self.run_dir, port=self.port)
        self.workers = workers
        self.stderr_path = os.path.join(self.base, "lighttpd.err")
        self.access_log_path = os.path.join(self.base, "access.log")
        self.proc = None
        self.exit_code = None
        self._known_responders = set()
        _register(self)
        try:
            for attempt in range(3):
                try:
                    self.start(wait=wait, timeout=start_timeout)
                    break
                except StackStartError as e:
                    # the free port was taken before lighttpd bound it: take another one
                    if attempt == 2 or "already in use" not in str(e):
                        raise
                    self.port = free_port()
                    self.env["PORT"] = str(self.port)
                    if self.env.get("METRICS_PORT") == str(self.metrics_port):
                        self.metrics_port = free_port()
                        self.env["METRICS_PORT"] = str(self.metrics_port)
        except BaseException:
            self.cleanup()
            raise

    def __repr__(self):
        return "Stack(%s, port %d)" % (self.base, self.port)

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.cleanup()
        return False

    # -- lifecycle
    def start(self, wait=True, timeout=15):
        if not LIGHTTPD:
            raise Fail("lighttpd not found in PATH (%s)" % _SEARCH_PATH)
        if not os.access(BACKEND_BIN, os.X_OK):
            raise Fail("backend binary missing: %s (run make)" % BACKEND_BIN)
        errf = open(self.stderr_path, "ab")
        acc = os.open(self.access_log_path, os.O_WRONLY | os.O_CREAT | os.O_APPEND | os.O_CLOEXEC, 0o600)

        def child_fd3():
            if acc != 3:
                os.dup2(acc, 3)  # dup2 leaves the copy inheritable
            else:
                os.set_inheritable(3, True)

        try:
            self.proc = subprocess.Popen([LIGHTTPD, "-D", "-f", LIGHTTPD_CONF], env=self.env, cwd=self.base,
                                         stdin=subprocess.DEVNULL, stdout=errf, stderr=errf,
                                         pass_fds=(3,), preexec_fn=child_fd3, start_new_session=True)
        finally:
            errf.close()
            os.close(acc)
        self.exit_code = None
        if not wait:
            return
        deadline = time.monotonic() + timeout
        last = None
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                self.exit_code = self.proc.returncode
                raise StackStartError("lighttpd exited with %s before answering /v1/healthz; stderr:\n%s" %
                                      (self.proc.returncode, self.stderr()))
            try:
                r = self.request("GET", "/v1/healthz", timeout=1)
                if r.status == 200:
                    break
                last = r.describe()
            except OSError as e:
                last = repr(e)
            time.sleep(0.05)
        else:
            raise StackStartError("lighttpd did not answer /v1/healthz within %s s (last: %s); stderr:\n%s" %
                                  (timeout, last, self.stderr()))
        # lighttpd spawns min-procs responders at start; wait until all of them are there
        wait_until(lambda: len(self.responder_pids()) >= self.workers, 10, 0.05,
                   "%d responders (have %s); stderr:\n%s" % (self.workers, self.responder_pids(), self.stderr()))
        self._known_responders.update(self.responder_pids())

    @property
    def pid(self):
        return self.proc.pid if self.proc else None

    def alive(self):
        return self.proc is not None and self.proc.poll() is None

    def responder_pids(self):
        """Pids of lighttpd's child processes running the backend binary."""
        if not self.alive():
            return []
        out = []
        for k in proc_children(self.proc.pid):
            cmd = proc_cmdline(k)
            if cmd and (os.path.basename(cmd[0]) == os.path.basename(BACKEND_BIN) or "serve" in cmd):
                out.append(k)
        return sorted(out)

    def stop(self, timeout=10):
        """SIGINT to lighttpd; waits (bounded) for it to exit. Returns (exit code, seconds taken).
        Raises Fail when it does not exit in time (cleanup then kills it)."""
        if not self.proc:
            return None, 0.0
        self._known_responders.update(self.responder_pids())
        t0 = time.monotonic()
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGINT)
        try:
            self.exit_code = self.proc.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            raise Fail("lighttpd did not exit within %s s of SIGINT; stderr:\n%s" % (timeout, self.stderr()))
        return self.exit_code, time.monotonic() - t0

    def leftover_responders(self):
        return sorted(p for p in self._known_responders if proc_alive(p))

    def cleanup(self):
        _unregister(self)
        try:
            if self.proc and self.proc.poll() is None:
                self._known_responders.update(self.responder_pids())
                self.proc.send_signal(signal.SIGINT)
                try:
                    self.proc.wait(timeout=10)
                except subprocess.TimeoutExpired:
                    self.proc.kill()
                    self.proc.wait(timeout=5)
            # responders that outlived lighttpd: by pid, then the process group we created
            for p in self.leftover_responders():
                try:
                    os.kill(p, signal.SIGKILL)
                except OSError:
                    pass
            if self.proc:
                try:
                    os.killpg(self.proc.pid, signal.SIGKILL)
                except OSError:
                    pass
        finally:
            if os.environ.get("IT_KEEP") != "1":
                shutil.rmtree(self.base, ignore_errors=True)

    # -- logs
    def stderr(self, n=40):
        return tail(self.stderr_path, n)

    def access_log_lines(self):
        try:
            with open(self.access_log_path, "rb") as f:
                return [l for l in f.read().decode("utf-8", "replace").splitlines() if l.strip()]
        except OSError:
            return []

    # -- requests
    def request(self, method, path, body=None, headers=None, timeout=10):
        """One request on a fresh connection. Returns a Response (status, headers (case-insensitive),
        body bytes, json (parsed or None), elapsed seconds)."""
        headers = dict(headers or {})
        ua = [k for k in headers if k.lower() == "user-agent"]
        if not ua:
            headers["User-Agent"] = BROWSER_UA
        else:
            for k in ua:
                if headers[k] is None:
                    del headers[k]
        if isinstance(body, (dict, list)):
            body = json.dumps(body).encode()
            headers.setdefault("Content-Type", "application/json")
        elif isinstance(body, str):
            body = body.encode()
        conn = http.client.HTTPConnection("127.0.0.1", self.port, timeout=timeout)
        t0 = time.monotonic()
        try:
            conn.request(method, path, body=body, headers=headers)
            r = conn.getresponse()
            data = r.read()
            elapsed = time.monotonic() - t0
            resp = Response(method, path, r.status, r.reason, CIDict(r.getheaders()), data, elapsed)
            record_response(resp)
            return resp
        finally:
            conn.close()

    def parallel(self, reqs, timeout=10):
        """Sends the requests [(method, path, body, headers), ...] at once, each on its own
        connection (released together by a barrier), so that lighttpd spreads them over responders.
        Returns the Responses in order; an exception in a thread is raised here."""
        results = [None] * len(reqs)
        errors = [None] * len(reqs)
        barrier = threading.Barrier(len(reqs))

        def one(i, spec):
            method, path = spec[0], spec[1]
            body = spec[2] if len(spec) > 2 else None
            hdrs = spec[3] if len(spec) > 3 else None
            try:
                barrier.wait(timeout=5)
                results[i] = self.request(method, path, body, hdrs, timeout=timeout)
            except BaseException as e:
                errors[i] = e

        threads = [threading.Thread(target=one, args=(i, s), daemon=True) for i, s in enumerate(reqs)]
        for t in threads:
            t.start()
        for t in threads:
            t.join(timeout + 10)
        for i, e in enumerate(errors):
            if e is not None:
                raise Fail("parallel request %d %r failed: %r" % (i, reqs[i][:2], e))
        if any(r is None for r in results):
            raise Fail("parallel requests did not finish in time")
        return results

    def raw(self, data, timeout=5, read_limit=1 << 20):
        """Sends raw bytes on a fresh connection and reads until the server closes or timeout.
        Returns (status or None, CIDict headers, body bytes, raw bytes, elapsed)."""
        t0 = time.monotonic()
        buf = b""
        with socket.create_connection(("127.0.0.1", self.port), timeout=timeout) as s:
            s.sendall(data)
            s.settimeout(0.2)
            deadline = time.monotonic() + timeout
            while time.monotonic() < deadline and len(buf) < read_limit:
                try:
                    chunk = s.recv(65536)
                except socket.timeout:
                    if b"\r\n\r\n" in buf and _complete(buf):
                        break
                    continue
                except ConnectionResetError:
                    break
                if not chunk:
                    break
                buf += chunk
                if _complete(buf):
                    break
        elapsed = time.monotonic() - t0
        head, _, body = buf.partition(b"\r\n\r\n")
        lines = head.decode("latin-1").split("\r\n")
        status = None
        if lines and lines[0].startswith("HTTP/"):
            try:
                status = int(lines[0].split()[1])
            except (IndexError, ValueError):
                status = None
        pairs = [l.split(":", 1) for l in lines[1:] if ":" in l]
        hdrs = CIDict((k.strip(), v.strip()) for k, v in pairs)
        # lighttpd's own answers to hand-made requests are recorded too, when the request line
        # parses and the whole response was read
        req_line = data.split(b"\r\n", 1)[0].decode("latin-1").split(" ")
        if status is not None and len(req_line) == 3 and req_line[1].startswith("/") and _complete(buf):
            record_response(Response(req_line[0], req_line[1], status, "", hdrs, body, elapsed))
        return status, hdrs, body, buf, elapsed


def _complete(buf):
    """True when buf holds a whole HTTP response with a Content-Length body."""
    head, sep, body = buf.partition(b"\r\n\r\n")
    if not sep:
        return False
    for line in head.split(b"\r\n")[1:]:
        if line.lower().startswith(b"content-length:"):
            try:
                return len(body) >= int(line.split(b":", 1)[1].strip())
            except ValueError:
                return False
    return False


# ---------------------------------------------------------------------------------------------
# shared resources (one Postgres for the run, stacks per module) and the test registry

_SHARED = {}


class DbStack:
    """A shared resource of a test module: its database and the Stack over it; cleanup() stops
    the stack (the database lives on with the shared Postgres)."""

    def __init__(self, db, stack):
        self.db, self.stack = db, stack

    def cleanup(self):
        self.stack.cleanup()


@contextlib.contextmanager
def scheduler_process(env, prefix):
    """`backend scheduler` with env, its output in a log file in a new temporary directory; yields
    (process, log path). On exit: SIGTERM, then SIGKILL after 10 s, and the directory removed."""
    tmp = tempfile.mkdtemp(prefix=prefix, dir="/tmp")
    log = os.path.join(tmp, "scheduler.log")
    with open(log, "wb") as f:
        p = subprocess.Popen([BACKEND_BIN, "scheduler"], env=env, cwd="/", stdin=subprocess.DEVNULL, stdout=f,
                             stderr=subprocess.STDOUT, start_new_session=True)
    try:
        yield p, log
    finally:
        p.send_signal(signal.SIGTERM)
        try:
            p.wait(timeout=10)
        except subprocess.TimeoutExpired:
            p.kill()
            p.wait(timeout=5)
        shutil.rmtree(tmp, ignore_errors=True)


def shared(key, factory):
    """A resource created once per run by factory() and cleaned up at the end of run_all. A shared
    Stack whose lighttpd has exited is reported and replaced."""
    obj = _SHARED.get(key)
    if obj is not None and isinstance(obj, Stack) and not obj.alive():
        print("NOTE: shared stack %s had exited (code %s); starting a new one. Its stderr:\n    %s" %
              (key, obj.proc.returncode if obj.proc else None, obj.stderr(20).replace("\n", "\n    ")), flush=True)
        drop_shared(key)
        obj = None
    if obj is None:
        obj = _SHARED[key] = factory()
    return obj


def drop_shared(key):
    obj = _SHARED.pop(key, None)
    if obj is not None:
        obj.cleanup()


def shared_postgres():
    """The run's one Postgres (database `backend` exists, not migrated)."""
    return shared("postgres", Postgres)


class _Value:
    def __init__(self, value):
        self.value = value

    def cleanup(self):
        pass


# ---- a webhook receiver (tests of the webhook on a new lead)

class WebhookReceiver:
    """A local HTTP receiver on a port of its own. status(n) decides each answer (n counts requests
    from 1); every request is recorded as (time, path, headers, body, status answered)."""

    def __init__(self, port=None, status=lambda n: 204):
        self.port = port or free_port()
        self.status = status
        self.got = []
        self.lock = threading.Lock()
        rcv = self

        class H(http.server.BaseHTTPRequestHandler):
            def do_POST(self):
                body = self.rfile.read(int(self.headers.get("Content-Length", "0")))
                with rcv.lock:
                    n = len(rcv.got) + 1
                    st = rcv.status(n)
                    rcv.got.append((time.time(), self.path, {k.lower(): v for k, v in self.headers.items()}, body,
                                    st))
                self.send_response(st)
                self.send_header("Content-Length", "2")
                self.end_headers()
                self.wfile.write(b"ok")

            def log_message(self, *a):
                pass

        self.server = http.server.ThreadingHTTPServer(("127.0.0.1", self.port), H)
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)
        self.thread.start()

    def stop(self):
        self.server.shutdown()
        self.server.server_close()

    def requests(self):
        with self.lock:
            return list(self.got)

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.stop()


def webhook_signature_ok(headers, body, key):
    """The Standard Webhooks check, written from the convention: base64 HMAC-SHA256 of
    id.timestamp.body with the secret's decoded bytes, after "v1,"."""
    msg = headers["webhook-id"].encode() + b"." + headers["webhook-timestamp"].encode() + b"." + body
    want = "v1," + base64.b64encode(hmac.new(key, msg, hashlib.sha256).digest()).decode()
    got = headers["webhook-signature"].split(" ")
    return any(hmac.compare_digest(want, g) for g in got)


def bound(name):
    """The integer value of `#define name N` in fcgi-app/src/core/bounds.h (a test that walks a limit
    reads it from where the C code does)."""
    path = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "..", "fcgi-app", "src", "core", "bounds.h")
    with open(path) as f:
        m = re.search(r"^#define %s (\d+)\b" % re.escape(name), f.read(), re.M)
    if not m:
        raise Fail("%s is not an integer #define in core/bounds.h" % name)
    return int(m.group(1))


def migrated_database(db="backend"):
    """URL of database db in the shared Postgres, created (unless it is `backend`) and migrated
    once per run."""
    def make():
        pg = shared_postgres()
        url = pg.url(db) if db == "backend" else pg.create_db(db)
        r = migrate(service_env(url))
        if r.returncode != 0:
            raise Fail("migrate of database %s failed (rc %d): %s %s" % (db, r.returncode, r.stdout, r.stderr))
        return _Value(url)
    return shared("migrated-db:" + db, make).value


_TESTS = []


def test(fn=None, *, name=None, timeout=120):
    """Registers a test function. Use as @test or @test(name=..., timeout=...)."""
    def reg(f):
        mod = f.__module__.rsplit(".", 1)[-1]
        if mod.startswith("test_"):
            mod = mod[5:]
        _TESTS.append((name or "%s.%s" % (mod, f.__name__), f, timeout))
        return f
    return reg(fn) if fn is not None else reg


def _alarm(signum, frame):
    raise TestTimeout("test exceeded its time limit")


def run_all(pattern=None, extra_failed=0):
    """Runs every registered test (those whose name contains pattern, when given), printing
    `PASS name` / `FAIL name: reason` and finally `N passed, N failed` (extra_failed: failures
    already reported by the caller). Returns the exit code (1 when anything failed)."""
    passed, failed = 0, extra_failed
    old = signal.signal(signal.SIGALRM, _alarm)
    t_start = time.monotonic()
    try:
        for name, fn, timeout in _TESTS:
            if pattern and pattern not in name:
                continue
            t0 = time.monotonic()
            signal.alarm(int(timeout))
            try:
                fn()
                signal.alarm(0)
                passed += 1
                print("PASS %s (%.1f s)" % (name, time.monotonic() - t0), flush=True)
            except (Exception, TestTimeout) as e:
                signal.alarm(0)
                failed += 1
                if isinstance(e, Fail):
                    reason = str(e)
                else:
                    tb = traceback.extract_tb(e.__traceback__)
                    where = "%s:%d" % (os.path.basename(tb[-1].filename), tb[-1].lineno) if tb else "?"
                    reason = "%s: %s (at %s)" % (type(e).__name__, e, where)
                    if os.environ.get("IT_VERBOSE"):
                        reason += "\n" + "".join(traceback.format_exception(e))
                print("FAIL %s: %s" % (name, reason.replace("\n", "\n    ")), flush=True)
    finally:
        signal.alarm(0)
        signal.signal(signal.SIGALRM, old)
        for key in list(_SHARED)[::-1]:
            try:
                drop_shared(key)
            except Exception as e:
                sys.stderr.write("harness: cleanup of %s failed: %s\n" % (key, e))
        cleanup_all()
    print("(integration run took %.1f s)" % (time.monotonic() - t_start), flush=True)
    print("%d passed, %d failed" % (passed, failed), flush=True)
    return 1 if failed else 0


# ---------------------------------------------------------------------------------------------
# the bench's Postgres (tests/bench/bench.py)


class BenchPostgres(Postgres):
    """A Postgres for `make bench`: durable commits by default (fsync, synchronous_commit and
    full_page_writes on, as production runs), which the tests' Postgres turns off for speed;
    durable=False gives the tests' fast settings. Started by the harness's own logic, not
    pg-local.sh, so Postgres's default shared_buffers (128MB) and 60 connections apply (pgbench at
    32 clients beside 16 responders and the scheduler). settings: more `name = value` lines for
    postgresql.conf."""

    def __init__(self, durable=True, settings=None):
        self.durable = durable
        self.settings = dict(settings or {})
        super().__init__(use_script=False)

    def _tune(self):
        if not self.durable:
            super()._tune()
        lines = ["fsync = on", "synchronous_commit = on", "full_page_writes = on"] if self.durable else []
        lines += ["%s = %s" % kv for kv in self.settings.items()]
        with open(os.path.join(self.datadir, "postgresql.conf"), "a") as f:
            f.write("\n# bench (%s commits)\n%s\n" % ("durable" if self.durable else "fast", "\n".join(lines)))
