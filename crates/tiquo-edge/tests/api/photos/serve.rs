//! `GET`/`HEAD /storage/{storageId}`: public, immutable, cacheable bytes with
//! their headers, conditional requests, ranges, and 404 for anything that is
//! not an attached photo.

use reqwest::{Method, Response};

use super::{delete_photo, fetch, jpeg, png, set_photo, upload_image};
use crate::helpers::{Backend, Storage, TestApp, assert_error, json_of};

crate::storage_matrix!(
    get_serves_the_exact_bytes_with_cdn_headers,
    head_gives_the_headers_without_a_body,
    if_none_match_with_the_etag_is_not_modified,
    ranges_are_honoured,
    a_range_past_the_end_is_not_satisfiable,
    uploads_not_attached_are_not_served,
    unknown_and_deleted_ids_are_not_found,
    cors_allows_any_origin,
);

const IMMUTABLE: &str = "public, max-age=31536000, immutable";

/// `"<lower-case hex SHA-256>"`.
fn etag_of(bytes: &[u8]) -> String {
    let digest = aws_lc_rs::digest::digest(&aws_lc_rs::digest::SHA256, bytes);
    let hex: String = digest.as_ref().iter().map(|b| format!("{b:02x}")).collect();
    format!("\"{hex}\"")
}

/// A request to the object's URL, without a token, with extra headers.
async fn request(
    app: &TestApp,
    method: Method,
    storage_id: &str,
    headers: &[(&str, &str)],
) -> Response {
    let mut builder = app
        .client
        .request(method, app.api(&format!("/storage/{storage_id}")));
    for (name, value) in headers {
        builder = builder.header(*name, *value);
    }
    builder.send().await.expect("request")
}

/// A header as text ("" when absent).
fn header<'a>(response: &'a Response, name: &str) -> &'a str {
    response
        .headers()
        .get(name)
        .map_or("", |v| v.to_str().expect("ASCII header"))
}

/// The headers every successful (and not-modified) answer carries.
fn assert_cdn_headers(response: &Response, etag: &str) {
    assert_eq!(header(response, "etag"), etag);
    assert_eq!(header(response, "cache-control"), IMMUTABLE);
    assert_eq!(header(response, "x-content-type-options"), "nosniff");
    assert_eq!(
        header(response, "content-security-policy"),
        "default-src 'none'"
    );
}

/// A JPEG, attached by a fresh customer: (app, their token, storageId, bytes).
async fn app_with_photo(
    backend: Backend,
    storage: Storage,
    len: usize,
) -> (TestApp, String, String, Vec<u8>) {
    let app = TestApp::spawn_on(backend, storage, &[]).await;
    let (_, token) = app.customer_with_token("serve@example.com");
    let bytes = jpeg(len);
    let id = upload_image(&app, &token, "image/jpeg", bytes.clone()).await;
    json_of(super::attach(&app, &token, &id).await, 200).await;
    (app, token, id, bytes)
}

async fn get_serves_the_exact_bytes_with_cdn_headers(backend: Backend, storage: Storage) {
    let (app, _, id, bytes) = app_with_photo(backend, storage, 3000).await;
    let response = fetch(&app, &id).await;
    assert_eq!(response.status(), 200);
    assert_cdn_headers(&response, &etag_of(&bytes));
    assert_eq!(header(&response, "content-type"), "image/jpeg");
    assert_eq!(header(&response, "content-length"), "3000");
    assert_eq!(response.bytes().await.unwrap().to_vec(), bytes);

    // A PNG keeps its own type and tag.
    let (_, token) = app.customer_with_token("png@example.com");
    let (png_id, _) = set_photo(&app, &token, png(1234)).await;
    let response = fetch(&app, &png_id).await;
    assert_eq!(response.status(), 200);
    assert_eq!(header(&response, "content-type"), "image/png");
    assert_eq!(header(&response, "content-length"), "1234");
    assert_cdn_headers(&response, &etag_of(&png(1234)));
    assert_eq!(response.bytes().await.unwrap().to_vec(), png(1234));
}

async fn head_gives_the_headers_without_a_body(backend: Backend, storage: Storage) {
    let (app, _, id, bytes) = app_with_photo(backend, storage, 2500).await;
    let response = request(&app, Method::HEAD, &id, &[]).await;
    assert_eq!(response.status(), 200);
    assert_cdn_headers(&response, &etag_of(&bytes));
    assert_eq!(header(&response, "content-type"), "image/jpeg");
    assert_eq!(header(&response, "content-length"), "2500");
    assert!(response.bytes().await.unwrap().is_empty());

    // Unknown ids are 404 for HEAD as well.
    let response = request(&app, Method::HEAD, "AAAAAAAAAAAAAAAAAAAAAAAAAAA", &[]).await;
    assert_eq!(response.status(), 404);
}

async fn if_none_match_with_the_etag_is_not_modified(backend: Backend, storage: Storage) {
    let (app, _, id, bytes) = app_with_photo(backend, storage, 1500).await;
    let etag = etag_of(&bytes);
    let weak = format!("W/{etag}");
    let listed = format!("\"0000\", {etag}, \"ffff\"");
    for condition in [etag.as_str(), weak.as_str(), listed.as_str()] {
        for method in [Method::GET, Method::HEAD] {
            let response =
                request(&app, method.clone(), &id, &[("if-none-match", condition)]).await;
            assert_eq!(
                response.status(),
                304,
                "{method} If-None-Match: {condition}"
            );
            assert_eq!(header(&response, "etag"), etag);
            assert!(response.bytes().await.unwrap().is_empty());
        }
    }

    // Another tag (the hash of other bytes, or a near miss) gets the object.
    let other = etag_of(b"other");
    let near = format!("\"{}\"", &etag[1..etag.len() - 1].to_uppercase());
    for condition in [other.as_str(), near.as_str()] {
        let response = request(&app, Method::GET, &id, &[("if-none-match", condition)]).await;
        assert_eq!(response.status(), 200, "If-None-Match: {condition}");
        assert_cdn_headers(&response, &etag);
        assert_eq!(response.bytes().await.unwrap().to_vec(), bytes);
    }
}

/// GET with `Range: <range>` must answer 206 with `expected` (a half-open
/// span of `bytes`).
async fn assert_partial(
    app: &TestApp,
    id: &str,
    bytes: &[u8],
    range: &str,
    expected: std::ops::Range<usize>,
) {
    let response = request(app, Method::GET, id, &[("range", range)]).await;
    assert_eq!(response.status(), 206, "Range: {range}");
    assert_eq!(
        header(&response, "content-range"),
        format!(
            "bytes {}-{}/{}",
            expected.start,
            expected.end - 1,
            bytes.len()
        ),
        "Range: {range}"
    );
    assert_eq!(
        header(&response, "content-length"),
        expected.len().to_string(),
        "Range: {range}"
    );
    assert_eq!(header(&response, "content-type"), "image/jpeg");
    assert_cdn_headers(&response, &etag_of(bytes));
    assert_eq!(
        response.bytes().await.unwrap().to_vec(),
        &bytes[expected.clone()],
        "Range: {range}"
    );
}

async fn ranges_are_honoured(backend: Backend, storage: Storage) {
    let (app, _, id, bytes) = app_with_photo(backend, storage, 4000).await;
    let size = bytes.len();
    assert_partial(&app, &id, &bytes, "bytes=0-9", 0..10).await;
    assert_partial(&app, &id, &bytes, "bytes=1000-1999", 1000..2000).await;
    assert_partial(&app, &id, &bytes, "bytes=-5", size - 5..size).await;
    assert_partial(&app, &id, &bytes, "bytes=10-", 10..size).await;
    assert_partial(
        &app,
        &id,
        &bytes,
        &format!("bytes={}-", size - 1),
        size - 1..size,
    )
    .await;
    // An end past the object is cut at its last byte.
    assert_partial(&app, &id, &bytes, "bytes=3990-99999", 3990..size).await;

    // Several ranges at once: the whole object, as RFC 9110 allows.
    let response = request(&app, Method::GET, &id, &[("range", "bytes=0-1,4-5")]).await;
    assert_eq!(response.status(), 200);
    assert_eq!(header(&response, "content-range"), "");
    assert_eq!(header(&response, "content-length"), size.to_string());
    assert_eq!(response.bytes().await.unwrap().to_vec(), bytes);
}

async fn a_range_past_the_end_is_not_satisfiable(backend: Backend, storage: Storage) {
    let (app, _, id, bytes) = app_with_photo(backend, storage, 1000).await;
    let size = bytes.len();
    let past_end = format!("bytes={size}-");
    let far = format!("bytes={}-{}", size + 10, size + 20);
    for range in [past_end.as_str(), far.as_str()] {
        let response = request(&app, Method::GET, &id, &[("range", range)]).await;
        assert_eq!(
            header(&response, "content-range"),
            format!("bytes */{size}"),
            "Range: {range}"
        );
        assert_error(response, 416, "range_not_satisfiable").await;
    }
}

async fn uploads_not_attached_are_not_served(backend: Backend, storage: Storage) {
    let app = TestApp::spawn_on(backend, storage, &[]).await;
    let (_, token) = app.customer_with_token("pending@example.com");
    let id = upload_image(&app, &token, "image/png", png(200)).await;
    assert_error(fetch(&app, &id).await, 404, "not_found").await;
    assert_eq!(request(&app, Method::HEAD, &id, &[]).await.status(), 404);
    // Not even to its owner.
    let response = app
        .client
        .get(app.api(&format!("/storage/{id}")))
        .bearer_auth(&token)
        .send()
        .await
        .unwrap();
    assert_error(response, 404, "not_found").await;
}

async fn unknown_and_deleted_ids_are_not_found(backend: Backend, storage: Storage) {
    let (app, token, id, _) = app_with_photo(backend, storage, 800).await;
    for unknown in [
        "AAAAAAAAAAAAAAAAAAAAAAAAAAA",
        "short",
        "a.b.c",
        &"A".repeat(100),
    ] {
        let body = assert_error(fetch(&app, unknown).await, 404, "not_found").await;
        assert_eq!(body["field"], serde_json::Value::Null, "{body}");
    }

    json_of(delete_photo(&app, &token).await, 200).await;
    assert_error(fetch(&app, &id).await, 404, "not_found").await;
    assert_eq!(request(&app, Method::HEAD, &id, &[]).await.status(), 404);
    let response = request(&app, Method::GET, &id, &[("range", "bytes=0-9")]).await;
    assert_error(response, 404, "not_found").await;
}

async fn cors_allows_any_origin(backend: Backend, storage: Storage) {
    let (app, _, id, bytes) = app_with_photo(backend, storage, 600).await;
    let response = request(
        &app,
        Method::GET,
        &id,
        &[("origin", "https://shop.example.com")],
    )
    .await;
    assert_eq!(response.status(), 200);
    assert_eq!(header(&response, "access-control-allow-origin"), "*");
    assert_eq!(response.bytes().await.unwrap().to_vec(), bytes);

    // Errors too, so a browser can read why.
    let response = request(
        &app,
        Method::GET,
        "AAAAAAAAAAAAAAAAAAAAAAAAAAA",
        &[("origin", "https://shop.example.com")],
    )
    .await;
    assert_eq!(header(&response, "access-control-allow-origin"), "*");
    assert_error(response, 404, "not_found").await;
}
