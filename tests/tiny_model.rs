//! Converter and engine on the TEST model (random weights, two layers, the
//! real tokenizer): fast, and checked against the float64 numpy reference.

mod common;

use common::Tiny;
use precis::llm::{argmax, Batch, FinishReason, GenerateParams, Generation, Model, Request, SamplingParams};

const PROMPT: &[u32] = &[14990, 1879, 11, 419, 374, 264, 1273];

#[derive(serde::Deserialize)]
struct Reference {
    logits: Vec<f64>,
    continuation: Vec<u32>,
}

fn reference(kind: Tiny, ids: &[u32], new_tokens: usize) -> Reference {
    let ids: Vec<String> = ids.iter().map(u32::to_string).collect();
    let out = common::python("reference_numpy.py")
        .arg("--gguf")
        .arg(common::tiny_gguf(kind))
        .arg("--prompt-ids")
        .arg(ids.join(","))
        .arg("--new-tokens")
        .arg(new_tokens.to_string())
        .output()
        .unwrap();
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    serde_json::from_slice(&out.stdout).unwrap()
}

fn cosine(a: &[f32], b: &[f64]) -> f64 {
    let dot: f64 = a.iter().zip(b).map(|(x, y)| *x as f64 * y).sum();
    let norm_a = a.iter().map(|&x| x as f64 * x as f64).sum::<f64>().sqrt();
    let norm_b = b.iter().map(|x| x * x).sum::<f64>().sqrt();
    dot / norm_a / norm_b
}

/// The folder's next-token logits against the float64 reference of its GGUF.
fn check_against_reference(kind: Tiny, precision: &str, min_cosine: f64) {
    check_folder_against_reference(kind, &common::tiny_model_as(kind, precision), min_cosine);
}

fn check_folder_against_reference(kind: Tiny, folder: &std::path::Path, min_cosine: f64) {
    let precision = folder.display();
    let mut model = common::load(folder);
    let ours = model.last_logits(PROMPT).unwrap();
    let exact = reference(kind, PROMPT, 1);
    assert_eq!(ours.len(), exact.logits.len());
    let cos = cosine(&ours, &exact.logits);
    assert!(cos > min_cosine, "{kind:?} {precision}: cosine(ours, exact) = {cos}");
    assert_eq!(argmax(&ours), exact.continuation[0], "{kind:?} {precision}");
}

// int8 activations inside the matmuls leave a cosine of about 0.995-0.999 on
// these random models (0.99999 with fp16 or fp32 compute); a wrong weight
// layout, rotary or attention wiring leaves almost none (0.6 for a lossy 4-bit
// requantization of the mixed model).

#[test]
fn int8_folder_of_mixed_grids_matches_the_float64_reference() {
    if !common::provisioned("int8_folder_of_mixed_grids_matches_the_float64_reference") {
        return;
    }
    check_against_reference(Tiny::Mixed, "int8", 0.99);
}

#[test]
fn int4_folder_of_q4_0_grids_matches_the_float64_reference() {
    if !common::provisioned("int4_folder_of_q4_0_grids_matches_the_float64_reference") {
        return;
    }
    check_against_reference(Tiny::Q4, "int4", 0.99);
}

#[test]
fn fp16_folder_matches_the_float64_reference() {
    if !common::provisioned("fp16_folder_matches_the_float64_reference") {
        return;
    }
    check_against_reference(Tiny::Q4, "fp16", 0.9999);
}

#[test]
fn fp16_kv_cache_greedy_equals_full_recompute() {
    if !common::provisioned("fp16_kv_cache_greedy_equals_full_recompute") {
        return;
    }
    let mut model = common::load(&common::tiny_model_as(Tiny::Q4, "fp16"));
    assert_eq!(model.kv_type(), precis::llm::KvType::F16);
    assert_cache_matches_recompute(&mut model);
}

#[test]
fn greedy_with_kv_cache_equals_full_recompute() {
    if !common::provisioned("greedy_with_kv_cache_equals_full_recompute") {
        return;
    }
    let mut model = common::load(&common::tiny_model());
    assert_cache_matches_recompute(&mut model);
}

fn assert_cache_matches_recompute(model: &mut precis::llm::Model) {
    let generation = model.generate(PROMPT, &GenerateParams::greedy(12), |_| {}).unwrap();
    let mut ids = PROMPT.to_vec();
    let mut recomputed = Vec::new();
    for _ in 0..generation.tokens.len() {
        let next = argmax(&model.last_logits(&ids).unwrap());
        recomputed.push(next);
        ids.push(next);
    }
    assert_eq!(generation.tokens, recomputed);
}

#[test]
fn max_new_tokens_bounds_the_completion() {
    if !common::provisioned("max_new_tokens_bounds_the_completion") {
        return;
    }
    let mut model = common::load(&common::tiny_model());
    let generation = model.generate(PROMPT, &GenerateParams::greedy(5), |_| {}).unwrap();
    assert_eq!(generation.tokens.len(), 5);
    assert_eq!(generation.finish, FinishReason::MaxTokens);
}

#[test]
fn stop_string_ends_generation_before_it() {
    if !common::provisioned("stop_string_ends_generation_before_it") {
        return;
    }
    let mut model = common::load(&common::tiny_model());
    let free = model.generate(PROMPT, &GenerateParams::greedy(12), |_| {}).unwrap();
    // Stop on a piece of the free-running text: the output ends right before it.
    let chars: Vec<char> = free.text.chars().collect();
    let stop: String = chars[chars.len() / 2..chars.len() / 2 + 2].iter().collect();
    let mut streamed = String::new();
    let params = GenerateParams { stop: vec![stop.clone()], ..GenerateParams::greedy(12) };
    let stopped = model.generate(PROMPT, &params, |piece| streamed.push_str(piece)).unwrap();
    assert_eq!(stopped.finish, FinishReason::StopString);
    assert_eq!(stopped.text, free.text[..free.text.find(&stop).unwrap()]);
    assert_eq!(streamed, stopped.text, "the stream shows exactly the final text");
}

#[test]
fn prompt_longer_than_the_context_is_a_clear_error() {
    if !common::provisioned("prompt_longer_than_the_context_is_a_clear_error") {
        return;
    }
    let mut model = common::load(&common::tiny_model());
    let context = model.config.context_length;
    let long = vec![100u32; context + 1];
    let err = model.generate(&long, &GenerateParams::default(), |_| {}).unwrap_err().to_string();
    assert!(err.contains("context") && err.contains("shorten the prompt"), "{err}");
}

#[test]
fn chat_template_renders_chatml() {
    if !common::provisioned("chat_template_renders_chatml") {
        return;
    }
    let model = common::load(&common::tiny_model());
    let text = model
        .codec
        .render_chat(&[precis::llm::Message::new("system", "S"), precis::llm::Message::new("user", "U")])
        .unwrap();
    assert_eq!(text, "<|im_start|>system\nS<|im_end|>\n<|im_start|>user\nU<|im_end|>\n<|im_start|>assistant\n");
    let ids = model.codec.encode(&text).unwrap();
    assert_eq!(ids[0], 151644, "<|im_start|> is one special token");
}

#[test]
fn bad_model_folders_give_clear_errors() {
    if !common::provisioned("bad_model_folders_give_clear_errors") {
        return;
    }
    let tmp = tempfile::tempdir().unwrap();
    // Missing folder.
    let err = common::try_load(&tmp.path().join("nope")).err().unwrap().to_string();
    assert!(err.contains("does not exist"), "{err}");
    // Folder without genai_config.json.
    let err = common::try_load(tmp.path()).err().unwrap().to_string();
    assert!(err.contains("lacks genai_config.json"), "{err}");
    // Config that disagrees with the graph (wrong layer count).
    let copy = tmp.path().join("copy");
    std::fs::create_dir(&copy).unwrap();
    for entry in std::fs::read_dir(common::tiny_model()).unwrap() {
        let entry = entry.unwrap();
        std::fs::copy(entry.path(), copy.join(entry.file_name())).unwrap();
    }
    let config_path = copy.join("genai_config.json");
    let config = std::fs::read_to_string(&config_path).unwrap();
    std::fs::write(&config_path, config.replace("\"num_hidden_layers\": 2", "\"num_hidden_layers\": 3")).unwrap();
    let err = common::try_load(&copy).err().unwrap().to_string();
    assert!(err.contains("do not belong together"), "{err}");
    // An ONNX file that is no LLM.
    std::fs::write(&config_path, config).unwrap();
    for file in ["model.onnx", "model_last_logits.onnx"] {
        std::fs::write(copy.join(file), b"not a model").unwrap();
    }
    let err = common::try_load(&copy).err().unwrap().to_string();
    assert!(err.contains("not a valid ONNX model"), "{err}");
}

/// Prompts of different lengths (3 to 40 tokens).
fn varied_prompts(n: usize) -> Vec<Vec<u32>> {
    (0..n).map(|i| (0..3 + i * 5).map(|j| 1000 + (i * 131 + j * 17) as u32 % 5000).collect()).collect()
}

#[test]
fn a_request_gives_the_same_tokens_alone_and_in_a_batch_of_eight() {
    if !common::provisioned("a_request_gives_the_same_tokens_alone_and_in_a_batch_of_eight") {
        return;
    }
    let mut model = common::load(&common::tiny_model());
    assert_batch_invariance(&mut model);
}

fn assert_batch_invariance(model: &mut precis::llm::Model) {
    let prompts = varied_prompts(8);
    let alone: Vec<Vec<u32>> = prompts
        .iter()
        .map(|p| model.generate(p, &GenerateParams::greedy(10 + p.len() % 7), |_| {}).unwrap().tokens)
        .collect();
    let batch = model
        .generate_batch(prompts.iter().map(|p| (p.clone(), GenerateParams::greedy(10 + p.len() % 7))).collect(), |_| {})
        .unwrap();
    for (i, result) in batch.into_iter().enumerate() {
        assert_eq!(result.unwrap().tokens, alone[i], "prompt {i}");
    }
}

#[test]
fn requests_join_and_leave_a_running_batch() {
    if !common::provisioned("requests_join_and_leave_a_running_batch") {
        return;
    }
    let mut model = common::load(&common::tiny_model());
    assert_join_and_leave(&mut model);
}

fn assert_join_and_leave(model: &mut precis::llm::Model) {
    use std::sync::{Arc, Mutex};
    let prompts = varied_prompts(7);
    let alone: Vec<Vec<u32>> = prompts
        .iter()
        .map(|p| model.generate(p, &GenerateParams::greedy(4 + p.len() % 9), |_| {}).unwrap().tokens)
        .collect();
    // Room for three rows: the others wait, then join as rows finish.
    let results = Arc::new(Mutex::new(vec![Vec::new(); prompts.len()]));
    let mut batch = precis::llm::Batch::new(3);
    for (i, p) in prompts.iter().enumerate() {
        let results = results.clone();
        batch.admit(precis::llm::Request::new(
            p.clone(),
            GenerateParams::greedy(4 + p.len() % 9),
            Box::new(|_| {}),
            Box::new(move |r| results.lock().unwrap()[i] = r.unwrap().tokens),
        ));
    }
    let mut widest = 0;
    while !batch.is_empty() {
        batch.step(model);
        widest = widest.max(batch.running());
    }
    assert_eq!(widest, 3);
    assert_eq!(*results.lock().unwrap(), alone);
}

#[test]
fn cancelled_request_stops_and_keeps_what_it_has() {
    if !common::provisioned("cancelled_request_stops_and_keeps_what_it_has") {
        return;
    }
    use std::sync::atomic::{AtomicBool, Ordering};
    use std::sync::Arc;
    let mut model = common::load(&common::tiny_model());
    let cancel = Arc::new(AtomicBool::new(false));
    let flag = cancel.clone();
    let result = std::sync::Arc::new(std::sync::Mutex::new(None));
    let sink = result.clone();
    let mut batch = precis::llm::Batch::new(2);
    batch.admit(
        precis::llm::Request::new(
            PROMPT.to_vec(),
            GenerateParams::greedy(50),
            Box::new(move |_| flag.store(true, Ordering::Relaxed)),
            Box::new(move |r| *sink.lock().unwrap() = Some(r.unwrap())),
        )
        .with_cancel(cancel),
    );
    while !batch.is_empty() {
        batch.step(&mut model);
    }
    let generation = result.lock().unwrap().take().unwrap();
    assert_eq!(generation.finish, FinishReason::Cancelled);
    assert!(!generation.tokens.is_empty() && generation.tokens.len() < 50, "{:?}", generation.tokens);
}

#[test]
fn past_deadline_ends_a_request_without_work() {
    if !common::provisioned("past_deadline_ends_a_request_without_work") {
        return;
    }
    let mut model = common::load(&common::tiny_model());
    let params = GenerateParams { deadline: Some(std::time::Instant::now()), ..GenerateParams::greedy(50) };
    let generation = model.generate(PROMPT, &params, |_| {}).unwrap();
    assert_eq!(generation.finish, FinishReason::Deadline);
    assert!(generation.tokens.is_empty());
}

#[test]
fn seeded_sampling_is_reproducible() {
    if !common::provisioned("seeded_sampling_is_reproducible") {
        return;
    }
    let mut model = common::load(&common::tiny_model());
    let params = GenerateParams {
        sampling: precis::llm::SamplingParams { temperature: 0.8, top_p: 0.95, seed: 11, ..Default::default() },
        ..GenerateParams::greedy(12)
    };
    let a = model.generate(PROMPT, &params, |_| {}).unwrap().tokens;
    let b = model.generate(PROMPT, &params, |_| {}).unwrap().tokens;
    assert_eq!(a, b);
    // Sampling is applied: some seed leaves the greedy path, and seeds differ from each other.
    let greedy = model.generate(PROMPT, &GenerateParams::greedy(12), |_| {}).unwrap().tokens;
    let seeded: Vec<Vec<u32>> = (1..=6)
        .map(|seed| {
            let sampling = precis::llm::SamplingParams { seed, ..params.sampling.clone() };
            model.generate(PROMPT, &GenerateParams { sampling, ..params.clone() }, |_| {}).unwrap().tokens
        })
        .collect();
    assert!(seeded.iter().any(|tokens| *tokens != greedy), "every seed gave the greedy tokens {greedy:?}");
    assert!(seeded.iter().any(|tokens| *tokens != seeded[0]), "every seed gave {:?}", seeded[0]);
}

#[test]
fn scheduler_serves_requests_from_many_threads() {
    if !common::provisioned("scheduler_serves_requests_from_many_threads") {
        return;
    }
    let mut model = common::load(&common::tiny_model());
    let prompts = varied_prompts(5);
    let alone: Vec<Vec<u32>> =
        prompts.iter().map(|p| model.generate(p, &GenerateParams::greedy(9), |_| {}).unwrap().tokens).collect();
    let scheduler = std::sync::Arc::new(precis::llm::Scheduler::start(model, 4));
    let handles: Vec<_> = prompts
        .into_iter()
        .map(|p| {
            let scheduler = scheduler.clone();
            std::thread::spawn(move || scheduler.submit(p, GenerateParams::greedy(9)).wait().unwrap().tokens)
        })
        .collect();
    let served: Vec<Vec<u32>> = handles.into_iter().map(|h| h.join().unwrap()).collect();
    assert_eq!(served, alone);
    // A cancelled request ends early with what it had.
    let pending = scheduler.submit(PROMPT.to_vec(), GenerateParams::greedy(10_000));
    match pending.next_event() {
        Some(precis::llm::Streamed::Text(_)) => {}
        _ => panic!("the request streams text first"),
    }
    pending.cancel();
    let generation = pending.wait().unwrap();
    assert_eq!(generation.finish, FinishReason::Cancelled);
    assert!(generation.tokens.len() < 10_000);
    let _model = std::sync::Arc::try_unwrap(scheduler).ok().expect("one owner").shutdown();
}

// The Optimum / transformers.js layout: config.json + onnx/model.onnx with
// position_ids and plain attention, whose new cache entries land after the
// padded past (so a batched row's valid entries are not a prefix).

#[test]
fn optimum_folder_matches_the_float64_reference() {
    if !common::provisioned("optimum_folder_matches_the_float64_reference") {
        return;
    }
    check_folder_against_reference(Tiny::Q4, &common::tiny_model_in(Tiny::Q4, "fp16", "optimum"), 0.9999);
    check_folder_against_reference(Tiny::Mixed, &common::tiny_model_in(Tiny::Mixed, "int8", "optimum"), 0.99);
}

#[test]
fn optimum_folder_batches_like_a_genai_folder() {
    if !common::provisioned("optimum_folder_batches_like_a_genai_folder") {
        return;
    }
    let mut model = common::load(&common::tiny_model_in(Tiny::Mixed, "int8", "optimum"));
    assert_cache_matches_recompute(&mut model);
    assert_batch_invariance(&mut model);
    assert_join_and_leave(&mut model);
    assert_prompts_read_once(&mut model);
    assert_long_prompt_read_in_chunks(&mut model);
}

#[test]
fn a_bad_request_fails_alone_and_the_batch_goes_on() {
    if !common::provisioned("a_bad_request_fails_alone_and_the_batch_goes_on") {
        return;
    }
    let mut model = common::load(&common::tiny_model());
    let good = PROMPT.to_vec();
    let alone = model.generate(&good, &GenerateParams::greedy(6), |_| {}).unwrap().tokens;
    let results = model
        .generate_batch(
            vec![
                (good.clone(), GenerateParams::greedy(6)),
                (vec![14990, 999_999], GenerateParams::greedy(6)),
                (Vec::new(), GenerateParams::greedy(6)),
                (good, GenerateParams::greedy(6)),
            ],
            |_| {},
        )
        .unwrap();
    let err = results[1].as_ref().unwrap_err().to_string();
    assert!(err.contains("token id 999999 is outside the model's vocabulary"), "{err}");
    let err = results[2].as_ref().unwrap_err().to_string();
    assert!(err.contains("the prompt is empty"), "{err}");
    assert_eq!(results[0].as_ref().unwrap().tokens, alone);
    assert_eq!(results[3].as_ref().unwrap().tokens, alone);
}

/// The converter's last-position variant gives the full decoder's last logits.
#[test]
fn the_last_logits_variant_matches_the_full_decoder() {
    if !common::provisioned("the_last_logits_variant_matches_the_full_decoder") {
        return;
    }
    let folder = common::tiny_model();
    assert!(folder.join("model_last_logits.onnx").is_file());
    let tmp = tempfile::tempdir().unwrap();
    for entry in std::fs::read_dir(&folder).unwrap() {
        let entry = entry.unwrap();
        if entry.file_name() != "model_last_logits.onnx" {
            std::fs::copy(entry.path(), tmp.path().join(entry.file_name())).unwrap();
        }
    }
    let prompt: Vec<u32> = (0..50).map(|i| 1000 + i * 37).collect();
    let variant = common::load(&folder).last_logits(&prompt).unwrap();
    let full = common::load(tmp.path()).last_logits(&prompt).unwrap();
    assert_eq!(variant, full);
}

/// Runs `requests` through a batch of `rows` rows; each result, and the step
/// (counted from 1) at which it finished.
fn run_batch(model: &mut Model, rows: usize, requests: Vec<(Vec<u32>, GenerateParams)>) -> Vec<(Generation, usize)> {
    use std::sync::{Arc, Mutex};
    let step = Arc::new(Mutex::new(0));
    let results = Arc::new(Mutex::new(vec![None; requests.len()]));
    let mut batch = Batch::new(rows);
    for (i, (prompt, params)) in requests.into_iter().enumerate() {
        let (results, step) = (results.clone(), step.clone());
        let done =
            move |r: anyhow::Result<Generation>| results.lock().unwrap()[i] = Some((r.unwrap(), *step.lock().unwrap()));
        batch.admit(Request::new(prompt, params, Box::new(|_| {}), Box::new(done)));
    }
    while !batch.is_empty() {
        *step.lock().unwrap() += 1;
        batch.step(model);
    }
    drop(batch);
    Arc::try_unwrap(results).unwrap().into_inner().unwrap().into_iter().map(Option::unwrap).collect()
}

fn sampled(seed: u64) -> GenerateParams {
    GenerateParams {
        sampling: SamplingParams { temperature: 0.8, seed, ..Default::default() },
        ..GenerateParams::greedy(12)
    }
}

/// A prompt's candidates are one prefill; a prompt going on from one read
/// before prefills only its new tokens, one that stops inside it only its
/// last, and one read before nothing; every answer is the one the prompt gets alone.
fn assert_prompts_read_once(model: &mut Model) {
    let prompt: Vec<u32> = (0..60).map(|i| 1000 + (i * 37) % 4000).collect();
    let candidates = [GenerateParams::greedy(12), sampled(1), sampled(2)];
    let alone: Vec<Vec<u32>> = candidates.iter().map(|p| model.generate(&prompt, p, |_| {}).unwrap().tokens).collect();
    let together = run_batch(model, 3, candidates.iter().map(|p| (prompt.clone(), p.clone())).collect());
    let tokens: Vec<Vec<u32>> = together.iter().map(|(g, _)| g.tokens.clone()).collect();
    assert_eq!(tokens, alone);
    let prefilled: Vec<usize> = together.iter().map(|(g, _)| g.prefilled_tokens).collect();
    assert_eq!(prefilled, [60, 0, 0]);

    let longer: Vec<u32> = prompt.iter().copied().chain((0..20).map(|i| 2000 + i * 11)).collect();
    let shorter = prompt[..40].to_vec();
    let greedy = GenerateParams::greedy(12);
    let alone: Vec<Vec<u32>> = [&prompt, &longer, &shorter, &prompt]
        .iter()
        .map(|p| model.generate(p, &greedy, |_| {}).unwrap().tokens)
        .collect();
    // One row: each prompt starts after the one before has finished.
    let order = [&prompt, &longer, &shorter, &prompt];
    let one_by_one = run_batch(model, 1, order.map(|p| (p.clone(), greedy.clone())).to_vec());
    let tokens: Vec<Vec<u32>> = one_by_one.iter().map(|(g, _)| g.tokens.clone()).collect();
    assert_eq!(tokens, alone);
    let prefilled: Vec<usize> = one_by_one.iter().map(|(g, _)| g.prefilled_tokens).collect();
    assert_eq!(prefilled, [60, 20, 1, 0]);
}

#[test]
fn prompts_are_read_once() {
    if !common::provisioned("prompts_are_read_once") {
        return;
    }
    assert_prompts_read_once(&mut common::load(&common::tiny_model()));
    assert_prompts_read_once(&mut common::load(&common::tiny_model_as(Tiny::Q4, "fp16")));
}

/// A prompt longer than a step's prefill budget (512 tokens) is read over
/// several steps while a running row goes on decoding, and answers as when
/// computed from scratch.
fn assert_long_prompt_read_in_chunks(model: &mut Model) {
    let long: Vec<u32> = (0..1300).map(|i| 1000 + (i * 53) % 5000).collect();
    let short = PROMPT.to_vec();
    let generation = model.generate(&long, &GenerateParams::greedy(3), |_| {}).unwrap();
    let mut ids = long.clone();
    for &token in &generation.tokens {
        assert_eq!(token, argmax(&model.last_logits(&ids).unwrap()));
        ids.push(token);
    }
    let short_alone = model.generate(&short, &GenerateParams::greedy(5), |_| {}).unwrap().tokens;
    let results = run_batch(model, 2, vec![(short, GenerateParams::greedy(5)), (long, GenerateParams::greedy(3))]);
    let [(short_run, short_step), (long_run, long_step)] = &results[..] else { panic!("two results") };
    assert_eq!((&short_run.tokens, &long_run.tokens), (&short_alone, &generation.tokens));
    assert_eq!(long_run.prefilled_tokens, 1300);
    // Step 1 reads the short prompt and 505 of the long one, steps 2 and 3 the
    // rest; the short row decodes a token in each.
    assert_eq!(*short_step, 5);
    assert_eq!(*long_step, 5, "the long prompt joined at step 3 and decoded two more tokens");
}

#[test]
fn a_long_prompt_is_read_a_chunk_per_step() {
    if !common::provisioned("a_long_prompt_is_read_a_chunk_per_step") {
        return;
    }
    assert_long_prompt_read_in_chunks(&mut common::load(&common::tiny_model()));
}

#[test]
fn bench_counts_prompt_tokens_sent_and_read_once() {
    if !common::provisioned("bench_counts_prompt_tokens_sent_and_read_once") {
        return;
    }
    let mut model = common::load(&common::tiny_model());
    let spec = precis::llm::bench::BenchSpec { prompt_tokens: 64, new_tokens: 4, concurrency: 3 };
    let report = precis::llm::bench::run(&mut model, "tiny", 2, &spec).unwrap();
    assert_eq!(report.concurrent_prompt_tokens, 3 * 16);
    // The concurrent prompts all start with "fn step_": that head is read once.
    assert!(report.concurrent_prefilled_tokens < report.concurrent_prompt_tokens, "{}", report.table());
    assert!(report.candidates_cost > 0.0);
    assert!(
        report.table().contains("| prompt tokens of those requests: sent / prefilled | 48 / "),
        "{}",
        report.table()
    );
}
