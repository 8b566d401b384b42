//! Drain speed: lines per second on one core, over the Loghub samples' `Content` lines
//! (`../shared/data/loghub-2k`; the bench prints a notice and measures nothing when absent).
//! Two cases: a warm miner (its templates known, the steady state of a running server) and a
//! cold one (every template discovered during the run).

use criterion::{Criterion, Throughput, criterion_group, criterion_main};
use otelcontext_domain::drain::{Drain, DrainConfig};
use std::hint::black_box;
use std::path::Path;

fn content_lines() -> Vec<String> {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../shared/data/loghub-2k");
    let Ok(entries) = std::fs::read_dir(&dir) else { return Vec::new() };
    let mut lines = Vec::new();
    for d in entries.filter_map(Result::ok).map(|e| e.path()).filter(|p| p.is_dir()) {
        let name = d.file_name().unwrap().to_string_lossy().into_owned();
        let Ok(text) = std::fs::read_to_string(d.join(format!("{name}_2k.log_structured_corrected.csv"))) else {
            continue;
        };
        let mut rows = text.lines();
        let header: Vec<&str> = rows.next().unwrap_or_default().split(',').collect();
        let Some(content) = header.iter().position(|h| *h == "Content") else { continue };
        // The columns before Content never hold commas or quotes in these files; Content is the
        // rest of the line up to the last two columns (EventId, EventTemplate).
        for row in rows {
            let after: Vec<&str> = row.splitn(content + 1, ',').collect();
            let Some(rest) = after.get(content) else { continue };
            let mut parts: Vec<&str> = rest.rsplitn(3, ',').collect();
            if parts.len() == 3 {
                let c = parts.pop().unwrap().trim_matches('"').to_owned();
                lines.push(c);
            }
        }
    }
    lines
}

fn drain(c: &mut Criterion) {
    let lines = content_lines();
    if lines.is_empty() {
        eprintln!("drain bench: ../shared/data/loghub-2k is absent; nothing measured");
        return;
    }
    let mut g = c.benchmark_group("drain");
    g.throughput(Throughput::Elements(lines.len() as u64));
    let mut warm = Drain::new(DrainConfig::default());
    for l in &lines {
        warm.add(l);
    }
    g.bench_function("warm miner, Loghub lines", |b| {
        b.iter(|| {
            for l in &lines {
                black_box(warm.add(black_box(l)));
            }
        })
    });
    g.bench_function("cold miner, Loghub lines", |b| {
        b.iter(|| {
            let mut d = Drain::new(DrainConfig::default());
            for l in &lines {
                black_box(d.add(black_box(l)));
            }
        })
    });
    g.finish();
}

criterion_group!(benches, drain);
criterion_main!(benches);
