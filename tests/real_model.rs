//! The real default model (Qwen2.5-Coder-0.5B-Instruct, int8 folder) against
//! reference tokens from llama.cpp and from the float64 numpy reference
//! (tests/fixtures/reference_tokens.json, made by tools/reference_*.py).

mod common;

use std::collections::BTreeMap;
use std::path::Path;
use std::sync::Mutex;

use precis::llm::{GenerateParams, Message, Model};
use precis::provision::models::{self, Precision, DEFAULT_MODEL};

#[derive(serde::Deserialize)]
struct Fixture {
    tokenization: BTreeMap<String, Vec<u32>>,
    generation: Vec<Case>,
}

#[derive(serde::Deserialize)]
struct Case {
    system: String,
    user: String,
    prompt_ids: Vec<u32>,
    continuation: Vec<u32>,
    exact_continuation: Vec<u32>,
}

fn fixture() -> Fixture {
    let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/reference_tokens.json");
    serde_json::from_str(&std::fs::read_to_string(path).unwrap()).unwrap()
}

/// One loaded model shared by the tests of this file (loading takes seconds).
fn model() -> std::sync::MutexGuard<'static, Model> {
    static MODEL: std::sync::OnceLock<Mutex<Model>> = std::sync::OnceLock::new();
    MODEL
        .get_or_init(|| {
            let dir = models::model_dir(&common::cache(), DEFAULT_MODEL, Precision::Int8);
            assert!(models::is_built(&dir), "{} missing: run `precis setup` before the tests", dir.display());
            Mutex::new(common::load(&dir))
        })
        .lock()
        .unwrap_or_else(|e| e.into_inner())
}

#[test]
fn tokenization_matches_llama_cpp_on_the_source_corpus() {
    if !common::provisioned("tokenization_matches_llama_cpp_on_the_source_corpus") {
        return;
    }
    let model = model();
    let corpus = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/tokenizer");
    let fixture = fixture();
    assert!(fixture.tokenization.len() >= 10);
    for (name, expected) in &fixture.tokenization {
        let text = String::from_utf8(std::fs::read(corpus.join(name)).unwrap()).unwrap();
        let ids = model.codec.encode(&text).unwrap();
        assert_eq!(&ids, expected, "tokens of {name}");
        assert_eq!(model.codec.decode(&ids).unwrap(), text, "round trip of {name}");
    }
}

#[test]
fn chat_prompts_tokenize_like_llama_cpp() {
    if !common::provisioned("chat_prompts_tokenize_like_llama_cpp") {
        return;
    }
    let model = model();
    for case in fixture().generation {
        let text =
            model.codec.render_chat(&[Message::new("system", &case.system), Message::new("user", &case.user)]).unwrap();
        assert_eq!(model.codec.encode(&text).unwrap(), case.prompt_ids, "prompt {:?}", case.user);
    }
}

/// Greedy continuations, first 20 tokens. Measured (2-core x86 CPU, int8
/// folder): 6/10 identical to llama.cpp, 6/10 identical to the float64
/// reference; every divergence is a near-tie (logit gap < 0.35), where int8
/// activations (ours) and q8 activations (llama.cpp) each tip differently.
/// The float64 reference and our weights agree exactly (see
/// tools/reference_numpy.py); an all-4-bit conversion scores 1/10.
#[test]
fn greedy_continuations_follow_the_references() {
    if !common::provisioned("greedy_continuations_follow_the_references") {
        return;
    }
    let mut model = model();
    let cases = fixture().generation;
    let (mut same_llama, mut same_exact) = (0, 0);
    for case in &cases {
        let n = case.continuation.len();
        let generation = model.generate(&case.prompt_ids, &GenerateParams::greedy(n), |_| {}).unwrap();
        same_llama += usize::from(generation.tokens == case.continuation);
        same_exact +=
            usize::from(generation.tokens[..] == case.exact_continuation[..n.min(case.exact_continuation.len())]);
    }
    eprintln!("identical first 20 tokens: llama.cpp {same_llama}/10, float64 reference {same_exact}/10");
    assert!(same_llama >= 6, "llama.cpp agreement fell to {same_llama}/10");
    assert!(same_exact >= 6, "float64 reference agreement fell to {same_exact}/10");
}

#[test]
fn generate_streams_the_answer_and_reports_stats() {
    if !common::provisioned("generate_streams_the_answer_and_reports_stats") {
        return;
    }
    let out = common::precis()
        .args([
            "generate",
            "--prompt",
            "Name the Rust keyword that declares a function. One word.",
            "--max-new-tokens",
            "8",
        ])
        .assert()
        .success();
    let stdout = String::from_utf8_lossy(&out.get_output().stdout).to_string();
    let stderr = String::from_utf8_lossy(&out.get_output().stderr).to_string();
    assert!(stdout.to_lowercase().contains("fn"), "answer: {stdout}");
    for field in ["prompt tokens:", "new tokens:", "prefill:", "decode:"] {
        assert!(stderr.contains(field), "stats lack {field}: {stderr}");
    }
}

#[test]
fn fixture_prompts_reproduce_through_precis_generate() {
    if !common::provisioned("fixture_prompts_reproduce_through_precis_generate") {
        return;
    }
    let cases = fixture().generation;
    let expected: Vec<String> = {
        let model = model();
        cases.iter().map(|c| model.codec.decode(&c.continuation).unwrap()).collect()
    };
    let mut same = 0;
    for (case, want) in cases.iter().zip(&expected) {
        let out = common::precis()
            .args(["generate", "--device", "cpu", "--threads", "2", "--max-new-tokens", "20"])
            .args(["--system", &case.system, "--prompt", &case.user])
            .output()
            .unwrap();
        assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
        let text = String::from_utf8(out.stdout).unwrap();
        same += usize::from(text.strip_suffix('\n') == Some(want.as_str()));
    }
    // The same count as the library's greedy runs (see greedy_continuations_follow_the_references).
    assert!(same >= 6, "precis generate reproduced {same}/10 llama.cpp continuations");
}
