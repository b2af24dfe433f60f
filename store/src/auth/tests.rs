//! Scenarios of the auth state machine, with etcd 3.4.23's answers.

use super::*;

fn user(name: &str) -> Caller {
    Caller::User(name.to_string())
}

fn put_user(name: &str, hash: Option<&str>, grant: &[&str]) -> AuthCommand {
    AuthCommand::PutUser {
        name: name.to_string(),
        password_hash: hash.map(str::to_string),
        roles: Vec::new(),
        grant: grant.iter().map(|role| role.to_string()).collect(),
        revoke: Vec::new(),
    }
}

fn permissions(read: &[&str], write: &[&str]) -> Permissions {
    Permissions {
        read: read.iter().map(|path| path.to_string()).collect(),
        write: write.iter().map(|path| path.to_string()).collect(),
        ..Permissions::default()
    }
}

fn put_role(name: &str, read: &[&str], write: &[&str]) -> AuthCommand {
    AuthCommand::PutRole {
        name: name.to_string(),
        permissions: permissions(read, write),
        grant: None,
        revoke: None,
    }
}

fn apply(auth: &mut Auth, caller: &Caller, command: AuthCommand) -> Result<AuthReply, AuthError> {
    auth.apply(caller, &command).0
}

fn error(status: u16, message: &str) -> Result<AuthReply, AuthError> {
    Err(AuthError { status, message: message.to_string() })
}

#[test]
fn glob_rules_are_etcds() {
    assert!(pattern_matches("/foo", "/foo"));
    assert!(!pattern_matches("/foo", "/foo/a"));
    assert!(pattern_matches("/foo*", "/foobar"));
    assert!(pattern_matches("/foo/*", "/foo/a/b"));
    assert!(!pattern_matches("/foo/*", "/foo"), "children only, not the directory itself");
    assert!(pattern_matches("*", "/anything"));
    assert!(pattern_covers_prefix("/foo/*", "/foo/a"));
    assert!(!pattern_covers_prefix("/foo/*", "/foo"));
    assert!(!pattern_covers_prefix("/foo", "/foo"), "an exact pattern never covers a recursive operation");
}

#[test]
fn enable_needs_a_root_user_and_creates_the_guest_role() {
    let mut auth = Auth::default();
    let (result, touched) = auth.apply(&Caller::Guest, &AuthCommand::Enable);
    assert_eq!(result, error(409, "auth: No root user available, please create one"));
    assert!(touched.is_empty(), "a refusal consumes no store index");
    let (_, touched) = auth.apply(&Caller::Guest, &put_user("root", Some("hash"), &[]));
    assert_eq!(
        touched,
        ["/2", "/2/users", "/2/roles", "/2/enabled", "/2/users/root"],
        "first write makes the dirs"
    );
    let (result, touched) = auth.apply(&Caller::Guest, &AuthCommand::Enable);
    assert_eq!(result, Ok(AuthReply::Done));
    assert_eq!(touched, ["/2/roles/guest", "/2/enabled"]);
    assert_eq!(auth.role(GUEST), Some(Permissions::everything()));
    assert_eq!(apply(&mut auth, &user("root"), AuthCommand::Enable), error(409, "auth: already enabled"));
    assert_eq!(
        apply(&mut auth, &Caller::Guest, AuthCommand::Disable),
        error(401, "Insufficient credentials")
    );
    assert_eq!(apply(&mut auth, &user("root"), AuthCommand::Disable), Ok(AuthReply::Done));
    assert_eq!(apply(&mut auth, &user("root"), AuthCommand::Disable), error(409, "auth: already disabled"));
}

#[test]
fn the_first_user_or_role_change_writes_the_auth_directories_even_when_refused() {
    let mut auth = Auth::default();
    let (result, touched) = auth.apply(&Caller::Guest, &AuthCommand::Disable);
    assert!(result.is_err() && touched.is_empty(), "toggles check first");
    let (result, touched) = auth.apply(&Caller::Guest, &AuthCommand::DeleteUser { name: "nobody".into() });
    assert_eq!(result, error(404, "auth: User nobody does not exist"));
    assert_eq!(touched, AUTH_DIRECTORY_KEYS, "etcd 3.4.23 took indexes 4-7 for this refused delete");
    let (_, touched) = auth.apply(&Caller::Guest, &put_role("r", &[], &[]));
    assert_eq!(touched, ["/2/roles/r"]);
}

#[test]
fn the_root_role_is_built_in_and_read_only() {
    let mut auth = Auth::default();
    assert_eq!(auth.role_names(), ["root"]);
    let refused = error(403, "auth: Cannot modify role root: is root role.");
    assert_eq!(apply(&mut auth, &Caller::Trusted, put_role("root", &["/x"], &[])), refused);
    assert_eq!(apply(&mut auth, &Caller::Trusted, AuthCommand::DeleteRole { name: "root".into() }), refused);
    apply(&mut auth, &Caller::Trusted, put_user("root", Some("h"), &[])).unwrap();
    assert_eq!(auth.user_roles("root").unwrap(), BTreeSet::from(["root".to_string()]));
    apply(&mut auth, &Caller::Trusted, AuthCommand::Enable).unwrap();
    assert_eq!(
        apply(&mut auth, &user("root"), AuthCommand::DeleteUser { name: "root".into() }),
        error(403, "auth: Cannot delete root user while auth is enabled.")
    );
}

#[test]
fn user_and_role_errors_use_etcds_words() {
    let mut auth = Auth::default();
    let root = Caller::Trusted;
    assert_eq!(
        apply(&mut auth, &root, put_user("bob", None, &[])),
        error(400, "auth: Cannot create user bob with an empty password")
    );
    assert_eq!(
        apply(&mut auth, &root, put_user("carol", Some("h"), &["r1"])),
        error(404, "auth: User carol does not exist.")
    );
    assert_eq!(
        apply(&mut auth, &root, put_user("alice", Some("h"), &[])),
        Ok(AuthReply::User { name: "alice".into(), roles: vec![], created: true })
    );
    apply(&mut auth, &root, put_user("alice", None, &["r1"])).unwrap();
    assert_eq!(
        apply(&mut auth, &root, put_user("alice", None, &[])),
        error(400, "auth: User not updated. Use grant/revoke/password to update the user.")
    );
    assert_eq!(
        apply(&mut auth, &root, put_user("alice", None, &["r1"])),
        error(409, "auth: Granting duplicate role r1 for user alice")
    );
    let revoke = AuthCommand::PutUser {
        name: "alice".into(),
        password_hash: None,
        roles: vec![],
        grant: vec![],
        revoke: vec!["r9".into()],
    };
    assert_eq!(
        apply(&mut auth, &root, revoke),
        error(409, "auth: Revoking ungranted role r9 for user alice")
    );
    assert_eq!(
        apply(&mut auth, &root, AuthCommand::DeleteUser { name: "nobody".into() }),
        error(404, "auth: User nobody does not exist")
    );
    apply(&mut auth, &root, put_role("r1", &["/foo/*"], &[])).unwrap();
    assert_eq!(
        apply(&mut auth, &root, put_role("r1", &[], &[])),
        error(409, "auth: Role r1 already exists.")
    );
    let grant = |read: &[&str]| AuthCommand::PutRole {
        name: "r1".into(),
        permissions: Permissions::default(),
        grant: Some(permissions(read, &[])),
        revoke: None,
    };
    assert_eq!(
        apply(&mut auth, &root, grant(&["/bar"])),
        Ok(AuthReply::Role {
            name: "r1".into(),
            permissions: permissions(&["/bar", "/foo/*"], &[]),
            created: false
        })
    );
    assert_eq!(
        apply(&mut auth, &root, grant(&["/bar"])),
        error(409, "auth: Granting duplicate read permission /bar")
    );
    let revoke_missing = AuthCommand::PutRole {
        name: "r1".into(),
        permissions: Permissions::default(),
        grant: None,
        revoke: Some(permissions(&["/nope"], &[])),
    };
    assert_eq!(
        apply(&mut auth, &root, revoke_missing),
        error(400, "auth: Role not updated. Use grant/revoke to update the role.")
    );
    assert_eq!(
        apply(&mut auth, &root, AuthCommand::DeleteRole { name: "nobody".into() }),
        error(404, "auth: Role nobody doesn't exist.")
    );
}

#[test]
fn permissions_follow_roles_guest_and_root() {
    let mut auth = Auth::default();
    let root = Caller::Trusted;
    apply(&mut auth, &root, put_user("root", Some("h"), &[])).unwrap();
    apply(&mut auth, &root, put_role("reader", &["/foo/*"], &["/foo/w"])).unwrap();
    apply(&mut auth, &root, put_user("dave", Some("h"), &[])).unwrap();
    apply(&mut auth, &root, put_user("dave", None, &["reader"])).unwrap();
    assert!(auth.allows(&Caller::Guest, "/secret", true, true), "auth off: everything goes");
    apply(&mut auth, &root, AuthCommand::Enable).unwrap();
    assert!(auth.allows(&Caller::Guest, "/secret", true, false), "the guest role starts read-write on /*");
    apply(&mut auth, &user("root"), AuthCommand::DeleteRole { name: GUEST.into() }).unwrap();
    assert!(!auth.allows(&Caller::Guest, "/secret", false, false));
    let dave = user("dave");
    assert!(auth.allows(&dave, "/foo/a", false, false));
    assert!(!auth.allows(&dave, "/foo", false, false));
    assert!(auth.allows(&dave, "/foo/a", false, true));
    assert!(!auth.allows(&dave, "/foo/a", true, false));
    assert!(auth.allows(&dave, "/foo/w", true, false));
    assert!(!auth.allows(&user("nobody"), "/foo/a", false, false));
    assert!(auth.allows(&user("root"), "/anything", true, true));
    assert_eq!(
        apply(&mut auth, &dave, put_role("mine", &["/*"], &["/*"])),
        error(401, "Insufficient credentials"),
        "only root changes auth state while it is enabled"
    );
}
