//! The embedded default has no mail server: the code goes to the log at
//! WARN, which is how a new user signs in locally. And bad sign-in settings
//! stop `serve` at start-up.

use std::time::{Duration, Instant};

use serde_json::json;

use crate::cli::{ServerProcess, serve_fails_with_env};
use crate::helpers::{Backend, TestApp, json_of};

crate::both_backends!(without_smtp_the_code_is_logged);

async fn without_smtp_the_code_is_logged(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    app.create_customer("local.user@example.com", None);
    let server = ServerProcess::start(&app);
    let api = format!("http://{}/api/client/v1", server.address);
    let client = reqwest::Client::new();
    let sent = client
        .post(format!("{api}/auth/otp/send"))
        .json(&json!({ "email": "local.user@example.com" }))
        .send()
        .await
        .unwrap();
    assert_eq!(json_of(sent, 200).await["data"], json!({ "sent": true }));

    let deadline = Instant::now() + Duration::from_secs(10);
    let line = loop {
        let left = deadline.saturating_duration_since(Instant::now());
        let line = server
            .log
            .recv_timeout(left)
            .expect("no log line with the sign-in code within 10 s");
        if line.contains("sign-in code") {
            break line;
        }
    };
    assert!(line.contains("WARN"), "{line}");
    assert!(line.contains("mail is not configured"), "{line}");
    assert!(
        !line.contains("local.user@example.com"),
        "address masked: {line}"
    );
    let after = line
        .split_once("sign-in code ")
        .map(|(_, rest)| rest)
        .expect("the code follows 'sign-in code'");
    let code = crate::sign_in::smtp::code_in(after).expect("a code in the line");

    let verified = client
        .post(format!("{api}/auth/otp/verify"))
        .json(&json!({ "email": "local.user@example.com", "code": code }))
        .send()
        .await
        .unwrap();
    let tokens = json_of(verified, 200).await;
    let access = tokens["data"]["access_token"].as_str().unwrap();
    let profile = client
        .get(format!("{api}/profile"))
        .bearer_auth(access)
        .send()
        .await
        .unwrap();
    let profile = json_of(profile, 200).await;
    assert_eq!(
        profile["data"]["customer"]["email"],
        json!("local.user@example.com")
    );
}

#[test]
fn bad_sign_in_settings_fail_fast() {
    serve_fails_with_env(
        &["--smtp-url", "http://mail.example"],
        &[],
        "invalid SMTP URL",
    );
    let line = serve_fails_with_env(
        &["--smtp-url", "smtp://user:hunter2@mail.example:99999"],
        &[],
        "invalid SMTP URL",
    );
    assert!(!line.contains("hunter2"), "{line}");
    serve_fails_with_env(
        &["--mail-from", "not an address"],
        &[],
        "invalid --mail-from",
    );
    for flag in ["--otp-ttl", "--access-token-ttl", "--refresh-token-ttl"] {
        serve_fails_with_env(&[flag, "0"], &[], "must be at least 1 second");
    }
    serve_fails_with_env(
        &[],
        &[("TIQUO_OTP_TTL", "0")],
        "--otp-ttl must be at least 1 second",
    );
}
