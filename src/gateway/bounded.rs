//! A map that forgets its oldest entries: what we remember per message for a later report
//! (MSRP REPORTs, IMDNs) must not grow without bound, and the oldest is the least likely to
//! be asked about.

use std::collections::{HashMap, VecDeque};

/// String keys in insertion order, at most `cap` of them.
#[derive(Debug)]
pub struct Recent<V> {
    map: HashMap<String, V>,
    order: VecDeque<String>,
    cap: usize,
}

impl<V> Recent<V> {
    /// An empty map holding at most `cap` entries.
    pub fn new(cap: usize) -> Self {
        Recent {
            map: HashMap::new(),
            order: VecDeque::new(),
            cap,
        }
    }

    /// Adds an entry, forgetting the oldest when full.
    pub fn insert(&mut self, key: String, value: V) {
        while self.order.len() >= self.cap.max(1) {
            match self.order.pop_front() {
                Some(old) => {
                    self.map.remove(&old);
                }
                None => break,
            }
        }
        self.order.push_back(key.clone());
        self.map.insert(key, value);
    }

    /// An entry.
    pub fn get(&self, key: &str) -> Option<&V> {
        self.map.get(key)
    }

    /// Takes an entry out (its place in the order is reclaimed lazily).
    pub fn remove(&mut self, key: &str) -> Option<V> {
        self.map.remove(key)
    }
}

#[cfg(test)]
mod tests {
    #[test]
    fn the_oldest_goes_first() {
        let mut r = super::Recent::new(2);
        r.insert("a".into(), 1);
        r.insert("b".into(), 2);
        r.insert("c".into(), 3);
        assert_eq!(
            (r.get("a"), r.get("b"), r.get("c")),
            (None, Some(&2), Some(&3))
        );
        assert_eq!(r.remove("b"), Some(2));
    }
}
