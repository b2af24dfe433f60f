//! Entry points for the fuzz targets in `fuzz/` (not an API): the request-body parsers of
//! `/v2/members` and `/v2/auth`, which the service keeps private, reachable without a backend.

use store::auth::AuthCommand;

use super::render::Reply;

/// The peer URLs of a POST/PUT `/v2/members[/<id>]` body, checked and sorted, or the service's
/// error reply.
pub fn parse_member_body(content_type: &str, body: &[u8]) -> Result<Vec<String>, Reply> {
    super::service::parse_member_body(content_type, body)
}

/// A member id from a `/v2/members/<id>` path.
pub fn parse_member_id(text: &str) -> Option<u64> {
    super::service::parse_member_id(text)
}

/// A PUT or DELETE on `/v2/auth/users/<name>` or `/v2/auth/roles/<name>` (`rest` is the path
/// after `/v2/auth`) as the command the service proposes, with the password it would hash.
pub fn parse_auth_write(
    rest: &str,
    method: &str,
    body: &[u8],
) -> Result<(AuthCommand, Option<String>), Reply> {
    super::auth::parse_write_body(rest, method, body)
}
