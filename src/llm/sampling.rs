//! Choosing the next token from logits: greedy, or temperature / top-k /
//! top-p sampling with a seeded generator; optional repetition penalty.

use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};

#[derive(Clone, Debug, PartialEq)]
pub struct SamplingParams {
    /// 0 means greedy (the default).
    pub temperature: f32,
    /// Keep only the k most likely tokens (0: no limit).
    pub top_k: usize,
    /// Keep the smallest set of tokens whose probability reaches p (1: no limit).
    pub top_p: f32,
    /// Divides positive logits (multiplies negative ones) of tokens already
    /// in the prompt or the output; 1 disables it.
    pub repetition_penalty: f32,
    pub seed: u64,
}

impl Default for SamplingParams {
    fn default() -> Self {
        SamplingParams { temperature: 0.0, top_k: 0, top_p: 1.0, repetition_penalty: 1.0, seed: 0 }
    }
}

pub struct Sampler {
    params: SamplingParams,
    rng: StdRng,
}

impl Sampler {
    pub fn new(params: SamplingParams) -> Sampler {
        let rng = StdRng::seed_from_u64(params.seed);
        Sampler { params, rng }
    }

    /// The next token; `seen` are the tokens the repetition penalty applies to.
    pub fn next(&mut self, logits: &[f32], seen: &[u32]) -> u32 {
        let penalty = self.params.repetition_penalty;
        let mut owned;
        let logits = if penalty != 1.0 && !seen.is_empty() {
            owned = logits.to_vec();
            for &t in seen {
                if let Some(v) = owned.get_mut(t as usize) {
                    *v = if *v > 0.0 { *v / penalty } else { *v * penalty };
                }
            }
            &owned[..]
        } else {
            logits
        };
        if self.params.temperature <= 0.0 {
            return argmax(logits);
        }
        // Candidates by descending logit, cut by top-k.
        let mut candidates: Vec<(u32, f32)> = logits.iter().enumerate().map(|(i, &v)| (i as u32, v)).collect();
        let k = if self.params.top_k == 0 { candidates.len() } else { self.params.top_k.min(candidates.len()) };
        if k < candidates.len() {
            candidates.select_nth_unstable_by(k - 1, |a, b| b.1.total_cmp(&a.1));
            candidates.truncate(k);
        }
        candidates.sort_unstable_by(|a, b| b.1.total_cmp(&a.1));
        let max = candidates[0].1;
        let mut probs: Vec<f32> = candidates.iter().map(|c| ((c.1 - max) / self.params.temperature).exp()).collect();
        let total: f32 = probs.iter().sum();
        probs.iter_mut().for_each(|p| *p /= total);
        // Cut by top-p: the shortest prefix whose mass reaches p.
        let mut keep = probs.len();
        if self.params.top_p < 1.0 {
            let mut mass = 0.0;
            for (i, p) in probs.iter().enumerate() {
                mass += p;
                if mass >= self.params.top_p {
                    keep = i + 1;
                    break;
                }
            }
        }
        let mass: f32 = probs[..keep].iter().sum();
        let mut draw = self.rng.random::<f32>() * mass;
        for (i, p) in probs[..keep].iter().enumerate() {
            if draw < *p {
                return candidates[i].0;
            }
            draw -= p;
        }
        candidates[keep - 1].0
    }
}

pub fn argmax(logits: &[f32]) -> u32 {
    let mut best = 0usize;
    for (i, &v) in logits.iter().enumerate() {
        if v > logits[best] {
            best = i;
        }
    }
    best as u32
}

#[cfg(test)]
mod tests {
    use super::*;

    fn logits() -> Vec<f32> {
        vec![1.0, 3.0, 2.0, 0.5, 2.9]
    }

    #[test]
    fn temperature_zero_is_greedy() {
        let mut s = Sampler::new(SamplingParams::default());
        assert_eq!(s.next(&logits(), &[]), 1);
    }

    #[test]
    fn repetition_penalty_demotes_seen_tokens() {
        let mut s = Sampler::new(SamplingParams { repetition_penalty: 1.5, ..Default::default() });
        assert_eq!(s.next(&logits(), &[1]), 4);
    }

    #[test]
    fn top_k_one_is_greedy_whatever_the_temperature() {
        let mut s = Sampler::new(SamplingParams { temperature: 5.0, top_k: 1, seed: 3, ..Default::default() });
        assert!((0..50).all(|_| s.next(&logits(), &[]) == 1));
    }

    #[test]
    fn top_p_keeps_only_the_head_of_the_distribution() {
        let mut s = Sampler::new(SamplingParams { temperature: 1.0, top_p: 0.5, seed: 1, ..Default::default() });
        // p(1) ≈ 0.38, p(4) ≈ 0.34: the 0.5 mass is reached by tokens 1 and 4.
        let drawn: std::collections::HashSet<u32> = (0..200).map(|_| s.next(&logits(), &[])).collect();
        assert_eq!(drawn, [1, 4].into_iter().collect());
    }

    #[test]
    fn same_seed_same_draws_and_sampling_varies() {
        let params = SamplingParams { temperature: 1.0, seed: 42, ..Default::default() };
        let a: Vec<u32> = {
            let mut s = Sampler::new(params.clone());
            (0..30).map(|_| s.next(&logits(), &[])).collect()
        };
        let b: Vec<u32> = {
            let mut s = Sampler::new(params);
            (0..30).map(|_| s.next(&logits(), &[])).collect()
        };
        assert_eq!(a, b);
        assert!(a.iter().collect::<std::collections::HashSet<_>>().len() > 1);
    }
}
