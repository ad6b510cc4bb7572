"""Content-type guardrails (docs/guardrails.md, "Content types"):
allowed_types/denied_types with wildcards against the system's MIME
database, EACCES on create and rename, the audit record with the reason, and
sniff_types: a commit whose content is refused is held in staging, reported
by `objfs-ctl status`, survives a restart, and is released by a rewrite."""

import errno
import json
import os
import time

import pytest

from conftest import errname, errno_of, read_file, wait_until, write_file
from test_badconfig import check_bad

# The known-good configuration of test_badconfig, without its [tenant acme].
GOOD = """\
[objfs]
cache_dir = {base}/cache
default_provider = local
bucket_pattern = {{tenant}}-uploads
chunk_size = 1M
staging_max_bytes = 64M
[provider local]
type = local
root = {base}/objects
"""

# A 1x1 PNG: real magic bytes, IHDR, IDAT, IEND.
PNG = bytes.fromhex(
    "89504e470d0a1a0a0000000d4948445200000001000000010806000000"
    "1f15c4890000000d49444154789c6300010000050001"
    "0d0a2db40000000049454e44ae426082")


def audit_records(path):
    if not os.path.exists(path):
        return []
    with open(path) as f:
        return [json.loads(line) for line in f if line.strip()]


def wait_audit(log, timeout=10, **kw):
    def found():
        return [r for r in audit_records(log) if all(r.get(k) == v for k, v in kw.items())]
    return wait_until(found, timeout, what="audit record %r" % (kw,))[0]


def guardrails(o, tenant):
    r = o.ctl("status", "--json", check=True)
    for t in json.loads(r.stdout)["tenants"]:
        if t["name"] == tenant:
            return t.get("guardrails", [])
    raise AssertionError("no tenant %s in status: %s" % (tenant, r.stdout))


def test_create_and_rename_refused(objfs_factory):
    o = objfs_factory({
        "tenant acme": {"allowed_types": "text/*, image/*", "denied_types": "image/x-*, image/gif"},
        "tenant globex": {"denied_types": "application/vnd.ms-*"},
    })
    log = os.path.join(o.base, "audit.log")
    o.set("objfs", "audit_log", log)
    o.start()
    # allowed by a wildcard
    write_file(o.p("acme", "a.txt"), b"text")
    write_file(o.p("acme", "pic.PNG"), b"png-ish")              # extensions are case-insensitive
    # outside allowed_types, undecided (no extension), denied (denied wins over image/*)
    for name in ("data.json", "noext", "x.gif", "raw.cr2"):
        got = errno_of(os.open, o.p("acme", name), os.O_CREAT | os.O_WRONLY, 0o644)
        assert got == errno.EACCES, "%s: %s" % (name, errname(got))
    # rename: the new name must be allowed too; the file stays where it was
    got = errno_of(os.rename, o.p("acme", "a.txt"), o.p("acme", "a.gif"))
    assert got == errno.EACCES, errname(got)
    assert read_file(o.p("acme", "a.txt")) == b"text"
    os.rename(o.p("acme", "a.txt"), o.p("acme", "b.md"))       # text/markdown: allowed
    # mknod of a regular file goes through the same check
    assert errno_of(os.mknod, o.p("acme", "n.gif"), 0o644) == errno.EACCES
    # another tenant, another list
    assert errno_of(os.open, o.p("globex", "s.xls"), os.O_CREAT | os.O_WRONLY,
                    0o644) == errno.EACCES
    write_file(o.p("globex", "x.gif"), b"GIF89a")

    rec = wait_audit(log, op="create", path="x.gif", tenant="acme")
    assert rec["result"] == "EACCES", rec
    assert rec["detail"] == "content type image/gif is denied by denied_types (image/gif)", rec
    rec = wait_audit(log, op="create", path="data.json")
    assert rec["detail"] == "content type application/json is not in allowed_types", rec
    rec = wait_audit(log, op="create", path="noext")
    assert "application/octet-stream is not in allowed_types" in rec["detail"], rec
    rec = wait_audit(log, op="rename", path="a.txt", to="a.gif")
    assert rec["result"] == "EACCES" and "image/gif" in rec["detail"], rec
    assert "rename acme/a.gif refused: content type image/gif" in o.log_text()
    o.stop()
    assert o.stored_keys("acme") == ["b.md", "pic.PNG"]
    assert o.stored("globex", "x.gif").read() == b"GIF89a"


def test_sniffed_commit_held_and_released(objfs_factory):
    o = objfs_factory({"tenant acme": {"denied_types": "image/*", "sniff_types": "true"}})
    log = os.path.join(o.base, "audit.log")
    o.set("objfs", "audit_log", log)
    o.start()
    # a name that is allowed, content that is not
    write_file(o.p("acme", "x.txt"), PNG)
    write_file(o.p("acme", "ok.txt"), b"plain words\n")          # sniffed text/plain: lands
    o.wait_landed("acme", "ok.txt", b"plain words\n")
    reps = wait_until(lambda: guardrails(o, "acme"), 10, what="held commit reported")
    assert len(reps) == 1, reps
    assert reps[0]["kind"] == "held_commit" and reps[0]["path"] == "x.txt", reps
    assert "image/png is denied by denied_types (image/*) (by content)" in reps[0]["reason"]
    human = o.ctl("status", check=True).stdout
    assert "guardrail held_commit x.txt: content type image/png" in human, human
    rec = wait_audit(log, op="commit", path="x.txt")
    assert rec["result"] == "EACCES" and "image/png" in rec["detail"], rec
    # held, not lost: readable, never uploaded, and flush does not wait for it
    assert read_file(o.p("acme", "x.txt")) == PNG
    assert o.ctl("flush", "--timeout", "5").returncode == 0
    assert o.stored("acme", "x.txt") is None
    held_logs = o.log_text().count("commit of acme/x.txt held")
    time.sleep(1.5)                                              # no retry loop
    assert o.log_text().count("commit of acme/x.txt held") == held_logs == 1

    # a restart keeps it (the journal entry stays); stop does not wait for it
    t0 = time.monotonic()
    o.restart()
    assert time.monotonic() - t0 < 30
    assert read_file(o.p("acme", "x.txt")) == PNG
    reps = wait_until(lambda: guardrails(o, "acme"), 10, what="held commit reported again")
    assert reps[0]["path"] == "x.txt", reps
    assert o.stored("acme", "x.txt") is None

    # rewriting it with text releases it
    write_file(o.p("acme", "x.txt"), b"now it is text\n")
    o.wait_landed("acme", "x.txt", b"now it is text\n")
    wait_until(lambda: not guardrails(o, "acme"), 10, what="report cleared")
    o.stop()


def test_held_commit_released_by_delete_and_reload(objfs_factory):
    o = objfs_factory({"tenant acme": {"denied_types": "image/png", "sniff_types": "true"}})
    o.start()
    write_file(o.p("acme", "a.txt"), PNG)
    write_file(o.p("acme", "b.txt"), PNG)
    wait_until(lambda: len(guardrails(o, "acme")) == 2, 10, what="two held commits")
    # delete: the data goes, and so does the report
    os.unlink(o.p("acme", "a.txt"))
    wait_until(lambda: [r["path"] for r in guardrails(o, "acme")] == ["b.txt"], 10,
               what="a.txt report cleared")
    # a reload that no longer denies the type lets it land
    o.set("tenant acme", "denied_types", "image/gif")
    o.write_config()
    assert o.ctl("reload").returncode == 0
    o.wait_landed("acme", "b.txt", PNG)
    wait_until(lambda: not guardrails(o, "acme"), 10, what="report cleared")
    o.stop()
    assert o.stored_keys("acme") == ["b.txt"]


@pytest.mark.nofuse
def test_bad_type_patterns_refused(tmp_path):
    """A bad pattern stops the daemon at start with one line naming it."""
    for value, bad in (("image/p?g", "image/p?g"), ("text/plain, image", "image"),
                       ("a/b/c", "a/b/c"), ("image/[pj]ng", "image/[pj]ng")):
        text = GOOD.format(base=tmp_path) + "[tenant acme]\ndenied_types = %s\n" % value
        line = text.count("\n")
        check_bad(tmp_path, text, line, ['"%s" is not a MIME type pattern' % bad])


def test_sync_upload_fsync_reports_hold(objfs_factory):
    """With sync_upload, fsync waits for the upload: a held commit makes it
    fail with EACCES (close itself cannot know yet); the data stays."""
    o = objfs_factory({"objfs": {"sync_upload": "true"},
                       "tenant acme": {"denied_types": "image/*", "sniff_types": "true"}})
    o.start()
    fd = os.open(o.p("acme", "s.txt"), os.O_CREAT | os.O_WRONLY, 0o644)
    try:
        os.write(fd, PNG)
        got = errno_of(os.fsync, fd)
    finally:
        os.close(fd)
    assert got == errno.EACCES, errname(got)
    assert read_file(o.p("acme", "s.txt")) == PNG
    assert [r["path"] for r in guardrails(o, "acme")] == ["s.txt"]
    o.stop()
    assert o.stored("acme", "s.txt") is None
