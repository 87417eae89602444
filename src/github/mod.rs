//! GitHub: signed webhook deliveries in ([`signature`], [`payload`]), REST
//! calls out ([`client`]), and what precis writes there ([`publish`]).
//! Knows nothing of jobs, git or models.

pub mod client;
pub mod payload;
pub mod publish;
pub mod signature;
pub mod types;

pub use client::{AppCredentials, GitHub, GitHubError, Token};
pub use types::{CommitId, PullNumber, RepoName};
