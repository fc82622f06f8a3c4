/// The order in which a batch's sums are taken. llama.cpp's CPU backend picks kernels by batch
/// size: batches of K-quant rows take its GEMM kernels and prompts of 64 or more tokens its
/// tiled f32 attention, each summing in another order than a lone token's. Following it makes
/// our prefill match llama.cpp's bit for bit, but a token's results then depend on what it was
/// batched with.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub enum SumOrder {
    /// llama.cpp's choices (generation, perplexity, benchmarks).
    #[default]
    LlamaCpp,
    /// Every token summed as a lone token is, whatever the batch: a server's sequence gets the
    /// same results alone or batched with others, and however its prompt was split.
    BatchInvariant,
}
