//! The chapters' sequence diagrams. Each chapter shows its run's segments,
//! `chapters/images/NN-name-wire.svg`, drawn by `lab::sequence` from a real
//! run's capture (`--pcap`, read back with `lab::capture::read_pcap`); what
//! was drawn is kept beside it, `NN-name-wire.json` (the run's command, its
//! clients, the segments drawn), so that this test can
//! draw the figure again and see that it is current, as
//! `chapters/images/deadlock-sweep.csv` is kept beside its plot.
//!
//! `SNAPSHOTS=overwrite cargo test --test workbook -- book` draws again,
//! from a new run, every diagram that is not current; the others keep
//! their run.

use std::fs;
use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};
use tcp_workbook::lab::capture::{Flags, Segment, read_pcap};
use tcp_workbook::lab::netns::HOST_B;
use tcp_workbook::lab::run::Entry;
use tcp_workbook::lab::sequence::{Ends, sequence_svg};
use tcp_workbook::workbook::registry::EXPERIMENTS;

use crate::book::{ELIDED, is_bare_ack, is_trace_line, pattern, root};

/// What a chapter's diagram draws.
struct Picture {
    /// The experiment.
    name: &'static str,
    /// Its knobs for the run drawn (after `--`, before `--pcap FILE`).
    args: &'static [&'static str],
    /// The two timelines: the clients' (left) and the servers' (right).
    ends: (&'static str, &'static str),
    /// Which of the run's segments to draw, from the first drawn on.
    pick: fn(&[Segment]) -> Vec<Segment>,
    /// The most arrows drawn; the segments picked past them are counted.
    most: usize,
}

const CLIENT_SERVER: (&str, &str) = ("client", "server");

/// One picture per experiment, in the registry's order.
const PICTURES: &[Picture] = &[
    Picture {
        name: "sixteen",
        args: &[],
        ends: CLIENT_SERVER,
        pick: all,
        most: 40,
    },
    Picture {
        name: "partial-recv",
        args: &[],
        ends: CLIENT_SERVER,
        pick: all,
        most: 20,
    },
    Picture {
        name: "partial-send",
        args: &[],
        ends: CLIENT_SERVER,
        pick: all,
        most: 20,
    },
    Picture {
        name: "listening-socket",
        args: &[],
        ends: ("clients", "server"),
        pick: all,
        most: 40,
    },
    Picture {
        name: "bind-port",
        args: &[],
        ends: ("clients", "listeners"),
        pick: all,
        most: 40,
    },
    Picture {
        name: "reuseaddr",
        args: &[],
        ends: ("clients", "servers"),
        pick: all,
        most: 40,
    },
    Picture {
        name: "bind-interface",
        args: &[],
        ends: ("host B", "host A"),
        pick: between_the_hosts,
        most: 40,
    },
    Picture {
        name: "refused",
        args: &[],
        ends: ("client", "the closed port"),
        pick: all,
        most: 40,
    },
    Picture {
        name: "backlog",
        args: &[],
        ends: ("clients", "server"),
        pick: all,
        most: 40,
    },
    Picture {
        name: "deadlock",
        args: &[],
        ends: CLIENT_SERVER,
        pick: the_stall,
        most: 40,
    },
];

/// Every segment of the run.
fn all(run: &[Segment]) -> Vec<Segment> {
    run.to_vec()
}

/// The segments between the two hosts of `bind-interface`'s second part
/// (host B's), not those on either host's loopback.
fn between_the_hosts(run: &[Segment]) -> Vec<Segment> {
    run.iter()
        .filter(|s| s.has_ip(HOST_B.into()))
        .cloned()
        .collect()
}

/// The stalled connection of the deadlock, from a dozen segments before
/// the first that advertises a zero window to its end: the windows closing,
/// both sides at 0, the probes, the reset when the run gives up on it.
fn the_stall(run: &[Segment]) -> Vec<Segment> {
    let plain =
        |s: &Segment| !s.flags.has(Flags::SYN) && !s.flags.has(Flags::RST);
    let Some(zero) = run.iter().find(|s| s.window == 0 && plain(s)) else {
        return vec![];
    };
    let stalled: Vec<Segment> = run
        .iter()
        .filter(|s| s.between(zero.src, zero.dst))
        .cloned()
        .collect();
    let at = stalled.iter().position(|s| s == zero).unwrap_or(0);
    stalled[at.saturating_sub(12)..].to_vec()
}

/// What a diagram drew, kept beside it as JSON.
#[derive(Debug, Serialize, Deserialize)]
struct Drawn {
    /// The run: `cargo run --bin NAME -- ARGS --pcap NAME.pcap`.
    command: String,
    /// The timelines' names, left and right.
    left: String,
    right: String,
    /// How many segments the run put on the wire.
    segments_in_run: usize,
    /// Whether the first segment drawn is the run's first.
    starts_the_run: bool,
    /// The run's clients.
    ends: Ends,
    /// The segments drawn, as the capture numbered them.
    drawn: Vec<Segment>,
    /// Segments picked but not drawn, counted in the figure's last line.
    more: usize,
}

impl Picture {
    fn command(&self) -> String {
        let mut words = vec![format!("cargo run --bin {} --", self.name)];
        words.extend(self.args.iter().map(|a| a.to_string()));
        words.push(format!("--pcap {}.pcap", self.name));
        words.join(" ")
    }
}

/// `chapters/images/NN-name-wire` with `ext`.
fn file(e: &Entry, ext: &str) -> PathBuf {
    root().join(format!("chapters/images/{}-{}-wire.{ext}", e.id(), e.name))
}

/// The SVG of `drawn`, with a description that says where it comes from
/// (a `<desc>`: an XML comment may not hold the `--` of a command line).
fn render(drawn: &Drawn, e: &Entry) -> String {
    let arrows = drawn.ends.arrows(&drawn.drawn);
    let svg =
        sequence_svg(&drawn.left, &drawn.right, &arrows, drawn.more).unwrap();
    let (head, body) = svg.split_once('\n').unwrap();
    format!(
        "{head}\n<desc>Drawn by tests/workbook/book_wire.rs from a run of `{}` \
         (its segments: {}-{}-wire.json); do not edit, draw it again with \
         SNAPSHOTS=overwrite cargo test --test workbook -- book</desc>\n{body}",
        drawn.command,
        e.id(),
        e.name
    )
}

/// Runs the picture's experiment with a capture, and draws it.
fn draw_from_a_run(p: &Picture, e: &Entry) {
    let dir = std::env::temp_dir().join(format!(
        "tcp-workbook-diagram-{}-{}",
        p.name,
        std::process::id()
    ));
    fs::create_dir_all(&dir).unwrap();
    let pcap = dir.join(format!("{}.pcap", p.name));
    let out = crate::cmd(p.name)
        .args(p.args)
        .arg("--pcap")
        .arg(&pcap)
        .output()
        .unwrap();
    let run = read_pcap(&pcap);
    fs::remove_dir_all(&dir).unwrap();
    assert_eq!(out.status.code(), Some(0), "{}: {out:?}", p.command());
    let private =
        String::from_utf8_lossy(&out.stdout).starts_with("network: private");
    assert!(
        private,
        "{}: drawn only from a run in a network of its own (on the host's \
         loopback the capture holds every other program's segments): {out:?}",
        p.command()
    );
    let run = run.unwrap_or_else(|e| {
        panic!(
            "{}: no capture to draw ({e:#}); draw where a run can capture \
             (network namespaces, or root)",
            p.command()
        )
    });
    let picked = (p.pick)(&run);
    let drawn: Vec<Segment> = picked.iter().take(p.most).cloned().collect();
    let drawn = Drawn {
        command: p.command(),
        left: p.ends.0.into(),
        right: p.ends.1.into(),
        segments_in_run: run.len(),
        starts_the_run: drawn.first() == run.first(),
        ends: Ends::of(&run),
        more: picked.len() - drawn.len(),
        drawn,
    };
    let json = serde_json::to_string_pretty(&drawn).unwrap() + "\n";
    fs::write(file(e, "json"), json).unwrap();
    fs::write(file(e, "svg"), render(&drawn, e)).unwrap();
}

/// The `--trace` lines the chapter's trace transcript shows, without its
/// bare ACKs (their timing is the kernel's: `book::without_bare_acks`).
fn transcript_segments(e: &Entry) -> Vec<String> {
    let path = root().join(format!(
        "chapters/transcripts/{}-{}-trace.console",
        e.id(),
        e.name
    ));
    let text = fs::read_to_string(path).unwrap_or_default();
    text.lines()
        .skip_while(|l| !l.starts_with("trace: "))
        .skip(1)
        .take_while(|l| *l != ELIDED)
        .filter(|l| is_trace_line(l) && !is_bare_ack(l))
        .map(str::to_owned)
        .collect()
}

/// Why the picture of `e` is not current (nothing if it is): its JSON is
/// missing or from another command, its SVG is not what `lab::sequence`
/// draws of that JSON now, or a diagram that starts at the run's first
/// segment does not show what the trace transcript shows (masked as the
/// transcript test masks it).
fn stale(p: &Picture, e: &Entry) -> Vec<String> {
    let (json, svg) = (file(e, "json"), file(e, "svg"));
    let shown =
        |f: &Path| f.strip_prefix(root()).unwrap().display().to_string();
    let Some(drawn) = fs::read_to_string(&json)
        .ok()
        .and_then(|t| serde_json::from_str::<Drawn>(&t).ok())
    else {
        return vec![format!(
            "{}: missing, or not a drawing's record",
            shown(&json)
        )];
    };
    let mut problems = vec![];
    if drawn.command != p.command()
        || (drawn.left.as_str(), drawn.right.as_str()) != p.ends
    {
        problems.push(format!(
            "{}: drawn from `{}` between {} and {}; the picture asks for \
             `{}` between {} and {}",
            shown(&json),
            drawn.command,
            drawn.left,
            drawn.right,
            p.command(),
            p.ends.0,
            p.ends.1
        ));
    }
    if fs::read_to_string(&svg).ok() != Some(render(&drawn, e)) {
        problems.push(format!(
            "{}: not what lab::sequence draws of {} now",
            shown(&svg),
            shown(&json)
        ));
    }
    if drawn.starts_the_run {
        let t0 = drawn.drawn.first().map_or(0, |s| s.at_us);
        let lines = drawn.drawn.iter().map(|s| s.trace_line(t0));
        let lines: Vec<String> = lines.filter(|l| !is_bare_ack(l)).collect();
        for (committed, drawn) in transcript_segments(e).iter().zip(&lines) {
            if !pattern(committed).is_match(drawn) {
                problems.push(format!(
                    "{}: draws\n    {drawn}\n  where the trace transcript shows\n    {committed}",
                    shown(&json)
                ));
                break;
            }
        }
    }
    problems
}

/// Every chapter shows its sequence diagram, drawn from a real run of its
/// experiment, and the diagram is current: what `lab::sequence` draws now
/// of the segments kept beside it, from the run the picture asks for, and
/// (where it starts at the run's first segment) the segments the chapter's
/// trace transcript shows. No diagram is there that no picture names.
#[test]
fn every_chapter_shows_a_current_diagram_of_its_run() {
    let overwrite = std::env::var("SNAPSHOTS").is_ok_and(|v| v == "overwrite");
    let names: Vec<&str> = PICTURES.iter().map(|p| p.name).collect();
    let registry: Vec<&str> = EXPERIMENTS.iter().map(|e| e.name).collect();
    assert_eq!(names, registry, "one picture per experiment, in order");
    let mut problems = vec![];
    for (p, e) in PICTURES.iter().zip(EXPERIMENTS) {
        let mut why = stale(p, e);
        if overwrite && !why.is_empty() {
            draw_from_a_run(p, e);
            why = stale(p, e);
        }
        problems.extend(why);
        let chapter =
            fs::read_to_string(root().join("chapters").join(e.chapter_file()))
                .unwrap();
        let image = format!("](images/{}-{}-wire.svg)", e.id(), e.name);
        if !chapter.contains(&image) {
            problems.push(format!(
                "chapters/{} does not show its diagram ![...]{}",
                e.chapter_file(),
                &image[1..]
            ));
        }
    }
    let named: Vec<PathBuf> = EXPERIMENTS
        .iter()
        .flat_map(|e| [file(e, "svg"), file(e, "json")])
        .collect();
    for entry in fs::read_dir(root().join("chapters/images")).unwrap() {
        let path = entry.unwrap().path();
        let name = path.file_name().unwrap().to_string_lossy();
        let ours = name.ends_with("-wire.svg") || name.ends_with("-wire.json");
        if ours && !named.contains(&path) {
            problems
                .push(format!("chapters/images/{name}: no picture draws it"));
        }
    }
    assert!(
        problems.is_empty(),
        "sequence diagrams not current; draw them again with \
         `SNAPSHOTS=overwrite cargo test --test workbook -- book`:\n{}",
        problems.join("\n")
    );
}

/// Every chapter shows its trace transcript, `NN-name-trace.console`, whose
/// command is the experiment's `--trace` run, in a `text,trace` block (the
/// page keeps a trace's columns: theme/workbook.css); says how to write
/// the run's pcap file and read it with tcpdump; and has an exercise on
/// its trace or its diagram.
#[test]
fn every_chapter_shows_its_trace_and_how_to_capture_its_run() {
    let mut problems = vec![];
    for e in EXPERIMENTS {
        let file = e.chapter_file();
        let chapter =
            fs::read_to_string(root().join("chapters").join(&file)).unwrap();
        let trace = format!("{}-{}-trace.console", e.id(), e.name);
        let block =
            format!("```text,trace\n{{{{#include transcripts/{trace}}}}}\n```");
        if !chapter.contains(&block) {
            problems.push(format!("chapters/{file}: no block\n{block}"));
        }
        let text = fs::read_to_string(
            root().join("chapters/transcripts").join(&trace),
        );
        let command = format!("$ cargo run --bin {} -- --trace", e.name);
        if !text.is_ok_and(|t| t.starts_with(&command)) {
            problems
                .push(format!("chapters/transcripts/{trace}: not `{command}`"));
        }
        for needed in
            [format!("--bin {} -- --pcap", e.name), "tcpdump -nr".into()]
        {
            if !chapter.replace('\n', " ").contains(&needed) {
                problems
                    .push(format!("chapters/{file}: never says `{needed}`"));
            }
        }
        let exercises =
            chapter.split("\n## Exercises").nth(1).unwrap_or_default();
        if !["the trace above", "the diagram above"]
            .iter()
            .any(|s| exercises.to_lowercase().contains(s))
        {
            problems.push(format!(
                "chapters/{file}: no exercise on the trace or the diagram above"
            ));
        }
    }
    assert!(problems.is_empty(), "{}", problems.join("\n"));
}

/// A run's pcap file reads back as the very segments its `--trace`
/// printed, numbered alike and timed alike to the µs, on loopback and on
/// the link between two hosts (`bind-interface` captures both).
#[test]
fn a_pcap_file_reads_back_as_the_runs_own_trace() {
    let dir = std::env::temp_dir()
        .join(format!("tcp-workbook-readback-{}", std::process::id()));
    fs::create_dir_all(&dir).unwrap();
    let pcap = dir.join("bind-interface.pcap");
    let out = crate::cmd("bind-interface")
        .args(["--trace", "--pcap"])
        .arg(&pcap)
        .output()
        .unwrap();
    let read = read_pcap(&pcap);
    fs::remove_dir_all(&dir).unwrap();
    assert_eq!(out.status.code(), Some(0), "{out:?}");
    let text = String::from_utf8_lossy(&out.stdout);
    if text.contains("wire: not captured") {
        eprintln!("no capture here: nothing to read back");
        return;
    }
    // The file's times are whole µs (pcap's resolution), the run's were
    // ns when it subtracted its first: the two may differ by 1 µs.
    let split = |l: &str| {
        let (t, rest) = l.split_once(' ').unwrap();
        (
            (t.parse::<f64>().unwrap() * 1e6).round() as i64,
            rest.to_owned(),
        )
    };
    let printed: Vec<(i64, String)> = text
        .lines()
        .filter(|l| is_trace_line(l))
        .map(split)
        .collect();
    let read = read.unwrap();
    let t0 = read.first().map_or(0, |s| s.at_us);
    let lines: Vec<(i64, String)> =
        read.iter().map(|s| split(&s.trace_line(t0))).collect();
    let segments =
        |v: &[(i64, String)]| v.iter().map(|l| l.1.clone()).collect::<Vec<_>>();
    assert_eq!(segments(&lines), segments(&printed));
    for (a, b) in lines.iter().zip(&printed) {
        assert!((a.0 - b.0).abs() <= 1, "{a:?} at {b:?}");
    }
    assert!(lines.iter().any(|l| l.1.contains("127.0.0.1.")), "{text}");
}
