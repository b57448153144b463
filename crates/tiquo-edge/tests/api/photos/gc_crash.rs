//! Cleanup after things went wrong: a delete that failed is retried by gc;
//! a server killed mid-upload leaves nothing visible and only a queued key
//! that gc removes; and gc never touches an upload still in progress.

use std::io::{BufRead, BufReader};
use std::process::{Child, Command, Stdio};
use std::time::Duration;

use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

use super::gc::{gc, ids, now_ms, query_texts};
use super::{
    attach, cleanup_rows, execute, fetch, jpeg, object_rows, png, query_i64, set_photo,
    stored_keys, upload_url,
};
use crate::helpers::{Backend, Storage, TestApp, json_of};

crate::both_backends!(
    failed_delete_is_reported_and_retried,
    server_killed_mid_upload_leaves_only_a_queued_key,
);
crate::storage_matrix!(gc_leaves_an_upload_in_progress_alone);

async fn attempts(app: &TestApp, id: &str) -> i64 {
    query_i64(
        app,
        &format!("SELECT CAST(attempts AS BIGINT) FROM object_cleanup WHERE storage_id = '{id}'"),
    )
    .await
}

async fn failed_delete_is_reported_and_retried(backend: Backend) {
    let app = TestApp::spawn_on(backend, Storage::File, &[]).await;
    let (_, token) = app.customer_with_token("gc-retry@example.com");
    let (a, _) = set_photo(&app, &token, png(1000)).await;

    // A's key becomes a non-empty directory: deleting it as a file fails.
    let path = app.data_dir.path().join("blobs/photos").join(&a);
    std::fs::remove_file(&path).unwrap();
    std::fs::create_dir(&path).unwrap();
    std::fs::write(path.join("pin"), b"x").unwrap();

    let b_bytes = png(1100);
    let (b, _) = set_photo(&app, &token, b_bytes.clone()).await;
    assert_eq!(cleanup_rows(&app).await, 1, "A is queued for deletion");
    assert_eq!(
        query_texts(&app, "SELECT storage_id FROM object_cleanup").await,
        vec![a.clone()]
    );
    assert_eq!(object_rows(&app).await, 1, "only B is recorded");

    let report = gc(&app, &[]);
    assert_eq!(ids(&report, "failedDeletes"), vec![a.clone()], "{report}");
    assert!(!ids(&report, "deletedObjects").contains(&a), "{report}");
    assert_eq!(cleanup_rows(&app).await, 1, "a failed delete stays queued");
    assert_eq!(attempts(&app, &a).await, 1);

    // The store works again and the retry is due: gc deletes A.
    std::fs::remove_dir_all(&path).unwrap();
    execute(&app, "UPDATE object_cleanup SET due_at_ms = 0").await;
    let report = gc(&app, &[]);
    assert_eq!(ids(&report, "deletedObjects"), vec![a.clone()], "{report}");
    assert!(ids(&report, "failedDeletes").is_empty(), "{report}");
    assert_eq!(cleanup_rows(&app).await, 0);
    assert_eq!(stored_keys(&app).await, vec![format!("photos/{b}")]);
    let served = fetch(&app, &b).await;
    assert_eq!(served.status(), 200);
    assert_eq!(served.bytes().await.unwrap().to_vec(), b_bytes);
}

/// A `tiquo-edge serve` child process, killed when dropped.
struct Server {
    child: Child,
    address: String,
}

impl Server {
    fn start(app: &TestApp) -> Self {
        let mut child = Command::new(env!("CARGO_BIN_EXE_tiquo-edge"))
            .args([
                "serve",
                "--listen",
                "127.0.0.1:0",
                "--gc-interval",
                "0",
                "--data-dir",
            ])
            .arg(app.data_dir.path())
            .args(["--database-url", &app.database_url])
            .args(["--storage-url", &app.storage_url])
            .env_remove("RUST_LOG")
            .stderr(Stdio::piped())
            .stdout(Stdio::null())
            .spawn()
            .expect("spawn serve");
        let stderr = child.stderr.take().unwrap();
        let (tx, rx) = std::sync::mpsc::channel();
        std::thread::spawn(move || {
            for line in BufReader::new(stderr).lines().map_while(Result::ok) {
                if let Some(address) = line
                    .contains("listening")
                    .then(|| {
                        line.split_whitespace()
                            .find_map(|f| f.strip_prefix("listen="))
                    })
                    .flatten()
                {
                    let _ = tx.send(address.to_owned());
                }
            }
        });
        let address = rx
            .recv_timeout(Duration::from_secs(30))
            .expect("serve did not log its address");
        Self { child, address }
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// Polls `check` every 50 ms for up to 10 s.
async fn wait_until<F, Fut>(what: &str, mut check: F)
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = bool>,
{
    let deadline = tokio::time::Instant::now() + Duration::from_secs(10);
    while !check().await {
        assert!(
            tokio::time::Instant::now() < deadline,
            "timed out waiting for {what}"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

/// Sends the request head and the first part of a body of `total` bytes.
async fn start_upload(address: &str, path: &str, total: usize, first: &[u8]) -> TcpStream {
    let mut stream = TcpStream::connect(address).await.expect("connect");
    let head = format!(
        "POST {path} HTTP/1.1\r\nHost: {address}\r\nContent-Type: image/jpeg\r\n\
         Content-Length: {total}\r\nConnection: close\r\n\r\n"
    );
    stream.write_all(head.as_bytes()).await.unwrap();
    stream.write_all(first).await.unwrap();
    stream.flush().await.unwrap();
    stream
}

async fn server_killed_mid_upload_leaves_only_a_queued_key(backend: Backend) {
    let app = TestApp::spawn_on(backend, Storage::File, &[]).await;
    let (_, token) = app.customer_with_token("gc-kill@example.com");
    let mut server = Server::start(&app);
    // The ticket lives in the shared database: any instance accepts it.
    let url = upload_url(&app, &token).await;
    let path = url
        .strip_prefix(&app.base)
        .expect("upload URL under the public URL");

    let body = jpeg(2_000_000);
    let _stream = start_upload(&server.address, path, body.len(), &body[..200_000]).await;
    wait_until("the upload to be queued", || async {
        cleanup_rows(&app).await == 1
    })
    .await;
    let id = query_texts(&app, "SELECT storage_id FROM object_cleanup")
        .await
        .remove(0);
    let staging = format!("photos/{id}#1");
    wait_until("the staging file", || async {
        stored_keys(&app).await.contains(&staging)
    })
    .await;
    tokio::time::sleep(Duration::from_millis(300)).await;
    server.child.kill().unwrap();
    server.child.wait().unwrap();

    // Nothing recorded, nothing visible; only the upload's intent is queued.
    assert_eq!(object_rows(&app).await, 0);
    assert_eq!(cleanup_rows(&app).await, 1);
    let keys = stored_keys(&app).await;
    assert!(
        keys.iter().all(|k| k == &staging),
        "only the staging file may be left: {keys:?}"
    );
    assert_eq!(fetch(&app, &id).await.status(), 404);

    // Not yet due: gc leaves it (another instance might still be receiving it).
    let report = gc(&app, &[]);
    assert!(!ids(&report, "deletedObjects").contains(&id), "{report}");
    assert_eq!(cleanup_rows(&app).await, 1);

    execute(&app, "UPDATE object_cleanup SET due_at_ms = 0").await;
    let report = gc(&app, &[]);
    assert_eq!(ids(&report, "deletedObjects"), vec![id.clone()], "{report}");
    assert!(ids(&report, "failedDeletes").is_empty(), "{report}");
    assert!(
        stored_keys(&app).await.is_empty(),
        "the staging file is gone"
    );
    assert_eq!(cleanup_rows(&app).await, 0);
}

async fn gc_leaves_an_upload_in_progress_alone(backend: Backend, storage: Storage) {
    let app = TestApp::spawn_on(backend, storage, &[]).await;
    let (_, token) = app.customer_with_token("gc-inflight@example.com");
    let url = upload_url(&app, &token).await;
    let path = url
        .strip_prefix(&app.base)
        .expect("upload URL under the public URL");
    let address = app.base.strip_prefix("http://").unwrap().to_owned();

    let body = jpeg(300_000);
    let mut stream = start_upload(&address, path, body.len(), &body[..100_000]).await;
    wait_until("the upload to be queued", || async {
        cleanup_rows(&app).await == 1
    })
    .await;
    let id = query_texts(&app, "SELECT storage_id FROM object_cleanup")
        .await
        .remove(0);

    // The ticket expires meanwhile, and another instance collects
    // everything it may, with the shortest TTL.
    let expired = now_ms() - 60_000;
    execute(
        &app,
        &format!("UPDATE upload_tickets SET expires_at_ms = {expired}"),
    )
    .await;
    let report = gc(&app, &["--orphan-ttl", "1"]);
    assert_eq!(report["expiredTickets"], 0, "{report}");
    assert!(!ids(&report, "deletedObjects").contains(&id), "{report}");
    assert_eq!(cleanup_rows(&app).await, 1);

    // The ticket was valid when the upload started: it completes.
    stream.write_all(&body[100_000..]).await.unwrap();
    stream.flush().await.unwrap();
    let mut response = Vec::new();
    let read =
        tokio::time::timeout(Duration::from_secs(10), stream.read_to_end(&mut response)).await;
    let response = String::from_utf8_lossy(&response).into_owned();
    assert!(read.is_ok(), "no answer to the upload: {response}");
    assert!(response.starts_with("HTTP/1.1 200"), "{response}");
    assert!(response.contains(&id), "{response}");
    assert_eq!(cleanup_rows(&app).await, 0);
    assert_eq!(stored_keys(&app).await, vec![format!("photos/{id}")]);

    json_of(attach(&app, &token, &id).await, 200).await;
    let served = fetch(&app, &id).await;
    assert_eq!(served.status(), 200);
    assert_eq!(served.bytes().await.unwrap().to_vec(), body);
}
