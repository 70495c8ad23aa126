//! CIDR builtins, following hashicorp/go-cty-funcs and apparentlymart/go-cidr.
//!
//! Addresses are held as `u128` with their width (32 or 128 bits), so IPv4 and IPv6 share
//! the arithmetic.

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};

use super::args::{arg_error, arg_int, arg_num, arg_str, whole};
use super::{Env, Value};

/// A parsed prefix, with the host bits of the address already cleared as Go's
/// `net.ParseCIDR` does.
#[derive(Clone, Copy)]
struct Net {
    addr: u128,
    bits: u32,
    prefix: u32,
}

impl Net {
    fn parse(s: &str) -> Result<Net, String> {
        let invalid = || format!("invalid CIDR expression: invalid CIDR address: {s}");
        let (ip, len) = s.split_once('/').ok_or_else(invalid)?;
        let (addr, bits) = match ip.parse::<IpAddr>().map_err(|_| invalid())? {
            IpAddr::V4(v4) => (u128::from(u32::from(v4)), 32),
            IpAddr::V6(v6) => (u128::from(v6), 128),
        };
        // Go's prefix parser accepts leading zeros but nothing else beyond digits.
        if len.is_empty() || !len.bytes().all(|b| b.is_ascii_digit()) {
            return Err(invalid());
        }
        let prefix = len
            .parse::<u32>()
            .ok()
            .filter(|&p| p <= bits)
            .ok_or_else(invalid)?;
        Ok(Net {
            addr: addr & mask(prefix, bits),
            bits,
            prefix,
        })
    }

    fn host_mask(&self) -> u128 {
        !mask(self.prefix, self.bits) & all_ones(self.bits)
    }

    fn last(&self) -> u128 {
        self.addr | self.host_mask()
    }

    fn contains(&self, addr: u128) -> bool {
        addr & mask(self.prefix, self.bits) == self.addr
    }
}

impl std::fmt::Display for Net {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}/{}", ip_string(self.addr, self.bits), self.prefix)
    }
}

fn all_ones(bits: u32) -> u128 {
    if bits >= 128 {
        u128::MAX
    } else {
        (1u128 << bits) - 1
    }
}

/// The network mask of a prefix length within an address of `bits` bits.
fn mask(prefix: u32, bits: u32) -> u128 {
    if prefix == 0 {
        0
    } else {
        all_ones(bits) & !all_ones(bits - prefix.min(bits))
    }
}

/// Go prints IPv4 in dotted form and IPv6 in RFC 5952 form, as do Rust's types; an
/// IPv4-mapped IPv6 address prints as IPv4 in Go.
fn ip_string(addr: u128, bits: u32) -> String {
    if bits == 32 {
        return Ipv4Addr::from(addr as u32).to_string();
    }
    let v6 = Ipv6Addr::from(addr);
    match v6.to_ipv4_mapped() {
        Some(v4) => v4.to_string(),
        None => v6.to_string(),
    }
}

pub(super) fn cidrhost(_: &Env, args: &[Value]) -> Result<Value, String> {
    let prefix = arg_str(args, 0, "prefix")?;
    let hostnum = arg_int(args, 1, "hostnum")?;
    let net = Net::parse(&prefix)?;
    let max = all_ones(net.bits - net.prefix);
    // A negative host number counts back from the end of the range, -1 being the last.
    let magnitude = if hostnum < 0 {
        u128::from((hostnum + 1).unsigned_abs())
    } else {
        hostnum as u128
    };
    if magnitude > max {
        return Err(format!(
            "prefix of {} does not accommodate a host numbered {hostnum}",
            net.prefix
        ));
    }
    let offset = if hostnum < 0 {
        max - magnitude
    } else {
        magnitude
    };
    Ok(Value::String(ip_string(net.addr | offset, net.bits)))
}

pub(super) fn cidrnetmask(_: &Env, args: &[Value]) -> Result<Value, String> {
    let prefix = arg_str(args, 0, "prefix")?;
    let net = Net::parse(&prefix)?;
    let m = mask(net.prefix, net.bits);
    let text = if net.bits == 32 {
        Ipv4Addr::from(m as u32).to_string()
    } else {
        Ipv6Addr::from(m).to_string()
    };
    Ok(Value::String(text))
}

pub(super) fn cidrsubnet(_: &Env, args: &[Value]) -> Result<Value, String> {
    let prefix = arg_str(args, 0, "prefix")?;
    let newbits = arg_int(args, 1, "newbits")?;
    let netnum = arg_int(args, 2, "netnum")?;
    let net = Net::parse(&prefix)?;
    if newbits > 32 {
        return Err("may not extend prefix by more than 32 bits".into());
    }
    let newbits = u32::try_from(newbits).map_err(|_| "newbits must not be negative".to_string())?;
    let new_prefix = net.prefix + newbits;
    if new_prefix > net.bits {
        return Err(format!(
            "insufficient address space to extend prefix of {} by {newbits}",
            net.prefix
        ));
    }
    // Go compares the number as a uint64, so a negative one never fits.
    let max = all_ones(newbits.min(64));
    if netnum < 0 || netnum as u128 > max {
        return Err(format!(
            "prefix extension of {newbits} does not accommodate a subnet numbered {netnum}"
        ));
    }
    // The shift is 128 only for a zero-bit extension of `::/0`, where the number is 0.
    let addr = net.addr
        | (netnum as u128)
            .checked_shl(net.bits - new_prefix)
            .unwrap_or(0);
    Ok(Value::String(
        Net {
            addr,
            bits: net.bits,
            prefix: new_prefix,
        }
        .to_string(),
    ))
}

/// Consecutive subnets of the given extra prefix lengths, each aligned after the last.
pub(super) fn cidrsubnets(_: &Env, args: &[Value]) -> Result<Value, String> {
    let prefix = arg_str(args, 0, "prefix")?;
    let net = Net::parse(&prefix).map_err(|e| arg_error("prefix", e))?;
    if args.len() < 2 {
        return Ok(Value::List(vec![]));
    }
    let first = whole(&arg_num(args, 1, "newbits")?).map_err(|e| arg_error("newbits", e))?;
    let first_len = u32::try_from(first.clamp(0, 128)).unwrap_or(0) + net.prefix;
    let mut current = previous_subnet(net, first_len.min(net.bits));
    let mut out = Vec::with_capacity(args.len() - 1);
    for i in 1..args.len() {
        let length = whole(&arg_num(args, i, "newbits")?).map_err(|e| arg_error("newbits", e))?;
        if length < 1 {
            return Err(arg_error(
                "newbits",
                "must extend prefix by at least one bit",
            ));
        }
        if length > 32 {
            return Err(arg_error(
                "newbits",
                "may not extend prefix by more than 32 bits",
            ));
        }
        let length = length as u32 + net.prefix;
        if length > net.bits {
            let family = if net.bits == 32 { "IPv4" } else { "IPv6" };
            let msg = format!(
                "would extend prefix to {length} bits, which is too long for an {family} address"
            );
            return Err(arg_error("newbits", msg));
        }
        let (next, rollover) = next_subnet(current, length);
        if rollover || !net.contains(next.addr) {
            let msg = format!(
                "not enough remaining address space for a subnet with a prefix of {length} bits after {}",
                current
            );
            return Err(arg_error("newbits", msg));
        }
        current = next;
        out.push(Value::String(current.to_string()));
    }
    Ok(Value::List(out))
}

/// The subnet of the given length just before `net`'s first address.
fn previous_subnet(net: Net, prefix: u32) -> Net {
    let before = net.addr.wrapping_sub(1) & all_ones(net.bits);
    Net {
        addr: before & mask(prefix, net.bits),
        bits: net.bits,
        prefix,
    }
}

/// The first subnet of the given length after the end of `current`, and whether finding it
/// wrapped around the address space.
fn next_subnet(current: Net, prefix: u32) -> (Net, bool) {
    let widened = Net {
        addr: current.last() & mask(prefix, current.bits),
        bits: current.bits,
        prefix,
    };
    let after = widened.last().wrapping_add(1) & all_ones(current.bits);
    let next = Net {
        addr: after & mask(prefix, current.bits),
        bits: current.bits,
        prefix,
    };
    (next, after == 0)
}

#[cfg(test)]
mod tests {
    use super::super::testing::{call, n, s};
    use super::*;

    #[test]
    fn cidrhost_counts_both_ways() {
        assert_eq!(
            call("cidrhost", &[s("10.0.0.0/16"), n(5.0)]),
            Ok(s("10.0.0.5"))
        );
        assert_eq!(
            call("cidrhost", &[s("10.12.112.0/20"), n(268.0)]),
            Ok(s("10.12.113.12"))
        );
        assert_eq!(
            call("cidrhost", &[s("10.0.0.0/24"), n(-1.0)]),
            Ok(s("10.0.0.255"))
        );
        assert_eq!(
            call("cidrhost", &[s("fd00:fd12:3456:7890::/56"), n(34.0)]),
            Ok(s("fd00:fd12:3456:7800::22"))
        );
        assert_eq!(
            call("cidrhost", &[s("10.0.0.0/24"), n(256.0)]),
            Err("prefix of 24 does not accommodate a host numbered 256".into())
        );
        assert_eq!(
            call("cidrhost", &[s("10.0.0.0/24"), n(-257.0)]),
            Err("prefix of 24 does not accommodate a host numbered -257".into())
        );
        assert_eq!(
            call("cidrhost", &[s("10.0.0/24"), n(1.0)]),
            Err("invalid CIDR expression: invalid CIDR address: 10.0.0/24".into())
        );
    }

    #[test]
    fn cidrnetmask_formats_masks() {
        assert_eq!(
            call("cidrnetmask", &[s("10.0.0.0/16")]),
            Ok(s("255.255.0.0"))
        );
        assert_eq!(call("cidrnetmask", &[s("10.0.0.0/0")]), Ok(s("0.0.0.0")));
        assert_eq!(call("cidrnetmask", &[s("::/32")]), Ok(s("ffff:ffff::")));
        assert!(call("cidrnetmask", &[s("10.0.0.0/33")]).is_err());
    }

    #[test]
    fn cidrsubnet_extends_prefixes() {
        assert_eq!(
            call("cidrsubnet", &[s("10.0.0.0/16"), n(4.0), n(2.0)]),
            Ok(s("10.0.32.0/20"))
        );
        assert_eq!(
            call("cidrsubnet", &[s("172.16.0.0/12"), n(4.0), n(2.0)]),
            Ok(s("172.18.0.0/16"))
        );
        assert_eq!(
            call(
                "cidrsubnet",
                &[s("fd00:fd12:3456:7890::/56"), n(16.0), n(162.0)]
            ),
            Ok(s("fd00:fd12:3456:7800:a200::/72"))
        );
        assert_eq!(
            call("cidrsubnet", &[s("10.0.0.0/30"), n(4.0), n(0.0)]),
            Err("insufficient address space to extend prefix of 30 by 4".into())
        );
        assert_eq!(
            call("cidrsubnet", &[s("10.0.0.0/16"), n(2.0), n(4.0)]),
            Err("prefix extension of 2 does not accommodate a subnet numbered 4".into())
        );
        assert_eq!(
            call("cidrsubnet", &[s("10.0.0.0/8"), n(33.0), n(0.0)]),
            Err("may not extend prefix by more than 32 bits".into())
        );
    }

    #[test]
    fn cidrsubnets_allocates_in_order() {
        let got = call(
            "cidrsubnets",
            &[s("10.1.0.0/16"), n(4.0), n(4.0), n(8.0), n(4.0)],
        );
        let want = [
            "10.1.0.0/20",
            "10.1.16.0/20",
            "10.1.32.0/24",
            "10.1.48.0/20",
        ];
        assert_eq!(got, Ok(Value::List(want.iter().map(|w| s(w)).collect())));
        assert_eq!(
            call("cidrsubnets", &[s("10.0.0.0/16")]),
            Ok(Value::List(vec![]))
        );
        assert_eq!(
            call("cidrsubnets", &[s("10.0.0.0/30"), n(1.0), n(1.0), n(1.0)]),
            Err("invalid value for \"newbits\" parameter: not enough remaining address space for a subnet with a prefix of 31 bits after 10.0.0.2/31".into())
        );
        assert_eq!(
            call("cidrsubnets", &[s("10.0.0.0/16"), n(0.0)]),
            Err(
                "invalid value for \"newbits\" parameter: must extend prefix by at least one bit"
                    .into()
            )
        );
        assert_eq!(
            call("cidrsubnets", &[s("10.0.0.0/30"), n(3.0)]),
            Err("invalid value for \"newbits\" parameter: would extend prefix to 33 bits, which is too long for an IPv4 address".into())
        );
        let v6 = call(
            "cidrsubnets",
            &[s("fd00:fd12:3456:7890::/56"), n(16.0), n(16.0)],
        );
        let want6 = ["fd00:fd12:3456:7800::/72", "fd00:fd12:3456:7800:100::/72"];
        assert_eq!(v6, Ok(Value::List(want6.iter().map(|w| s(w)).collect())));
    }
}
