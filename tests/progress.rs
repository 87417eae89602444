//! Progress off a terminal: `precis summarize` in a pipe says what stage it
//! is in, in plain log lines without colour codes (the bar itself, and its
//! ten-second cadence, are unit-tested in src/progress.rs).

mod common;

use common::{rust_file, Repo};

#[test]
fn summarize_in_a_pipe_logs_its_stages_without_colour() {
    if !common::provisioned("summarize_in_a_pipe_logs_its_stages_without_colour") {
        return;
    }
    let repo = Repo::new();
    repo.write("src/lib.rs", rust_file("first", 2));
    let base = repo.commit("base");
    repo.write("src/lib.rs", rust_file("second", 3));
    repo.commit("change");
    let out = common::precis()
        .current_dir(repo.path())
        .args(["summarize", "--diff", &format!("{base}..HEAD"), "--model"])
        .arg(common::tiny_model())
        .args(["--device", "cpu", "--threads", "2", "--no-cache"])
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "{stderr}");
    let stage: Vec<&str> = stderr.lines().filter(|l| l.contains("summarizing")).collect();
    assert!(stage.iter().any(|l| l.contains("started")), "a line when the stage starts: {stderr}");
    assert!(stage.iter().any(|l| l.contains("done")), "a line when it ends: {stderr}");
    assert!(!stderr.contains('\u{1b}'), "no colour codes in a pipe: {stderr:?}");
}
