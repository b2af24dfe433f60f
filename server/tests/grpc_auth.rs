//! The Auth service over the real listener and the fake backend's auth store: users and roles
//! created, granted, listed and removed with etcd's fields and errors; passwords hashed with bcrypt
//! before they reach the backend, and Authenticate checking them (a wrong password is etcd's
//! "authentication failed"). Tokens and permissions are the node's (`node_v3_auth.rs`).

mod grpc_common;

use api::authpb::{Permission, UserAddOptions};
use api::errors;
use api::etcdserverpb::*;
use grpc_common::{assert_etcd_error, start};

fn read_write(key: &str, range_end: &str) -> Permission {
    Permission { perm_type: 2, key: key.as_bytes().to_vec(), range_end: range_end.as_bytes().to_vec() }
}

#[tokio::test]
async fn users_and_roles_are_created_granted_listed_and_removed() {
    let served = start().await;
    let mut auth = served.auth();
    let add = |name: &str| AuthUserAddRequest { name: name.into(), password: "pw".into(), options: None };
    auth.user_add(add("bob")).await.unwrap();
    assert_etcd_error(&auth.user_add(add("bob")).await.unwrap_err(), errors::USER_ALREADY_EXIST);
    auth.role_add(AuthRoleAddRequest { name: "writer".into() }).await.unwrap();
    let duplicate = auth.role_add(AuthRoleAddRequest { name: "writer".into() }).await.unwrap_err();
    assert_etcd_error(&duplicate, errors::ROLE_ALREADY_EXIST);
    for perm in [read_write("b", ""), read_write("a", "\0")] {
        let grant = AuthRoleGrantPermissionRequest { name: "writer".into(), perm: Some(perm) };
        auth.role_grant_permission(grant).await.unwrap();
    }
    let role = auth.role_get(AuthRoleGetRequest { role: "writer".into() }).await.unwrap().into_inner();
    assert_eq!(role.perm, [read_write("a", "\0"), read_write("b", "")], "ordered by key");
    let grant = AuthUserGrantRoleRequest { user: "bob".into(), role: "writer".into() };
    auth.user_grant_role(grant).await.unwrap();
    let bob = auth.user_get(AuthUserGetRequest { name: "bob".into() }).await.unwrap().into_inner();
    assert_eq!(bob.roles, ["writer"]);
    let revoke =
        AuthRoleRevokePermissionRequest { role: "writer".into(), key: b"zz".to_vec(), range_end: vec![] };
    let not_granted = auth.role_revoke_permission(revoke).await.unwrap_err();
    assert_etcd_error(&not_granted, errors::PERMISSION_NOT_GRANTED);
    auth.role_delete(AuthRoleDeleteRequest { role: "writer".into() }).await.unwrap();
    let bob = auth.user_get(AuthUserGetRequest { name: "bob".into() }).await.unwrap().into_inner();
    assert!(bob.roles.is_empty(), "a deleted role leaves its users");
    let revoke = AuthUserRevokeRoleRequest { name: "bob".into(), role: "writer".into() };
    assert_etcd_error(&auth.user_revoke_role(revoke).await.unwrap_err(), errors::ROLE_NOT_GRANTED);
    let users = auth.user_list(AuthUserListRequest {}).await.unwrap().into_inner().users;
    assert_eq!(users, ["bob"]);
    auth.user_delete(AuthUserDeleteRequest { name: "bob".into() }).await.unwrap();
    let gone = auth.user_delete(AuthUserDeleteRequest { name: "bob".into() }).await.unwrap_err();
    assert_etcd_error(&gone, errors::USER_NOT_FOUND);
}

#[tokio::test]
async fn authenticate_checks_the_password_once_auth_is_on() {
    let served = start().await;
    let mut auth = served.auth();
    let root = AuthUserAddRequest { name: "root".into(), password: "secret".into(), options: None };
    auth.user_add(root).await.unwrap();
    let no_password = AuthUserAddRequest {
        name: "service".into(),
        password: String::new(),
        options: Some(UserAddOptions { no_password: true }),
    };
    auth.user_add(no_password).await.unwrap();
    auth.user_grant_role(AuthUserGrantRoleRequest { user: "root".into(), role: "root".into() })
        .await
        .unwrap();
    auth.auth_enable(AuthEnableRequest {}).await.unwrap();
    let credentials =
        |name: &str, password: &str| AuthenticateRequest { name: name.into(), password: password.into() };
    let wrong = auth.authenticate(credentials("root", "guess")).await.unwrap_err();
    assert_etcd_error(&wrong, errors::AUTH_FAILED);
    let unknown = auth.authenticate(credentials("nobody", "secret")).await.unwrap_err();
    assert_etcd_error(&unknown, errors::AUTH_FAILED);
    let passwordless = auth.authenticate(credentials("service", "")).await.unwrap_err();
    assert_etcd_error(&passwordless, errors::AUTH_FAILED);
    let token = auth.authenticate(credentials("root", "secret")).await.unwrap().into_inner().token;
    let (prefix, index) = token.split_once('.').expect("prefix.index");
    assert!(prefix.len() == 16 && prefix.bytes().all(|byte| byte.is_ascii_alphabetic()), "{token}");
    assert!(index.parse::<u64>().is_ok(), "{token}");
}
