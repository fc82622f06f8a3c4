//! The draw of a token from logits, llama.cpp's default chain after the penalties: top-k →
//! top-p → min-p → temperature → the uniform. The CPU reference of the GPU's `topk` and
//! `sample` kernels; `engine::sampler` adds the random draws and the penalties.

#[derive(Debug, Clone)]
pub struct SamplerConfig {
    pub temperature: f32,
    /// 0 disables.
    pub top_k: usize,
    /// 1.0 disables.
    pub top_p: f32,
    /// 0.0 disables.
    pub min_p: f32,
    /// 1.0 disables. Divides positive logits (multiplies negative ones) of recent tokens.
    pub repeat_penalty: f32,
    /// Subtracted once from the logit of any token seen in the window. 0.0 disables.
    pub presence_penalty: f32,
    /// Subtracted per occurrence in the window. 0.0 disables.
    pub frequency_penalty: f32,
    /// How many recent tokens the penalties look at.
    pub penalty_last_n: usize,
    pub seed: u64,
}

impl Default for SamplerConfig {
    /// llama.cpp's defaults.
    fn default() -> Self {
        SamplerConfig {
            temperature: 0.8,
            top_k: 40,
            top_p: 0.95,
            min_p: 0.05,
            repeat_penalty: 1.0,
            presence_penalty: 0.0,
            frequency_penalty: 0.0,
            penalty_last_n: 64,
            seed: 0,
        }
    }
}

impl SamplerConfig {
    pub fn greedy() -> Self {
        SamplerConfig { temperature: 0.0, ..Default::default() }
    }

    /// Why the values are out of their meaning, if they are: probabilities outside [0, 1], a
    /// negative temperature, a penalty that is not a positive finite number.
    pub fn validate(&self) -> Result<(), String> {
        let unit = |name: &str, v: f32| {
            if (0.0..=1.0).contains(&v) {
                Ok(())
            } else {
                Err(format!("{name} must be between 0 and 1, got {v}"))
            }
        };
        unit("top-p", self.top_p)?;
        unit("min-p", self.min_p)?;
        if !(self.temperature.is_finite() && self.temperature >= 0.0) {
            return Err(format!("the temperature must be 0 (greedy) or positive, got {}", self.temperature));
        }
        if !(self.repeat_penalty.is_finite() && self.repeat_penalty > 0.0) {
            return Err(format!("the repeat penalty must be positive (1 disables it), got {}", self.repeat_penalty));
        }
        for (name, v) in [("presence penalty", self.presence_penalty), ("frequency penalty", self.frequency_penalty)] {
            if !v.is_finite() {
                return Err(format!("the {name} must be a finite number, got {v}"));
            }
        }
        Ok(())
    }

    /// Whether a penalty changes the logits (which needs the sequence's history).
    pub fn has_penalties(&self) -> bool {
        let any = self.repeat_penalty != 1.0 || self.presence_penalty != 0.0 || self.frequency_penalty != 0.0;
        any && self.penalty_last_n > 0
    }

    /// Whether sampling is plain argmax of the raw logits, which a device can do without
    /// sending the logits back.
    pub fn is_plain_greedy(&self) -> bool {
        self.temperature <= 0.0 && !self.has_penalties()
    }
}

/// The draw after penalties: top-k → top-p → min-p → temperature, then the first candidate
/// (by descending logit, then index) whose cumulative probability exceeds `r` ∈ [0, 1). The
/// GPU `sample` kernel is checked against this with the same `r`.
pub fn pick(logits: &[f32], cfg: &SamplerConfig, r: f32) -> u32 {
    let mut cands: Vec<(u32, f32)> = logits.iter().enumerate().map(|(i, &l)| (i as u32, l)).collect();
    let k = if cfg.top_k == 0 { cands.len() } else { cfg.top_k.min(cands.len()) };
    if k < cands.len() {
        cands.select_nth_unstable_by(k - 1, |a, b| b.1.total_cmp(&a.1));
        cands.truncate(k);
    }
    cands.sort_by(|a, b| b.1.total_cmp(&a.1).then(a.0.cmp(&b.0)));
    let mut probs = softmax_of(&cands, 1.0);
    keep_top_p(&mut cands, &mut probs, cfg.top_p);
    keep_min_p(&mut cands, &mut probs, cfg.min_p);
    let probs = softmax_of(&cands, cfg.temperature);
    let mut acc = 0.0;
    for (c, p) in cands.iter().zip(&probs) {
        acc += p;
        if r < acc {
            return c.0;
        }
    }
    cands.last().map_or(0, |c| c.0)
}

/// Index of the largest logit; the lowest index wins ties, as in llama.cpp's greedy sampler.
pub fn argmax(logits: &[f32]) -> u32 {
    let mut best = 0;
    for (i, &l) in logits.iter().enumerate() {
        if l > logits[best] {
            best = i;
        }
    }
    best as u32
}

fn softmax_of(cands: &[(u32, f32)], temperature: f32) -> Vec<f32> {
    let max = cands.iter().map(|c| c.1).fold(f32::NEG_INFINITY, f32::max);
    let e: Vec<f32> = cands.iter().map(|c| ((c.1 - max) / temperature).exp()).collect();
    let z: f32 = e.iter().sum();
    e.into_iter().map(|x| x / z).collect()
}

/// Keeps the smallest prefix (sorted by probability) whose mass reaches `p`.
fn keep_top_p(cands: &mut Vec<(u32, f32)>, probs: &mut Vec<f32>, p: f32) {
    if p >= 1.0 {
        return;
    }
    let mut acc = 0.0;
    let mut keep = cands.len();
    for (i, &q) in probs.iter().enumerate() {
        acc += q;
        if acc >= p {
            keep = i + 1;
            break;
        }
    }
    cands.truncate(keep.max(1));
    probs.truncate(keep.max(1));
}

/// Drops candidates less likely than `min_p` times the most likely one.
fn keep_min_p(cands: &mut Vec<(u32, f32)>, probs: &mut Vec<f32>, min_p: f32) {
    if min_p <= 0.0 || probs.is_empty() {
        return;
    }
    let threshold = probs[0] * min_p;
    let keep = probs.iter().take_while(|&&q| q >= threshold).count().max(1);
    cands.truncate(keep);
    probs.truncate(keep);
}
