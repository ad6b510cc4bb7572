"""Bad configuration: exit non-zero at once with ONE line "FILE:LINE: problem"
(or "FILE: problem"), and nothing mounted."""

import os
import subprocess
import time

import pytest

from conftest import OBJFS_BIN, is_mounted

pytestmark = pytest.mark.nofuse

GOOD = """\
[objfs]
cache_dir = {base}/cache
default_provider = local
bucket_pattern = {{tenant}}-uploads
log_level = debug
chunk_size = 1M
staging_max_bytes = 64M
[provider local]
type = local
root = {base}/objects
[tenant acme]
[tenant globex]
bucket = shared-bucket
prefix = tenants/globex/
"""


def run_objfs(config_path, mnt, timeout=10):
    if not os.path.exists(OBJFS_BIN):
        pytest.fail("objfs binary not found: %s" % OBJFS_BIN)
    env = {k: v for k, v in os.environ.items() if not k.startswith("OBJFS_")}
    try:
        r = subprocess.run([OBJFS_BIN, "-f", "--config", config_path, mnt],
                           stdin=subprocess.DEVNULL, capture_output=True, timeout=timeout, env=env)
    except subprocess.TimeoutExpired:
        subprocess.run(["fusermount3", "-u", "-z", mnt], capture_output=True)
        pytest.fail("objfs did not exit within %ds on a bad configuration" % timeout)
    return r


def check_bad(tmp_path, text, line, must_contain=None, config_path=None):
    """Writes text as the config (unless config_path given), runs objfs and checks
    the one-line error names the file and line (line None: "FILE: problem")."""
    mnt = tmp_path / "mnt"
    mnt.mkdir(exist_ok=True)
    cfg = config_path or str(tmp_path / "bad.conf")
    if config_path is None:
        with open(cfg, "w") as f:
            f.write(text)
    r = run_objfs(cfg, str(mnt))
    was_mounted = is_mounted(str(mnt))
    if was_mounted:
        subprocess.run(["fusermount3", "-u", "-z", str(mnt)], capture_output=True)
    err = r.stderr.decode("utf-8", "replace")
    assert r.returncode != 0, "exit status 0 on a bad configuration; stderr: %r" % err
    assert not was_mounted, "something got mounted on a bad configuration"
    lines = err.splitlines()
    assert len(lines) == 1 and lines[0].strip(), "expected exactly one stderr line, got %r" % err
    msg = lines[0]
    if line is None:
        assert msg.startswith(cfg + ": "), "expected %r, got %r" % (cfg + ": problem", msg)
    else:
        want = line if isinstance(line, (list, tuple)) else [line]
        pre = [p for p in ("%s:%d: " % (cfg, n) for n in want) if msg.startswith(p)]
        assert pre, "expected %r, got %r" % (" or ".join("%s:%d: problem" % (cfg, n) for n in want), msg)
        assert len(msg.strip()) > len(pre[0].strip()), "empty problem text"
    if must_contain:
        assert any(w.lower() in msg.lower() for w in must_contain), \
            "message %r mentions none of %r" % (msg, must_contain)
    for sig in ("AddressSanitizer", "LeakSanitizer", "runtime error:", "UndefinedBehaviorSanitizer"):
        assert sig not in err
    return msg


def good(tmp_path):
    return GOOD.format(base=tmp_path)


def line_of(text, needle):
    for i, l in enumerate(text.splitlines(), 1):
        if l.startswith(needle):
            return i
    raise AssertionError("%r not in config" % needle)


def test_good_config_mounts(tmp_path):
    """Control: the base config of this file is good (so the failures below are
    caused by the one change each makes)."""
    if not os.path.exists("/dev/fuse"):
        pytest.skip("needs /dev/fuse")
    mnt = tmp_path / "mnt"
    mnt.mkdir()
    cfg = tmp_path / "good.conf"
    cfg.write_text(good(tmp_path))
    env = {k: v for k, v in os.environ.items() if not k.startswith("OBJFS_")}
    with open(tmp_path / "stderr", "wb") as errf:
        p = subprocess.Popen([OBJFS_BIN, "-f", "--config", str(cfg), str(mnt)],
                             stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, stderr=errf, env=env)
    try:
        ok = False
        for _ in range(300):
            if p.poll() is not None:
                break
            if is_mounted(str(mnt)):
                ok = True
                break
            time.sleep(0.05)
        assert ok, "good config did not mount: rc=%s %s" % (p.poll(), (tmp_path / "stderr").read_text()[-2000:])
        assert sorted(os.listdir(mnt)) == ["acme", "globex"]
    finally:
        subprocess.run(["fusermount3", "-u", str(mnt)], capture_output=True)
        try:
            rc = p.wait(timeout=30)
        except subprocess.TimeoutExpired:
            p.kill()
            p.wait(5)
            subprocess.run(["fusermount3", "-u", "-z", str(mnt)], capture_output=True)
            rc = None
    assert rc == 0


def test_unknown_key(tmp_path):
    text = good(tmp_path).replace("log_level = debug\n", "log_level = debug\nfrobnicate = 1\n")
    check_bad(tmp_path, text, line_of(text, "frobnicate"), ["frobnicate"])


def test_unknown_key_in_tenant(tmp_path):
    text = good(tmp_path) + "colour = blue\n"
    check_bad(tmp_path, text, line_of(text, "colour"), ["colour"])


def test_unknown_section(tmp_path):
    text = good(tmp_path) + "[bogus]\nx = 1\n"
    check_bad(tmp_path, text, line_of(text, "[bogus]"), ["bogus"])


def test_tenant_missing_provider(tmp_path):
    text = good(tmp_path) + "[tenant initech]\nprovider = nosuch\n"
    check_bad(tmp_path, text, line_of(text, "provider = nosuch"), ["nosuch"])


@pytest.mark.parametrize("name", ["Upper", "ab", "a" * 64, "a..b", "192.168.1.1"])
def test_invalid_tenant_name(tmp_path, name):
    text = good(tmp_path) + "[tenant %s]\nbucket = shared-bucket\nprefix = x/\n" % name
    check_bad(tmp_path, text, line_of(text, "[tenant %s]" % name))


def test_bucket_pattern_without_tenant(tmp_path):
    text = good(tmp_path).replace("bucket_pattern = {tenant}-uploads", "bucket_pattern = uploads")
    check_bad(tmp_path, text, line_of(text, "bucket_pattern"), ["bucket_pattern", "{tenant}"])


def test_cache_dir_cannot_be_created(tmp_path):
    blocker = tmp_path / "afile"
    blocker.write_text("x")
    text = good(tmp_path).replace("cache_dir = %s/cache" % tmp_path,
                                  "cache_dir = %s/sub/cache" % blocker)
    check_bad(tmp_path, text, line_of(text, "cache_dir"))
    assert blocker.read_text() == "x"


def test_credentials_world_readable(tmp_path):
    cred = tmp_path / "s3.cred"
    cred.write_text("access_key_id = AKIAEXAMPLE\nsecret_access_key = s3cr3t\n")
    os.chmod(cred, 0o644)
    text = good(tmp_path) + (
        "[provider main]\ntype = s3\nendpoint = http://127.0.0.1:9\nregion = us-east-1\n"
        "path_style = true\ncredentials = %s\n[tenant initech]\nprovider = main\n" % cred)
    msg = check_bad(tmp_path, text, line_of(text, "credentials ="))
    assert "s3cr3t" not in msg and "AKIAEXAMPLE" not in msg, "secret in the error message"


def test_missing_config_file(tmp_path):
    check_bad(tmp_path, None, None, config_path=str(tmp_path / "does-not-exist.conf"))


def test_bad_chunk_size(tmp_path):
    text = good(tmp_path).replace("chunk_size = 1M", "chunk_size = 3M")
    check_bad(tmp_path, text, line_of(text, "chunk_size"), ["chunk_size"])


def test_staging_smaller_than_two_chunks(tmp_path):
    text = good(tmp_path).replace("staging_max_bytes = 64M", "staging_max_bytes = 1M")
    # A cross-field check: either line is a fair place to point at.
    check_bad(tmp_path, text, [line_of(text, "staging_max_bytes"), line_of(text, "chunk_size")],
              ["staging_max_bytes", "chunk_size"])


def test_duplicate_tenant(tmp_path):
    text = good(tmp_path) + "[tenant acme]\n"
    check_bad(tmp_path, text, len(text.splitlines()), ["acme"])
