//! Giving up privileges once the listeners are held: every capability (effective, permitted,
//! inheritable, ambient and bounding sets) is dropped and no-new-privs is set, so that neither
//! this process nor anything it could execute can regain them.
//!
//! Capabilities belong to threads, and new threads inherit them: this runs in `main` before the
//! async runtime starts its workers, so every thread of the server starts without any.

use std::collections::BTreeSet;

use caps::{CapSet, Capability};

/// What [`drop_all`] removed, for the log.
#[derive(Debug, Default)]
pub struct Dropped {
    /// Capabilities that were in the effective, permitted, inheritable or ambient sets.
    pub held: BTreeSet<String>,
    /// How many capabilities were in the bounding set.
    pub bounding: usize,
}

/// Drops every capability of the calling thread and sets no-new-privs.
///
/// A set that is already empty is left alone (under a hardened unit they all are, and the
/// `capset` system call may be filtered). Fails if a capability that is held cannot be dropped.
pub fn drop_all() -> Result<Dropped, String> {
    let mut dropped = Dropped::default();
    let bounding = bounding_set();
    if !bounding.is_empty() {
        if has(CapSet::Effective, Capability::CAP_SETPCAP)? {
            for cap in &bounding {
                caps::drop(None, CapSet::Bounding, *cap)
                    .map_err(|e| format!("cannot drop {cap} from the bounding set: {e}"))?;
            }
            dropped.bounding = bounding.len();
        } else {
            // Without CAP_SETPCAP the bounding set cannot shrink; with no-new-privs and empty
            // permitted and inheritable sets nothing in it can ever be gained.
            tracing::debug!(
                count = bounding.len(),
                "bounding set kept: dropping it needs CAP_SETPCAP, which this process lacks"
            );
        }
    }
    for set in [CapSet::Ambient, CapSet::Inheritable, CapSet::Permitted] {
        let held = read(set)?;
        if matches!(set, CapSet::Permitted) {
            dropped
                .held
                .extend(read(CapSet::Effective)?.iter().map(name));
        }
        if held.is_empty() {
            continue;
        }
        dropped.held.extend(held.iter().map(name));
        // Clearing the permitted set clears the effective set with it.
        caps::clear(None, set).map_err(|e| format!("cannot clear the {set:?} set: {e}"))?;
    }
    set_no_new_privs()?;
    Ok(dropped)
}

fn bounding_set() -> Vec<Capability> {
    caps::all()
        .into_iter()
        .filter(|cap| caps::has_cap(None, CapSet::Bounding, *cap).unwrap_or(false))
        .collect()
}

fn read(set: CapSet) -> Result<caps::CapsHashSet, String> {
    caps::read(None, set).map_err(|e| format!("cannot read the {set:?} capability set: {e}"))
}

fn has(set: CapSet, cap: Capability) -> Result<bool, String> {
    caps::has_cap(None, set, cap).map_err(|e| format!("cannot read the {set:?} set: {e}"))
}

fn name(cap: &Capability) -> String {
    cap.to_string()
}

fn set_no_new_privs() -> Result<(), String> {
    // SAFETY: PR_SET_NO_NEW_PRIVS takes plain integer arguments and touches no memory.
    let result = unsafe { libc::prctl(libc::PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) };
    if result == 0 {
        Ok(())
    } else {
        Err(format!(
            "cannot set no-new-privs: {}",
            std::io::Error::last_os_error()
        ))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Runs on its own thread: capabilities are per thread, so the test process keeps its own.
    #[test]
    fn a_thread_ends_with_no_capabilities_and_no_new_privs() {
        let can_shrink_bounding =
            caps::has_cap(None, CapSet::Effective, Capability::CAP_SETPCAP).unwrap_or(false);
        std::thread::spawn(move || {
            drop_all().expect("dropping capabilities");
            for set in [
                CapSet::Effective,
                CapSet::Permitted,
                CapSet::Inheritable,
                CapSet::Ambient,
            ] {
                assert!(read(set).unwrap().is_empty(), "{set:?} is not empty");
            }
            // SAFETY: PR_GET_NO_NEW_PRIVS only reads a flag.
            assert_eq!(
                unsafe { libc::prctl(libc::PR_GET_NO_NEW_PRIVS, 0, 0, 0, 0) },
                1
            );
            if can_shrink_bounding {
                assert!(bounding_set().is_empty(), "bounding set not empty");
            }
            // Dropping again is a no-op, not an error.
            drop_all().expect("dropping capabilities twice");
        })
        .join()
        .expect("the test thread panicked");
    }
}
