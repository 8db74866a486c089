//! The agent's own containerd: its config ([`config`]) and its process ([`process`]).

pub mod config;
pub mod process;

pub use config::{ContainerdConfig, Registries};
pub use process::Containerd;
