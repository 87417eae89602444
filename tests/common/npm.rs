//! Packages from the npm registry that tests read data from (GitHub's
//! example webhook payloads and REST description), fetched once with
//! `npm pack` into the cache and reused offline after that.

use std::path::PathBuf;
use std::process::Command;

/// The unpacked folder of `name@version` (its `package/` folder).
pub fn package(name: &str, version: &str) -> PathBuf {
    use fs4::fs_std::FileExt;
    let root = super::cache().root().join("ci").join("npm");
    std::fs::create_dir_all(&root).unwrap();
    let folder = root.join(format!("{}-{version}", name.trim_start_matches('@').replace('/', "-")));
    let lock = std::fs::File::create(root.join(".lock")).unwrap();
    lock.lock_exclusive().unwrap();
    if !folder.join(".complete").exists() {
        let staging = tempfile::tempdir_in(&root).unwrap();
        let out = Command::new("npm")
            .args(["pack", "--silent", &format!("{name}@{version}"), "--pack-destination"])
            .arg(staging.path())
            .output()
            .expect("npm is installed (it fetches test data from the npm registry once)");
        assert!(out.status.success(), "npm pack {name}@{version}: {}", String::from_utf8_lossy(&out.stderr));
        let tarball = std::fs::read_dir(staging.path())
            .unwrap()
            .flatten()
            .find(|e| e.path().extension().is_some_and(|x| x == "tgz"))
            .unwrap();
        let status = Command::new("tar").arg("xzf").arg(tarball.path()).arg("-C").arg(staging.path()).status().unwrap();
        assert!(status.success());
        let _ = std::fs::remove_dir_all(&folder);
        std::fs::rename(staging.path().join("package"), &folder).unwrap();
        std::fs::write(folder.join(".complete"), "").unwrap();
    }
    folder
}

/// Every example payload of `event` in `@octokit/webhooks-examples`.
pub fn webhook_examples() -> Vec<(String, serde_json::Value)> {
    let folder = package("@octokit/webhooks-examples", "7.6.1");
    let index: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(folder.join("api.github.com/index.json")).unwrap()).unwrap();
    let mut all = Vec::new();
    for event in index.as_array().unwrap() {
        let name = event["name"].as_str().unwrap().to_string();
        for example in event["examples"].as_array().unwrap() {
            all.push((name.clone(), example.clone()));
        }
    }
    all
}

/// GitHub's REST description, `@octokit/openapi`.
pub fn rest_description() -> serde_json::Value {
    let folder = package("@octokit/openapi", "23.0.2");
    serde_json::from_str(&std::fs::read_to_string(folder.join("generated/api.github.com.json")).unwrap()).unwrap()
}

/// Checks a request body against the REST description's schema for
/// `method path`; panics naming the violations.
pub fn assert_valid_request(description: &serde_json::Value, method: &str, path: &str, body: &serde_json::Value) {
    let paths = description["paths"].as_object().unwrap();
    let (template, operation) = paths
        .iter()
        .filter_map(|(template, item)| item.get(method.to_lowercase()).map(|op| (template, op)))
        .find(|(template, _)| matches_template(template, path))
        .unwrap_or_else(|| panic!("GitHub's REST description has no {method} {path}"));
    let Some(schema) = operation.pointer("/requestBody/content/application~1json/schema") else {
        assert!(body.is_null(), "{method} {template} takes no body");
        return;
    };
    if body.is_null() {
        assert_ne!(
            operation.pointer("/requestBody/required"),
            Some(&serde_json::json!(true)),
            "{method} {template} needs a body"
        );
        return;
    }
    let mut schema = schema.clone();
    schema["components"] = description["components"].clone();
    let validator = jsonschema::validator_for(&schema).unwrap();
    let errors: Vec<String> = validator.iter_errors(body).map(|e| format!("{e} at {}", e.instance_path())).collect();
    assert!(errors.is_empty(), "{method} {template}: {errors:?}");
}

fn matches_template(template: &str, path: &str) -> bool {
    let path = path.split('?').next().unwrap();
    let (t, p): (Vec<&str>, Vec<&str>) = (template.split('/').collect(), path.split('/').collect());
    t.len() == p.len() && t.iter().zip(&p).all(|(t, p)| t.starts_with('{') || t == p)
}
