//! A plugin configuration held as shared parts and read by the guest as their concatenation.
//!
//! A host that reconfigures often may send configurations that share a large part: aapkit's
//! compact bundle keeps its key catalogue (most of the bytes at 100k keys) from one access change
//! to the next. Holding each configuration whole would copy that part per configuration; as parts,
//! every configuration points at one copy.

use std::sync::Arc;

/// A plugin configuration: one or more byte parts, which the filter reads
/// (`proxy_get_buffer_bytes`, ranged reads included) as if they were one buffer. Cheap to clone.
#[derive(Clone, Default)]
pub struct PluginConfig {
    parts: Arc<[Arc<[u8]>]>,
    len: usize,
}

impl PluginConfig {
    /// The configuration whose bytes are `parts`, in order.
    pub fn from_parts(parts: impl IntoIterator<Item = Arc<[u8]>>) -> PluginConfig {
        let parts: Arc<[Arc<[u8]>]> = parts.into_iter().filter(|p| !p.is_empty()).collect();
        let len = parts.iter().map(|p| p.len()).sum();
        PluginConfig { parts, len }
    }

    /// Its length in bytes.
    pub fn len(&self) -> usize {
        self.len
    }

    pub fn is_empty(&self) -> bool {
        self.len == 0
    }

    /// Copies bytes `start..start + dst.len()` into `dst`. False, writing nothing, when that
    /// range is not inside the configuration.
    pub(crate) fn copy_range_into(&self, start: usize, dst: &mut [u8]) -> bool {
        let end = start.saturating_add(dst.len());
        if end > self.len {
            return false;
        }
        let mut part_start = 0;
        for part in self.parts.iter() {
            let part_end = part_start + part.len();
            if part_end > start && part_start < end {
                let from = start.max(part_start);
                let to = end.min(part_end);
                let (src, out) = (part.get(from - part_start..to - part_start), dst.get_mut(from - start..to - start));
                if let (Some(src), Some(out)) = (src, out) {
                    out.copy_from_slice(src);
                }
            }
            if part_end >= end {
                break;
            }
            part_start = part_end;
        }
        true
    }
}

impl From<&[u8]> for PluginConfig {
    fn from(bytes: &[u8]) -> PluginConfig {
        PluginConfig::from_parts([Arc::from(bytes)])
    }
}

impl std::fmt::Debug for PluginConfig {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("PluginConfig").field("parts", &self.parts.len()).field("len", &self.len).finish()
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]
    use super::*;

    /// Every range of a configuration in parts reads as the same range of the bytes whole.
    #[test]
    fn every_range_reads_as_the_concatenation() {
        let whole: Vec<u8> = (0..23u8).collect();
        for cuts in [vec![], vec![0], vec![5], vec![5, 5], vec![1, 9, 22], vec![23]] {
            let mut parts = Vec::new();
            let mut at = 0;
            for &cut in cuts.iter().chain([&23]) {
                parts.push(Arc::from(&whole[at..cut]));
                at = cut;
            }
            let config = PluginConfig::from_parts(parts);
            assert_eq!(config.len(), whole.len());
            for start in 0..=whole.len() {
                for end in start..=whole.len() + 3 {
                    let mut read = vec![0xaa; end - start];
                    let inside = end <= whole.len();
                    assert_eq!(config.copy_range_into(start, &mut read), inside, "{cuts:?} {start}..{end}");
                    if inside {
                        assert_eq!(read, whole[start..end], "{cuts:?} {start}..{end}");
                    }
                }
            }
        }
        assert!(PluginConfig::default().copy_range_into(0, &mut []));
        assert!(!PluginConfig::default().copy_range_into(0, &mut [0]));
    }
}
