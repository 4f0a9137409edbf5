//! Dynamic host ports, chosen by the agent (not by Docker) as the reference does.
//!
//! The scan starts just after the last port handed out (engine-wide, in memory) and
//! wraps to the start of the range; a port is free when a TCP listener (or a UDP
//! socket) can be bound to it on all addresses.

use std::net::{Ipv4Addr, SocketAddr, TcpListener, UdpSocket};
use std::sync::Mutex;

/// Transport protocol of a port mapping.
#[derive(
    Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, serde::Serialize, serde::Deserialize,
)]
pub enum Protocol {
    Tcp,
    Udp,
}

impl Protocol {
    pub fn as_str(self) -> &'static str {
        match self {
            Protocol::Tcp => "tcp",
            Protocol::Udp => "udp",
        }
    }
}

/// No free port (or contiguous range) was found in the dynamic range.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("error retrieving docker port map: a host port is unavailable")]
pub struct PortUnavailable;

/// Hands out dynamic host ports from a fixed inclusive range.
#[derive(Debug)]
pub struct PortAllocator {
    start: u16,
    end: u16,
    last: Mutex<Option<u16>>,
}

impl PortAllocator {
    pub fn new(range: (u16, u16)) -> Self {
        let (start, end) = if range.0 <= range.1 {
            range
        } else {
            (range.1, range.0)
        };
        Self {
            start,
            end,
            last: Mutex::new(None),
        }
    }

    /// One free port for `protocol`.
    pub fn allocate(&self, protocol: Protocol) -> Result<u16, PortUnavailable> {
        self.allocate_range(1, protocol)
    }

    /// `count` contiguous free ports; returns the first.
    pub fn allocate_range(&self, count: u16, protocol: Protocol) -> Result<u16, PortUnavailable> {
        if count == 0 {
            return Err(PortUnavailable);
        }
        let mut last = self.last.lock().unwrap_or_else(|p| p.into_inner());
        let span = u32::from(self.end - self.start) + 1;
        if u32::from(count) > span {
            return Err(PortUnavailable);
        }
        let first_candidate = match *last {
            Some(port) if port < self.end => port + 1,
            _ => self.start,
        };
        let offset0 = u32::from(first_candidate - self.start);
        for step in 0..span {
            let offset = (offset0 + step) % span;
            let candidate = u32::from(self.start) + offset;
            let range_end = candidate + u32::from(count) - 1;
            if range_end > u32::from(self.end) {
                continue;
            }
            let all_free = (candidate..=range_end).all(|port| port_is_free(port as u16, protocol));
            if all_free {
                *last = Some(range_end as u16);
                return Ok(candidate as u16);
            }
        }
        Err(PortUnavailable)
    }
}

fn port_is_free(port: u16, protocol: Protocol) -> bool {
    let addr = SocketAddr::from((Ipv4Addr::UNSPECIFIED, port));
    match protocol {
        Protocol::Tcp => TcpListener::bind(addr).is_ok(),
        Protocol::Udp => UdpSocket::bind(addr).is_ok(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn scan_continues_after_the_last_port() {
        let alloc = PortAllocator::new((41000, 41100));
        let a = alloc.allocate(Protocol::Tcp).unwrap();
        let b = alloc.allocate(Protocol::Tcp).unwrap();
        assert!(b > a);
    }

    #[test]
    fn a_bound_port_is_skipped() {
        let holder = TcpListener::bind(("0.0.0.0", 0)).unwrap();
        let busy = holder.local_addr().unwrap().port();
        let alloc = PortAllocator::new((busy, busy.saturating_add(5)));
        let got = alloc.allocate(Protocol::Tcp).unwrap();
        assert_ne!(got, busy);
    }

    #[test]
    fn exhausted_range_is_an_error() {
        let holder = TcpListener::bind(("0.0.0.0", 0)).unwrap();
        let busy = holder.local_addr().unwrap().port();
        let alloc = PortAllocator::new((busy, busy));
        assert_eq!(alloc.allocate(Protocol::Tcp), Err(PortUnavailable));
        assert_eq!(
            PortUnavailable.to_string(),
            "error retrieving docker port map: a host port is unavailable"
        );
    }

    #[test]
    fn ranges_are_contiguous_and_wrap() {
        let alloc = PortAllocator::new((42000, 42009));
        let first = alloc.allocate_range(4, Protocol::Udp).unwrap();
        assert!(first + 3 <= 42009);
        let second = alloc.allocate_range(4, Protocol::Udp).unwrap();
        assert!(second > first);
        // Only 2 ports remain before the end: the scan wraps to the start.
        let third = alloc.allocate_range(4, Protocol::Udp).unwrap();
        assert_eq!(third, 42000);
        assert!(alloc.allocate_range(11, Protocol::Udp).is_err());
    }
}
