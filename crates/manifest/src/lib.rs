//! Loading Kubernetes manifests: files, directories (recursive) and standard input become
//! [`model::Object`]s, each with the file and line it came from; what cannot be read becomes a
//! [`load::InputError`] with its file and line, and the rest still loads.
//!
//! Layout: [`load`] reads inputs, splits documents and expands `*List`s; [`yaml`] is the one
//! YAML parser, keeping the span of every node (so `steady fix` can edit the text in place);
//! [`model`] decodes each document with the k8s-openapi types and keeps what the checker's rules
//! and `steady sim --from` read, and nothing else. No rules and no network here: `steady check`
//! judges these objects, and `steady-ctl` turns a live cluster into the same objects.
#![forbid(unsafe_code)]

pub mod codec;
pub mod load;
pub mod model;
pub mod yaml;
