//! Unit tests of `kcache`.

#![allow(clippy::unnecessary_cast)]

use super::*;

fn st(mode: u32, uid: u32, nlink: u64) -> FileStat {
    // SAFETY: FileStat (libc::stat) is plain old data; all-zero bytes
    // are a valid value.
    let mut s: FileStat = unsafe { std::mem::zeroed() };
    s.st_mode = mode;
    s.st_uid = uid;
    s.st_nlink = nlink;
    s
}

fn dir(mode: u32, uid: u32) -> DirFacts {
    DirFacts {
        st: st(libc::S_IFDIR | mode, uid, 2),
        acl_writes: false,
    }
}

fn facts<'a>(file: &'a FileStat, dirs: &'a [DirFacts]) -> Facts<'a> {
    Facts {
        file,
        dirs,
        file_acl_writes: false,
        fs_magic: libc::EXT4_SUPER_MAGIC as i64,
    }
}

#[test]
fn root_owned_read_only_file_in_root_directories_is_eligible() {
    let f = st(libc::S_IFREG | 0o644, 0, 1);
    let safe = [dir(0o755, 0), dir(0o755, 0)];
    assert_eq!(eligibility(&facts(&f, &safe), &[0]), Ok(()));
    let sticky = [dir(0o1777, 0), dir(0o755, 0)];
    assert_eq!(eligibility(&facts(&f, &sticky), &[0]), Ok(()));
}

#[test]
fn anything_another_user_could_change_or_move_is_not() {
    let safe = [dir(0o755, 0), dir(0o755, 0)];
    let cases = [
        (st(libc::S_IFREG | 0o664, 0, 1), Ineligible::Writable),
        (st(libc::S_IFREG | 0o646, 0, 1), Ineligible::Writable),
        (st(libc::S_IFREG | 0o644, 1000, 1), Ineligible::Owner),
        (st(libc::S_IFREG | 0o644, 0, 2), Ineligible::Links),
        (st(libc::S_IFIFO | 0o644, 0, 1), Ineligible::NotRegular),
    ];
    for (f, why) in cases {
        assert_eq!(eligibility(&facts(&f, &safe), &[0]), Err(why));
    }
    let f = st(libc::S_IFREG | 0o644, 0, 1);
    let check = |dirs: &[DirFacts], owners: &[u32]| eligibility(&facts(&f, dirs), owners);
    assert_eq!(
        check(&[dir(0o775, 0), dir(0o755, 0)], &[0]),
        Err(Ineligible::DirWritable)
    );
    assert_eq!(
        check(&[dir(0o755, 0), dir(0o777, 0)], &[0]),
        Err(Ineligible::AncestorWritable),
        "a writable directory above could be moved to another tree"
    );
    assert_eq!(
        check(&[dir(0o755, 0), dir(0o1777, 0)], &[0]),
        Err(Ineligible::AncestorWritable),
        "sticky protects entries, not the directory itself"
    );
    assert_eq!(
        check(&[dir(0o755, 1000), dir(0o755, 0)], &[0]),
        Err(Ineligible::DirOwner)
    );
    assert_eq!(
        check(&[dir(0o755, 0), dir(0o755, 1000)], &[0]),
        Err(Ineligible::DirOwner)
    );
    assert_eq!(
        check(&[dir(0o755, 1000), dir(0o755, 0)], &[0, 1000]),
        Ok(())
    );
    assert_eq!(check(&[], &[0]), Err(Ineligible::Unknown));
    let mut acl = facts(&f, &safe);
    acl.file_acl_writes = true;
    assert_eq!(eligibility(&acl, &[0]), Err(Ineligible::Acl));
    let mut acl_dir = [dir(0o755, 0), dir(0o755, 0)];
    acl_dir[1].acl_writes = true;
    assert_eq!(check(&acl_dir, &[0]), Err(Ineligible::DirAcl));
    let mut nfs = facts(&f, &safe);
    nfs.fs_magic = libc::NFS_SUPER_MAGIC as i64;
    assert_eq!(eligibility(&nfs, &[0]), Err(Ineligible::Filesystem));
    assert_eq!(eligibility(&facts(&f, &safe), &[]), Err(Ineligible::Owner));
}

fn acl(entries: &[(u16, u16, u32)]) -> Vec<u8> {
    let mut v = 2u32.to_le_bytes().to_vec();
    for (tag, perm, id) in entries {
        v.extend_from_slice(&tag.to_le_bytes());
        v.extend_from_slice(&perm.to_le_bytes());
        v.extend_from_slice(&id.to_le_bytes());
    }
    v
}

#[test]
fn acl_entries_granting_write_are_found() {
    let minimal = acl(&[
        (0x01, 6, u32::MAX),
        (0x04, 4, u32::MAX),
        (0x20, 4, u32::MAX),
    ]);
    assert!(!acl_grants_write(&minimal));
    let named = acl(&[
        (0x01, 6, u32::MAX),
        (0x02, 6, 1000),
        (0x04, 4, u32::MAX),
        (0x10, 4, u32::MAX),
        (0x20, 4, u32::MAX),
    ]);
    assert!(acl_grants_write(&named), "named user with write");
    let group = acl(&[(0x01, 6, u32::MAX), (0x08, 2, 50), (0x20, 4, u32::MAX)]);
    assert!(acl_grants_write(&group), "named group with write");
    assert!(acl_grants_write(&[]), "unparseable");
    assert!(acl_grants_write(&[2, 0, 0, 0, 1]), "ragged");
    assert!(acl_grants_write(&acl(&[])[..3]), "short header");
    let mut v3 = minimal.clone();
    v3[0] = 3;
    assert!(acl_grants_write(&v3), "unknown version");
}
