//! What evaluation reads of a workload's pod template: each container's name, image, `env` and
//! `envFrom`, init containers first. The operator caches workloads in this form and `check`
//! deserializes manifests straight into it, so neither holds the rest of a pod spec.

use k8s_openapi::api::core::v1::{Container, EnvFromSource, EnvVar, PodSpec};
use serde::{Deserialize, Deserializer, Serialize};

/// The containers of a pod template, as evaluation sees them.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct PodEnv {
    /// Init containers, in pod order.
    #[serde(default, deserialize_with = "null_as_default", skip_serializing_if = "Vec::is_empty")]
    pub init_containers: Vec<ContainerEnv>,
    /// Containers, in pod order.
    #[serde(default, deserialize_with = "null_as_default")]
    pub containers: Vec<ContainerEnv>,
}

/// One container as evaluation sees it.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ContainerEnv {
    /// Container name.
    pub name: String,
    /// Image reference; `None` when the manifest has none (a pod template may leave it to a webhook).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub image: Option<String>,
    /// `env`, in order.
    #[serde(default, deserialize_with = "null_as_default", skip_serializing_if = "Vec::is_empty")]
    pub env: Vec<EnvVar>,
    /// `envFrom`, in order.
    #[serde(default, deserialize_with = "null_as_default", skip_serializing_if = "Vec::is_empty")]
    pub env_from: Vec<EnvFromSource>,
}

impl PodEnv {
    /// Init containers first, then containers; `true` marks an init container.
    pub fn all(&self) -> impl Iterator<Item = (&ContainerEnv, bool)> {
        let init = self.init_containers.iter().map(|c| (c, true));
        init.chain(self.containers.iter().map(|c| (c, false)))
    }

    /// The names of the ConfigMaps the pod's env refers to (`envFrom` and `configMapKeyRef`), in
    /// container order, repeats included.
    pub fn configmap_names(&self) -> impl Iterator<Item = &String> {
        self.all().flat_map(|(c, _)| {
            let from = c.env_from.iter().filter_map(|f| f.config_map_ref.as_ref().map(|r| &r.name));
            let keys = c.env.iter().filter_map(|e| e.value_from.as_ref()?.config_map_key_ref.as_ref().map(|r| &r.name));
            from.chain(keys)
        })
    }
}

impl From<&Container> for ContainerEnv {
    fn from(c: &Container) -> Self {
        Self {
            name: c.name.clone(),
            image: c.image.clone(),
            env: c.env.clone().unwrap_or_default(),
            env_from: c.env_from.clone().unwrap_or_default(),
        }
    }
}

impl From<Container> for ContainerEnv {
    fn from(c: Container) -> Self {
        Self { name: c.name, image: c.image, env: c.env.unwrap_or_default(), env_from: c.env_from.unwrap_or_default() }
    }
}

impl From<&PodSpec> for PodEnv {
    fn from(p: &PodSpec) -> Self {
        Self {
            init_containers: p.init_containers.iter().flatten().map(ContainerEnv::from).collect(),
            containers: p.containers.iter().map(ContainerEnv::from).collect(),
        }
    }
}

impl From<PodSpec> for PodEnv {
    fn from(p: PodSpec) -> Self {
        Self {
            init_containers: p.init_containers.into_iter().flatten().map(ContainerEnv::from).collect(),
            containers: p.containers.into_iter().map(ContainerEnv::from).collect(),
        }
    }
}

/// `null` (YAML `env:` with nothing after it) reads as the empty list, as the API server does.
fn null_as_default<'de, D, T>(d: D) -> Result<T, D::Error>
where
    D: Deserializer<'de>,
    T: Default + Deserialize<'de>,
{
    Ok(Option::<T>::deserialize(d)?.unwrap_or_default())
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn reads_a_pod_spec_and_ignores_the_rest() {
        let p: PodEnv = serde_json::from_value(json!({
            "initContainers": null,
            "containers": [
                {"name": "a", "image": "cordum-scheduler:v1", "env": null, "resources": {"limits": {"cpu": "1"}},
                 "envFrom": [{"configMapRef": {"name": "cm"}}]},
                {"name": "b", "env": [{"name": "X", "value": "1"}]}
            ],
            "volumes": [{"name": "v"}]
        }))
        .unwrap();
        assert!(p.init_containers.is_empty());
        assert_eq!(p.containers[0].image.as_deref(), Some("cordum-scheduler:v1"));
        assert!(p.containers[0].env.is_empty());
        assert_eq!(p.containers[0].env_from.len(), 1);
        assert_eq!(p.containers[1].env[0].name, "X");
        let spec: PodSpec = serde_json::from_value(json!({
            "initContainers": [{"name": "i"}], "containers": [{"name": "c", "image": "x"}]
        }))
        .unwrap();
        let pod = PodEnv::from(&spec);
        let order: Vec<(&str, bool)> = pod.all().map(|(c, i)| (c.name.as_str(), i)).collect();
        assert_eq!(order, [("i", true), ("c", false)]);
    }
}
