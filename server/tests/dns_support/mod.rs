//! A tiny authoritative DNS server on loopback UDP for tests of `--discovery-srv`: it answers SRV and
//! A questions from a fixed table, NXDOMAIN for names it does not hold, and nothing else. A test
//! double, not a DNS implementation: one question per query, no compression but the answer's owner
//! name, no EDNS, no TCP. Shared by `server/tests/discovery_dns.rs` and the e2e test
//! (`tests/tests/discovery_srv.rs` includes this file by path). Only `std`.

#![allow(dead_code)]

use std::net::{Ipv4Addr, SocketAddr, UdpSocket};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::thread::JoinHandle;
use std::time::Duration;

const TYPE_A: u16 = 1;
const TYPE_SRV: u16 = 33;
const CLASS_IN: u16 = 1;
const RCODE_NAME_ERROR: u16 = 3;
const RCODE_FORMAT_ERROR: u16 = 1;
/// The largest query read; larger ones are truncated by the socket and answered FORMERR.
const MAX_QUERY_BYTES: usize = 512;

/// One record the server holds.
#[derive(Clone, Debug)]
pub enum DnsRecord {
    Srv { name: String, priority: u16, weight: u16, port: u16, target: String },
    A { name: String, address: Ipv4Addr },
}

impl DnsRecord {
    pub fn srv(name: &str, port: u16, target: &str) -> DnsRecord {
        DnsRecord::Srv { name: name.into(), priority: 0, weight: 0, port, target: target.into() }
    }

    pub fn a(name: &str, address: Ipv4Addr) -> DnsRecord {
        DnsRecord::A { name: name.into(), address }
    }

    fn owner(&self) -> &str {
        match self {
            DnsRecord::Srv { name, .. } | DnsRecord::A { name, .. } => name,
        }
    }

    fn record_type(&self) -> u16 {
        match self {
            DnsRecord::Srv { .. } => TYPE_SRV,
            DnsRecord::A { .. } => TYPE_A,
        }
    }
}

/// The running server; stops when dropped.
pub struct DnsServer {
    pub address: SocketAddr,
    stop: Arc<AtomicBool>,
    /// Questions answered so far (a test can check the resolver really asked).
    pub questions: Arc<AtomicU64>,
    thread: Option<JoinHandle<()>>,
}

impl DnsServer {
    /// Serves `records` on 127.0.0.1 at a free port.
    pub fn start(records: Vec<DnsRecord>) -> DnsServer {
        let socket = UdpSocket::bind("127.0.0.1:0").expect("bind a loopback UDP port");
        socket.set_read_timeout(Some(Duration::from_millis(50))).expect("set a read timeout");
        let address = socket.local_addr().expect("the bound address");
        let stop = Arc::new(AtomicBool::new(false));
        let questions = Arc::new(AtomicU64::new(0));
        let thread = {
            let (stop, questions) = (stop.clone(), questions.clone());
            std::thread::spawn(move || serve(&socket, &records, &stop, &questions))
        };
        DnsServer { address, stop, questions, thread: Some(thread) }
    }
}

impl Drop for DnsServer {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::SeqCst);
        if let Some(thread) = self.thread.take() {
            let _ = thread.join();
        }
    }
}

fn serve(socket: &UdpSocket, records: &[DnsRecord], stop: &AtomicBool, questions: &AtomicU64) {
    let mut buffer = [0u8; MAX_QUERY_BYTES];
    while !stop.load(Ordering::SeqCst) {
        let Ok((length, peer)) = socket.recv_from(&mut buffer) else { continue };
        if let Some(answer) = answer(&buffer[..length], records) {
            questions.fetch_add(1, Ordering::SeqCst);
            let _ = socket.send_to(&answer, peer);
        }
    }
}

/// The question of a query: its bytes (name, type, class) as sent, the name, the type.
struct Question<'a> {
    wire: &'a [u8],
    name: String,
    record_type: u16,
}

fn parse_question(query: &[u8]) -> Option<Question<'_>> {
    let mut labels = Vec::new();
    let mut offset = 12;
    // A name has at most 127 labels.
    for _ in 0..128 {
        let length = usize::from(*query.get(offset)?);
        offset += 1;
        if length == 0 {
            let record_type = u16::from_be_bytes([*query.get(offset)?, *query.get(offset + 1)?]);
            query.get(offset + 3)?;
            let name = labels.join(".");
            return Some(Question { wire: &query[12..offset + 4], name, record_type });
        }
        if length > 63 {
            return None;
        }
        labels.push(String::from_utf8_lossy(query.get(offset..offset + length)?).to_ascii_lowercase());
        offset += length;
    }
    None
}

/// The response to one query, or `None` for something that is not a query.
fn answer(query: &[u8], records: &[DnsRecord]) -> Option<Vec<u8>> {
    if query.len() < 12 || query[2] & 0x80 != 0 {
        return None;
    }
    let recursion_desired = u16::from(query[2] & 0x01) << 8;
    let mut response = Vec::with_capacity(512);
    response.extend_from_slice(&query[..2]);
    let Some(question) = parse_question(query) else {
        response.extend_from_slice(&(0x8000 | recursion_desired | RCODE_FORMAT_ERROR).to_be_bytes());
        response.extend_from_slice(&[0; 8]);
        return Some(response);
    };
    let same_name =
        |record: &&DnsRecord| record.owner().trim_end_matches('.').eq_ignore_ascii_case(&question.name);
    let known = records.iter().any(|record| same_name(&record));
    let matching: Vec<&DnsRecord> = records
        .iter()
        .filter(same_name)
        .filter(|record| record.record_type() == question.record_type)
        .collect();
    let rcode = if known { 0 } else { RCODE_NAME_ERROR };
    // QR, AA, RD as asked.
    response.extend_from_slice(&(0x8400 | recursion_desired | rcode).to_be_bytes());
    response.extend_from_slice(&1u16.to_be_bytes());
    response.extend_from_slice(&(matching.len() as u16).to_be_bytes());
    response.extend_from_slice(&[0, 0, 0, 0]);
    response.extend_from_slice(question.wire);
    for record in matching {
        append_record(&mut response, record);
    }
    Some(response)
}

fn append_record(response: &mut Vec<u8>, record: &DnsRecord) {
    // The owner name: a pointer to the question's name at offset 12.
    response.extend_from_slice(&[0xC0, 12]);
    response.extend_from_slice(&record.record_type().to_be_bytes());
    response.extend_from_slice(&CLASS_IN.to_be_bytes());
    response.extend_from_slice(&60u32.to_be_bytes());
    let mut data = Vec::new();
    match record {
        DnsRecord::A { address, .. } => data.extend_from_slice(&address.octets()),
        DnsRecord::Srv { priority, weight, port, target, .. } => {
            data.extend_from_slice(&priority.to_be_bytes());
            data.extend_from_slice(&weight.to_be_bytes());
            data.extend_from_slice(&port.to_be_bytes());
            for label in target.trim_end_matches('.').split('.').filter(|label| !label.is_empty()) {
                data.push(label.len() as u8);
                data.extend_from_slice(label.as_bytes());
            }
            data.push(0);
        }
    }
    response.extend_from_slice(&(data.len() as u16).to_be_bytes());
    response.extend_from_slice(&data);
}
