//! Tokens for each family's launcher module, and for the quant-format dispatch.

use proc_macro2::TokenStream;
use quote::{format_ident, quote};
use rocmforge_codegen::catalog::{kernarg_layout, Elem, Family, Param, ParamKind, Scalar};
use rocmforge_codegen::extent::{Expr, Op, BLOCK};
use rocmforge_codegen::variant::AxisValue;
use rocmforge_codegen::Quant;

pub fn all(rt: &syn::Path, catalog: &[Family]) -> TokenStream {
    let modules = catalog.iter().map(|f| family(rt, f).unwrap_or_else(|e| error(&e)));
    let names = catalog.iter().map(|f| format_ident!("{}", f.name));
    let families = catalog.iter().map(|f| f.name);
    let dispatch = quant_dispatch(rt);
    quote! {
        #(#modules)*

        /// Every family's `Kernarg` layout, by family name.
        pub const LAYOUTS: &[(&str, &[(&str, usize, usize)])] = &[#((#families, #names::LAYOUT)),*];

        #dispatch
    }
}

fn error(message: &str) -> TokenStream {
    quote!(compile_error!(#message);)
}

/// `QuantBuffer`, one variant per format of `Quant::ALL`, and `with_blocks!`, which runs a
/// generic body with the typed buffer: the dispatch from a weight's run-time format to the
/// typed launchers.
fn quant_dispatch(rt: &syn::Path) -> TokenStream {
    let variants: Vec<_> = Quant::ALL.iter().map(|q| format_ident!("{}", format!("{q:?}"))).collect();
    let blocks: Vec<_> = variants.iter().map(|v| format_ident!("Block{}", v)).collect();
    quote! {
        /// Quantized blocks on the device, typed by their run-time format.
        pub enum QuantBuffer {
            #(#variants(#rt::DeviceBuffer<#rt::blocks::#blocks>),)*
        }

        impl QuantBuffer {
            pub fn quant(&self) -> #rt::Quant {
                match self { #(QuantBuffer::#variants(_) => #rt::Quant::#variants,)* }
            }

            /// A tensor of format `quant` from its blocks in ggml's order (a whole number of
            /// blocks), uploaded in the GPU's layout (`Quant::to_device_layout`), which is
            /// written in `scratch` (reused from tensor to tensor) when it differs.
            pub fn from_bytes(
                gpu: &::std::rc::Rc<dyn #rt::Gpu>,
                quant: #rt::Quant,
                bytes: &[u8],
                scratch: &mut Vec<u8>,
            ) -> Result<Self, #rt::GpuError> {
                let bytes = quant.to_device_layout_in(bytes, scratch);
                Ok(match quant {
                    #(#rt::Quant::#variants => QuantBuffer::#variants(#rt::DeviceBuffer::from_bytes(gpu, bytes)?),)*
                })
            }

            /// The blocks, if they are of format `W`.
            pub fn typed<W: #rt::QuantBlock + 'static>(&self) -> Option<&#rt::DeviceBuffer<W>> {
                let any: &dyn ::std::any::Any = match self { #(QuantBuffer::#variants(b) => b,)* };
                any.downcast_ref()
            }
        }

        /// Work generic over a weight format's block type, run for a format known at run time
        /// (`for_quant`): a closure cannot be generic, so the body is a method.
        pub trait ForQuant {
            type Output;
            fn run<W: #rt::QuantBlock + 'static>(self) -> Self::Output;
        }

        /// Runs `work` with the block type of `quant`.
        pub fn for_quant<F: ForQuant>(quant: #rt::Quant, work: F) -> F::Output {
            match quant { #(#rt::Quant::#variants => work.run::<#rt::blocks::#blocks>(),)* }
        }

        /// Runs `$body` with `$buf` bound to the typed buffer of `$m` (a `&QuantBuffer`).
        macro_rules! with_blocks {
            ($m:expr, |$buf:ident| $body:expr) => {
                match $m {
                    #($crate::backend::gpu::launchers::QuantBuffer::#variants($buf) => $body,)*
                }
            };
        }
        pub(crate) use with_blocks;
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

/// An extent as i128 arithmetic over locals of the same names (`BLOCK` → `block`).
fn extent_tokens(e: &Expr) -> TokenStream {
    match e {
        Expr::Num(n) => {
            let n = i128::from(*n);
            quote!(#n)
        }
        Expr::Name(n) if n == BLOCK => quote!(block),
        Expr::Name(n) => {
            let n = format_ident!("{}", n);
            quote!(#n)
        }
        Expr::Bin(a, op, b) => {
            let (a, b) = (extent_tokens(a), extent_tokens(b));
            match op {
                Op::Add => quote!((#a + #b)),
                Op::Sub => quote!((#a - #b)),
                Op::Mul => quote!((#a * #b)),
                Op::Div => quote!((#a / #b)),
            }
        }
    }
}

/// The field type of a pointer parameter in `Args`.
fn view_type(rt: &syn::Path, p: &Param) -> Option<TokenStream> {
    let ParamKind::Ptr { elem, mutable } = p.kind else { return None };
    let t = elem_type(rt, elem);
    Some(match (mutable, p.optional) {
        (true, _) => quote!(#rt::ViewMut<'a, #t>),
        (false, true) => quote!(Option<#rt::View<'a, #t>>),
        (false, false) => quote!(#rt::View<'a, #t>),
    })
}

fn family(rt: &syn::Path, f: &Family) -> Result<TokenStream, String> {
    let module = format_ident!("{}", f.name);
    let name = f.name;
    let doc = format!("{}.\n\nTemplate `templates/{}`; CPU reference `{}`.", f.summary, f.template, f.reference);
    let quant_axis = f.axes.iter().any(|a| matches!(a.values.first(), Some(AxisValue::Quant(_))));
    let (generic, generic_use, phantom) = if quant_axis {
        (quote!(<W: #rt::QuantBlock>), quote!(<W>), quote!(::core::marker::PhantomData<fn() -> W>))
    } else {
        (quote!(), quote!(), quote!(::core::marker::PhantomData<()>))
    };

    // Kernarg struct: pointers as device addresses, scalars as themselves, at the offsets the
    // catalog's C layout gives (asserted at compile time).
    let field_names: Vec<_> = f.params.iter().map(|p| format_ident!("{}", p.name)).collect();
    let field_types: Vec<_> = f
        .params
        .iter()
        .map(|p| match p.kind {
            ParamKind::Ptr { .. } => quote!(u64),
            ParamKind::Scalar(s) => scalar_type(s),
            ParamKind::TensorMap(_) => quote!(#rt::TensorMap),
        })
        .collect();
    let param_strs: Vec<_> = f.params.iter().map(|p| p.name).collect();
    let (offsets, kernarg_size) = kernarg_layout(&f.params);
    let offsets: Vec<usize> = offsets.iter().map(|&(o, _)| o as usize).collect();
    let kernarg_size = kernarg_size as usize;

    // Word axes become enums, integer axes u32, the quant axis the generic W. `key_parts`
    // build the variant key from the axis values (the quant axis from `quant`).
    let mut enums = Vec::new();
    let mut axis_params = Vec::new(); // every non-quant axis: `name: Type`
    let mut axis_names = Vec::new();
    let mut int_axes = Vec::new();
    let mut key_parts = Vec::new();
    for axis in &f.axes {
        let arg = format_ident!("{}", axis.name);
        let label = format!("{}=", axis.name);
        match axis.values.first() {
            Some(AxisValue::Quant(_)) => key_parts.push(quote!(format!("{}{}", #label, quant.name()))),
            Some(AxisValue::Int(_)) => {
                axis_params.push(quote!(#arg: u32));
                axis_names.push(arg.clone());
                int_axes.push(arg.clone());
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
                axis_params.push(quote!(#arg: #ty));
                axis_names.push(arg.clone());
                key_parts.push(quote!(format!("{}{}", #label, #arg.name())));
            }
            None => {}
        }
    }
    let quant_param = quant_axis.then(|| quote!(quant: #rt::Quant,));
    let key_body = if key_parts.is_empty() {
        quote!(#name.to_string())
    } else {
        quote!(format!("{}[{}]", #name, [#(#key_parts),*].join(",")))
    };

    // Args: views for pointers, values for scalars, then the launch-only dimensions. Tensor
    // maps are not arguments: the launch makes them from their buffers.
    let mut arg_fields = Vec::new();
    for p in &f.params {
        let n = format_ident!("{}", p.name);
        let t = match p.kind {
            ParamKind::Scalar(s) => scalar_type(s),
            ParamKind::Ptr { .. } => view_type(rt, p).expect("pointers have a view type"),
            ParamKind::TensorMap(_) => continue,
        };
        arg_fields.push(quote!(pub #n: #t));
    }
    let dims: Vec<_> = f.launch.dims.iter().map(|d| format_ident!("{}", d)).collect();
    let dim_strs = f.launch.dims.to_vec();
    let lifetime_generic = if quant_axis { quote!(<'a, W: #rt::QuantBlock>) } else { quote!(<'a>) };
    let args_use = if quant_axis { quote!(Args<'_, W>) } else { quote!(Args<'_>) };

    // Extent checks: each name an extent uses bound once as i128.
    let extents = f.extents()?;
    let mut used: Vec<String> = extents.iter().flat_map(|(_, e)| e.names()).map(str::to_string).collect();
    used.sort();
    used.dedup();
    let bindings = used.iter().map(|n| {
        let ident = format_ident!("{}", n);
        if n == BLOCK {
            quote!(let block = i128::from(W::QUANT.block_elems());)
        } else if int_axes.iter().any(|a| a == n) {
            quote!(let #ident = i128::from(self.#ident);)
        } else {
            quote!(let #ident = i128::from(args.#ident);)
        }
    });
    let checks = extents.iter().map(|(p, e)| {
        let (field, arg, need) = (format_ident!("{}", p.name), p.name, extent_tokens(e));
        if p.optional {
            quote!(if let Some(v) = &args.#field { #rt::check_extent(FAMILY, #arg, #need, v.len())?; })
        } else {
            quote!(#rt::check_extent(FAMILY, #arg, #need, args.#field.len())?;)
        }
    });
    let values = f.params.iter().map(|p| {
        let n = format_ident!("{}", p.name);
        match p.kind {
            ParamKind::Ptr { .. } if p.optional => quote!(#n: args.#n.map_or(0, |v| v.device_ptr())),
            ParamKind::Ptr { .. } => quote!(#n: args.#n.device_ptr()),
            ParamKind::Scalar(_) => quote!(#n: args.#n),
            ParamKind::TensorMap(_) => quote!(#n: #rt::TensorMap::ZERO),
        }
    });
    let int_scalars: Vec<_> = f
        .params
        .iter()
        .filter(|p| matches!(p.kind, ParamKind::Scalar(Scalar::I32 | Scalar::U32 | Scalar::I64)))
        .map(|p| (p.name, format_ident!("{}", p.name)))
        .collect();
    let (int_strs, int_idents): (Vec<_>, Vec<_>) = int_scalars.into_iter().unzip();
    let threads = f.launch.threads;
    let axis_fields = int_axes.iter().map(|a| quote!(#a: u32));
    let axis_inits = int_axes.iter().map(|a| quote!(#a));
    let int_axis_strs: Vec<String> = int_axes.iter().map(|a| a.to_string()).collect();
    let quant_arg = quant_axis.then(|| quote!(W::QUANT,));

    let by_quant = quant_axis.then(|| {
        let axis_fields = int_axes.iter().map(|a| quote!(#a: u32));
        let axis_inits = int_axes.iter().map(|a| quote!(#a));
        let axis_copies = int_axes.iter().map(|a| quote!(#a: self.#a));
        quote! {
            /// The family's variant for every weight format the bundle has, resolved once:
            /// `get` picks one by block type with no lookup.
            pub struct ByQuant {
                kernels: Vec<Option<::std::rc::Rc<#rt::Resolved>>>,
                keys: Vec<String>,
                target: #rt::Target,
                host: #rt::Host,
                #(#axis_fields,)*
            }

            impl ByQuant {
                pub fn resolve(kernels: &#rt::Kernels, #(#axis_params),*) -> Self {
                    let keys: Vec<String> = #rt::Quant::ALL.iter().map(|&quant| key(quant, #(#axis_names),*)).collect();
                    let (target, host) = (kernels.target(), kernels.host());
                    let kernels = keys.iter().map(|k| kernels.resolve(FAMILY, k).ok().map(::std::rc::Rc::new)).collect();
                    ByQuant { kernels, keys, target, host, #(#axis_inits),* }
                }

                /// The variant for `quant`, or an error naming it when the bundle lacks it.
                fn variant(&self, quant: #rt::Quant) -> Result<&::std::rc::Rc<#rt::Resolved>, #rt::LaunchError> {
                    let i = #rt::Quant::ALL.iter().position(|&q| q == quant).expect("every format is in Quant::ALL");
                    self.kernels[i]
                        .as_ref()
                        .ok_or_else(|| #rt::LaunchError::MissingVariant {
                            key: self.keys[i].clone(),
                            target: self.target,
                            host: self.host,
                        })
                }

                /// Fails unless the bundle has the variant for `quant` (checked at load, so that a
                /// launch does not fail half-way through a forward pass).
                pub fn require(&self, quant: #rt::Quant) -> Result<(), #rt::LaunchError> {
                    self.variant(quant).map(|_| ())
                }

                /// The variant for blocks of type `W`.
                pub fn get<W: #rt::QuantBlock>(&self) -> Result<Kernel<W>, #rt::LaunchError> {
                    let kernel = ::std::rc::Rc::clone(self.variant(W::QUANT)?);
                    Ok(Kernel { kernel, #(#axis_copies,)* _w: ::core::marker::PhantomData })
                }
            }
        }
    });
    Ok(quote! {
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

            /// Bytes of the packed arguments: up to the end of the last field.
            pub const SIZE: usize = #kernarg_size;

            // The struct is laid out as the catalog's C layout says.
            const _: () = { #(assert!(::core::mem::offset_of!(Kernarg, #field_names) == #offsets);)* };

            impl Kernarg {
                /// The packed argument buffer: each field at its offset.
                pub fn bytes(&self) -> [u8; SIZE] {
                    let mut out = [0u8; SIZE];
                    #(
                        let at = ::core::mem::offset_of!(Kernarg, #field_names);
                        let bytes = self.#field_names.to_le_bytes();
                        out[at..at + bytes.len()].copy_from_slice(&bytes);
                    )*
                    out
                }
            }

            #(#enums)*

            fn key(#quant_param #(#axis_params),*) -> String {
                #key_body
            }

            /// The arguments of one launch, by name: views of the buffers (checked against the
            /// extents the declaration gives), the scalars, and the launch-only sizes.
            pub struct Args #lifetime_generic {
                #(#arg_fields,)*
                #(pub #dims: u32,)*
            }

            /// A variant of the family, resolved once on one GPU.
            #[derive(Clone)]
            pub struct Kernel #generic {
                kernel: ::std::rc::Rc<#rt::Resolved>,
                #(#axis_fields,)*
                _w: #phantom,
            }

            impl #generic Kernel #generic_use {
                /// The variant for these axis values, or an error naming the missing variant.
                pub fn resolve(kernels: &#rt::Kernels, #(#axis_params),*) -> Result<Self, #rt::LaunchError> {
                    let kernel = kernels.resolve(FAMILY, &key(#quant_arg #(#axis_names),*))?;
                    Ok(Kernel { kernel: ::std::rc::Rc::new(kernel), #(#axis_inits,)* _w: ::core::marker::PhantomData })
                }

                /// Checks the views against the extents, then enqueues the launch on `stream`.
                pub fn launch(&self, stream: #rt::StreamHandle, args: #args_use) -> Result<(), #rt::LaunchError> {
                    #(#bindings)*
                    #(#checks)*
                    let kernarg = Kernarg { #(#values),* };
                    let size = |dim: &str| -> Option<u64> {
                        match dim {
                            #(#dim_strs => Some(u64::from(args.#dims)),)*
                            #(#int_strs => u64::try_from(args.#int_idents).ok(),)*
                            #(#int_axis_strs => Some(u64::from(self.#int_axes)),)*
                            _ => None,
                        }
                    };
                    // SAFETY: `Kernarg` is laid out as the code objects read it (checked when the
                    // bundle loaded), and every pointer in it comes from a view that borrows its
                    // buffer for this call and holds the extent declared for these sizes.
                    unsafe { self.kernel.enqueue(stream, &kernarg.bytes(), &size) }
                }
            }

            #by_quant
        }
    })
}
