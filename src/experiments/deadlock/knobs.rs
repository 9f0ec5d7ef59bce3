//! Experiment 10's knobs and the checks made on them before any work: the
//! byte counts' ranges, the output files opened up front, and the warning
//! before a fix that will take minutes. The socket calls are in
//! `../deadlock.rs`.

use crate::lab::args::{self, BufferSize};
use crate::lab::out_file::OutFile;

/// The default run's knobs.
#[derive(Debug, Clone, clap::Args)]
pub struct Knobs {
    /// Bytes the large case and the fix send, rounded up to a multiple of
    /// 16, from 4 KiB to 1 TiB (suffixes: 4MiB, 1GiB).
    #[arg(long, value_name = "N", default_value = "2MiB", value_parser = parse_bytes)]
    pub(super) bytes: u64,
    /// Bytes the client hands to each sendall() (the book: 16).
    #[arg(long, global = true, value_name = "N", default_value = "16", value_parser = parse_chunk)]
    pub(super) chunk: usize,
    /// SO_SNDBUF for both sides, set before connect/listen: a size, or
    /// auto to leave the kernel's autotuning. Default: 64KiB in the
    /// default run; auto in the server and client roles, as the book's
    /// script leaves it.
    #[arg(long, global = true, value_name = "SIZE|auto", value_parser = args::parse_buffer_size)]
    pub(super) sndbuf: Option<BufferSize>,
    /// SO_RCVBUF for both sides, set before connect/listen: a size, or
    /// auto. Default: 64KiB in the default run; auto in the roles.
    #[arg(long, global = true, value_name = "SIZE|auto", value_parser = args::parse_buffer_size)]
    pub(super) rcvbuf: Option<BufferSize>,
    /// TCP_RTO_MIN_US for both sides, in ms: how soon a segment the full
    /// receiver dropped is sent again; 0 leaves the kernel's (Linux: 200).
    /// Default: 8 in the default run (our choice); 0 in the roles, as the
    /// book's script leaves it. Skipped where the kernel refuses it.
    #[arg(long, global = true, value_name = "MS", value_parser = clap::value_parser!(u32).range(0..=200))]
    pub(super) rto_min_ms: Option<u32>,
    /// Declare a deadlock after this many ms without any byte moving.
    #[arg(long, global = true, value_name = "MS", default_value_t = 1000, value_parser = clap::value_parser!(u64).range(50..=600_000))]
    pub(super) stall_ms: u64,
    /// Declare the deadlock once the cycle test (both sides waiting to
    /// send, both windows 0) has held this many ms with nothing moving;
    /// 0 turns the test off, leaving --stall-ms alone.
    #[arg(long, value_name = "MS", default_value_t = 20, value_parser = clap::value_parser!(u64).range(0..=600_000))]
    pub(super) cycle_ms: u64,
    /// Bytes the fixed client hands to each sendall() (our choice: 64 KiB,
    /// so the fix takes milliseconds; 16 is the book's message).
    #[arg(long, value_name = "N", default_value = "64KiB", value_parser = parse_chunk)]
    pub(super) fix_chunk: usize,
    /// Run only the fix: a client that reads while it writes.
    #[arg(long)]
    pub(super) fixed: bool,
    /// Draw the cycle at the stall (the four queues, the two waits) into
    /// this SVG file.
    #[arg(long, value_name = "FILE.svg")]
    pub(super) diagram: Option<std::path::PathBuf>,
    /// Draw bytes sent and received against time into this SVG file.
    #[arg(long, value_name = "FILE.svg")]
    pub(super) plot: Option<std::path::PathBuf>,
}

/// The knobs of a command line that gives none: the OS's buffer sizes
/// and RTO (`sndbuf`, `rcvbuf` and `rto_min_ms` all `None`), as the
/// book's script and the manual roles leave them; every other knob at its
/// default.
impl Default for Knobs {
    fn default() -> Knobs {
        use clap::{Args, FromArgMatches};
        let none = Knobs::augment_args(clap::Command::new("deadlock"))
            .no_binary_name(true)
            .get_matches_from(std::iter::empty::<String>());
        Knobs::from_arg_matches(&none).expect("every knob has a default")
    }
}

impl Knobs {
    /// How long without any byte moving before a stall is declared
    /// (`--stall-ms`).
    pub fn stall_window(&self) -> std::time::Duration {
        std::time::Duration::from_millis(self.stall_ms)
    }
}

/// The default run's buffers where `--sndbuf`/`--rcvbuf` are not given:
/// small, so the deadlock comes after a few hundred KiB.
const RUN_BUFFER: BufferSize = BufferSize::Bytes(64 * 1024);
/// The default run's `TCP_RTO_MIN_US` where `--rto-min-ms` is not given.
const RUN_RTO_MIN_MS: u32 = 8;

impl Knobs {
    /// These knobs with the default run's choices (64 KiB buffers, an 8 ms
    /// minimum RTO) for the socket options not given. The manual roles
    /// take the knobs as given: an option not given is left to the OS, as
    /// the book's scripts leave it.
    pub(super) fn for_default_run(&self) -> Knobs {
        Knobs {
            sndbuf: self.sndbuf.or(Some(RUN_BUFFER)),
            rcvbuf: self.rcvbuf.or(Some(RUN_BUFFER)),
            rto_min_ms: self.rto_min_ms.or(Some(RUN_RTO_MIN_MS)),
            ..self.clone()
        }
    }
}

/// The fewest bytes `--bytes` accepts: the kernel's smallest send buffer
/// alone (`SOCK_MIN_SNDBUF`, about 4.5 KiB on Linux) holds more than
/// fewer, so the large case could never fill the buffers and deadlock.
pub const MIN_BYTES: u64 = 4 << 10;

/// `--bytes`: 4 KiB to 1 TiB, rounded up to a multiple of 16, as the
/// book's client sends whole 16-byte messages.
pub(super) fn parse_bytes(s: &str) -> Result<u64, String> {
    let n = args::parse_byte_count(s, 1, 1 << 40)?;
    if n < MIN_BYTES {
        return Err(format!(
            "at least {MIN_BYTES} bytes (4KiB): the kernel's smallest \
             buffers hold more, so fewer could never deadlock"
        ));
    }
    Ok(n.div_ceil(16) * 16)
}

/// The default run's deadline must outlast its stall window: a `send()`
/// blocked by the deadlock would otherwise fail with `EAGAIN` before the
/// stall is declared, and the run could only report a failed large case.
///
/// # Errors
/// One line naming both knobs, with the smallest deadline that works.
pub(super) fn check_timeout(
    k: &Knobs,
    timeout: std::time::Duration,
) -> anyhow::Result<()> {
    let ms = timeout.as_millis() as u64;
    anyhow::ensure!(
        k.fixed || ms >= k.stall_ms,
        "--timeout-ms {ms} is shorter than --stall-ms {}: a send blocked by \
         the deadlock would time out before the stall is declared; hint: \
         --timeout-ms {} or more, or a smaller --stall-ms",
        k.stall_ms,
        k.stall_ms
    );
    Ok(())
}

/// The client role's BYTECOUNT: like `--bytes`, but 0 too, as the
/// book's client takes it (it then sends nothing and half-closes).
pub(super) fn parse_bytecount(s: &str) -> Result<u64, String> {
    Ok(args::parse_byte_count(s, 0, 1 << 40)?.div_ceil(16) * 16)
}

/// `--chunk`: from 1 byte to 16 MiB per sendall().
fn parse_chunk(s: &str) -> Result<usize, String> {
    Ok(args::parse_byte_count(s, 1, 16 << 20)? as usize)
}

/// Says on stderr, before a fix that will take long, roughly how long:
/// small chunks cost one `send()` each (16-byte chunks moved about
/// 5 MiB/s here), and a GiB or more takes seconds even with 64 KiB chunks,
/// so a user never stares at a silent terminal.
pub(super) fn warn_if_slow(k: &Knobs) {
    let calls = k.bytes / k.fix_chunk as u64;
    if k.fix_chunk < 1024 && calls > 10_000_000 {
        let mib = k.bytes >> 20;
        crate::lab::narrate::note_line(format_args!(
            "the fix sends {mib} MiB in {calls} sendall() calls of {} \
             bytes; at about 5 MiB/s that takes minutes (--fix-chunk 64KiB: \
             seconds)",
            k.fix_chunk
        ));
    } else if k.bytes >= 1 << 30 {
        let mib = k.bytes >> 20;
        crate::lab::narrate::note_line(format_args!(
            "the fix sends {mib} MiB: about 360 MiB/s in a release \
             build here (cargo run --release), several times slower in \
             cargo run's debug build"
        ));
    }
}

/// `--plot` and `--diagram`, checked before any work (see [`OutFile`]):
/// each writable, and not both the same file.
///
/// # Errors
/// One line naming the flag and the path, with a hint.
pub(super) fn outputs(
    k: &Knobs,
) -> anyhow::Result<(Option<OutFile>, Option<OutFile>)> {
    let plot = k.plot.as_deref().map(|p| OutFile::check("--plot", p));
    let diagram = k.diagram.as_deref().map(|p| OutFile::check("--diagram", p));
    let (plot, diagram) = (plot.transpose()?, diagram.transpose()?);
    if let (Some(p), Some(d)) = (&plot, &diagram)
        && p.same_as(d)
    {
        anyhow::bail!(
            "--plot and --diagram {}: the same file; hint: give each its own \
             name, such as plot.svg and cycle.svg",
            p.shown()
        );
    }
    Ok((plot, diagram))
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A command line with no knobs leaves the buffers and the RTO to the
    /// OS, as `workbook check 10`'s server needs them, and stalls after the
    /// default window.
    #[test]
    fn no_knobs_leave_the_buffers_and_rto_to_the_os() {
        let k = Knobs::default();
        assert!(k.sndbuf.is_none() && k.rcvbuf.is_none(), "{k:?}");
        assert_eq!(k.rto_min_ms, None);
        assert_eq!(k.stall_window(), std::time::Duration::from_secs(1));
        assert!(k.for_default_run().sndbuf.is_some());
    }
}
