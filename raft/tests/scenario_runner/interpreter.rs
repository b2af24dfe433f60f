//! The commands of a scenario, carried out on `raft::testing::Cluster`. Each command returns the text
//! it prints (possibly nothing). After every command each node's pending Ready is processed, as a
//! node's loop would: its messages join the network queue, where `pending`, `deliver`, `drop` and
//! `stabilize` see them.
//!
//! Setup:   cluster voters=1,2,3 [pre-vote=B] [check-quorum=B] [max-uncommitted-bytes=N]
//!          cluster-with-logs term=T [pre-vote=B] [check-quorum=B]   (input lines `ID: t t t`)
//!          add-joiner ID                   (a process joining with no configuration)
//! Time:    tick ID [count=N] | tick-all [count=N] (each round stabilizes quietly) | campaign ID
//! Network: pending | deliver [from=ID] [to=ID] [type=Kind,...] (one round of what is queued)
//!          drop [from=ID] [to=ID] [type=Kind,...] | stabilize [quiet] [drop=Kind,...]
//!          isolate ID | cut FROM TO (one way) | partition 1,2 3 | heal | crash ID | restart ID
//! Client:  propose ID DATA | propose-conf-change ID [transition=auto|joint-implicit|joint-explicit]
//!          add-voter=ID add-learner=ID remove=ID ... | leave-joint ID | transfer-leader ID to=ID
//!          read-index ID context=N | compact ID
//! Inspect: status [ID...] | terms [ID...] | entries ID | progress ID | reads ID | applied ID
//!          stats ID | safety

use bytes::Bytes;
use raft::testing::Cluster;
use raft::*;

use super::describe;

/// Bound of deliveries in one `stabilize` (a message storm fails the scenario instead of hanging).
const MAX_STABILIZE_DELIVERIES: usize = 100_000;

#[derive(Default)]
pub struct Interpreter {
    cluster: Option<Cluster>,
}

/// A command line split into positional words and `key=value` pairs (kept in order; keys may repeat).
struct Arguments {
    positional: Vec<String>,
    named: Vec<(String, String)>,
}

impl Arguments {
    fn parse(words: &[&str]) -> Arguments {
        let mut arguments = Arguments { positional: Vec::new(), named: Vec::new() };
        for word in words {
            match word.split_once('=') {
                Some((key, value)) => arguments.named.push((key.to_string(), value.to_string())),
                None => arguments.positional.push(word.to_string()),
            }
        }
        arguments
    }

    fn id(&self, position: usize) -> Result<NodeId, String> {
        let word =
            self.positional.get(position).ok_or(format!("missing node id (argument {})", position + 1))?;
        word.parse().map_err(|_| format!("bad node id {word:?}"))
    }

    fn ids(&self) -> Result<Vec<NodeId>, String> {
        (0..self.positional.len()).map(|position| self.id(position)).collect()
    }

    fn value(&self, key: &str) -> Option<&str> {
        self.named.iter().find(|(name, _)| name == key).map(|(_, value)| value.as_str())
    }

    fn number(&self, key: &str, default: u64) -> Result<u64, String> {
        self.value(key).map_or(Ok(default), |value| value.parse().map_err(|_| format!("bad {key}={value}")))
    }

    fn boolean(&self, key: &str, default: bool) -> Result<bool, String> {
        self.value(key).map_or(Ok(default), |value| value.parse().map_err(|_| format!("bad {key}={value}")))
    }

    fn flag(&self, word: &str) -> bool {
        self.positional.iter().any(|positional| positional == word)
    }

    /// `from=`, `to=` and `type=` (a comma-separated list of message kinds) as one predicate.
    fn message_filter(&self) -> Result<impl Fn(&Message) -> bool + use<>, String> {
        let from = self.value("from").map(parse_id).transpose()?;
        let to = self.value("to").map(parse_id).transpose()?;
        let kinds: Option<Vec<String>> = self.value("type").map(split_list);
        Ok(move |message: &Message| {
            from.is_none_or(|from| message.from == from)
                && to.is_none_or(|to| message.to == to)
                && kinds
                    .as_ref()
                    .is_none_or(|kinds| kinds.iter().any(|kind| kind == describe::kind(&message.body)))
        })
    }
}

fn parse_id(word: &str) -> Result<NodeId, String> {
    word.parse().map_err(|_| format!("bad node id {word:?}"))
}

fn split_list(list: &str) -> Vec<String> {
    list.split(',').map(str::to_string).collect()
}

fn config(id: NodeId, arguments: &Arguments) -> Result<Config, String> {
    let mut config = Config::new(id, id * 7919);
    config.pre_vote = arguments.boolean("pre-vote", true)?;
    config.check_quorum = arguments.boolean("check-quorum", true)?;
    let default_bytes = config.max_uncommitted_bytes as u64;
    config.max_uncommitted_bytes = arguments.number("max-uncommitted-bytes", default_bytes)? as usize;
    Ok(config)
}

impl Interpreter {
    /// Carries out one command; returns what it prints.
    pub fn execute(&mut self, command: &str, input: &[String]) -> Result<String, String> {
        let words: Vec<&str> = command.split_whitespace().collect();
        let (name, rest) = words.split_first().ok_or("empty command")?;
        let arguments = Arguments::parse(rest);
        let output = match *name {
            "cluster" => self.new_cluster(&arguments),
            "cluster-with-logs" => self.new_cluster_with_logs(&arguments, input),
            "add-joiner" => self.add_joiner(&arguments),
            "tick" | "tick-all" | "campaign" => self.time(name, &arguments),
            "pending" | "deliver" | "drop" | "stabilize" => self.network(name, &arguments),
            "isolate" | "cut" | "partition" | "heal" | "crash" | "restart" => self.faults(name, &arguments),
            "propose"
            | "propose-conf-change"
            | "leave-joint"
            | "transfer-leader"
            | "read-index"
            | "compact" => self.client(name, &arguments),
            "status" | "terms" | "entries" | "progress" | "reads" | "applied" | "stats" | "safety" => {
                self.inspect(name, &arguments)
            }
            _ => Err(format!("unknown command {name:?}")),
        }?;
        if let Some(cluster) = &mut self.cluster {
            cluster.process_all_ready();
        }
        Ok(output)
    }

    fn cluster(&mut self) -> Result<&mut Cluster, String> {
        self.cluster.as_mut().ok_or_else(|| "no cluster yet: start with `cluster`".to_string())
    }

    fn known_node(&mut self, id: NodeId) -> Result<&mut Cluster, String> {
        let cluster = self.cluster()?;
        if !cluster.nodes.contains_key(&id) {
            return Err(format!("no node {id}"));
        }
        Ok(cluster)
    }

    // ------------------------------------------------------------------------------------------
    // Setup.

    fn new_cluster(&mut self, arguments: &Arguments) -> Result<String, String> {
        let voters: Vec<NodeId> = split_list(arguments.value("voters").ok_or("missing voters=")?)
            .iter()
            .map(|word| parse_id(word))
            .collect::<Result<_, _>>()?;
        let configs =
            voters.iter().map(|&id| config(id, arguments)).collect::<Result<Vec<Config>, String>>()?;
        let mut cluster = Cluster::from_states(Vec::new());
        for config in configs {
            cluster.add_node(config, RestoreState::new_cluster(voters.iter().copied()));
        }
        self.cluster = Some(cluster);
        Ok(String::new())
    }

    /// Nodes restarting from crafted logs: one input line `ID: term term ...` per node (all voters,
    /// nothing committed, hard-state term `term=`).
    fn new_cluster_with_logs(&mut self, arguments: &Arguments, input: &[String]) -> Result<String, String> {
        let term = arguments.number("term", 1)?;
        let mut logs = Vec::new();
        for line in input {
            let (id, terms) = line.split_once(':').ok_or(format!("expected `ID: terms`, got {line:?}"))?;
            let terms: Vec<Term> = terms
                .split_whitespace()
                .map(|word| word.parse().map_err(|_| format!("bad term {word:?}")))
                .collect::<Result<_, String>>()?;
            logs.push((parse_id(id.trim())?, terms));
        }
        let voters: Vec<NodeId> = logs.iter().map(|(id, _)| *id).collect();
        let mut states = Vec::new();
        for (id, terms) in logs {
            let entries =
                (1..).zip(&terms).map(|(index, &term)| Entry { term, index, payload: EntryPayload::Empty });
            let restore = RestoreState {
                hard_state: HardState { term, vote: None, commit: 0 },
                entries: entries.collect(),
                initial_conf: ConfState::with_voters(voters.iter().copied()),
                ..RestoreState::default()
            };
            states.push((config(id, arguments)?, restore));
        }
        self.cluster = Some(Cluster::from_states(states));
        Ok(String::new())
    }

    fn add_joiner(&mut self, arguments: &Arguments) -> Result<String, String> {
        let id = arguments.id(0)?;
        let config = config(id, arguments)?;
        self.cluster()?.add_node(config, RestoreState::default());
        Ok(String::new())
    }

    // ------------------------------------------------------------------------------------------
    // Time.

    fn time(&mut self, name: &str, arguments: &Arguments) -> Result<String, String> {
        let count = arguments.number("count", 1)?;
        match name {
            "tick-all" => self.cluster()?.tick_all(count as u32),
            "tick" => {
                let id = arguments.id(0)?;
                let cluster = self.known_node(id)?;
                for _ in 0..count {
                    cluster.tick(id);
                }
            }
            _ => {
                let id = arguments.id(0)?;
                self.known_node(id)?.node_mut(id).campaign();
            }
        }
        Ok(String::new())
    }

    // ------------------------------------------------------------------------------------------
    // Network.

    fn network(&mut self, name: &str, arguments: &Arguments) -> Result<String, String> {
        let cluster = self.cluster()?;
        let lines = match name {
            "pending" => {
                let lines: Vec<String> = cluster.network.iter().map(describe::message).collect();
                if lines.is_empty() { vec!["none".to_string()] } else { lines }
            }
            "deliver" => deliver_round(cluster, arguments.message_filter()?),
            "drop" => {
                let keep = arguments.message_filter()?;
                let dropped: Vec<String> =
                    cluster.network.iter().filter(|message| keep(message)).map(describe::message).collect();
                cluster.drop_matching(keep);
                dropped.iter().map(|line| format!("dropped {line}")).collect()
            }
            _ => stabilize(cluster, arguments)?,
        };
        Ok(lines.join("\n"))
    }

    // ------------------------------------------------------------------------------------------
    // Faults.

    fn faults(&mut self, name: &str, arguments: &Arguments) -> Result<String, String> {
        let cluster = self.cluster()?;
        match name {
            "heal" => cluster.heal(),
            "partition" => {
                let groups: Vec<Vec<NodeId>> = arguments
                    .positional
                    .iter()
                    .map(|group| split_list(group).iter().map(|word| parse_id(word)).collect())
                    .collect::<Result<_, _>>()?;
                let groups: Vec<&[NodeId]> = groups.iter().map(Vec::as_slice).collect();
                cluster.partition(&groups);
            }
            "cut" => {
                let (from, to) = (arguments.id(0)?, arguments.id(1)?);
                cluster.cut.insert((from, to));
            }
            _ => {
                let id = arguments.id(0)?;
                let cluster = self.known_node(id)?;
                match name {
                    "isolate" => cluster.isolate(id),
                    "crash" => cluster.crash(id),
                    _ => cluster.restart(id),
                }
            }
        }
        Ok(String::new())
    }

    // ------------------------------------------------------------------------------------------
    // Client requests.

    fn client(&mut self, name: &str, arguments: &Arguments) -> Result<String, String> {
        let id = arguments.id(0)?;
        let cluster = self.known_node(id)?;
        let node = cluster.node_mut(id);
        let result = match name {
            "propose" => {
                let data = arguments.positional.get(1).ok_or("missing data")?;
                node.propose(Bytes::from(data.clone()))
            }
            "propose-conf-change" => node.propose_conf_change(conf_change(arguments)?),
            "leave-joint" => node.propose_conf_change(ConfChange::default()),
            "transfer-leader" => node.transfer_leader(arguments.number("to", 0)?),
            "read-index" => node.read_index(arguments.number("context", 0)?),
            _ => {
                cluster.compact(id);
                Ok(())
            }
        };
        Ok(result.err().map(|error| format!("error: {error}")).unwrap_or_default())
    }

    // ------------------------------------------------------------------------------------------
    // Inspection.

    fn inspect(&mut self, name: &str, arguments: &Arguments) -> Result<String, String> {
        let cluster = self.cluster()?;
        let mut ids = arguments.ids()?;
        if ids.is_empty() {
            ids = cluster.nodes.keys().copied().collect();
        }
        if let Some(unknown) = ids.iter().find(|id| !cluster.nodes.contains_key(id)) {
            return Err(format!("no node {unknown}"));
        }
        let lines: Vec<String> = match name {
            "status" => ids.iter().map(|&id| describe::node_status(id, &cluster.nodes[&id])).collect(),
            "terms" => ids.iter().map(|&id| terms(cluster, id)).collect(),
            "safety" => {
                vec![cluster.check_safety().map_or_else(|violation| violation.0, |()| "ok".to_string())]
            }
            _ => ids.iter().flat_map(|&id| inspect_node(cluster, name, id)).collect(),
        };
        let lines = if lines.is_empty() { vec!["none".to_string()] } else { lines };
        Ok(lines.join("\n"))
    }
}

/// `1: 1 1 1 4 4`, prefixed by the compaction point when the log was compacted.
fn terms(cluster: &Cluster, id: NodeId) -> String {
    let raft = cluster.node(id);
    let entries = raft.log_entries(raft.first_index(), raft.last_index()).unwrap_or_default();
    let terms: Vec<String> = entries.iter().map(|entry| entry.term.to_string()).collect();
    let compacted = raft.first_index() - 1;
    let prefix = if compacted > 0 {
        format!(" (compacted to {compacted}@{})", raft.term_at(compacted).unwrap_or_default())
    } else {
        String::new()
    };
    format!("{id}:{prefix} {}", terms.join(" "))
}

fn inspect_node(cluster: &Cluster, name: &str, id: NodeId) -> Vec<String> {
    let node = &cluster.nodes[&id];
    let raft = &node.raft;
    match name {
        "entries" => {
            let entries = raft.log_entries(raft.first_index(), raft.last_index()).unwrap_or_default();
            entries.iter().map(describe::entry).collect()
        }
        "progress" => {
            let members = raft.conf_state().all_members();
            members
                .iter()
                .filter_map(|&member| Some(describe::progress(member, &raft.progress(member)?)))
                .collect()
        }
        "reads" => node
            .read_states
            .iter()
            .map(|read| format!("context={} index={}", read.context, read.index))
            .collect(),
        "applied" => {
            let data: Vec<String> =
                node.applied_data.iter().map(|data| format!("{:?}", String::from_utf8_lossy(data))).collect();
            vec![format!("{id}: index={} data=[{}]", node.applied_index, data.join(", "))]
        }
        _ => {
            let stats = raft.stats();
            vec![format!(
                "dropped-messages={} dropped-proposals={} dropped-reads={} malformed-messages={} non-member-messages={}",
                stats.dropped_messages,
                stats.dropped_proposals,
                stats.dropped_reads,
                stats.malformed_messages,
                stats.non_member_messages
            )]
        }
    }
}

fn conf_change(arguments: &Arguments) -> Result<ConfChange, String> {
    let transition = match arguments.value("transition").unwrap_or("auto") {
        "auto" => ConfChangeTransition::Auto,
        "joint-implicit" => ConfChangeTransition::JointImplicit,
        "joint-explicit" => ConfChangeTransition::JointExplicit,
        other => return Err(format!("unknown transition {other:?}")),
    };
    let mut changes = Vec::new();
    for (key, value) in &arguments.named {
        let kind = match key.as_str() {
            "add-voter" => ConfChangeKind::AddVoter,
            "add-learner" => ConfChangeKind::AddLearner,
            "remove" => ConfChangeKind::RemoveNode,
            _ => continue,
        };
        changes.push(ConfChangeSingle { kind, node_id: parse_id(value)? });
    }
    Ok(ConfChange { transition, changes, context: Bytes::new() })
}

/// Delivers the queued messages matching `keep` (those they cause stay queued); one line each.
fn deliver_round(cluster: &mut Cluster, keep: impl Fn(&Message) -> bool) -> Vec<String> {
    let queued: Vec<Message> = cluster.network.drain(..).collect();
    let (matching, rest): (Vec<Message>, Vec<Message>) =
        queued.into_iter().partition(|message| keep(message));
    cluster.network.extend(rest);
    matching.into_iter().map(|message| deliver_one(cluster, message)).collect()
}

/// Delivers one message; the line says when a cut link or a down node lost it.
fn deliver_one(cluster: &mut Cluster, message: Message) -> String {
    let line = describe::message(&message);
    let lost = if cluster.cut.contains(&(message.from, message.to)) {
        " (lost: link cut)"
    } else if cluster.nodes.get(&message.to).is_none_or(|node| !node.up) {
        " (lost: node down)"
    } else {
        ""
    };
    cluster.deliver(message);
    cluster.process_all_ready();
    format!("{line}{lost}")
}

/// Delivers until nothing is queued, printing each message unless `quiet`; messages of the kinds
/// in `drop=` are dropped instead (and printed as such).
fn stabilize(cluster: &mut Cluster, arguments: &Arguments) -> Result<Vec<String>, String> {
    let quiet = arguments.flag("quiet");
    let dropped_kinds: Vec<String> = arguments.value("drop").map(split_list).unwrap_or_default();
    let mut lines = Vec::new();
    for _ in 0..MAX_STABILIZE_DELIVERIES {
        cluster.process_all_ready();
        let Some(message) = cluster.network.pop_front() else {
            return Ok(if quiet { Vec::new() } else { lines });
        };
        if dropped_kinds.iter().any(|kind| kind == describe::kind(&message.body)) {
            lines.push(format!("dropped {}", describe::message(&message)));
            continue;
        }
        let line = deliver_one(cluster, message);
        lines.push(line);
    }
    Err(format!("no quiescence after {MAX_STABILIZE_DELIVERIES} deliveries"))
}
