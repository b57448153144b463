//! Step 2, the upload: which images are accepted, single-use tickets,
//! concurrent uploads, and the upload-URL endpoint that hands tickets out.
//! Size limits and interrupted uploads are in `upload_limits.rs`.

use std::collections::HashSet;
use std::time::Duration;

use serde_json::json;

use super::{
    AVIF_MAGIC, GIF_MAGIC, JPEG_MAGIC, PNG_MAGIC, WEBP_MAGIC, attach, cleanup_rows, fetch, image,
    object_rows, png, request_upload_url, stored_keys, upload, upload_url,
};
use crate::helpers::{Backend, Storage, TestApp, assert_error, assert_timestamp, json_of};

/// The accepted types and bytes each is recognised by.
const ACCEPTED: [(&str, &[u8]); 5] = [
    ("image/jpeg", JPEG_MAGIC),
    ("image/png", PNG_MAGIC),
    ("image/gif", GIF_MAGIC),
    ("image/webp", WEBP_MAGIC),
    ("image/avif", AVIF_MAGIC),
];

/// URL-safe and long enough to carry 128 random bits (22 base64url characters).
pub(super) fn assert_unguessable(what: &str, value: &str) {
    assert!(value.len() >= 22, "{what} too short: {value}");
    assert!(
        value
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_'),
        "{what} is not URL-safe: {value}"
    );
}

/// The storageId of a successful upload answer.
pub(super) async fn storage_id_of(response: reqwest::Response) -> String {
    let body = json_of(response, 200).await;
    assert_eq!(body["success"], json!(true), "{body}");
    let id = body["data"]["storageId"]
        .as_str()
        .unwrap_or_else(|| panic!("no storageId: {body}"))
        .to_owned();
    assert_unguessable("storageId", &id);
    id
}

/// Once the server has answered a refused upload: no object (staging files
/// included), no row, no queued deletion.
pub(super) async fn assert_nothing_left(app: &TestApp, after: &str) {
    assert_eq!(
        stored_keys(app).await,
        Vec::<String>::new(),
        "after {after}"
    );
    assert_eq!(object_rows(app).await, 0, "after {after}");
    assert_eq!(cleanup_rows(app).await, 0, "after {after}");
}

crate::storage_matrix!(
    each_accepted_type_is_stored_and_served_as_declared,
    wrong_or_unsupported_types_are_refused_and_the_ticket_stays_usable,
    used_expired_and_unknown_tickets_get_the_same_answer,
    concurrent_uploads_by_one_customer_all_succeed,
    one_ticket_in_concurrent_uploads_succeeds_once,
    upload_url_endpoint,
    upload_route_accepts_cross_origin_requests,
);

async fn each_accepted_type_is_stored_and_served_as_declared(backend: Backend, storage: Storage) {
    let app = TestApp::spawn_on(backend, storage, &[]).await;
    let (_, token) = app.customer_with_token("types@example.com");
    let mut ids = HashSet::new();
    for (mime, magic) in ACCEPTED {
        let bytes = image(magic, 2000);
        let url = upload_url(&app, &token).await;
        let id = storage_id_of(upload(&app, &url, Some(mime), bytes.clone()).await).await;
        json_of(attach(&app, &token, &id).await, 200).await;
        let served = fetch(&app, &id).await;
        assert_eq!(served.status(), 200, "{mime}");
        assert_eq!(served.headers()["content-type"], mime);
        assert_eq!(served.bytes().await.unwrap().to_vec(), bytes, "{mime}");
        assert!(ids.insert(id.clone()), "storageId {id} handed out twice");
    }
    assert_eq!(ids.len(), ACCEPTED.len());
}

async fn wrong_or_unsupported_types_are_refused_and_the_ticket_stays_usable(
    backend: Backend,
    storage: Storage,
) {
    let app = TestApp::spawn_on(backend, storage, &[]).await;
    let (_, token) = app.customer_with_token("refused@example.com");
    let url = upload_url(&app, &token).await;
    let html = b"<!DOCTYPE html><html><body>not an image</body></html>".to_vec();
    let svg = br#"<svg xmlns="http://www.w3.org/2000/svg" width="1" height="1"></svg>"#.to_vec();
    // (declared type, bytes, whether the declared type itself is unsupported)
    let cases: Vec<(Option<&str>, Vec<u8>, bool)> = vec![
        (Some("image/jpeg"), png(1000), false),
        (Some("image/png"), html, false),
        (Some("image/svg+xml"), svg.clone(), true),
        (Some("image/png"), svg, false),
        (None, png(1000), true),
        (Some("application/octet-stream"), png(1000), true),
        (Some("image/png"), Vec::new(), false),
    ];
    for (declared, bytes, unsupported) in cases {
        let what = format!("{declared:?} with {} bytes", bytes.len());
        let body = assert_error(
            upload(&app, &url, declared, bytes).await,
            415,
            "unsupported_media_type",
        )
        .await;
        if unsupported {
            let message = body["error"].as_str().unwrap();
            for (mime, _) in ACCEPTED {
                assert!(message.contains(mime), "{what}: {message} lacks {mime}");
            }
        }
        assert_nothing_left(&app, &what).await;
    }
    // Every refusal left the ticket unused.
    let id = storage_id_of(upload(&app, &url, Some("image/png"), png(1000)).await).await;
    assert_eq!(stored_keys(&app).await, vec![format!("photos/{id}")]);
    assert_eq!(object_rows(&app).await, 1);
}

async fn used_expired_and_unknown_tickets_get_the_same_answer(backend: Backend, storage: Storage) {
    let app = TestApp::spawn_on(backend, storage, &["--upload-url-ttl", "1"]).await;
    let (_, token) = app.customer_with_token("tickets@example.com");
    let before = now_ms();
    let body = json_of(request_upload_url(&app, &token).await, 200).await;
    let issued = tokio::time::Instant::now();
    let expiring = body["data"]["uploadUrl"].as_str().unwrap().to_owned();
    // `--upload-url-ttl 1`: valid for one second.
    let lifetime = iso_ms(body["data"]["expiresAt"].as_str().unwrap()) - before;
    assert!(
        (990..=1500).contains(&lifetime),
        "expiresAt is {lifetime} ms away"
    );

    let used = upload_url(&app, &token).await;
    let id = storage_id_of(upload(&app, &used, Some("image/png"), png(1000)).await).await;
    let again = assert_error(
        upload(&app, &used, Some("image/png"), png(1000)).await,
        404,
        "upload_url_invalid",
    )
    .await;

    tokio::time::sleep_until(issued + Duration::from_millis(1300)).await;
    let expired = assert_error(
        upload(&app, &expiring, Some("image/png"), png(1000)).await,
        404,
        "upload_url_invalid",
    )
    .await;

    let ticket = tiquo_edge::domain::random_id("", 32);
    let unknown_url = app.api(&format!("/storage/upload/{ticket}"));
    let unknown = assert_error(
        upload(&app, &unknown_url, Some("image/png"), png(1000)).await,
        404,
        "upload_url_invalid",
    )
    .await;

    assert_eq!(again["error"], expired["error"]);
    assert_eq!(again["error"], unknown["error"]);
    // Only the first upload is kept.
    assert_eq!(stored_keys(&app).await, vec![format!("photos/{id}")]);
    assert_eq!(object_rows(&app).await, 1);
    assert_eq!(cleanup_rows(&app).await, 0);
}

async fn concurrent_uploads_by_one_customer_all_succeed(backend: Backend, storage: Storage) {
    let app = TestApp::spawn_on(backend, storage, &[]).await;
    let (_, token) = app.customer_with_token("parallel@example.com");
    let mut urls = Vec::new();
    for _ in 0..8 {
        urls.push(upload_url(&app, &token).await);
    }
    let uploads = urls
        .iter()
        .enumerate()
        .map(|(i, url)| upload(&app, url, Some("image/png"), png(100_000 + i)));
    let responses = futures_util::future::join_all(uploads).await;
    let mut ids = Vec::new();
    for response in responses {
        ids.push(storage_id_of(response).await);
    }
    let distinct: HashSet<&String> = ids.iter().collect();
    assert_eq!(distinct.len(), 8, "{ids:?}");
    assert_eq!(object_rows(&app).await, 8);
    assert_eq!(cleanup_rows(&app).await, 0);
    let mut expected: Vec<String> = ids.iter().map(|id| format!("photos/{id}")).collect();
    expected.sort();
    assert_eq!(stored_keys(&app).await, expected);
}

async fn one_ticket_in_concurrent_uploads_succeeds_once(backend: Backend, storage: Storage) {
    let app = TestApp::spawn_on(backend, storage, &[]).await;
    let (_, token) = app.customer_with_token("race@example.com");
    let url = upload_url(&app, &token).await;
    let uploads = (0..6).map(|i| upload(&app, &url, Some("image/png"), png(300_000 + i)));
    let responses = futures_util::future::join_all(uploads).await;
    let mut winners = Vec::new();
    for response in responses {
        if response.status() == 200 {
            winners.push(storage_id_of(response).await);
        } else {
            assert_error(response, 404, "upload_url_invalid").await;
        }
    }
    assert_eq!(winners.len(), 1, "exactly one upload wins: {winners:?}");
    let expected = vec![format!("photos/{}", winners[0])];
    // Losers clean up before answering; allow a moment all the same.
    for _ in 0..20 {
        if stored_keys(&app).await == expected && cleanup_rows(&app).await == 0 {
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    assert_eq!(stored_keys(&app).await, expected);
    assert_eq!(object_rows(&app).await, 1);
    assert_eq!(cleanup_rows(&app).await, 0);
}

/// Milliseconds since the epoch, now.
fn now_ms() -> i64 {
    (time::OffsetDateTime::now_utc().unix_timestamp_nanos() / 1_000_000) as i64
}

/// Milliseconds since the epoch of `2025-01-15T10:30:00.000Z`.
fn iso_ms(text: &str) -> i64 {
    let n = |range: std::ops::Range<usize>| text[range].parse::<i64>().unwrap();
    let month = time::Month::try_from(n(5..7) as u8).unwrap();
    let date = time::Date::from_calendar_date(n(0..4) as i32, month, n(8..10) as u8).unwrap();
    let at = date
        .with_hms_milli(
            n(11..13) as u8,
            n(14..16) as u8,
            n(17..19) as u8,
            n(20..23) as u16,
        )
        .unwrap()
        .assume_utc();
    (at.unix_timestamp_nanos() / 1_000_000) as i64
}

async fn upload_url_endpoint(backend: Backend, storage: Storage) {
    let app = TestApp::spawn_on(backend, storage, &[]).await;
    let (_, token) = app.customer_with_token("urls@example.com");
    let endpoint = app.api("/profile/photo-upload-url");
    let prefix = app.api("/storage/upload/");

    // An empty body without Content-Type is fine.
    let before = now_ms();
    let response = app
        .client
        .post(&endpoint)
        .bearer_auth(&token)
        .send()
        .await
        .unwrap();
    let body = json_of(response, 200).await;
    assert_eq!(body["success"], json!(true));
    let first = body["data"]["uploadUrl"].as_str().unwrap().to_owned();
    assert_timestamp(&body["data"]["expiresAt"]);
    // Valid 15 minutes by default.
    let lifetime = iso_ms(body["data"]["expiresAt"].as_str().unwrap()) - before;
    assert!(
        (895_000..=905_000).contains(&lifetime),
        "expiresAt is {lifetime} ms away"
    );

    // `{}` too; each URL carries a fresh, unguessable ticket.
    let second = upload_url(&app, &token).await;
    assert_ne!(first, second);
    for url in [&first, &second] {
        let ticket = url
            .strip_prefix(&prefix)
            .unwrap_or_else(|| panic!("{url} is not under {prefix}"));
        assert_unguessable("ticket", ticket);
    }

    // A body that is not an object.
    let response = app
        .client
        .post(&endpoint)
        .bearer_auth(&token)
        .json(&json!([1]))
        .send()
        .await
        .unwrap();
    assert_error(response, 400, "invalid_request").await;

    // No token, a bad token, a token without a customer.
    let response = app.client.post(&endpoint).json(&json!({})).send().await;
    assert_error(response.unwrap(), 401, "invalid_token").await;
    let response = app
        .client
        .post(&endpoint)
        .bearer_auth("not-a-jwt")
        .json(&json!({}))
        .send()
        .await;
    assert_error(response.unwrap(), 401, "invalid_token").await;
    let nobody = app.token("user_nobody");
    let response = app
        .client
        .post(&endpoint)
        .bearer_auth(&nobody)
        .json(&json!({}))
        .send()
        .await;
    assert_error(response.unwrap(), 400, "no_customer_profile").await;

    // Both issued URLs work.
    for url in [&first, &second] {
        storage_id_of(upload(&app, url, Some("image/png"), png(500)).await).await;
    }
}

async fn upload_route_accepts_cross_origin_requests(backend: Backend, storage: Storage) {
    let app = TestApp::spawn_on(backend, storage, &[]).await;
    let (_, token) = app.customer_with_token("cors@example.com");
    let url = upload_url(&app, &token).await;
    let origin = "https://shop.example";

    let preflight = app
        .client
        .request(reqwest::Method::OPTIONS, &url)
        .header("origin", origin)
        .header("access-control-request-method", "POST")
        .header("access-control-request-headers", "content-type")
        .send()
        .await
        .unwrap();
    assert!(preflight.status().is_success(), "{}", preflight.status());
    let headers = preflight.headers();
    assert_eq!(headers["access-control-allow-origin"], "*");
    let allowed = |name: &str| {
        headers
            .get(name)
            .and_then(|v| v.to_str().ok())
            .unwrap_or("")
            .to_ascii_lowercase()
    };
    assert!(allowed("access-control-allow-methods").contains("post"));
    let allowed_headers = allowed("access-control-allow-headers");
    assert!(
        allowed_headers.contains("content-type") || allowed_headers == "*",
        "{allowed_headers}"
    );

    // The upload itself, from that origin.
    let response = app
        .client
        .post(&url)
        .header("origin", origin)
        .header("content-type", "image/png")
        .body(png(1000))
        .send()
        .await
        .unwrap();
    assert_eq!(response.headers()["access-control-allow-origin"], "*");
    storage_id_of(response).await;
}
