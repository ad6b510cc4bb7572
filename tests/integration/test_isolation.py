"""Tenant isolation: nothing done under one tenant reads, lists or writes another
tenant's bucket or prefix.  globex and initech share "shared-bucket" with the
prefixes tenants/globex/ and tenants/initech/; acme has its own bucket."""

import errno
import os
import stat

import pytest

from conftest import errname, errno_of, read_file, write_file

TRICK_NAMES = [
    "...",
    "%2E%2E",
    "%2e%2e%2fglobex",
    "..%2F..%2Fglobex%2Fsecret",
    "..\\globex\\secret",
    "a\\..\\..\\b",
    "%",
    "%25",
    "%00",
    ".obj",
    ".objfs",
    ".hidden",
    " ..",
    ".. ",
    "tenants",
]


def only_changes_under(before, after, bucket, prefix):
    """Asserts every difference between two store snapshots is in bucket/prefix."""
    bad = []
    for k in set(before) | set(after):
        if before.get(k) != after.get(k):
            b, key = k
            if b != bucket or not key.startswith(prefix):
                bad.append((k, before.get(k), after.get(k)))
    assert not bad, "changes outside %s/%s: %r" % (bucket, prefix, bad)


@pytest.fixture
def seeded(objfs_factory):
    """A mount whose three tenants each hold a secret, landed in the store."""
    fs = objfs_factory()
    fs.start()
    for t in ("acme", "globex", "initech"):
        os.mkdir(fs.p(t, "private"))
        write_file(fs.p(t, "secret"), ("secret of %s" % t).encode())
        write_file(fs.p(t, "private", "deep"), ("deep of %s" % t).encode())
    fs.stop()
    for t in ("acme", "globex", "initech"):
        assert fs.stored(t, "secret").read() == ("secret of %s" % t).encode()
    fs.start()
    return fs


def test_shared_bucket_listing_is_per_prefix(seeded):
    fs = seeded
    assert sorted(os.listdir(fs.p("globex"))) == ["private", "secret"]
    assert sorted(os.listdir(fs.p("initech"))) == ["private", "secret"]
    assert read_file(fs.p("initech", "secret")) == b"secret of initech"
    assert read_file(fs.p("globex", "secret")) == b"secret of globex"


def test_prefix_boundary(objfs_factory):
    """Keys that merely start like a tenant's prefix belong to nobody."""
    fs = objfs_factory()
    st = fs.store
    st.put("shared-bucket", "tenants/initech/own", b"own")
    st.put("shared-bucket", "tenants/initechx/leak1", b"leak1")
    st.put("shared-bucket", "tenants/initech", b"leak2")
    st.put("shared-bucket", "tenants/initech-evil/leak3", b"leak3")
    st.put("shared-bucket", "tenants/leak4", b"leak4")
    st.put("shared-bucket", "leak5", b"leak5")
    fs.start()
    assert os.listdir(fs.p("initech")) == ["own"]
    assert os.listdir(fs.p("globex")) == []
    for name in ("leak1", "leak5", "initechx", "initech", "tenants"):
        assert errno_of(os.stat, fs.p("initech", name)) == errno.ENOENT, name


def test_symlinks_do_not_cross(seeded):
    fs = seeded
    before = fs.store.snapshot()
    abs_target = fs.p("globex", "secret")
    os.symlink("../globex/secret", fs.p("acme", "rel-link"))
    os.symlink("../../globex/private/deep", fs.p("acme", "private", "rel-link2"))
    os.symlink(abs_target, fs.p("acme", "abs-link"))
    os.symlink("../initech/secret", fs.p("globex", "to-initech"))
    # a symlink's target is text stored in acme
    assert os.readlink(fs.p("acme", "rel-link")) == "../globex/secret"
    assert os.readlink(fs.p("acme", "abs-link")) == abs_target
    # following them resolves in the kernel, through the other tenant's own
    # directory (legitimate): the content is the other tenant's
    assert read_file(fs.p("acme", "rel-link")) == b"secret of globex"
    assert read_file(fs.p("globex", "to-initech")) == b"secret of initech"
    # the tenant views are unchanged
    assert sorted(os.listdir(fs.p("acme"))) == ["abs-link", "private", "rel-link", "secret"]
    assert sorted(os.listdir(fs.p("acme", "private"))) == ["deep", "rel-link2"]
    # rename of a symlink within acme stays in acme
    os.rename(fs.p("acme", "rel-link"), fs.p("acme", "private", "moved-link"))
    assert os.readlink(fs.p("acme", "private", "moved-link")) == "../globex/secret"
    os.unlink(fs.p("acme", "abs-link"))
    fs.stop()
    after = fs.store.snapshot()
    # globex's only change is its own new symlink; nothing under initech changed
    g_link = ("shared-bucket", "tenants/globex/to-initech")
    assert g_link in after and g_link not in before
    after_wo = {k: v for k, v in after.items() if k != g_link}
    only_changes_under(before, after_wo, "acme-uploads", "")
    link = fs.stored("acme", "private/moved-link")
    assert link is not None and link.read() == b"../globex/secret"
    assert stat.S_ISLNK(int(link.user_meta["mode"]))
    assert fs.stored("acme", "abs-link") is None
    assert fs.stored("acme", "rel-link") is None


def test_rename_across_tenants(seeded):
    fs = seeded
    before = fs.store.snapshot()
    for src, dst in (("acme/secret", "globex/stolen"), ("globex/secret", "initech/secret"),
                     ("initech/private", "globex/private2"), ("initech/secret", "acme/secret")):
        got = errno_of(os.rename, fs.p(*src.split("/")), fs.p(*dst.split("/")))
        assert got == errno.EXDEV, "%s -> %s: %s" % (src, dst, errname(got))
    # symlinked paths: rename through a symlinked directory is the kernel's
    # business and lands in the tenant the real path names -- still EXDEV
    os.symlink("../globex/private", fs.p("acme", "gp"))
    got = errno_of(os.rename, fs.p("acme", "secret"), fs.p("acme", "gp", "stolen"))
    assert got == errno.EXDEV, errname(got)
    os.unlink(fs.p("acme", "gp"))
    fs.stop()
    assert fs.store.snapshot() == before


@pytest.mark.parametrize("tenant", ["acme", "initech"])
def test_tricky_names_are_literal_keys(seeded, tenant):
    fs = seeded
    before = fs.store.snapshot()
    made = []
    for i, name in enumerate(TRICK_NAMES):
        data = ("trick %d" % i).encode()
        write_file(fs.p(tenant, name), data)
        made.append(name)
        assert read_file(fs.p(tenant, name)) == data, name
    os.mkdir(fs.p(tenant, "%2E%2E%2F"))
    write_file(fs.p(tenant, "%2E%2E%2F", "x"), b"in dir")
    listing = sorted(os.listdir(fs.p(tenant)))
    assert listing == sorted(made + ["%2E%2E%2F", "private", "secret"])
    fs.stop()
    after = fs.store.snapshot()
    bucket, pfx = fs.location(tenant)
    only_changes_under(before, after, bucket, pfx)
    for i, name in enumerate(TRICK_NAMES):
        o = fs.store.head(bucket, pfx + name)
        assert o is not None, "key %r not in %s (keys: %r)" % (pfx + name, bucket,
                                                               fs.stored_keys(tenant))
        assert o.read() == ("trick %d" % i).encode()
    assert fs.store.head(bucket, pfx + "%2E%2E%2F/x").read() == b"in dir"
    # the other tenants' secrets are untouched
    for t in ("acme", "globex", "initech"):
        assert fs.stored(t, "secret").read() == ("secret of %s" % t).encode()
    # a cold start shows the same names
    __import__("shutil").rmtree(fs.cache_dir)
    fs.start()
    assert sorted(os.listdir(fs.p(tenant))) == sorted(made + ["%2E%2E%2F", "private", "secret"])
    for i, name in enumerate(TRICK_NAMES):
        assert read_file(fs.p(tenant, name)) == ("trick %d" % i).encode(), name


def test_dotdot_in_paths_stays_in_kernel(seeded):
    fs = seeded
    # ".." is resolved by the kernel; these are just other tenants' own paths
    assert read_file(os.path.join(fs.p("acme"), "..", "globex", "secret")) == b"secret of globex"
    # the mount root's parent is outside the mount
    assert os.path.realpath(os.path.join(fs.p("acme"), "..", "..")) == os.path.dirname(fs.mnt)


def test_root_of_mount(seeded):
    fs = seeded
    assert errno_of(os.stat, fs.p("nosuch")) == errno.ENOENT
    assert errno_of(os.stat, fs.p("acme-uploads")) == errno.ENOENT
    assert errno_of(os.stat, fs.p("shared-bucket")) == errno.ENOENT
    assert errno_of(os.stat, fs.p("tenants")) == errno.ENOENT
    assert errno_of(os.stat, fs.p("ACME")) == errno.ENOENT
    got = errno_of(os.mkdir, fs.p("newtenant"))
    assert got in (errno.EACCES, errno.EPERM), errname(got)
    got = errno_of(os.open, fs.p("rootfile"), os.O_CREAT | os.O_WRONLY, 0o644)
    assert got in (errno.EACCES, errno.EPERM), errname(got)
    got = errno_of(os.symlink, "acme", fs.p("rootlink"))
    assert got in (errno.EACCES, errno.EPERM), errname(got)
    got = errno_of(os.rmdir, fs.p("globex"))
    assert got in (errno.EACCES, errno.EPERM, errno.EBUSY, errno.ENOTEMPTY), errname(got)
    got = errno_of(os.rename, fs.p("acme"), fs.p("acme2"))
    assert got in (errno.EACCES, errno.EPERM, errno.EBUSY, errno.EXDEV), errname(got)
    assert sorted(os.listdir(fs.mnt)) == ["acme", "globex", "initech"]
    assert read_file(fs.p("globex", "secret")) == b"secret of globex"


def test_read_only_tenant(objfs_factory):
    fs = objfs_factory({"tenant initech": {"read_only": "true"}})
    fs.store.put("shared-bucket", "tenants/initech/ro.txt", b"ro")
    fs.start()
    assert read_file(fs.p("initech", "ro.txt")) == b"ro"
    assert errno_of(os.open, fs.p("initech", "ro.txt"), os.O_WRONLY) == errno.EROFS
    assert errno_of(os.open, fs.p("initech", "new"), os.O_CREAT | os.O_WRONLY, 0o644) == errno.EROFS
    assert errno_of(os.mkdir, fs.p("initech", "d")) == errno.EROFS
    assert errno_of(os.unlink, fs.p("initech", "ro.txt")) == errno.EROFS
    assert errno_of(os.chmod, fs.p("initech", "ro.txt"), 0o600) == errno.EROFS
    write_file(fs.p("globex", "rw.txt"), b"rw")           # the other tenant is writable
    fs.stop()
    assert fs.stored_keys("initech") == ["ro.txt"]
    assert fs.stored("globex", "rw.txt").read() == b"rw"
