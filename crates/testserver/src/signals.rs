//! Signals for a process that may be PID 1 of its container: the kernel drops signals PID 1
//! has no handler for, so termination signals are blocked and taken with sigwait instead.

use std::{mem::MaybeUninit, ptr};

/// A set of blocked signals, waited on with [`wait_for_termination`] or in [`pause`].
pub struct SignalSet(libc::sigset_t);

/// Blocks SIGTERM, SIGINT and SIGCHLD in the calling thread (and threads it starts later).
pub fn block() -> SignalSet {
    let mut set = MaybeUninit::<libc::sigset_t>::uninit();
    // SAFETY: sigemptyset initializes the set before sigaddset and pthread_sigmask read it.
    unsafe {
        libc::sigemptyset(set.as_mut_ptr());
        for signal in [libc::SIGTERM, libc::SIGINT, libc::SIGCHLD] {
            libc::sigaddset(set.as_mut_ptr(), signal);
        }
        let set = set.assume_init();
        libc::pthread_sigmask(libc::SIG_BLOCK, &set, ptr::null_mut());
        SignalSet(set)
    }
}

/// Waits for SIGTERM or SIGINT, reaping children on SIGCHLD meanwhile; answers the
/// signal's name.
pub fn wait_for_termination(set: &SignalSet) -> &'static str {
    loop {
        let mut signal = 0;
        // SAFETY: the set was initialized by `block`, and `signal` is a valid out pointer.
        if unsafe { libc::sigwait(&set.0, &mut signal) } != 0 {
            continue;
        }
        match signal {
            libc::SIGTERM => return "SIGTERM",
            libc::SIGINT => return "SIGINT",
            _ => reap_children(),
        }
    }
}

/// The pause process: sleeps until SIGTERM or SIGINT, then exits 0; reaps zombies, as a
/// sandbox's PID 1 must when the pod shares its process namespace.
pub fn pause() -> ! {
    let set = block();
    wait_for_termination(&set);
    std::process::exit(0);
}

fn reap_children() {
    loop {
        let mut status = 0;
        // SAFETY: waitpid with WNOHANG only writes the status integer.
        if unsafe { libc::waitpid(-1, &mut status, libc::WNOHANG) } <= 0 {
            return;
        }
    }
}
