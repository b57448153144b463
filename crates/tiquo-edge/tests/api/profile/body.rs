//! The request body as a whole: not a JSON object, invalid JSON, wrong
//! Content-Type, no linked customer, and the 64 KiB limit with and without
//! Content-Length.

use super::*;

crate::both_backends!(
    bodies_that_are_not_json_objects_are_invalid_requests,
    content_type_must_be_json,
    patch_without_customer_is_no_customer_profile,
    body_over_64_kib_is_payload_too_large,
    chunked_body_over_64_kib_is_payload_too_large,
);

fn json_body_of_len(len: usize) -> String {
    let frame = r#"{"displayName":""}"#.len();
    let body = format!(r#"{{"displayName":"{}"}}"#, "x".repeat(len - frame));
    assert_eq!(body.len(), len);
    body
}

/// Sends `PATCH /profile` over a plain TCP connection with
/// `Transfer-Encoding: chunked` and no `Content-Length`; returns status and body.
async fn patch_chunked(app: &TestApp, token: &str, body: String) -> (u16, Value) {
    let address = app
        .base
        .strip_prefix("http://")
        .expect("http base")
        .to_owned();
    let head = format!(
        "PATCH /api/client/v1/profile HTTP/1.1\r\nHost: {address}\r\n\
         Authorization: Bearer {token}\r\nContent-Type: application/json\r\n\
         Transfer-Encoding: chunked\r\nConnection: close\r\n\r\n"
    );
    let raw = tokio::task::spawn_blocking(move || {
        let mut stream = std::net::TcpStream::connect(&address).expect("connect");
        // A guard against hanging forever, not an assertion about time.
        stream
            .set_read_timeout(Some(std::time::Duration::from_secs(60)))
            .unwrap();
        let mut request = head.into_bytes();
        for chunk in body.as_bytes().chunks(4096) {
            request.extend_from_slice(format!("{:x}\r\n", chunk.len()).as_bytes());
            request.extend_from_slice(chunk);
            request.extend_from_slice(b"\r\n");
        }
        request.extend_from_slice(b"0\r\n\r\n");
        // The server may answer and close before reading everything.
        let _ = stream.write_all(&request);
        let mut response = Vec::new();
        let read = stream.read_to_end(&mut response);
        assert!(
            read.is_ok() || !response.is_empty(),
            "no response: {read:?}"
        );
        response
    })
    .await
    .expect("raw client");
    parse_http_response(&raw)
}

/// Status and JSON body of a raw HTTP/1.1 response (chunked or not).
fn parse_http_response(raw: &[u8]) -> (u16, Value) {
    let text = String::from_utf8_lossy(raw);
    let (head, body) = text.split_once("\r\n\r\n").expect("response head");
    let status = head
        .split(' ')
        .nth(1)
        .and_then(|s| s.parse().ok())
        .unwrap_or_else(|| panic!("status line: {head}"));
    let chunked = head
        .lines()
        .any(|l| l.to_ascii_lowercase().starts_with("transfer-encoding:") && l.contains("chunked"));
    let body = if chunked {
        let mut decoded = String::new();
        let mut rest = body;
        while let Some((size, tail)) = rest.split_once("\r\n") {
            let size = usize::from_str_radix(size.trim(), 16).expect("chunk size");
            if size == 0 {
                break;
            }
            decoded.push_str(&tail[..size]);
            rest = &tail[size + 2..];
        }
        decoded
    } else {
        body.to_owned()
    };
    let json =
        serde_json::from_str(&body).unwrap_or_else(|e| panic!("body is not JSON ({e}): {body}"));
    (status, json)
}

// ---------------------------------------------------------------------------
// GET /profile
// ---------------------------------------------------------------------------

async fn bodies_that_are_not_json_objects_are_invalid_requests(backend: Backend) {
    let (app, token) = app_with_customer(backend).await;
    let json = Some("application/json");
    for body in [
        "[]",
        r#"["firstName"]"#,
        r#""John""#,
        "42",
        "null",
        r#"{"firstName":"#,
        r#"{firstName: "John"}"#,
        r#"{"firstName":"John"} trailing"#,
        "",
    ] {
        assert_invalid_request(&app, &token, json, body).await;
    }
}

async fn content_type_must_be_json(backend: Backend) {
    let (app, token) = app_with_customer(backend).await;
    let body = r#"{"firstName":"John"}"#;
    assert_invalid_request(&app, &token, Some("text/plain"), body).await;
    assert_invalid_request(
        &app,
        &token,
        Some("application/x-www-form-urlencoded"),
        body,
    )
    .await;
    assert_invalid_request(&app, &token, None, body).await;

    let response = patch_raw(&app, &token, Some("application/json; charset=utf-8"), body).await;
    let customer = customer_response(response).await.customer;
    assert_eq!(customer["firstName"], json!("John"));
}

// ---------------------------------------------------------------------------
// No linked customer
// ---------------------------------------------------------------------------

async fn patch_without_customer_is_no_customer_profile(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let token = app.token("user_nobody");
    for body in [seed_patch(), json!({})] {
        let error = assert_error(
            app.patch_profile(&token, &body).await,
            400,
            "no_customer_profile",
        )
        .await;
        assert_eq!(error["error"], json!(NO_CUSTOMER_MESSAGE));
        assert_error_keys(&error, false);
    }
}

// ---------------------------------------------------------------------------
// Body size limit
// ---------------------------------------------------------------------------

async fn body_over_64_kib_is_payload_too_large(backend: Backend) {
    let (app, token) = app_with_customer(backend).await;
    let before = snapshot(&app, &token).await;
    let json = Some("application/json");

    // Exactly at the limit the body is read (and refused on its merits).
    let response = patch_raw(&app, &token, json, json_body_of_len(BODY_LIMIT)).await;
    let error = assert_error(response, 400, "invalid_field").await;
    assert_eq!(error["field"], json!("displayName"));

    let response = patch_raw(&app, &token, json, json_body_of_len(BODY_LIMIT + 1)).await;
    let error = assert_error(response, 413, "payload_too_large").await;
    assert_error_keys(&error, false);

    let response = patch_raw(&app, &token, json, json_body_of_len(4 * BODY_LIMIT)).await;
    assert_error(response, 413, "payload_too_large").await;

    assert_unchanged(&app, &token, &before, "oversized bodies").await;
}

async fn chunked_body_over_64_kib_is_payload_too_large(backend: Backend) {
    let (app, token) = app_with_customer(backend).await;
    let before = snapshot(&app, &token).await;

    // A small chunked body is read normally.
    let (status, body) = patch_chunked(&app, &token, seed_patch().to_string()).await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(body["data"]["customer"]["displayName"], json!("John Smith"));
    let before_large = snapshot(&app, &token).await;
    assert_ne!(before_large, before);

    let (status, body) = patch_chunked(&app, &token, json_body_of_len(BODY_LIMIT + 1)).await;
    assert_eq!(status, 413, "{body}");
    assert_eq!(body["success"], json!(false), "{body}");
    assert_eq!(body["code"], json!("payload_too_large"), "{body}");
    assert!(
        body["error"].as_str().is_some_and(|m| !m.is_empty()),
        "{body}"
    );
    assert_timestamp(&body["timestamp"]);

    assert_unchanged(&app, &token, &before_large, "oversized chunked body").await;
}

// ---------------------------------------------------------------------------
// ETag / If-Match
// ---------------------------------------------------------------------------
