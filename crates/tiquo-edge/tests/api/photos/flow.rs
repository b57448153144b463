//! The seed's three steps end to end, and the shape of each answer.

use serde_json::json;

use super::{attach, fetch, png, stored_keys, upload};
use crate::helpers::{Backend, Storage, TestApp, assert_timestamp, json_of};

crate::storage_matrix!(three_steps_set_and_serve_the_photo);

async fn three_steps_set_and_serve_the_photo(backend: Backend, storage: Storage) {
    let app = TestApp::spawn_on(backend, storage, &[]).await;
    let (customer, token) = app.customer_with_token("flow@example.com");

    // 1. Upload URL: under the public URL, with an expiry.
    let response = app
        .client
        .post(app.api("/profile/photo-upload-url"))
        .bearer_auth(&token)
        .json(&json!({}))
        .send()
        .await
        .unwrap();
    let body = json_of(response, 200).await;
    assert_eq!(body["success"], json!(true));
    let url = body["data"]["uploadUrl"].as_str().unwrap().to_owned();
    let prefix = app.api("/storage/upload/");
    assert!(url.starts_with(&prefix), "{url}");
    let ticket = &url[prefix.len()..];
    assert!(
        ticket.len() >= 22,
        "a ticket carries at least 128 bits: {ticket}"
    );
    assert_timestamp(&body["data"]["expiresAt"]);

    // 2. Upload, without a token.
    let bytes = png(1000);
    let body = json_of(
        upload(&app, &url, Some("image/png"), bytes.clone()).await,
        200,
    )
    .await;
    let storage_id = body["data"]["storageId"].as_str().unwrap().to_owned();
    assert!(
        storage_id
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '_'),
        "{storage_id}"
    );

    // 3. Attach.
    let body = json_of(attach(&app, &token, &storage_id).await, 200).await;
    let photo_url = app.api(&format!("/storage/{storage_id}"));
    assert_eq!(body["data"]["profilePhoto"], json!(photo_url));
    assert_eq!(body["data"]["storageId"], json!(storage_id));
    assert_eq!(body["data"]["customer"]["id"], customer["id"]);
    assert_eq!(body["data"]["customer"]["profilePhoto"], json!(photo_url));

    // The profile shows it, and the URL serves the exact bytes.
    let profile = json_of(app.get_profile(&token).await, 200).await;
    assert_eq!(
        profile["data"]["customer"]["profilePhoto"],
        json!(photo_url)
    );
    let served = fetch(&app, &storage_id).await;
    assert_eq!(served.status(), 200);
    assert_eq!(served.headers()["content-type"], "image/png");
    assert_eq!(served.bytes().await.unwrap().to_vec(), bytes);
    assert_eq!(
        stored_keys(&app).await,
        vec![format!("photos/{storage_id}")]
    );
}
