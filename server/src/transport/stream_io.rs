//! Bytes on a peer socket: its TCP options, reading whole frames, and writing a buffer within a
//! deadline. The frame format itself is [`super::wire`]'s; this is the async IO around it.

use std::sync::atomic::AtomicU64;
use std::time::Duration;

use tokio::io::{AsyncReadExt, AsyncWrite, AsyncWriteExt};
use tokio::net::TcpStream;

use super::stats::bump;
use super::wire::{self, WireError};

/// No Nagle delay (Raft messages are latency-bound and the writer batches by itself); keepalive and,
/// on Linux, a user timeout so a peer that vanished without a FIN or RST is noticed.
pub(super) fn configure_socket(stream: &TcpStream, dead_peer_timeout: Duration) -> std::io::Result<()> {
    stream.set_nodelay(true)?;
    let socket = socket2::SockRef::from(stream);
    let probe_interval = (dead_peer_timeout / 3).max(Duration::from_secs(1));
    socket.set_tcp_keepalive(
        &socket2::TcpKeepalive::new().with_time(dead_peer_timeout).with_interval(probe_interval),
    )?;
    #[cfg(target_os = "linux")]
    socket.set_tcp_user_timeout(Some(dead_peer_timeout))?;
    Ok(())
}

/// Reads one frame and its size on the wire, or `None` on a clean end of stream between frames.
/// `payload` is scratch space reused across frames (no allocation per frame on a busy stream).
pub(super) async fn read_frame_sized<T, R>(
    reader: &mut R,
    max_frame_bytes: usize,
    payload: &mut Vec<u8>,
) -> Result<Option<(T, usize)>, WireError>
where
    T: serde::de::DeserializeOwned,
    R: AsyncReadExt + Unpin,
{
    /// Scratch kept between frames; a rare larger frame's buffer is released after use.
    const KEPT_SCRATCH_BYTES: usize = 1 << 20;
    let mut header = [0u8; wire::FRAME_HEADER_BYTES];
    let first = reader.read(&mut header).await?;
    if first == 0 {
        return Ok(None);
    }
    reader.read_exact(&mut header[first..]).await?;
    let (length, checksum) = wire::parse_frame_header(header, max_frame_bytes)?;
    payload.resize(length, 0);
    reader.read_exact(&mut payload[..]).await?;
    let value = wire::decode_payload(payload, checksum);
    if payload.capacity() > KEPT_SCRATCH_BYTES {
        *payload = Vec::new();
    }
    Ok(Some((value?, wire::FRAME_HEADER_BYTES + length)))
}

/// Reads one frame, or `None` on a clean end of stream between frames.
pub(super) async fn read_frame<T, R>(reader: &mut R, max_frame_bytes: usize) -> Result<Option<T>, WireError>
where
    T: serde::de::DeserializeOwned,
    R: AsyncReadExt + Unpin,
{
    let mut payload = Vec::new();
    Ok(read_frame_sized(reader, max_frame_bytes, &mut payload).await?.map(|(value, _)| value))
}

/// Writes all of `out` within `timeout` and empties it (whatever the outcome); counts the bytes
/// written into `sent_bytes`. The error says why the stream is to be considered broken.
pub(super) async fn write_within<W: AsyncWrite + Unpin>(
    writer: &mut W,
    out: &mut Vec<u8>,
    timeout: Duration,
    sent_bytes: &AtomicU64,
) -> Result<(), String> {
    if out.is_empty() {
        return Ok(());
    }
    let result = tokio::time::timeout(timeout, writer.write_all(out)).await;
    let length_bytes = out.len() as u64;
    out.clear();
    match result {
        Ok(Ok(())) => {
            bump(sent_bytes, length_bytes);
            Ok(())
        }
        Ok(Err(error)) => Err(format!("stream write error: {error}")),
        Err(_) => Err(format!("stream write blocked for more than {timeout:?}")),
    }
}
