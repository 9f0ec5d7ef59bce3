//! The experiments, one file each. Each file holds the socket calls a reader
//! must see, in order, between the anchors its chapter includes; its binary
//! in `src/bin/` only calls its `main`.

pub mod backlog;
pub mod bind_interface;
pub mod bind_port;
pub mod deadlock;
pub mod listening_socket;
pub mod partial_recv;
pub mod partial_send;
pub mod refused;
pub mod reuseaddr;
pub mod sixteen;
