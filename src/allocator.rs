//! The allocator's settings for long streaming runs (the CLI and the Lambda call
//! [`tune`] first thing in `main`).
//!
//! glibc's malloc gives each allocating thread an arena of its own (up to eight per core)
//! and raises its mmap threshold to the largest block freed so far. A streaming run hands
//! batches between threads (rollups from the engine to the store and the Athena copy; the
//! reader's buffers), so freed blocks stayed cached in arenas that never shrink: `gridwatch
//! analyze` of a 1 GB file peaked at 87 MB resident for 45 MB of heap. Two arenas and a
//! fixed 256 KiB threshold (larger blocks are mapped and go back to the system when freed)
//! brought it to 56 MB at the same speed; see the README's performance section.

/// Arenas malloc may create: one for the engine's thread and one shared by the rest.
const ARENAS: i32 = 2;
/// Blocks from this size up are mapped on their own and unmapped when freed.
const MMAP_THRESHOLD_BYTES: i32 = 256 * 1024;

/// Applies the settings (glibc only; elsewhere the allocator is left as it is). Call it
/// before any thread starts: arenas are assigned when a thread first allocates.
pub fn tune() {
    #[cfg(all(target_os = "linux", target_env = "gnu"))]
    // SAFETY: mallopt only changes malloc's parameters; it is called before other threads exist.
    unsafe {
        libc::mallopt(libc::M_ARENA_MAX, ARENAS);
        libc::mallopt(libc::M_MMAP_THRESHOLD, MMAP_THRESHOLD_BYTES);
    }
}
