//! The pure steps of etcd's v2 discovery protocol: reading the size key, ordering the registrations,
//! deciding whether this member fits, and turning the first `size` registrations into an
//! `--initial-cluster` text. No IO; `mod.rs` drives these with the keys client.

use super::DiscoveryError;
use super::keys_client::KeysNode;
use crate::config::parse_initial_cluster;

/// The key under a token holding the expected cluster size.
pub const SIZE_KEY_SUFFIX: &str = "_config/size";

/// `_config/size`'s value as Go's `strconv.Atoi` reads it; a size below 1 is as bad as text.
pub fn parse_size(value: &str) -> Result<usize, DiscoveryError> {
    let digits = value.strip_prefix('+').unwrap_or(value);
    if digits.is_empty() || !digits.bytes().all(|byte| byte.is_ascii_digit()) {
        return Err(DiscoveryError::BadSizeKey);
    }
    match digits.parse::<usize>() {
        Ok(size) if size >= 1 => Ok(size),
        _ => Err(DiscoveryError::BadSizeKey),
    }
}

/// The last path element, as Go's `path.Base`.
fn base(key: &str) -> &str {
    key.trim_end_matches('/').rsplit('/').next().unwrap_or("")
}

/// The token's registrations (every child but `_config`) in registration order.
pub fn registrations(token_dir: &KeysNode) -> Vec<KeysNode> {
    let mut nodes: Vec<KeysNode> =
        token_dir.nodes.iter().filter(|node| base(&node.key) != "_config").cloned().collect();
    nodes.sort_by_key(|node| node.created_index);
    nodes
}

/// etcd's checkCluster verdict: the registrations so far, or `ClusterFull` when `size` members
/// registered before this one (`self_name` is this member's key's last element, its ID in hex).
pub fn check_fits(nodes: &[KeysNode], size: usize, self_name: &str) -> Result<(), DiscoveryError> {
    debug_assert!(size >= 1, "sizes are checked by parse_size");
    for (position, node) in nodes.iter().enumerate() {
        if base(&node.key) == self_name {
            return Ok(());
        }
        if position + 1 >= size {
            return Err(DiscoveryError::FullCluster);
        }
    }
    Ok(())
}

/// etcd's nodesToCluster: the registrations' values joined into an initial cluster, which must name
/// exactly `size` distinct members.
pub fn nodes_to_cluster(nodes: &[KeysNode], size: usize) -> Result<String, DiscoveryError> {
    let first: Vec<&str> = nodes.iter().take(size).map(|node| node.value.as_deref().unwrap_or("")).collect();
    let text = first.join(",");
    let members = parse_initial_cluster(&text).map_err(|_| DiscoveryError::InvalidUrl)?;
    if members.len() != size {
        return Err(DiscoveryError::DuplicateName(text));
    }
    Ok(text)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn node(key: &str, value: &str, created_index: u64) -> KeysNode {
        KeysNode { key: key.into(), value: Some(value.into()), created_index, ..KeysNode::default() }
    }

    #[test]
    fn sizes_are_read_as_go_reads_integers() {
        assert_eq!(parse_size("3"), Ok(3));
        assert_eq!(parse_size("+5"), Ok(5));
        for bad in ["", "abc", "3 ", "0", "-1", "1.5"] {
            assert_eq!(parse_size(bad), Err(DiscoveryError::BadSizeKey), "{bad:?}");
        }
    }

    #[test]
    fn registrations_skip_the_config_dir_and_follow_creation_order() {
        let dir = KeysNode {
            key: "/d/t".into(),
            dir: true,
            nodes: vec![
                node("/d/t/bb", "b=http://b:2", 9),
                node("/d/t/_config", "", 4),
                node("/d/t/aa", "a=http://a:2", 7),
            ],
            ..KeysNode::default()
        };
        let keys: Vec<String> = registrations(&dir).into_iter().map(|node| node.key).collect();
        assert_eq!(keys, ["/d/t/aa", "/d/t/bb"]);
    }

    #[test]
    fn a_member_after_the_first_size_registrations_finds_the_cluster_full() {
        let nodes = vec![
            node("/t/a", "a=http://a:2", 1),
            node("/t/b", "b=http://b:2", 2),
            node("/t/c", "c=http://c:2", 3),
        ];
        assert_eq!(check_fits(&nodes, 3, "c"), Ok(()));
        assert_eq!(check_fits(&nodes, 3, "d"), Err(DiscoveryError::FullCluster));
        assert_eq!(check_fits(&nodes, 2, "c"), Err(DiscoveryError::FullCluster));
        assert_eq!(check_fits(&nodes[..1], 3, "d"), Ok(()));
    }

    #[test]
    fn the_first_size_registrations_make_the_initial_cluster() {
        let nodes = vec![
            node("/t/a", "a=http://a:2", 1),
            node("/t/b", "b=http://b:2", 2),
            node("/t/c", "c=http://c:2", 3),
        ];
        assert_eq!(nodes_to_cluster(&nodes, 2), Ok("a=http://a:2,b=http://b:2".to_string()));
        let duplicated = vec![node("/t/a", "a=http://a:2", 1), node("/t/b", "a=http://b:2", 2)];
        assert!(matches!(nodes_to_cluster(&duplicated, 2), Err(DiscoveryError::DuplicateName(_))));
    }
}
