//! Three real `concord` processes: writes through any member, the leader killed with SIGKILL, restart
//! and catch-up, a whole-cluster restart, and the seed's three YAML config files.

use std::time::{Duration, Instant};

use e2e::{Cluster, get_value, put, self_stats, try_get_value};

const BASE_PORT: u16 = 32_000;

fn term_of(url: &str) -> u64 {
    let response = e2e::request(url, "GET", "/v2/keys/", None).expect("GET /");
    response.header("x-raft-term").and_then(|term| term.parse().ok()).expect("X-Raft-Term")
}

/// Retries a write until it succeeds (the way a client rides through an election).
fn put_retrying(urls: &[String], key: &str, value: &str, budget: Duration) {
    let deadline = Instant::now() + budget;
    loop {
        for url in urls {
            if let Ok(response) = e2e::request_with_timeout(
                url,
                "PUT",
                &format!("/v2/keys{key}"),
                Some(&format!("value={value}")),
                Duration::from_millis(500),
            ) && response.status < 300
            {
                return;
            }
        }
        assert!(Instant::now() < deadline, "write {key} never succeeded");
        std::thread::sleep(Duration::from_millis(50));
    }
}

#[test]
fn three_members_write_through_any_member_survive_leader_kill_and_catch_up() {
    let mut cluster = Cluster::start(3, "127.0.0.1", BASE_PORT);
    let leader = cluster.wait_for_leader(Duration::from_secs(30));
    let urls = cluster.client_urls();

    // Writes through every member, readable on every member.
    for (i, url) in urls.iter().enumerate() {
        let response = put(url, &format!("/via{i}"), &format!("member{i}")).unwrap();
        assert!(response.status < 300, "{}", String::from_utf8_lossy(&response.body));
        assert_eq!(
            get_value(url, &format!("/via{i}"), false),
            Some(format!("member{i}")),
            "read-your-writes"
        );
    }
    let mut acknowledged = Vec::new();
    for i in 0..30 {
        let url = &urls[i % 3];
        if put(url, &format!("/ack{i}"), "yes").is_ok_and(|response| response.status < 300) {
            acknowledged.push(i);
        }
    }
    assert_eq!(acknowledged.len(), 30);

    // SIGKILL the leader: the others elect a new one with a higher term and keep every write.
    let old_term = term_of(&urls[leader]);
    cluster.members[leader].kill9();
    let survivors: Vec<String> =
        urls.iter().enumerate().filter(|(i, _)| *i != leader).map(|(_, u)| u.clone()).collect();
    let killed_at = Instant::now();
    put_retrying(&survivors, "/after-kill", "ok", Duration::from_secs(30));
    eprintln!("writes succeeded again {:?} after the leader was killed", killed_at.elapsed());
    let new_leader = cluster.wait_for_leader(Duration::from_secs(30));
    assert_ne!(new_leader, leader);
    assert!(term_of(&urls[new_leader]) > old_term);
    for i in &acknowledged {
        assert_eq!(
            get_value(&survivors[0], &format!("/ack{i}"), true).as_deref(),
            Some("yes"),
            "ack{i} lost"
        );
    }

    // The killed member restarts and catches up.
    cluster.members[leader].restart();
    let deadline = Instant::now() + Duration::from_secs(30);
    while try_get_value(&urls[leader], "/after-kill", false).ok().flatten().is_none() {
        assert!(Instant::now() < deadline, "restarted member never caught up");
        std::thread::sleep(Duration::from_millis(100));
    }

    // The whole cluster restarts and keeps all data.
    for member in &mut cluster.members {
        member.stop();
    }
    for member in &mut cluster.members {
        member.restart();
    }
    cluster.wait_for_leader(Duration::from_secs(30));
    for url in &urls {
        let deadline = Instant::now() + Duration::from_secs(20);
        while try_get_value(url, "/after-kill", false).ok().flatten().is_none() {
            assert!(Instant::now() < deadline, "data lost after a full restart on {url}");
            std::thread::sleep(Duration::from_millis(100));
        }
        for i in &acknowledged {
            assert_eq!(get_value(url, &format!("/ack{i}"), false).as_deref(), Some("yes"));
        }
    }
}

#[test]
fn graceful_stop_of_the_leader_hands_over_leadership() {
    let mut cluster = Cluster::start(3, "127.0.0.1", BASE_PORT + 100);
    let leader = cluster.wait_for_leader(Duration::from_secs(30));
    let status = cluster.members[leader].stop().expect("leader exited");
    assert!(status.success(), "clean exit on SIGTERM: {status:?}");
    let others: Vec<usize> = (0..3).filter(|i| *i != leader).collect();
    let new_leader = cluster.wait_for_leader(Duration::from_secs(10));
    assert!(others.contains(&new_leader));
    let stats = self_stats(&cluster.members[new_leader].spec.client_url()).unwrap();
    assert_eq!(stats.leader, stats.id);
}
