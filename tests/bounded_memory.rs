//! Memory per job is bounded by the settings, whatever the repository holds:
//! one blob of 1.9 MB of one-character lines behind many paths (a repository
//! of kilobytes) once took ~114 MB per path. The job runs in this process on
//! the deterministic fake model; its peak RSS (`VmHWM`) is what is asserted.
//! One test in its own binary, so no other test's memory is counted.

mod common;

use std::io::Write;
use std::process::{Command, Stdio};

use precis::pipeline::select::Reason;
use precis::pipeline::{AuthorContext, Input, Settings};

/// The bound the issue set for one job, in MB.
const BOUND_MB: u64 = 500;

/// This process's peak resident set since the last reset, in MB.
fn peak_rss_mb() -> u64 {
    let status = std::fs::read_to_string("/proc/self/status").unwrap();
    let line = status.lines().find(|l| l.starts_with("VmHWM:")).expect("VmHWM in /proc/self/status");
    line.split_whitespace().nth(1).unwrap().parse::<u64>().unwrap() / 1024
}

/// Resets the peak to the current RSS, so each job is measured alone.
fn reset_peak() {
    std::fs::write("/proc/self/clear_refs", "5").expect("writing /proc/self/clear_refs resets VmHWM");
}

/// A repository whose head adds the same blob at `paths` paths; returns (repo, base).
fn one_blob_behind(paths: usize) -> (common::Repo, String) {
    let repo = common::Repo::new();
    repo.write("README.md", "start\n");
    let base = repo.commit("base");
    repo.write("blob.txt", "a\n".repeat(950_000));
    let blob = repo.git(&["hash-object", "-w", "blob.txt"]).trim().to_string();
    std::fs::remove_file(repo.path().join("blob.txt")).unwrap();
    let index: String = (0..paths).map(|i| format!("100644 {blob}\tsrc/copy_{i:04}.txt\n")).collect();
    let mut child = Command::new("git")
        .current_dir(repo.path())
        .args(["update-index", "--index-info"])
        .stdin(Stdio::piped())
        .spawn()
        .unwrap();
    child.stdin.take().unwrap().write_all(index.as_bytes()).unwrap();
    assert!(child.wait().unwrap().success());
    repo.git(&["commit", "-q", "-m", "copies"]);
    (repo, base)
}

#[test]
fn one_blob_behind_many_paths_stays_under_the_bound() {
    let summarizer = common::fake_summarizer();
    let settings = Settings::default();
    for paths in [40, 1_000] {
        let (repo, base) = one_blob_behind(paths);
        let input = Input::Range { repo: repo.path().to_path_buf(), base, head: "HEAD".into() };
        reset_peak();
        let summary = summarizer.summarize(&input, &settings, &AuthorContext::default()).unwrap();
        let peak = peak_rss_mb();
        eprintln!("{paths} paths: peak RSS {peak} MB");
        assert!(peak < BOUND_MB, "{paths} paths of one blob took {peak} MB, over {BOUND_MB} MB");
        // What was not held is listed with the reason, not dropped.
        assert_eq!(summary.files.len() + summary.listed.len(), paths);
        assert!(!summary.files.is_empty(), "some copies are summarized");
        let over = summary.listed.iter().filter(|l| l.reason == Reason::OverTextLimit).count();
        assert!(over > 0, "{paths} paths: the text limit leaves some out");
        let facts = summary.facts.as_ref().unwrap();
        assert_eq!(facts.additions, paths * 950_000, "line counts of every file, read or not");
    }
}
