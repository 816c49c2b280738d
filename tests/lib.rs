//! Holder crate for the workspace's black-box tests (see `api/`).
