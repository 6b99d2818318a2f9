"""test_cli.py - the command line explains itself: --help for the binary and every command
without any environment, --version with the revision baked in at build, unknown flags and
arguments named with exit 2, and check-config refusing what would only fail later (a missing
DATABASE_SCHEMA, an origin no browser sends, a BIND_ADDRESS that is not an address)."""

import os
import re
import shutil
import subprocess

import harness
from harness import APP_HOME, expect, expect_eq, service_env, test

# every command of cmd/main.c's table; the test below also checks `backend --help` lists no other
COMMANDS = ("serve", "migrate", "rollups", "retention", "scheduler", "check-config", "lighttpd-vars", "log-filter",
            "unsubscribe-url")
NO_ENV = {}  # not even PATH: help and the version must not need one


def db_url():
    return harness.migrated_database("backend")


def listed_commands(text):
    """The command names of `backend --help`: the indented first words after 'commands:'."""
    part = text.split("commands:", 1)[1] if "commands:" in text else ""
    return [m.group(1) for m in re.finditer(r"^  ([a-z][a-z-]*) ", part, re.M)]


@test
def help_without_environment():
    for args in (["--help"], ["-h"], ["help"]):
        r = harness.backend(args, NO_ENV)
        expect_eq(r.returncode, 0, "backend %s exit code (stderr %r)" % (" ".join(args), r.stderr))
        expect(r.stdout.startswith("usage: backend"), "backend %s stdout: %r" % (" ".join(args), r.stdout))
        expect_eq(r.stderr, "", "backend %s stderr" % " ".join(args))
        expect_eq(sorted(listed_commands(r.stdout)), sorted(COMMANDS), "commands listed by backend %s" % args[0])
    # no command at all: the usage, on stderr, as an error
    r = harness.backend([], NO_ENV)
    expect_eq(r.returncode, 2, "backend without a command")
    expect("usage: backend" in r.stderr, "usage on stderr: %r" % r.stderr)


@test
def every_command_has_help():
    for cmd in COMMANDS:
        for flag in ("--help", "-h"):
            r = harness.backend([cmd, flag], NO_ENV)
            what = "backend %s %s" % (cmd, flag)
            expect_eq(r.returncode, 0, "%s exit code (stdout %r, stderr %r)" % (what, r.stdout, r.stderr))
            expect(r.stdout.startswith("usage: backend %s" % cmd), "%s stdout: %r" % (what, r.stdout))
            expect_eq(r.stderr, "", "%s stderr" % what)
    # after a subcommand too, and before anything is done
    r = harness.backend(["rollups", "backfill", "--help"], NO_ENV)
    expect_eq(r.returncode, 0, "rollups backfill --help (stderr %r)" % r.stderr)
    expect("--from" in r.stdout, "rollups help names --from: %r" % r.stdout)


@test
def version_names_the_revision():
    r = harness.backend(["--version"], NO_ENV)
    expect_eq(r.returncode, 0, "backend --version exit code (stderr %r)" % r.stderr)
    m = re.fullmatch(r"backend (\S+) \(revision (\S+)\)\n", r.stdout)
    expect(m is not None, "backend --version output: %r" % r.stdout)
    revision = m.group(2)
    git = shutil.which("git")
    if git and os.path.exists(os.path.join(APP_HOME, ".git")):
        # built from this checkout: the revision is one of its commits (git describe --always --dirty)
        h = re.match(r"(?:.*-g)?([0-9a-f]{7,40})(?:-dirty)?$", revision)
        expect(h is not None, "revision %r is not what git describe prints" % revision)
        ok = subprocess.run([git, "-C", APP_HOME, "cat-file", "-e", h.group(1) + "^{commit}"],
                            capture_output=True).returncode == 0
        expect(ok, "revision %r is not a commit of %s" % (revision, APP_HOME))


@test
def unknown_flags_and_arguments_name_themselves():
    cases = [
        (["--bogus"], "--bogus"),
        (["-x"], "-x"),
        (["nosuch"], "nosuch"),
        (["serve", "--workers=4"], "--workers=4"),
        (["scheduler", "now"], "now"),
        (["check-config", "--verbose"], "--verbose"),
        (["lighttpd-vars", "extra"], "extra"),
        (["log-filter", "access", "extra"], "extra"),
        (["log-filter", "Not_A_Name"], "Not_A_Name"),
    ]
    for args, named in cases:
        # no environment: the command line is judged before the configuration is read
        r = harness.backend(args, NO_ENV)
        what = "backend %s" % " ".join(args)
        expect_eq(r.returncode, 2, "%s exit code (stderr %r)" % (what, r.stderr))
        expect("'%s'" % named in r.stderr, "%s: stderr does not name %s: %r" % (what, named, r.stderr))
        expect("config error" not in r.stderr, "%s read the configuration first: %r" % (what, r.stderr))
        expect_eq(r.stdout, "", "%s stdout" % what)


@test
def check_config_refuses_a_missing_schema():
    url = db_url()
    ok = harness.backend(["check-config"], service_env(url))
    expect_eq(ok.returncode, 0, "check-config with the default schema (stderr %r)" % ok.stderr)
    missing = "no_such_schema_cli"
    r = harness.backend(["check-config"], service_env(url, {"DATABASE_SCHEMA": missing}))
    expect(r.returncode != 0, "check-config accepted a DATABASE_SCHEMA that does not exist: %r" % r.stdout)
    expect("DATABASE_SCHEMA" in r.stderr and missing in r.stderr,
           "the refusal names DATABASE_SCHEMA and the schema: %r" % r.stderr)
    expect("configuration OK" not in r.stdout, "check-config printed OK: %r" % r.stdout)
    # and it did not create it (only migrate does)
    out = harness.shared_postgres().psql("SELECT count(*) FROM pg_namespace WHERE nspname = '%s'" % missing)
    expect_eq(out.strip(), "0", "schema count after check-config")
    # the start-up scripts check before migrate creates it: --offline skips the database
    r = harness.backend(["check-config", "--offline"], service_env(url, {"DATABASE_SCHEMA": missing}))
    expect_eq(r.returncode, 0, "check-config --offline (stderr %r)" % r.stderr)
    expect("DATABASE_SCHEMA=%s" % missing in r.stdout, "check-config --offline prints the schema: %r" % r.stdout)


@test
def check_config_refuses_bad_origins_and_bind_addresses():
    url = db_url()
    for over, name, named in (({"CORS_ALLOWED_ORIGINS": "https://a.example/"}, "CORS_ALLOWED_ORIGINS",
                               "https://a.example/"),
                              ({"CORS_ALLOWED_ORIGINS": "www.example.com"}, "CORS_ALLOWED_ORIGINS", "www.example.com"),
                              ({"CORS_ALLOWED_ORIGINS": "*"}, "CORS_ALLOWED_ORIGINS", "*"),
                              ({"BIND_ADDRESS": "localhost"}, "BIND_ADDRESS", None)):
        for cmd in (["check-config"], ["lighttpd-vars"]):
            r = harness.backend(cmd, service_env(url, over))
            what = "%s with %r" % (cmd[0], over)
            expect(r.returncode != 0, "%s accepted it: %r" % (what, r.stdout))
            expect(name in r.stderr, "%s: the error does not name %s: %r" % (what, name, r.stderr))
            if named:
                expect(named in r.stderr, "%s: the error does not show the entry: %r" % (what, r.stderr))
    r = harness.backend(["check-config"], service_env(url, {"BIND_ADDRESS": "::1"}))
    expect_eq(r.returncode, 0, "check-config with BIND_ADDRESS=::1 (stderr %r)" % r.stderr)
    expect("BIND_ADDRESS=::1\n" in r.stdout, "check-config prints BIND_ADDRESS: %r" % r.stdout)
