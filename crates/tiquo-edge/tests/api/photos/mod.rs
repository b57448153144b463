//! Profile photos: upload URLs, uploads, attaching, serving and cleanup.
//! Every test runs four times: SQLite and PostgreSQL, each with `file://`
//! storage and with S3 (moto).
//!
//! This file holds what the photo tests share: images of any size with the
//! right leading bytes, the three steps of the flow, and views of the
//! object store and the database to check that nothing is left behind.

#![allow(dead_code)]

use futures_util::TryStreamExt;
use object_store::ObjectStore;
use serde_json::{Value, json};

use crate::helpers::{Storage, TestApp, json_of, s3_bucket};

/// The largest accepted image: one byte under 5 MiB.
pub const MAX_ACCEPTED: usize = 5 * 1024 * 1024 - 1;

/// The leading bytes of each accepted type.
pub const JPEG_MAGIC: &[u8] = b"\xFF\xD8\xFF\xE0\x00\x10JFIF\x00";
pub const PNG_MAGIC: &[u8] = b"\x89PNG\r\n\x1a\n\x00\x00\x00\x0dIHDR";
pub const GIF_MAGIC: &[u8] = b"GIF89a\x01\x00\x01\x00";
pub const WEBP_MAGIC: &[u8] = b"RIFF\x24\x00\x00\x00WEBPVP8 ";
pub const AVIF_MAGIC: &[u8] = b"\x00\x00\x00\x1cftypavif\x00\x00\x00\x00avifmif1miaf";

/// `len` bytes starting with `magic`, the rest a repeating pattern (so
/// ranges are distinguishable).
pub fn image(magic: &[u8], len: usize) -> Vec<u8> {
    assert!(len >= magic.len());
    let mut bytes = magic.to_vec();
    bytes.extend((0..len - magic.len()).map(|i| (i % 251) as u8));
    bytes
}

/// A small PNG-looking file.
pub fn png(len: usize) -> Vec<u8> {
    image(PNG_MAGIC, len)
}

/// A small JPEG-looking file.
pub fn jpeg(len: usize) -> Vec<u8> {
    image(JPEG_MAGIC, len)
}

/// Step 1: `POST /profile/photo-upload-url` with `{}`.
pub async fn request_upload_url(app: &TestApp, token: &str) -> reqwest::Response {
    app.client
        .post(app.api("/profile/photo-upload-url"))
        .bearer_auth(token)
        .json(&json!({}))
        .send()
        .await
        .expect("request")
}

/// Step 1, expecting success: the upload URL.
pub async fn upload_url(app: &TestApp, token: &str) -> String {
    let body = json_of(request_upload_url(app, token).await, 200).await;
    body["data"]["uploadUrl"]
        .as_str()
        .unwrap_or_else(|| panic!("no uploadUrl: {body}"))
        .to_owned()
}

/// Step 2: POST `bytes` to an upload URL with a Content-Type (none when `None`).
pub async fn upload(
    app: &TestApp,
    url: &str,
    content_type: Option<&str>,
    bytes: Vec<u8>,
) -> reqwest::Response {
    let mut request = app.client.post(url).body(bytes);
    if let Some(ct) = content_type {
        request = request.header("content-type", ct);
    }
    request.send().await.expect("request")
}

/// Steps 1 and 2, expecting success: the storageId.
pub async fn upload_image(
    app: &TestApp,
    token: &str,
    content_type: &str,
    bytes: Vec<u8>,
) -> String {
    let url = upload_url(app, token).await;
    let body = json_of(upload(app, &url, Some(content_type), bytes).await, 200).await;
    body["data"]["storageId"]
        .as_str()
        .unwrap_or_else(|| panic!("no storageId: {body}"))
        .to_owned()
}

/// Step 3: `POST /profile/photo`.
pub async fn attach(app: &TestApp, token: &str, storage_id: &str) -> reqwest::Response {
    attach_body(app, token, &json!({ "storageId": storage_id })).await
}

/// `POST /profile/photo` with any JSON body.
pub async fn attach_body(app: &TestApp, token: &str, body: &Value) -> reqwest::Response {
    app.client
        .post(app.api("/profile/photo"))
        .bearer_auth(token)
        .json(body)
        .send()
        .await
        .expect("request")
}

/// All three steps, expecting success: (storageId, attach response data).
pub async fn set_photo(app: &TestApp, token: &str, bytes: Vec<u8>) -> (String, Value) {
    let id = upload_image(app, token, "image/png", bytes).await;
    let body = json_of(attach(app, token, &id).await, 200).await;
    (id, body["data"].clone())
}

/// `DELETE /profile/photo`.
pub async fn delete_photo(app: &TestApp, token: &str) -> reqwest::Response {
    app.client
        .delete(app.api("/profile/photo"))
        .bearer_auth(token)
        .send()
        .await
        .expect("request")
}

/// `GET /storage/{id}` (no token).
pub async fn fetch(app: &TestApp, storage_id: &str) -> reqwest::Response {
    app.client
        .get(app.api(&format!("/storage/{storage_id}")))
        .send()
        .await
        .expect("request")
}

/// Every key in the app's object store, staging files included (for
/// `file://`, names ending in `#N` are `object_store`'s unfinished writes).
pub async fn stored_keys(app: &TestApp) -> Vec<String> {
    match app.storage {
        Storage::File => {
            let root = app.data_dir.path().join("blobs");
            let mut keys = Vec::new();
            let mut dirs = vec![root.clone()];
            while let Some(dir) = dirs.pop() {
                let Ok(entries) = std::fs::read_dir(&dir) else {
                    continue;
                };
                for entry in entries {
                    let path = entry.unwrap().path();
                    if path.is_dir() {
                        dirs.push(path);
                    } else {
                        let key = path.strip_prefix(&root).unwrap();
                        keys.push(key.display().to_string());
                    }
                }
            }
            keys.sort();
            keys
        }
        Storage::S3 => {
            let prefix = app
                .storage_url
                .split_once("://")
                .and_then(|(_, rest)| rest.split_once('/'))
                .map(|(_, prefix)| prefix.to_owned())
                .expect("s3 url with prefix");
            let s3 = object_store::aws::AmazonS3Builder::from_env()
                .with_bucket_name(s3_bucket())
                .with_allow_http(true)
                .build()
                .expect("s3 client");
            let listed: Vec<_> = s3
                .list(Some(&object_store::path::Path::from(prefix.as_str())))
                .try_collect()
                .await
                .expect("list bucket");
            let mut keys: Vec<String> = listed
                .into_iter()
                .map(|meta| {
                    meta.location
                        .as_ref()
                        .strip_prefix(&format!("{prefix}/"))
                        .unwrap_or(meta.location.as_ref())
                        .to_owned()
                })
                .collect();
            keys.sort();
            keys
        }
    }
}

/// The result of a query returning one integer, on the app's database.
pub async fn query_i64(app: &TestApp, sql: &str) -> i64 {
    use sqlx::Connection;
    sqlx::any::install_default_drivers();
    let mut conn = sqlx::AnyConnection::connect(&app.database_url)
        .await
        .expect("connect to the test database");
    let (value,): (i64,) = sqlx::query_as(sql)
        .fetch_one(&mut conn)
        .await
        .unwrap_or_else(|e| panic!("{sql}: {e}"));
    conn.close().await.ok();
    value
}

/// Runs a statement on the app's database (to age rows instead of sleeping).
pub async fn execute(app: &TestApp, sql: &str) {
    use sqlx::Connection;
    sqlx::any::install_default_drivers();
    let mut conn = sqlx::AnyConnection::connect(&app.database_url)
        .await
        .expect("connect to the test database");
    sqlx::query(sql)
        .execute(&mut conn)
        .await
        .unwrap_or_else(|e| panic!("{sql}: {e}"));
    conn.close().await.ok();
}

/// Rows in `stored_objects`.
pub async fn object_rows(app: &TestApp) -> i64 {
    query_i64(app, "SELECT COUNT(*) FROM stored_objects").await
}

/// Rows in the deletion queue.
pub async fn cleanup_rows(app: &TestApp) -> i64 {
    query_i64(app, "SELECT COUNT(*) FROM object_cleanup").await
}

mod attach;
mod flow;
mod gc;
mod gc_crash;
mod serve;
mod startup;
mod upload;
mod upload_limits;
