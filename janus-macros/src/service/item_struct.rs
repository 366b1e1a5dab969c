//! `#[janus::service(…)]` on a struct: its configuration.
//!
//! ```text
//! // Input:
//! #[janus::service(restart = "always", shutdown_timeout = "5s")]
//! pub struct Feed { … }
//!
//! // Output:
//! pub struct Feed { … }
//! impl ::janus::__private::ServiceDefinition for Feed {
//!     fn __janus_name(&self) -> &str { "feed" }
//!     fn __janus_restart_policy(&self) -> RestartPolicy { RestartPolicy::Always }
//!     fn __janus_backoff(&self) -> Option<BackoffConfig> { None }
//!     fn __janus_shutdown_timeout(&self) -> Option<Duration> { Some(Duration::new(5, 0)) }
//!     fn __janus_critical(&self) -> bool { false }
//!     fn __janus_heartbeat_timeout(&self) -> Option<Duration> { None }
//! }
//! ```

use proc_macro2::TokenStream;
use quote::quote;

use super::args::{NameArg, ServiceArgs, Target};
use super::config::{ConfigExprs, Methods};
use crate::errors::Errors;
use crate::names::kebab_case;

pub(super) fn expand(args: TokenStream, item: &syn::ItemStruct) -> TokenStream {
    let mut errors = Errors::default();
    let mut args = ServiceArgs::parse(args, Target::Struct, &mut errors);
    if let Some(NameArg::Field(field)) = &args.name {
        let exists = item.fields.iter().any(|f| f.ident.as_ref() == Some(field));
        if !exists {
            errors.at(
                field,
                format_args!(
                    "`{}` has no field `{field}`; `name = field` names each instance by one of its `String` fields",
                    item.ident
                ),
            );
            args.name = None;
        }
    }
    let methods =
        ConfigExprs::new(&args, &kebab_case(&item.ident.to_string())).methods(Methods::Definition);
    let ident = &item.ident;
    let (impl_generics, ty_generics, where_clause) = item.generics.split_for_impl();
    let errors = errors.to_compile_errors();
    quote! {
        #item

        #[automatically_derived]
        impl #impl_generics ::janus::__private::ServiceDefinition for #ident #ty_generics #where_clause {
            #methods
        }

        #errors
    }
}
