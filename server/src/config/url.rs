//! The configuration's name for the crate's one URL parser ([`crate::url`]): the flags parse their
//! URLs with [`Url::parse`], etcd's dialect. This path stays so `config::url` keeps compiling.

pub use crate::url::{Scheme, Url, join};
