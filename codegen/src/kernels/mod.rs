//! The kernel catalog: one module per family, each with its declaration (signature, axes,
//! launch rule, CPU reference) and the Askama context of its template in `templates/`.

mod argmax;
mod dequant;
mod glu;
mod kv_append;
mod matvec;
mod rmsnorm;
mod rmsnorm_add;
mod rope;
mod softmax;

use crate::catalog::Family;
use crate::variant::Variant;
use crate::Vendor;

/// Every kernel family, in the order bundles list them.
pub fn catalog() -> Vec<Family> {
    vec![
        rmsnorm::family(),
        rmsnorm_add::family(),
        rope::family(),
        glu::family(),
        softmax::family(),
        matvec::family(),
        dequant::family(),
        kv_append::family(),
        argmax::family(),
    ]
}

/// What every template's prelude needs: the target, the wave and workgroup sizes, the names.
pub struct Ctx {
    pub template: &'static str,
    pub key: String,
    pub symbol: String,
    pub target: &'static str,
    pub wave: u32,
    pub threads: u32,
    pub nvidia: bool,
}

impl Ctx {
    pub fn new(template: &'static str, v: &Variant) -> Self {
        Ctx {
            template,
            key: v.key(),
            symbol: v.symbol(),
            target: v.target.name(),
            wave: v.target.wave_size(),
            threads: v.threads,
            nvidia: v.target.vendor() == Vendor::Nvidia,
        }
    }
}
