use super::*;
use proptest::prelude::*;

fn drain() -> Drain {
    Drain::new(DrainConfig::default())
}

/// Whether `tokens` (masked) fit a template: equal or wildcard at every position.
fn fits(template: &[String], line: &str) -> bool {
    let tokens = mask::mask_line(line);
    tokens.len() == template.len() && template.iter().zip(&tokens).all(|(t, l)| t == WILDCARD || t == l)
}

#[test]
fn lines_of_one_shape_share_a_template_and_other_shapes_do_not() {
    let mut d = drain();
    let a = d.add("PacketResponder 1 for block blk_38865049064139660 terminating").unwrap();
    let b = d.add("PacketResponder 0 for block blk_-6952295868487656571 terminating").unwrap();
    assert!(a.created && !b.created);
    assert_eq!(a.id, b.id);
    let c =
        d.add("Receiving block blk_-1608999687919862906 src: /10.250.19.102:54106 dest: /10.250.19.102:50010").unwrap();
    assert_ne!(c.id, a.id);
    assert_eq!(d.get(a.id).unwrap().template(), "PacketResponder <*> for block <*> terminating");
    assert_eq!(d.get(a.id).unwrap().count, 2);
    assert!(d.add("   ").is_none());
}

#[test]
fn templates_generalise_keeping_their_id() {
    let mut d = drain();
    let first = d.add("login of user alice from web").unwrap();
    let second = d.add("login of user bob from web").unwrap();
    assert_eq!(first.id, second.id);
    assert!(second.generalised);
    assert_eq!(d.get(first.id).unwrap().template(), "login of user <*> from web");
    assert_eq!(first.id, template_id(&mask::mask_line("login of user alice from web")), "id of the first form");
}

#[test]
fn the_cap_evicts_the_least_recently_matched_cluster() {
    let mut d = Drain::new(DrainConfig { max_clusters: 3, ..DrainConfig::default() });
    let a = d.add("alpha one").unwrap().id;
    let b = d.add("beta two words here").unwrap().id;
    d.add("gamma three words").unwrap();
    d.add("alpha one").unwrap(); // a is now the most recent
    let e = d.add("delta four more words here too").unwrap().id;
    assert_eq!(d.len(), 3);
    assert_eq!(d.evicted(), 1);
    assert!(d.get(b).is_none(), "b was the least recently matched");
    assert_eq!(d.take_evicted(), vec![b]);
    assert!(d.take_evicted().is_empty());
    assert!(d.get(a).is_some() && d.get(e).is_some());
    // A line of the evicted shape starts a new cluster with the same id again.
    assert_eq!(d.add("beta two words here").unwrap().id, b);
    assert_eq!(d.len(), 3);
}

#[test]
fn a_wildcard_beyond_the_prefix_depth_and_huge_lines_are_fine() {
    let mut d = drain();
    for n in 0..1000 {
        d.add(&format!("event happened at step {n} ok")).unwrap();
    }
    assert_eq!(d.len(), 1);
    assert_eq!(d.clusters()[0].count, 1000);
    let long: String = (0..10_000).map(|i| format!("w{} ", i % 7)).collect();
    assert!(d.add(&long).is_some());
}

#[test]
fn restored_clusters_keep_their_ids_and_counts() {
    let lines = ["job 1 started", "job 2 started", "disk sda full", "disk sdb full", "connection reset by peer"];
    let mut d = drain();
    let ids: Vec<TemplateId> = lines.iter().map(|l| d.add(l).unwrap().id).collect();
    let mut restored = drain();
    for c in d.clusters().into_iter().rev() {
        restored.restore(c.clone());
    }
    assert_eq!(restored.len(), d.len());
    for (line, id) in lines.iter().zip(&ids) {
        assert_eq!(restored.find(line), Some(*id), "{line}");
    }
    let again = restored.add("job 3 started").unwrap();
    assert_eq!(again.id, ids[0]);
    assert_eq!(restored.get(ids[0]).unwrap().count, 3);
}

proptest! {
    #[test]
    fn never_panics_is_deterministic_and_a_line_fits_its_template(
        lines in proptest::collection::vec("[a-c0-9 =:/._-]{0,40}", 1..60),
        max_clusters in 1usize..20,
    ) {
        let config = DrainConfig { max_clusters, ..DrainConfig::default() };
        let (mut a, mut b) = (Drain::new(config), Drain::new(config));
        for line in &lines {
            let m = a.add(line);
            prop_assert_eq!(&m, &b.add(line));
            if let Some(m) = m {
                let c = a.get(m.id).expect("the matched cluster is held");
                prop_assert!(fits(&c.tokens, line), "{:?} does not fit {:?}", line, c.tokens);
            }
            prop_assert!(a.len() <= max_clusters);
        }
    }
}
