//! Grouping accuracy (GA) of Drain on Loghub samples with ground truth.
//!
//! `cargo run --release -p otelcontext-domain --example drain_eval -- ../shared/data/loghub-2k`
//!
//! For every dataset folder with an `*_structured_corrected.csv` (columns `Content` and
//! `EventId`), the `Content` lines are fed to one Drain with the default configuration; a line is
//! correct when the set of lines in its cluster is exactly the set with its `EventId`. Prints GA
//! per dataset and the mean; exits 0 without output but a notice when the folder is absent.

use otelcontext_domain::codec::csv;
use otelcontext_domain::drain::{Drain, DrainConfig};
use std::collections::HashMap;
use std::path::Path;

/// (content, event id) of every line of a structured CSV.
fn read(path: &Path) -> std::io::Result<Vec<(String, String)>> {
    let text = std::fs::read_to_string(path)?;
    let mut lines = text.lines();
    let header = csv::fields(lines.next().unwrap_or_default());
    let col = |name: &str| header.iter().position(|h| h == name).expect("column present");
    let (content, event) = (col("Content"), col("EventId"));
    Ok(lines
        .filter(|l| !l.is_empty())
        .map(|l| {
            let f = csv::fields(l);
            (f[content].clone(), f[event].clone())
        })
        .collect())
}

/// GA of a clustering against the truth.
fn grouping_accuracy(predicted: &[u64], truth: &[String]) -> f64 {
    let mut by_cluster: HashMap<u64, Vec<usize>> = HashMap::new();
    let mut truth_size: HashMap<&str, usize> = HashMap::new();
    for (i, (p, t)) in predicted.iter().zip(truth).enumerate() {
        by_cluster.entry(*p).or_default().push(i);
        *truth_size.entry(t.as_str()).or_default() += 1;
    }
    let correct: usize = by_cluster
        .values()
        .filter(|lines| {
            let t = truth[lines[0]].as_str();
            lines.iter().all(|i| truth[*i] == t) && truth_size[t] == lines.len()
        })
        .map(Vec::len)
        .sum();
    correct as f64 / truth.len().max(1) as f64
}

/// Prints each cluster whose lines are not exactly one ground-truth group.
fn report_mismatches(drain: &Drain, predicted: &[u64], truth: &[String]) {
    let mut by_cluster: HashMap<u64, Vec<usize>> = HashMap::new();
    for (i, p) in predicted.iter().enumerate() {
        by_cluster.entry(*p).or_default().push(i);
    }
    let mut truth_size: HashMap<&str, usize> = HashMap::new();
    for t in truth {
        *truth_size.entry(t.as_str()).or_default() += 1;
    }
    for (id, lines) in &by_cluster {
        let mut groups: HashMap<&str, usize> = HashMap::new();
        for i in lines {
            *groups.entry(truth[*i].as_str()).or_default() += 1;
        }
        let exact = groups.len() == 1 && truth_size[truth[lines[0]].as_str()] == lines.len();
        if !exact {
            let template = drain.get(otelcontext_domain::TemplateId(*id)).map(|c| c.template()).unwrap_or_default();
            println!(
                "  cluster {template:?} ({} lines): truth {groups:?} of sizes {:?}",
                lines.len(),
                groups.keys().map(|g| truth_size[g]).collect::<Vec<_>>()
            );
        }
    }
}

fn main() {
    let dir = std::env::args().nth(1).unwrap_or_else(|| "../shared/data/loghub-2k".into());
    let dir = Path::new(&dir);
    if !dir.is_dir() {
        println!("drain_eval: {} is absent; nothing to evaluate", dir.display());
        return;
    }
    let mut datasets: Vec<_> = std::fs::read_dir(dir).unwrap().filter_map(|e| e.ok()).map(|e| e.path()).collect();
    datasets.sort();
    let mut scores = Vec::new();
    for d in datasets.iter().filter(|p| p.is_dir()) {
        let name = d.file_name().unwrap().to_string_lossy().into_owned();
        let Some(csv) = std::fs::read_dir(d)
            .unwrap()
            .filter_map(|e| e.ok())
            .map(|e| e.path())
            .find(|p| p.to_string_lossy().ends_with("_structured_corrected.csv"))
        else {
            continue;
        };
        let rows = read(&csv).expect("readable CSV");
        let mut config = DrainConfig::default();
        if let Some(s) = std::env::var("DRAIN_SIMILARITY").ok().and_then(|s| s.parse().ok()) {
            config.similarity = s;
        }
        let mut drain = Drain::new(config);
        // Assign every line first, then read each line's final cluster (templates generalise).
        let ids: Vec<u64> = rows.iter().map(|(c, _)| drain.add(c).map_or(0, |m| m.id.0)).collect();
        let truth: Vec<String> = rows.iter().map(|(_, t)| t.clone()).collect();
        let ga = grouping_accuracy(&ids, &truth);
        if std::env::var_os("DRAIN_EVAL_VERBOSE").is_some() {
            report_mismatches(&drain, &ids, &truth);
        }
        println!("{name:<12} GA {ga:.3}  ({} lines, {} templates, truth {})", rows.len(), drain.len(), {
            let mut t = truth.clone();
            t.sort();
            t.dedup();
            t.len()
        });
        scores.push(ga);
    }
    if scores.is_empty() {
        println!("drain_eval: no dataset with a *_structured_corrected.csv under {}", dir.display());
        return;
    }
    println!("mean         GA {:.3}  over {} datasets", scores.iter().sum::<f64>() / scores.len() as f64, scores.len());
}
