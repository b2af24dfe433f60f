//! The chaos cluster: real `concord` members whose advertised peer URLs are fault-injecting proxies
//! (one in front of each member's peer port), plus the signals the nemesis sends them.

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::{Duration, Instant};

use super::proxy::{LinkFaults, Proxy};
use crate::{MemberSpec, Process, TempDir, free_port};

pub struct ChaosCluster {
    pub members: Vec<Process>,
    pub faults: Arc<LinkFaults>,
    /// Members currently stopped with SIGSTOP.
    pub paused: Vec<bool>,
    proxies: Vec<Proxy>,
    pub dir: TempDir,
}

impl ChaosCluster {
    /// Starts `size` members on 127.0.0.1 with ports from `base`, each behind its peer proxy.
    pub fn start(size: usize, base: u16) -> ChaosCluster {
        let ip = "127.0.0.1";
        let dir = TempDir::new("chaos");
        let specs: Vec<MemberSpec> = (1..=size)
            .map(|number| MemberSpec {
                name: format!("m{number}"),
                ip: ip.to_string(),
                client_port: free_port(ip, base),
                peer_port: free_port(ip, base),
            })
            .collect();
        let proxy_ports: Vec<u16> = specs.iter().map(|_| free_port(ip, base)).collect();
        let proxy_url = |member: usize| format!("http://{ip}:{}", proxy_ports[member]);
        let initial_cluster: Vec<String> = specs
            .iter()
            .enumerate()
            .map(|(member, spec)| format!("{}={}", spec.name, proxy_url(member)))
            .collect();
        let faults = Arc::new(LinkFaults::new(size));
        let proxies = specs
            .iter()
            .enumerate()
            .map(|(member, spec)| {
                let listen: SocketAddr = format!("{ip}:{}", proxy_ports[member]).parse().expect("address");
                let target: SocketAddr = format!("{ip}:{}", spec.peer_port).parse().expect("address");
                Proxy::start(listen, target, member, faults.clone())
            })
            .collect();
        let token = format!("chaos-{}-{}", std::process::id(), specs[0].peer_port);
        let members: Vec<Process> = specs
            .into_iter()
            .enumerate()
            .map(|(member, spec)| {
                let data_dir = dir.0.join(&spec.name);
                let args = vec![
                    format!("--name={}", spec.name),
                    format!("--data-dir={}", data_dir.display()),
                    format!("--listen-client-urls={}", spec.client_url()),
                    format!("--advertise-client-urls={}", spec.client_url()),
                    format!("--listen-peer-urls={}", spec.peer_url()),
                    format!("--initial-advertise-peer-urls={}", proxy_url(member)),
                    format!("--initial-cluster={}", initial_cluster.join(",")),
                    format!("--initial-cluster-token={token}"),
                    "--initial-cluster-state=new".to_string(),
                ];
                Process::start(spec, args, data_dir)
            })
            .collect();
        for (member, process) in members.iter().enumerate() {
            faults.set_process_id(member, process.process_id());
        }
        ChaosCluster { paused: vec![false; members.len()], members, faults, proxies, dir }
    }

    pub fn client_urls(&self) -> Vec<String> {
        self.members.iter().map(|member| member.spec.client_url()).collect()
    }

    pub fn member_names(&self) -> Vec<String> {
        self.members.iter().map(|member| member.spec.name.clone()).collect()
    }

    /// The member every running member names as leader, if they agree within `timeout`.
    pub fn wait_for_leader(&self, timeout: Duration) -> Option<usize> {
        let deadline = Instant::now() + timeout;
        while Instant::now() < deadline {
            if let Some(leader) = self.agreed_leader() {
                return Some(leader);
            }
            std::thread::sleep(Duration::from_millis(100));
        }
        None
    }

    /// The member that says it leads, when every reachable member names it.
    pub fn agreed_leader(&self) -> Option<usize> {
        let mut stats = Vec::new();
        for member in &self.members {
            let url = member.spec.client_url();
            let answer =
                crate::request_with_timeout(&url, "GET", "/v2/stats/self", None, Duration::from_millis(500));
            let json: Option<serde_json::Value> = answer
                .ok()
                .filter(|response| response.status == 200)
                .and_then(|r| serde_json::from_slice(&r.body).ok());
            stats.push(json);
        }
        let leader_id = stats.iter().flatten().find(|json| json["state"] == "StateLeader")?["id"].clone();
        let agreed = stats
            .iter()
            .all(|json| json.as_ref().is_some_and(|json| json["leaderInfo"]["leader"] == leader_id));
        let leader =
            stats.iter().position(|json| json.as_ref().is_some_and(|json| json["id"] == leader_id))?;
        agreed.then_some(leader)
    }

    /// SIGKILL `member` (a crash).
    pub fn kill(&mut self, member: usize) {
        self.resume(member);
        self.members[member].kill9();
        self.faults.set_process_id(member, None);
    }

    /// Starts a killed `member` again on its data dir.
    pub fn restart(&mut self, member: usize) {
        self.members[member].restart();
        self.faults.set_process_id(member, self.members[member].process_id());
    }

    /// SIGSTOP `member`.
    pub fn pause(&mut self, member: usize) {
        self.signal(member, libc::SIGSTOP);
        self.paused[member] = true;
    }

    /// SIGCONT `member` if it is paused.
    pub fn resume(&mut self, member: usize) {
        if self.paused[member] {
            self.signal(member, libc::SIGCONT);
            self.paused[member] = false;
        }
    }

    fn signal(&self, member: usize, signal: i32) {
        if let Some(process_id) = self.members[member].process_id() {
            // SAFETY: sending a signal to our own child process id.
            unsafe { libc::kill(process_id as i32, signal) };
        }
    }

    /// Undoes every fault: links pass, paused members continue, killed members start again.
    pub fn heal(&mut self) {
        self.faults.heal();
        for member in 0..self.members.len() {
            self.resume(member);
            if !self.members[member].is_running() {
                self.restart(member);
            }
        }
    }

    /// Every member's log, for failure messages.
    pub fn logs(&self) -> String {
        self.members.iter().map(|member| format!("== {}\n{}", member.spec.name, member.log())).collect()
    }
}

impl Drop for ChaosCluster {
    fn drop(&mut self) {
        for member in 0..self.members.len() {
            self.resume(member);
        }
        self.faults.heal();
        self.proxies.clear();
    }
}
