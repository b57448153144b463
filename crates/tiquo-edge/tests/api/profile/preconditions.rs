//! Versions as ETags: `If-Match` (strong comparison, 412 on a stale tag,
//! the two-tabs scenario) and concurrent writers losing no update.

use super::*;

crate::both_backends!(
    if_match_current_etag_succeeds,
    if_match_stale_or_weak_etag_is_precondition_failed,
    if_match_star_succeeds,
    two_tabs_second_write_is_refused,
    concurrent_patches_lose_no_update,
);

async fn if_match_current_etag_succeeds(backend: Backend) {
    let (app, token) = app_with_customer(backend).await;
    let response = patch_if_match(&app.client, &app, &token, "\"1\"", &seed_patch()).await;
    let updated = customer_response(response).await;
    assert_eq!(updated.etag, "\"2\"");
    assert_eq!(updated.customer["displayName"], json!("John Smith"));

    let response = patch_if_match(
        &app.client,
        &app,
        &token,
        "\"2\"",
        &json!({"lastName": "Doe"}),
    )
    .await;
    assert_eq!(customer_response(response).await.etag, "\"3\"");
}

async fn if_match_stale_or_weak_etag_is_precondition_failed(backend: Backend) {
    let (app, token) = app_with_customer(backend).await;
    patch_ok(&app, &token, &seed_patch()).await;
    let before = snapshot(&app, &token).await;
    assert_eq!(before.etag, "\"2\"");

    for if_match in ["\"1\"", "\"3\"", "W/\"2\"", "W/\"1\""] {
        let response = patch_if_match(
            &app.client,
            &app,
            &token,
            if_match,
            &json!({"firstName": "Stale"}),
        )
        .await;
        let error = assert_error(response, 412, "precondition_failed").await;
        assert_error_keys(&error, false);
        assert_unchanged(&app, &token, &before, &format!("If-Match: {if_match}")).await;
    }
}

async fn if_match_star_succeeds(backend: Backend) {
    let (app, token) = app_with_customer(backend).await;
    patch_ok(&app, &token, &seed_patch()).await;
    let response =
        patch_if_match(&app.client, &app, &token, "*", &json!({"firstName": "Any"})).await;
    let updated = customer_response(response).await;
    assert_eq!(updated.etag, "\"3\"");
    assert_eq!(updated.customer["firstName"], json!("Any"));
}

async fn two_tabs_second_write_is_refused(backend: Backend) {
    let (app, token) = app_with_customer(backend).await;
    let tab_a = reqwest::Client::new();
    let tab_b = reqwest::Client::new();

    let mut read = Vec::new();
    for tab in [&tab_a, &tab_b] {
        let response = tab
            .get(app.api("/profile"))
            .bearer_auth(&token)
            .send()
            .await
            .expect("GET");
        read.push(customer_response(response).await);
    }
    assert_eq!(read[0].etag, "\"1\"");
    assert_eq!(read[1].etag, "\"1\"");

    let response = patch_if_match(
        &tab_a,
        &app,
        &token,
        "\"1\"",
        &json!({"firstName": "Alice"}),
    )
    .await;
    let first = customer_response(response).await;
    assert_eq!(first.etag, "\"2\"");

    let response =
        patch_if_match(&tab_b, &app, &token, "\"1\"", &json!({"firstName": "Bob"})).await;
    assert_error(response, 412, "precondition_failed").await;

    let now = snapshot(&app, &token).await;
    assert_eq!(now, first, "the first tab's write must stand");
    assert_eq!(now.customer["firstName"], json!("Alice"));
}

async fn concurrent_patches_lose_no_update(backend: Backend) {
    const WRITERS: usize = 20;
    let (app, token) = app_with_customer(backend).await;

    // Open connections first (concurrent GETs) and release all writers at
    // once, so the writes below really overlap.
    let mut warm_up = JoinSet::new();
    for _ in 0..WRITERS {
        let request = app.client.get(app.api("/profile")).bearer_auth(&token);
        warm_up.spawn(async move { request.send().await.expect("GET").status() });
    }
    while let Some(status) = warm_up.join_next().await {
        assert_eq!(status.expect("GET task").as_u16(), 200);
    }

    let start = Arc::new(Barrier::new(WRITERS));
    let mut writers = JoinSet::new();
    for i in 0..WRITERS {
        let request = app
            .client
            .patch(app.api("/profile"))
            .bearer_auth(&token)
            .json(&json!({"firstName": format!("Writer{i}")}));
        let start = Arc::clone(&start);
        writers.spawn(async move {
            start.wait().await;
            let response = request.send().await.expect("PATCH");
            let etag = etag_header(&response);
            let status = response.status().as_u16();
            (status, etag, response.text().await.expect("body"))
        });
    }
    let mut versions = Vec::new();
    let mut failures = Vec::new();
    while let Some(result) = writers.join_next().await {
        match result.expect("writer task") {
            (200, Some(etag), _) => {
                versions.push(etag.trim_matches('"').parse::<i64>().expect("numeric ETag"));
            }
            (status, _, text) => failures.push(format!("{status} {text}")),
        }
    }
    assert!(
        failures.is_empty(),
        "{} of {WRITERS} concurrent PATCHes failed:\n{}",
        failures.len(),
        failures.join("\n")
    );
    versions.sort_unstable();
    let expected: Vec<i64> = (2..=1 + WRITERS as i64).collect();
    assert_eq!(versions, expected, "each write must get its own version");

    let last = snapshot(&app, &token).await;
    assert_eq!(last.etag, format!("\"{}\"", 1 + WRITERS));
    assert!(
        last.customer["firstName"]
            .as_str()
            .is_some_and(|name| name.starts_with("Writer")),
        "{last:?}"
    );
}
