#!/usr/bin/env python3
"""test-dockerignore.py - what `fly deploy` sends to the remote builder, and whether it is enough.

The build context of infra/fly/Dockerfile is the repository root (make fly-deploy runs
`fly deploy --config infra/fly/fly.toml` there); flyctl and Docker filter it with the root's
.dockerignore. This file computes that context the way Docker does (see Rules below) and checks:
  - the matcher against the examples of Docker's .dockerignore documentation;
  - in a temp copy of the tree with scratch secrets (.env.production, .env, .local/env, .git/,
    fcgi-app/build*, tests/browser/node_modules, a .env dropped inside an admitted directory), none
    of those paths is in the context and no context file holds their marker values;
  - every path the Dockerfile COPYs from the context (and the Dockerfile itself) is in it, so the
    allow-list cannot silently break the build;
  - the same checks without a .dockerignore find the secrets (the checks can fail).
Prints "N passed, N failed"; exits non-zero on failure.

`test-dockerignore.py --list DIR` prints the context of DIR, one file a line (tests/image uses it).

Rules (moby's patternmatcher, used by the docker CLI, BuildKit and flyctl): each line is trimmed;
`#` in column 1 is a comment; a leading `!` makes an exception (re-include); the pattern is
cleaned like Go's filepath.Clean and a leading `/` dropped. `*` and `?` do not cross `/`, `[...]`
is a class, `\\` escapes, `**/` matches any number of directories (also none), a trailing `**`
anything. A pattern matches a path when it matches the path or one of its parent directories; the
last matching line decides. An excluded directory is not descended into unless an exception
pattern starts with that directory's path (the archiver's shortcut: `!**/x` does not reach
into an excluded directory).
"""

import os
import posixpath
import re
import shutil
import subprocess
import sys
import tempfile

ROOT = os.path.abspath(os.path.join(os.path.dirname(__file__), "..", ".."))
DOCKERFILE = "infra/fly/Dockerfile"


class Pattern:
    def __init__(self, text, exception):
        self.text = text
        self.exception = exception
        self.regex = re.compile(translate(text))


def clean(path):
    """Go's filepath.Clean for a relative, /-separated pattern ("" when it cleans to nothing)."""
    p = posixpath.normpath(path)
    while p.startswith("/"):
        p = p[1:]
    return "" if p in (".", "") else p


def translate(pat):
    """The regular expression moby's patternmatcher compiles a cleaned pattern to."""
    out = "^"
    i = 0
    while i < len(pat):
        ch = pat[i]
        if ch == "*":
            if i + 1 < len(pat) and pat[i + 1] == "*":
                i += 2
                if i < len(pat) and pat[i] == "/":
                    i += 1
                out += ".*" if i == len(pat) else "(.*/)?"
                continue
            out += "[^/]*"
        elif ch == "?":
            out += "[^/]"
        elif ch == "\\":
            if i + 1 < len(pat):
                i += 1
                out += re.escape(pat[i])
            else:
                out += "\\\\"
        elif ch in ".+()|{}$":
            out += "\\" + ch
        else:  # moby passes everything else through, [...] classes included
            out += ch
        i += 1
    return out + "$"


def parse(text):
    """The patterns of a .dockerignore file's text, in order."""
    pats = []
    for line in text.splitlines():
        if line.startswith("#"):
            continue
        line = line.strip()
        if not line:
            continue
        exception = line.startswith("!")
        if exception:
            line = line[1:].strip()
            if not line:
                raise ValueError('illegal exclusion pattern: "!"')
        line = clean(line)
        if line:
            pats.append(Pattern(line, exception))
    return pats


def excluded(path, pats):
    """Whether the /-separated context-relative path is left out: the last line matching it or one
    of its parent directories decides."""
    parts = path.split("/")
    prefixes = ["/".join(parts[: i + 1]) for i in range(len(parts) - 1)]
    result = False
    for p in pats:
        hit = bool(p.regex.match(path)) or any(p.regex.match(d) for d in prefixes)
        if hit:
            result = not p.exception
    return result


def context(root, pats=None):
    """The sorted files (and symlinks) of root that the build context holds."""
    if pats is None:
        ign = os.path.join(root, ".dockerignore")
        pats = parse(open(ign, encoding="utf-8").read()) if os.path.exists(ign) else []
    files = []
    for dirpath, dirnames, filenames in os.walk(root):
        rel_dir = os.path.relpath(dirpath, root)
        rel_dir = "" if rel_dir == "." else rel_dir
        keep = []
        for d in sorted(dirnames):
            rel = posixpath.join(rel_dir, d)
            if not excluded(rel, pats) or any(
                p.exception and (p.text + "/").startswith(rel + "/") for p in pats
            ):
                keep.append(d)
        dirnames[:] = keep
        for f in filenames:
            rel = posixpath.join(rel_dir, f)
            if not excluded(rel, pats):
                files.append(rel)
    return sorted(files)


def copy_sources(dockerfile_text):
    """The context paths the Dockerfile's COPY lines read (not --from=<stage>)."""
    srcs = []
    for line in dockerfile_text.splitlines():
        words = line.split()
        if not words or words[0].upper() != "COPY":
            continue
        args = [w for w in words[1:] if not w.startswith("--")]
        if any(w.startswith("--from=") for w in words[1:]):
            continue
        srcs.extend(clean(a) for a in args[:-1])
    return srcs


# ---- the checks
passed = 0
failed = 0


def check(name, ok, detail=""):
    global passed, failed
    if ok:
        passed += 1
        print("PASS " + name)
    else:
        failed += 1
        print("FAIL " + name + (": " + detail if detail else ""))


def doc_examples():
    """Docker's .dockerignore documentation, each example as (patterns, path, excluded)."""
    cases = [
        ("*/temp*", "somedir/temporary.txt", True),
        ("*/temp*", "somedir/temp", True),
        ("*/temp*", "temp", False),
        ("*/temp*", "a/b/temporary.txt", False),
        ("*/*/temp*", "somedir/subdir/temporary.txt", True),
        ("temp?", "tempa", True),
        ("temp?", "tempab", False),
        ("**/*.go", "main.go", True),
        ("**/*.go", "a/b/c.go", True),
        ("/foo/bar", "foo/bar", True),
        ("foo/bar", "foo/bar/baz", True),
        ("foo/bar", "x/foo/bar", False),
        ("node_modules", "node_modules/a/b.js", True),
        ("*.md\n!README.md", "README.md", False),
        ("*.md\n!README.md", "CHANGES.md", True),
        ("*.md\n!README*.md\nREADME-secret.md", "README-secret.md", True),
        ("*.md\n!README*.md\nREADME-secret.md", "README-x.md", False),
        ("*.md\nREADME-secret.md\n!README*.md", "README-secret.md", False),
        ("# comment\n", "# comment", False),
        ("*\n!src", "src/a/b.c", False),
        ("*\n!src", "srcx", True),
        ("*\n!src\nsrc/**/*.o", "src/a/b.o", True),
        ("a/**", "a/b/c", True),
        ("[Dd]ockerfile", "dockerfile", True),
    ]
    for pats, path, want in cases:
        got = excluded(path, parse(pats))
        check(
            "matcher: %r %s %s" % (pats, "excludes" if want else "keeps", path),
            got == want,
            "got %s" % ("excluded" if got else "kept"),
        )
    # the archiver does not descend into an excluded directory for a pattern it cannot see in
    with tempfile.TemporaryDirectory() as t:
        os.makedirs(os.path.join(t, "sub"))
        for f in ("top.py", "sub/low.py"):
            open(os.path.join(t, f), "w").close()
        got = context(t, parse("*\n!**/*.py"))
        check("context: an excluded directory is not descended into for !**/*.py", got == ["top.py"], str(got))


# made at run time so this file never holds it
MARKER = "dockerignore-marker-" + os.urandom(6).hex()
# path -> contents: secrets and outputs that must never be sent; each holds a marker
SCRATCH = {
    ".env.production": "IP_HASH_PEPPER=%s-env-production\n" % MARKER,
    ".env": "ADMIN_API_KEY=%s-env\n" % MARKER,
    ".local/env": "IP_HASH_PEPPER=%s-local-env\nADMIN_API_KEY=%s-local-admin\n" % (MARKER, MARKER),
    ".local/pg/data/postgresql.auto.conf": "# %s-pg\n" % MARKER,
    ".git/config": "[remote] # %s-git\n" % MARKER,
    "fcgi-app/build/backend": "%s-build\n" % MARKER,
    "fcgi-app/build-san/backend": "%s-build-san\n" % MARKER,
    "fcgi-app/build-fuzz/corpus": "%s-build-fuzz\n" % MARKER,
    "tests/browser/node_modules/pkg/index.js": "// %s-node-modules\n" % MARKER,
    # inside admitted directories: the allow-list admits a directory's contents, so dropped
    # secrets there must be excluded again
    "lighttpd/.env": "ADMIN_API_KEY=%s-lighttpd-env\n" % MARKER,
    "migrations/.env.production": "IP_HASH_PEPPER=%s-migrations-env\n" % MARKER,
}
FORBIDDEN = re.compile(r"(^|/)\.env|^\.local/|^\.git/|^fcgi-app/build|^tests/browser/node_modules/")


def scratch_tree(tmp):
    """A copy of the worktree's files (tracked and untracked, not ignored) plus SCRATCH."""
    listed = subprocess.run(
        ["git", "ls-files", "-z", "--cached", "--others", "--exclude-standard"],
        cwd=ROOT, check=True, capture_output=True,
    ).stdout.decode().split("\0")
    for rel in filter(None, listed):
        src = os.path.join(ROOT, rel)
        if not os.path.lexists(src):
            continue  # deleted in the worktree
        dst = os.path.join(tmp, rel)
        os.makedirs(os.path.dirname(dst), exist_ok=True)
        shutil.copy2(src, dst, follow_symlinks=False)
    for rel, text in SCRATCH.items():
        dst = os.path.join(tmp, rel)
        os.makedirs(os.path.dirname(dst), exist_ok=True)
        with open(dst, "w") as f:
            f.write(text)


def leaks(tmp, files):
    """The context files that are forbidden by name or hold a marker."""
    bad = [f for f in files if FORBIDDEN.search(f)]
    for f in files:
        p = os.path.join(tmp, f)
        if os.path.isfile(p) and not os.path.islink(p):
            with open(p, "rb") as fh:
                if MARKER.encode() in fh.read():
                    bad.append(f + " (marker)")
    return bad


def missing(tmp, files):
    """The files under the Dockerfile's COPY sources (and the Dockerfile) not in the context."""
    have = set(files)
    srcs = copy_sources(open(os.path.join(tmp, DOCKERFILE), encoding="utf-8").read())
    need = [DOCKERFILE]
    for s in srcs:
        p = os.path.join(tmp, s)
        if os.path.isdir(p):
            for dirpath, _, names in os.walk(p):
                for n in names:
                    rel = os.path.relpath(os.path.join(dirpath, n), tmp).replace(os.sep, "/")
                    if not FORBIDDEN.search(rel):  # the scratch secrets are meant to be left out
                        need.append(rel)
        else:
            need.append(s)
    return srcs, [n for n in need if n not in have]


def main():
    if len(sys.argv) == 3 and sys.argv[1] == "--list":
        print("\n".join(context(os.path.abspath(sys.argv[2]))))
        return 0
    doc_examples()
    check(".dockerignore exists at the context root", os.path.exists(os.path.join(ROOT, ".dockerignore")))
    with tempfile.TemporaryDirectory() as tmp:
        scratch_tree(tmp)
        files = context(tmp)
        bad = leaks(tmp, files)
        check("no secret, .git, .local or build output in the context", not bad, ", ".join(bad))
        srcs, gone = missing(tmp, files)
        check("the Dockerfile reads COPY sources from the context", len(srcs) >= 4, str(srcs))
        check("every file the Dockerfile COPYs is in the context", not gone, ", ".join(gone[:20]))
        # the same tree without the allow-list: the checks must find what it keeps out
        unfiltered = context(tmp, [])
        found = leaks(tmp, unfiltered)
        check(
            "without .dockerignore the checks find .local/env and .env.production",
            ".local/env" in found and ".env.production" in found and ".local/env (marker)" in found,
            ", ".join(found),
        )
        print("context: %d files, %d bytes" % (len(files), sum(os.path.getsize(os.path.join(tmp, f)) for f in files)))
    print("%d passed, %d failed" % (passed, failed))
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
