//! The converter's model families against llama.cpp, an implementation of
//! their mathematics that is not ours: TEST models (random weights) of the
//! qwen3 and llama architectures, and the real SmolLM2-135M-Instruct (llama),
//! compared with llama.cpp's logits at every position of a few prompts
//! (tests/fixtures/families_llamacpp.json, written by
//! tools/reference_families.py, which says how).

mod common;

use std::collections::{BTreeMap, HashMap};
use std::path::Path;

use common::Tiny;
use precis::llm::{argmax, TextCodec};

#[derive(serde::Deserialize)]
struct Fixture {
    models: HashMap<String, Entry>,
}

#[derive(serde::Deserialize)]
struct Entry {
    sha256: String,
    prompts: Vec<Prompt>,
    #[serde(default)]
    corpus: BTreeMap<String, Vec<u32>>,
    #[serde(default)]
    text_prompts: Vec<String>,
}

#[derive(serde::Deserialize)]
struct Prompt {
    ids: Vec<u32>,
    positions: Vec<Position>,
}

/// llama.cpp's logits at one position: its top token, and its logits at a
/// seeded sample of the vocabulary plus its own top 8.
#[derive(serde::Deserialize)]
struct Position {
    top1: u32,
    ids: Vec<u32>,
    logits: Vec<f64>,
}

fn fixture(name: &str) -> Entry {
    let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/families_llamacpp.json");
    let mut all: Fixture = serde_json::from_slice(&std::fs::read(path).unwrap()).unwrap();
    all.models.remove(name).unwrap_or_else(|| panic!("no fixture for {name}"))
}

fn sha256(path: &Path) -> String {
    use sha2::Digest;
    hex::encode(sha2::Sha256::digest(std::fs::read(path).unwrap()))
}

/// How a folder's logits compare with llama.cpp's over every position of
/// every prompt.
#[derive(Debug)]
struct Agreement {
    min_cosine: f64,
    mean_cosine: f64,
    top1: f64,
}

fn agreement(folder: &Path, entry: &Entry) -> Agreement {
    let mut model = common::load(folder);
    let (mut cosines, mut same, mut total) = (Vec::new(), 0, 0);
    for prompt in &entry.prompts {
        for (at, theirs) in prompt.positions.iter().enumerate() {
            let ours = model.last_logits(&prompt.ids[..=at]).unwrap();
            let picked: Vec<f64> = theirs.ids.iter().map(|&id| ours[id as usize] as f64).collect();
            cosines.push(cosine(&picked, &theirs.logits));
            same += usize::from(argmax(&ours) == theirs.top1);
            total += 1;
        }
    }
    Agreement {
        min_cosine: cosines.iter().copied().fold(f64::INFINITY, f64::min),
        mean_cosine: cosines.iter().sum::<f64>() / cosines.len() as f64,
        top1: same as f64 / total as f64,
    }
}

fn cosine(a: &[f64], b: &[f64]) -> f64 {
    let dot: f64 = a.iter().zip(b).map(|(x, y)| x * y).sum();
    dot / a.iter().map(|x| x * x).sum::<f64>().sqrt() / b.iter().map(|x| x * x).sum::<f64>().sqrt()
}

/// A TEST model of one family, converted in both layouts, against llama.cpp.
fn check_family(kind: Tiny) {
    let entry = fixture(&format!("tiny-{}", kind.name()));
    assert_eq!(
        sha256(&common::tiny_gguf(kind)),
        entry.sha256,
        "tools/make_test_gguf.py writes another {kind:?} model than the fixture's: regenerate it (tools/reference_families.py)"
    );
    for layout in ["genai", "optimum"] {
        let found = agreement(&common::tiny_model_in(kind, "int8", layout), &entry);
        eprintln!("{kind:?} int8 {layout}: {found:?}");
        // Measured (2-core x86_64): min cosine 0.9969 (llama) and 0.9990
        // (qwen3), top-1 91 % and 89 % of 54 positions, the misses at near-ties
        // of int8 activations. A wrong rotary layout, head size or norm leaves
        // cosines far lower and top-1 near chance.
        assert!(found.min_cosine > 0.995, "{kind:?} {layout}: {found:?}");
        assert!(found.top1 >= 0.85, "{kind:?} {layout}: {found:?}");
    }
}

#[test]
fn a_qwen3_test_model_agrees_with_llama_cpp() {
    if common::provisioned("a_qwen3_test_model_agrees_with_llama_cpp") {
        check_family(Tiny::Qwen3);
    }
}

#[test]
fn a_llama_test_model_agrees_with_llama_cpp() {
    if common::provisioned("a_llama_test_model_agrees_with_llama_cpp") {
        check_family(Tiny::Llama);
    }
}

const SMOLLM2: &str = "smollm2-135m-instruct";

/// The real SmolLM2-135M-Instruct (llama architecture, its own tokenizer):
/// precis's tokens equal llama.cpp's on the tokenizer corpus and on chat
/// text, and its next token agrees with llama.cpp's at most positions.
#[test]
fn smollm2_agrees_with_llama_cpp() {
    let Some(folder) = common::registry_model("smollm2_agrees_with_llama_cpp", SMOLLM2) else { return };
    let entry = fixture("smollm2");
    assert_eq!(sha256(&precis::provision::models::gguf_path(&common::cache(), SMOLLM2)), entry.sha256);
    let codec = TextCodec::load(&folder).unwrap();
    let corpus = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/tokenizer");
    assert!(!entry.corpus.is_empty());
    for (file, theirs) in &entry.corpus {
        let text = String::from_utf8(std::fs::read(corpus.join(file)).unwrap()).unwrap();
        assert_eq!(&codec.encode(&text).unwrap(), theirs, "tokens of {file}");
    }
    for (text, prompt) in entry.text_prompts.iter().zip(&entry.prompts) {
        assert_eq!(codec.encode(text).unwrap(), prompt.ids, "tokens of {text:?}");
    }
    let found = agreement(&folder, &entry);
    eprintln!("smollm2 int8: {found:?}");
    // Measured (2-core x86_64, int8): mean cosine 0.9994, min 0.9936, top-1
    // on all 55 positions of the three prompts.
    assert!(found.mean_cosine > 0.995, "{found:?}");
    assert!(found.top1 >= 0.95, "{found:?}");
}

/// SmolLM2's chat template renders and the model answers through it.
#[test]
fn smollm2_chat_renders_its_template() {
    let Some(folder) = common::registry_model("smollm2_chat_renders_its_template", SMOLLM2) else { return };
    let codec = TextCodec::load(&folder).unwrap();
    let prompt = codec.render_chat(&[precis::llm::Message::new("user", "Say hi.")]).unwrap();
    assert!(prompt.starts_with("<|im_start|>system\n"), "{prompt}");
    assert!(prompt.ends_with("<|im_start|>assistant\n"), "{prompt}");
}
