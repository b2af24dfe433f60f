//! Repairs the `:authority` of incoming HTTP/2 requests before hyper's HTTP/2 layer (the `h2` crate)
//! reads them.
//!
//! etcd's clients of the 3.4 era (grpc-go 1.26 inside `etcdctl`) send the endpoint exactly as the user
//! wrote it as the `:authority`, so `--endpoints=http://127.0.0.1:2379` arrives as
//! `:authority: http://127.0.0.1:2379`. Go's HTTP/2 server accepts that; `h2` answers every such
//! request with RST_STREAM(PROTOCOL_ERROR), and its maintainers declined to relax the check
//! (hyperium/h2#525), with no setting to turn it off. So every HTTP/2 connection reads through this
//! adapter: frames pass through byte for byte except header blocks (HEADERS and CONTINUATION from the
//! client), which are decoded with the `loona-hpack` crate, get a scheme-free authority
//! (`127.0.0.1:2379`), and are encoded again. The re-encoding is stateless (every field a literal
//! without indexing), so h2's dynamic table stays empty and never drifts from the client's: the
//! client's table lives only in our decoder. Writes go to the socket unchanged.

use std::io;
use std::pin::Pin;
use std::task::{Context, Poll, ready};

use bytes::{Buf, BufMut, BytesMut};
use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};

/// The client connection preface (RFC 9113 §3.4), passed through before the first frame.
const PREFACE_BYTES: usize = 24;
/// Frame header size.
const FRAME_HEADER_BYTES: usize = 9;
const FRAME_TYPE_HEADERS: u8 = 0x1;
const FRAME_TYPE_CONTINUATION: u8 = 0x9;
const FLAG_END_STREAM: u8 = 0x1;
const FLAG_END_HEADERS: u8 = 0x4;
const FLAG_PADDED: u8 = 0x8;
const FLAG_PRIORITY: u8 = 0x20;
/// The largest frame payload we emit: HTTP/2's default SETTINGS_MAX_FRAME_SIZE, which h2 keeps
/// unless told otherwise.
const EMITTED_FRAME_PAYLOAD_BYTES: usize = 16_384;
/// The largest header block (all its frames) we assemble; more ends the connection.
pub const MAX_HEADER_BLOCK_BYTES: usize = 1 << 20;
/// The dynamic table size h2 advertises (its default); a client may not use a larger one.
const DYNAMIC_TABLE_BYTES: usize = 4_096;
/// Bytes read from the socket at a time.
const READ_CHUNK_BYTES: usize = 16 * 1024;

/// A socket whose incoming header blocks get a scheme-free `:authority`.
pub struct AuthorityRepair<S> {
    inner: S,
    /// Bytes read from the socket and not yet processed.
    input: BytesMut,
    /// Processed bytes waiting for h2 to read them.
    output: BytesMut,
    preface_remaining_bytes: usize,
    /// Payload bytes of the current non-header frame still to pass through untouched.
    passthrough_remaining_bytes: usize,
    /// A header block whose END_HEADERS has not arrived yet.
    pending: Option<PendingBlock>,
    decoder: loona_hpack::Decoder<'static>,
    /// Whether the socket reported end of file.
    input_closed: bool,
}

struct PendingBlock {
    stream_id: u32,
    end_stream: bool,
    fragment: Vec<u8>,
}

impl<S> AuthorityRepair<S> {
    pub fn new(inner: S) -> AuthorityRepair<S> {
        let mut decoder = loona_hpack::Decoder::new();
        decoder.set_max_allowed_table_size(DYNAMIC_TABLE_BYTES);
        AuthorityRepair {
            inner,
            input: BytesMut::with_capacity(READ_CHUNK_BYTES),
            output: BytesMut::with_capacity(READ_CHUNK_BYTES),
            preface_remaining_bytes: PREFACE_BYTES,
            passthrough_remaining_bytes: 0,
            pending: None,
            decoder,
            input_closed: false,
        }
    }

    /// Moves everything `input` holds that can be processed into `output`.
    fn process(&mut self) -> io::Result<()> {
        // Each turn consumes input or returns; the bound is the number of bytes buffered.
        for _ in 0..=self.input.len() {
            if self.input.is_empty() {
                return Ok(());
            }
            if self.preface_remaining_bytes > 0 {
                let count = self.preface_remaining_bytes.min(self.input.len());
                self.output.put(self.input.split_to(count));
                self.preface_remaining_bytes -= count;
                continue;
            }
            if self.passthrough_remaining_bytes > 0 {
                let count = self.passthrough_remaining_bytes.min(self.input.len());
                self.output.put(self.input.split_to(count));
                self.passthrough_remaining_bytes -= count;
                continue;
            }
            if !self.process_frame()? {
                return Ok(());
            }
        }
        Ok(())
    }

    /// Processes the frame at the start of `input`; false when its bytes are not all there yet.
    fn process_frame(&mut self) -> io::Result<bool> {
        if self.input.len() < FRAME_HEADER_BYTES {
            return Ok(false);
        }
        let header = FrameHeader::parse(&self.input[..FRAME_HEADER_BYTES]);
        let is_header_frame =
            header.frame_type == FRAME_TYPE_HEADERS || header.frame_type == FRAME_TYPE_CONTINUATION;
        if !is_header_frame {
            if self.pending.is_some() {
                return Err(invalid("a frame other than CONTINUATION inside a header block"));
            }
            self.output.put(self.input.split_to(FRAME_HEADER_BYTES));
            self.passthrough_remaining_bytes = header.length;
            return Ok(true);
        }
        if header.length > MAX_HEADER_BLOCK_BYTES {
            return Err(invalid("header frame too large"));
        }
        if self.input.len() < FRAME_HEADER_BYTES + header.length {
            self.input.reserve(FRAME_HEADER_BYTES + header.length - self.input.len());
            return Ok(false);
        }
        self.input.advance(FRAME_HEADER_BYTES);
        let payload = self.input.split_to(header.length);
        self.take_header_frame(&header, &payload)?;
        Ok(true)
    }

    /// Adds a HEADERS or CONTINUATION frame to the pending block; emits the block when it ends.
    fn take_header_frame(&mut self, header: &FrameHeader, payload: &[u8]) -> io::Result<()> {
        let fragment = match header.frame_type {
            FRAME_TYPE_HEADERS => {
                if self.pending.is_some() {
                    return Err(invalid("HEADERS inside a header block"));
                }
                self.pending = Some(PendingBlock {
                    stream_id: header.stream_id,
                    end_stream: header.flags & FLAG_END_STREAM != 0,
                    fragment: Vec::new(),
                });
                headers_fragment(header.flags, payload)?
            }
            _ => match &self.pending {
                Some(pending) if pending.stream_id == header.stream_id => payload,
                _ => return Err(invalid("CONTINUATION outside its header block")),
            },
        };
        let pending = self.pending.as_mut().expect("a header block is pending");
        if pending.fragment.len() + fragment.len() > MAX_HEADER_BLOCK_BYTES {
            return Err(invalid("header block too large"));
        }
        pending.fragment.extend_from_slice(fragment);
        if header.flags & FLAG_END_HEADERS != 0 {
            let block = self.pending.take().expect("a header block is pending");
            self.emit_block(block)?;
        }
        Ok(())
    }

    /// Decodes a whole header block, repairs its authority and writes it out as HEADERS (and
    /// CONTINUATION) frames of at most `EMITTED_FRAME_PAYLOAD_BYTES`.
    fn emit_block(&mut self, block: PendingBlock) -> io::Result<()> {
        let mut encoded = Vec::with_capacity(block.fragment.len() * 2);
        let mut field_count = 0usize;
        self.decoder
            .decode_with_cb(&block.fragment, |name, value| {
                field_count += 1;
                let value = if name.as_ref() == b":authority" { without_scheme(&value) } else { &value };
                encode_literal(&name, value, &mut encoded);
            })
            .map_err(|error| invalid(&format!("header block does not decode: {error:?}")))?;
        assert!(encoded.len() >= field_count * 3, "each literal field takes at least three bytes");
        let chunks: Vec<&[u8]> = if encoded.is_empty() {
            vec![&[][..]]
        } else {
            encoded.chunks(EMITTED_FRAME_PAYLOAD_BYTES).collect()
        };
        let last = chunks.len() - 1;
        for (index, chunk) in chunks.into_iter().enumerate() {
            let frame_type = if index == 0 { FRAME_TYPE_HEADERS } else { FRAME_TYPE_CONTINUATION };
            let mut flags = 0;
            if index == 0 && block.end_stream {
                flags |= FLAG_END_STREAM;
            }
            if index == last {
                flags |= FLAG_END_HEADERS;
            }
            FrameHeader { length: chunk.len(), frame_type, flags, stream_id: block.stream_id }
                .write(&mut self.output);
            self.output.put_slice(chunk);
        }
        Ok(())
    }
}

/// The header block fragment of a HEADERS payload, without its padding and priority fields.
fn headers_fragment(flags: u8, payload: &[u8]) -> io::Result<&[u8]> {
    let mut start = 0;
    let mut end = payload.len();
    if flags & FLAG_PADDED != 0 {
        let padding =
            *payload.first().ok_or_else(|| invalid("padded HEADERS without a pad length"))? as usize;
        start = 1;
        end = end.checked_sub(padding).ok_or_else(|| invalid("HEADERS padding longer than the frame"))?;
    }
    if flags & FLAG_PRIORITY != 0 {
        start += 5;
    }
    if start > end {
        return Err(invalid("HEADERS too short for its flags"));
    }
    Ok(&payload[start..end])
}

/// `http://host:port[/...]` becomes `host:port`; anything without a scheme is left alone.
fn without_scheme(value: &[u8]) -> &[u8] {
    let Some(position) = value.windows(3).position(|window| window == b"://") else {
        return value;
    };
    let rest = &value[position + 3..];
    let end = rest.iter().position(|&byte| byte == b'/').unwrap_or(rest.len());
    &rest[..end]
}

/// A literal header field without indexing and with a literal name (RFC 7541 §6.2.2), no Huffman.
fn encode_literal(name: &[u8], value: &[u8], encoded: &mut Vec<u8>) {
    encoded.push(0x00);
    encode_string(name, encoded);
    encode_string(value, encoded);
}

fn encode_string(text: &[u8], encoded: &mut Vec<u8>) {
    encode_integer(text.len(), 7, 0x00, encoded);
    encoded.extend_from_slice(text);
}

/// RFC 7541 §5.1: `value` with an `prefix_bits`-bit prefix, the first byte's high bits from `flags`.
fn encode_integer(value: usize, prefix_bits: u32, flags: u8, encoded: &mut Vec<u8>) {
    let limit = (1usize << prefix_bits) - 1;
    if value < limit {
        encoded.push(flags | value as u8);
        return;
    }
    encoded.push(flags | limit as u8);
    let mut rest = value - limit;
    // A usize needs at most ten 7-bit groups.
    for _ in 0..10 {
        if rest < 128 {
            encoded.push(rest as u8);
            return;
        }
        encoded.push((rest % 128 + 128) as u8);
        rest /= 128;
    }
    unreachable!("a usize has at most ten 7-bit groups");
}

struct FrameHeader {
    length: usize,
    frame_type: u8,
    flags: u8,
    stream_id: u32,
}

impl FrameHeader {
    fn parse(bytes: &[u8]) -> FrameHeader {
        assert_eq!(bytes.len(), FRAME_HEADER_BYTES);
        FrameHeader {
            length: (bytes[0] as usize) << 16 | (bytes[1] as usize) << 8 | bytes[2] as usize,
            frame_type: bytes[3],
            flags: bytes[4],
            stream_id: u32::from_be_bytes([bytes[5], bytes[6], bytes[7], bytes[8]]) & 0x7fff_ffff,
        }
    }

    fn write(&self, output: &mut BytesMut) {
        assert!(self.length < 1 << 24, "a frame length fits 24 bits");
        output.put_u8((self.length >> 16) as u8);
        output.put_u16((self.length & 0xffff) as u16);
        output.put_u8(self.frame_type);
        output.put_u8(self.flags);
        output.put_u32(self.stream_id);
    }
}

fn invalid(reason: &str) -> io::Error {
    io::Error::new(io::ErrorKind::InvalidData, format!("http2: {reason}"))
}

impl<S: AsyncRead + Unpin> AsyncRead for AuthorityRepair<S> {
    fn poll_read(
        mut self: Pin<&mut Self>,
        context: &mut Context<'_>,
        buffer: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        let this = &mut *self;
        // Each turn either hands out bytes, finishes, or reads more; a read that yields nothing
        // new is followed by a pending or closed socket, so the loop ends.
        loop {
            if !this.output.is_empty() {
                let count = this.output.len().min(buffer.remaining());
                buffer.put_slice(&this.output.split_to(count));
                return Poll::Ready(Ok(()));
            }
            if this.input_closed {
                return Poll::Ready(Ok(()));
            }
            let mut chunk = [0u8; READ_CHUNK_BYTES];
            let mut chunk_buffer = ReadBuf::new(&mut chunk);
            ready!(Pin::new(&mut this.inner).poll_read(context, &mut chunk_buffer))?;
            if chunk_buffer.filled().is_empty() {
                this.input_closed = true;
                continue;
            }
            this.input.extend_from_slice(chunk_buffer.filled());
            this.process()?;
        }
    }
}

impl<S: AsyncWrite + Unpin> AsyncWrite for AuthorityRepair<S> {
    fn poll_write(
        mut self: Pin<&mut Self>,
        context: &mut Context<'_>,
        bytes: &[u8],
    ) -> Poll<io::Result<usize>> {
        Pin::new(&mut self.inner).poll_write(context, bytes)
    }

    fn poll_flush(mut self: Pin<&mut Self>, context: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.inner).poll_flush(context)
    }

    fn poll_shutdown(mut self: Pin<&mut Self>, context: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.inner).poll_shutdown(context)
    }

    fn poll_write_vectored(
        mut self: Pin<&mut Self>,
        context: &mut Context<'_>,
        buffers: &[io::IoSlice<'_>],
    ) -> Poll<io::Result<usize>> {
        Pin::new(&mut self.inner).poll_write_vectored(context, buffers)
    }

    fn is_write_vectored(&self) -> bool {
        self.inner.is_write_vectored()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn frame(frame_type: u8, flags: u8, stream_id: u32, payload: &[u8]) -> Vec<u8> {
        let mut output = BytesMut::new();
        FrameHeader { length: payload.len(), frame_type, flags, stream_id }.write(&mut output);
        output.put_slice(payload);
        output.to_vec()
    }

    fn repaired(bytes: &[u8]) -> io::Result<Vec<u8>> {
        let mut repair = AuthorityRepair::new(tokio::io::empty());
        // Feed one byte at a time: frames split anywhere must come out the same.
        for &byte in bytes {
            repair.input.put_u8(byte);
            repair.process()?;
        }
        Ok(repair.output.to_vec())
    }

    fn decode_headers(bytes: &[u8]) -> Vec<(Vec<u8>, Vec<u8>)> {
        let header = FrameHeader::parse(&bytes[..FRAME_HEADER_BYTES]);
        assert_eq!(header.frame_type, FRAME_TYPE_HEADERS);
        let block = &bytes[FRAME_HEADER_BYTES..FRAME_HEADER_BYTES + header.length];
        loona_hpack::Decoder::new().decode(block).expect("our encoding decodes")
    }

    fn encode_with_client_table(headers: &[(&[u8], &[u8])]) -> Vec<u8> {
        let mut encoder = loona_hpack::Encoder::new();
        encoder.encode(headers.iter().map(|(name, value)| (*name, *value)))
    }

    #[test]
    fn an_authority_with_a_scheme_loses_the_scheme_and_everything_else_passes_unchanged() {
        let block = encode_with_client_table(&[
            (b":method", b"POST"),
            (b":authority", b"http://127.0.0.1:2379"),
            (b":path", b"/etcdserverpb.Maintenance/Status"),
        ]);
        let mut input = b"PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n".to_vec();
        input.extend(frame(0x4, 0, 0, &[0, 3, 0, 0, 0, 100]));
        input.extend(frame(FRAME_TYPE_HEADERS, FLAG_END_HEADERS, 1, &block));
        input.extend(frame(0x0, FLAG_END_STREAM, 1, b"\0\0\0\0\0"));
        let output = repaired(&input).expect("a valid connection");
        assert_eq!(&output[..24 + 15], &input[..24 + 15], "preface and settings pass byte for byte");
        let headers_start = 24 + 15;
        let headers = decode_headers(&output[headers_start..]);
        assert_eq!(headers[1], (b":authority".to_vec(), b"127.0.0.1:2379".to_vec()));
        assert_eq!(headers[2].1, b"/etcdserverpb.Maintenance/Status".to_vec());
        assert!(output.ends_with(&frame(0x0, FLAG_END_STREAM, 1, b"\0\0\0\0\0")));
    }

    #[test]
    fn padded_prioritized_and_continued_blocks_come_out_as_one_plain_block() {
        let block =
            encode_with_client_table(&[(b":authority", b"https://member:2379/"), (b"te", b"trailers")]);
        let (first, second) = block.split_at(block.len() / 2);
        let mut payload = vec![2u8];
        payload.extend([0, 0, 0, 0, 16]);
        payload.extend(first);
        payload.extend([0, 0]);
        let mut input = b"PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n".to_vec();
        input.extend(frame(FRAME_TYPE_HEADERS, FLAG_PADDED | FLAG_PRIORITY | FLAG_END_STREAM, 3, &payload));
        input.extend(frame(FRAME_TYPE_CONTINUATION, FLAG_END_HEADERS, 3, second));
        let output = repaired(&input).expect("a valid connection");
        let header = FrameHeader::parse(&output[24..24 + FRAME_HEADER_BYTES]);
        assert_eq!((header.flags, header.stream_id), (FLAG_END_STREAM | FLAG_END_HEADERS, 3));
        let headers = decode_headers(&output[24..]);
        assert_eq!(headers[0], (b":authority".to_vec(), b"member:2379".to_vec()));
        assert_eq!(headers[1], (b"te".to_vec(), b"trailers".to_vec()));
    }

    #[test]
    fn broken_header_blocks_end_the_connection_with_an_error() {
        let mut input = b"PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n".to_vec();
        input.extend(frame(FRAME_TYPE_CONTINUATION, FLAG_END_HEADERS, 1, b"\x82"));
        assert!(repaired(&input).is_err(), "CONTINUATION without HEADERS");
        let mut input = b"PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n".to_vec();
        input.extend(frame(FRAME_TYPE_HEADERS, FLAG_END_HEADERS, 1, b"\xff\xff\xff\xff"));
        assert!(repaired(&input).is_err(), "an index past every table");
        let mut input = b"PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n".to_vec();
        input.extend(frame(FRAME_TYPE_HEADERS, FLAG_PADDED | FLAG_END_HEADERS, 1, b"\x09\x82"));
        assert!(repaired(&input).is_err(), "padding longer than the frame");
    }

    #[test]
    fn integers_use_the_prefix_then_seven_bit_groups() {
        let mut encoded = Vec::new();
        encode_integer(1337, 5, 0, &mut encoded);
        assert_eq!(encoded, vec![31, 154, 10], "RFC 7541 C.1.2");
        assert_eq!(without_scheme(b"localhost:2379"), b"localhost:2379");
        assert_eq!(without_scheme(b"http://a:1/x"), b"a:1");
    }
}
