//! The size limit of an upload (smaller than 5 MiB, with and without a
//! Content-Length) and uploads that are cut off: nothing is left behind and
//! the ticket stays usable. Bodies without a Content-Length and clients that
//! vanish need a hand-written HTTP/1.1 client on a raw socket.

use std::time::Duration;

use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

use super::upload::{assert_nothing_left, storage_id_of};
use super::{
    MAX_ACCEPTED, attach, cleanup_rows, fetch, jpeg, object_rows, png, stored_keys, upload,
    upload_url,
};
use crate::helpers::{Backend, Storage, TestApp, assert_error, json_of};

/// A connection to the app and the request line plus headers for `url`,
/// ending in the blank line.
async fn open(app: &TestApp, url: &str, headers: &[(&str, String)]) -> (TcpStream, String) {
    let path = url.strip_prefix(&app.base).expect("a URL of this app");
    let host = app.base.trim_start_matches("http://");
    let stream = TcpStream::connect(host).await.expect("connect");
    let mut head = format!("POST {path} HTTP/1.1\r\nHost: {host}\r\nConnection: close\r\n");
    for (name, value) in headers {
        head.push_str(&format!("{name}: {value}\r\n"));
    }
    head.push_str("\r\n");
    (stream, head)
}

/// Reads the answer to the end of the connection, as a `reqwest::Response`
/// (for `json_of` and `assert_error`).
async fn read_response(stream: &mut TcpStream) -> reqwest::Response {
    let mut raw = Vec::new();
    let read = tokio::time::timeout(Duration::from_secs(20), stream.read_to_end(&mut raw)).await;
    assert!(read.is_ok(), "no complete answer within 20 s");
    // A reset after the answer is fine: what arrived is in `raw`.
    let end = raw
        .windows(4)
        .position(|w| w == b"\r\n\r\n")
        .unwrap_or_else(|| panic!("no HTTP answer: {}", String::from_utf8_lossy(&raw)));
    let head = String::from_utf8_lossy(&raw[..end]).to_string();
    let mut rest = raw[end + 4..].to_vec();
    let mut lines = head.split("\r\n");
    let status: u16 = lines
        .next()
        .and_then(|l| l.split(' ').nth(1))
        .and_then(|s| s.parse().ok())
        .unwrap_or_else(|| panic!("bad status line: {head}"));
    let mut builder = axum::http::Response::builder().status(status);
    let mut chunked = false;
    for line in lines {
        let (name, value) = line.split_once(':').expect("header line");
        let value = value.trim();
        if name.eq_ignore_ascii_case("transfer-encoding") {
            chunked = value.eq_ignore_ascii_case("chunked");
            continue;
        }
        builder = builder.header(name, value);
    }
    if chunked {
        rest = dechunk(&rest);
    }
    reqwest::Response::from(builder.body(rest).unwrap())
}

/// Decodes a chunked body.
fn dechunk(mut data: &[u8]) -> Vec<u8> {
    let mut body = Vec::new();
    loop {
        let eol = data.windows(2).position(|w| w == b"\r\n").expect("size");
        let size_text = String::from_utf8_lossy(&data[..eol]).to_string();
        let size = usize::from_str_radix(size_text.split(';').next().unwrap().trim(), 16).unwrap();
        if size == 0 {
            return body;
        }
        body.extend_from_slice(&data[eol + 2..eol + 2 + size]);
        data = &data[eol + 2 + size + 2..];
    }
}

/// POSTs `bytes` with `Transfer-Encoding: chunked` (so no Content-Length),
/// in pieces of 64 KiB.
async fn upload_chunked(
    app: &TestApp,
    url: &str,
    content_type: &str,
    bytes: &[u8],
) -> reqwest::Response {
    let headers = [
        ("Content-Type", content_type.to_owned()),
        ("Transfer-Encoding", "chunked".to_owned()),
    ];
    let (mut stream, head) = open(app, url, &headers).await;
    let mut wire = head.into_bytes();
    for piece in bytes.chunks(64 * 1024) {
        wire.extend_from_slice(format!("{:x}\r\n", piece.len()).as_bytes());
        wire.extend_from_slice(piece);
        wire.extend_from_slice(b"\r\n");
    }
    wire.extend_from_slice(b"0\r\n\r\n");
    // The server may answer and close before everything is written; the
    // answer is what counts.
    let _ = stream.write_all(&wire).await;
    read_response(&mut stream).await
}

crate::storage_matrix!(
    largest_accepted_image_is_stored_whole,
    five_mib_with_content_length_is_refused,
    five_mib_without_content_length_is_cut_off,
    a_client_told_to_continue_still_gets_the_refusal,
    interrupted_upload_leaves_nothing_and_the_ticket_stays_usable,
);

async fn largest_accepted_image_is_stored_whole(backend: Backend, storage: Storage) {
    let app = TestApp::spawn_on(backend, storage, &[]).await;
    let (_, token) = app.customer_with_token("largest@example.com");
    let bytes = jpeg(MAX_ACCEPTED);

    // With a Content-Length.
    let url = upload_url(&app, &token).await;
    let id = storage_id_of(upload(&app, &url, Some("image/jpeg"), bytes.clone()).await).await;
    json_of(attach(&app, &token, &id).await, 200).await;
    let served = fetch(&app, &id).await;
    assert_eq!(served.status(), 200);
    assert_eq!(
        served.headers()["content-length"],
        MAX_ACCEPTED.to_string().as_str()
    );
    let served = served.bytes().await.unwrap();
    assert_eq!(served.len(), MAX_ACCEPTED);
    assert!(served.as_ref() == bytes.as_slice(), "served bytes differ");

    // Streamed without one.
    let url = upload_url(&app, &token).await;
    let id = storage_id_of(upload_chunked(&app, &url, "image/jpeg", &bytes).await).await;
    json_of(attach(&app, &token, &id).await, 200).await;
    let served = fetch(&app, &id).await;
    assert_eq!(
        served.headers()["content-length"],
        MAX_ACCEPTED.to_string().as_str()
    );
    assert!(served.bytes().await.unwrap().as_ref() == bytes.as_slice());
}

async fn five_mib_with_content_length_is_refused(backend: Backend, storage: Storage) {
    let app = TestApp::spawn_on(backend, storage, &[]).await;
    let (_, token) = app.customer_with_token("toolarge@example.com");
    let url = upload_url(&app, &token).await;

    let response = upload(&app, &url, Some("image/jpeg"), jpeg(MAX_ACCEPTED + 1)).await;
    assert_error(response, 413, "payload_too_large").await;
    assert_nothing_left(&app, "a 5 MiB upload").await;

    // The refusal comes from the declared length alone: a client that waits
    // for the verdict before sending (`Expect: 100-continue`) gets it at once.
    let headers = [
        ("Content-Type", "image/jpeg".to_owned()),
        ("Content-Length", (MAX_ACCEPTED + 1).to_string()),
        ("Expect", "100-continue".to_owned()),
    ];
    let (mut stream, head) = open(&app, &url, &headers).await;
    stream.write_all(head.as_bytes()).await.unwrap();
    let started = tokio::time::Instant::now();
    let response = read_response(&mut stream).await;
    assert!(
        started.elapsed() < Duration::from_secs(3),
        "the answer took {:?}",
        started.elapsed()
    );
    assert_error(response, 413, "payload_too_large").await;
    assert_nothing_left(&app, "a declared 5 MiB upload").await;

    let id = storage_id_of(upload(&app, &url, Some("image/png"), png(1000)).await).await;
    assert_eq!(stored_keys(&app).await, vec![format!("photos/{id}")]);
}

async fn five_mib_without_content_length_is_cut_off(backend: Backend, storage: Storage) {
    let app = TestApp::spawn_on(backend, storage, &[]).await;
    let (_, token) = app.customer_with_token("streamed@example.com");
    let url = upload_url(&app, &token).await;

    let response = upload_chunked(&app, &url, "image/jpeg", &jpeg(MAX_ACCEPTED + 1)).await;
    assert_error(response, 413, "payload_too_large").await;
    assert_nothing_left(&app, "a streamed 5 MiB upload").await;

    let id = storage_id_of(upload(&app, &url, Some("image/png"), png(1000)).await).await;
    assert_eq!(stored_keys(&app).await, vec![format!("photos/{id}")]);
    assert_eq!(object_rows(&app).await, 1);
}

async fn interrupted_upload_leaves_nothing_and_the_ticket_stays_usable(
    backend: Backend,
    storage: Storage,
) {
    let app = TestApp::spawn_on(backend, storage, &[]).await;
    let (_, token) = app.customer_with_token("vanished@example.com");
    let url = upload_url(&app, &token).await;

    let headers = [
        ("Content-Type", "image/jpeg".to_owned()),
        ("Content-Length", "3000000".to_owned()),
    ];
    let (mut stream, head) = open(&app, &url, &headers).await;
    stream.write_all(head.as_bytes()).await.unwrap();
    stream.write_all(&jpeg(100_000)).await.unwrap();
    stream.flush().await.unwrap();
    // Let the server start storing before the client vanishes (it queues
    // the object for cleanup first; go on after a while regardless).
    for _ in 0..20 {
        if cleanup_rows(&app).await > 0 {
            break;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    drop(stream);

    let mut settled = false;
    for _ in 0..50 {
        tokio::time::sleep(Duration::from_millis(100)).await;
        if cleanup_rows(&app).await == 0 {
            settled = true;
            break;
        }
    }
    assert!(settled, "the interrupted upload is still queued after 5 s");
    assert_nothing_left(&app, "an interrupted upload").await;

    let bytes = jpeg(3_000_000);
    let id = storage_id_of(upload(&app, &url, Some("image/jpeg"), bytes.clone()).await).await;
    json_of(attach(&app, &token, &id).await, 200).await;
    let served = fetch(&app, &id).await;
    assert!(served.bytes().await.unwrap().as_ref() == bytes.as_slice());
    assert_eq!(stored_keys(&app).await, vec![format!("photos/{id}")]);
}

/// `Expect: 100-continue` without a Content-Length: the server must read to
/// find the size, which sends `100 Continue`, so the client streams; when it
/// passes the limit the answer must still reach it (drained, not reset).
async fn a_client_told_to_continue_still_gets_the_refusal(backend: Backend, storage: Storage) {
    let app = TestApp::spawn_on(backend, storage, &[]).await;
    let (_, token) = app.customer_with_token("continued@example.com");
    let url = upload_url(&app, &token).await;
    let headers = [
        ("Content-Type", "image/jpeg".to_owned()),
        ("Transfer-Encoding", "chunked".to_owned()),
        ("Expect", "100-continue".to_owned()),
    ];
    let (mut stream, head) = open(&app, &url, &headers).await;
    stream.write_all(head.as_bytes()).await.unwrap();
    let mut interim = Vec::new();
    while !interim.ends_with(b"\r\n\r\n") {
        let mut byte = [0u8; 1];
        let read = tokio::time::timeout(Duration::from_secs(10), stream.read(&mut byte))
            .await
            .expect("an interim answer within 10 s")
            .unwrap();
        assert_eq!(read, 1, "connection closed before 100 Continue");
        interim.push(byte[0]);
    }
    let interim = String::from_utf8_lossy(&interim).to_string();
    assert!(interim.starts_with("HTTP/1.1 100"), "{interim}");
    let mut wire = Vec::new();
    for piece in jpeg(MAX_ACCEPTED + 1024 * 1024).chunks(64 * 1024) {
        wire.extend_from_slice(format!("{:x}\r\n", piece.len()).as_bytes());
        wire.extend_from_slice(piece);
        wire.extend_from_slice(b"\r\n");
    }
    wire.extend_from_slice(b"0\r\n\r\n");
    let _ = stream.write_all(&wire).await;
    assert_error(read_response(&mut stream).await, 413, "payload_too_large").await;
    assert_nothing_left(&app, "a continued upload past the limit").await;
}
