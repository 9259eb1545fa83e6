use std::collections::HashMap;

use super::*;

fn replicas(n: usize) -> Vec<String> {
    (0..n).map(|i| format!("hub-{i:012x}")).collect()
}

#[test]
fn every_replica_computes_the_same_owner_whatever_the_order() {
    let live = replicas(3);
    let mut shuffled = live.clone();
    shuffled.reverse();
    for _ in 0..200 {
        let cluster = ClusterId::new();
        assert_eq!(owner(cluster, &live), owner(cluster, &shuffled));
    }
    assert_eq!(owner(ClusterId::new(), &[]), None);
}

#[test]
fn clusters_spread_over_the_replicas() {
    let live = replicas(3);
    let mut counts: HashMap<&str, usize> = HashMap::new();
    for _ in 0..3000 {
        *counts
            .entry(owner(ClusterId::new(), &live).unwrap())
            .or_default() += 1;
    }
    assert_eq!(counts.len(), 3);
    assert!(
        counts.values().all(|&n| (800..=1200).contains(&n)),
        "{counts:?}"
    );
}

#[test]
fn a_replica_leaving_moves_only_its_own_clusters() {
    let live = replicas(3);
    let left: Vec<String> = live[..2].to_vec();
    let mut moved = 0;
    for _ in 0..1000 {
        let cluster = ClusterId::new();
        let before = owner(cluster, &live).unwrap();
        let after = owner(cluster, &left).unwrap();
        if before == live[2] {
            moved += 1;
        } else {
            assert_eq!(before, after, "a survivor's cluster stays where it is");
        }
    }
    assert!(moved > 0);
}
