//! etcd 3.4's simple tokens (`--auth-token simple`) as one member keeps them: each token names a user
//! and expires `TOKEN_TTL_NANOSECONDS` after its last use by this member's clock (the time the shell
//! gives the node). Tokens are assigned when an Authenticate entry is applied, so every member knows
//! each token; their expiry is local, as etcd's is. The table is bounded: beyond `MAX_TOKENS` the token
//! closest to expiry is forgotten.

use std::collections::BTreeMap;

/// etcd's simple token TTL: five minutes, refreshed on every use.
pub(super) const TOKEN_TTL_NANOSECONDS: i64 = 5 * 60 * 1_000_000_000;
/// Tokens a member remembers at most.
pub(super) const MAX_TOKENS: usize = 64 * 1024;

/// A token's user and the time it expires, in Unix nanoseconds.
#[derive(Clone, Debug, PartialEq, Eq)]
struct TokenEntry {
    user: String,
    expires_at: i64,
}

/// The tokens this member knows.
#[derive(Clone, Debug, Default)]
pub(crate) struct TokenTable {
    tokens: BTreeMap<String, TokenEntry>,
}

impl TokenTable {
    /// Records a token for `user`, valid for the TTL from `now`.
    pub(super) fn assign(&mut self, token: String, user: &str, now: i64) {
        if self.tokens.len() >= MAX_TOKENS && !self.tokens.contains_key(&token) {
            self.forget_soonest_expiring();
        }
        let entry = TokenEntry { user: user.to_string(), expires_at: now + TOKEN_TTL_NANOSECONDS };
        self.tokens.insert(token, entry);
        assert!(self.tokens.len() <= MAX_TOKENS, "tokens beyond their bound");
    }

    /// The user of a valid token, whose TTL starts again; `None` for an unknown or expired token
    /// (which is forgotten).
    pub(super) fn resolve(&mut self, token: &str, now: i64) -> Option<String> {
        let entry = self.tokens.get_mut(token)?;
        if entry.expires_at <= now {
            self.tokens.remove(token);
            return None;
        }
        entry.expires_at = now + TOKEN_TTL_NANOSECONDS;
        Some(entry.user.clone())
    }

    /// Forgets every token of `user` (deleted, or its password changed).
    pub(super) fn invalidate_user(&mut self, user: &str) {
        self.tokens.retain(|_, entry| entry.user != user);
    }

    /// Forgets every token (auth was disabled).
    pub(super) fn clear(&mut self) {
        self.tokens.clear();
    }

    fn forget_soonest_expiring(&mut self) {
        let soonest =
            self.tokens.iter().min_by_key(|(_, entry)| entry.expires_at).map(|(token, _)| token.clone());
        if let Some(token) = soonest {
            self.tokens.remove(&token);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_token_lives_five_minutes_after_its_last_use() {
        let mut table = TokenTable::default();
        table.assign("abc.5".to_string(), "alice", 0);
        let almost = TOKEN_TTL_NANOSECONDS - 1;
        assert_eq!(table.resolve("abc.5", almost), Some("alice".to_string()));
        assert_eq!(table.resolve("abc.5", almost + TOKEN_TTL_NANOSECONDS - 1), Some("alice".to_string()));
        assert_eq!(table.resolve("abc.5", almost * 4), None);
        assert_eq!(table.resolve("abc.5", 0), None, "an expired token is forgotten");
    }

    #[test]
    fn a_users_tokens_go_when_it_is_invalidated() {
        let mut table = TokenTable::default();
        table.assign("a.1".to_string(), "alice", 0);
        table.assign("b.2".to_string(), "bob", 0);
        table.invalidate_user("alice");
        assert_eq!((table.resolve("a.1", 1), table.resolve("b.2", 1)), (None, Some("bob".to_string())));
        table.clear();
        assert_eq!(table.resolve("b.2", 1), None);
    }
}
