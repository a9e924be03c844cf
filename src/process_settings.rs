//! Process-wide settings applied once at start, before the runtime's threads exist.
//!
//! - The open-file soft limit is raised to the hard limit (as systemd's `LimitNOFILE=` would),
//!   so that `[limits] max_connections` and ldk-node's own sockets and files fit.
//! - glibc raises its mmap threshold each time a large mmapped block is freed, so after a
//!   burst of 10 MiB request bodies later ones come from the heap arenas, which glibc rarely
//!   gives back: the process stays hundreds of MiB larger after the burst is over. A fixed
//!   threshold keeps every block of 256 KiB and more in its own mapping, returned on free.

/// Blocks this large or larger are always mapped on their own.
#[cfg(all(target_os = "linux", target_env = "gnu"))]
const MMAP_THRESHOLD_BYTES: libc::c_int = 256 * 1024;

/// Applies both settings; returns the open-file limit now in force.
pub fn apply() -> Option<u64> {
    return_large_buffers_to_the_os();
    raise_open_file_limit()
}

fn return_large_buffers_to_the_os() {
    #[cfg(all(target_os = "linux", target_env = "gnu"))]
    // SAFETY: mallopt only changes allocator tunables; called before other threads start.
    unsafe {
        libc::mallopt(libc::M_MMAP_THRESHOLD, MMAP_THRESHOLD_BYTES);
    }
}

/// Raises the open-file soft limit to the hard limit; returns the limit now in force.
pub fn raise_open_file_limit() -> Option<u64> {
    let mut limit = libc::rlimit {
        rlim_cur: 0,
        rlim_max: 0,
    };
    // SAFETY: getrlimit/setrlimit write to and read from a valid, owned struct.
    unsafe {
        if libc::getrlimit(libc::RLIMIT_NOFILE, &mut limit) != 0 {
            return None;
        }
        if limit.rlim_cur < limit.rlim_max {
            let raised = libc::rlimit {
                rlim_cur: limit.rlim_max,
                rlim_max: limit.rlim_max,
            };
            if libc::setrlimit(libc::RLIMIT_NOFILE, &raised) == 0 {
                return Some(raised.rlim_cur);
            }
        }
    }
    Some(limit.rlim_cur)
}

/// Hands memory that is free inside the allocator's heaps back to the kernel (glibc's
/// `malloc_trim`, which walks every arena). Cheap on a small heap; called after bursts.
pub fn release_free_memory() {
    #[cfg(all(target_os = "linux", target_env = "gnu"))]
    // SAFETY: malloc_trim only returns free pages to the kernel; it is thread-safe.
    unsafe {
        libc::malloc_trim(0);
    }
}
