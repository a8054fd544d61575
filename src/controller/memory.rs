//! The allocator's share of the operator's memory (docs/configuration.md, "How the operator
//! scales"). The caches hold about 1.5 kB per Deployment (`make bench-operator`, examples/
//! rss_breakdown.rs); what glibc's allocator keeps besides is most of the resident set: one arena per
//! thread that ever allocated, each keeping the free space of the initial list's parsing. Two
//! arenas, and free memory handed back once the caches are filled, keep 10,000 Deployments under
//! 60 MiB. Elsewhere (musl, other systems) these do nothing.

/// Before any thread starts: at most two malloc arenas (glibc's default is 8 per core).
pub fn limit_arenas() {
    #[cfg(all(target_os = "linux", target_env = "gnu"))]
    // SAFETY: mallopt only changes allocator parameters; it is called before other threads exist.
    unsafe {
        libc::mallopt(libc::M_ARENA_MAX, 2);
    }
}

/// Hand free heap memory back to the system (after a burst such as the initial lists).
pub fn release_free() {
    #[cfg(all(target_os = "linux", target_env = "gnu"))]
    // SAFETY: malloc_trim only returns free pages to the kernel; it is thread-safe.
    unsafe {
        libc::malloc_trim(0);
    }
}
