//! Storage cleanup: `tiquo-edge gc` and the server's periodic task remove
//! uploads never attached within `--orphan-ttl`, expired upload tickets and
//! objects whose delete failed; running it twice, or in two processes at
//! once, deletes and reports nothing twice. Rows are aged with SQL instead
//! of waiting for real TTLs.

use std::collections::HashSet;
use std::time::Duration;

use serde_json::Value;

use super::{
    cleanup_rows, execute, fetch, object_rows, png, query_i64, set_photo, stored_keys, upload,
    upload_image, upload_url,
};
use crate::helpers::{Backend, Storage, TestApp, json_of};

const HOUR_MS: i64 = 3_600_000;

/// Unix ms now, by the test's clock (the server runs on the same machine).
pub fn now_ms() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_millis() as i64
}

/// The first column (text) of every row `sql` returns.
pub async fn query_texts(app: &TestApp, sql: &str) -> Vec<String> {
    use sqlx::Connection;
    sqlx::any::install_default_drivers();
    let mut conn = sqlx::AnyConnection::connect(&app.database_url)
        .await
        .expect("connect to the test database");
    let rows: Vec<(String,)> = sqlx::query_as(sql)
        .fetch_all(&mut conn)
        .await
        .unwrap_or_else(|e| panic!("{sql}: {e}"));
    conn.close().await.ok();
    rows.into_iter().map(|(s,)| s).collect()
}

/// `tiquo-edge gc` with extra flags; checks the report's shape.
pub fn gc(app: &TestApp, extra: &[&str]) -> Value {
    let mut args = vec!["gc"];
    args.extend_from_slice(extra);
    let report = app.cli_json(&args);
    check_shape(&report);
    report
}

/// `{"expiredTickets":N,"orphanedUploads":[..],"deletedObjects":[..],"failedDeletes":[..]}`.
pub fn check_shape(report: &Value) {
    assert!(
        report["expiredTickets"].is_u64(),
        "expiredTickets: {report}"
    );
    for field in ["orphanedUploads", "deletedObjects", "failedDeletes"] {
        assert!(
            report[field]
                .as_array()
                .is_some_and(|a| a.iter().all(Value::is_string)),
            "{field} is not a list of ids: {report}"
        );
    }
}

/// The ids listed under `field` of a gc report.
pub fn ids(report: &Value, field: &str) -> Vec<String> {
    report[field]
        .as_array()
        .unwrap_or_else(|| panic!("no {field} list: {report}"))
        .iter()
        .map(|v| v.as_str().expect("id").to_owned())
        .collect()
}

fn assert_nothing_done(report: &Value) {
    assert_eq!(report["expiredTickets"], 0, "{report}");
    for field in ["orphanedUploads", "deletedObjects", "failedDeletes"] {
        assert!(ids(report, field).is_empty(), "{field}: {report}");
    }
}

async fn object_row(app: &TestApp, id: &str) -> i64 {
    query_i64(
        app,
        &format!("SELECT COUNT(*) FROM stored_objects WHERE storage_id = '{id}'"),
    )
    .await
}

async fn queued(app: &TestApp, id: &str) -> i64 {
    query_i64(
        app,
        &format!("SELECT COUNT(*) FROM object_cleanup WHERE storage_id = '{id}'"),
    )
    .await
}

crate::storage_matrix!(
    gc_removes_unattached_uploads_after_a_day_and_keeps_attached_photos,
    gc_honours_the_orphan_ttl_flag,
    gc_run_twice_reports_nothing_the_second_time,
    gc_removes_expired_tickets_and_keeps_fresh_ones,
    background_task_removes_orphans_and_keeps_attached_photos,
    concurrent_collectors_delete_everything_and_report_each_orphan_once,
);

async fn gc_removes_unattached_uploads_after_a_day_and_keeps_attached_photos(
    backend: Backend,
    storage: Storage,
) {
    let app = TestApp::spawn_on(backend, storage, &[]).await;
    let (_, token) = app.customer_with_token("gc-orphan@example.com");
    let attached_bytes = png(3000);
    let (attached, _) = set_photo(&app, &token, attached_bytes.clone()).await;
    let orphan = upload_image(&app, &token, "image/png", png(2000)).await;

    // Just uploaded: kept.
    let report = gc(&app, &[]);
    assert!(
        !ids(&report, "orphanedUploads").contains(&orphan),
        "{report}"
    );
    assert!(
        !ids(&report, "deletedObjects").contains(&orphan),
        "{report}"
    );
    assert_eq!(object_row(&app, &orphan).await, 1);
    assert!(
        stored_keys(&app)
            .await
            .contains(&format!("photos/{orphan}"))
    );

    // 23 hours old: still within the default TTL of 24 hours.
    let age = |hours: i64| {
        format!(
            "UPDATE stored_objects SET created_at_ms = {}",
            now_ms() - hours * HOUR_MS
        )
    };
    execute(&app, &age(23)).await;
    let report = gc(&app, &[]);
    assert!(ids(&report, "orphanedUploads").is_empty(), "{report}");
    assert!(ids(&report, "deletedObjects").is_empty(), "{report}");
    assert_eq!(object_rows(&app).await, 2);

    // 25 hours old (both objects): the unattached one goes, the photo stays.
    execute(&app, &age(25)).await;
    let report = gc(&app, &[]);
    assert_eq!(
        ids(&report, "orphanedUploads"),
        vec![orphan.clone()],
        "{report}"
    );
    assert_eq!(
        ids(&report, "deletedObjects"),
        vec![orphan.clone()],
        "{report}"
    );
    assert!(ids(&report, "failedDeletes").is_empty(), "{report}");
    assert_eq!(
        stored_keys(&app).await,
        vec![format!("photos/{attached}")],
        "only the attached photo's bytes are left"
    );
    assert_eq!(object_row(&app, &orphan).await, 0);
    assert_eq!(queued(&app, &orphan).await, 0);
    assert_eq!(cleanup_rows(&app).await, 0);
    assert_eq!(object_row(&app, &attached).await, 1);
    let served = fetch(&app, &attached).await;
    assert_eq!(served.status(), 200);
    assert_eq!(served.bytes().await.unwrap().to_vec(), attached_bytes);

    // Even far older, an attached photo is never collected.
    execute(&app, &age(24 * 400)).await;
    let report = gc(&app, &[]);
    assert_nothing_done(&report);
    assert_eq!(fetch(&app, &attached).await.status(), 200);
}

async fn gc_honours_the_orphan_ttl_flag(backend: Backend, storage: Storage) {
    let app = TestApp::spawn_on(backend, storage, &[]).await;
    let (_, token) = app.customer_with_token("gc-ttl@example.com");
    let orphan = upload_image(&app, &token, "image/png", png(1500)).await;

    // Two hours old, but the TTL is three hours.
    execute(
        &app,
        &format!(
            "UPDATE stored_objects SET created_at_ms = {}",
            now_ms() - 2 * HOUR_MS
        ),
    )
    .await;
    let report = gc(&app, &["--orphan-ttl", "10800"]);
    assert!(ids(&report, "orphanedUploads").is_empty(), "{report}");
    assert_eq!(object_row(&app, &orphan).await, 1);

    // A fresh upload and a TTL of one second, really waited for.
    let fresh = upload_image(&app, &token, "image/png", png(1600)).await;
    tokio::time::sleep(Duration::from_millis(1100)).await;
    let report = gc(&app, &["--orphan-ttl", "1"]);
    let mut orphaned = ids(&report, "orphanedUploads");
    orphaned.sort();
    let mut expected = vec![orphan.clone(), fresh.clone()];
    expected.sort();
    assert_eq!(orphaned, expected, "{report}");
    let mut deleted = ids(&report, "deletedObjects");
    deleted.sort();
    assert_eq!(deleted, expected, "{report}");
    assert!(stored_keys(&app).await.is_empty());
    assert_eq!(object_rows(&app).await, 0);
    assert_eq!(cleanup_rows(&app).await, 0);
}

async fn gc_run_twice_reports_nothing_the_second_time(backend: Backend, storage: Storage) {
    let app = TestApp::spawn_on(backend, storage, &[]).await;
    let (_, token) = app.customer_with_token("gc-twice@example.com");
    let (first, _) = set_photo(&app, &token, png(1000)).await;
    let orphan = upload_image(&app, &token, "image/png", png(1200)).await;
    upload_url(&app, &token).await;
    execute(&app, "UPDATE stored_objects SET created_at_ms = 0").await;
    execute(&app, "UPDATE upload_tickets SET expires_at_ms = 0").await;

    let report = gc(&app, &[]);
    assert_eq!(
        ids(&report, "orphanedUploads"),
        vec![orphan.clone()],
        "{report}"
    );
    assert_eq!(
        ids(&report, "deletedObjects"),
        vec![orphan.clone()],
        "{report}"
    );
    // Two used tickets and one unused one, all expired.
    assert_eq!(report["expiredTickets"], 3, "{report}");

    let out = app.cli(&["gc"]);
    assert!(
        out.status.success(),
        "second gc failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    let again: Value = serde_json::from_slice(&out.stdout).expect("gc prints JSON");
    check_shape(&again);
    assert_nothing_done(&again);
    assert_eq!(stored_keys(&app).await, vec![format!("photos/{first}")]);
    assert_eq!(fetch(&app, &first).await.status(), 200);
}

async fn gc_removes_expired_tickets_and_keeps_fresh_ones(backend: Backend, storage: Storage) {
    let app = TestApp::spawn_on(backend, storage, &[]).await;
    let (_, token) = app.customer_with_token("gc-tickets@example.com");
    upload_url(&app, &token).await;
    upload_url(&app, &token).await;
    execute(&app, "UPDATE upload_tickets SET expires_at_ms = 0").await;
    let fresh = upload_url(&app, &token).await;
    let tickets = || query_i64(&app, "SELECT COUNT(*) FROM upload_tickets");
    assert_eq!(tickets().await, 3);

    let report = gc(&app, &[]);
    assert_eq!(report["expiredTickets"], 2, "{report}");
    assert!(ids(&report, "orphanedUploads").is_empty(), "{report}");
    assert_eq!(tickets().await, 1, "only the fresh ticket is left");
    let report = gc(&app, &[]);
    assert_eq!(report["expiredTickets"], 0, "{report}");

    // The fresh ticket still works.
    let body = json_of(upload(&app, &fresh, Some("image/png"), png(800)).await, 200).await;
    assert!(body["data"]["storageId"].is_string(), "{body}");
}

async fn background_task_removes_orphans_and_keeps_attached_photos(
    backend: Backend,
    storage: Storage,
) {
    let app = TestApp::spawn_on(
        backend,
        storage,
        &["--gc-interval", "1", "--orphan-ttl", "1"],
    )
    .await;
    let (_, token) = app.customer_with_token("gc-background@example.com");
    let attached_bytes = png(2500);
    let (attached, _) = set_photo(&app, &token, attached_bytes.clone()).await;
    let orphan = upload_image(&app, &token, "image/png", png(1800)).await;
    let orphan_key = format!("photos/{orphan}");
    assert!(stored_keys(&app).await.contains(&orphan_key));

    let deadline = tokio::time::Instant::now() + Duration::from_secs(10);
    loop {
        let keys = stored_keys(&app).await;
        let gone = !keys.contains(&orphan_key)
            && object_row(&app, &orphan).await == 0
            && queued(&app, &orphan).await == 0;
        if gone {
            break;
        }
        assert!(
            tokio::time::Instant::now() < deadline,
            "the background task did not remove the orphan within 10 s: keys {keys:?}, \
             row {}, queued {}",
            object_row(&app, &orphan).await,
            queued(&app, &orphan).await
        );
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    // A few more runs of the task leave the attached photo alone.
    tokio::time::sleep(Duration::from_millis(2200)).await;
    assert_eq!(stored_keys(&app).await, vec![format!("photos/{attached}")]);
    assert_eq!(object_row(&app, &attached).await, 1);
    let served = fetch(&app, &attached).await;
    assert_eq!(served.status(), 200);
    assert_eq!(served.bytes().await.unwrap().to_vec(), attached_bytes);
}

async fn concurrent_collectors_delete_everything_and_report_each_orphan_once(
    backend: Backend,
    storage: Storage,
) {
    let app = TestApp::spawn_on(backend, storage, &[]).await;
    let (_, token) = app.customer_with_token("gc-race@example.com");
    let mut orphans = Vec::new();
    for i in 0..6 {
        orphans.push(upload_image(&app, &token, "image/png", png(1000 + i)).await);
    }
    execute(&app, "UPDATE stored_objects SET created_at_ms = 0").await;
    assert_eq!(stored_keys(&app).await.len(), 6);

    let barrier = std::sync::Barrier::new(2);
    let outputs: Vec<_> = std::thread::scope(|scope| {
        let runs: Vec<_> = (0..2)
            .map(|_| {
                scope.spawn(|| {
                    barrier.wait();
                    app.cli(&["gc"])
                })
            })
            .collect();
        runs.into_iter().map(|run| run.join().unwrap()).collect()
    });
    let mut reports = Vec::new();
    for out in &outputs {
        assert!(
            out.status.success(),
            "a concurrent gc failed: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        let report: Value = serde_json::from_slice(&out.stdout).expect("gc prints JSON");
        check_shape(&report);
        assert!(ids(&report, "failedDeletes").is_empty(), "{report}");
        reports.push(report);
    }

    let expected: HashSet<String> = orphans.iter().cloned().collect();
    let mut orphaned = Vec::new();
    let mut deleted = HashSet::new();
    for report in &reports {
        orphaned.extend(ids(report, "orphanedUploads"));
        deleted.extend(ids(report, "deletedObjects"));
    }
    let orphaned_set: HashSet<String> = orphaned.iter().cloned().collect();
    assert_eq!(
        orphaned.len(),
        orphaned_set.len(),
        "an orphan was reported twice: {reports:?}"
    );
    assert_eq!(orphaned_set, expected, "{reports:?}");
    assert_eq!(deleted, expected, "{reports:?}");
    assert!(stored_keys(&app).await.is_empty());
    assert_eq!(object_rows(&app).await, 0);
    assert_eq!(cleanup_rows(&app).await, 0);
}
