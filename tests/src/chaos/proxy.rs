//! A fault-injecting TCP proxy in front of one member's peer port. Every peer connection to that
//! member goes through it (the member advertises the proxy's URL), and the test decides per link
//! (source member -> this member) whether bytes pass, are delayed, are discarded (blackhole) or the
//! connection is cut and refused (drop).
//!
//! The source member of a connection is found from the kernel's socket tables (Linux): the dialer's
//! socket (the accepted connection's remote address) is looked up in `/proc/net/tcp` for its inode, and
//! the member whose process holds that inode is the source. A connection whose source cannot be found
//! (its process just died) only suffers faults set for every source (`LinkFaults::isolate`).
//!
//! A link's fault applies to both byte directions of the connections the source dialed: messages from
//! the destination to the source travel on the destination's own connections, through the source's
//! proxy, so `LinkFaults::set(a, b, ..)` alone is a one-way partition a -> b.

use std::collections::BTreeMap;
use std::io::{ErrorKind, Read, Write};
use std::net::{Shutdown, SocketAddr, TcpListener, TcpStream};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::thread::JoinHandle;
use std::time::Duration;

/// The most connections one proxy serves over its life (members redial after every fault).
const MAX_CONNECTIONS: usize = 20_000;
/// How often idle pumps and the listener look at the stop flag and the faults.
const POLL_INTERVAL_MS: u64 = 50;
/// Bytes moved per read.
const CHUNK_SIZE_BYTES: usize = 64 * 1024;

/// What happens to the bytes of one link.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum LinkFault {
    Pass,
    /// Each chunk is held this long before it is forwarded.
    Delay {
        delay_ms: u64,
    },
    /// Connections stay open, bytes are discarded.
    Blackhole,
    /// Connections are closed and new ones closed at once.
    Drop,
}

/// The faults of every link and the process of every member (to name a connection's source).
#[derive(Default)]
pub struct LinkFaults {
    /// (source member, destination member) -> fault; absent = Pass.
    faults: Mutex<BTreeMap<(usize, usize), LinkFault>>,
    /// Destination member -> fault on connections from any source (including unknown ones).
    isolated: Mutex<BTreeMap<usize, LinkFault>>,
    process_ids: Mutex<Vec<Option<u32>>>,
}

impl LinkFaults {
    pub fn new(member_count: usize) -> LinkFaults {
        LinkFaults { process_ids: Mutex::new(vec![None; member_count]), ..LinkFaults::default() }
    }

    /// Sets the fault of the link source -> destination (the connections source dials).
    pub fn set(&self, source: usize, destination: usize, fault: LinkFault) {
        assert_ne!(source, destination, "a member has no link to itself");
        self.faults.lock().expect("faults").insert((source, destination), fault);
    }

    /// Sets the fault of every connection to `destination`, whatever its source.
    pub fn isolate(&self, destination: usize, fault: LinkFault) {
        self.isolated.lock().expect("faults").insert(destination, fault);
    }

    /// Every link passes again.
    pub fn heal(&self) {
        self.faults.lock().expect("faults").clear();
        self.isolated.lock().expect("faults").clear();
    }

    /// Records the process of `member` (after a start or restart; None when stopped).
    pub fn set_process_id(&self, member: usize, process_id: Option<u32>) {
        self.process_ids.lock().expect("process ids")[member] = process_id;
    }

    /// The fault of a connection from `source` (None: unknown) to `destination`.
    pub fn fault(&self, source: Option<usize>, destination: usize) -> LinkFault {
        if let Some(fault) = self.isolated.lock().expect("faults").get(&destination) {
            return *fault;
        }
        let Some(source) = source else { return LinkFault::Pass };
        self.faults.lock().expect("faults").get(&(source, destination)).copied().unwrap_or(LinkFault::Pass)
    }

    fn process_ids(&self) -> Vec<Option<u32>> {
        self.process_ids.lock().expect("process ids").clone()
    }
}

/// One proxy: listens on `listen`, forwards to `target`, for member `destination`.
pub struct Proxy {
    stop: Arc<AtomicBool>,
    listener_thread: Option<JoinHandle<()>>,
}

impl Proxy {
    pub fn start(
        listen: SocketAddr,
        target: SocketAddr,
        destination: usize,
        faults: Arc<LinkFaults>,
    ) -> Proxy {
        let listener = TcpListener::bind(listen).expect("bind proxy");
        listener.set_nonblocking(true).expect("nonblocking listener");
        let stop = Arc::new(AtomicBool::new(false));
        let link = Link { target, destination, faults, stop: stop.clone() };
        let listener_thread = std::thread::spawn(move || accept_loop(listener, link));
        Proxy { stop, listener_thread: Some(listener_thread) }
    }
}

impl Drop for Proxy {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::SeqCst);
        if let Some(thread) = self.listener_thread.take() {
            let _ = thread.join();
        }
    }
}

/// What every connection of one proxy shares.
#[derive(Clone)]
struct Link {
    target: SocketAddr,
    destination: usize,
    faults: Arc<LinkFaults>,
    stop: Arc<AtomicBool>,
}

fn accept_loop(listener: TcpListener, link: Link) {
    let mut connections: Vec<JoinHandle<()>> = Vec::new();
    while !link.stop.load(Ordering::SeqCst) {
        match listener.accept() {
            Ok((inbound, remote)) => {
                connections.retain(|thread| !thread.is_finished());
                assert!(connections.len() < MAX_CONNECTIONS, "proxy connection bound reached");
                let link = link.clone();
                let local = listener.local_addr().expect("proxy address");
                connections.push(std::thread::spawn(move || serve(inbound, remote, local, link)));
            }
            Err(error) if error.kind() == ErrorKind::WouldBlock => {
                std::thread::sleep(Duration::from_millis(POLL_INTERVAL_MS));
            }
            Err(_) => std::thread::sleep(Duration::from_millis(POLL_INTERVAL_MS)),
        }
    }
    for connection in connections {
        let _ = connection.join();
    }
}

/// One proxied connection: names its source, dials the member, pumps both ways until either side
/// closes, the link is dropped or the proxy stops.
fn serve(inbound: TcpStream, remote: SocketAddr, local: SocketAddr, link: Link) {
    let source = source_member(remote, local, &link.faults.process_ids());
    if link.faults.fault(source, link.destination) == LinkFault::Drop {
        return;
    }
    let Ok(outbound) = TcpStream::connect_timeout(&link.target, Duration::from_secs(1)) else { return };
    let (Ok(inbound_copy), Ok(outbound_copy)) = (inbound.try_clone(), outbound.try_clone()) else { return };
    let forward_link = link.clone();
    let forward = std::thread::spawn(move || pump(inbound, outbound, source, &forward_link));
    pump(outbound_copy, inbound_copy, source, &link);
    let _ = forward.join();
}

/// Copies `from` to `to` under the link's current fault, until a side closes or the link drops.
fn pump(mut from: TcpStream, mut to: TcpStream, source: Option<usize>, link: &Link) {
    let _ = from.set_read_timeout(Some(Duration::from_millis(POLL_INTERVAL_MS)));
    let mut buffer = vec![0u8; CHUNK_SIZE_BYTES];
    loop {
        let fault = link.faults.fault(source, link.destination);
        if link.stop.load(Ordering::SeqCst) || fault == LinkFault::Drop {
            break;
        }
        let read = match from.read(&mut buffer) {
            Ok(0) => break,
            Ok(read) => read,
            Err(error) if matches!(error.kind(), ErrorKind::WouldBlock | ErrorKind::TimedOut) => continue,
            Err(_) => break,
        };
        match link.faults.fault(source, link.destination) {
            LinkFault::Pass => {}
            LinkFault::Delay { delay_ms } => std::thread::sleep(Duration::from_millis(delay_ms)),
            LinkFault::Blackhole => continue,
            LinkFault::Drop => break,
        }
        if to.write_all(&buffer[..read]).is_err() {
            break;
        }
    }
    let _ = from.shutdown(Shutdown::Both);
    let _ = to.shutdown(Shutdown::Both);
}

/// The member whose process owns the dialing socket `remote` (connected to our `local`), if any.
fn source_member(remote: SocketAddr, local: SocketAddr, process_ids: &[Option<u32>]) -> Option<usize> {
    let inode = socket_inode(remote, local)?;
    let wanted = format!("socket:[{inode}]");
    process_ids.iter().position(|process_id| {
        let Some(process_id) = process_id else { return false };
        let Ok(entries) = std::fs::read_dir(format!("/proc/{process_id}/fd")) else { return false };
        entries.flatten().any(|entry| {
            std::fs::read_link(entry.path()).is_ok_and(|target| target.as_os_str() == wanted.as_str())
        })
    })
}

/// The inode of the IPv4 socket bound to `local_end` and connected to `remote_end`, from /proc/net/tcp.
fn socket_inode(local_end: SocketAddr, remote_end: SocketAddr) -> Option<u64> {
    let (SocketAddr::V4(local_end), SocketAddr::V4(remote_end)) = (local_end, remote_end) else {
        return None;
    };
    let render = |address: std::net::SocketAddrV4| {
        format!("{:08X}:{:04X}", u32::from_ne_bytes(address.ip().octets()), address.port())
    };
    let (wanted_local, wanted_remote) = (render(local_end), render(remote_end));
    let table = std::fs::read_to_string("/proc/net/tcp").ok()?;
    table.lines().skip(1).find_map(|line| {
        let fields: Vec<&str> = line.split_whitespace().collect();
        (fields.len() > 9 && fields[1] == wanted_local && fields[2] == wanted_remote)
            .then(|| fields[9].parse().ok())
            .flatten()
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn echo_server() -> SocketAddr {
        let listener = TcpListener::bind("127.0.0.1:0").expect("bind");
        let address = listener.local_addr().expect("address");
        std::thread::spawn(move || {
            for mut stream in listener.incoming().flatten().take(4) {
                std::thread::spawn(move || {
                    let mut buffer = [0u8; 64];
                    while let Ok(read) = stream.read(&mut buffer) {
                        if read == 0 || stream.write_all(&buffer[..read]).is_err() {
                            break;
                        }
                    }
                });
            }
        });
        address
    }

    fn round_trip(proxy_address: SocketAddr) -> Option<Vec<u8>> {
        let mut stream = TcpStream::connect(proxy_address).ok()?;
        stream.set_read_timeout(Some(Duration::from_millis(500))).ok()?;
        stream.write_all(b"ping").ok()?;
        let mut buffer = [0u8; 4];
        stream.read_exact(&mut buffer).ok()?;
        Some(buffer.to_vec())
    }

    #[test]
    fn a_proxy_passes_bytes_then_blackholes_and_drops_them_when_the_link_is_faulted() {
        let target = echo_server();
        let faults = Arc::new(LinkFaults::new(2));
        let listen = TcpListener::bind("127.0.0.1:0").expect("bind").local_addr().expect("address");
        let _proxy = Proxy::start(listen, target, 1, faults.clone());
        assert_eq!(round_trip(listen), Some(b"ping".to_vec()));
        faults.isolate(1, LinkFault::Blackhole);
        assert_eq!(round_trip(listen), None, "blackholed bytes never come back");
        faults.isolate(1, LinkFault::Drop);
        assert_eq!(round_trip(listen), None, "a dropped link refuses connections");
        faults.heal();
        assert_eq!(round_trip(listen), Some(b"ping".to_vec()));
    }

    #[test]
    fn the_source_of_a_connection_is_the_process_that_holds_its_socket() {
        let listener = TcpListener::bind("127.0.0.1:0").expect("bind");
        let client = TcpStream::connect(listener.local_addr().expect("address")).expect("connect");
        let (_accepted, remote) = listener.accept().expect("accept");
        let local = listener.local_addr().expect("address");
        let ours = Some(std::process::id());
        assert_eq!(source_member(remote, local, &[None, ours]), Some(1));
        assert_eq!(source_member(remote, local, &[None, None]), None);
        drop(client);
    }
}
