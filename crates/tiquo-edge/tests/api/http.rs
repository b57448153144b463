//! Cross-cutting HTTP behaviour: unknown paths, wrong methods, CORS, health.

use serde_json::json;

use crate::both_backends;
use crate::helpers::*;

both_backends!(
    unknown_paths_are_404_in_the_envelope,
    wrong_method_is_405_with_allow_in_the_envelope,
    cors_preflight_needs_no_token,
    cors_headers_are_on_errors_too,
    health_reports_the_database,
);

async fn unknown_paths_are_404_in_the_envelope(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    for path in [
        "/nope",
        "/api/client/v1/nope",
        "/api/client/v1/profile/extra",
        "/api/client/v2/profile",
    ] {
        let response = app.client.get(app.url(path)).send().await.unwrap();
        assert_error(response, 404, "not_found").await;
    }
}

async fn wrong_method_is_405_with_allow_in_the_envelope(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let token = app.token("user_1");
    for method in [
        reqwest::Method::PUT,
        reqwest::Method::DELETE,
        reqwest::Method::POST,
    ] {
        let response = app
            .client
            .request(method.clone(), app.api("/profile"))
            .bearer_auth(&token)
            .send()
            .await
            .unwrap();
        let allow = response
            .headers()
            .get("allow")
            .unwrap_or_else(|| panic!("{method} answered without Allow"))
            .to_str()
            .unwrap()
            .to_owned();
        assert!(
            allow.contains("GET") && allow.contains("PATCH"),
            "Allow: {allow}"
        );
        assert_error(response, 405, "method_not_allowed").await;
    }
}

async fn cors_preflight_needs_no_token(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let response = app
        .client
        .request(reqwest::Method::OPTIONS, app.api("/profile"))
        .header("Origin", "https://shop.example")
        .header("Access-Control-Request-Method", "PATCH")
        .header(
            "Access-Control-Request-Headers",
            "authorization, content-type, if-match",
        )
        .send()
        .await
        .unwrap();
    assert!(
        response.status().is_success(),
        "preflight got {}",
        response.status()
    );
    let header = |name: &str| {
        response
            .headers()
            .get(name)
            .map(|v| v.to_str().unwrap().to_ascii_lowercase())
            .unwrap_or_default()
    };
    assert_eq!(header("access-control-allow-origin"), "*");
    let methods = header("access-control-allow-methods");
    for m in ["get", "patch", "post", "delete", "options"] {
        assert!(methods.contains(m), "allow-methods {methods} lacks {m}");
    }
    let headers = header("access-control-allow-headers");
    for h in ["authorization", "content-type", "if-match"] {
        assert!(headers.contains(h), "allow-headers {headers} lacks {h}");
    }
}

async fn cors_headers_are_on_errors_too(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let response = app
        .client
        .get(app.api("/profile"))
        .header("Origin", "https://shop.example")
        .send()
        .await
        .unwrap();
    assert_eq!(
        response
            .headers()
            .get("access-control-allow-origin")
            .unwrap(),
        "*"
    );
    let exposed = response
        .headers()
        .get("access-control-expose-headers")
        .unwrap()
        .to_str()
        .unwrap()
        .to_ascii_lowercase();
    assert!(exposed.contains("etag"), "{exposed}");
    assert_error(response, 401, "invalid_token").await;
}

async fn health_reports_the_database(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let body = json_of(
        app.client.get(app.url("/health")).send().await.unwrap(),
        200,
    )
    .await;
    assert_eq!(body["success"], json!(true));
    let kind = match backend {
        Backend::Sqlite => "sqlite",
        Backend::Postgres => "postgres",
    };
    assert_eq!(body["data"], json!({"status": "ok", "database": kind}));
    assert_timestamp(&body["timestamp"]);
}
