/// The order in which a batch's sums are taken. Batches are faster with kernels of their own,
/// as llama.cpp's CPU backend picks kernels by batch size (batches of K-quant rows take its
/// GEMM kernels, prompts of 64 or more tokens its tiled f32 attention; its builds differ in
/// which), each summing in another order than a lone token's: a token's results then depend on
/// what it was batched with.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub enum SumOrder {
    /// The fastest kernel for each batch size: the AVX-512 panel GEMM for batches where the
    /// CPU has one, the AVX2 row kernels for one token, llama.cpp's K-quant GEMM order elsewhere
    /// (generation, perplexity, benchmarks).
    #[default]
    Fastest,
    /// Every token summed the same way whatever the batch: through the panel GEMM's sums at
    /// every batch size where the CPU has it (its row kernel for a few tokens), else as a lone
    /// token is. A server's sequence gets the same results alone or batched with others, and
    /// however its prompt was split.
    BatchInvariant,
}
