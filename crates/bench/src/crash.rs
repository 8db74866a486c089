//! Crash-restart timing: a child process of this benchmark opens a store, writes, says READY
//! and is killed with SIGKILL, leaving the store as a crash would.

use std::{
    io::{BufRead, BufReader},
    process::{Command, Stdio},
};

use anyhow::Context;

/// Runs `tug-bench <args>` as a holder, waits for its READY line, then kills it with SIGKILL.
pub fn kill_holder(args: &[&std::ffi::OsStr]) -> anyhow::Result<()> {
    let mut child = Command::new(std::env::current_exe()?).args(args).stdout(Stdio::piped()).spawn()?;
    let mut line = String::new();
    BufReader::new(child.stdout.take().context("holder stdout")?).read_line(&mut line)?;
    anyhow::ensure!(line.trim() == "READY", "holder said {line:?}");
    child.kill()?;
    child.wait()?;
    Ok(())
}
