//! Tokens for each family's launcher module.

use proc_macro2::TokenStream;
use quote::{format_ident, quote};
use rocmforge_codegen::catalog::{Elem, Family, ParamKind, Scalar};
use rocmforge_codegen::variant::AxisValue;

pub fn all(rt: &syn::Path, catalog: &[Family]) -> TokenStream {
    let modules = catalog.iter().map(|f| family(rt, f));
    let names = catalog.iter().map(|f| format_ident!("{}", f.name));
    let families = catalog.iter().map(|f| f.name);
    quote! {
        #(#modules)*

        /// Every family's `Kernarg` layout, by family name.
        pub const LAYOUTS: &[(&str, &[(&str, usize, usize)])] = &[#((#families, #names::LAYOUT)),*];
    }
}

fn elem_type(rt: &syn::Path, elem: Elem) -> TokenStream {
    match elem {
        Elem::F32 => quote!(f32),
        Elem::F16 => quote!(#rt::f16),
        Elem::I32 => quote!(i32),
        Elem::U32 => quote!(u32),
        Elem::QuantBlock => quote!(W),
        Elem::Q8_1 => quote!(#rt::BlockQ8_1),
    }
}

fn scalar_type(s: Scalar) -> TokenStream {
    match s {
        Scalar::I32 => quote!(i32),
        Scalar::U32 => quote!(u32),
        Scalar::I64 => quote!(i64),
        Scalar::F32 => quote!(f32),
    }
}

/// A word axis becomes an enum named after it (`mode` → `Mode`) with one variant per value.
fn enum_name(axis: &str) -> syn::Ident {
    let camel: String = axis
        .split('_')
        .map(|w| {
            let mut c = w.chars();
            c.next().map(|first| first.to_ascii_uppercase().to_string() + c.as_str()).unwrap_or_default()
        })
        .collect();
    format_ident!("{}", camel)
}

fn family(rt: &syn::Path, f: &Family) -> TokenStream {
    let module = format_ident!("{}", f.name);
    let name = f.name;
    let doc = format!("{}.\n\nTemplate `templates/{}`; CPU reference `{}`.", f.summary, f.template, f.reference);
    let is_quant = |v: &AxisValue| matches!(v, AxisValue::Quant(_));
    let generic = f.axes.iter().any(|a| a.values.iter().any(is_quant)).then(|| quote!(<W: #rt::QuantBlock>));

    // Kernarg struct: pointers as device addresses, scalars as themselves.
    let field_names: Vec<_> = f.params.iter().map(|p| format_ident!("{}", p.name)).collect();
    let field_types: Vec<_> = f
        .params
        .iter()
        .map(|p| match p.kind {
            ParamKind::Ptr { .. } => quote!(u64),
            ParamKind::Scalar(s) => scalar_type(s),
        })
        .collect();
    let param_strs: Vec<_> = f.params.iter().map(|p| p.name).collect();

    // Word axes become enums; integer axes u32; the quant axis the generic W.
    let mut enums = Vec::new();
    let mut axis_args = Vec::new();
    let mut key_parts = Vec::new();
    for axis in &f.axes {
        let arg = format_ident!("{}", axis.name);
        let label = format!("{}=", axis.name);
        match axis.values.first() {
            Some(AxisValue::Quant(_)) => key_parts.push(quote!(format!("{}{}", #label, W::QUANT.name()))),
            Some(AxisValue::Int(_)) => {
                axis_args.push(quote!(#arg: u32));
                key_parts.push(quote!(format!("{}{}", #label, #arg)));
            }
            Some(AxisValue::Word(_)) => {
                let ty = enum_name(axis.name);
                let words: Vec<&str> = axis
                    .values
                    .iter()
                    .filter_map(|v| if let AxisValue::Word(w) = v { Some(*w) } else { None })
                    .collect();
                let variants: Vec<_> = words.iter().map(|w| enum_name(w)).collect();
                let enum_doc = format!("Values of the `{}` axis.", axis.name);
                enums.push(quote! {
                    #[doc = #enum_doc]
                    #[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
                    pub enum #ty { #(#variants),* }
                    impl #ty {
                        pub fn name(self) -> &'static str {
                            match self { #(#ty::#variants => #words),* }
                        }
                    }
                });
                axis_args.push(quote!(#arg: #ty));
                key_parts.push(quote!(format!("{}{}", #label, #arg.name())));
            }
            None => {}
        }
    }
    let key = if key_parts.is_empty() {
        quote!(#name.to_string())
    } else {
        quote!(format!("{}[{}]", #name, [#(#key_parts),*].join(",")))
    };

    // Launch arguments: buffers by reference (&mut when the kernel writes), scalars by value.
    let params = f.params.iter().map(|p| {
        let n = format_ident!("{}", p.name);
        match p.kind {
            ParamKind::Ptr { elem, mutable: true } => {
                let t = elem_type(rt, elem);
                quote!(#n: &mut #rt::DeviceBuffer<#t>)
            }
            ParamKind::Ptr { elem, mutable: false } if p.optional => {
                let t = elem_type(rt, elem);
                quote!(#n: Option<&#rt::DeviceBuffer<#t>>)
            }
            ParamKind::Ptr { elem, mutable: false } => {
                let t = elem_type(rt, elem);
                quote!(#n: &#rt::DeviceBuffer<#t>)
            }
            ParamKind::Scalar(s) => {
                let t = scalar_type(s);
                quote!(#n: #t)
            }
        }
    });
    let values = f.params.iter().map(|p| {
        let n = format_ident!("{}", p.name);
        match p.kind {
            ParamKind::Ptr { .. } if p.optional => quote!(#n: #n.map_or(0, |b| b.device_ptr())),
            ParamKind::Ptr { .. } => quote!(#n: #n.device_ptr()),
            ParamKind::Scalar(_) => quote!(#n),
        }
    });
    let dims: Vec<_> = f.launch.dims.iter().map(|d| format_ident!("{}", d)).collect();
    let dim_strs = f.launch.dims.to_vec();
    let int_scalars: Vec<_> = f
        .params
        .iter()
        .filter(|p| matches!(p.kind, ParamKind::Scalar(Scalar::I32 | Scalar::U32 | Scalar::I64)))
        .map(|p| (p.name, format_ident!("{}", p.name)))
        .collect();
    let (int_strs, int_idents): (Vec<_>, Vec<_>) = int_scalars.into_iter().unzip();
    let threads = f.launch.threads;

    quote! {
        #[doc = #doc]
        pub mod #module {
            pub const FAMILY: &str = #name;
            /// Workgroup size of every variant.
            pub const THREADS: u32 = #threads;

            /// The kernel's arguments as the code object lays them out.
            #[repr(C)]
            #[derive(Debug, Clone, Copy)]
            pub struct Kernarg { #(pub #field_names: #field_types),* }

            /// Name, offset and size of each `Kernarg` field, checked against every code object
            /// of this family when a bundle loads.
            pub const LAYOUT: &[(&str, usize, usize)] = &[
                #((#param_strs, ::core::mem::offset_of!(Kernarg, #field_names), ::core::mem::size_of::<#field_types>())),*
            ];

            impl Kernarg {
                /// The packed argument buffer: each field at its offset, up to the end of the last.
                pub fn bytes(&self) -> Vec<u8> {
                    let end = LAYOUT.iter().map(|(_, offset, size)| offset + size).max().unwrap_or(0);
                    let mut out = vec![0u8; end];
                    #(
                        let at = ::core::mem::offset_of!(Kernarg, #field_names);
                        let bytes = self.#field_names.to_le_bytes();
                        out[at..at + bytes.len()].copy_from_slice(&bytes);
                    )*
                    out
                }
            }

            #(#enums)*

            /// Launches the variant chosen by the axis arguments on `kernels`' device.
            #[allow(clippy::too_many_arguments)]
            pub fn launch #generic (
                kernels: &#rt::Kernels,
                #(#axis_args,)*
                #(#params,)*
                #(#dims: u32,)*
            ) -> Result<(), #rt::LaunchError> {
                let key = #key;
                let args = Kernarg { #(#values),* };
                let size = |dim: &str| -> Option<u64> {
                    match dim {
                        #(#dim_strs => Some(u64::from(#dims)),)*
                        #(#int_strs => u64::try_from(#int_idents).ok(),)*
                        _ => None,
                    }
                };
                kernels.launch(FAMILY, &key, &args.bytes(), &size)
            }
        }
    }
}
