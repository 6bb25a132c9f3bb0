//! Issue 11 (4): README examples that work on any day. The `vpp` lines of every README
//! block marked `# (tested: tests/it/readme.rs …)` are extracted from README.md itself and
//! run, in order, by a shell, against a real `vpp serve` started from `config/dev.toml`
//! (the run command's config; only its ports and database file are moved), on the day the
//! test runs. Every line must exit 0.

use std::process::{Command, Stdio};
use std::time::Duration;

use crate::repo;
use crate::service::temp_db;

const MARKER: &str = "# (tested: tests/it/readme.rs";

/// The command lines of the marked blocks (continuations joined, comments dropped).
fn tested_lines(readme: &str) -> Vec<String> {
    let mut out = Vec::new();
    let mut in_block = false;
    let mut marked = false;
    let mut pending = String::new();
    for line in readme.lines() {
        if line.starts_with("```") {
            in_block = !in_block && line.starts_with("```sh");
            marked = false;
            continue;
        }
        if !in_block {
            continue;
        }
        if line.starts_with(MARKER) {
            marked = true;
            continue;
        }
        if !marked || line.trim_start().starts_with('#') || line.trim().is_empty() {
            continue;
        }
        let (text, more) = match line.trim_end().strip_suffix('\\') {
            Some(head) => (head, true),
            None => (line.trim_end(), false),
        };
        pending.push_str(text);
        if !more {
            out.push(std::mem::take(&mut pending));
        }
    }
    out
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn issue11_readme_blocks_run_on_any_day() {
    let readme = std::fs::read_to_string(repo("README.md")).expect("README.md");
    let lines = tested_lines(&readme);
    assert!(lines.len() >= 5, "the README has its tested block: {lines:?}");
    let db = temp_db("readme");
    let port = std::net::TcpListener::bind("127.0.0.1:0").expect("port").local_addr().expect("addr").port();
    let bin = env!("CARGO_BIN_EXE_vpp");
    let mut server = Command::new(bin)
        .args(["serve", "--config", "config/dev.toml"])
        .current_dir(repo(""))
        .env("VPP_LISTEN", format!("127.0.0.1:{port}"))
        .env("VPP_DATABASE", &db)
        .env("VPP_WEB_LISTEN", "off")
        .env("VPP_METRICS_LISTEN", "off")
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .expect("vpp serve starts");
    let addr = format!("http://127.0.0.1:{port}");
    let mut up = false;
    for _ in 0..400 {
        if tonic::transport::Channel::from_shared(addr.clone()).expect("uri").connect().await.is_ok() {
            up = true;
            break;
        }
        tokio::time::sleep(Duration::from_millis(25)).await;
    }
    assert!(up, "vpp serve listens");
    let bin_dir = std::path::Path::new(bin).parent().expect("bin dir").to_path_buf();
    let path = format!("{}:{}", bin_dir.display(), std::env::var("PATH").unwrap_or_default());
    let mut failures = Vec::new();
    for line in &lines {
        assert!(line.starts_with("vpp "), "a tested README line runs vpp: {line}");
        let out = Command::new("sh")
            .args(["-c", line])
            .current_dir(repo(""))
            .env("PATH", &path)
            .env("VPP_ADDR", &addr)
            .output()
            .expect("sh runs");
        if !out.status.success() {
            failures.push(format!("{line}\n  exit {:?}: {}", out.status.code(), String::from_utf8_lossy(&out.stderr)));
        }
    }
    // Issue 11 (5): `--json` prints the whole answer by the protobuf JSON mapping.
    let out = Command::new(bin)
        .args(["client", "--json", "--token", "dev-shihe-token", "share", "--park", "shihe_park", "--day", "today+2"])
        .env("VPP_ADDR", &addr)
        .output()
        .expect("vpp runs");
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let report: serde_json::Value = serde_json::from_slice(&out.stdout).expect("JSON on stdout");
    assert_eq!(report["subject"], "shihe_park");
    let day = &report["days"][0];
    assert_eq!(day["intervals"].as_array().map(Vec::len), Some(24), "{day}");
    assert!(day["intervals"][0]["start"].as_str().is_some_and(|s| s.ends_with('Z')), "RFC 3339 instants: {}", day["intervals"][0]);
    assert!(report["share"].as_f64().is_some_and(|s| (0.0..=1.0).contains(&s)), "a fraction: {}", report["share"]);
    // Issue 11 (5): errors read `CODE: message`, and the command exits non-zero.
    let out = Command::new(bin)
        .args(["client", "--token", "dev-operator-token", "schedule", "--day", "2000-01-01"])
        .env("VPP_ADDR", &addr)
        .output()
        .expect("vpp runs");
    let err = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(1), "{err}");
    assert!(err.starts_with("error: NOT_FOUND: no schedule published for 2000-01-01"), "{err}");
    let _ = server.kill();
    let _ = server.wait();
    assert!(failures.is_empty(), "README lines failed:\n{}", failures.join("\n"));
}
