//! The byte form of a workload record between reading and evaluating (see [`super::spool`]).
//!
//! Measured on 10,000 Cordum-like Deployments (docs/ci.md, "How fast"): as JSON the records cost
//! as much as parsing the YAML (0.06 CPU-s to write, 0.13 to read back, against 0.20 for the fast
//! reader), because serde_json and the Kubernetes types' visitors match every field name. The
//! binary serde formats (bincode, postcard) cannot carry those types (they serialize only the
//! fields that are set and read structs as maps). So this is a small fixed layout of exactly what
//! evaluation reads: length-prefixed strings, one byte for each option. Struct literals below
//! name every field, so a new field in the Kubernetes types fails the build instead of being
//! dropped silently.

use super::input::WorkloadKind;
use super::parse::{Meta, Record};
use crate::workload::{ContainerEnv, PodEnv};
use k8s_openapi::api::core::v1::{
    ConfigMapEnvSource, ConfigMapKeySelector, EnvFromSource, EnvVar, EnvVarSource, ObjectFieldSelector,
    ResourceFieldSelector, SecretEnvSource, SecretKeySelector,
};
use k8s_openapi::apimachinery::pkg::api::resource::Quantity;
use std::collections::BTreeMap;

/// Appends one record, framed by its length.
pub fn encode(r: &Record, out: &mut Vec<u8>) {
    let at = out.len();
    out.extend_from_slice(&[0; 4]);
    let mut w = W(out);
    w.u64(r.src as u64);
    w.u64(r.line as u64);
    w.u8(kind_byte(r.kind));
    w.opt(r.group.as_ref(), |w, g| w.u64(*g));
    w.opt(r.meta.name.as_deref(), W::str);
    w.opt(r.meta.namespace.as_deref(), W::str);
    w.opt(r.meta.labels.as_ref(), W::map);
    w.opt(r.meta.annotations.as_ref(), W::map);
    w.containers(&r.pod.init_containers);
    w.containers(&r.pod.containers);
    let len = (out.len() - at - 4) as u32;
    out[at..at + 4].copy_from_slice(&len.to_le_bytes());
}

/// Splits framed records; `None` for a frame that is cut short.
pub fn frames(mut bytes: &[u8]) -> impl Iterator<Item = Option<&[u8]>> {
    std::iter::from_fn(move || {
        if bytes.is_empty() {
            return None;
        }
        let Some(len) = bytes.get(..4).map(|b| u32::from_le_bytes([b[0], b[1], b[2], b[3]]) as usize) else {
            bytes = &[];
            return Some(None);
        };
        match bytes.get(4..4 + len) {
            Some(frame) => {
                bytes = &bytes[4 + len..];
                Some(Some(frame))
            }
            None => {
                bytes = &[];
                Some(None)
            }
        }
    })
}

/// The length of the first frame in `bytes`, with its prefix, when it is all there.
pub fn frame_len(bytes: &[u8]) -> Option<usize> {
    let b = bytes.get(..4)?;
    Some(4 + u32::from_le_bytes([b[0], b[1], b[2], b[3]]) as usize)
}

/// Reads one record (a frame without its length); `None` when it is not one.
pub fn decode(frame: &[u8]) -> Option<Record> {
    let mut r = R(frame);
    let rec = Record {
        src: usize::try_from(r.u64()?).ok()?,
        line: usize::try_from(r.u64()?).ok()?,
        kind: byte_kind(r.u8()?)?,
        group: r.opt(R::u64)?,
        meta: Meta {
            name: r.opt(R::string)?,
            namespace: r.opt(R::string)?,
            labels: r.opt(R::map)?,
            annotations: r.opt(R::map)?,
        },
        pod: PodEnv { init_containers: r.containers()?, containers: r.containers()? },
    };
    r.0.is_empty().then_some(rec)
}

fn kind_byte(k: WorkloadKind) -> u8 {
    match k {
        WorkloadKind::Deployment => 0,
        WorkloadKind::StatefulSet => 1,
        WorkloadKind::DaemonSet => 2,
        WorkloadKind::ReplicaSet => 3,
        WorkloadKind::Job => 4,
        WorkloadKind::CronJob => 5,
        WorkloadKind::Pod => 6,
    }
}

fn byte_kind(b: u8) -> Option<WorkloadKind> {
    Some(match b {
        0 => WorkloadKind::Deployment,
        1 => WorkloadKind::StatefulSet,
        2 => WorkloadKind::DaemonSet,
        3 => WorkloadKind::ReplicaSet,
        4 => WorkloadKind::Job,
        5 => WorkloadKind::CronJob,
        6 => WorkloadKind::Pod,
        _ => return None,
    })
}

struct W<'a>(&'a mut Vec<u8>);

impl W<'_> {
    fn u8(&mut self, b: u8) {
        self.0.push(b);
    }
    fn u32(&mut self, n: usize) {
        self.0.extend_from_slice(&(n as u32).to_le_bytes());
    }
    fn u64(&mut self, n: u64) {
        self.0.extend_from_slice(&n.to_le_bytes());
    }
    fn str(&mut self, s: &str) {
        self.u32(s.len());
        self.0.extend_from_slice(s.as_bytes());
    }
    fn bool(&mut self, b: &bool) {
        self.u8(u8::from(*b));
    }
    fn opt<T: ?Sized>(&mut self, v: Option<&T>, f: impl FnOnce(&mut Self, &T)) {
        match v {
            None => self.u8(0),
            Some(v) => {
                self.u8(1);
                f(self, v);
            }
        }
    }
    fn map(&mut self, m: &BTreeMap<String, String>) {
        self.u32(m.len());
        for (k, v) in m {
            self.str(k);
            self.str(v);
        }
    }
    fn containers(&mut self, cs: &[ContainerEnv]) {
        self.u32(cs.len());
        for c in cs {
            self.str(&c.name);
            self.opt(c.image.as_deref(), W::str);
            self.u32(c.env.len());
            for e in &c.env {
                self.env(e);
            }
            self.u32(c.env_from.len());
            for e in &c.env_from {
                self.opt(e.config_map_ref.as_ref(), |w, r| {
                    w.str(&r.name);
                    w.opt(r.optional.as_ref(), W::bool);
                });
                self.opt(e.prefix.as_deref(), W::str);
                self.opt(e.secret_ref.as_ref(), |w, r| {
                    w.str(&r.name);
                    w.opt(r.optional.as_ref(), W::bool);
                });
            }
        }
    }
    fn env(&mut self, e: &EnvVar) {
        self.str(&e.name);
        self.opt(e.value.as_deref(), W::str);
        self.opt(e.value_from.as_ref(), |w, s| {
            w.opt(s.config_map_key_ref.as_ref(), |w, r| {
                w.str(&r.key);
                w.str(&r.name);
                w.opt(r.optional.as_ref(), W::bool);
            });
            w.opt(s.field_ref.as_ref(), |w, r| {
                w.opt(r.api_version.as_deref(), W::str);
                w.str(&r.field_path);
            });
            w.opt(s.resource_field_ref.as_ref(), |w, r| {
                w.opt(r.container_name.as_deref(), W::str);
                w.opt(r.divisor.as_ref(), |w, q| w.str(&q.0));
                w.str(&r.resource);
            });
            w.opt(s.secret_key_ref.as_ref(), |w, r| {
                w.str(&r.key);
                w.str(&r.name);
                w.opt(r.optional.as_ref(), W::bool);
            });
        });
    }
}

struct R<'a>(&'a [u8]);

impl R<'_> {
    fn take(&mut self, n: usize) -> Option<&[u8]> {
        let (a, b) = (self.0.get(..n)?, self.0.get(n..)?);
        self.0 = b;
        Some(a)
    }
    fn u8(&mut self) -> Option<u8> {
        self.take(1).map(|b| b[0])
    }
    fn u32(&mut self) -> Option<usize> {
        self.take(4).map(|b| u32::from_le_bytes([b[0], b[1], b[2], b[3]]) as usize)
    }
    fn u64(&mut self) -> Option<u64> {
        let b = self.take(8)?;
        Some(u64::from_le_bytes([b[0], b[1], b[2], b[3], b[4], b[5], b[6], b[7]]))
    }
    fn string(&mut self) -> Option<String> {
        let n = self.u32()?;
        String::from_utf8(self.take(n)?.to_vec()).ok()
    }
    fn bool(&mut self) -> Option<bool> {
        match self.u8()? {
            0 => Some(false),
            1 => Some(true),
            _ => None,
        }
    }
    /// `Some(None)` / `Some(Some(v))`; `None` when the bytes are not a record.
    fn opt<T>(&mut self, f: impl FnOnce(&mut Self) -> Option<T>) -> Option<Option<T>> {
        match self.u8()? {
            0 => Some(None),
            1 => f(self).map(Some),
            _ => None,
        }
    }
    fn map(&mut self) -> Option<BTreeMap<String, String>> {
        let n = self.u32()?;
        let mut m = BTreeMap::new();
        for _ in 0..n {
            let k = self.string()?;
            m.insert(k, self.string()?);
        }
        Some(m)
    }
    /// A count that cannot exceed what is left (each element takes at least one byte).
    fn count(&mut self) -> Option<usize> {
        let n = self.u32()?;
        (n <= self.0.len()).then_some(n)
    }
    fn containers(&mut self) -> Option<Vec<ContainerEnv>> {
        let n = self.count()?;
        let mut out = Vec::with_capacity(n);
        for _ in 0..n {
            let name = self.string()?;
            let image = self.opt(R::string)?;
            let envs = self.count()?;
            let mut env = Vec::with_capacity(envs);
            for _ in 0..envs {
                env.push(self.env()?);
            }
            let froms = self.count()?;
            let mut env_from = Vec::with_capacity(froms);
            for _ in 0..froms {
                env_from.push(EnvFromSource {
                    config_map_ref: self
                        .opt(|r| Some(ConfigMapEnvSource { name: r.string()?, optional: r.opt(R::bool)? }))?,
                    prefix: self.opt(R::string)?,
                    secret_ref: self.opt(|r| Some(SecretEnvSource { name: r.string()?, optional: r.opt(R::bool)? }))?,
                });
            }
            out.push(ContainerEnv { name, image, env, env_from });
        }
        Some(out)
    }
    fn env(&mut self) -> Option<EnvVar> {
        Some(EnvVar {
            name: self.string()?,
            value: self.opt(R::string)?,
            value_from: self.opt(|r| {
                Some(EnvVarSource {
                    config_map_key_ref: r.opt(|r| {
                        Some(ConfigMapKeySelector { key: r.string()?, name: r.string()?, optional: r.opt(R::bool)? })
                    })?,
                    field_ref: r.opt(|r| {
                        Some(ObjectFieldSelector { api_version: r.opt(R::string)?, field_path: r.string()? })
                    })?,
                    resource_field_ref: r.opt(|r| {
                        Some(ResourceFieldSelector {
                            container_name: r.opt(R::string)?,
                            divisor: r.opt(|r| r.string().map(Quantity))?,
                            resource: r.string()?,
                        })
                    })?,
                    secret_key_ref: r.opt(|r| {
                        Some(SecretKeySelector { key: r.string()?, name: r.string()?, optional: r.opt(R::bool)? })
                    })?,
                })
            })?,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn s() -> impl Strategy<Value = String> {
        prop_oneof![Just(String::new()), "[ -~]{0,12}", "\\PC{0,6}", Just("a\nb\u{0}\"".to_owned())]
    }

    fn opt<T: std::fmt::Debug + Clone>(t: impl Strategy<Value = T>) -> impl Strategy<Value = Option<T>> {
        proptest::option::of(t)
    }

    fn env() -> impl Strategy<Value = EnvVar> {
        let source = (
            opt((s(), s(), opt(any::<bool>()))),
            opt((opt(s()), s())),
            opt((opt(s()), opt(s()), s())),
            opt((s(), s(), opt(any::<bool>()))),
        )
            .prop_map(|(c, f, r, k)| EnvVarSource {
                config_map_key_ref: c.map(|(key, name, optional)| ConfigMapKeySelector { key, name, optional }),
                field_ref: f.map(|(api_version, field_path)| ObjectFieldSelector { api_version, field_path }),
                resource_field_ref: r.map(|(container_name, d, resource)| ResourceFieldSelector {
                    container_name,
                    divisor: d.map(Quantity),
                    resource,
                }),
                secret_key_ref: k.map(|(key, name, optional)| SecretKeySelector { key, name, optional }),
            });
        (s(), opt(s()), opt(source)).prop_map(|(name, value, value_from)| EnvVar { name, value, value_from })
    }

    fn container() -> impl Strategy<Value = ContainerEnv> {
        let from =
            (opt((s(), opt(any::<bool>()))), opt(s()), opt((s(), opt(any::<bool>())))).prop_map(|(c, prefix, r)| {
                EnvFromSource {
                    config_map_ref: c.map(|(name, optional)| ConfigMapEnvSource { name, optional }),
                    prefix,
                    secret_ref: r.map(|(name, optional)| SecretEnvSource { name, optional }),
                }
            });
        (s(), opt(s()), proptest::collection::vec(env(), 0..4), proptest::collection::vec(from, 0..3))
            .prop_map(|(name, image, env, env_from)| ContainerEnv { name, image, env, env_from })
    }

    fn record() -> impl Strategy<Value = Record> {
        let map = || opt(proptest::collection::btree_map(s(), s(), 0..4));
        (
            (0usize..1000, 1usize..1_000_000, 0u8..7, opt(any::<u64>())),
            (opt(s()), opt(s()), map(), map()),
            proptest::collection::vec(container(), 0..2),
            proptest::collection::vec(container(), 0..3),
        )
            .prop_map(|((src, line, k, group), (name, namespace, labels, annotations), init, cs)| Record {
                src,
                line,
                kind: byte_kind(k).unwrap_or(WorkloadKind::Deployment),
                group,
                meta: Meta { name, namespace, labels, annotations },
                pod: PodEnv { init_containers: init, containers: cs },
            })
    }

    proptest! {
        #[test]
        fn every_record_reads_back_as_written(recs in proptest::collection::vec(record(), 1..4)) {
            let mut bytes = Vec::new();
            for r in &recs {
                encode(r, &mut bytes);
            }
            let back: Vec<Option<Record>> = frames(&bytes).map(|f| f.and_then(decode)).collect();
            prop_assert_eq!(back, recs.into_iter().map(Some).collect::<Vec<_>>());
        }

        #[test]
        fn cut_or_corrupt_bytes_are_no_record_and_no_panic(rec in record(), cut in 0usize..400, flip in 0usize..400) {
            let mut bytes = Vec::new();
            encode(&rec, &mut bytes);
            let frame = &bytes[4..];
            if cut < frame.len() {
                prop_assert!(decode(&frame[..cut]).is_none());
            }
            let mut bad = frame.to_vec();
            if let Some(b) = bad.get_mut(flip) {
                *b = b.wrapping_add(0x80);
                let _ = decode(&bad);
            }
        }
    }
}
