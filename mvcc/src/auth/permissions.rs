//! A role's key permissions and etcd 3.4's range rules for them: a permission with an empty
//! `range_end` covers its key alone, `range_end` `"\0"` covers every key from `key` on, anything else
//! the half-open interval `[key, range_end)`. A request for one key needs a permission covering that
//! key; a request for a range needs the union of the user's permissions to cover the whole range.

use serde::{Deserialize, Serialize};

/// etcd's `authpb.Permission_Type` (numbers as etcd's).
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize)]
pub enum PermissionType {
    Read = 0,
    Write = 1,
    ReadWrite = 2,
}

impl PermissionType {
    /// The type from etcd's number (unknown numbers are read-only, the proto's default).
    pub fn from_number(number: i32) -> PermissionType {
        match number {
            1 => PermissionType::Write,
            2 => PermissionType::ReadWrite,
            _ => PermissionType::Read,
        }
    }

    /// Whether a permission of this type allows an access of type `access` (Read or Write).
    pub fn allows(self, access: PermissionType) -> bool {
        self == PermissionType::ReadWrite || self == access
    }
}

/// One key permission of a role (etcd's `authpb.Permission`).
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize)]
pub struct Permission {
    pub permission_type: PermissionType,
    pub key: Vec<u8>,
    pub range_end: Vec<u8>,
}

/// A half-open key interval; `end` `None` is unbounded.
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord)]
struct Interval {
    start: Vec<u8>,
    end: Option<Vec<u8>>,
}

/// The interval of etcd's (key, range_end) pair, for a permission or a request alike.
fn interval(key: &[u8], range_end: &[u8]) -> Interval {
    let end = match range_end {
        [] => Some(point_end(key)),
        [0] => None,
        end => Some(end.to_vec()),
    };
    Interval { start: key.to_vec(), end }
}

/// The first key after `key` (its successor: `key` followed by a zero byte).
fn point_end(key: &[u8]) -> Vec<u8> {
    let mut end = key.to_vec();
    end.push(0);
    end
}

/// Whether `permissions` (already those of the right type) cover the request's key or range.
pub(crate) fn covered<'a>(
    permissions: impl Iterator<Item = &'a Permission>,
    key: &[u8],
    range_end: &[u8],
) -> bool {
    let wanted = interval(key, range_end);
    if wanted.end.as_ref().is_some_and(|end| *end <= wanted.start) {
        // An empty range (etcd's reversed or equal bounds) asks for nothing, but etcd still wants a
        // permission touching its key.
        return covered(permissions, key, &[]);
    }
    let mut intervals: Vec<Interval> = permissions.map(|p| interval(&p.key, &p.range_end)).collect();
    intervals.sort();
    let mut cursor = wanted.start.clone();
    for candidate in &intervals {
        if candidate.start > cursor {
            break;
        }
        match &candidate.end {
            None => return true,
            Some(end) if *end > cursor => cursor = end.clone(),
            Some(_) => {}
        }
        if wanted.end.as_ref().is_some_and(|wanted_end| cursor >= *wanted_end) {
            return true;
        }
    }
    false
}

#[cfg(test)]
mod tests {
    use super::*;

    fn permission(key: &str, range_end: &str) -> Permission {
        Permission {
            permission_type: PermissionType::Read,
            key: key.as_bytes().to_vec(),
            range_end: range_end.as_bytes().to_vec(),
        }
    }

    fn allows(permissions: &[Permission], key: &str, range_end: &str) -> bool {
        covered(permissions.iter(), key.as_bytes(), range_end.as_bytes())
    }

    #[test]
    fn a_single_key_permission_covers_that_key_only() {
        let permissions = [permission("foo", "")];
        assert!(allows(&permissions, "foo", ""));
        assert!(!allows(&permissions, "foo1", ""));
        assert!(!allows(&permissions, "fo", ""));
        assert!(!allows(&permissions, "foo", "fop"), "the prefix range has more keys than foo");
    }

    #[test]
    fn a_prefix_permission_covers_its_keys_and_sub_ranges() {
        let permissions = [permission("foo", "fop")];
        assert!(allows(&permissions, "foo", ""));
        assert!(allows(&permissions, "foo/bar", ""));
        assert!(allows(&permissions, "foo", "fop"));
        assert!(allows(&permissions, "foo/a", "foo/b"));
        assert!(!allows(&permissions, "fop", ""));
        assert!(!allows(&permissions, "foo", "foq"));
        assert!(!allows(&permissions, "foo", "\0"), "from-key reaches past the prefix");
    }

    #[test]
    fn a_from_key_permission_covers_everything_after_its_key() {
        let permissions = [permission("m", "\0")];
        assert!(allows(&permissions, "zzz", ""));
        assert!(allows(&permissions, "m", "\0"));
        assert!(!allows(&permissions, "a", ""));
        assert!(!allows(&permissions, "a", "\0"));
    }

    #[test]
    fn adjacent_permissions_together_cover_a_range_neither_covers_alone() {
        let permissions = [permission("b", "c"), permission("a", "b")];
        assert!(allows(&permissions, "a", "c"));
        assert!(!allows(&permissions, "a", "d"));
        let gap = [permission("a", "b"), permission("c", "d")];
        assert!(!allows(&gap, "a", "d"));
    }

    #[test]
    fn read_write_allows_both_and_the_others_only_themselves() {
        assert!(PermissionType::ReadWrite.allows(PermissionType::Read));
        assert!(PermissionType::ReadWrite.allows(PermissionType::Write));
        assert!(!PermissionType::Read.allows(PermissionType::Write));
        assert!(!PermissionType::Write.allows(PermissionType::Read));
    }
}
