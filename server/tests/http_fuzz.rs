//! Bad input never panics and never changes data: random forms through the pure parser, and hostile
//! raw requests through the real server, which must keep answering afterwards.

mod http_common;

use proptest::prelude::*;
use server::http::form::Form;
use server::http::keys::{KeysMethod, parse_keys_request};

const PARAMETERS: [&str; 16] = [
    "value",
    "ttl",
    "prevValue",
    "prevIndex",
    "prevExist",
    "dir",
    "recursive",
    "sorted",
    "wait",
    "waitIndex",
    "quorum",
    "stream",
    "refresh",
    "noValueOnSuccess",
    "%zz",
    "a;b",
];

fn method() -> impl Strategy<Value = KeysMethod> {
    prop_oneof![
        Just(KeysMethod::Get),
        Just(KeysMethod::Head),
        Just(KeysMethod::Put),
        Just(KeysMethod::Post),
        Just(KeysMethod::Delete)
    ]
}

fn query() -> impl Strategy<Value = String> {
    let value = prop_oneof![
        Just(String::new()),
        Just("true".to_string()),
        Just("0".to_string()),
        Just("18446744073709551616".to_string()),
        "[ -~]{0,8}",
    ];
    proptest::collection::vec((proptest::sample::select(&PARAMETERS[..]), value), 0..8).prop_map(|pairs| {
        pairs.iter().map(|(name, value)| format!("{name}={value}")).collect::<Vec<_>>().join("&")
    })
}

proptest! {
    #[test]
    fn random_forms_parse_to_a_request_or_an_index_zero_error(
        method in method(),
        key in "(/[a-z_.%]{0,4}){0,4}/?",
        query in query(),
        raw_bytes in proptest::collection::vec(any::<u8>(), 0..64),
    ) {
        let mut form = Form::default();
        let _ = form.parse_into(query.as_bytes());
        let _ = form.parse_into(&raw_bytes);
        match parse_keys_request(method, &key, &form, 0) {
            Ok(_) => {}
            Err(error) => {
                prop_assert_eq!(error.index, 0);
                prop_assert_eq!(error.http_status(), 400);
                let json = error.to_json();
                prop_assert!(json.ends_with("}\n"), "json: {}", json);
            }
        }
    }
}

#[tokio::test]
async fn hostile_requests_get_answers_and_the_server_keeps_serving() {
    let (address, _backend) = http_common::start().await;
    http_common::form(address, "PUT", "/v2/keys/keep", "value=1").await;
    let hostile = [
        "GET /v2/keys/%ff%fe HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n".to_string(),
        "GET /v2/keys/a?value=%ff&recursive=%00 HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n".to_string(),
        "PUT /v2/keys/keep HTTP/1.1\r\nHost: x\r\nContent-Type: application/x-www-form-urlencoded\r\n\
         Content-Length: 5\r\nConnection: close\r\n\r\n%%%%%"
            .to_string(),
        "PUT /v2/keys/keep HTTP/1.1\r\nHost: x\r\nContent-Length: 99999999999\r\nConnection: close\r\n\r\nx"
            .to_string(),
        "POST /v2/members HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\nContent-Length: 9\r\n\
         Connection: close\r\n\r\n[1,2,{}]]"
            .to_string(),
        "DELETE /v2/members/ffffffffffffffffff HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n".to_string(),
        "GARBAGE\r\n\r\n".to_string(),
        format!("GET /v2/keys/{} HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n", "a/".repeat(5000)),
        format!(
            "GET /v2/keys/a HTTP/1.1\r\nHost: x\r\nX-Big: {}\r\nConnection: close\r\n\r\n",
            "b".repeat(100_000)
        ),
    ];
    for request in &hostile {
        let answer = http_common::raw(address, request).await;
        let status_line = answer.lines().next().unwrap_or("");
        assert!(
            answer.is_empty() || status_line.starts_with("HTTP/1.1 4"),
            "expected a 4xx or a closed connection for {:?}: {status_line}",
            &request[..request.len().min(60)]
        );
    }
    let kept = http_common::get(address, "/v2/keys/keep").await;
    assert!(kept.body.contains("\"value\":\"1\""), "data unchanged: {}", kept.body);
}
