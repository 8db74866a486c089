//! Container logs as the kubelet serves them: the CRI log format ([`cri`]), the files of the
//! CRI layout and following them ([`files`]), and the agent's HTTPS server ([`server`]). The
//! real agent and the simulated nodes share all three.

pub mod cri;
pub mod files;
pub mod running;
pub mod server;
