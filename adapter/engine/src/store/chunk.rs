//! A compressed run of samples: Gorilla encoding (delta-of-delta timestamps, XOR'd floats),
//! as Prometheus' XOR chunks, so a 1 s scrape of a slowly moving series costs a few bits.

/// Samples per chunk before a new one is cut (as Prometheus' head).
pub(crate) const CHUNK_SAMPLES: u16 = 120;

#[derive(Debug, Clone, Default)]
pub(crate) struct Chunk {
    bits: BitWriter,
    pub(crate) n: u16,
    pub(crate) first_t: i64,
    pub(crate) last_t: i64,
    last_v: u64,
    last_delta: i64,
    leading: u8,
    trailing: u8,
}

impl Chunk {
    pub(crate) fn last_value(&self) -> f64 {
        f64::from_bits(self.last_v)
    }

    pub(crate) fn push(&mut self, t: i64, v: f64) {
        let vb = v.to_bits();
        match self.n {
            0 => {
                self.bits.write(t as u64, 64);
                self.bits.write(vb, 64);
                self.first_t = t;
            }
            1 => {
                let d = t - self.last_t;
                self.bits.write(d as u64, 64);
                self.write_value(vb);
                self.last_delta = d;
            }
            _ => {
                let d = t - self.last_t;
                let dod = d - self.last_delta;
                match dod {
                    0 => self.bits.write(0, 1),
                    -8191..=8192 => {
                        self.bits.write(0b10, 2);
                        self.bits.write(dod as u64, 14);
                    }
                    -65535..=65536 => {
                        self.bits.write(0b110, 3);
                        self.bits.write(dod as u64, 17);
                    }
                    -524_287..=524_288 => {
                        self.bits.write(0b1110, 4);
                        self.bits.write(dod as u64, 20);
                    }
                    _ => {
                        self.bits.write(0b1111, 4);
                        self.bits.write(dod as u64, 64);
                    }
                }
                self.write_value(vb);
                self.last_delta = d;
            }
        }
        self.last_t = t;
        self.last_v = vb;
        self.n += 1;
    }

    fn write_value(&mut self, vb: u64) {
        let x = vb ^ self.last_v;
        if x == 0 {
            self.bits.write(0, 1);
            return;
        }
        self.bits.write(1, 1);
        let lead = (x.leading_zeros() as u8).min(31);
        let trail = x.trailing_zeros() as u8;
        if self.n > 1
            && lead >= self.leading
            && trail >= self.trailing
            && self.leading + self.trailing > 0
        {
            self.bits.write(0, 1);
            let sig = 64 - self.leading - self.trailing;
            self.bits.write(x >> self.trailing, sig);
        } else {
            let sig = 64 - lead - trail;
            self.bits.write(1, 1);
            self.bits.write(u64::from(lead), 5);
            // 64 significant bits are written as 0 (they do not fit in 6 bits).
            self.bits.write(u64::from(sig & 63), 6);
            self.bits.write(x >> trail, sig);
            self.leading = lead;
            self.trailing = trail;
        }
    }

    /// Decodes every sample, oldest first.
    pub(crate) fn decode(&self, out: &mut Vec<(i64, f64)>) {
        let mut r = BitReader {
            buf: &self.bits.buf,
            pos: 0,
        };
        let (mut t, mut v, mut delta, mut lead, mut trail) = (0i64, 0u64, 0i64, 0u8, 0u8);
        for i in 0..self.n {
            match i {
                0 => {
                    t = r.read(64) as i64;
                    v = r.read(64);
                }
                1 => {
                    delta = r.read(64) as i64;
                    t += delta;
                    v = read_value(&mut r, v, &mut lead, &mut trail);
                }
                _ => {
                    let dod = if r.read(1) == 0 {
                        0
                    } else if r.read(1) == 0 {
                        sign_extend(r.read(14), 14)
                    } else if r.read(1) == 0 {
                        sign_extend(r.read(17), 17)
                    } else if r.read(1) == 0 {
                        sign_extend(r.read(20), 20)
                    } else {
                        r.read(64) as i64
                    };
                    delta += dod;
                    t += delta;
                    v = read_value(&mut r, v, &mut lead, &mut trail);
                }
            }
            out.push((t, f64::from_bits(v)));
        }
    }

    pub(crate) fn shrink(&mut self) {
        self.bits.buf.shrink_to_fit();
    }

    pub(crate) fn heap_bytes(&self) -> usize {
        self.bits.buf.capacity()
    }
}

fn read_value(r: &mut BitReader<'_>, prev: u64, lead: &mut u8, trail: &mut u8) -> u64 {
    if r.read(1) == 0 {
        return prev;
    }
    if r.read(1) == 1 {
        *lead = r.read(5) as u8;
        let mut sig = r.read(6) as u8;
        if sig == 0 {
            sig = 64;
        }
        *trail = 64 - *lead - sig;
    }
    let sig = 64 - *lead - *trail;
    prev ^ (r.read(sig) << *trail)
}

fn sign_extend(v: u64, bits: u8) -> i64 {
    let shift = 64 - bits;
    ((v << shift) as i64) >> shift
}

#[derive(Debug, Clone, Default)]
struct BitWriter {
    buf: Vec<u8>,
    /// Bits used in the last byte (0 = the last byte is full or there is none).
    used: u8,
}

impl BitWriter {
    /// Appends the low `n` bits of `v`, most significant first.
    fn write(&mut self, v: u64, n: u8) {
        let mut left = n;
        while left > 0 {
            if self.used == 0 {
                self.buf.push(0);
            }
            let free = 8 - self.used;
            let take = free.min(left);
            let chunk = ((v >> (left - take)) & ((1u64 << take) - 1)) as u8;
            if let Some(last) = self.buf.last_mut() {
                *last |= chunk << (free - take);
            }
            self.used = (self.used + take) % 8;
            left -= take;
        }
    }
}

struct BitReader<'a> {
    buf: &'a [u8],
    pos: usize,
}

impl BitReader<'_> {
    fn read(&mut self, n: u8) -> u64 {
        let mut v = 0u64;
        let mut left = n;
        while left > 0 {
            let byte = self.buf.get(self.pos / 8).copied().unwrap_or(0);
            let off = (self.pos % 8) as u8;
            let avail = 8 - off;
            let take = avail.min(left);
            let bits = (byte >> (avail - take)) & (((1u16 << take) - 1) as u8);
            v = (v << take) | u64::from(bits);
            self.pos += take as usize;
            left -= take;
        }
        v
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Demonstrates that samples round-trip exactly, NaNs and irregular intervals included.
    #[test]
    fn round_trip() {
        let mut c = Chunk::default();
        let mut want = Vec::new();
        let mut t = 1_700_000_000_123i64;
        let vals = [
            0.0,
            1.0,
            1.0,
            2.5,
            -3.25,
            f64::NAN,
            f64::from_bits(0x7ff0_0000_0000_0002),
            1e300,
            f64::INFINITY,
            7.0,
        ];
        for i in 0..CHUNK_SAMPLES as i64 {
            t += 1000 + [0, 0, 3, -2, 70_000, 9_000_000][(i % 6) as usize];
            let v = vals[(i % 10) as usize] + if i > 50 { i as f64 * 0.1 } else { 0.0 };
            c.push(t, v);
            want.push((t, v));
        }
        let mut got = Vec::new();
        c.decode(&mut got);
        assert_eq!(got.len(), want.len());
        for (g, w) in got.iter().zip(&want) {
            assert_eq!((g.0, g.1.to_bits()), (w.0, w.1.to_bits()));
        }
    }

    /// Demonstrates the compression on a 1 s counter: well under 4 bytes a sample.
    #[test]
    fn counter_compresses() {
        let mut c = Chunk::default();
        for i in 0..CHUNK_SAMPLES as i64 {
            c.push(i * 1000, (1000 + i * 17 + (i * 7919) % 13) as f64);
        }
        let per_sample = c.bits.buf.len() as f64 / f64::from(CHUNK_SAMPLES);
        assert!(per_sample < 4.0, "{per_sample} bytes per sample");
    }
}
