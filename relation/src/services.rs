//! What a connection carries, besides its two ends: protocol, destination
//! port and, where a layer sees L7, the HTTP request. All three are packed
//! into one ordered key so that a set of them is a list of intervals:
//! `protocol << 48 | port << 32 | request`. Request 0 is the connection
//! itself (the question an L3/L4 layer answers); requests 1..=n are the
//! universe's request classes, and the keys above n stand for every other
//! request. A rule without HTTP conditions covers the whole request range of
//! its ports, so "tcp/8080" is one interval and "tcp/1-65535" another.
//!
//! Port 0 is not a destination anyone connects to: the domain is ports
//! 1..=65535 of TCP, UDP and SCTP, three intervals that never merge.

use palisade_intents::syntax::Protocol;
use std::fmt;

/// One point of the domain
pub type Key = u64;

const PROTOCOLS: [Protocol; 3] = [Protocol::Tcp, Protocol::Udp, Protocol::Sctp];

fn protocol_index(protocol: Protocol) -> u64 {
    match protocol {
        Protocol::Tcp => 0,
        Protocol::Udp => 1,
        Protocol::Sctp => 2,
    }
}

/// The key of one protocol, port and request
pub fn key(protocol: Protocol, port: u16, request: u32) -> Key {
    (protocol_index(protocol) << 48) | (u64::from(port) << 32) | u64::from(request)
}

/// The protocol, port and request of a key
pub fn parts(key: Key) -> (Protocol, u16, u32) {
    let index = usize::try_from(key >> 48).unwrap_or(0).min(2);
    let protocol = PROTOCOLS.get(index).copied().unwrap_or(Protocol::Tcp);
    let port = u16::try_from((key >> 32) & 0xFFFF).unwrap_or(0);
    let request = u32::try_from(key & 0xFFFF_FFFF).unwrap_or(0);
    (protocol, port, request)
}

/// A set of keys: sorted, disjoint, non-adjacent inclusive intervals
#[derive(Debug, Clone, Default, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Services(Vec<(Key, Key)>);

impl Services {
    /// Nothing
    pub fn none() -> Self {
        Self(Vec::new())
    }

    /// Every port of every protocol, every request
    pub fn all() -> Self {
        Self(
            PROTOCOLS
                .iter()
                .map(|&p| (key(p, 1, 0), key(p, u16::MAX, u32::MAX)))
                .collect(),
        )
    }

    /// Every port of one protocol
    pub fn protocol(protocol: Protocol) -> Self {
        Self::ports(protocol, 1, u16::MAX)
    }

    /// The ports `first..=last` of `protocol`, every request on them
    pub fn ports(protocol: Protocol, first: u16, last: u16) -> Self {
        let first = first.max(1);
        if first > last {
            return Self::none();
        }
        Self(vec![(key(protocol, first, 0), key(protocol, last, u32::MAX))])
    }

    /// The ports `first..=last` of `protocol` for the connection itself and
    /// the listed request classes only (1-based, as the universe numbers them)
    pub fn requests(protocol: Protocol, first: u16, last: u16, requests: &[u32]) -> Self {
        let mut requests: Vec<u32> = requests.iter().copied().filter(|&r| r > 0).collect();
        requests.sort_unstable();
        requests.dedup();
        let mut out = Vec::new();
        for port in first.max(1)..=last {
            out.push((key(protocol, port, 0), key(protocol, port, 0)));
            out.extend(
                requests
                    .iter()
                    .map(|&r| (key(protocol, port, r), key(protocol, port, r))),
            );
            if port == u16::MAX {
                break;
            }
        }
        Self::from_intervals(out)
    }

    /// The set of these intervals, in any order, overlapping or not
    pub fn from_intervals(mut intervals: Vec<(Key, Key)>) -> Self {
        intervals.retain(|(lo, hi)| lo <= hi);
        intervals.sort_unstable();
        let mut out: Vec<(Key, Key)> = Vec::with_capacity(intervals.len());
        for (lo, hi) in intervals {
            match out.last_mut() {
                Some(last) if lo <= last.1.saturating_add(1) => last.1 = last.1.max(hi),
                _ => out.push((lo, hi)),
            }
        }
        Self(out)
    }

    /// The intervals, sorted
    pub fn intervals(&self) -> &[(Key, Key)] {
        &self.0
    }

    /// Whether nothing is in it
    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }

    /// Whether `key` is in it
    pub fn contains(&self, key: Key) -> bool {
        let at = self.0.partition_point(|&(_, hi)| hi < key);
        self.0.get(at).is_some_and(|&(lo, _)| lo <= key)
    }

    /// Everything in either
    pub fn union(&self, other: &Services) -> Services {
        Self::from_intervals(self.0.iter().chain(&other.0).copied().collect())
    }

    /// Everything in both
    pub fn intersection(&self, other: &Services) -> Services {
        let mut out = Vec::new();
        let (mut i, mut j) = (0, 0);
        while let (Some(&(a_lo, a_hi)), Some(&(b_lo, b_hi))) = (self.0.get(i), other.0.get(j)) {
            let (lo, hi) = (a_lo.max(b_lo), a_hi.min(b_hi));
            if lo <= hi {
                out.push((lo, hi));
            }
            if a_hi < b_hi {
                i += 1;
            } else {
                j += 1;
            }
        }
        Self(out)
    }

    /// Everything in `self` and not in `other`
    pub fn difference(&self, other: &Services) -> Services {
        let mut out = Vec::new();
        let mut j = 0;
        for &(lo, hi) in &self.0 {
            let mut start = Some(lo);
            while let (Some(from), Some(&(b_lo, b_hi))) = (start, other.0.get(j)) {
                if b_hi < from {
                    j += 1;
                    continue;
                }
                if b_lo > hi {
                    break;
                }
                if b_lo > from {
                    out.push((from, b_lo - 1));
                }
                if b_hi >= hi {
                    // it may cover the next interval too: keep it
                    start = None;
                } else {
                    start = Some(b_hi + 1);
                    j += 1;
                }
            }
            if let Some(from) = start {
                out.push((from, hi));
            }
        }
        Self(out)
    }

    /// Only the connections themselves (request 0), as port intervals per protocol
    pub fn connection_ports(&self) -> Vec<(Protocol, u16, u16)> {
        let mut out: Vec<(Protocol, u16, u16)> = Vec::new();
        for &(lo, hi) in &self.0 {
            let (p, first, r_lo) = parts(lo);
            let (_, last, _) = parts(hi);
            // the connection itself of the first port is in only if the interval starts at request 0
            let first = if r_lo == 0 { first } else { first.saturating_add(1) };
            if first > last {
                continue;
            }
            match out.last_mut() {
                Some(prev) if prev.0 == p && u32::from(prev.2) + 1 >= u32::from(first) => prev.2 = prev.2.max(last),
                _ => out.push((p, first, last)),
            }
        }
        out
    }
}

impl fmt::Display for Services {
    /// `tcp/5000-5431, 5433-6000, udp/53`, and the request keys where an
    /// interval covers only some requests of a port
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if *self == Services::all() {
            return f.write_str("all ports");
        }
        let mut first = true;
        let mut last_protocol = None;
        for &(lo, hi) in &self.0 {
            let (p, lo_port, lo_req) = parts(lo);
            let (_, hi_port, hi_req) = parts(hi);
            if !first {
                f.write_str(", ")?;
            }
            first = false;
            if last_protocol != Some(p) {
                write!(f, "{}/", p.as_str())?;
                last_protocol = Some(p);
            }
            if lo_req == 0 && hi_req == u32::MAX {
                if lo_port == hi_port {
                    write!(f, "{lo_port}")?;
                } else {
                    write!(f, "{lo_port}-{hi_port}")?;
                }
            } else if lo_port == hi_port && lo_req == hi_req {
                match lo_req {
                    0 => write!(f, "{lo_port} (connection)")?,
                    r => write!(f, "{lo_port} request #{r}")?,
                }
            } else {
                write!(f, "{lo_port} request #{lo_req}-{hi_port} request #{hi_req}")?;
            }
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn points(s: &Services) -> Vec<Key> {
        s.0.iter().flat_map(|&(lo, hi)| lo..=hi).collect()
    }

    fn small() -> impl Strategy<Value = Services> {
        proptest::collection::vec((0u64..40, 0u64..6), 0..6)
            .prop_map(|v| Services::from_intervals(v.into_iter().map(|(lo, len)| (lo, lo + len)).collect()))
    }

    proptest! {
        /// The interval operations agree with the same operations on points
        #[test]
        fn operations_agree_with_points(a in small(), b in small()) {
            let (pa, pb) = (points(&a), points(&b));
            let union: std::collections::BTreeSet<Key> = pa.iter().chain(&pb).copied().collect();
            prop_assert_eq!(points(&a.union(&b)), union.into_iter().collect::<Vec<_>>());
            let both: Vec<Key> = pa.iter().copied().filter(|k| pb.contains(k)).collect();
            prop_assert_eq!(points(&a.intersection(&b)), both);
            let only: Vec<Key> = pa.iter().copied().filter(|k| !pb.contains(k)).collect();
            prop_assert_eq!(points(&a.difference(&b)), only);
            for k in 0..50 {
                prop_assert_eq!(a.contains(k), pa.contains(&k));
            }
        }
    }

    #[test]
    fn ports_print_as_ranges() {
        let wide = Services::ports(Protocol::Tcp, 5000, 6000);
        let hole = wide.difference(&Services::ports(Protocol::Tcp, 5432, 5432));
        assert_eq!(hole.to_string(), "tcp/5000-5431, 5433-6000");
        assert_eq!(Services::all().to_string(), "all ports");
        assert_eq!(Services::ports(Protocol::Udp, 0, 0), Services::none());
        assert_eq!(
            hole.connection_ports(),
            vec![(Protocol::Tcp, 5000, 5431), (Protocol::Tcp, 5433, 6000)]
        );
    }
}
