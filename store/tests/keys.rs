//! Scenarios for every keyspace operation, written from etcd 3.4's observed answers (bodies are compared
//! byte for byte; etcd's absolute indexes differ only by the writes etcd makes for itself at startup).

mod common;

use common::*;
use store::{Command, Store, WriteMethod, WriteRequest};

#[test]
fn set_then_get_a_key() {
    let mut store = Store::new();
    let set = set(&mut store, "/message", "Hello world").unwrap();
    assert_eq!(
        set.to_json(),
        "{\"action\":\"set\",\"node\":{\"key\":\"/message\",\"value\":\"Hello world\",\"modifiedIndex\":1,\"createdIndex\":1}}\n"
    );
    assert_eq!(set.http_status(), 201, "a set that creates answers 201");
    assert_eq!(set.etcd_index, 1);
    let get = get(&store, "/message").unwrap();
    assert_eq!(
        get.to_json(),
        "{\"action\":\"get\",\"node\":{\"key\":\"/message\",\"value\":\"Hello world\",\"modifiedIndex\":1,\"createdIndex\":1}}\n"
    );
    assert_eq!(get.etcd_index, 1);
}

#[test]
fn set_over_an_existing_key_resets_created_index_and_shows_prev_node() {
    let mut store = Store::new();
    set(&mut store, "/k", "one").unwrap();
    let again = set(&mut store, "/k", "two").unwrap();
    assert_eq!(again.http_status(), 200);
    assert_eq!(
        again.to_json(),
        "{\"action\":\"set\",\"node\":{\"key\":\"/k\",\"value\":\"two\",\"modifiedIndex\":2,\"createdIndex\":2},\
         \"prevNode\":{\"key\":\"/k\",\"value\":\"one\",\"modifiedIndex\":1,\"createdIndex\":1}}\n"
    );
}

#[test]
fn deeper_set_creates_parent_directories_and_listing_shows_one_level() {
    let mut store = Store::new();
    set(&mut store, "/dir/sub/leaf", "x").unwrap();
    set(&mut store, "/dir/b", "y").unwrap();
    assert_eq!(
        json(get(&store, "/dir")),
        "{\"action\":\"get\",\"node\":{\"key\":\"/dir\",\"dir\":true,\"nodes\":[\
         {\"key\":\"/dir/b\",\"value\":\"y\",\"modifiedIndex\":2,\"createdIndex\":2},\
         {\"key\":\"/dir/sub\",\"dir\":true,\"modifiedIndex\":1,\"createdIndex\":1}],\
         \"modifiedIndex\":1,\"createdIndex\":1}}\n"
    );
    assert_eq!(
        json(store.get("/dir", true, true, NOW)),
        "{\"action\":\"get\",\"node\":{\"key\":\"/dir\",\"dir\":true,\"nodes\":[\
         {\"key\":\"/dir/b\",\"value\":\"y\",\"modifiedIndex\":2,\"createdIndex\":2},\
         {\"key\":\"/dir/sub\",\"dir\":true,\"nodes\":[{\"key\":\"/dir/sub/leaf\",\"value\":\"x\",\"modifiedIndex\":1,\"createdIndex\":1}],\
         \"modifiedIndex\":1,\"createdIndex\":1}],\"modifiedIndex\":1,\"createdIndex\":1}}\n"
    );
}

#[test]
fn root_renders_without_key_or_indexes_and_is_read_only() {
    let mut store = Store::new();
    assert_eq!(json(get(&store, "/")), "{\"action\":\"get\",\"node\":{\"dir\":true}}\n");
    set(&mut store, "/a", "1").unwrap();
    assert_eq!(
        json(store.get("/", true, false, NOW)),
        "{\"action\":\"get\",\"node\":{\"dir\":true,\"nodes\":[{\"key\":\"/a\",\"value\":\"1\",\"modifiedIndex\":1,\"createdIndex\":1}]}}\n"
    );
    let error = set(&mut store, "/", "x").unwrap_err();
    assert_eq!(
        error.to_json(),
        "{\"errorCode\":107,\"message\":\"Root is read only\",\"cause\":\"/\",\"index\":1}\n"
    );
    assert_eq!(error.http_status(), 400);
    assert_eq!(delete(&mut store, "/", true, true).unwrap_err().code, 107);
    assert_eq!(update(&mut store, "/", "", None).unwrap_err().code, 107);
    assert_eq!(cas(&mut store, "/", "x", "y", 0).unwrap_err().code, 107);
    assert_eq!(store.current_index(), 1, "failed writes use no store index");
}

#[test]
fn key_not_found_names_the_first_missing_component() {
    let mut store = Store::new();
    set(&mut store, "/a", "1").unwrap();
    let error = get(&store, "/nonexist/a/b").unwrap_err();
    assert_eq!(
        error.to_json(),
        "{\"errorCode\":100,\"message\":\"Key not found\",\"cause\":\"/nonexist\",\"index\":1}\n"
    );
    assert_eq!(error.http_status(), 404);
}

#[test]
fn a_file_in_the_path_is_not_a_directory() {
    let mut store = Store::new();
    set(&mut store, "/dir/a", "1").unwrap();
    let error = set(&mut store, "/dir/a/b", "2").unwrap_err();
    assert_eq!(
        error.to_json(),
        "{\"errorCode\":104,\"message\":\"Not a directory\",\"cause\":\"/dir/a\",\"index\":1}\n"
    );
    assert_eq!(error.http_status(), 400);
    assert_eq!(get(&store, "/dir/a/b/c").unwrap_err().cause, "/dir/a");
    assert_eq!(create(&mut store, "/dir/a/b", "2").unwrap_err().code, 104);
}

#[test]
fn setting_a_value_or_dir_on_an_existing_directory_is_not_a_file() {
    let mut store = Store::new();
    mkdir(&mut store, "/d").unwrap();
    let error = set(&mut store, "/d", "v").unwrap_err();
    assert_eq!(
        error.to_json(),
        "{\"errorCode\":102,\"message\":\"Not a file\",\"cause\":\"/d\",\"index\":1}\n"
    );
    assert_eq!(error.http_status(), 403);
    assert_eq!(mkdir(&mut store, "/d").unwrap_err().code, 102, "PUT dir=true on an existing dir is 102");
}

#[test]
fn dir_true_replaces_an_existing_file_with_a_directory() {
    let mut store = Store::new();
    set(&mut store, "/f", "v").unwrap();
    let event = mkdir(&mut store, "/f").unwrap();
    assert_eq!(
        event.to_json(),
        "{\"action\":\"set\",\"node\":{\"key\":\"/f\",\"dir\":true,\"modifiedIndex\":2,\"createdIndex\":2},\
         \"prevNode\":{\"key\":\"/f\",\"value\":\"v\",\"modifiedIndex\":1,\"createdIndex\":1}}\n"
    );
}

#[test]
fn create_succeeds_once_then_key_already_exists() {
    let mut store = Store::new();
    let created = create(&mut store, "/c", "1").unwrap();
    assert_eq!(created.http_status(), 201);
    assert_eq!(
        created.to_json(),
        "{\"action\":\"create\",\"node\":{\"key\":\"/c\",\"value\":\"1\",\"modifiedIndex\":1,\"createdIndex\":1}}\n"
    );
    let error = create(&mut store, "/c", "2").unwrap_err();
    assert_eq!(
        error.to_json(),
        "{\"errorCode\":105,\"message\":\"Key already exists\",\"cause\":\"/c\",\"index\":1}\n"
    );
    assert_eq!(error.http_status(), 412);
}

#[test]
fn update_keeps_created_index_and_requires_the_key() {
    let mut store = Store::new();
    set(&mut store, "/u", "1").unwrap();
    let updated = update(&mut store, "/u", "2", None).unwrap();
    assert_eq!(
        updated.to_json(),
        "{\"action\":\"update\",\"node\":{\"key\":\"/u\",\"value\":\"2\",\"modifiedIndex\":2,\"createdIndex\":1},\
         \"prevNode\":{\"key\":\"/u\",\"value\":\"1\",\"modifiedIndex\":1,\"createdIndex\":1}}\n"
    );
    assert_eq!(update(&mut store, "/missing", "x", None).unwrap_err().code, 100);
}

#[test]
fn compare_and_swap_by_value_index_and_both() {
    let mut store = Store::new();
    set(&mut store, "/foo", "one").unwrap();
    let error = cas(&mut store, "/foo", "three", "two", 0).unwrap_err();
    assert_eq!(
        error.to_json(),
        "{\"errorCode\":101,\"message\":\"Compare failed\",\"cause\":\"[two != one]\",\"index\":1}\n"
    );
    assert_eq!(error.http_status(), 412);
    assert_eq!(cas(&mut store, "/foo", "three", "", 8).unwrap_err().cause, "[8 != 1]");
    assert_eq!(cas(&mut store, "/foo", "three", "zzz", 10).unwrap_err().cause, "[zzz != one] [10 != 1]");
    let swapped = cas(&mut store, "/foo", "three", "one", 1).unwrap();
    assert_eq!(
        swapped.to_json(),
        "{\"action\":\"compareAndSwap\",\"node\":{\"key\":\"/foo\",\"value\":\"three\",\"modifiedIndex\":2,\"createdIndex\":1},\
         \"prevNode\":{\"key\":\"/foo\",\"value\":\"one\",\"modifiedIndex\":1,\"createdIndex\":1}}\n"
    );
    mkdir(&mut store, "/dir").unwrap();
    assert_eq!(cas(&mut store, "/dir", "x", "y", 0).unwrap_err().code, 102);
    assert_eq!(cas(&mut store, "/nope", "x", "y", 0).unwrap_err().code, 100);
}

#[test]
fn delete_files_and_directories() {
    let mut store = Store::new();
    set(&mut store, "/k", "v").unwrap();
    assert_eq!(
        json(delete(&mut store, "/k", false, false)),
        "{\"action\":\"delete\",\"node\":{\"key\":\"/k\",\"modifiedIndex\":2,\"createdIndex\":1},\
         \"prevNode\":{\"key\":\"/k\",\"value\":\"v\",\"modifiedIndex\":1,\"createdIndex\":1}}\n"
    );
    set(&mut store, "/d/x", "1").unwrap();
    let not_file = delete(&mut store, "/d", false, false).unwrap_err();
    assert_eq!(
        not_file.to_json(),
        "{\"errorCode\":102,\"message\":\"Not a file\",\"cause\":\"/d\",\"index\":3}\n"
    );
    let not_empty = delete(&mut store, "/d", true, false).unwrap_err();
    assert_eq!(
        not_empty.to_json(),
        "{\"errorCode\":108,\"message\":\"Directory not empty\",\"cause\":\"/d\",\"index\":3}\n"
    );
    assert_eq!(not_empty.http_status(), 403);
    assert_eq!(
        json(delete(&mut store, "/d", false, true)),
        "{\"action\":\"delete\",\"node\":{\"key\":\"/d\",\"dir\":true,\"modifiedIndex\":4,\"createdIndex\":3},\
         \"prevNode\":{\"key\":\"/d\",\"dir\":true,\"modifiedIndex\":3,\"createdIndex\":3}}\n"
    );
    assert_eq!(get(&store, "/d/x").unwrap_err().code, 100);
    mkdir(&mut store, "/empty").unwrap();
    assert!(delete(&mut store, "/empty", true, false).is_ok(), "dir=true deletes an empty directory");
    set(&mut store, "/file", "v").unwrap();
    assert!(delete(&mut store, "/file", true, false).is_ok(), "dir=true on a file works");
}

#[test]
fn compare_and_delete() {
    let mut store = Store::new();
    set(&mut store, "/color", "red").unwrap();
    assert_eq!(cad(&mut store, "/color", "grey", 0).unwrap_err().cause, "[grey != red]");
    assert_eq!(
        json(cad(&mut store, "/color", "red", 0)),
        "{\"action\":\"compareAndDelete\",\"node\":{\"key\":\"/color\",\"modifiedIndex\":2,\"createdIndex\":1},\
         \"prevNode\":{\"key\":\"/color\",\"value\":\"red\",\"modifiedIndex\":1,\"createdIndex\":1}}\n"
    );
    mkdir(&mut store, "/dir").unwrap();
    assert_eq!(cad(&mut store, "/dir", "x", 0).unwrap_err().code, 102);
}

#[test]
fn in_order_keys_are_named_by_the_new_index() {
    let mut store = Store::new();
    set(&mut store, "/other", "x").unwrap();
    let first = post(&mut store, "/queue", "FirstValue").unwrap();
    assert_eq!(first.http_status(), 201);
    assert_eq!(
        first.to_json(),
        "{\"action\":\"create\",\"node\":{\"key\":\"/queue/00000000000000000002\",\"value\":\"FirstValue\",\"modifiedIndex\":2,\"createdIndex\":2}}\n"
    );
    let second = post(&mut store, "/queue", "SecondValue").unwrap();
    assert_eq!(second.node.key, "/queue/00000000000000000003");
    let listing = store.get("/queue", false, true, NOW).unwrap();
    let keys: Vec<&str> = listing.node.nodes.iter().map(|node| node.key.as_str()).collect();
    assert_eq!(keys, ["/queue/00000000000000000002", "/queue/00000000000000000003"]);
}

#[test]
fn hidden_keys_are_readable_but_never_listed() {
    let mut store = Store::new();
    mkdir(&mut store, "/_secret").unwrap();
    set(&mut store, "/_secret/Conf", "yes").unwrap();
    set(&mut store, "/visible/_h", "1").unwrap();
    assert_eq!(get(&store, "/_secret/Conf").unwrap().node.value.as_deref(), Some("yes"));
    assert_eq!(
        json(store.get("/", true, false, NOW)),
        "{\"action\":\"get\",\"node\":{\"dir\":true,\"nodes\":[{\"key\":\"/visible\",\"dir\":true,\"modifiedIndex\":3,\"createdIndex\":3}]}}\n"
    );
    assert_eq!(
        delete(&mut store, "/visible", true, false).unwrap_err().code,
        108,
        "hidden children still count"
    );
}

#[test]
fn paths_are_cleaned_like_go() {
    let mut store = Store::new();
    set(&mut store, "a//b/./c/../d/", "v").unwrap();
    assert_eq!(get(&store, "/a/b/d").unwrap().node.key, "/a/b/d");
    assert_eq!(get(&store, "/a/b/d/").unwrap().node.key, "/a/b/d");
}

#[test]
fn no_value_on_success_drops_nodes_from_write_answers() {
    let mut store = Store::new();
    let event = set(&mut store, "/k", "v").unwrap();
    assert_eq!(event.to_json_with(true), "{\"action\":\"set\"}\n");
    let deleted = delete(&mut store, "/k", false, false).unwrap();
    assert!(deleted.to_json_with(true).contains("prevNode"), "delete answers are not trimmed");
}

#[test]
fn json_escaping_of_values_matches_go() {
    let mut store = Store::new();
    let event = set(&mut store, "/k1", "a<b>&c\u{8}\u{c}\u{1}\u{2028}é\"\\").unwrap();
    assert_eq!(
        event.to_json(),
        "{\"action\":\"set\",\"node\":{\"key\":\"/k1\",\"value\":\"a\\u003cb\\u003e\\u0026c\\u0008\\u000c\\u0001\\u2028é\\\"\\\\\",\"modifiedIndex\":1,\"createdIndex\":1}}\n"
    );
}

#[test]
fn write_requests_route_like_etcds_applier() {
    let put = |prev_exist: Option<bool>, prev_value: Option<&str>, prev_index: u64| WriteRequest {
        method: Some(WriteMethod::Put),
        key: "/k".into(),
        value: "v".into(),
        prev_exist,
        prev_value: prev_value.map(str::to_string),
        prev_index,
        ..WriteRequest::default()
    };
    assert!(matches!(put(None, None, 0).into_command(), Command::Set { .. }));
    assert!(matches!(put(Some(true), None, 0).into_command(), Command::Update { .. }));
    assert!(matches!(put(Some(true), Some("x"), 0).into_command(), Command::CompareAndSwap { .. }));
    assert!(matches!(put(Some(false), Some("x"), 0).into_command(), Command::Create { in_order: false, .. }));
    assert!(matches!(put(None, None, 3).into_command(), Command::CompareAndSwap { prev_index: 3, .. }));
    let delete = WriteRequest {
        method: Some(WriteMethod::Delete),
        prev_value: Some("x".into()),
        ..put(None, None, 0)
    };
    assert!(matches!(delete.into_command(), Command::CompareAndDelete { .. }));
    let post = WriteRequest { method: Some(WriteMethod::Post), ..put(None, None, 0) };
    assert!(matches!(post.into_command(), Command::Create { in_order: true, .. }));
    let refresh_with_value = WriteRequest { refresh: true, ttl: Some(5), ..put(Some(true), None, 0) };
    assert_eq!(refresh_with_value.validate().unwrap_err().code, 211);
    let refresh_without_ttl =
        WriteRequest { refresh: true, value: String::new(), ..put(Some(true), None, 0) };
    assert_eq!(refresh_without_ttl.validate().unwrap_err().code, 212);
}

#[test]
fn too_deep_keys_are_rejected_without_panicking() {
    let mut store = Store::new();
    let deep = "/x".repeat(store::MAX_KEY_DEPTH + 1);
    let error = set(&mut store, &deep, "v").unwrap_err();
    assert_eq!(error.code, 209);
    let ok = "/x".repeat(store::MAX_KEY_DEPTH);
    assert!(set(&mut store, &ok, "v").is_ok());
    assert!(store.get("/", true, true, NOW).is_ok());
}
