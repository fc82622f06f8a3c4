/// The order in which a batch's sums are taken. Batches are faster with kernels of their own,
/// as llama.cpp's CPU backend picks kernels by batch size (batches of K-quant rows take its
/// GEMM kernels, prompts of 64 or more tokens its tiled f32 attention; its builds differ in
/// which), each summing in another order than a lone token's: a token's results then depend on
/// what it was batched with.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub enum SumOrder {
    /// The fastest kernel for each batch size: the AVX-512 panel GEMM where the CPU has one,
    /// llama.cpp's K-quant GEMM order elsewhere (generation, perplexity, benchmarks).
    #[default]
    Fastest,
    /// A token's sums depend only on the token and on whether its logits are wanted, whatever
    /// the batch: tokens that want them (a server's decoding tokens, each prompt's last) are
    /// summed as a lone token is, the others (prompt tokens) through the panel GEMM where the
    /// CPU has one (its sums are a token's own). A server's sequence gets the same results
    /// alone or batched with others, and however its prompt was split.
    BatchInvariant,
}
