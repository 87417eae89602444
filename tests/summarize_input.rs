//! `precis summarize` input errors are found before any model work: one
//! line naming the cause and the fix, exit status 1.

mod common;

/// A patch that a model would be needed for; the model named does not exist,
/// so a run that got as far as loading it would fail differently.
fn patch_file(dir: &std::path::Path) -> std::path::PathBuf {
    let path = dir.join("change.patch");
    std::fs::write(&path, "--- a/a.rs\n+++ b/a.rs\n@@ -1 +1 @@\n-fn a() {}\n+fn a() -> u8 { 1 }\n").unwrap();
    path
}

#[test]
fn an_output_in_a_missing_folder_is_refused_before_the_model_runs() {
    let tmp = tempfile::tempdir().unwrap();
    let out = common::precis()
        .current_dir(tmp.path())
        .args(["summarize", "--patch"])
        .arg(patch_file(tmp.path()))
        .args(["--model", "no/such/model", "--output"])
        .arg(tmp.path().join("missing/summary.md"))
        .output()
        .unwrap();
    let err = common::one_line_error(&out);
    assert!(err.contains("does not exist") && err.contains("--output"), "{err}");
}

#[test]
fn an_empty_patch_is_refused() {
    let tmp = tempfile::tempdir().unwrap();
    let empty = tmp.path().join("empty.patch");
    std::fs::write(&empty, "\n  \n").unwrap();
    let out = common::precis()
        .current_dir(tmp.path())
        .args(["summarize", "--patch"])
        .arg(&empty)
        .args(["--model", "no/such/model"])
        .output()
        .unwrap();
    let err = common::one_line_error(&out);
    assert!(err.contains("is empty") && err.contains("git diff"), "{err}");
}

#[test]
fn model_path_hint_names_the_precision_asked_for() {
    let tmp = tempfile::tempdir().unwrap();
    let out = common::precis()
        .args(["model", "path", "--precision", "int4"])
        .env("XDG_CACHE_HOME", tmp.path())
        .output()
        .unwrap();
    let err = common::one_line_error(&out);
    assert!(err.contains("precis model fetch qwen2.5-coder-0.5b-instruct --precision int4"), "{err}");
}
