//! Email codes, the limits: wrong codes burn a code, codes expire, a new
//! send replaces the code, sends are throttled per email and per client IP,
//! a code is accepted once however many requests race with it, and what is
//! not a well-formed request is refused. Throttle windows are crossed by
//! ageing the `otp_sends` rows instead of waiting.

use std::time::{Duration, Instant};

use serde_json::{Value, json};

use super::codes::{age_sends, assert_invalid_code, assert_throttled, now_ms, send_ok, wrong};
use super::{app_with_mail, send, verify};
use crate::helpers::{Backend, TestApp, assert_error, json_of};

crate::both_backends!(
    five_wrong_codes_burn_the_code,
    expired_code_is_refused,
    new_send_replaces_the_previous_code,
    throttled_send_keeps_the_first_code,
    second_send_to_an_email_within_a_minute_is_throttled,
    eleventh_send_from_one_ip_within_a_minute_is_throttled,
    eleventh_send_to_an_email_within_an_hour_is_throttled,
    fifty_first_send_from_one_ip_within_an_hour_is_throttled,
    racing_verifies_accept_the_code_once,
    racing_wrong_codes_still_burn_the_code,
    racing_sends_to_one_email_are_throttled,
    racing_sends_from_one_ip_are_throttled,
    send_refuses_bad_input,
    verify_refuses_bad_input,
);

/// `{"email", "code"}` for the default organization.
fn attempt(email: &str, code: &str) -> Value {
    json!({ "email": email, "code": code })
}

/// Records `count` past sends under `key`, `minutes(i)` minutes ago.
async fn past_sends(app: &TestApp, key: &str, count: i64, minutes: impl Fn(i64) -> i64) {
    let now = now_ms();
    for i in 0..count {
        let at = now - minutes(i) * 60_000;
        crate::photos::execute(
            app,
            &format!("INSERT INTO otp_sends (throttle_key, sent_at_ms) VALUES ('{key}', {at})"),
        )
        .await;
    }
}

async fn five_wrong_codes_burn_the_code(backend: Backend) {
    let (app, sink) = app_with_mail(backend, &[]).await;
    send_ok(&app, &json!({ "email": "four@example.com" })).await;
    send_ok(&app, &json!({ "email": "five@example.com" })).await;
    let four = sink.code_for("four@example.com", 1).await;
    let five = sink.code_for("five@example.com", 1).await;

    // Four wrong tries leave the code alive.
    let mut messages = Vec::new();
    for n in 1..=4 {
        let response = verify(&app, &attempt("four@example.com", &wrong(&four, n))).await;
        messages.push(assert_invalid_code(response).await);
    }
    json_of(verify(&app, &attempt("four@example.com", &four)).await, 200).await;

    // The fifth burns it: the right code fails afterwards.
    for n in 1..=5 {
        let response = verify(&app, &attempt("five@example.com", &wrong(&five, n))).await;
        messages.push(assert_invalid_code(response).await);
    }
    let burnt = assert_invalid_code(verify(&app, &attempt("five@example.com", &five)).await).await;

    // A used code, and an address that never got one, answer the same.
    let used = assert_invalid_code(verify(&app, &attempt("four@example.com", &four)).await).await;
    let never =
        assert_invalid_code(verify(&app, &attempt("never@example.com", "123456")).await).await;
    for message in messages.iter().chain([&burnt, &used, &never]) {
        assert_eq!(message, &messages[0], "one message for every refused code");
    }
}

async fn expired_code_is_refused(backend: Backend) {
    let (app, sink) = app_with_mail(backend, &["--otp-ttl", "1"]).await;

    // In time, a code works (when this machine is quick enough to tell).
    let started = Instant::now();
    send_ok(&app, &json!({ "email": "quick@example.com" })).await;
    let quick = sink.code_for("quick@example.com", 1).await;
    let response = verify(&app, &attempt("quick@example.com", &quick)).await;
    if started.elapsed() < Duration::from_millis(800) {
        json_of(response, 200).await;
    }

    let sent = Instant::now();
    send_ok(&app, &json!({ "email": "late@example.com" })).await;
    send_ok(&app, &json!({ "email": "wrong@example.com" })).await;
    let late = sink.code_for("late@example.com", 1).await;
    let other = sink.code_for("wrong@example.com", 1).await;
    let wrong_message =
        assert_invalid_code(verify(&app, &attempt("wrong@example.com", &wrong(&other, 1))).await)
            .await;

    tokio::time::sleep(
        (sent + Duration::from_millis(1200)).saturating_duration_since(Instant::now()),
    )
    .await;
    let expired =
        assert_invalid_code(verify(&app, &attempt("late@example.com", &late)).await).await;
    assert_eq!(
        expired, wrong_message,
        "one message for expired and wrong codes"
    );
}

async fn new_send_replaces_the_previous_code(backend: Backend) {
    let (app, sink) = app_with_mail(backend, &[]).await;
    send_ok(&app, &json!({ "email": "again@example.com" })).await;
    let first = sink.code_for("again@example.com", 1).await;

    age_sends(&app).await;
    send_ok(&app, &json!({ "email": "again@example.com" })).await;
    let second = sink.code_for("again@example.com", 2).await;
    assert_ne!(first, second, "two sends mailed the same code");

    assert_invalid_code(verify(&app, &attempt("again@example.com", &first)).await).await;
    json_of(
        verify(&app, &attempt("again@example.com", &second)).await,
        200,
    )
    .await;
}

async fn throttled_send_keeps_the_first_code(backend: Backend) {
    let (app, sink) = app_with_mail(backend, &[]).await;
    send_ok(&app, &json!({ "email": "patient@example.com" })).await;
    let code = sink.code_for("patient@example.com", 1).await;
    assert_throttled(send(&app, &json!({ "email": "patient@example.com" })).await).await;

    // The refused send mailed nothing and left the code as it was.
    tokio::time::sleep(Duration::from_millis(300)).await;
    assert_eq!(sink.mails_to("patient@example.com").len(), 1);
    json_of(
        verify(&app, &attempt("patient@example.com", &code)).await,
        200,
    )
    .await;
}

async fn second_send_to_an_email_within_a_minute_is_throttled(backend: Backend) {
    let (app, _sink) = app_with_mail(backend, &[]).await;
    send_ok(&app, &json!({ "email": "often@example.com" })).await;

    let secs = assert_throttled(send(&app, &json!({ "email": "often@example.com" })).await).await;
    assert!(secs <= 60, "Retry-After {secs} for a one-minute limit");
    // The limit is per address, whatever its case...
    assert_throttled(send(&app, &json!({ "email": "Often@EXAMPLE.com" })).await).await;
    // ...and per organization; other addresses are not affected.
    send_ok(&app, &json!({ "email": "seldom@example.com" })).await;
    send_ok(
        &app,
        &json!({ "email": "often@example.com", "organizationId": "org_other" }),
    )
    .await;

    // A minute later, the address may ask again.
    age_sends(&app).await;
    send_ok(&app, &json!({ "email": "often@example.com" })).await;
}

async fn eleventh_send_from_one_ip_within_a_minute_is_throttled(backend: Backend) {
    let (app, sink) = app_with_mail(backend, &[]).await;
    for i in 0..10 {
        send_ok(&app, &json!({ "email": format!("ip{i}@example.com") })).await;
    }
    let secs = assert_throttled(send(&app, &json!({ "email": "ip10@example.com" })).await).await;
    assert!(secs <= 60, "Retry-After {secs} for a one-minute limit");

    age_sends(&app).await;
    send_ok(&app, &json!({ "email": "ip10@example.com" })).await;
    sink.wait_for("ip10@example.com", 1).await;
    assert_eq!(sink.mails().len(), 11, "one mail per accepted send");
}

async fn eleventh_send_to_an_email_within_an_hour_is_throttled(backend: Backend) {
    let (app, _sink) = app_with_mail(backend, &[]).await;
    // Nine sends in the last hour (none in the last minute): one more is allowed.
    past_sends(&app, "email:org_default:nine@example.com", 9, |i| 2 + 5 * i).await;
    send_ok(&app, &json!({ "email": "Nine@example.com" })).await;

    // Ten: the next is refused until the oldest is an hour old.
    past_sends(&app, "email:org_default:hourly@example.com", 10, |i| {
        2 + 48 * i / 9
    })
    .await;
    let secs = assert_throttled(send(&app, &json!({ "email": "Hourly@Example.com" })).await).await;
    assert!(
        secs > 60 && secs <= 3600,
        "Retry-After {secs} for the hourly limit (oldest send 50 minutes ago)"
    );
    // Another organization's key is not that one.
    send_ok(
        &app,
        &json!({ "email": "hourly@example.com", "organizationId": "org_other" }),
    )
    .await;
}

async fn fifty_first_send_from_one_ip_within_an_hour_is_throttled(backend: Backend) {
    let (app, _sink) = app_with_mail(backend, &[]).await;
    // The test client connects from 127.0.0.1.
    past_sends(&app, "ip:127.0.0.1", 49, |i| 2 + i).await;
    send_ok(&app, &json!({ "email": "fiftieth@example.com" })).await;
    let secs =
        assert_throttled(send(&app, &json!({ "email": "fifty-first@example.com" })).await).await;
    assert!(
        secs > 60 && secs <= 3600,
        "Retry-After {secs} for the hourly IP limit"
    );
}

async fn racing_verifies_accept_the_code_once(backend: Backend) {
    let (app, sink) = app_with_mail(backend, &[]).await;
    for round in 0..3 {
        let email = format!("race{round}@example.com");
        send_ok(&app, &json!({ "email": email })).await;
        let code = sink.code_for(&email, 1).await;
        let body = attempt(&email, &code);
        let racers = (0..4).map(|_| verify(&app, &body));
        let responses = futures_util::future::join_all(racers).await;
        let mut winners = Vec::new();
        for response in responses {
            if response.status() == 200 {
                winners.push(json_of(response, 200).await["data"].clone());
            } else {
                assert_error(response, 401, "invalid_code").await;
            }
        }
        assert_eq!(winners.len(), 1, "round {round}: {winners:?}");
        let access = winners[0]["access_token"].as_str().unwrap();
        json_of(app.get_profile(access).await, 200).await;
    }
}

async fn racing_wrong_codes_still_burn_the_code(backend: Backend) {
    let (app, sink) = app_with_mail(backend, &[]).await;
    send_ok(&app, &json!({ "email": "guess@example.com" })).await;
    let code = sink.code_for("guess@example.com", 1).await;
    // Eight guesses at once get no more than the five tries one after another would.
    let guesses: Vec<_> = (1..=8)
        .map(|n| attempt("guess@example.com", &wrong(&code, n)))
        .collect();
    let racers = guesses.iter().map(|body| verify(&app, body));
    for response in futures_util::future::join_all(racers).await {
        assert_invalid_code(response).await;
    }
    assert_invalid_code(verify(&app, &attempt("guess@example.com", &code)).await).await;
}

/// Statuses of `bodies` sent to `/auth/otp/send` all at once.
async fn racing_sends(app: &TestApp, bodies: &[Value]) -> Vec<u16> {
    let racers = bodies.iter().map(|body| send(app, body));
    let mut statuses = Vec::new();
    for response in futures_util::future::join_all(racers).await {
        let status = response.status().as_u16();
        if status == 429 {
            assert_throttled(response).await;
        } else {
            json_of(response, 200).await;
        }
        statuses.push(status);
    }
    statuses
}

async fn racing_sends_to_one_email_are_throttled(backend: Backend) {
    let (app, sink) = app_with_mail(backend, &[]).await;
    let body = json!({ "email": "burst@example.com" });
    let statuses = racing_sends(&app, &vec![body; 5]).await;
    let accepted = statuses.iter().filter(|&&s| s == 200).count();
    assert_eq!(
        accepted, 1,
        "1 send per minute per email; statuses {statuses:?}"
    );
    sink.wait_for("burst@example.com", 1).await;
    tokio::time::sleep(Duration::from_millis(300)).await;
    assert_eq!(sink.mails_to("burst@example.com").len(), 1);
}

async fn racing_sends_from_one_ip_are_throttled(backend: Backend) {
    let (app, _sink) = app_with_mail(backend, &[]).await;
    let bodies: Vec<_> = (0..15)
        .map(|i| json!({ "email": format!("crowd{i}@example.com") }))
        .collect();
    let statuses = racing_sends(&app, &bodies).await;
    let accepted = statuses.iter().filter(|&&s| s == 200).count();
    assert_eq!(
        accepted, 10,
        "10 sends per minute per IP; statuses {statuses:?}"
    );
}

/// Posts raw JSON text to an endpoint.
async fn post_raw(app: &TestApp, path: &str, body: &str) -> reqwest::Response {
    app.client
        .post(app.api(path))
        .header("content-type", "application/json")
        .body(body.to_owned())
        .send()
        .await
        .expect("request")
}

async fn assert_field_error(response: reqwest::Response, field: &str) {
    let body = assert_error(response, 400, "invalid_field").await;
    assert_eq!(body["field"], json!(field), "{body}");
}

async fn send_refuses_bad_input(backend: Backend) {
    let (app, sink) = app_with_mail(backend, &[]).await;
    let mut requests = 0;
    for body in [
        json!({}),
        json!({ "organizationId": "org_default" }),
        json!({ "email": 42 }),
        json!({ "email": null }),
        json!({ "email": ["a@example.com"] }),
        json!({ "email": "not-an-email" }),
        json!({ "email": "" }),
        json!({ "email": "two words@example.com" }),
    ] {
        assert_field_error(send(&app, &body).await, "email").await;
        requests += 1;
    }
    let unknown = json!({ "email": "a@example.com", "phone": "+15550100" });
    assert_error(send(&app, &unknown).await, 400, "invalid_field").await;
    for raw in ["[]", "\"a@example.com\"", "42", "null", "true"] {
        assert_error(
            post_raw(&app, "/auth/otp/send", raw).await,
            400,
            "invalid_request",
        )
        .await;
        requests += 1;
    }
    assert!(requests > 10);

    // Refused requests mail nothing and are no sends: the per-IP limit of
    // 10 a minute is untouched.
    send_ok(&app, &json!({ "email": "a@example.com" })).await;
    sink.wait_for("a@example.com", 1).await;
    assert_eq!(sink.mails().len(), 1, "{:?}", sink.mails());
}

async fn verify_refuses_bad_input(backend: Backend) {
    let (app, sink) = app_with_mail(backend, &[]).await;
    send_ok(&app, &json!({ "email": "input@example.com" })).await;
    let code = sink.code_for("input@example.com", 1).await;

    assert_field_error(
        verify(&app, &json!({ "email": "input@example.com" })).await,
        "code",
    )
    .await;
    assert_field_error(
        verify(
            &app,
            &json!({ "email": "input@example.com", "code": 123456 }),
        )
        .await,
        "code",
    )
    .await;
    for email in [json!(null), json!(7), json!("nope")] {
        let mut body = json!({ "code": code });
        if !email.is_null() {
            body["email"] = email;
        }
        assert_field_error(verify(&app, &body).await, "email").await;
    }
    let unknown = json!({ "email": "input@example.com", "code": code, "remember": true });
    assert_error(verify(&app, &unknown).await, 400, "invalid_field").await;
    for raw in ["[]", "\"input@example.com\"", "null"] {
        assert_error(
            post_raw(&app, "/auth/otp/verify", raw).await,
            400,
            "invalid_request",
        )
        .await;
    }

    // None of that spent or counted against the code.
    json_of(
        verify(&app, &json!({ "email": "input@example.com", "code": code })).await,
        200,
    )
    .await;
}
