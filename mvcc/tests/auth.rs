//! The v3 auth store as etcd 3.4 behaves: the root rules around enabling, management refusals while
//! auth is on, permissions checked by range, and the auth revision moving with every change.

use mvcc::{AuthCommand, AuthError, AuthStore, Permission, PermissionType, ROOT};

fn apply(store: &mut AuthStore, command: AuthCommand) -> Result<(), AuthError> {
    store.apply(&command)
}

fn user_add(name: &str) -> AuthCommand {
    AuthCommand::UserAdd { name: name.to_string(), password_hash: Some(format!("hash-of-{name}")) }
}

fn grant_role(name: &str, role: &str) -> AuthCommand {
    AuthCommand::UserGrantRole { name: name.to_string(), role: role.to_string() }
}

fn enabled_store_with_reader() -> AuthStore {
    let mut store = AuthStore::default();
    apply(&mut store, user_add(ROOT)).unwrap();
    apply(&mut store, grant_role(ROOT, ROOT)).unwrap();
    apply(&mut store, AuthCommand::RoleAdd { name: "reader".to_string() }).unwrap();
    let permission = Permission {
        permission_type: PermissionType::Read,
        key: b"foo".to_vec(),
        range_end: b"fop".to_vec(),
    };
    apply(&mut store, AuthCommand::RoleGrantPermission { name: "reader".to_string(), permission }).unwrap();
    apply(&mut store, user_add("alice")).unwrap();
    apply(&mut store, grant_role("alice", "reader")).unwrap();
    apply(&mut store, AuthCommand::Enable).unwrap();
    store
}

#[test]
fn enabling_needs_a_root_user_holding_the_root_role() {
    let mut store = AuthStore::default();
    assert_eq!(apply(&mut store, AuthCommand::Enable), Err(AuthError::RootUserNotExist));
    apply(&mut store, user_add(ROOT)).unwrap();
    assert_eq!(apply(&mut store, AuthCommand::Enable), Err(AuthError::RootRoleNotExist));
    apply(&mut store, grant_role(ROOT, ROOT)).unwrap();
    apply(&mut store, AuthCommand::Enable).unwrap();
    assert!(store.is_enabled());
}

#[test]
fn the_root_user_and_role_cannot_be_removed_while_auth_is_on() {
    let mut store = enabled_store_with_reader();
    let delete_root = AuthCommand::UserDelete { name: ROOT.to_string() };
    assert_eq!(apply(&mut store, delete_root.clone()), Err(AuthError::InvalidAuthManagement));
    let revoke = AuthCommand::UserRevokeRole { name: ROOT.to_string(), role: ROOT.to_string() };
    assert_eq!(apply(&mut store, revoke), Err(AuthError::InvalidAuthManagement));
    apply(&mut store, AuthCommand::Disable).unwrap();
    apply(&mut store, delete_root).unwrap();
}

#[test]
fn names_are_checked_as_etcd_does() {
    let mut store = AuthStore::default();
    assert_eq!(apply(&mut store, user_add("")), Err(AuthError::UserEmpty));
    apply(&mut store, user_add("bob")).unwrap();
    assert_eq!(apply(&mut store, user_add("bob")), Err(AuthError::UserAlreadyExist));
    assert_eq!(apply(&mut store, grant_role("bob", "nobody")), Err(AuthError::RoleNotFound));
    assert_eq!(apply(&mut store, grant_role("carol", ROOT)), Err(AuthError::UserNotFound));
    let revoke = AuthCommand::UserRevokeRole { name: "bob".to_string(), role: "x".to_string() };
    assert_eq!(apply(&mut store, revoke), Err(AuthError::RoleNotGranted));
    let revoke_permission = AuthCommand::RoleRevokePermission {
        name: "nobody".to_string(),
        key: b"a".to_vec(),
        range_end: vec![],
    };
    assert_eq!(apply(&mut store, revoke_permission), Err(AuthError::RoleNotFound));
    assert_eq!(apply(&mut store, AuthCommand::RoleAdd { name: String::new() }), Err(AuthError::RoleEmpty));
}

#[test]
fn permissions_follow_the_users_roles_and_root_may_do_anything() {
    let store = enabled_store_with_reader();
    assert_eq!(store.check_permitted(Some("alice"), b"foo/1", b"", PermissionType::Read), Ok(()));
    assert_eq!(store.check_permitted(Some("alice"), b"foo", b"fop", PermissionType::Read), Ok(()));
    let denied = Err(AuthError::PermissionDenied);
    assert_eq!(store.check_permitted(Some("alice"), b"foo/1", b"", PermissionType::Write), denied);
    assert_eq!(store.check_permitted(Some("alice"), b"bar", b"", PermissionType::Read), denied);
    assert_eq!(store.check_permitted(Some("alice"), b"\0", b"\0", PermissionType::Read), denied);
    assert_eq!(store.check_permitted(Some(ROOT), b"\0", b"\0", PermissionType::Write), Ok(()));
    assert_eq!(store.check_permitted(None, b"foo", b"", PermissionType::Read), Err(AuthError::UserEmpty));
    assert_eq!(store.check_admin(Some("alice")), denied);
    assert_eq!(store.check_admin(Some(ROOT)), Ok(()));
}

#[test]
fn with_auth_off_everyone_may_do_everything() {
    let store = AuthStore::default();
    assert_eq!(store.check_permitted(None, b"any", b"", PermissionType::Write), Ok(()));
    assert_eq!(store.check_admin(None), Ok(()));
}

#[test]
fn a_deleted_role_leaves_its_users_and_a_regranted_permission_replaces_the_old_one() {
    let mut store = enabled_store_with_reader();
    let permission = Permission {
        permission_type: PermissionType::ReadWrite,
        key: b"foo".to_vec(),
        range_end: b"fop".to_vec(),
    };
    apply(&mut store, AuthCommand::RoleGrantPermission { name: "reader".to_string(), permission }).unwrap();
    assert_eq!(store.role_get("reader").unwrap().len(), 1);
    assert_eq!(store.check_permitted(Some("alice"), b"foo1", b"", PermissionType::Write), Ok(()));
    apply(&mut store, AuthCommand::RoleDelete { name: "reader".to_string() }).unwrap();
    assert_eq!(store.user_get("alice"), Ok(Vec::new()));
    assert_eq!(store.role_list(), Vec::<String>::new());
}

#[test]
fn every_change_moves_the_revision_and_refusals_do_not() {
    let mut store = AuthStore::default();
    let start = store.revision();
    apply(&mut store, user_add("bob")).unwrap();
    assert_eq!(store.revision(), start + 1);
    assert!(apply(&mut store, user_add("bob")).is_err());
    assert_eq!(store.revision(), start + 1);
    apply(&mut store, AuthCommand::Disable).unwrap();
    assert_eq!(store.revision(), start + 1, "disabling auth that is off changes nothing");
}
