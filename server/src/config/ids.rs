//! Member and cluster identity at bootstrap: `--initial-cluster` parsing, the checks etcd makes
//! before it creates a cluster, and etcd's ID derivation.
//!
//! IDs are derived, not chosen, so every member of a new cluster computes the same IDs from the
//! same flags without talking to the others, and so Concord's IDs equal real etcd's for the same
//! flags (`etcdctl member list` and `X-Etcd-Cluster-Id` show the same values):
//! - member ID: the first 8 bytes (big-endian) of SHA-1 over the member's peer URLs sorted and
//!   concatenated, then the cluster token, then (for members added at runtime) the Unix time in
//!   decimal seconds, so a re-added member never gets a removed member's ID back. etcd 3.4 hashes
//!   runtime additions (`POST /v2/members`) with an EMPTY token, not the cluster's: see
//!   [`added_member_id`];
//! - cluster ID: the first 8 bytes of SHA-1 over the sorted member IDs, 8 big-endian bytes each.

use sha1::{Digest, Sha1};

use super::url::Url;
use super::{ClusterState, ConfigError, ServerConfig, flags::go_quote};

/// One `name=url[,name=url]` group of `--initial-cluster`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct InitialMember {
    pub name: String,
    /// Sorted by text; duplicates are kept so the duplicate-URL check can see them.
    pub peer_urls: Vec<Url>,
}

/// One member of the cluster as the members API shows it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Member {
    pub id: u64,
    pub name: String,
    pub peer_urls: Vec<Url>,
    /// Empty at bootstrap: as in etcd, each member publishes its client URLs once it has joined.
    pub client_urls: Vec<Url>,
}

/// The bootstrap membership of a new cluster.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Membership {
    pub cluster_id: u64,
    /// This member's ID.
    pub local_id: u64,
    /// Sorted by ID, as etcd lists members.
    pub members: Vec<Member>,
}

/// Parses `--initial-cluster` as etcd's `types.NewURLsMap`: comma-separated `name=url` pairs; empty
/// pairs are skipped; a name given several times collects several URLs; each member's URLs are
/// checked with [`Url::parse`] and sorted. Names keep the order of their first appearance.
pub fn parse_initial_cluster(text: &str) -> Result<Vec<InitialMember>, String> {
    let mut groups: Vec<(String, Vec<&str>)> = Vec::new();
    for pair in text.split(',').filter(|pair| !pair.is_empty()) {
        let (name, url) = pair.split_once('=').unwrap_or((pair, ""));
        match groups.iter_mut().find(|(existing, _)| existing == name) {
            Some((_, urls)) => urls.push(url),
            None => groups.push((name.to_string(), vec![url])),
        }
    }
    let mut members = Vec::with_capacity(groups.len());
    for (name, url_texts) in groups {
        let mut peer_urls = url_texts.into_iter().map(Url::parse).collect::<Result<Vec<Url>, String>>()?;
        peer_urls.sort();
        members.push(InitialMember { name, peer_urls });
    }
    Ok(members)
}

/// etcd's member ID for a member created at bootstrap.
pub fn member_id(peer_urls: &[Url], token: &str) -> u64 {
    member_id_with_time(peer_urls, token, None)
}

/// The ID etcd 3.4 gives a member added at runtime through the members API: the peer URLs, no
/// token (etcd passes an empty cluster name there), and the Unix time in seconds when the request
/// was handled (the caller reads the clock; this function does not).
pub fn added_member_id(peer_urls: &[Url], unix_seconds: i64) -> u64 {
    member_id_with_time(peer_urls, "", Some(unix_seconds))
}

/// etcd's member ID from its parts: `unix_seconds` is `Some(now)` for a member added at runtime.
pub fn member_id_with_time(peer_urls: &[Url], token: &str, unix_seconds: Option<i64>) -> u64 {
    let mut texts: Vec<String> = peer_urls.iter().map(Url::to_string).collect();
    texts.sort();
    let mut hasher = Sha1::new();
    for text in &texts {
        hasher.update(text.as_bytes());
    }
    hasher.update(token.as_bytes());
    if let Some(seconds) = unix_seconds {
        hasher.update(seconds.to_string().as_bytes());
    }
    first_eight_bytes(&hasher.finalize())
}

/// etcd's cluster ID for a set of member IDs (order does not matter).
pub fn cluster_id(member_ids: &[u64]) -> u64 {
    let mut sorted = member_ids.to_vec();
    sorted.sort_unstable();
    let mut hasher = Sha1::new();
    for id in sorted {
        hasher.update(id.to_be_bytes());
    }
    first_eight_bytes(&hasher.finalize())
}

fn first_eight_bytes(digest: &[u8]) -> u64 {
    let mut bytes = [0u8; 8];
    bytes.copy_from_slice(&digest[..8]);
    u64::from_be_bytes(bytes)
}

/// An ID as etcd prints it: lowercase hex without leading zeros (`8e9e05c52164694d`, `8a0a11c6194fc77`).
pub fn format_id(id: u64) -> String {
    format!("{id:x}")
}

/// Parses an ID as etcd does (`types.IDFromString`): hex, at most 16 digits, no prefix.
pub fn parse_id(text: &str) -> Result<u64, String> {
    if text.is_empty() || text.len() > 16 || !text.bytes().all(|byte| byte.is_ascii_hexdigit()) {
        return Err(format!("invalid member ID {}", go_quote(text)));
    }
    u64::from_str_radix(text, 16).map_err(|_| format!("invalid member ID {}", go_quote(text)))
}

/// `name=url,...` sorted, etcd's `URLsMap.String`.
fn pairs_text(members: &[&InitialMember]) -> String {
    let mut pairs: Vec<String> = members
        .iter()
        .flat_map(|member| member.peer_urls.iter().map(move |url| format!("{}={url}", member.name)))
        .collect();
    pairs.sort();
    pairs.join(",")
}

/// Go's `%q` of a string slice: `["a" "b"]`.
fn quoted_list(texts: &[String]) -> String {
    let quoted: Vec<String> = texts.iter().map(|text| go_quote(text)).collect();
    format!("[{}]", quoted.join(" "))
}

impl ServerConfig {
    fn local_initial_member(&self) -> Result<&InitialMember, ConfigError> {
        self.initial_cluster.iter().find(|member| member.name == self.name).ok_or_else(|| {
            ConfigError::Invalid(format!(
                "couldn't find local name {} in the initial cluster configuration",
                go_quote(&self.name)
            ))
        })
    }

    fn check_duplicate_urls(&self) -> Result<(), ConfigError> {
        let mut seen: Vec<String> = Vec::new();
        for url in self.initial_cluster.iter().flat_map(|member| member.peer_urls.iter()) {
            let text = url.to_string();
            if seen.contains(&text) {
                let all: Vec<&InitialMember> = self.initial_cluster.iter().collect();
                return Err(ConfigError::Invalid(format!(
                    "initial cluster {} has duplicate url",
                    pairs_text(&all)
                )));
            }
            seen.push(text);
        }
        Ok(())
    }

    /// The checks etcd makes before bootstrapping a new cluster (`VerifyBootstrap`): this member is
    /// in `--initial-cluster`, its entry lists exactly `--initial-advertise-peer-urls`, and no peer
    /// URL appears twice. URLs are compared as text; etcd would also resolve host names.
    pub fn verify_bootstrap(&self) -> Result<(), ConfigError> {
        let local = self.local_initial_member()?;
        let cluster_urls: Vec<String> = local.peer_urls.iter().map(Url::to_string).collect();
        let advertised: Vec<String> = self.initial_advertise_peer_urls.iter().map(Url::to_string).collect();
        if cluster_urls != advertised {
            let detail = if cluster_urls.len() != advertised.len() {
                format!("len({}) != len({})", quoted_list(&advertised), quoted_list(&cluster_urls))
            } else {
                let (ours, theirs) = advertised
                    .iter()
                    .zip(&cluster_urls)
                    .find(|(ours, theirs)| ours != theirs)
                    .map(|(ours, theirs)| (ours.clone(), theirs.clone()))
                    .unwrap_or_default();
                format!("resolved urls: {} != {}", go_quote(&ours), go_quote(&theirs))
            };
            return Err(ConfigError::Invalid(format!(
                "--initial-cluster has {} but missing from --initial-advertise-peer-urls={} ({detail})",
                pairs_text(&[local]),
                advertised.join(","),
            )));
        }
        self.check_duplicate_urls()
    }

    /// The checks etcd makes before joining a running cluster (`VerifyJoinExisting`): this member
    /// is in `--initial-cluster` and no peer URL appears twice.
    pub fn verify_join_existing(&self) -> Result<(), ConfigError> {
        self.local_initial_member()?;
        self.check_duplicate_urls()
    }

    /// The membership this member starts with when its data dir is empty: runs the checks for its
    /// `--initial-cluster-state`, then derives every member's ID and the cluster ID as etcd does.
    /// For `existing`, the cluster ID is provisional: the running cluster's ID wins once contacted.
    pub fn initial_membership(&self) -> Result<Membership, ConfigError> {
        match self.initial_cluster_state {
            ClusterState::New => self.verify_bootstrap()?,
            ClusterState::Existing => self.verify_join_existing()?,
        }
        let mut members: Vec<Member> = Vec::with_capacity(self.initial_cluster.len());
        for initial in &self.initial_cluster {
            let id = member_id(&initial.peer_urls, &self.initial_cluster_token);
            if members.iter().any(|member| member.id == id) {
                return Err(ConfigError::Invalid(format!(
                    "member exists with identical ID {}",
                    format_id(id)
                )));
            }
            members.push(Member {
                id,
                name: initial.name.clone(),
                peer_urls: initial.peer_urls.clone(),
                client_urls: Vec::new(),
            });
        }
        members.sort_by_key(|member| member.id);
        let ids: Vec<u64> = members.iter().map(|member| member.id).collect();
        let local_id =
            members.iter().find(|member| member.name == self.name).map(|member| member.id).ok_or_else(
                || ConfigError::Invalid(format!("couldn't find local name {}", go_quote(&self.name))),
            )?;
        debug_assert!(ids.windows(2).all(|pair| pair[0] < pair[1]), "member IDs are unique and sorted");
        Ok(Membership { cluster_id: cluster_id(&ids), local_id, members })
    }
}

impl Membership {
    /// This member's entry.
    pub fn local(&self) -> Option<&Member> {
        self.members.iter().find(|member| member.id == self.local_id)
    }
}
