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

/// The parameters of `extern "C" __global__ void … symbol(…)` in `source`.
pub fn find_kernel(source: &str, symbol: &str) -> Option<Vec<SourceParam>> {
    let mut rest = source;
    while let Some(at) = rest.find("__global__") {
        let after = &rest[at..];
        let open = after.find('(')?;
        // Skip `__launch_bounds__(…)`: the kernel's own parameter list follows its name.
        let head = &after[..open];
        let head_end = if head.trim_end().ends_with("__launch_bounds__") {
            let close = after[open..].find(')')? + open + 1;
            let next_open = after[close..].find('(')? + close;
            (close, next_open)
        } else {
            (0, open)
        };
        let name = after[head_end.0..head_end.1].split_whitespace().last().unwrap_or("");
        if name == symbol {
            let list_start = head_end.1 + 1;
            let list_end = after[list_start..].find(')')? + list_start;
            return Some(parse_params(&after[list_start..list_end]));
        }
        rest = &after[head_end.1..];
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
    let mismatch = |detail: String| Error::Signature { variant: variant.key(), template: family.template, detail };
    let found = find_kernel(source, &symbol)
        .ok_or_else(|| mismatch(format!("no `extern \"C\" __global__` kernel named `{symbol}` in the rendered source")))?;
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
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_launch_bounds_and_restrict() {
        let src = "extern \"C\" __global__ void __launch_bounds__(BLOCK_SIZE)\nk_a(float* __restrict__ y, const half* x, long long n) {}";
        let params = find_kernel(src, "k_a").unwrap();
        let got: Vec<(&str, &str)> = params.iter().map(|p| (p.c_type.as_str(), p.name.as_str())).collect();
        assert_eq!(got, [("float*", "y"), ("const half*", "x"), ("long long", "n")]);
        assert!(find_kernel(src, "k_b").is_none());
    }
}
