//! GitHub: signed webhook deliveries in, REST calls out. Independent of git
//! and the model: the server wires them together.

pub mod client;
pub mod events;
pub mod publish;
pub mod signature;

pub use client::{AppCredentials, GitHub, Token};
