//! Checks a rendered template's kernel signature against its catalog declaration, before any
//! compiler runs: same parameters, in the same order, with the same C types and constness.
//! A template that drifts from its declaration fails here with the parameter named.

use crate::catalog::Family;
use crate::variant::Variant;
use crate::Error;

/// One parameter as written in the source: `const float* __restrict__ x` → ("const float*", "x").
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SourceParam {
    pub c_type: String,
    pub name: String,
}

/// The parameters of the `__global__` function named `symbol` in `source`: the first
/// `symbol(` whose declaration says `__global__`.
pub fn find_kernel(source: &str, symbol: &str) -> Option<Vec<SourceParam>> {
    let mut from = 0;
    while let Some(at) = source[from..].find(symbol).map(|i| i + from) {
        from = at + symbol.len();
        let before_ok = source[..at].chars().next_back().is_none_or(|c| !(c.is_alphanumeric() || c == '_'));
        let after = source[from..].trim_start();
        if !before_ok || !after.starts_with('(') {
            continue;
        }
        // The declaration: back to the previous statement, without preprocessor lines.
        let decl_start = source[..at].rfind([';', '}']).map_or(0, |i| i + 1);
        let is_kernel = source[decl_start..at]
            .lines()
            .filter(|line| !line.trim_start().starts_with('#'))
            .any(|line| line.contains("__global__"));
        if !is_kernel {
            continue;
        }
        let list = &after[1..];
        return Some(parse_params(&list[..list.find(')')?]));
    }
    None
}

fn parse_params(list: &str) -> Vec<SourceParam> {
    list.split(',')
        .map(str::trim)
        .filter(|p| !p.is_empty())
        .map(|p| {
            let p = p.replace("__restrict__", " ").replace('*', " * ");
            let words: Vec<&str> = p.split_whitespace().collect();
            let (name, ty) = words.split_last().map(|(n, t)| (*n, t.join(" "))).unwrap_or(("", String::new()));
            SourceParam { c_type: ty.replace(" *", "*"), name: name.to_string() }
        })
        .collect()
}

/// Fails unless `source` defines `variant`'s kernel with exactly the catalog's parameters.
pub fn check(family: &Family, variant: &Variant, source: &str) -> Result<(), Error> {
    let symbol = variant.symbol();
    let mismatch =
        |detail: String| Error::Signature { variant: variant.to_string(), template: family.template, detail };
    let found = find_kernel(source, &symbol).ok_or_else(|| {
        mismatch(format!("no `extern \"C\" __global__` kernel named `{symbol}` in the rendered source"))
    })?;
    for (i, (want, got)) in family.params.iter().zip(&found).enumerate() {
        let want_ty = want.c_type(variant);
        if want.name != got.name || want_ty != got.c_type {
            return Err(mismatch(format!(
                "parameter {i} is `{} {}` in the template but `{} {}` in the catalog",
                got.c_type, got.name, want_ty, want.name
            )));
        }
    }
    if found.len() != family.params.len() {
        return Err(mismatch(format!(
            "the template has {} parameters, the catalog {}",
            found.len(),
            family.params.len()
        )));
    }
    // Launches may overlap on sm_90 (templates/prelude/nvidia.h): a kernel that never waits for
    // the kernels before it would race with them.
    if !source.contains(WAIT_PRIOR_KERNELS) {
        return Err(mismatch(format!("the kernel never calls `{WAIT_PRIOR_KERNELS}`")));
    }
    Ok(())
}

/// The call every kernel makes before it touches memory that earlier kernels use.
pub const WAIT_PRIOR_KERNELS: &str = "rf_wait_prior_kernels();";

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn finds_kernels_behind_attributes_and_macros() {
        let src = "#define __global__ __attribute__((global))\nextern \"C\" __global__ void __attribute__((x(1, 2)))\nk(int* a, int n) {}";
        assert_eq!(find_kernel(src, "k").unwrap().len(), 2);
        assert!(find_kernel("__device__ void k(int a) {}", "k").is_none());
        assert!(find_kernel("#define __global__ x\n__device__ void k(int a) {}", "k").is_none());
    }

    #[test]
    fn parses_launch_bounds_and_restrict() {
        let src = "extern \"C\" __global__ void __launch_bounds__(BLOCK_SIZE)\nk_a(float* __restrict__ y, const half* x, long long n) {}";
        let params = find_kernel(src, "k_a").unwrap();
        let got: Vec<(&str, &str)> = params.iter().map(|p| (p.c_type.as_str(), p.name.as_str())).collect();
        assert_eq!(got, [("float*", "y"), ("const half*", "x"), ("long long", "n")]);
        assert!(find_kernel(src, "k_b").is_none());
    }
}
