//! What the v3 `user` and `role` commands show, in each of etcdctl's formats: the simple lines of its
//! `simplePrinter`, the JSON of the response message, the `fields` lines (header, role permissions,
//! role list; etcdctl has none for `user get` and `user list`) and the protobuf encoding. `table` has
//! none of them.

use api::authpb::Permission;
use api::authpb::permission::Type as PermissionType;
use api::etcdserverpb::ResponseHeader;

use super::go_text::go_quote;

/// An auth command's answer and what it was about.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum AuthAnswer {
    UserAdd { user: String },
    UserDelete { user: String },
    UserGet { user: String, roles: Vec<String> },
    UserList { users: Vec<String> },
    UserPassword,
    UserGrantRole { user: String, role: String },
    UserRevokeRole { user: String, role: String },
    RoleAdd { role: String },
    RoleDelete { role: String },
    RoleGet { role: String, permissions: Vec<Permission> },
    RoleList { roles: Vec<String> },
    RoleGrant { role: String },
    RoleRevoke { role: String, key: String, range_end: String },
}

/// The answer with the response's header and encoding.
#[derive(Debug, Clone)]
pub struct AuthShown {
    pub answer: AuthAnswer,
    pub header: Option<ResponseHeader>,
    /// The response message's protobuf encoding (`-w protobuf`).
    pub encoded: Vec<u8>,
}

/// etcd's `GetPrefixRangeEnd`: the key after every key starting with `prefix` (`\0` when none is).
pub fn prefix_range_end(prefix: &[u8]) -> Vec<u8> {
    let mut end = prefix.to_vec();
    while let Some(last) = end.pop() {
        if last < 0xff {
            end.push(last + 1);
            return end;
        }
    }
    vec![0]
}

fn permission_type(permission: &Permission) -> PermissionType {
    PermissionType::try_from(permission.perm_type).unwrap_or(PermissionType::Read)
}

/// One permission line of `role get`: a key, or a range with its prefix when it is one.
fn permission_line(permission: &Permission) -> String {
    let key = String::from_utf8_lossy(&permission.key);
    if permission.range_end.is_empty() {
        return format!("\t{key}\n");
    }
    let end = String::from_utf8_lossy(&permission.range_end);
    let mut line = if permission.range_end == b"\0" {
        format!("\t[{key}, <open ended>")
    } else {
        format!("\t[{key}, {end})")
    };
    if prefix_range_end(&permission.key) == permission.range_end {
        line.push_str(&format!(" (prefix {key})"));
    }
    line.push('\n');
    line
}

/// etcdctl's simple format.
pub fn simple(shown: &AuthShown) -> String {
    match &shown.answer {
        AuthAnswer::UserAdd { user } => format!("User {user} created\n"),
        AuthAnswer::UserDelete { user } => format!("User {user} deleted\n"),
        AuthAnswer::UserGet { user, roles } => {
            format!(
                "User: {user}\nRoles:{}\n",
                roles.iter().map(|role| format!(" {role}")).collect::<String>()
            )
        }
        AuthAnswer::UserList { users } => users.iter().map(|user| format!("{user}\n")).collect(),
        AuthAnswer::UserPassword => "Password updated\n".to_string(),
        AuthAnswer::UserGrantRole { user, role } => format!("Role {role} is granted to user {user}\n"),
        AuthAnswer::UserRevokeRole { user, role } => format!("Role {role} is revoked from user {user}\n"),
        AuthAnswer::RoleAdd { role } => format!("Role {role} created\n"),
        AuthAnswer::RoleDelete { role } => format!("Role {role} deleted\n"),
        AuthAnswer::RoleGet { role, permissions } => role_lines(role, permissions),
        AuthAnswer::RoleList { roles } => roles.iter().map(|role| format!("{role}\n")).collect(),
        AuthAnswer::RoleGrant { role } => format!("Role {role} updated\n"),
        AuthAnswer::RoleRevoke { role, key, range_end } => {
            if range_end.is_empty() {
                format!("Permission of key {key} is revoked from role {role}\n")
            } else if range_end == "\0" {
                format!("Permission of range [{key}, <open ended> is revoked from role {role}\n")
            } else {
                format!("Permission of range [{key}, {range_end}) is revoked from role {role}\n")
            }
        }
    }
}

/// `role get` (also `user get --detail`, once per role).
pub fn role_lines(role: &str, permissions: &[Permission]) -> String {
    let mut text = format!("Role {role}\nKV Read:\n");
    for permission in permissions {
        if matches!(permission_type(permission), PermissionType::Read | PermissionType::Readwrite) {
            text.push_str(&permission_line(permission));
        }
    }
    text.push_str("KV Write:\n");
    for permission in permissions {
        if matches!(permission_type(permission), PermissionType::Write | PermissionType::Readwrite) {
            text.push_str(&permission_line(permission));
        }
    }
    text
}

/// The JSON of the response message (`header`, then `users`, `roles` or `perm`; empty lists left out).
pub fn json(shown: &AuthShown, header: impl Fn(&ResponseHeader) -> String) -> String {
    use super::json::Object;
    let strings = |items: &[String]| -> Vec<String> {
        items
            .iter()
            .map(|item| {
                let mut encoded = String::new();
                crate::keys::push_go_json_string(&mut encoded, item);
                encoded
            })
            .collect()
    };
    let object = Object::new().optional("header", shown.header.as_ref().map(header));
    let object = match &shown.answer {
        AuthAnswer::UserGet { roles, .. } => object.list("roles", strings(roles)),
        AuthAnswer::UserList { users } => object.list("users", strings(users)),
        AuthAnswer::RoleList { roles } => object.list("roles", strings(roles)),
        AuthAnswer::RoleGet { permissions, .. } => object.list(
            "perm",
            permissions
                .iter()
                .map(|permission| {
                    Object::new()
                        .number("permType", permission.perm_type)
                        .bytes("key", &permission.key)
                        .bytes("range_end", &permission.range_end)
                        .finish()
                })
                .collect(),
        ),
        _ => object,
    };
    object.finish()
}

/// The `fields` lines after the header's, or `None` where etcdctl has no fields printer.
pub fn fields_after_header(shown: &AuthShown) -> Option<String> {
    match &shown.answer {
        AuthAnswer::UserGet { .. } | AuthAnswer::UserList { .. } => None,
        AuthAnswer::RoleGet { permissions, .. } => Some(
            permissions
                .iter()
                .map(|permission| {
                    format!(
                        "\"PermType\" :  {}\n\"Key\" : {}\n\"RangeEnd\" : {}\n",
                        permission_type(permission).as_str_name(),
                        go_quote(&permission.key),
                        go_quote(&permission.range_end)
                    )
                })
                .collect(),
        ),
        AuthAnswer::RoleList { roles } => Some(format!(
            "\"Roles\" :{}\n",
            roles.iter().map(|role| format!(" {}", go_quote(role.as_bytes()))).collect::<String>()
        )),
        _ => Some(String::new()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn permission(kind: PermissionType, key: &[u8], range_end: &[u8]) -> Permission {
        Permission { perm_type: kind as i32, key: key.to_vec(), range_end: range_end.to_vec() }
    }

    #[test]
    fn role_permissions_read_like_etcdctl() {
        let permissions = [
            permission(PermissionType::Write, b"\0", b"\0"),
            permission(PermissionType::Read, b"/pub/", b"/pub0"),
            permission(PermissionType::Readwrite, b"a", b"b"),
            permission(PermissionType::Write, b"k", b""),
        ];
        assert_eq!(
            role_lines("reader", &permissions),
            "Role reader\nKV Read:\n\t[/pub/, /pub0) (prefix /pub/)\n\t[a, b) (prefix a)\nKV Write:\n\t[\0, <open ended>\n\t[a, b) (prefix a)\n\tk\n"
        );
    }

    #[test]
    fn prefix_ends_skip_trailing_ff_bytes() {
        assert_eq!(prefix_range_end(b"a"), b"b");
        assert_eq!(prefix_range_end(b"a\xff"), b"b");
        assert_eq!(prefix_range_end(b"\xff"), b"\0");
    }
}
