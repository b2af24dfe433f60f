//! Bad input never panics: arbitrary server bytes, endpoint strings, durations, keys and argument lists
//! go through the client's parsers and come back as values or clear errors.

use std::io::{Read, Write};
use std::net::TcpListener;
use std::time::{Duration, Instant};

use ctl::client::parse_go_duration;
use ctl::http::{self, Deadlines, Endpoint, Request, Transport};
use ctl::keys::{self, KeysOutcome, canonical_path};
use proptest::prelude::*;

proptest! {
    #[test]
    fn any_keys_body_decodes_to_an_outcome(status in 100u16..600, body in proptest::collection::vec(any::<u8>(), 0..256)) {
        let outcome = keys::decode(status, &[], &body);
        if (status == 200 || status == 201) && body.is_empty() {
            prop_assert!(matches!(outcome, KeysOutcome::Empty));
        }
    }

    #[test]
    fn json_shaped_garbage_decodes_without_panicking(
        action in "[a-z]{0,8}",
        key in "\\PC{0,12}",
        index in any::<u64>(),
        nodes in proptest::bool::ANY,
    ) {
        let body = format!(
            r#"{{"action":"{action}","node":{{"key":{key:?},"modifiedIndex":{index},"nodes":{}}}}}"#,
            if nodes { r#"[{"key":"/x","dir":"notabool","ttl":"x"}]"# } else { "7" }
        );
        let _ = keys::decode(200, &[("x-etcd-index".to_string(), "zz".to_string())], body.as_bytes());
        let _ = keys::decode(404, &[], body.as_bytes());
    }

    #[test]
    fn endpoints_parse_or_explain(text in "\\PC{0,40}") {
        match Endpoint::parse(&text) {
            Ok(endpoint) => {
                let scheme = if endpoint.secure { "https://" } else { "http://" };
                prop_assert!(endpoint.url.starts_with(scheme) && endpoint.authority.contains(':'));
            }
            Err(reason) => prop_assert!(!reason.is_empty()),
        }
    }

    #[test]
    fn durations_parse_or_explain(text in "[0-9.a-zµ+-]{0,12}") {
        if let Err(reason) = parse_go_duration(&text) {
            prop_assert!(reason.starts_with("time: "));
        }
    }

    #[test]
    fn canonical_paths_are_clean_and_stable(key in "[a-z./]{0,24}") {
        let path = canonical_path(&key);
        prop_assert!(path.starts_with('/'));
        prop_assert!(!path.contains("//"));
        prop_assert!(!path.split('/').any(|segment| segment == "." || segment == ".."));
        prop_assert_eq!(canonical_path(&path), path.clone());
    }

    #[test]
    fn escaped_paths_are_plain_ascii(key in "\\PC{0,24}") {
        let escaped = http::escape_path(&key);
        prop_assert!(escaped.bytes().all(|byte| byte.is_ascii_graphic()));
    }
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 48, ..ProptestConfig::default() })]

    /// A "server" that answers with arbitrary bytes and hangs up: the client returns a response or an
    /// error, never panics, never waits past its deadline.
    #[test]
    fn arbitrary_server_bytes_never_panic(reply in proptest::collection::vec(any::<u8>(), 0..512), http_head in proptest::bool::ANY) {
        let listener = TcpListener::bind("127.0.0.1:0").expect("bind");
        let address = listener.local_addr().expect("address");
        let mut bytes = Vec::new();
        if http_head {
            bytes.extend_from_slice(b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n");
        }
        bytes.extend_from_slice(&reply);
        let server = std::thread::spawn(move || {
            if let Ok((mut stream, _)) = listener.accept() {
                let mut request = [0u8; 1024];
                let _ = stream.read(&mut request);
                let _ = stream.write_all(&bytes);
            }
        });
        let endpoint = Endpoint::parse(&format!("http://{address}")).expect("endpoint");
        let deadlines = Deadlines {
            header_timeout: Some(Duration::from_secs(2)),
            total: Some(Instant::now() + Duration::from_secs(2)),
        };
        let started = Instant::now();
        let _ = http::send(&Transport::plain(), &endpoint, &Request::get("/v2/keys/x".to_string()), deadlines);
        prop_assert!(started.elapsed() < Duration::from_secs(4));
        server.join().expect("server thread");
    }
}
