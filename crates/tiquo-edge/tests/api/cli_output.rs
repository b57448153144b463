//! Admin commands print JSON for scripts; a reader that stops early (as
//! `| head -1` does) must not turn a successful command into a crash.

use std::process::{Command, Stdio};

#[test]
fn a_closed_stdout_is_not_a_failure() {
    let dir = tempfile::tempdir().unwrap();
    let mut child = Command::new(env!("CARGO_BIN_EXE_tiquo-edge"))
        .args([
            "customers",
            "create",
            "--email",
            "pipe@example.com",
            "--data-dir",
        ])
        .arg(dir.path())
        .env_remove("RUST_LOG")
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    // Close the reading end before the command prints (it first opens and
    // migrates the database).
    drop(child.stdout.take());
    let out = child.wait_with_output().unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "exit {:?}: {stderr}", out.status);
    assert!(!stderr.contains("panicked"), "{stderr}");
}
