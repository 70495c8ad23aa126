//! Shards of a plan: the part of it one CI runner builds (`rbake apply --plan FILE --shard
//! S`). A shard keeps its builds, pushes their platforms by digest only (no index, no tag:
//! `rbake publish` writes those once every shard is done), and runs the loads and exports
//! whose builds are all its own.

use std::collections::{BTreeMap, BTreeSet};

use petgraph::Direction;
use petgraph::graph::NodeIndex;
use petgraph::unionfind::UnionFind;

use super::{Node, Plan};
use crate::model::Platform;

/// Which part of a plan a shard builds.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Shard {
    /// Every build for this platform (native runners per architecture).
    Platform(Platform),
    /// Part `k` (1-based) of `n`: builds linked by `target:` contexts stay together, and
    /// the groups are spread so that each part has about as many builds.
    Part { k: usize, n: usize },
}

impl Shard {
    pub fn parse(s: &str) -> Result<Shard, String> {
        if let Some(p) = s.strip_prefix("platform=") {
            return Platform::parse(p).map(Shard::Platform);
        }
        let bad = || {
            format!(
                "`{s}` is not a shard: write `platform=OS/ARCH[/VARIANT]` or `K/N` (e.g. `2/3`)"
            )
        };
        let (k, n) = s.split_once('/').ok_or_else(bad)?;
        let (k, n): (usize, usize) = (k.parse().map_err(|_| bad())?, n.parse().map_err(|_| bad())?);
        if n == 0 || k == 0 || k > n {
            return Err(format!("`{s}`: K/N needs 1 <= K <= N"));
        }
        Ok(Shard::Part { k, n })
    }
}

impl std::fmt::Display for Shard {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Shard::Platform(p) => write!(f, "platform={p}"),
            Shard::Part { k, n } => write!(f, "{k}/{n}"),
        }
    }
}

impl Plan {
    /// The build nodes `shard` selects. For `K/N` the builds are grouped by the `target:`
    /// links between them, groups are taken largest first (ties in plan order) and each goes
    /// to the part with the fewest builds so far, so every runner of the same plan computes
    /// the same split.
    pub fn shard_builds(&self, shard: &Shard) -> BTreeSet<NodeIndex> {
        let builds: Vec<NodeIndex> = self
            .order()
            .into_iter()
            .filter(|i| matches!(self.graph[*i], Node::Build(_)))
            .collect();
        match shard {
            Shard::Platform(p) => builds
                .into_iter()
                .filter(|i| matches!(&self.graph[*i], Node::Build(b) if &b.platform == p))
                .collect(),
            Shard::Part { k, n } => {
                let mut uf = UnionFind::<usize>::new(self.graph.node_count());
                for e in self.graph.edge_indices() {
                    if let Some((a, b)) = self.graph.edge_endpoints(e)
                        && matches!(self.graph[a], Node::Build(_))
                        && matches!(self.graph[b], Node::Build(_))
                    {
                        uf.union(a.index(), b.index());
                    }
                }
                let mut groups: BTreeMap<usize, Vec<NodeIndex>> = BTreeMap::new();
                let mut first_seen: Vec<usize> = Vec::new();
                for i in &builds {
                    let root = uf.find(i.index());
                    let g = groups.entry(root).or_default();
                    if g.is_empty() {
                        first_seen.push(root);
                    }
                    g.push(*i);
                }
                let mut ordered: Vec<&Vec<NodeIndex>> =
                    first_seen.iter().map(|r| &groups[r]).collect();
                // Stable: equal sizes keep plan order.
                ordered.sort_by_key(|g| std::cmp::Reverse(g.len()));
                let mut load = vec![0usize; *n];
                let mut mine = BTreeSet::new();
                for g in ordered {
                    let part = (0..*n).min_by_key(|p| (load[*p], *p)).unwrap_or(0);
                    load[part] += g.len();
                    if part + 1 == *k {
                        mine.extend(g.iter().copied());
                    }
                }
                mine
            }
        }
    }

    /// The plan a shard runs: the selected builds and what depends only on them. Pushes keep
    /// the platforms built here and push them by digest only; loads and exports stay when
    /// every build they consume is here.
    pub fn shard(&self, shard: &Shard) -> Plan {
        let mine = self.shard_builds(shard);
        let keep: BTreeSet<NodeIndex> = self
            .graph
            .node_indices()
            .filter(|i| match &self.graph[*i] {
                Node::Build(_) => mine.contains(i),
                Node::Push(_) => self.inputs_of(*i).iter().any(|b| mine.contains(b)),
                Node::Load(_) | Node::Export(_) => {
                    let inputs = self.inputs_of(*i);
                    !inputs.is_empty() && inputs.iter().all(|b| mine.contains(b))
                }
            })
            .collect();
        let graph = self.graph.filter_map(
            |i, n| {
                if !keep.contains(&i) {
                    return None;
                }
                let mut n = n.clone();
                if let Node::Push(p) = &mut n {
                    let here: Vec<&Platform> = self
                        .inputs_of(i)
                        .iter()
                        .filter(|b| mine.contains(b))
                        .filter_map(|b| match &self.graph[*b] {
                            Node::Build(b) => Some(&b.platform),
                            _ => None,
                        })
                        .collect();
                    p.platforms.retain(|pl| here.contains(&pl));
                    p.by_digest = true;
                }
                Some(n)
            },
            |_, &()| Some(()),
        );
        Plan {
            graph,
            builders: self.builders.clone(),
            request: self.request.clone(),
            grants: self.grants.clone(),
        }
    }

    fn inputs_of(&self, i: NodeIndex) -> Vec<NodeIndex> {
        self.graph
            .neighbors_directed(i, Direction::Incoming)
            .filter(|d| matches!(self.graph[*d], Node::Build(_)))
            .collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn selectors() {
        assert_eq!(
            Shard::parse("platform=linux/arm64").unwrap(),
            Shard::Platform(Platform::parse("linux/arm64").unwrap())
        );
        assert_eq!(Shard::parse("2/3").unwrap(), Shard::Part { k: 2, n: 3 });
        for bad in ["0/3", "4/3", "1/0", "x", "1/", "platform=linux/"] {
            assert!(Shard::parse(bad).is_err(), "{bad}");
        }
        assert_eq!(Shard::parse("2/3").unwrap().to_string(), "2/3");
    }
}
